//! The retry loop, the same for every target: an operation is attempted
//! until it commits, fails for good, or runs out of attempts; between
//! attempts it waits (exponential backoff with jitter).
//!
//! ```text
//!   attempt ─▶ committed ─────────────────────▶ count latency (from the first BEGIN)
//!      │
//!      ├──▶ retryable (40001, 40P01, …) ─▶ count abort ─▶ wait ─▶ attempt again
//!      │                                  (after MAX_ATTEMPTS: count an error)
//!      └──▶ anything else ──────────────▶ count error
//! ```

use std::time::{Duration, Instant};

use rand::Rng;
use spanlite_truetime::Backoff;

use super::bank::{self, Transfer};
use super::kv::{self, KvOp};
use super::stats::WorkerStats;
use super::target::{Connection, DbError, FailureKind};

/// The first wait after an abort; each next one doubles.
const FIRST_BACKOFF: Duration = Duration::from_millis(1);
/// The longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(100);
/// Attempts at one operation before it counts as an error.
pub(crate) const MAX_ATTEMPTS: u32 = 100;

/// One operation of a workload, chosen before its first attempt so that
/// retries redo the same thing.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    /// A bank transfer (a multi-statement transaction).
    Transfer(Transfer),
    /// A kv read or write (one statement).
    Kv(KvOp),
}

impl Op {
    async fn attempt(&self, conn: &mut dyn Connection) -> Result<&'static str, DbError> {
        match self {
            Op::Transfer(t) => bank::attempt(conn, t).await,
            Op::Kv(op) => kv::attempt(conn, op).await,
        }
    }
}

/// What became of an operation, for the worker to decide whether to go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Committed, or failed in a way the next operation may not.
    Continue,
    /// The connection is gone for good: the worker stops.
    ConnectionLost,
}

/// Runs `op` to its end on `conn`, counting into `stats`.
pub(crate) async fn run_op(
    conn: &mut dyn Connection,
    op: &Op,
    stats: &mut WorkerStats,
    rng: &mut impl Rng,
) -> Ending {
    let start = Instant::now();
    let mut backoff = Backoff::new(FIRST_BACKOFF, MAX_BACKOFF);
    for attempt in 1..=MAX_ATTEMPTS {
        stats.attempts += 1;
        if attempt > 1 {
            stats.retries += 1;
        }
        match op.attempt(conn).await {
            Ok(outcome) => {
                stats.committed(outcome, start.elapsed());
                return Ending::Continue;
            }
            Err(e) if e.retryable => {
                stats.aborted(e.kind.to_string());
                if attempt == MAX_ATTEMPTS {
                    stats.failed(format!("gave up after {MAX_ATTEMPTS} attempts"), || {
                        format!("{op:?}: last abort: {e}")
                    });
                    return Ending::Continue;
                }
                tokio::time::sleep(backoff.next_with(rng.random_range(0..1000))).await;
            }
            Err(e) => {
                stats.failed(e.kind.to_string(), || format!("{op:?}: {e}"));
                return match e.kind {
                    FailureKind::Disconnected | FailureKind::Connect => Ending::ConnectionLost,
                    _ => Ending::Continue,
                };
            }
        }
    }
    Ending::Continue
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn jitter_shortens_by_at_most_half() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..1000 {
            let mut backoff = Backoff::new(Duration::from_millis(10), MAX_BACKOFF);
            let d = backoff.next_with(rng.random_range(0..1000));
            assert!(d >= Duration::from_millis(5) && d <= Duration::from_millis(10));
        }
    }
}
