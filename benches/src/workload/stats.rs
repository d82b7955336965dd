//! What one worker counts while it runs; merged into the [`Report`] at the
//! end (no counter is shared between workers but the progress count).
//!
//! [`Report`]: super::Report

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

/// The longest latency the histogram tells apart: an hour.
const MAX_LATENCY_MICROS: u64 = 3_600_000_000;

/// One worker's counts.
#[derive(Debug)]
pub(crate) struct WorkerStats {
    /// Latency of each committed transaction in microseconds, from its first
    /// `BEGIN` to its commit, retries and backoff included.
    pub latency: Histogram<u64>,
    /// Transactions committed.
    pub committed: u64,
    /// Transactions begun, first attempts and retries alike.
    pub attempts: u64,
    /// Attempts that were a retry of an aborted one.
    pub retries: u64,
    /// Aborted attempts (retryable failures) by reason.
    pub aborts: BTreeMap<String, u64>,
    /// Transactions that failed for good, by reason.
    pub errors: BTreeMap<String, u64>,
    /// Committed transactions by what they did (`transfers`, `reads`, …).
    pub outcomes: BTreeMap<&'static str, u64>,
    /// The first failure for good, in full, to print.
    pub first_error: Option<String>,
}

impl WorkerStats {
    /// Empty counts.
    pub(crate) fn new() -> Result<WorkerStats, hdrhistogram::CreationError> {
        Ok(WorkerStats {
            // 1 µs to an hour at 3 significant digits; longer is recorded
            // as an hour. (NB: not an auto-resizing histogram: its
            // `saturating_record` clamps to the initial range.)
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_MICROS, 3)?,
            committed: 0,
            attempts: 0,
            retries: 0,
            aborts: BTreeMap::new(),
            errors: BTreeMap::new(),
            outcomes: BTreeMap::new(),
            first_error: None,
        })
    }

    /// A transaction committed after `took`, having done `outcome`.
    pub(crate) fn committed(&mut self, outcome: &'static str, took: Duration) {
        self.committed += 1;
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency.saturating_record(micros.max(1));
        *self.outcomes.entry(outcome).or_default() += 1;
    }

    /// An attempt aborted retryably for `reason`.
    pub(crate) fn aborted(&mut self, reason: String) {
        *self.aborts.entry(reason).or_default() += 1;
    }

    /// A transaction failed for good for `reason`; `detail` is the full
    /// error.
    pub(crate) fn failed(&mut self, reason: String, detail: impl FnOnce() -> String) {
        *self.errors.entry(reason).or_default() += 1;
        if self.first_error.is_none() {
            self.first_error = Some(detail());
        }
    }

    /// Adds `other`'s counts to these.
    pub(crate) fn merge(&mut self, other: WorkerStats) -> Result<(), hdrhistogram::AdditionError> {
        self.latency.add(&other.latency)?;
        self.committed += other.committed;
        self.attempts += other.attempts;
        self.retries += other.retries;
        for (k, v) in other.aborts {
            *self.aborts.entry(k).or_default() += v;
        }
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        for (k, v) in other.outcomes {
            *self.outcomes.entry(k).or_default() += v;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_adds_every_count_and_keeps_the_first_error() {
        let mut a = WorkerStats::new().unwrap();
        a.committed("reads", Duration::from_millis(2));
        a.aborted("40001".into());
        let mut b = WorkerStats::new().unwrap();
        b.committed("reads", Duration::from_millis(4));
        b.committed("writes", Duration::from_millis(8));
        b.aborted("40001".into());
        b.failed("driver".into(), || "boom".into());
        a.merge(b).unwrap();
        assert_eq!(a.committed, 3);
        assert_eq!(a.latency.len(), 3);
        assert_eq!(a.aborts["40001"], 2);
        assert_eq!(a.errors["driver"], 1);
        assert_eq!(a.outcomes["reads"], 2);
        assert_eq!(a.first_error.as_deref(), Some("boom"));
        assert_eq!(a.latency.max(), a.latency.highest_equivalent(8_000));
    }
}
