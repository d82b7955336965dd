//! The periodic sync task.

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::sync::routine::TimeSync;

/// Handle of the periodic sync task; stops it when dropped.
#[derive(Debug)]
pub struct SyncTask {
    handle: JoinHandle<()>,
}

impl TimeSync {
    /// Runs `sync_once` now and then every `config.interval` on the current
    /// tokio runtime, logging failed rounds, until the returned handle is
    /// dropped or stopped.
    pub fn spawn(self: &Arc<Self>) -> SyncTask {
        let sync = Arc::clone(self);
        let handle = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(sync.config().interval);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match sync.sync_once().await {
                    Ok(report) => tracing::debug!(
                        offset_ns = %report.offset_nanos,
                        error = ?report.error,
                        agreeing = report.agreeing,
                        "clock sync round"
                    ),
                    Err(e) => tracing::warn!(error = %e, "clock sync round failed"),
                }
            }
        });
        SyncTask { handle }
    }
}

impl SyncTask {
    /// Stops the task (also done on drop).
    pub fn stop(self) {}
}

impl Drop for SyncTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}
