//! The `spanlite` command line. `main` only parses and calls [`run`].

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use spanlite_benches::workload::{Mode, Stop, WorkloadKind, WorkloadOptions};
use spanlite_proto::admin::InitRequest;
use spanlite_proto::admin::admin_service_client::AdminServiceClient;
use spanlite_proto::kv::kv_service_client::KvServiceClient;
use spanlite_proto::kv::{DeleteRequest, GetRequest, PutRequest, ScanRequest};
use spanlite_truetime::Timestamp;
use tonic::transport::{Channel, Endpoint};

use spanlite_node::{self as node, NodeConfig};
use spanlite_replica::raft::RaftTiming;

mod admin;

/// Spanlite: a Spanner-style distributed SQL database.
#[derive(Debug, Parser)]
#[command(name = "spanlite", version, about, long_about = None)]
pub struct Cli {
    /// Certificates dir (`spanlite cert` makes it): `start` serves with
    /// its node certificate; every other command connects with the client
    /// certificate of --user.
    #[arg(long, global = true, env = "SPANLITE_CERTS_DIR")]
    certs_dir: Option<PathBuf>,
    /// The user to connect as: its client certificate
    /// (`client.<user>.crt`) with --certs-dir, else its password
    /// (--password-file) or, on an insecure cluster, its word.
    #[arg(long, global = true, default_value = "root")]
    user: String,
    /// A file whose first line is --user's password (SQL sessions log in
    /// with it when there is no client certificate).
    #[arg(long, global = true, env = "SPANLITE_PASSWORD_FILE")]
    password_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make the certificates of a secure cluster.
    Cert(CertArgs),
    /// Run a node.
    Start(Box<StartArgs>),
    /// Bootstrap a new cluster on the first three nodes that joined.
    Init(InitArgs),
    /// Raw key-value access (before SQL): put, get, del, scan.
    Kv(KvArgs),
    /// Cluster administration: node status, tablet splits.
    Admin(admin::AdminArgs),
    /// Nodes: decommission one (drain its replicas and leaders).
    Node(admin::NodeArgs),
    /// The SQL shell (interactive on a terminal; `-e`, `-f` or standard
    /// input otherwise).
    Sql(SqlArgs),
    /// Three nodes in this process with a sample `accounts` table, then
    /// the SQL shell.
    Demo(DemoArgs),
    /// Run SQL logic test files (sqllogictest format) against a 3-node
    /// cluster in this process; each file on an empty database. Prints
    /// each file's pass rate; exits non-zero if any record failed.
    Sqllogictest(SltArgs),
    /// Run a benchmark workload (bank, kv, readonly) against Spanlite — a
    /// cluster given by --url, or one started in this process — and/or
    /// PostgreSQL (--pg-url) with the same transactions; prints throughput,
    /// latency percentiles, retries and aborts side by side.
    Workload(WorkloadArgs),
}

/// The workloads of `spanlite workload`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum WorkloadName {
    /// Transfers between random accounts; the total must be conserved.
    Bank,
    /// Point reads (--read-fraction) and updates of a key-value table.
    Kv,
    /// Point reads only (lock-free strong reads on Spanlite).
    Readonly,
    /// The bank workload at 10,000 and at 10 accounts under every
    /// concurrency control mode (2pl, occ, ssi, si): one table of
    /// throughput, p99 latency and abort rate.
    Modes,
    /// Lone strong reads on the demo's table (4 tablets), each timed on
    /// its own: the sum of every balance and one balance (--runs each).
    StrongReads,
}

