//! Time synchronisation: poll several time masters, bound each offset by the
//! round trip (Cristian), intersect with Marzullo's algorithm, update
//! `TrueTime`'s offset and ε.
//!
//! ```text
//!   local t0 ──request──▶ master reads T ± e ──reply──▶ local t1
//!   true time at t1 ∈ [T − e, T + e + rtt·(1+drift)]     rtt = t1 − t0
//!   offset (true − local) ∈ [T − e − t1, T + e + rtt' − t1]
//!
//!   master A   ├────────────┤
//!   master B        ├──────────┤
//!   master C                            ├───┤      ← liar, rejected
//!   agreed          ├───────┤    (interval inside the most sources)
//! ```
//!
//! A round updates the clock only when a majority of the configured masters
//! agree on one interval; otherwise the previous sync stays, and ε keeps
//! growing with the drift bound until `now()` refuses.

mod marzullo;
mod routine;
mod source;
mod task;

pub use marzullo::{Agreement, marzullo};
pub use routine::{SourceOutcome, SyncConfig, SyncReport, SyncStatus, TimeSync};
pub use source::{BoxFuture, MasterReading, ReferenceClockSource, TimeSource, TrueTimeSource};
pub use task::SyncTask;
