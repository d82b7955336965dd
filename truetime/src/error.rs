//! Errors of the TrueTime crate. Each variant says what the caller should do.

use std::time::Duration;

use thiserror::Error;

/// Why `TrueTime` refused to give time. Every variant means "this node cannot
/// vouch for an interval right now": the caller must not assign a timestamp, and
/// may retry after the next successful sync (`is_retryable`).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TrueTimeError {
    /// No time master has been heard from since start-up.
    #[error("clock unsynchronized: not yet synchronized with any time master")]
    NeverSynchronized,
    /// ε grew past the configured maximum (masters unreachable for too long).
    #[error(
        "clock unsynchronized: uncertainty {epsilon:?} exceeds the maximum {max:?}; \
         the node must resynchronize with its time masters"
    )]
    Unsynchronized { epsilon: Duration, max: Duration },
    /// The local clock reads earlier than at the last sync: it was stepped back,
    /// so the drift bound no longer describes it.
    #[error("clock unsynchronized: the local clock went back {by:?} since the last sync")]
    ClockWentBackwards { by: Duration },
    /// The interval does not fit in a `Timestamp` (year 2554 or before 1970).
    #[error("clock out of range: the interval does not fit in a timestamp")]
    OutOfRange,
}

impl TrueTimeError {
    /// All of these clear once the node resynchronizes; the operation may be
    /// retried (on this node later, or on another node).
    pub fn is_retryable(&self) -> bool {
        !matches!(self, TrueTimeError::OutOfRange)
    }
}

/// A timestamp or time specification that could not be parsed or resolved.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TimestampError {
    #[error("invalid timestamp {input:?}: {reason}")]
    Invalid { input: String, reason: String },
    #[error("timestamp {input:?} is out of range (must lie between 1970 and 2554)")]
    OutOfRange { input: String },
}

impl TimestampError {
    /// Bad input never becomes good by retrying.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// One time master could not be read.
#[derive(Debug, Error)]
pub enum SourceError {
    #[error("time master did not answer within {0:?}")]
    Timeout(Duration),
    #[error("time master is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("time master cannot vouch for its own time")]
    Unsynchronized(#[source] TrueTimeError),
    #[error("local clock went backwards during the poll")]
    LocalClockWentBackwards,
}

/// A sync round that did not update the clock. The previous sync stays in
/// force, so ε keeps growing by the drift bound until a round succeeds.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SyncError {
    #[error("no time masters configured")]
    NoSources,
    #[error(
        "no majority of time masters agree: the best agreement has {agreeing} of {sources} \
         (need {needed}); keeping the previous sync, ε keeps growing"
    )]
    NoMajority {
        agreeing: usize,
        needed: usize,
        sources: usize,
    },
}

impl SyncError {
    /// The next round may succeed (masters come back); a missing configuration does not fix itself.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SyncError::NoMajority { .. })
    }
}
