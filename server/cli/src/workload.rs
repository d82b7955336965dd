//! `spanlite workload`: runs a workload of `spanlite_benches::workload`
//! against a Spanlite cluster (given by `--url`, or embedded in this
//! process), then against PostgreSQL (`--pg-url`) with the same settings,
//! and prints both side by side (or JSON).
//!
//! ```text
//!   --url A,B,C ──────────┐
//!   (none) or --embedded ─┴─▶ Spanlite run ─▶ cluster shut down ─▶ PostgreSQL run ─▶ table | JSON
//!                                                                   (if --pg-url)
//! ```
//!
//! NB: an embedded cluster is shut down before PostgreSQL runs, so the two
//! runs do not share the CPU.

use std::process::ExitCode;

use spanlite_benches::workload::{
    Comparison, Postgres, Report, Spanlite, WorkloadOptions, render, run,
};

use spanlite_node::embedded::EmbeddedCluster;

/// What `spanlite workload` was asked to do.
#[derive(Debug)]
pub struct WorkloadCommand {
    /// The workload and its settings, the same for every system.
    pub options: WorkloadOptions,
    /// Spanlite nodes (`host:port`); empty: an embedded cluster, if Spanlite
    /// runs at all.
    pub urls: Vec<String>,
    /// PostgreSQL to compare with.
    pub pg_url: Option<String>,
    /// Run Spanlite embedded even though `--pg-url` is given.
    pub embedded: bool,
    /// Nodes of an embedded cluster.
    pub nodes: usize,
    /// Print JSON instead of the table.
    pub json: bool,
    /// Print nothing on stderr but errors (no spinner, no notes).
    pub quiet: bool,
    /// Connect to `urls` over TLS with this certs dir and user's client
    /// certificate (`--certs-dir`, `--user`).
    pub certs: Option<(std::path::PathBuf, String)>,
    /// `spanlite workload modes`: the bank workload at every size of
    /// [`MODES_ACCOUNTS`] under every mode, as one table.
    pub modes_table: bool,
    /// `--auto`: the embedded cluster twice, side by side — with one data
    /// tablet, then with splits by load and the allocator on (after a
    /// warm-up) — with each node's share of leaders and requests.
    pub auto: bool,
    /// `--split-qps`: the `--auto` cluster's load split threshold.
    pub split_qps: u64,
}

/// Requests a second past which a tablet splits in an `--auto` run (the
/// default, 2,500, is for machines of their own; here 5 nodes share the
/// CPU). Measured: 300 made 23 tablets and ran slower than 1,000 (7), as
/// more groups share each node's group commits less.
pub const AUTO_SPLIT_QPS: u64 = 1000;

/// How long an `--auto` cluster runs the workload before it is measured:
/// splits by load and the allocator's moves happen then.
const AUTO_WARM_UP: std::time::Duration = std::time::Duration::from_secs(30);

/// The bank sizes `spanlite workload modes` compares: low contention
/// (10,000 accounts) and high contention (10).
pub const MODES_ACCOUNTS: [u64; 2] = [10_000, 10];

impl WorkloadCommand {
    /// Spanlite runs when given, embedded or remote, or when nothing else is.
    fn runs_spanlite(&self) -> bool {
        !self.urls.is_empty() || self.embedded || self.pg_url.is_none()
    }
}

