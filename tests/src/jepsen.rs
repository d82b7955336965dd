//! One Jepsen-style run: start a process cluster, load the tables, run the
//! bank and list-append clients (SQL, and the catalog-free list-append
//! through the KV service) while the nemesis injects faults, then recover
//! the cluster, take final reads through every node, compare every
//! replica's data on its own node, check the histories and write the
//! results.
//!
//! Files written to the run's output directory: `history.jsonl` (every
//! invocation and completion), `result.json` (counts, faults, checker
//! reports), `summary.txt` (the same in a paragraph) and `latency.svg`
//! (latency over time, fault windows shaded).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use serde::Serialize;
use spanlite_client::{Client, ClientOptions};
use tokio::sync::{Mutex, watch};

use crate::checker::bank::{self, BankReport};
use crate::checker::list_append::{self, ListAppendReport};
use crate::cluster::{HarnessError, ProcessCluster};
use crate::history::{History, Outcome, Recorder};
use crate::nemesis::{self, Fault, NemesisConfig, NemesisLog};
use crate::workload::{self, Processes, WorkloadConfig};

/// What to run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The `spanlite` binary.
    pub bin: PathBuf,
    pub nodes: usize,
    /// How long the clients run (faults included).
    pub duration: Duration,
    pub bank_clients: usize,
    pub list_clients: usize,
    /// Clients of the catalog-free list-append (KV service `Transact`).
    pub kv_list_clients: usize,
    /// Split the catalog-free workload's keys over two tablets (led on
    /// different nodes), so its transactions cross tablets.
    pub kv_split: bool,
    /// Extra `spanlite start` arguments of each node (e.g. its own
    /// `--clock-uncertainty-floor`).
    pub per_node: Vec<Vec<String>>,
    /// How far [`Fault::SkewBeyondEpsilon`] skews (far beyond any ε).
    pub big_skew: Duration,
    /// Keep the nodes' data and logs when the checker finds the run
    /// invalid (for a post-mortem). Off for runs designed to fail, which
    /// would otherwise leave a directory behind every time.
    pub keep_if_invalid: bool,
    pub workload: WorkloadConfig,
    pub faults: Vec<Fault>,
    pub hold: Duration,
    pub rest: Duration,
    /// Where the files go.
    pub out_dir: PathBuf,
    /// Certificates and mutual TLS on every link (nodes, proxies, clients).
    pub tls: bool,
}

impl RunConfig {
    /// The default run for `bin`: 3 nodes, every fault kind.
    pub fn new(bin: PathBuf, duration: Duration, out_dir: PathBuf) -> Self {
        Self {
            bin,
            nodes: 3,
            duration,
            bank_clients: 4,
            list_clients: 6,
            kv_list_clients: 3,
            kv_split: true,
            per_node: Vec::new(),
            big_skew: Duration::from_millis(250),
            keep_if_invalid: true,
            workload: WorkloadConfig::default(),
            faults: Fault::ALL.to_vec(),
            hold: Duration::from_secs(4),
            rest: Duration::from_secs(3),
            out_dir,
            tls: false,
        }
    }
}

/// What a run found.
#[derive(Debug, Serialize)]
pub struct RunResult {
    /// Every checker passed.
    pub valid: bool,
    /// Operations invoked, and how they ended.
    pub ops: usize,
    pub outcomes: BTreeMap<String, usize>,
    pub nemesis: NemesisLog,
    pub bank: BankReport,
    pub list_append: ListAppendReport,
    /// The final balances read through each node.
    pub final_reads: Vec<BTreeMap<u64, i64>>,
    /// Every replica of every tablet held the same data, read on its own
    /// node once all had applied the same log index.
    pub replicas_agree: bool,
    /// Replicas compared, and what differed (tablet and nodes).
    pub replicas_compared: usize,
    pub replica_differences: Vec<String>,
    /// Writes whose UPDATE found no row although every row exists from
    /// the start (wrong reads; the transactions were aborted).
    pub missing_rows: u64,
    /// The summary paragraph (also in `summary.txt`).
    pub summary: String,
    /// Where the files are.
    pub out_dir: PathBuf,
}