#[derive(Debug, Args)]
struct WorkloadArgs {
    /// The workload.
    #[arg(value_enum)]
    workload: WorkloadName,
    /// Spanlite nodes, comma-separated `host:port`. Without it, Spanlite runs
    /// on a cluster started in this process (unless only --pg-url is given).
    #[arg(long, value_delimiter = ',', conflicts_with = "embedded")]
    url: Vec<String>,
    /// PostgreSQL to run the same workload against, after Spanlite, e.g.
    /// `postgres://bench:bench@127.0.0.1/bench`.
    #[arg(long)]
    pg_url: Option<String>,
    /// Run Spanlite on a cluster in this process even with --pg-url.
    #[arg(long)]
    embedded: bool,
    /// Nodes of the embedded cluster (at least 3).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(3..))]
    nodes: u16,
    /// Concurrent workers, each with its own connection.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// How long each system runs, e.g. `30s`, `2m`.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    duration: Duration,
    /// Stop after this many transactions instead of after --duration.
    #[arg(long)]
    ops: Option<u64>,
    /// Accounts of the bank workload.
    #[arg(long, default_value_t = 1000)]
    accounts: u64,
    /// Keys of the kv and readonly workloads.
    #[arg(long, default_value_t = 10_000)]
    keys: u64,
    /// The kv workload's share of reads (0 to 1).
    #[arg(long, default_value_t = 0.9)]
    read_fraction: f64,
    /// Use the table as it is instead of dropping, creating and loading it.
    #[arg(long)]
    no_setup: bool,
    /// Spanlite's concurrency control for read-write transactions: `2pl`,
    /// `occ`, `ssi` (serializable) or `si` (snapshot isolation).
    #[arg(long, default_value = "2pl", value_parser = |s: &str| s.parse::<Mode>())]
    mode: Mode,
    /// Print the results as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// No progress spinner or notes on stderr.
    #[arg(long)]
    quiet: bool,
    /// Run the workload twice on an embedded cluster of --nodes: with one
    /// data tablet, then splitting by load with the allocator spreading
    /// replicas and leaders (measured after a 30 s warm-up); prints both,
    /// and each node's share of leaders and requests.
    #[arg(long, conflicts_with_all = ["url", "pg_url"])]
    auto: bool,
    /// With --auto: requests a second past which a tablet splits (a
    /// node's own default is 2,500, for machines of their own).
    #[arg(long, requires = "auto", default_value_t = crate::workload::AUTO_SPLIT_QPS)]
    split_qps: u64,
    /// Statements of each kind `strong-reads` times.
    #[arg(long, default_value_t = 20)]
    runs: usize,
}

#[derive(Debug, Args)]
struct SltArgs {
    /// Files, or directories searched recursively for `*.slt` and `*.test`.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// A record taking longer fails.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    timeout: Duration,
    /// Failures printed per file.
    #[arg(long, default_value_t = 5)]
    show_failures: usize,
    /// Exit with status 0 even if records failed (to report pass rates).
    #[arg(long)]
    report_only: bool,
}

#[derive(Debug, Args)]
struct CertArgs {
    /// Where the CA's key is (default: ca.key in --certs-dir; keep it
    /// elsewhere in production).
    #[arg(long, global = true)]
    ca_key: Option<PathBuf>,
    #[command(subcommand)]
    op: CertOp,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::enum_variant_names)] // the commands are create-ca, create-node, create-client
enum CertOp {
    /// A new CA: ca.crt (and ca.key).
    CreateCa,
    /// A node certificate (node.crt, node.key) for the host names and
    /// addresses it is reached by.
    CreateNode {
        /// Host names and IP addresses (at least one).
        #[arg(required = true)]
        hosts: Vec<String>,
    },
    /// A client certificate for USER (client.USER.crt, client.USER.key).
    CreateClient {
        /// The user name (`root` is the admin).
        user: String,
    },
}

#[derive(Debug, Args)]
struct SqlArgs {
    /// Nodes to connect to (the first that answers), comma-separated `host:port`.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:7001")]
    url: Vec<String>,
    /// Run these statements and exit (non-zero at the first error).
    #[arg(short = 'e', long = "execute", conflicts_with = "file")]
    execute: Option<String>,
    /// Run the statements in this file and exit (non-zero at the first error).
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Run these statements instead of the interactive shell.
    #[arg(short = 'e', long = "execute")]
    execute: Option<String>,
}

