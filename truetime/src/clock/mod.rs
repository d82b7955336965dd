//! Physical clocks, injected so tests can move, skew and drift time.
//!
//! A `Clock` is what the machine believes the time is, before any correction
//! from time masters. `TrueTime` adds the offset learned at the last sync and
//! the uncertainty ε on top.

mod manual;
mod skewed;
mod system;

use std::fmt;

use tokio::sync::watch;

use crate::timestamp::Timestamp;

pub use manual::ManualClock;
pub use skewed::SkewedClock;
pub use system::SystemClock;

/// A physical clock.
///
/// Contract: `now()` is cheap (it is on every timestamp's path), never blocks
/// and never fails. It may be skewed and may drift; it is only assumed to drift
/// no faster than `TrueTimeConfig::drift_bound_ppm` and never to step backwards
/// (see the HAZARD notes on `TrueTime`).
pub trait Clock: Send + Sync + fmt::Debug {
    /// This clock's reading, in nanoseconds since the Unix epoch.
    fn now(&self) -> Timestamp;

    /// For clocks moved by hand: a receiver that is notified whenever the
    /// reading moves, so `wait_until_after` wakes at once instead of sleeping in
    /// real time for a clock that real time does not move. `None` for clocks
    /// that advance on their own.
    fn changes(&self) -> Option<watch::Receiver<Timestamp>> {
        None
    }
}
