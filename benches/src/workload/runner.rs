//! [`run`]: one workload against one target, from setup to report.
//!
//! ```text
//!   setup (drop, create, load) ─▶ read the invariant ─▶ open N connections
//!        ─▶ start the clock ─▶ N workers: pick an op, run it (retry loop) …
//!        ─▶ stop (time or count) ─▶ wait for every worker ─▶ stop the clock
//!        ─▶ read the invariant again ─▶ Report
//! ```
//!
//! NB: connections are opened before the clock starts, and a transaction
//! under way when time is up finishes (with its retries) and counts: the
//! elapsed time runs until the last worker ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::bank::{self, Transfer};
use super::error::WorkloadError;
use super::kv::{self, KvOp};
use super::options::{Stop, WorkloadKind, WorkloadOptions};
use super::progress::Progress;
use super::report::{Check, Latency, Report, Settings};
use super::retry::{Ending, Op, run_op};
use super::stats::WorkerStats;
use super::target::{Connection, DbError, Target};

/// What every worker shares: when to stop, and the count the spinner shows.
#[derive(Debug)]
struct Shared {
    stop: Stop,
    start: Instant,
    /// Operations started (for [`Stop::Ops`]).
    started: AtomicU64,
    /// Transactions committed so far.
    committed: Arc<AtomicU64>,
}

impl Shared {
    /// True if the worker may start another operation (and counts it).
    fn go_on(&self) -> bool {
        match self.stop {
            Stop::After(d) => self.start.elapsed() < d,
            Stop::Ops(n) => self.started.fetch_add(1, Ordering::Relaxed) < n,
        }
    }
}

/// The invariant a workload keeps, as read before or after a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Invariant {
    /// Accounts and the sum of their balances.
    Bank(i64, i64),
    /// Keys.
    Kv(i64),
}

/// Runs `options.workload` against `target` and reports. Transactions that
/// fail are counted in the report, not returned; the error is for a run
/// that could not happen (bad options, no connection, failed setup).
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use spanlite_benches::workload::{Postgres, Stop, WorkloadKind, WorkloadOptions, render, run};
///
/// let target = Postgres::new("postgres://bench:bench@127.0.0.1/bench")?;
/// let options = WorkloadOptions {
///     workload: WorkloadKind::Bank,
///     stop: Stop::After(Duration::from_secs(10)),
///     ..WorkloadOptions::default()
/// };
/// let report = run(&target, &options).await?;
/// println!("{}", render(&[report]));
/// # Ok(())
/// # }
/// ```
pub async fn run(target: &dyn Target, options: &WorkloadOptions) -> Result<Report, WorkloadError> {
    options.validate().map_err(WorkloadError::Options)?;
    let system = target.name().to_string();
    let connect_error = |source| WorkloadError::Connect {
        system: system.clone(),
        source,
    };
    let setup_error = |source| WorkloadError::Setup {
        system: system.clone(),
        workload: options.workload,
        source,
    };
    let progress = Progress::new(options.progress, &system);
    progress.message("connecting");
    let durability = target.durability().await.map_err(connect_error)?;
    let mut admin = target.connect().await.map_err(connect_error)?;
    let mut rng = StdRng::from_os_rng();
    if options.setup {
        progress.message(format!("loading {} rows", options.rows()));
        match options.workload {
            WorkloadKind::Bank => bank::setup(admin.as_mut(), options.accounts).await,
            WorkloadKind::Kv | WorkloadKind::Readonly => {
                kv::setup(admin.as_mut(), options.keys, &mut rng).await
            }
        }
        .map_err(setup_error)?;
    }
    let before = invariant(admin.as_mut(), options.workload)
        .await
        .map_err(setup_error)?;

    progress.message(format!("opening {} connections", options.concurrency));
    let mut connections = Vec::with_capacity(options.concurrency);
    for _ in 0..options.concurrency {
        connections.push(target.connect().await.map_err(connect_error)?);
    }
    let shared = Arc::new(Shared {
        stop: options.stop,
        start: Instant::now(),
        started: AtomicU64::new(0),
        committed: Arc::new(AtomicU64::new(0)),
    });
    // Both stop if this future is dropped (a signal ending the command):
    // no worker goes on sending transactions to a cluster shutting down.
    let follower = AbortOnDrop(progress.follow(shared.committed.clone()));
    let mut workers = tokio::task::JoinSet::new();
    for conn in connections {
        let stats = WorkerStats::new().map_err(|e| WorkloadError::Histogram(e.to_string()))?;
        workers.spawn(worker(conn, stats, shared.clone(), options.clone()));
    }
    let mut total = WorkerStats::new().map_err(|e| WorkloadError::Histogram(e.to_string()))?;
    let mut joined = Ok(());
    while let Some(w) = workers.join_next().await {
        match w {
            Ok(stats) => total
                .merge(stats)
                .map_err(|e| WorkloadError::Histogram(e.to_string()))?,
            // Wait for the others all the same, so none outlives the run.
            Err(e) => joined = Err(e),
        }
    }
    let elapsed = shared.start.elapsed();
    drop(follower);
    progress.finish();
    joined?;

    let after = invariant(admin.as_mut(), options.workload)
        .await
        .map_err(|source| WorkloadError::Check {
            system: system.clone(),
            workload: options.workload,
            source,
        })?;
    let elapsed_secs = elapsed.as_secs_f64();
    Ok(Report {
        system,
        endpoint: target.endpoint(),
        isolation: target.isolation().to_string(),
        durability,
        settings: Settings::of(options),
        elapsed_secs,
        committed: total.committed,
        throughput: total.committed as f64 / elapsed_secs,
        latency_ms: Latency::of(&total.latency),
        attempts: total.attempts,
        retries: total.retries,
        aborts: total.aborts,
        errors: total.errors,
        first_error: total.first_error,
        outcomes: total
            .outcomes
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        check: Some(check(before, after)),
    })
}