/// Runs the command; fails if a run could not happen, exits non-zero if a
/// workload's check failed.
pub async fn run_command(command: WorkloadCommand) -> Result<ExitCode, String> {
    command.options.validate()?;
    if command.modes_table {
        return modes_table(command).await;
    }
    if command.auto {
        return auto_table(&command).await;
    }
    let quiet = command.quiet;
    let mut reports = Vec::new();
    if command.runs_spanlite() {
        reports.push(spanlite(&command, quiet).await?);
    }
    if let Some(url) = &command.pg_url {
        let target = Postgres::new(url).map_err(|e| format!("--pg-url: {e}"))?;
        reports.push(
            crate::interrupt::interruptible(async {
                run(&target, &command.options)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await?,
        );
    }
    if command.json {
        let json = match reports.as_slice() {
            [a, b] => serde_json::to_string_pretty(&Comparison::new(a.clone(), b.clone())),
            [one] => serde_json::to_string_pretty(one),
            all => serde_json::to_string_pretty(all),
        }
        .map_err(|e| format!("writing JSON: {e}"))?;
        println!("{json}");
    } else {
        print!("{}", render(&reports));
    }
    if reports.iter().all(Report::passed) {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("spanlite: a workload check FAILED (see the check row)");
        Ok(ExitCode::FAILURE)
    }
}

/// The Spanlite run: on `--url`, or on a cluster started (and shut down)
/// here.
async fn spanlite(command: &WorkloadCommand, quiet: bool) -> Result<Report, String> {
    let sessions = command.options.concurrency;
    if !command.urls.is_empty() {
        let mut options = spanlite_client::ClientOptions::default();
        if let Some((dir, user)) = &command.certs {
            options = options
                .certs_dir(dir, user)
                .map_err(|e| format!("--certs-dir: {e}"))?;
        }
        let target =
            Spanlite::connect_with(&command.urls, sessions, command.urls.join(","), options)
                .await
                .map_err(|e| format!("--url: {e}"))?
                .with_mode(command.options.mode);
        return crate::interrupt::interruptible(async {
            run(&target, &command.options)
                .await
                .map_err(|e| e.to_string())
        })
        .await;
    }
    if !quiet {
        eprintln!(
            "Starting a {}-node cluster in this process …",
            command.nodes
        );
    }
    let cluster = EmbeddedCluster::start(command.nodes).await?;
    if !quiet {
        eprintln!(
            "Cluster ready (data in {}); running …",
            cluster.dir().display()
        );
    }
    let endpoint = format!("embedded, {} nodes", command.nodes);
    let outcome = crate::interrupt::interruptible(async {
        match Spanlite::connect(cluster.addrs(), sessions, endpoint).await {
            Ok(target) => run(&target.with_mode(command.options.mode), &command.options)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!("connecting to the embedded cluster: {e}")),
        }
    })
    .await;
    cluster.shutdown().await;
    outcome
}

/// Each node's share of the data tablets' leaders and of the tablet
/// requests served during a run.
#[derive(Debug, Default)]
struct Shares {
    /// Node id → (data-tablet leaders, requests served in the run).
    nodes: std::collections::BTreeMap<u64, (usize, u64)>,
    /// WAL fdatasyncs on all nodes in the run.
    fsyncs: u64,
}

/// Requests each node of `cluster` has served so far, and its WAL's
/// fdatasyncs.
fn requests(cluster: &EmbeddedCluster) -> std::collections::BTreeMap<u64, (u64, u64)> {
    cluster
        .nodes()
        .iter()
        .map(|n| {
            let served = n.context.store.metrics().snapshot().rpcs.values().sum();
            (
                n.context.node_id,
                (served, n.context.store.wal_stats().fsyncs),
            )
        })
        .collect()
}

impl Shares {
    fn of(
        cluster: &EmbeddedCluster,
        before: &std::collections::BTreeMap<u64, (u64, u64)>,
    ) -> Shares {
        let after = requests(cluster);
        let fsyncs =
            after.values().map(|v| v.1).sum::<u64>() - before.values().map(|v| v.1).sum::<u64>();
        let nodes = cluster
            .nodes()
            .iter()
            .map(|n| {
                let id = n.context.node_id;
                let leaders = n
                    .context
                    .store
                    .replicas()
                    .iter()
                    .filter(|r| r.tablet() != spanlite_directory::META_TABLET && r.is_serving())
                    .count();
                let served = after.get(&id).map_or(0, |v| v.0) - before.get(&id).map_or(0, |v| v.0);
                (id, (leaders, served))
            })
            .collect();
        Shares { nodes, fsyncs }
    }

    fn max_request_share(&self) -> f64 {
        let total: u64 = self.nodes.values().map(|v| v.1).sum();
        let max = self.nodes.values().map(|v| v.1).max().unwrap_or(0);
        max as f64 / total.max(1) as f64
    }
}

/// `--auto`: the same workload on an embedded cluster with one data tablet
/// and on one that splits by load and rebalances; both reports side by
/// side, and each node's share of leaders and requests.
async fn auto_table(command: &WorkloadCommand) -> Result<ExitCode, String> {
    let nodes = command.nodes;
    let quiet = command.quiet;
    let mut reports = Vec::new();
    let mut shares = Vec::new();
    for auto in [false, true] {
        if !quiet {
            eprintln!(
                "Starting a {nodes}-node cluster in this process ({}) …",
                if auto {
                    "splits by load, allocator on"
                } else {
                    "one data tablet"
                }
            );
        }
        let cluster = EmbeddedCluster::start_with(nodes, &|c| {
            if auto {
                c.split.qps = command.split_qps;
                c.split.check_every = std::time::Duration::from_secs(1);
                c.allocator.every = std::time::Duration::from_secs(1);
            } else {
                c.split.size = 0;
            }
        })
        .await?;
        let endpoint = format!(
            "{nodes} nodes, {}",
            if auto { "auto" } else { "one data tablet" }
        );
        let outcome = crate::interrupt::interruptible(async {
            let target = Spanlite::connect(cluster.addrs(), command.options.concurrency, endpoint)
                .await
                .map_err(|e| format!("connecting to the embedded cluster: {e}"))?
                .with_mode(command.options.mode);
            let mut options = command.options.clone();
            if auto {
                if !quiet {
                    eprintln!("Warming up for {AUTO_WARM_UP:?} (tablets split and move) …");
                }
                let mut warm = options.clone();
                warm.stop = spanlite_benches::workload::Stop::After(AUTO_WARM_UP);
                run(&target, &warm).await.map_err(|e| e.to_string())?;
                options.setup = false;
            }
            let before = requests(&cluster);
            let report = run(&target, &options).await.map_err(|e| e.to_string())?;
            Ok::<_, String>((
                report,
                Shares::of(&cluster, &before),
                // The data tablets (the leaders' columns count theirs).
                cluster
                    .gateway()
                    .cache()
                    .tablets()
                    .iter()
                    .filter(|t| t.id != spanlite_directory::META_TABLET)
                    .count(),
            ))
        })
        .await;
        cluster.shutdown().await;
        let (report, share, tablets) = outcome?;
        reports.push(report);
        shares.push((auto, share, tablets));
    }
    print!("{}", render(&reports));
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::ASCII_MARKDOWN);
    let mut header = vec!["node".to_string()];
    for (auto, _, tablets) in &shares {
        let name = if *auto { "auto" } else { "one data tablet" };
        header.push(format!("{name}: leaders ({tablets} data tablets)"));
        header.push(format!("{name}: requests"));
    }
    table.set_header(header);
    let ids: std::collections::BTreeSet<u64> = shares
        .iter()
        .flat_map(|(_, s, _)| s.nodes.keys().copied())
        .collect();
    for id in ids {
        let mut row = vec![id.to_string()];
        for (_, s, _) in &shares {
            let leaders: usize = s.nodes.values().map(|v| v.0).sum();
            let served: u64 = s.nodes.values().map(|v| v.1).sum();
            let (l, r) = s.nodes.get(&id).copied().unwrap_or_default();
            row.push(format!(
                "{l} ({:.0} %)",
                100.0 * l as f64 / leaders.max(1) as f64
            ));
            row.push(format!(
                "{r} ({:.0} %)",
                100.0 * r as f64 / served.max(1) as f64
            ));
        }
        table.add_row(row);
    }
    println!(
        "\nEach node's share of the data tablets' leaders and of the requests served:\n{table}"
    );
    for ((auto, s, _), report) in shares.iter().zip(&reports) {
        println!(
            "{}: the busiest node served {:.0} % of the requests; {} WAL fdatasyncs on all nodes, {:.2} per committed transaction",
            if *auto { "auto" } else { "one data tablet" },
            100.0 * s.max_request_share(),
            s.fsyncs,
            s.fsyncs as f64 / report.committed.max(1) as f64
        );
    }
    if reports.iter().all(Report::passed) {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("spanlite: a workload check FAILED (see the check row)");
        Ok(ExitCode::FAILURE)
    }
}

