//! Transaction counters and histograms of a node (DESIGN.md §6): commits
//! (one-phase and two-phase), aborts by reason, commit-wait and lock-wait
//! times. Kept in memory; read with [`TxnMetrics::snapshot`].

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use spanlite_txn::AbortReason;

/// A node's transaction metrics, shared by its replicas.
#[derive(Debug)]
pub struct TxnMetrics {
    one_phase: AtomicU64,
    two_phase: AtomicU64,
    aborts: Mutex<BTreeMap<&'static str, u64>>,
    commit_wait: Mutex<Option<Histogram<u64>>>,
    lock_wait: Mutex<Option<Histogram<u64>>>,
    rpcs: Mutex<BTreeMap<(&'static str, u64), u64>>,
    proposals: Mutex<BTreeMap<u64, u64>>,
    load: Mutex<BTreeMap<u64, LoadWindow>>,
    sources: Mutex<BTreeMap<(u64, u64), u64>>,
}

/// Keys kept per tablet and window for load-based splits.
const LOAD_SAMPLE: usize = 64;

/// A tablet's requests since the last look, and a uniform sample of the
/// keys they touched (reservoir sampling).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadWindow {
    /// Requests counted.
    pub requests: u64,
    /// Up to 64 of their keys, each request equally likely to be kept.
    pub keys: Vec<Vec<u8>>,
}

/// A copy of the metrics at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnMetricsSnapshot {
    /// Transactions committed on one tablet (one Raft round).
    pub one_phase_commits: u64,
    /// Transactions committed by two-phase commit (counted at the coordinator).
    pub two_phase_commits: u64,
    /// Aborted answers by reason (`AbortReason::name`).
    pub aborts: BTreeMap<&'static str, u64>,
    /// Commit wait, µs: count, p50, p99.
    pub commit_wait_us: (u64, u64, u64),
    /// Lock waits that had to wait, µs: count, p50, p99.
    pub lock_wait_us: (u64, u64, u64),
    /// Tablet-service calls served, by method and tablet id.
    pub rpcs: BTreeMap<(&'static str, u64), u64>,
    /// Raft entries proposed by the transaction protocol, by tablet id.
    pub proposals: BTreeMap<u64, u64>,
}

/// An auto-resizing histogram at 3 significant digits (`None` only if
/// hdrhistogram refused that precision, which it accepts up to 5).
fn histogram() -> Option<Histogram<u64>> {
    Histogram::new(3).ok()
}

fn record(h: &Mutex<Option<Histogram<u64>>>, d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
    let mut h = h.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // `record` grows the auto-resizing histogram; past its hard limit,
    // clamp.
    if let Some(h) = h.as_mut()
        && h.record(us).is_err()
    {
        h.saturating_record(us);
    }
}

fn summary(h: &Mutex<Option<Histogram<u64>>>) -> (u64, u64, u64) {
    let h = h.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    h.as_ref().map_or((0, 0, 0), |h| {
        (h.len(), h.value_at_quantile(0.5), h.value_at_quantile(0.99))
    })
}

impl Default for TxnMetrics {
    fn default() -> Self {
        Self {
            one_phase: AtomicU64::new(0),
            two_phase: AtomicU64::new(0),
            aborts: Mutex::new(BTreeMap::new()),
            commit_wait: Mutex::new(histogram()),
            lock_wait: Mutex::new(histogram()),
            rpcs: Mutex::new(BTreeMap::new()),
            proposals: Mutex::new(BTreeMap::new()),
            load: Mutex::new(BTreeMap::new()),
            sources: Mutex::new(BTreeMap::new()),
        }
    }
}