/// One worker: operations one after another on its own connection until
/// the run stops or the connection is lost.
async fn worker(
    mut conn: Box<dyn Connection>,
    mut stats: WorkerStats,
    shared: Arc<Shared>,
    options: WorkloadOptions,
) -> WorkerStats {
    let mut rng = StdRng::from_os_rng();
    // Validated: both fit in an i64.
    let accounts = i64::try_from(options.accounts).unwrap_or(i64::MAX);
    let keys = i64::try_from(options.keys).unwrap_or(i64::MAX);
    while shared.go_on() {
        let op = match options.workload {
            WorkloadKind::Bank => Op::Transfer(Transfer::random(&mut rng, accounts)),
            WorkloadKind::Kv => Op::Kv(KvOp::random(&mut rng, keys, options.read_fraction)),
            WorkloadKind::Readonly => Op::Kv(KvOp::random(&mut rng, keys, 1.0)),
        };
        let committed_before = stats.committed;
        let ending = run_op(conn.as_mut(), &op, &mut stats, &mut rng).await;
        shared
            .committed
            .fetch_add(stats.committed - committed_before, Ordering::Relaxed);
        if ending == Ending::ConnectionLost {
            break;
        }
    }
    stats
}

async fn invariant(
    conn: &mut dyn Connection,
    workload: WorkloadKind,
) -> Result<Invariant, DbError> {
    Ok(match workload {
        WorkloadKind::Bank => {
            let (accounts, total) = bank::totals(conn).await?;
            Invariant::Bank(accounts, total)
        }
        WorkloadKind::Kv | WorkloadKind::Readonly => Invariant::Kv(kv::count(conn).await?),
    })
}

fn check(before: Invariant, after: Invariant) -> Check {
    match (before, after) {
        (Invariant::Bank(a0, t0), Invariant::Bank(a1, t1)) => bank::check((a0, t0), (a1, t1)),
        (Invariant::Kv(k0), Invariant::Kv(k1)) => kv::check(k0, k1),
        // The same workload reads both; kept total rather than unreachable.
        _ => Check {
            what: "invariant of different workloads".into(),
            expected: 0,
            found: 1,
            passed: false,
        },
    }
}

/// A task aborted when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