/// `spanlite workload modes`: the bank workload at low and high contention
/// under each concurrency control mode, each run on a fresh cluster (or on
/// `--url`, the table set up again), then one table: throughput, p99
/// latency and the share of attempts that aborted.
async fn modes_table(mut command: WorkloadCommand) -> Result<ExitCode, String> {
    use spanlite_benches::workload::{Mode, WorkloadKind};
    if command.pg_url.is_some() {
        return Err("`spanlite workload modes` compares Spanlite's modes; drop --pg-url".into());
    }
    command.options.workload = WorkloadKind::Bank;
    command.options.setup = true;
    let mut rows = Vec::new();
    let mut reports = Vec::new();
    for accounts in MODES_ACCOUNTS {
        for mode in Mode::ALL {
            command.options.accounts = accounts;
            command.options.mode = mode;
            if !command.quiet {
                eprintln!("bank, {accounts} accounts, {mode} …");
            }
            let report = spanlite(&command, command.quiet).await?;
            rows.push(ModesRow::of(accounts, mode, &report));
            reports.push(report);
        }
    }
    if command.json {
        let json =
            serde_json::to_string_pretty(&reports).map_err(|e| format!("writing JSON: {e}"))?;
        println!("{json}");
    } else {
        print!(
            "{}",
            render_modes(&rows, command.options.concurrency, &command.options.stop)
        );
    }
    if reports.iter().all(Report::passed) {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("spanlite: a workload check FAILED (the bank total was not conserved)");
        Ok(ExitCode::FAILURE)
    }
}