/// A size: bytes, or a number with KiB, MiB or GiB.
fn parse_bytes(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: usize = n
        .parse()
        .map_err(|_| format!("{s:?}: expected a size such as 256MiB"))?;
    let mult = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "kB" | "KB" => 1 << 10,
        "MiB" | "MB" => 1 << 20,
        "GiB" | "GB" => 1 << 30,
        other => {
            return Err(format!(
                "{s:?}: unknown unit {other:?} (use KiB, MiB or GiB)"
            ));
        }
    };
    n.checked_mul(mult)
        .filter(|b| *b > 0)
        .ok_or_else(|| format!("{s:?}: out of range"))
}

/// A node address as a command-line value (`host:port`, checked).
fn node_address(s: &str) -> Result<String, String> {
    spanlite_directory::validate_address(s).map(|()| s.to_string())
}

#[derive(Debug, Args)]
struct StartArgs {
    /// This node's id: a positive integer, fixed for the life of its data dir.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    node_id: u64,
    /// Address to listen on for gRPC (clients and other nodes).
    #[arg(long, default_value = "127.0.0.1:7001")]
    listen: SocketAddr,
    /// Address others use to reach this node (default: the listen address).
    #[arg(long, value_parser = node_address)]
    advertise: Option<String>,
    /// Address to listen on for PostgreSQL clients (psql, pgbench,
    /// drivers), e.g. `127.0.0.1:5433`; without it the node has no
    /// PostgreSQL port. With --certs-dir it requires TLS and each user's
    /// password (or client certificate).
    #[arg(long)]
    pg_listen: Option<SocketAddr>,
    /// Address of the HTTP port, e.g. `127.0.0.1:8080`: Prometheus metrics
    /// at /metrics and the web console at /. Read-only and without
    /// authentication (it shows the cluster's layout and statement
    /// fingerprints, never rows): keep it on loopback or a management
    /// network. Without it the node has no HTTP port.
    #[arg(long)]
    http_listen: Option<SocketAddr>,
    /// How PostgreSQL clients log in: `password` (each role's password by
    /// SCRAM-SHA-256, or a client certificate over TLS; the default with
    /// --certs-dir) or `trust` (any role that may log in, on its word; the
    /// default with --insecure, and refused with --certs-dir).
    #[arg(long, value_parser = ["password", "trust"])]
    pg_auth: Option<String>,
    /// PostgreSQL clients served at once; one more gets FATAL 53300
    /// (too_many_connections) and is closed.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pg_max_connections: u32,
    /// The memory one query's computation may hold (joins, groups, sorts,
    /// DISTINCT, results): past it the statement fails with 53200
    /// (out_of_memory) and the node goes on. Bytes, or with KiB, MiB, GiB.
    #[arg(long, default_value = "256MiB", value_parser = parse_bytes)]
    sql_memory_budget: usize,
    /// Time a PostgreSQL client has from connecting to logging in.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    pg_login_timeout: Duration,
    /// Nodes to join, comma-separated `host:port` (may include this node).
    #[arg(long, value_delimiter = ',', value_parser = node_address)]
    join: Vec<String>,
    /// Data directory (created if missing).
    #[arg(long)]
    data_dir: PathBuf,
    /// Refuse to hand out time past this clock uncertainty, e.g. `5ms`.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "250ms")]
    max_clock_uncertainty: Duration,
    /// Time masters to synchronize with, comma-separated `host:port`. A node
    /// listed here serves as a master from its own clock; without the option
    /// every node trusts its own clock (development).
    #[arg(long, value_delimiter = ',')]
    time_masters: Vec<String>,
    /// Accept fault injection (clock skew) through the Admin service.
    #[arg(long)]
    enable_fault_injection: bool,
    /// Raft heartbeat period.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "200ms")]
    raft_heartbeat: Duration,
    /// Minimum Raft election timeout (the maximum is 1.5× this).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    raft_election_timeout: Duration,
    /// How often this node sends each other node the closed timestamps of
    /// the tablets it leads (one message per node pair), so followers serve
    /// snapshot reads at recent timestamps; `0s` turns it off.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "200ms")]
    closed_ts_interval: Duration,
    /// How long this node's SQL sessions may bind statements against a
    /// cached schema without reading the catalog (a schema lease). A DROP
    /// or CREATE INDEX waits out one lease before it commits; a
    /// transaction open longer than half a lease checks the schema version
    /// at commit. It must be the same on every node: a DROP waits out its
    /// own node's lease, so a node with a longer one could commit a
    /// transaction bound before the DROP after it.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    schema_lease: Duration,
    /// Versions older than this are garbage-collected: the oldest
    /// `AS OF SYSTEM TIME` that can be read, and the longest an optimistic
    /// (OCC, SSI, SI) transaction can run before its reads are too old to
    /// validate.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10m")]
    gc_ttl: Duration,
    /// A tablet this node leads is split in two at its middle key once it
    /// holds this much (every version of every key, before compression).
    /// Bytes, or with KiB, MiB, GiB.
    #[arg(long, default_value = "64MiB", value_parser = parse_bytes)]
    split_size: usize,
    /// How often the allocator (on the meta tablet's leader) looks at the
    /// cluster and moves at most one replica or leadership: replicas and
    /// leaders within ±1 of the mean across live nodes, decommissioned
    /// nodes drained, dead nodes' replicas re-created. `0s`: never.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    rebalance_every: Duration,
    /// A node that has not answered for this long is dead: its replicas
    /// are re-created on the other nodes from the survivors.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5m")]
    dead_node_after: Duration,
    /// A tablet this node leads that serves this many requests a second
    /// (over --split-check-every) is split where half of them fall on
    /// each side. `0`: no splits by load.
    #[arg(long, default_value_t = 2500)]
    split_qps: u64,
    /// How often a node measures the tablets it leads (those written
    /// since) to split them by size.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    split_check_every: Duration,
    /// Two neighbouring tablets that have been small (together under half
    /// of --split-size) and cold (under a quarter of --split-qps) for this
    /// long are merged. `0s`: never.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10m")]
    merge_after: Duration,
    /// Tablets split and merge only when an administrator says (`spanlite
    /// admin split`, `spanlite admin merge`).
    #[arg(long)]
    no_auto_split: bool,
    /// The smallest clock uncertainty ε this node ever reports, whatever
    /// its time sync achieved (default 500µs). Raising it on one node
    /// reproduces unequal clocks (e.g. `20ms`): its commits wait longer and
    /// its timestamps reach further ahead of the others'.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "500us")]
    clock_uncertainty_floor: Duration,
    /// Run without TLS: anyone who reaches the ports can read and change
    /// everything. Without --certs-dir a node refuses to listen on an
    /// address other than loopback unless this is given.
    #[arg(long)]
    insecure: bool,
    /// Fault injection (needs --enable-fault-injection): dial peer address
    /// PEER through PROXY instead, e.g. `127.0.0.1:7002=127.0.0.1:9012`; a
    /// test harness puts a proxy it controls on every link to cut it.
    #[arg(long, value_delimiter = ',', value_name = "PEER=PROXY")]
    dial_via: Vec<String>,
}