/// The `spanlite` binary next to the running test executable (`cargo
/// test` builds it in the same target dir), or `SPANLITE_BIN`.
pub fn spanlite_bin() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("SPANLITE_BIN") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/<test> → target/<profile>/spanlite
    let profile_dir = exe.parent()?.parent()?;
    let bin = profile_dir.join("spanlite");
    bin.exists().then_some(bin)
}

/// The key prefix of a table's rows (table ids count from 1 in creation
/// order; the bank table is created first).
fn table_prefix(id: u32) -> Vec<u8> {
    let mut k = vec![0x03];
    k.extend_from_slice(&id.to_be_bytes());
    k
}

async fn client(addrs: &[String], certs: Option<&Path>) -> Result<Client, HarnessError> {
    let mut options = ClientOptions::default()
        .connect_timeout(Duration::from_secs(1))
        .transaction_deadline(Duration::from_secs(5));
    if let Some(dir) = certs {
        options = options
            .certs_dir(dir, "root")
            .map_err(|e| HarnessError::Process(format!("certs: {e}")))?;
    }
    Client::connect_with(addrs.to_vec(), options)
        .await
        .map_err(|e| HarnessError::Process(format!("connecting: {e}")))
}

/// Runs one test end to end.
pub async fn run(cfg: &RunConfig) -> Result<RunResult, HarnessError> {
    std::fs::create_dir_all(&cfg.out_dir)?;
    let cluster =
        ProcessCluster::start_opts(&cfg.bin, cfg.nodes, &[], &cfg.per_node, cfg.tls).await?;
    let addrs = cluster.addrs();
    let certs = cluster.certs().map(Path::to_path_buf);
    let mut cfg = cfg.clone();
    cfg.workload.certs = certs.clone();
    let cfg = &cfg;
    let sql = cfg.bank_clients + cfg.list_clients > 0;
    if sql {
        let setup_client = client(&addrs, certs.as_deref()).await?;
        workload::setup(&setup_client, &cfg.workload, Duration::from_secs(60))
            .await
            .map_err(HarnessError::Timeout)?;
    }
    let middle = workload::kv_list_key(cfg.workload.keys / 2);
    if cfg.kv_split {
        cluster.split_at(&middle).await?;
        // The two halves led on different nodes (transactions across them
        // meet two leaders' clocks).
        let first = workload::kv_list_key(0);
        if let (Some(a), Some(b)) = (
            cluster.leader_of(&first).await,
            cluster.leader_of(&middle).await,
        ) && a == b
        {
            cluster.move_leader_off(&middle, b).await?;
        }
    }
    let client_addrs = cluster.client_addrs();
    let cluster = Arc::new(Mutex::new(cluster));

    let recorder = Recorder::new();
    let processes = Arc::new(Processes::default());
    let elements = Arc::new(AtomicU64::new(1));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut clients = Vec::new();
    for i in 0..cfg.bank_clients + cfg.list_clients + cfg.kv_list_clients {
        // Each client prefers a different node first (then fails over),
        // through the client links the nemesis can cut.
        let mut mine = client_addrs.clone();
        mine.rotate_left(i % client_addrs.len());
        if i >= cfg.bank_clients + cfg.list_clients {
            clients.push(tokio::spawn(workload::kv_list_append_client(
                mine,
                cfg.workload.clone(),
                recorder.clone(),
                processes.clone(),
                elements.clone(),
                stop_rx.clone(),
            )));
            continue;
        }
        let c = client(&mine, certs.as_deref()).await?;
        let task = if i < cfg.bank_clients {
            tokio::spawn(workload::bank_client(
                c,
                cfg.workload.clone(),
                recorder.clone(),
                processes.clone(),
                stop_rx.clone(),
            ))
        } else {
            tokio::spawn(workload::list_append_client(
                c,
                cfg.workload.clone(),
                recorder.clone(),
                processes.clone(),
                elements.clone(),
                stop_rx.clone(),
            ))
        };
        clients.push(task);
    }
    let nemesis = tokio::spawn(nemesis::run(
        cluster.clone(),
        NemesisConfig {
            faults: cfg.faults.clone(),
            hold: cfg.hold,
            rest: cfg.rest,
            leader_key: table_prefix(1),
            small_skew: Duration::from_micros(200),
            skew_key: middle.clone(),
            big_skew: cfg.big_skew,
            merge_at: cfg
                .kv_split
                .then(|| (workload::kv_list_key(0), middle.clone())),
        },
        recorder.clone(),
        stop_rx,
    ));
    tokio::time::sleep(cfg.duration).await;
    stop_tx.send_replace(true);
    let nemesis_log = nemesis
        .await
        .map_err(|e| HarnessError::Process(format!("nemesis: {e}")))?;
    for c in clients {
        let _ = c.await;
    }

    // Quiet the cluster, then read the final state through every node.
    let mut cluster = match Arc::try_unwrap(cluster) {
        Ok(m) => m.into_inner(),
        Err(_) => return Err(HarnessError::Process("the cluster is still shared".into())),
    };
    cluster.recover().await?;
    let mut final_reads = Vec::new();
    let mut stuck = None;
    'nodes: for a in addrs.iter().filter(|_| sql) {
        let c = client(std::slice::from_ref(a), certs.as_deref()).await?;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            match workload::read_balances(&c).await {
                Ok(b) => {
                    final_reads.push(b);
                    break;
                }
                Err(e) if std::time::Instant::now() > deadline => {
                    stuck = Some(format!("final read through {a}: {e}"));
                    break 'nodes;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }
    let replicas = match stuck {
        Some(e) => Err(HarnessError::Timeout(e)),
        None => {
            cluster
                .replica_contents(&[0x01], &[], Duration::from_secs(60))
                .await
        }
    };
    let replicas = match replicas {
        Ok(r) => r,
        Err(e) => {
            // Keep what a post-mortem needs: every node's view, data, logs.
            let status = cluster.status_report().await;
            let kept = cluster.keep();
            return Err(HarnessError::Timeout(format!(
                "{e}\nreplicas:\n{status}data and logs kept in {}",
                kept.display()
            )));
        }
    };
    let history = recorder.history();
    let result = check(cfg, &history, nemesis_log, final_reads, &replicas)?;
    write_files(&cfg.out_dir, &history, &result)?;
    if !result.valid && cfg.keep_if_invalid {
        // Keep the data and logs of an invalid run next to its results.
        let kept = cluster.keep();
        std::fs::write(
            cfg.out_dir.join("cluster-dir.txt"),
            kept.display().to_string(),
        )?;
    }
    Ok(result)
}

/// Differences between the replicas of each tablet, and how many replicas
/// were compared.
fn compare_replicas(replicas: &crate::cluster::ReplicaContents) -> (usize, Vec<String>) {
    let mut compared = 0;
    let mut differences = Vec::new();
    for (tablet, copies) in replicas {
        compared += copies.len();
        let Some((first_node, first)) = copies.first() else {
            continue;
        };
        for (node, pairs) in &copies[1..] {
            if pairs != first {
                let differing = first
                    .iter()
                    .zip(pairs.iter())
                    .position(|(a, b)| a != b)
                    .unwrap_or(first.len().min(pairs.len()));
                differences.push(format!(
                    "tablet {tablet}: node {node} differs from node {first_node} ({} vs {} pairs, first difference at pair {differing})",
                    pairs.len(),
                    first.len()
                ));
            }
        }
    }
    (compared, differences)
}

fn check(
    cfg: &RunConfig,
    history: &History,
    nemesis: NemesisLog,
    final_reads: Vec<BTreeMap<u64, i64>>,
    replicas: &crate::cluster::ReplicaContents,
) -> Result<RunResult, HarnessError> {
    let total = cfg.workload.initial_balance * cfg.workload.accounts as i64;
    let accounts: Vec<u64> = (0..cfg.workload.accounts).collect();
    let initial: BTreeMap<u64, i64> = accounts
        .iter()
        .map(|&a| (a, cfg.workload.initial_balance))
        .collect();
    let bank = bank::check(history, &initial, &final_reads)
        .map_err(|e| HarnessError::Process(format!("bank checker: {e}")))?;
    let list_append = list_append::check(history)
        .map_err(|e| HarnessError::Process(format!("list-append checker: {e}")))?;
    let mut outcomes = BTreeMap::new();
    let pairs = history
        .pairs()
        .map_err(|e| HarnessError::Process(format!("history: {e}")))?;
    for p in &pairs {
        let name = match p.outcome() {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        };
        *outcomes.entry(name.to_string()).or_default() += 1;
    }
    let missing_rows = workload::MISSING_ROWS.load(std::sync::atomic::Ordering::Relaxed);
    let (replicas_compared, replica_differences) = compare_replicas(replicas);
    let replicas_agree = replica_differences.is_empty();
    // A run without bank clients has no bank to check.
    let bank_ran = cfg.bank_clients > 0;
    let valid =
        (bank.valid || !bank_ran) && list_append.valid && missing_rows == 0 && replicas_agree;
    let faults: Vec<String> = nemesis
        .counts
        .iter()
        .map(|(k, v)| format!("{k} ×{v}"))
        .collect();
    let summary = format!(
        "{verdict}: {ops} operations checked ({ok} ok, {fail} failed, {info} indeterminate) \
         in {secs} s on {nodes} nodes, read-write transactions in {concurrency}; total {total} over {n} accounts. Faults injected: {faults}{errors}. \
         Bank: {bank_s} List-append: {la_s} Writes that found no row: {missing_rows}. \
         Replicas compared directly: {replicas_compared}, {agree}.",
        verdict = if valid { "VALID" } else { "INVALID" },
        ops = pairs.len(),
        ok = outcomes.get("ok").copied().unwrap_or(0),
        fail = outcomes.get("fail").copied().unwrap_or(0),
        info = outcomes.get("info").copied().unwrap_or(0),
        secs = cfg.duration.as_secs(),
        nodes = cfg.nodes,
        concurrency = cfg.workload.concurrency,
        n = accounts.len(),
        faults = if faults.is_empty() {
            "none".to_string()
        } else {
            faults.join(", ")
        },
        errors = if nemesis.errors.is_empty() {
            String::new()
        } else {
            format!(
                " ({} could not be injected: {})",
                nemesis.errors.len(),
                nemesis.errors.join("; ")
            )
        },
        bank_s = if bank_ran {
            bank.summary()
        } else {
            "not run.".to_string()
        },
        la_s = list_append.summary(),
        agree = if replicas_agree {
            "all agree".to_string()
        } else {
            replica_differences.join("; ")
        },
    );
    Ok(RunResult {
        valid,
        ops: pairs.len(),
        outcomes,
        nemesis,
        bank,
        list_append,
        final_reads,
        replicas_agree,
        replicas_compared,
        replica_differences,
        missing_rows,
        summary,
        out_dir: cfg.out_dir.clone(),
    })
}

fn write_files(dir: &Path, history: &History, result: &RunResult) -> Result<(), HarnessError> {
    let file = std::fs::File::create(dir.join("history.jsonl"))?;
    history
        .write_json_lines(std::io::BufWriter::new(file))
        .map_err(|e| HarnessError::Process(e.to_string()))?;
    let json =
        serde_json::to_string_pretty(result).map_err(|e| HarnessError::Process(e.to_string()))?;
    std::fs::write(dir.join("result.json"), json)?;
    std::fs::write(dir.join("summary.txt"), format!("{}\n", result.summary))?;
    let windows: Vec<crate::plot::NemesisWindow> = result
        .nemesis
        .windows
        .iter()
        .map(|w| crate::plot::NemesisWindow {
            start_ns: w.start_ns,
            end_ns: w.end_ns,
            label: format!("{:?}: {}", w.fault, w.detail),
        })
        .collect();
    crate::plot::latency_svg(history, &windows, &dir.join("latency.svg"))
        .map_err(|e| HarnessError::Process(format!("plot: {e}")))?;
    Ok(())
}
