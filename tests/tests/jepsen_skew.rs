//! Designed to fail: a Jepsen-style run with a clock skewed far beyond ε
//! must be reported invalid by the checker (its own binary, so it never
//! runs at the same time as the valid run).

use std::path::PathBuf;
use std::time::Duration;

use spanlite_tests::jepsen::{RunConfig, run, spanlite_bin};

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

/// Designed to fail: the list table's leader runs 2 s ahead (far beyond
/// ε), so its commits get timestamps in the future and snapshot reads
/// from the other nodes miss writes that finished before they began. The
/// checker must call the run invalid — proof that it can.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clock_skew_beyond_epsilon_is_reported_invalid() {
    let bin = spanlite_bin().expect("the spanlite binary (built by cargo test --workspace)");
    let mut cfg = RunConfig::new(bin, env_secs("JEPSEN_SKEW_SECS", 20), out_dir("skew"));
    cfg.faults.clear();
    cfg.bank_clients = 0;
    cfg.list_clients = 6;
    cfg.workload.read_only_share = 0.5;
    cfg.skew_beyond_epsilon = Some(Duration::from_secs(2));
    let r = run(&cfg).await.expect("the run");
    println!("{}\nfiles: {}", r.summary, r.out_dir.display());
    assert!(
        !r.valid,
        "a clock 2 s ahead of ε went unnoticed: {}",
        r.summary
    );
}
