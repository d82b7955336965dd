//! Jepsen-style runs against real `spanlite` processes (see the crate
//! note). `make test` runs the short ones; `make jepsen TIME=600` the same
//! valid run for longer (`JEPSEN_SECS`; `JEPSEN_MODE_SECS` for the OCC and
//! SSI runs). The runs take turns (each starts its own cluster).

use std::path::PathBuf;
use std::time::Duration;

use spanlite_client::Concurrency;
use spanlite_tests::checker::list_append::AnomalyKind;
use spanlite_tests::jepsen::{RunConfig, run, spanlite_bin};
use spanlite_tests::nemesis::Fault;

/// One run at a time: each is a 3-node cluster under load.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn out_dir(name: &str) -> PathBuf {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("jepsen")
        .join(format!("{name}-{stamp}"))
}

fn env_secs(name: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bank_and_list_append_stay_valid_under_every_fault() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let bin = spanlite_bin().expect("the spanlite binary (built by cargo test --workspace)");
    let cfg = RunConfig::new(bin, env_secs("JEPSEN_SECS", 75), out_dir("valid"));
    let r = run(&cfg).await.expect("the run");
    println!("{}\nfiles: {}", r.summary, r.out_dir.display());
    assert!(r.valid, "{}", r.summary);
    for f in Fault::ALL {
        assert!(
            r.nemesis
                .counts
                .get(&format!("{f:?}"))
                .copied()
                .unwrap_or(0)
                >= 1,
            "{f:?} was never injected: {}",
            r.summary
        );
    }
    let min_ops: usize = std::env::var("JEPSEN_MIN_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    assert!(r.ops >= min_ops, "only {} operations: {}", r.ops, r.summary);
}

/// OCC and SSI: the same run (bank and list-append, faults of every kind
/// in turn), shorter, each mode on its own cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn occ_and_ssi_stay_valid_under_faults() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let bin = spanlite_bin().expect("the spanlite binary (built by cargo test --workspace)");
    for mode in [Concurrency::Optimistic, Concurrency::SerializableSnapshot] {
        let mut cfg = RunConfig::new(
            bin.clone(),
            env_secs("JEPSEN_MODE_SECS", 35),
            out_dir(&format!("valid-{mode}")),
        );
        cfg.workload.concurrency = mode;
        let r = run(&cfg).await.expect("the run");
        println!("{mode}: {}\nfiles: {}", r.summary, r.out_dir.display());
        assert!(r.valid, "{mode}: {}", r.summary);
        assert!(
            r.list_append.txns_ok >= 100 && r.bank.transfers_ok >= 50,
            "{mode}: too little was checked: {}",
            r.summary
        );
    }
}

/// Designed to fail: list-append under snapshot isolation (no faults, a
/// few hot keys, no read-only transactions). Two transactions that each
/// read a list the other appends to both commit (write skew), which the
/// checker must find as a cycle with anti-dependencies (G2 or G-single).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_append_under_snapshot_isolation_is_reported_invalid() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let bin = spanlite_bin().expect("the spanlite binary (built by cargo test --workspace)");
    let mut cfg = RunConfig::new(bin, Duration::from_secs(20), out_dir("si-designed-to-fail"));
    cfg.workload.concurrency = Concurrency::Snapshot;
    cfg.workload.keys = 3;
    cfg.workload.read_only_share = 0.0;
    cfg.bank_clients = 1;
    cfg.list_clients = 8;
    cfg.faults = Vec::new();
    let r = run(&cfg).await.expect("the run");
    println!("SI: {}\nfiles: {}", r.summary, r.out_dir.display());
    assert!(
        !r.valid,
        "SI allows write skew, but the run was valid: {}",
        r.summary
    );
    let skews = [AnomalyKind::G2, AnomalyKind::GSingle]
        .iter()
        .map(|k| r.list_append.counts.get(k).copied().unwrap_or(0))
        .sum::<usize>();
    assert!(
        skews >= 1,
        "expected a cycle with anti-dependencies (write skew): {}",
        r.summary
    );
    assert!(
        r.bank.valid,
        "SI keeps the bank total (every transfer writes what it checks): {}",
        r.summary
    );
}
