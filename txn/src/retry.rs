//! Retrying a whole transaction after a retryable abort: one policy for
//! every caller (the gateway's `run_txn`, SQL's implicit transactions).
//!
//! Every attempt keeps the first attempt's priority: under wound-wait an
//! older transaction wins, so a retried transaction ages and eventually
//! wins; a fresh priority per attempt would make a hot one the youngest
//! every time, wounded by everyone, starving
//! (`retry_keeps_its_priority`). Pauses follow the shared [`Backoff`]
//! (4 ms doubling to 1 s, jittered so clashing retries spread out), until
//! `deadline`.

use std::time::Duration;

use spanlite_truetime::{Backoff, Timestamp};

/// A retry loop's state.
#[derive(Clone, Debug)]
pub struct Retry {
    priority: Timestamp,
    elapsed: Duration,
    backoff: Backoff,
    deadline: Duration,
    attempts: u32,
}

impl Retry {
    /// Attempts of a transaction first begun at `priority` (its wound-wait
    /// priority, kept by every attempt), for up to `deadline`.
    pub fn new(priority: Timestamp, deadline: Duration) -> Self {
        Self {
            priority,
            elapsed: Duration::ZERO,
            backoff: Backoff::new(Duration::from_millis(4), Duration::from_secs(1)),
            deadline,
            attempts: 1,
        }
    }

    /// The priority every attempt runs with.
    pub fn priority(&self) -> Timestamp {
        self.priority
    }

    /// Attempts so far (1 before the first retry).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// After a retryable failure at `elapsed` since the first attempt: the
    /// pause before the next attempt, or `None` once the deadline would
    /// pass. `jitter` in `[0, 1000)` places the pause between half and all
    /// of its nominal length ([`Backoff::next_with`]).
    pub fn next(&mut self, elapsed: Duration, jitter: u32) -> Option<Duration> {
        self.elapsed = elapsed;
        if elapsed + self.backoff.nominal() >= self.deadline {
            return None;
        }
        self.attempts += 1;
        Some(self.backoff.next_with(jitter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_cap_and_stop_at_the_deadline() {
        let ms = Duration::from_millis;
        let mut r = Retry::new(Timestamp::from_nanos(7), Duration::from_secs(10));
        let pauses: Vec<_> = (0..10).map_while(|_| r.next(ms(10), 0)).collect();
        // Jitter 0: half of each nominal pause (4 ms doubling to 1 s).
        assert_eq!(pauses[..3], [ms(2), ms(4), ms(8)]);
        assert_eq!(pauses[9], ms(500));
        assert_eq!(r.next(ms(10), 999), Some(ms(1000)));
        assert_eq!(r.priority(), Timestamp::from_nanos(7));
        assert_eq!(r.attempts(), 12);
        assert_eq!(r.next(ms(9_500), 0), None);
    }
}
