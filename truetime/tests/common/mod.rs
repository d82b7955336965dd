//! Test fixtures: a manual "true time", masters that read it (honestly, with a
//! lie, slowly, or never), and node clocks skewed from it.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use spanlite_truetime::{
    BoxFuture, Clock, ManualClock, MasterReading, SourceError, TimeSource, Timestamp,
};

/// 2026-11-22T00:00:00Z, a start far from both ends of the range.
pub const START: Timestamp = Timestamp::from_nanos(1_795_305_600_000_000_000);

pub fn true_time() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(START))
}

/// A master that reads true time, adds `lie_nanos`, and takes `delay` of true
/// time to answer (half before reading, half after), or never answers.
#[derive(Debug)]
pub struct FakeMaster {
    pub name: String,
    pub truth: Arc<ManualClock>,
    pub error: Duration,
    pub lie_nanos: i128,
    pub delay: Duration,
    pub hang: bool,
}

impl FakeMaster {
    pub fn honest(name: &str, truth: &Arc<ManualClock>, error: Duration) -> Arc<dyn TimeSource> {
        Arc::new(FakeMaster {
            name: name.into(),
            truth: truth.clone(),
            error,
            lie_nanos: 0,
            delay: Duration::ZERO,
            hang: false,
        })
    }

    pub fn lying(
        name: &str,
        truth: &Arc<ManualClock>,
        error: Duration,
        lie_nanos: i128,
    ) -> Arc<dyn TimeSource> {
        Arc::new(FakeMaster {
            name: name.into(),
            truth: truth.clone(),
            error,
            lie_nanos,
            delay: Duration::ZERO,
            hang: false,
        })
    }

    pub fn slow(
        name: &str,
        truth: &Arc<ManualClock>,
        error: Duration,
        delay: Duration,
    ) -> Arc<dyn TimeSource> {
        Arc::new(FakeMaster {
            name: name.into(),
            truth: truth.clone(),
            error,
            lie_nanos: 0,
            delay,
            hang: false,
        })
    }

    pub fn unreachable(name: &str, truth: &Arc<ManualClock>) -> Arc<dyn TimeSource> {
        Arc::new(FakeMaster {
            name: name.into(),
            truth: truth.clone(),
            error: Duration::ZERO,
            lie_nanos: 0,
            delay: Duration::ZERO,
            hang: true,
        })
    }
}

impl TimeSource for FakeMaster {
    fn name(&self) -> &str {
        &self.name
    }

    fn read(&self) -> BoxFuture<'_, Result<MasterReading, SourceError>> {
        Box::pin(async move {
            if self.hang {
                std::future::pending::<()>().await;
            }
            self.truth.advance(self.delay / 2);
            let time = self
                .truth
                .now()
                .checked_add_signed(self.lie_nanos)
                .expect("lie within range");
            self.truth.advance(self.delay - self.delay / 2);
            Ok(MasterReading {
                time,
                error: self.error,
            })
        })
    }
}

/// Absolute difference between two timestamps in nanoseconds.
pub fn distance(a: Timestamp, b: Timestamp) -> u64 {
    a.as_nanos().abs_diff(b.as_nanos())
}

pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime")
}

pub fn clock_of(c: &Arc<ManualClock>) -> Arc<dyn Clock> {
    c.clone()
}
