//! TrueTime for Spanlite (DESIGN.md §5): timestamps, an interval clock with
//! bounded uncertainty, time synchronisation against time masters, and commit
//! wait.
//!
//! ```text
//!            local clock reading (may be skewed, may drift)
//!                         │  + offset learned at the last sync
//!                         ▼
//!   ──────────[ earliest ════ corrected ════ latest ]──────────▶ time
//!                ◀──── ε ────▶         ◀──── ε ────▶
//!
//!   ε = error at last sync + drift bound × (time since that sync), ≥ floor
//! ```
//!
//! `TrueTime::now()` returns a [`TTInterval`] that contains true (absolute) time
//! as long as the assumptions marked `HAZARD:` in this crate hold. Past a
//! configured maximum ε, `now()` refuses with an error instead of handing out an
//! interval it cannot vouch for.
//!
//! * [`Timestamp`]: nanoseconds since the Unix epoch, printed as RFC 3339;
//!   [`TimeSpec`] parses absolute and relative (`-10s`) forms for
//!   `AS OF SYSTEM TIME`.
//! * [`Clock`]: the physical clock, injected — [`SystemClock`], [`ManualClock`]
//!   (tests move time by hand) and [`SkewedClock`] (offset and drift changeable at
//!   run time, for fault injection).
//! * [`TrueTime`]: the interval clock; `after`, `before`, `wait_until_after`
//!   (commit wait).
//! * [`Backoff`]: exponential backoff with jitter, the one retry policy of
//!   every crate (waiting is a matter of time).
//! * [`TimeSync`]: polls several [`TimeSource`]s, bounds each offset by the
//!   round trip (Cristian), intersects them with [`marzullo`] and updates the
//!   offset and ε; runs periodically and reports a [`SyncStatus`].
//!
//! Not here: any network code. A time master reached over gRPC is a
//! `TimeSource` implemented by the server crate.

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod backoff;
mod clock;
mod error;
mod interval;
mod precise;
mod sync;
mod timestamp;
mod truetime;

pub use backoff::{Backoff, random_jitter};
pub use clock::{Clock, ManualClock, SkewedClock, SystemClock};
pub use error::{SourceError, SyncError, TimestampError, TrueTimeError};
pub use interval::TTInterval;
pub use sync::{
    Agreement, BoxFuture, MasterReading, ReferenceClockSource, SourceOutcome, SyncConfig,
    SyncReport, SyncStatus, SyncTask, TimeSource, TimeSync, TrueTimeSource, marzullo,
};
pub use timestamp::{TimeSpec, Timestamp};
pub use truetime::{SyncApplied, TrueTime, TrueTimeConfig, epsilon};
