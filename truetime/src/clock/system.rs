use std::time::{SystemTime, UNIX_EPOCH};

use super::Clock;
use crate::timestamp::Timestamp;

/// The operating system's real-time clock (`CLOCK_REALTIME`).
///
/// HAZARD: the OS may step this clock (an NTP daemon, an operator). A backward
/// step is caught by `TrueTime` (it refuses time until the next sync); a
/// forward step beyond ε is caught only at the next sync, which reports it as
/// an offset violation. Between the two, intervals may not contain true time.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl SystemClock {
    pub fn new() -> Self {
        SystemClock
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        // HAZARD: a system clock set before 1970 reads as the epoch; the first
        // sync then sees a huge offset and corrects it.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Timestamp::from_nanos(nanos)
    }
}
