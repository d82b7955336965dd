//! Retrying a whole transaction after a retryable abort: one policy for
//! every caller (the gateway's `run_txn`, SQL's implicit transactions).
//!
//! Every attempt keeps the first attempt's priority: under wound-wait an
//! older transaction wins, so a retried transaction ages and eventually
//! wins; a fresh priority per attempt would make a hot one the youngest
//! every time, wounded by everyone, starving
//! (`retry_keeps_its_priority`). Pauses double from `first` to `max`, with
//! jitter so clashing retries spread out, until `deadline`.

use std::time::Duration;

use spanlite_truetime::Timestamp;

/// A retry loop's state.
#[derive(Clone, Debug)]
pub struct Retry {
    priority: Timestamp,
    elapsed: Duration,
    next_pause: Duration,
    max_pause: Duration,
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
            next_pause: Duration::from_millis(2),
            max_pause: Duration::from_millis(500),
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
    /// pass. `jitter` in `[0, 1000)` spreads the pause by up to 100%.
    pub fn next(&mut self, elapsed: Duration, jitter: u32) -> Option<Duration> {
        self.elapsed = elapsed;
        if elapsed + self.next_pause >= self.deadline {
            return None;
        }
        let pause = self.next_pause + self.next_pause * jitter.min(999) / 1000;
        self.next_pause = (self.next_pause * 2).min(self.max_pause);
        self.attempts += 1;
        Some(pause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_cap_and_stop_at_the_deadline() {
        let mut r = Retry::new(Timestamp::from_nanos(7), Duration::from_secs(1));
        let pauses: Vec<_> = (0..10)
            .map_while(|_| r.next(Duration::from_millis(10), 0))
            .collect();
        assert_eq!(pauses[0], Duration::from_millis(2));
        assert_eq!(pauses[1], Duration::from_millis(4));
        assert_eq!(*pauses.last().unwrap(), Duration::from_millis(500));
        assert_eq!(r.priority(), Timestamp::from_nanos(7));
        assert_eq!(r.next(Duration::from_millis(999), 0), None);
    }
}