/// One line of the modes table.
#[derive(Debug)]
struct ModesRow {
    accounts: u64,
    mode: String,
    throughput: f64,
    p99_ms: f64,
    abort_rate: f64,
    passed: bool,
}

impl ModesRow {
    fn of(accounts: u64, mode: spanlite_benches::workload::Mode, r: &Report) -> ModesRow {
        let aborted: u64 = r.aborts.values().sum();
        ModesRow {
            accounts,
            mode: mode.to_string(),
            throughput: r.throughput,
            p99_ms: r.latency_ms.p99,
            abort_rate: if r.attempts == 0 {
                0.0
            } else {
                aborted as f64 / r.attempts as f64
            },
            passed: r.passed(),
        }
    }
}

fn render_modes(
    rows: &[ModesRow],
    workers: usize,
    stop: &spanlite_benches::workload::Stop,
) -> String {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::ASCII_MARKDOWN);
    table.set_header([
        "accounts",
        "mode",
        "committed txn/s",
        "p99 latency (ms)",
        "aborted attempts",
        "total conserved",
    ]);
    for r in rows {
        table.add_row([
            r.accounts.to_string(),
            r.mode.clone(),
            format!("{:.0}", r.throughput),
            format!("{:.1}", r.p99_ms),
            format!("{:.1} %", r.abort_rate * 100.0),
            if r.passed { "yes" } else { "NO" }.to_string(),
        ]);
    }
    format!(
        "bank workload, {workers} workers, {stop} per run, each mode on a fresh cluster\n{table}\n"
    )
}

/// `spanlite workload strong-reads`: the demo's table (100 accounts over
/// four tablets) on a cluster in this process, then lone strong reads
/// through a SQL session on the first node, each timed on its own: the
/// sum over all four tablets, and one account's balance (one tablet).
/// Prints p50, p90 and the slowest of `runs` of each.
pub async fn strong_reads(runs: usize, nodes: usize, quiet: bool) -> Result<ExitCode, String> {
    if !quiet {
        eprintln!("Starting a {nodes}-node cluster in this process with the demo's table …");
    }
    let cluster = EmbeddedCluster::start(nodes).await?;
    let timed = crate::interrupt::interruptible(async {
        crate::demo::populate(&cluster).await?;
        time_strong_reads(cluster.addrs(), runs).await
    })
    .await;
    cluster.shutdown().await;
    let rows = timed?;
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::ASCII_MARKDOWN);
    table.set_header([
        "lone strong read",
        "tablets",
        "runs",
        "p50 (ms)",
        "p90 (ms)",
        "max (ms)",
    ]);
    for r in &rows {
        table.add_row([
            r.query.to_string(),
            r.tablets.to_string(),
            r.times.len().to_string(),
            format!("{:.1}", r.quantile(0.5)),
            format!("{:.1}", r.quantile(0.9)),
            format!("{:.1}", r.quantile(1.0)),
        ]);
    }
    println!(
        "strong reads on the demo's table, {nodes} nodes, each statement timed alone\n{table}"
    );
    Ok(ExitCode::SUCCESS)
}

/// One query's timings.
#[derive(Debug)]
struct Timed {
    query: &'static str,
    tablets: usize,
    /// Milliseconds, sorted.
    times: Vec<f64>,
}

impl Timed {
    /// The `q` quantile (nearest rank).
    fn quantile(&self, q: f64) -> f64 {
        if self.times.is_empty() {
            return 0.0;
        }
        let rank = ((q * self.times.len() as f64).ceil() as usize).clamp(1, self.times.len());
        self.times[rank - 1]
    }
}

async fn time_strong_reads(addrs: &[String], runs: usize) -> Result<Vec<Timed>, String> {
    use crate::shell::{Outcome, SqlClient};
    let mut client = SqlClient::connect(&addrs[..1]).await?;
    let mut out = Vec::new();
    for (query, tablets, expected) in [
        ("SELECT sum(balance) FROM accounts", 4, "100000"),
        ("SELECT balance FROM accounts WHERE id = 42", 1, "1000"),
    ] {
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let start = std::time::Instant::now();
            let outcome = client.statement(query).await?;
            times.push(start.elapsed().as_secs_f64() * 1000.0);
            match outcome {
                Outcome::Rows { rows, .. }
                    if rows.len() == 1
                        && rows[0].len() == 1
                        && rows[0][0].to_string() == expected => {}
                other => return Err(format!("{query}: expected {expected}, got {other:?}")),
            }
        }
        times.sort_by(f64::total_cmp);
        out.push(Timed {
            query,
            tablets,
            times,
        });
    }
    Ok(out)
}
