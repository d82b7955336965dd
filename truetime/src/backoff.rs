//! Exponential backoff with jitter: the one policy for waiting between
//! attempts, used by the driver's transaction retries, the gateway's
//! routing retries, the transaction retry loop (`spanlite_txn::retry`) and
//! the workload driver.
//!
//! ```text
//!   attempt      1      2       3       4   …   n
//!   nominal      5ms    10ms    20ms    40ms    max (cap)
//!   slept in     [½,1] × nominal
//! ```
//!
//! Jitter matters: two transactions that aborted each other would collide
//! again if both waited exactly as long. The jitter is a number in
//! `[0, 1000)` that the caller passes ([`Backoff::next_with`]; tests pass a
//! fixed one) or that [`Backoff::next_delay`] draws.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

/// The waits between attempts.
#[derive(Clone, Debug)]
pub struct Backoff {
    nominal: Duration,
    max: Duration,
}

impl Backoff {
    /// Waits starting at `initial`, doubling up to `max` (at least
    /// `initial`).
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            nominal: initial,
            max: max.max(initial),
        }
    }

    /// The nominal length of the next wait (before jitter).
    pub fn nominal(&self) -> Duration {
        self.nominal
    }

    /// The next wait, `jitter` in `[0, 1000)` placing it in
    /// `[nominal/2, nominal]` (larger values count as 999); then the nominal
    /// wait doubles, up to the cap.
    pub fn next_with(&mut self, jitter: u32) -> Duration {
        let nominal = self.nominal;
        self.nominal = (nominal * 2).min(self.max);
        let half = nominal / 2;
        half + (nominal - half) * jitter.min(999) / 999
    }

    /// The next wait with a random jitter.
    pub fn next_delay(&mut self) -> Duration {
        self.next_with(random_jitter())
    }
}

/// A jitter in `[0, 1000)` from the standard library's per-process hash
/// keys (the spread needs no better randomness, nor a dependency).
pub fn random_jitter() -> u32 {
    (RandomState::new().hash_one(Instant::now()) % 1000) as u32
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
    fn the_jitter_spans_half_to_all_of_the_nominal_wait() {
        let ms = Duration::from_millis;
        assert_eq!(Backoff::new(ms(10), ms(10)).next_with(0), ms(5));
        assert_eq!(Backoff::new(ms(10), ms(10)).next_with(999), ms(10));
        assert_eq!(Backoff::new(ms(10), ms(10)).next_with(5000), ms(10));
    }

    #[test]
    fn a_zero_backoff_waits_zero() {
        let mut backoff = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(backoff.next_delay(), Duration::ZERO);
    }
}
