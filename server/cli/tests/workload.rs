//! `spanlite workload` end to end: each workload runs briefly on a 3-node
//! cluster in this process and reports committed transactions, sane latency
//! percentiles, and its invariant kept (the bank's total, the kv key count);
//! the command line prints JSON and refuses modes that are not built. The
//! same workloads against PostgreSQL run only when `SPANLITE_TEST_PG_URL`
//! names a database to use (it is dropped and recreated: `bank_accounts`,
//! `kv`).

use std::process::Command;
use std::time::Duration;

use spanlite_benches::workload::{
    Report, Spanlite, Stop, Target, WorkloadKind, WorkloadOptions, run,
};
use spanlite_node::embedded::EmbeddedCluster;

const BIN: &str = env!("CARGO_BIN_EXE_spanlite");

/// Four workers for two seconds.
fn short(workload: WorkloadKind) -> WorkloadOptions {
    WorkloadOptions {
        workload,
        concurrency: 4,
        stop: Stop::After(Duration::from_secs(2)),
        accounts: 50,
        keys: 500,
        read_fraction: 0.5,
        ..WorkloadOptions::default()
    }
}

/// A Spanlite run of `options` on a fresh embedded cluster.
async fn on_embedded_cluster(options: &WorkloadOptions) -> Report {
    let cluster = EmbeddedCluster::start(3).await.unwrap();
    let target = Spanlite::connect(cluster.addrs(), options.concurrency, "embedded")
        .await
        .unwrap();
    let report = run(&target, options).await;
    cluster.shutdown().await;
    report.unwrap()
}

/// Something committed, every attempt is accounted for, and the
/// percentiles are positive and ordered.
fn assert_sane(r: &Report) {
    assert!(r.committed > 0, "nothing committed: {r:#?}");
    assert!(r.errors.is_empty(), "errors: {r:#?}");
    let aborts: u64 = r.aborts.values().sum();
    assert_eq!(r.attempts, r.committed + aborts, "{r:#?}");
    assert_eq!(r.retries, aborts, "every abort was retried: {r:#?}");
    assert_eq!(r.outcomes.values().sum::<u64>(), r.committed, "{r:#?}");
    let l = r.latency_ms;
    assert!(
        0.0 < l.p50 && l.p50 <= l.p95 && l.p95 <= l.p99 && l.p99 <= l.max,
        "{l:?}"
    );
    assert!(l.max <= r.elapsed_secs * 1000.0 + 1.0, "{l:?} in {r:#?}");
    assert!(r.throughput > 0.0 && r.elapsed_secs > 0.0, "{r:#?}");
    assert!(r.passed(), "check failed: {:?}", r.check);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_transfers_on_a_cluster_conserve_the_total() {
    let r = on_embedded_cluster(&short(WorkloadKind::Bank)).await;
    assert_sane(&r);
    let check = r.check.as_ref().unwrap();
    assert_eq!(check.expected, 50 * 1000, "{check:?}");
    assert_eq!(check.found, 50 * 1000, "{check:?}");
    assert!(r.outcomes.contains_key("transfers"), "{r:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_reads_and_updates_on_a_cluster_keep_every_key() {
    let r = on_embedded_cluster(&short(WorkloadKind::Kv)).await;
    assert_sane(&r);
    assert!(
        r.outcomes["reads"] > 0 && r.outcomes["writes"] > 0,
        "{r:#?}"
    );
    assert_eq!(r.check.as_ref().unwrap().found, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readonly_runs_exactly_the_operations_asked_for_without_aborts() {
    let options = WorkloadOptions {
        stop: Stop::Ops(300),
        ..short(WorkloadKind::Readonly)
    };
    let r = on_embedded_cluster(&options).await;
    assert_sane(&r);
    assert_eq!(r.committed, 300, "{r:#?}");
    assert!(r.aborts.is_empty(), "lock-free reads abort nothing: {r:#?}");
    assert_eq!(r.outcomes.keys().collect::<Vec<_>>(), ["reads"], "{r:#?}");
}

#[test]
fn the_command_prints_json_for_an_embedded_run() {
    let out = Command::new(BIN)
        .args([
            "workload",
            "kv",
            "--ops",
            "100",
            "--concurrency",
            "2",
            "--keys",
            "100",
            "--json",
            "--quiet",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(
        stderr.is_empty(),
        "--quiet prints nothing on stderr: {stderr}"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["system"], "spanlite");
    assert_eq!(json["settings"]["workload"], "kv");
    assert_eq!(json["committed"], 100);
    assert_eq!(json["check"]["passed"], true);
}

#[test]
fn the_command_refuses_unknown_modes() {
    let out = Command::new(BIN)
        .args(["workload", "bank", "--mode", "mvcc"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("use 2pl, occ, ssi or si"), "{stderr}");
}

/// `spanlite workload modes`: one row per bank size and mode, each run on
/// a fresh cluster, every total conserved (short runs: 30 transactions).
#[test]
fn the_modes_command_prints_a_row_per_size_and_mode() {
    let out = Command::new(BIN)
        .args([
            "workload",
            "modes",
            "--ops",
            "30",
            "--concurrency",
            "4",
            "--quiet",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    for accounts in ["10000", "10"] {
        for mode in ["2pl", "occ", "ssi", "si"] {
            let cells: Vec<&str> = stdout
                .lines()
                .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
                .find(|c| c.get(1) == Some(&accounts) && c.get(2) == Some(&mode))
                .unwrap_or_else(|| panic!("no row for {accounts} accounts, {mode}: {stdout}"));
            assert_eq!(cells.get(6), Some(&"yes"), "total conserved: {cells:?}");
        }
    }
}

/// Runs only when SPANLITE_TEST_PG_URL is set (e.g.
/// `postgres://bench:bench@127.0.0.1/bench`); otherwise says so and passes
/// without testing anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_runs_the_same_workloads_if_spanlite_test_pg_url_is_set() {
    let Ok(url) = std::env::var("SPANLITE_TEST_PG_URL") else {
        println!("skipped: SPANLITE_TEST_PG_URL is not set, PostgreSQL not tested");
        return;
    };
    let target = spanlite_benches::workload::Postgres::new(&url).unwrap();
    assert_eq!(target.name(), "postgresql");
    let durability = target.durability().await.unwrap();
    assert!(durability.contains("fsync="), "{durability}");
    for workload in [WorkloadKind::Bank, WorkloadKind::Kv, WorkloadKind::Readonly] {
        let r = run(&target, &short(workload)).await.unwrap();
        assert_sane(&r);
    }
}

/// `spanlite workload strong-reads` answers every lone strong read
/// correctly (it checks each result) and prints a row per query with its
/// runs; the figures themselves are for people (machines are noisy).
#[test]
fn strong_reads_prints_a_row_per_query() {
    let out = Command::new(BIN)
        .args(["workload", "strong-reads", "--runs", "3", "--quiet"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for query in [
        "SELECT sum(balance) FROM accounts",
        "SELECT balance FROM accounts WHERE id = 42",
    ] {
        let row = stdout
            .lines()
            .find(|l| l.contains(query))
            .unwrap_or_else(|| panic!("no row for {query}: {stdout}"));
        assert!(row.contains("| 3 "), "{row}");
    }
}
