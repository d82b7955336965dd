//! Time sources: what a time master answers.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::error::SourceError;
use crate::timestamp::Timestamp;
use crate::truetime::TrueTime;

/// A boxed future, so `TimeSource` can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A time master's answer: its time and how far it may be off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MasterReading {
    /// The master's best estimate of true time (the midpoint of its interval).
    pub time: Timestamp,
    /// The master's own uncertainty: true time was within `time ± error` when
    /// it read its clock.
    pub error: Duration,
}

/// A time master, polled by `TimeSync`.
///
/// Contract: `read` samples the master's clock once, after the call starts and
/// before the future completes, and reports an error rather than a reading it
/// cannot vouch for. The sync routine applies its own timeout.
pub trait TimeSource: Send + Sync + fmt::Debug {
    /// A stable name for status reports (an address, a node id).
    fn name(&self) -> &str;

    /// One reading.
    fn read(&self) -> BoxFuture<'_, Result<MasterReading, SourceError>>;
}

/// A reference clock trusted to within a declared error: a time master's own
/// clock (the GPS receiver or atomic clock of Spanner), or a test's true time.
///
/// HAZARD: the declared `error` is taken on faith.
#[derive(Debug)]
pub struct ReferenceClockSource {
    name: String,
    clock: Arc<dyn Clock>,
    error: Duration,
}

impl ReferenceClockSource {
    pub fn new(name: impl Into<String>, clock: Arc<dyn Clock>, error: Duration) -> Self {
        ReferenceClockSource {
            name: name.into(),
            clock,
            error,
        }
    }
}

impl TimeSource for ReferenceClockSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn read(&self) -> BoxFuture<'_, Result<MasterReading, SourceError>> {
        let reading = MasterReading {
            time: self.clock.now(),
            error: self.error,
        };
        Box::pin(async move { Ok(reading) })
    }
}

/// Another `TrueTime` in the same process answering as a master: its
/// interval's midpoint and half-width. The server crate offers the same over
/// gRPC.
#[derive(Debug)]
pub struct TrueTimeSource {
    name: String,
    truetime: Arc<TrueTime>,
}

impl TrueTimeSource {
    pub fn new(name: impl Into<String>, truetime: Arc<TrueTime>) -> Self {
        TrueTimeSource {
            name: name.into(),
            truetime,
        }
    }
}

impl TimeSource for TrueTimeSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn read(&self) -> BoxFuture<'_, Result<MasterReading, SourceError>> {
        let reading = self
            .truetime
            .now()
            .map_err(SourceError::Unsynchronized)
            .map(|iv| {
                let eps = iv.epsilon();
                MasterReading {
                    time: iv.earliest.saturating_add(eps),
                    // Round the half-width up so the reported range covers the interval.
                    error: eps + Duration::from_nanos((iv.width().as_nanos() % 2) as u64),
                }
            });
        Box::pin(async move { reading })
    }
}
