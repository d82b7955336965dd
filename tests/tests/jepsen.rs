//! Jepsen-style runs against real `spanlite` processes (see the crate
//! note). `make test` runs the short ones; `make jepsen TIME=600` the same
//! valid run for longer (`JEPSEN_SECS`).

use std::path::PathBuf;
use std::time::Duration;

use spanlite_tests::jepsen::{RunConfig, run, spanlite_bin};
use spanlite_tests::nemesis::Fault;

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
