//! `spanlite sql`: the SQL shell, a client of a node's `SqlService`.
//!
//! Interactive on a terminal (line editing and history with rustyline,
//! statements may span lines and end with `;`, Ctrl-C drops the statement
//! being typed, Ctrl-D quits); otherwise it runs `-e` text, a `-f` file or
//! standard input, statement by statement, and stops with a non-zero exit
//! code at the first error. Either way Ctrl-C while a statement runs
//! cancels it (SQLSTATE 57014), as psql does. Results are drawn with
//! comfy-table.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use comfy_table::Table;
use spanlite_proto::sql::sql_service_client::SqlServiceClient;
use spanlite_proto::sql::{
    Cancel, Query, SessionRequest, SessionResponse, StartSession, session_request, session_response,
};
use spanlite_sql::Value;
use tokio::sync::mpsc;
use tonic::Streaming;
use tonic::transport::Channel;

use spanlite_node::service::value_from_wire;

/// A session with a node's SQL service.
#[derive(Debug)]
pub struct SqlClient {
    requests: mpsc::Sender<SessionRequest>,
    responses: Streaming<SessionResponse>,
    next_id: u64,
    /// The node takes `cancel` requests (an older one does not).
    cancels: bool,
}

/// One statement's outcome as the shell shows it.
#[derive(Debug)]
pub enum Outcome {
    /// Rows (with column names) and the command tag.
    Rows {
        /// Column names.
        columns: Vec<String>,
        /// The rows.
        rows: Vec<Vec<Value>>,
        /// `SELECT n`, `INSERT 0 n`, …
        tag: String,
    },
    /// An error with its SQLSTATE.
    Error {
        /// The SQLSTATE.
        sqlstate: String,
        /// The message.
        message: String,
    },
}

async fn channel(url: &str) -> Result<Channel, String> {
    crate::cli::endpoint(url)?
        .connect_timeout(std::time::Duration::from_secs(2))
        .connect()
        .await
        .map_err(|e| format!("cannot reach {url}: {e}"))
}