impl TxnMetrics {
    /// A transaction committed (`two_phase`: by 2PC, as its coordinator).
    pub fn note_commit(&self, two_phase: bool) {
        let counter = if two_phase {
            &self.two_phase
        } else {
            &self.one_phase
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A request was answered that its transaction is aborted.
    pub fn note_abort(&self, reason: AbortReason) {
        let mut aborts = self
            .aborts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *aborts.entry(reason.name()).or_default() += 1;
    }

    /// A tablet-service call (`method`) for `tablet` was received.
    pub fn note_rpc(&self, method: &'static str, tablet: u64) {
        let mut rpcs = self
            .rpcs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *rpcs.entry((method, tablet)).or_default() += 1;
    }

    /// A request for `tablet` touched `key` (its first key), sent by node
    /// `from`'s gateway if it said so: load-based splits split where half
    /// the requests fall on each side, and the allocator moves leadership
    /// toward the node most requests come from.
    pub fn note_load(&self, tablet: u64, key: &[u8], from: Option<u64>) {
        if let Some(from) = from {
            *self
                .sources
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry((tablet, from))
                .or_default() += 1;
        }
        let mut load = self
            .load
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let w = load.entry(tablet).or_default();
        w.requests += 1;
        if w.keys.len() < LOAD_SAMPLE {
            w.keys.push(key.to_vec());
        } else {
            // Keep this one with probability LOAD_SAMPLE / requests, in the
            // place of a random one (a multiplicative hash of the count
            // stands in for a random number).
            let j = w.requests.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 11;
            let j = usize::try_from(j % w.requests).unwrap_or(usize::MAX);
            if let Some(slot) = w.keys.get_mut(j) {
                *slot = key.to_vec();
            }
        }
    }

    /// Requests for `tablet` served here since the node started, by the
    /// node whose gateway sent them (those that said).
    pub fn sources(&self, tablet: u64) -> BTreeMap<u64, u64> {
        self.sources
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .range((tablet, 0)..=(tablet, u64::MAX))
            .map(|((_, from), n)| (*from, *n))
            .collect()
    }

    /// `tablet`'s load since the last call, and a new window begun.
    pub fn take_load(&self, tablet: u64) -> LoadWindow {
        self.load
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&tablet)
            .unwrap_or_default()
    }

    /// The transaction protocol proposed a Raft entry on `tablet`.
    pub fn note_proposal(&self, tablet: u64) {
        let mut proposals = self
            .proposals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *proposals.entry(tablet).or_default() += 1;
    }

    /// Time spent in commit wait.
    pub fn note_commit_wait(&self, d: Duration) {
        record(&self.commit_wait, d);
    }

    /// Time a lock request waited.
    pub fn note_lock_wait(&self, d: Duration) {
        record(&self.lock_wait, d);
    }

    /// Every commit wait so far, µs (`None` if the histogram could not be
    /// made).
    pub fn commit_wait_histogram(&self) -> Option<Histogram<u64>> {
        self.commit_wait
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Every lock wait that had to wait so far, µs.
    pub fn lock_wait_histogram(&self) -> Option<Histogram<u64>> {
        self.lock_wait
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The metrics now.
    pub fn snapshot(&self) -> TxnMetricsSnapshot {
        TxnMetricsSnapshot {
            one_phase_commits: self.one_phase.load(Ordering::Relaxed),
            two_phase_commits: self.two_phase.load(Ordering::Relaxed),
            aborts: self
                .aborts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
            commit_wait_us: summary(&self.commit_wait),
            lock_wait_us: summary(&self.lock_wait),
            rpcs: self
                .rpcs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
            proposals: self
                .proposals
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_sample_is_spread_over_every_request() {
        let m = TxnMetrics::default();
        // 1,000 requests on keys 0..999 in order: a sample kept only from
        // the first ones would all be below 64.
        for i in 0..1000u32 {
            m.note_load(7, &i.to_be_bytes(), None);
        }
        let w = m.take_load(7);
        assert_eq!((w.requests, w.keys.len()), (1000, 64));
        let late = w
            .keys
            .iter()
            .filter(|k| u32::from_be_bytes(k.as_slice().try_into().unwrap()) >= 500)
            .count();
        assert!(
            (16..=48).contains(&late),
            "{late} of 64 from the second half"
        );
        assert_eq!(m.take_load(7), LoadWindow::default());
    }

    #[test]
    fn sources_are_counted_per_tablet_and_sender() {
        let m = TxnMetrics::default();
        for (tablet, from) in [
            (7, Some(1)),
            (7, Some(3)),
            (7, Some(3)),
            (8, Some(1)),
            (7, None),
        ] {
            m.note_load(tablet, b"k", from);
        }
        assert_eq!(m.sources(7), BTreeMap::from([(1, 1), (3, 2)]));
        assert_eq!(m.sources(8), BTreeMap::from([(1, 1)]));
        assert!(m.sources(9).is_empty());
        // Taking the split window leaves the sources alone.
        let _ = m.take_load(7);
        assert_eq!(m.sources(7).values().sum::<u64>(), 3);
    }

    #[test]
    fn counts_and_summaries() {
        let m = TxnMetrics::default();
        m.note_commit(false);
        m.note_commit(true);
        m.note_commit(true);
        m.note_abort(AbortReason::Wounded);
        m.note_abort(AbortReason::Wounded);
        m.note_commit_wait(Duration::from_millis(10));
        let s = m.snapshot();
        assert_eq!((s.one_phase_commits, s.two_phase_commits), (1, 2));
        assert_eq!(s.aborts.get("wounded"), Some(&2));
        assert_eq!(s.commit_wait_us.0, 1);
        let p50 = s.commit_wait_us.1;
        assert!((9_900..=10_100).contains(&p50), "p50 {p50}");
        assert_eq!(s.lock_wait_us.0, 0);
    }
}
