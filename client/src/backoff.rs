//! Exponential backoff with jitter between transaction attempts.
//!
//! ```text
//!   attempt      1      2       3       4   …   n
//!   nominal      5ms    10ms    20ms    40ms    1s (cap)
//!   slept in     [½,1] × nominal, uniformly
//! ```
//!
//! Jitter matters: two transactions that aborted each other would collide
//! again if both waited exactly as long.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

/// The waits between attempts.
#[derive(Debug)]
pub(crate) struct Backoff {
    nominal: Duration,
    max: Duration,
}

impl Backoff {
    /// Waits starting at `initial`, doubling up to `max`.
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            nominal: initial,
            max,
        }
    }

    /// The next wait: the nominal one jittered into `[nominal/2, nominal]`.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let nominal = self.nominal;
        self.nominal = (nominal * 2).min(self.max);
        let half = nominal / 2;
        let span = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(random() % span.saturating_add(1))
    }
}

/// A random number from the standard library's per-process hash keys (the
/// jitter needs no better randomness, nor a dependency).
fn random() -> u64 {
    RandomState::new().hash_one(Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_stay_within_their_jitter_band() {
        let mut backoff = Backoff::new(Duration::from_millis(5), Duration::from_millis(40));
        let nominal = [5, 10, 20, 40, 40, 40];
        for ms in nominal {
            let d = backoff.next_delay();
            let n = Duration::from_millis(ms);
            assert!(n / 2 <= d && d <= n, "{d:?} outside [{:?}, {n:?}]", n / 2);
        }
    }

    #[test]
    fn a_zero_backoff_waits_zero() {
        let mut backoff = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(backoff.next_delay(), Duration::ZERO);
    }
}