impl SqlClient {
    /// Opens a session on the first of `urls` that answers.
    pub async fn connect(urls: &[String]) -> Result<Self, String> {
        let mut last = "no --url given".to_string();
        for url in urls {
            match Self::connect_one(url).await {
                Ok(c) => return Ok(c),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn connect_one(url: &str) -> Result<Self, String> {
        let mut client = SqlServiceClient::new(channel(url).await?);
        let (tx, rx) = mpsc::channel(16);
        tx.send(SessionRequest {
            kind: Some(session_request::Kind::Start(StartSession {
                application_name: "spanlite sql".to_string(),
                settings: Default::default(),
                user: crate::cli::LOGIN
                    .get()
                    .map(|l| l.0.clone())
                    .unwrap_or_default(),
                password: crate::cli::LOGIN
                    .get()
                    .map(|l| l.1.clone())
                    .unwrap_or_default(),
            })),
        })
        .await
        .map_err(|_| "the session closed at once".to_string())?;
        let response = client
            .session(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .map_err(|s| format!("{url}: {}", s.message()))?;
        let cancels = response
            .metadata()
            .get(spanlite_proto::sql::SESSION_FEATURES_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|features| {
                features
                    .split(',')
                    .any(|f| f.trim() == spanlite_proto::sql::CANCEL)
            });
        Ok(Self {
            requests: tx,
            responses: response.into_inner(),
            next_id: 1,
            cancels,
        })
    }

    /// Runs one statement; returns its outcome. Ctrl-C (SIGINT, when the
    /// command handles signals) meanwhile asks the node to cancel it: it
    /// then ends with 57014, as in psql.
    pub async fn statement(&mut self, sql: &str) -> Result<Outcome, String> {
        let request_id = self.next_id;
        self.next_id += 1;
        self.requests
            .send(SessionRequest {
                kind: Some(session_request::Kind::Query(Query {
                    request_id,
                    sql: sql.to_string(),
                    params: Vec::new(),
                    statement_id: 0,
                    begin: String::new(),
                })),
            })
            .await
            .map_err(|_| "the server closed the session".to_string())?;
        let mut columns = Vec::new();
        let mut rows = Vec::new();
        let mut sigint = crate::interrupt::claim_sigint();
        loop {
            let next = tokio::select! {
                next = self.responses.message() => next,
                () = async {
                    match sigint.as_mut() {
                        Some(claim) => claim.next().await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.cancel(request_id).await?;
                    continue;
                }
            };
            let msg = next
                .map_err(|s| format!("session: {}", s.message()))?
                .ok_or_else(|| "the server closed the session".to_string())?;
            if msg.request_id != request_id {
                continue;
            }
            match msg.kind {
                Some(session_response::Kind::Columns(d)) => {
                    columns = d.columns.into_iter().map(|c| c.name).collect();
                }
                Some(session_response::Kind::Rows(b)) => rows.extend(
                    b.rows
                        .iter()
                        .map(|r| r.values.iter().map(value_from_wire).collect()),
                ),
                Some(session_response::Kind::Complete(c)) => {
                    return Ok(Outcome::Rows {
                        columns,
                        rows,
                        tag: c.tag,
                    });
                }
                Some(session_response::Kind::Error(e)) => {
                    return Ok(Outcome::Error {
                        sqlstate: e.sqlstate,
                        message: e.message,
                    });
                }
                None => return Err("an empty response".to_string()),
            }
        }
    }

    /// Asks the node to cancel query `request_id` (its answer, an error
    /// 57014 if it was still running, comes as usual).
    async fn cancel(&mut self, request_id: u64) -> Result<(), String> {
        if !self.cancels {
            eprintln!(
                "This node cannot cancel statements (an older version); \
                 SIGTERM ends the shell."
            );
            return Ok(());
        }
        self.requests
            .send(SessionRequest {
                kind: Some(session_request::Kind::Cancel(Cancel { request_id })),
            })
            .await
            .map_err(|_| "the server closed the session".to_string())?;
        eprintln!("Cancel request sent");
        Ok(())
    }
}

/// Splits a script into statements as written (the server parses them);
/// an unterminated string or comment is reported as a syntax error.
fn statements(script: &str) -> Result<Vec<String>, Outcome> {
    spanlite_session::split_statements(script).map_err(|e| Outcome::Error {
        sqlstate: e.code.to_string(),
        message: e.message,
    })
}

/// Prints an outcome; returns false for an error.
fn show(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Rows { columns, rows, tag } => {
            if !columns.is_empty() {
                let mut table = Table::new();
                table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
                table.set_header(columns.clone());
                for r in rows {
                    table.add_row(r.iter().map(ToString::to_string).collect::<Vec<_>>());
                }
                println!("{table}");
                let n = rows.len();
                println!("({n} row{})", if n == 1 { "" } else { "s" });
            } else {
                println!("{tag}");
            }
            true
        }
        Outcome::Error { sqlstate, message } => {
            eprintln!("ERROR:  {message} (SQLSTATE {sqlstate})");
            false
        }
    }
}

/// Runs a script non-interactively; fails at the first error.
pub async fn run_script(client: &mut SqlClient, script: &str) -> Result<ExitCode, String> {
    let stmts = match statements(script) {
        Ok(s) => s,
        Err(e) => {
            show(&e);
            return Ok(ExitCode::FAILURE);
        }
    };
    for s in stmts {
        if !show(&client.statement(&s).await?) {
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

const HELP: &str = "\
Type SQL statements ending with `;` (they may span lines). Commands:
  \\?          this help
  \\d          list tables
  \\d TABLE    describe a table
  \\timing     show how long each statement takes (toggle)
  \\q          quit (or Ctrl-D)
Ctrl-C drops the statement being typed, or cancels the one running.";

/// Runs the shell on `client`: interactive on a terminal, else reads
/// standard input as a script.
pub async fn interactive(client: &mut SqlClient) -> Result<ExitCode, String> {
    if !std::io::stdin().is_terminal() {
        let script = off_task(|| {
            let mut script = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut script)
                .map(|_| script)
                .map_err(|e| format!("reading standard input: {e}"))
        })
        .await??;
        return run_script(client, &script).await;
    }
    let mut editor = LineEditor::start().await?;
    println!("Type \\? for help, \\q to quit.");
    let mut buffer = String::new();
    let mut timing = false;
    loop {
        let prompt = if buffer.is_empty() {
            "spanlite> "
        } else {
            "       -> "
        };
        let line = match editor.readline(prompt).await? {
            Ok(l) => l,
            Err(rustyline::error::ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(format!("reading input: {e}")),
        };
        let trimmed = line.trim();
        if buffer.is_empty() && trimmed.starts_with('\\') {
            editor.add_history_entry(trimmed);
            match meta_command(client, trimmed, &mut timing).await? {
                MetaOutcome::Quit => break,
                MetaOutcome::Continue => continue,
            }
        }
        if !buffer.is_empty() {
            buffer.push('\n');
        }
        buffer.push_str(&line);
        if !trimmed.ends_with(';') {
            continue;
        }
        let script = std::mem::take(&mut buffer);
        editor.add_history_entry(&script);
        match statements(&script) {
            Err(e) => {
                show(&e);
            }
            Ok(stmts) => {
                for s in stmts {
                    let started = Instant::now();
                    let ok = show(&client.statement(&s).await?);
                    if timing {
                        println!("Time: {:.3} ms", started.elapsed().as_secs_f64() * 1000.0);
                    }
                    if !ok {
                        break;
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `work` on a thread of its own; the task awaiting it can be dropped
/// meanwhile (a signal, see `crate::interrupt`) without waiting for it,
/// as it would for `spawn_blocking` work when the runtime shuts down.
async fn off_task<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("shell-input".into())
        .spawn(move || {
            let _ = tx.send(work());
        })
        .map_err(|e| format!("starting the input thread: {e}"))?;
    rx.await.map_err(|_| "the input thread stopped".to_string())
}

/// rustyline on a thread of its own: the shell's task waits for a line
/// without blocking a runtime thread, and can be stopped while a line is
/// being typed. The thread ends when this is dropped and its line is in.
///
/// Dropped while a line is being typed (a signal ends the command), it
/// puts the terminal back as it was before rustyline set raw mode: the
/// process exits without rustyline's own restore running.
struct LineEditor {
    requests: std::sync::mpsc::Sender<EditorRequest>,
    lines: mpsc::UnboundedReceiver<rustyline::Result<String>>,
    /// The terminal's settings when the editor started.
    terminal: Option<nix::sys::termios::Termios>,
    /// A line is being read (the terminal may be in raw mode).
    reading: bool,
}

impl Drop for LineEditor {
    fn drop(&mut self) {
        if let (true, Some(terminal)) = (self.reading, &self.terminal) {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                terminal,
            );
            // Off the prompt's line.
            println!();
        }
    }
}

/// Lines the shell's history keeps (rustyline's default).
const HISTORY_ENTRIES: usize = 100;

enum EditorRequest {
    ReadLine(&'static str),
    AddHistory(String),
}

impl LineEditor {
    async fn start() -> Result<LineEditor, String> {
        let terminal = nix::sys::termios::tcgetattr(std::io::stdin()).ok();
        let (requests, incoming) = std::sync::mpsc::channel::<EditorRequest>();
        let (lines_tx, lines) = mpsc::unbounded_channel();
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("shell-editor".into())
            .spawn(move || {
                if let Err(e) = rustyline::DefaultEditor::new() {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
                let _ = ready_tx.send(Ok(()));
                let mut history = std::collections::VecDeque::new();
                for request in incoming {
                    match request {
                        EditorRequest::ReadLine(prompt) => {
                            // NB: an editor per line. While one lives,
                            // rustyline (without its `signal-hook` feature)
                            // has SIGINT call its own handler; the
                            // process's (Ctrl-C cancels the statement
                            // running) must be back between lines.
                            let line = rustyline::DefaultEditor::new().and_then(|mut editor| {
                                for entry in &history {
                                    editor.add_history_entry(entry)?;
                                }
                                editor.readline(prompt)
                            });
                            if lines_tx.send(line).is_err() {
                                return;
                            }
                        }
                        EditorRequest::AddHistory(line) => {
                            if history.len() == HISTORY_ENTRIES {
                                history.pop_front();
                            }
                            history.push_back(line);
                        }
                    }
                }
            })
            .map_err(|e| format!("starting the line editor: {e}"))?;
        ready
            .await
            .map_err(|_| "the line editor stopped".to_string())??;
        Ok(LineEditor {
            requests,
            lines,
            terminal,
            reading: false,
        })
    }

    /// The next line typed after `prompt` (rustyline's errors, e.g. Ctrl-C
    /// or Ctrl-D, as its `readline` gives them).
    async fn readline(
        &mut self,
        prompt: &'static str,
    ) -> Result<rustyline::Result<String>, String> {
        let gone = || "the line editor stopped".to_string();
        self.requests
            .send(EditorRequest::ReadLine(prompt))
            .map_err(|_| gone())?;
        self.reading = true;
        let line = self.lines.recv().await.ok_or_else(gone);
        self.reading = false;
        line
    }

    fn add_history_entry(&mut self, line: &str) {
        let _ = self
            .requests
            .send(EditorRequest::AddHistory(line.to_string()));
    }
}

enum MetaOutcome {
    Quit,
    Continue,
}

async fn meta_command(
    client: &mut SqlClient,
    command: &str,
    timing: &mut bool,
) -> Result<MetaOutcome, String> {
    let mut words = command.split_whitespace();
    match (words.next(), words.next()) {
        (Some("\\q"), _) => return Ok(MetaOutcome::Quit),
        (Some("\\?"), _) => println!("{HELP}"),
        (Some("\\timing"), _) => {
            *timing = !*timing;
            println!("Timing is {}.", if *timing { "on" } else { "off" });
        }
        (Some("\\d"), None) => {
            show(&client.statement("SHOW TABLES").await?);
        }
        (Some("\\d"), Some(table)) => {
            // Quoted as an identifier; the server checks it exists.
            let q = format!("SHOW COLUMNS FROM \"{}\"", table.replace('"', "\"\""));
            show(&client.statement(&q).await?);
        }
        _ => eprintln!("unknown command {command}; \\? lists them"),
    }
    Ok(MetaOutcome::Continue)
}
