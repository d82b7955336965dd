//! The console's live charts: once a second the node samples its counters
//! (commits, aborts, SQL statements and their latencies) and keeps the
//! last ten minutes of per-second rates and percentiles.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::NodeContext;

/// Samples kept: ten minutes at one a second.
const KEEP: usize = 600;

/// One second of a node's work.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Sample {
    /// When (Unix ms).
    pub at_ms: u64,
    /// Transactions committed per second (one- and two-phase, as
    /// coordinator).
    pub commits: f64,
    /// Aborted answers per second.
    pub aborts: f64,
    /// SQL statements per second.
    pub statements: f64,
    /// Median SQL statement latency in the second, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
}

#[derive(Debug, Default)]
struct Counters {
    commits: u64,
    aborts: u64,
    statements: u64,
    latency: Option<Histogram<u64>>,
}

/// The samples of a node.
#[derive(Debug, Default)]
pub struct History {
    samples: Mutex<VecDeque<Sample>>,
    last: Mutex<Counters>,
}

impl History {
    /// The samples, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// Takes a sample of `ctx`'s counters now, `elapsed` after the last.
    fn sample(&self, ctx: &NodeContext, elapsed: Duration) {
        let txn = ctx.store.metrics().snapshot();
        let kinds = ctx.schema.stats().kinds();
        let mut latency: Option<Histogram<u64>> = None;
        for k in kinds.values() {
            match &mut latency {
                Some(h) => {
                    let _ = h.add(&k.latency_us);
                }
                None => latency = Some(k.latency_us.clone()),
            }
        }
        let now = Counters {
            commits: txn.one_phase_commits + txn.two_phase_commits,
            aborts: txn.aborts.values().sum(),
            statements: kinds.values().map(|k| k.count).sum(),
            latency,
        };
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let secs = elapsed.as_secs_f64().max(1e-3);
        let rate = |now: u64, before: u64| now.saturating_sub(before) as f64 / secs;
        // The second's latencies: everything now less everything before.
        let (p50_ms, p99_ms) = match &now.latency {
            Some(n) => quantiles_since(n, last.latency.as_ref()),
            None => (0.0, 0.0),
        };
        let sample = Sample {
            at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            commits: rate(now.commits, last.commits),
            aborts: rate(now.aborts, last.aborts),
            statements: rate(now.statements, last.statements),
            p50_ms,
            p99_ms,
        };
        *last = now;
        drop(last);
        let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        if samples.len() >= KEEP {
            samples.pop_front();
        }
        samples.push_back(sample);
    }
}

/// The median and 99th percentile, ms, of the µs values recorded in `now`
/// but not in `before` (an earlier copy of it); zeros if none were.
fn quantiles_since(now: &Histogram<u64>, before: Option<&Histogram<u64>>) -> (f64, f64) {
    let added: Vec<(u64, u64)> = now
        .iter_recorded()
        .map(|v| {
            let value = v.value_iterated_to();
            let was = before.map_or(0, |b| b.count_at(value));
            (value, v.count_at_value().saturating_sub(was))
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    let total: u64 = added.iter().map(|(_, n)| n).sum();
    let at = |q: f64| {
        let rank = ((q * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (value, n) in &added {
            seen += n;
            if seen >= rank {
                return *value as f64 / 1000.0;
            }
        }
        0.0
    };
    if total == 0 {
        (0.0, 0.0)
    } else {
        (at(0.5), at(0.99))
    }
}

/// Samples `ctx` once a second until the node stops.
pub(crate) async fn sample_loop(ctx: Arc<NodeContext>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        let now = tokio::time::Instant::now();
        ctx.history.sample(&ctx, now - last);
        last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quantiles_of_a_second_count_only_its_own_values() {
        let mut before = Histogram::<u64>::new(3).unwrap();
        for _ in 0..1000 {
            before.record(5).unwrap();
        }
        let mut now = before.clone();
        for us in 1..=100 {
            now.record(us * 1000).unwrap();
        }
        let (p50, p99) = quantiles_since(&now, Some(&before));
        assert!((49.9..=50.1).contains(&p50), "p50 {p50} ms");
        assert!((98.9..=99.1).contains(&p99), "p99 {p99} ms");
        assert_eq!(quantiles_since(&before, Some(&before)), (0.0, 0.0));
        let (p50, _) = quantiles_since(&before, None);
        assert!((0.0049..=0.0051).contains(&p50), "p50 {p50} ms");
    }
}