#[derive(Debug, Args)]
struct InitArgs {
    /// A node of the new cluster.
    #[arg(long, default_value = "127.0.0.1:7001")]
    url: String,
    /// The password of `root`, the administrator (a superuser). Visible to
    /// other local users in the process list: prefer --root-password-file.
    /// Only its SCRAM-SHA-256 verifier is sent to the cluster.
    #[arg(long, conflicts_with = "root_password_file")]
    root_password: Option<String>,
    /// Read root's password from this file (its first line).
    #[arg(long)]
    root_password_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct KvArgs {
    /// Nodes to try, comma-separated `host:port`; the next is used when one
    /// cannot be reached.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:7001")]
    url: Vec<String>,
    #[command(subcommand)]
    op: KvOp,
}

#[derive(Debug, Subcommand)]
enum KvOp {
    /// Write KEY = VALUE.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Print KEY's value on stdout (exit code 1 if it does not exist).
    Get {
        /// The key.
        key: String,
    },
    /// Delete KEY.
    Del {
        /// The key.
        key: String,
    },
    /// Print `key<TAB>value` lines for keys in [START, END).
    Scan {
        /// First key (default: the first).
        #[arg(default_value = "")]
        start: String,
        /// End key, exclusive (default: the end of the keyspace).
        #[arg(default_value = "")]
        end: String,
        /// At most this many pairs (0: all).
        #[arg(long, default_value_t = 0)]
        limit: u32,
    },
}

/// Runs the command line. Returns the process exit code.
/// The client certificate every connecting command uses (`--certs-dir`
/// with `--user`), set once in [`run`].
static CLIENT_TLS: std::sync::OnceLock<Option<spanlite_directory::tls::TlsConfig>> =
    std::sync::OnceLock::new();

/// Who SQL sessions log in as (`--user`, and the password of
/// `--password-file`), set once in [`run`].
pub(crate) static LOGIN: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();

/// An endpoint for `url` (`host:port`), with the client certificate when
/// there is one.
pub(crate) fn endpoint(url: &str) -> Result<Endpoint, String> {
    let tls = CLIENT_TLS.get().and_then(Option::as_ref);
    let e = Endpoint::from_shared(format!("{}://{url}", spanlite_directory::tls::scheme(tls)))
        .map_err(|e| format!("bad address {url:?}: {e}"))?;
    match tls {
        Some(tls) => e
            .tls_config(tls.client())
            .map_err(|e| format!("TLS for {url}: {e}")),
        None => Ok(e),
    }
}

pub fn run(cli: Cli) -> ExitCode {
    // SQL binding and evaluation recurse on expression trees (bounded in
    // depth by the binder); 8 MiB stacks leave a wide margin (it is
    // virtual memory until used).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 << 20)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("spanlite: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let client_tls = match (&cli.command, &cli.certs_dir) {
        (Command::Start(_) | Command::Cert(_), _) | (_, None) => Ok(None),
        (_, Some(dir)) => spanlite_directory::tls::TlsConfig::user(dir, &cli.user).map(Some),
    };
    let client_tls = match client_tls {
        Ok(t) => t,
        Err(message) => {
            eprintln!("spanlite: {message}");
            return ExitCode::FAILURE;
        }
    };
    let _ = CLIENT_TLS.set(client_tls);
    let password = match &cli.password_file {
        None => String::new(),
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => text.lines().next().unwrap_or_default().to_string(),
            Err(e) => {
                eprintln!("spanlite: --password-file {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        },
    };
    let _ = LOGIN.set((cli.user.clone(), password));
    let certs_dir = cli.certs_dir.clone();
    let workload_certs = cli.certs_dir.clone().map(|d| (d, cli.user.clone()));
    let result = runtime.block_on(async {
        match cli.command {
            Command::Start(args) => start(*args, certs_dir).await,
            Command::Cert(args) => cert(args, certs_dir),
            Command::Init(args) => init(args).await,
            Command::Kv(args) => kv(args).await,
            Command::Admin(args) => admin::admin(args).await,
            Command::Node(args) => admin::node(args).await,
            Command::Sql(args) => {
                // Ctrl-C cancels a running statement (the shell claims
                // SIGINT then); otherwise a signal ends the shell cleanly
                // (its terminal put back).
                crate::interrupt::install(false)?;
                crate::interrupt::interruptible(sql(args)).await
            }
            Command::Demo(args) => {
                if std::env::var_os("RUST_LOG").is_some() {
                    init_logging();
                }
                crate::interrupt::install(true)?;
                crate::demo::run(args.execute).await
            }
            Command::Sqllogictest(args) => {
                crate::interrupt::install(false)?;
                sqllogictest(args).await
            }
            Command::Workload(args) => {
                if std::env::var_os("RUST_LOG").is_some() {
                    init_logging();
                }
                crate::interrupt::install(false)?;
                if matches!(args.workload, WorkloadName::StrongReads) {
                    crate::workload::strong_reads(args.runs, usize::from(args.nodes), args.quiet)
                        .await
                } else {
                    crate::workload::run_command(workload_command(args, workload_certs)).await
                }
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("spanlite: {message}");
            match crate::interrupt::signalled() {
                // The shells' convention for a command ended by a signal.
                Some(number) => ExitCode::from(u8::try_from(128 + number).unwrap_or(1)),
                None => ExitCode::FAILURE,
            }
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn cert(args: CertArgs, certs_dir: Option<PathBuf>) -> Result<ExitCode, String> {
    let dir = certs_dir.ok_or("spanlite cert needs --certs-dir")?;
    let ca_key = args.ca_key.as_deref();
    match args.op {
        CertOp::CreateCa => crate::cert::create_ca(&dir, ca_key)?,
        CertOp::CreateNode { hosts } => crate::cert::create_node(&dir, ca_key, &hosts)?,
        CertOp::CreateClient { user } => crate::cert::create_client(&dir, ca_key, &user)?,
    }
    println!("wrote certificates to {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

async fn start(args: StartArgs, certs_dir: Option<PathBuf>) -> Result<ExitCode, String> {
    init_logging();
    // Secure by default: TLS with --certs-dir; without it, loopback only,
    // unless --insecure says the operator means it.
    let tls = match (&certs_dir, args.insecure) {
        (Some(_), true) => return Err("--insecure and --certs-dir contradict each other".into()),
        (Some(dir), false) => Some(spanlite_directory::tls::TlsConfig::node(dir)?),
        (None, insecure) => {
            let exposed: Vec<String> = std::iter::once(args.listen)
                .chain(args.pg_listen)
                .filter(|a| !a.ip().is_loopback())
                .map(|a| a.to_string())
                .collect();
            if !exposed.is_empty() && !insecure {
                return Err(format!(
                    "refusing to listen on {} without TLS: anyone who reaches it could read and \
                     change every row and take the cluster apart. Give --certs-dir (make the \
                     certificates with `spanlite cert`), or --insecure if that is what you mean",
                    exposed.join(", ")
                ));
            }
            if insecure {
                tracing::warn!("running insecure (--insecure): no TLS, no authentication");
            }
            None
        }
    };
    let mut config = NodeConfig::new(args.node_id, args.listen, args.data_dir);
    config.tls = tls;
    config.advertise = args.advertise;
    config.pg_listen = args.pg_listen;
    config.http_listen = args.http_listen;
    if let Some(http) = args.http_listen
        && !http.ip().is_loopback()
    {
        tracing::warn!(
            %http,
            "the HTTP port (metrics, console) has no authentication: anyone who reaches it sees the cluster's layout and statement fingerprints"
        );
    }
    config.pg_auth = match (args.pg_auth.as_deref(), config.tls.is_some()) {
        (Some("trust"), true) => {
            return Err("--pg-auth trust with --certs-dir: a secure node checks passwords".into());
        }
        (Some("trust"), false) => spanlite_pgwire::Auth::Trust,
        (Some(_), _) | (None, true) => spanlite_pgwire::Auth::Password,
        (None, false) => spanlite_pgwire::Auth::Trust,
    };
    config.join = args.join;
    config.max_clock_uncertainty = args.max_clock_uncertainty;
    config.time_masters = args.time_masters;
    config.fault_injection = args.enable_fault_injection;
    config.closed_ts_every = args.closed_ts_interval;
    config.schema_lease = args.schema_lease;
    config.gc_ttl = args.gc_ttl;
    config.split = spanlite_node::ops::split::SplitSettings {
        size: if args.no_auto_split {
            0
        } else {
            args.split_size as u64
        },
        qps: if args.no_auto_split {
            0
        } else {
            args.split_qps
        },
        check_every: args.split_check_every,
        merge_after: if args.no_auto_split {
            Duration::ZERO
        } else {
            args.merge_after
        },
    };
    config.allocator = spanlite_node::ops::allocator::AllocatorSettings {
        every: args.rebalance_every,
        dead_after: args.dead_node_after,
        ..Default::default()
    };
    config.sql_memory_budget = args.sql_memory_budget;
    config.pg_limits = spanlite_pgwire::Limits {
        max_connections: args.pg_max_connections as usize,
        login_timeout: args.pg_login_timeout,
    };
    if args.clock_uncertainty_floor >= args.max_clock_uncertainty {
        return Err(format!(
            "--clock-uncertainty-floor {:?} must be below --max-clock-uncertainty {:?}",
            args.clock_uncertainty_floor, args.max_clock_uncertainty
        ));
    }
    config.epsilon_floor = args.clock_uncertainty_floor;
    if !args.dial_via.is_empty() && !args.enable_fault_injection {
        return Err(
            "--dial-via is a fault-injection aid: it needs --enable-fault-injection".into(),
        );
    }
    for pair in &args.dial_via {
        let Some((peer, proxy)) = pair.split_once('=') else {
            return Err(format!("--dial-via {pair}: expected PEER=PROXY"));
        };
        config.dial_via.insert(peer.to_string(), proxy.to_string());
    }
    config.timing = RaftTiming {
        heartbeat: args.raft_heartbeat,
        election_min: args.raft_election_timeout,
        election_max: args.raft_election_timeout * 3 / 2,
        ..RaftTiming::default()
    };
    let mut running = node::start(config).await.map_err(|e| e.to_string())?;
    let report = running.context.store.recovery_report().clone();
    eprintln!(
        "spanlite node {} listening on {} ({report})",
        running.context.node_id, running.addr
    );
    if let Some(pg) = running.pg_addr {
        eprintln!(
            "spanlite node {}: PostgreSQL clients on {pg}",
            running.context.node_id
        );
    }
    let fatal = tokio::select! {
        signal = wait_for_signal() => { signal?; None }
        reason = running.fatal_error() => Some(reason),
    };
    eprintln!("spanlite: shutting down");
    running.shutdown().await.map_err(|e| e.to_string())?;
    match fatal {
        None => Ok(ExitCode::SUCCESS),
        Some(reason) => Err(reason),
    }
}

async fn sql(args: SqlArgs) -> Result<ExitCode, String> {
    let mut client = crate::shell::SqlClient::connect(&args.url).await?;
    let script = match (args.execute, args.file) {
        (Some(e), _) => Some(e),
        (None, Some(f)) => {
            Some(std::fs::read_to_string(&f).map_err(|e| format!("reading {}: {e}", f.display()))?)
        }
        (None, None) => None,
    };
    match script {
        Some(s) => crate::shell::run_script(&mut client, &s).await,
        None => crate::shell::interactive(&mut client).await,
    }
}

async fn sqllogictest(args: SltArgs) -> Result<ExitCode, String> {
    if std::env::var_os("RUST_LOG").is_some() {
        init_logging();
    }
    let options = crate::slt::SltOptions {
        record_timeout: args.timeout,
        failures_shown: args.show_failures,
        ..crate::slt::SltOptions::default()
    };
    let summary = crate::slt::run_files(&args.paths, &options).await;
    if let Some(number) = crate::interrupt::signalled() {
        return Err(format!("interrupted by signal {number}"));
    }
    Ok(if summary.ok() || args.report_only {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn workload_command(
    args: WorkloadArgs,
    certs: Option<(PathBuf, String)>,
) -> crate::workload::WorkloadCommand {
    let options = WorkloadOptions {
        workload: match args.workload {
            WorkloadName::Bank => WorkloadKind::Bank,
            WorkloadName::Kv => WorkloadKind::Kv,
            WorkloadName::Readonly => WorkloadKind::Readonly,
            WorkloadName::Modes | WorkloadName::StrongReads => WorkloadKind::Bank,
        },
        concurrency: args.concurrency,
        stop: match args.ops {
            Some(n) => Stop::Ops(n),
            None => Stop::After(args.duration),
        },
        accounts: args.accounts,
        keys: args.keys,
        read_fraction: args.read_fraction,
        setup: !args.no_setup,
        mode: args.mode,
        progress: !args.quiet,
    };
    crate::workload::WorkloadCommand {
        options,
        urls: args.url,
        pg_url: args.pg_url,
        embedded: args.embedded,
        nodes: usize::from(args.nodes),
        json: args.json,
        quiet: args.quiet,
        modes_table: matches!(args.workload, WorkloadName::Modes),
        certs,
        auto: args.auto,
        split_qps: args.split_qps,
    }
}

/// Waits for Ctrl-C or SIGTERM.
async fn wait_for_signal() -> Result<(), String> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot install the SIGTERM handler: {e}"))?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.map_err(|e| format!("waiting for Ctrl-C: {e}")),
        _ = term.recv() => Ok(()),
    }
}

async fn connect(url: &str) -> Result<Channel, String> {
    endpoint(url)?
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await
        .map_err(|e| format!("cannot reach {url}: {e}"))
}

async fn init(args: InitArgs) -> Result<ExitCode, String> {
    let password = match (&args.root_password, &args.root_password_file) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--root-password-file {}: {e}", path.display()))?;
            Some(text.lines().next().unwrap_or_default().to_string())
        }
        (None, None) => None,
    };
    let root_password_verifier = match password {
        Some(p) if p.is_empty() => return Err("the root password is empty".to_string()),
        Some(p) => spanlite_sql::password::ScramVerifier::generate(&p).to_text(),
        None => String::new(),
    };
    let channel = connect(&args.url).await?;
    let resp = AdminServiceClient::new(channel)
        .init(InitRequest {
            root_password_verifier,
        })
        .await
        .map_err(|s| format!("init: {}", s.message()))?
        .into_inner();
    if !resp.error.is_empty() {
        return Err(format!("init: {}", resp.error));
    }
    println!("cluster {} initialized", resp.cluster_id);
    Ok(ExitCode::SUCCESS)
}

/// True when another node may succeed where this one failed.
fn try_next(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Unknown
    )
}

async fn kv(args: KvArgs) -> Result<ExitCode, String> {
    let mut last = String::from("no --url given");
    for url in &args.url {
        let channel = match connect(url).await {
            Ok(c) => c,
            Err(e) => {
                last = e;
                continue;
            }
        };
        let mut client = KvServiceClient::new(channel);
        let outcome = kv_op(&mut client, &args.op).await;
        match outcome {
            Ok(code) => return Ok(code),
            Err(status) if try_next(&status) => last = format!("{url}: {}", status.message()),
            Err(status) => return Err(status.message().to_string()),
        }
    }
    Err(last)
}

async fn kv_op(
    client: &mut KvServiceClient<Channel>,
    op: &KvOp,
) -> Result<ExitCode, tonic::Status> {
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| tonic::Status::internal(format!("writing stdout: {e}"));
    match op {
        KvOp::Put { key, value } => {
            let resp = client
                .put(PutRequest {
                    key: key.clone().into_bytes(),
                    value: value.clone().into_bytes(),
                })
                .await?
                .into_inner();
            writeln!(out, "OK {}", Timestamp::from_nanos(resp.commit_ts)).map_err(io)?;
        }
        KvOp::Get { key } => {
            let resp = client
                .get(GetRequest {
                    key: key.clone().into_bytes(),
                })
                .await?
                .into_inner();
            if !resp.found {
                eprintln!("key {key:?} not found");
                return Ok(ExitCode::from(1));
            }
            out.write_all(&resp.value).map_err(io)?;
            writeln!(out).map_err(io)?;
        }
        KvOp::Del { key } => {
            let resp = client
                .delete(DeleteRequest {
                    key: key.clone().into_bytes(),
                })
                .await?
                .into_inner();
            writeln!(out, "OK {}", Timestamp::from_nanos(resp.commit_ts)).map_err(io)?;
        }
        KvOp::Scan { start, end, limit } => {
            let resp = client
                .scan(ScanRequest {
                    start: start.clone().into_bytes(),
                    end: end.clone().into_bytes(),
                    limit: *limit,
                })
                .await?
                .into_inner();
            for p in resp.pairs {
                out.write_all(&p.key).map_err(io)?;
                out.write_all(b"\t").map_err(io)?;
                out.write_all(&p.value).map_err(io)?;
                writeln!(out).map_err(io)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
