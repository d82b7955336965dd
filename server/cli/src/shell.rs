//! `spanlite sql`: the SQL shell, a client of a node's `SqlService`.
//!
//! Interactive on a terminal (line editing and history with rustyline,
//! statements may span lines and end with `;`, Ctrl-C drops the statement
//! being typed, Ctrl-D quits); otherwise it runs `-e` text, a `-f` file or
//! standard input, statement by statement, and stops with a non-zero exit
//! code at the first error. Results are drawn with comfy-table.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use comfy_table::Table;
use spanlite_proto::sql::sql_service_client::SqlServiceClient;
use spanlite_proto::sql::{
    Query, SessionRequest, SessionResponse, StartSession, session_request, session_response,
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
        let responses = client
            .session(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .map_err(|s| format!("{url}: {}", s.message()))?
            .into_inner();
        Ok(Self {
            requests: tx,
            responses,
            next_id: 1,
        })
    }

    /// Runs one statement; returns its outcome.
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
        loop {
            let msg = self
                .responses
                .message()
                .await
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
  \\q          quit (or Ctrl-D); Ctrl-C drops the statement being typed";

/// Runs the shell on `client`: interactive on a terminal, else reads
/// standard input as a script.
pub async fn interactive(client: &mut SqlClient) -> Result<ExitCode, String> {
    if !std::io::stdin().is_terminal() {
        let mut script = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut script)
            .map_err(|e| format!("reading standard input: {e}"))?;
        return run_script(client, &script).await;
    }
    let mut editor = rustyline::DefaultEditor::new().map_err(|e| e.to_string())?;
    println!("Type \\? for help, \\q to quit.");
    let mut buffer = String::new();
    let mut timing = false;
    loop {
        let prompt = if buffer.is_empty() {
            "spanlite> "
        } else {
            "       -> "
        };
        let line = match tokio::task::block_in_place(|| editor.readline(prompt)) {
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
            let _ = editor.add_history_entry(trimmed);
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
        let _ = editor.add_history_entry(script.as_str());
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
