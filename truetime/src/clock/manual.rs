use std::time::Duration;

use tokio::sync::watch;

use super::Clock;
use crate::timestamp::Timestamp;

/// A clock that moves only when a test moves it.
///
/// Waiters in `TrueTime::wait_until_after` are woken on every move, so a test
/// can drive commit wait step by step without real sleeping.
///
/// ```
/// use std::time::Duration;
/// use spanlite_truetime::{Clock, ManualClock, Timestamp};
///
/// let clock = ManualClock::new(Timestamp::from_nanos(1_000));
/// clock.advance(Duration::from_nanos(500));
/// assert_eq!(clock.now(), Timestamp::from_nanos(1_500));
/// ```
#[derive(Debug)]
pub struct ManualClock {
    reading: watch::Sender<Timestamp>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            reading: watch::Sender::new(start),
        }
    }

    /// Sets the reading, forwards or backwards.
    pub fn set(&self, t: Timestamp) {
        self.reading.send_replace(t);
    }

    /// Moves the reading forward by `d` (saturating at `Timestamp::MAX`).
    pub fn advance(&self, d: Duration) {
        self.reading.send_modify(|t| *t = t.saturating_add(d));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.reading.borrow()
    }

    fn changes(&self) -> Option<watch::Receiver<Timestamp>> {
        Some(self.reading.subscribe())
    }
}
