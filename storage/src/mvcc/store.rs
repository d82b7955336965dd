//! The `Mvcc` handle: an engine plus the MVCC rules.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use spanlite_truetime::Timestamp;

use crate::engine::{Engine, WriteBatch};
use crate::error::{Result, StorageError};
use crate::meta;

/// MVCC reads and writes over a shared engine. Cheap to clone; clones share
/// the cached GC watermark.
///
/// Reads go straight to the engine. Writes are queued into a caller's
/// [`WriteBatch`] and take effect when the caller applies it with
/// [`Mvcc::apply`] (or `Engine::write`), so they can share an atomic batch
/// with the tablet's applied index.
///
/// NB: a write method that looks at existing state (e.g. `commit_intent`
/// reading the intent) reads the engine, not writes still queued in the batch.
#[derive(Clone, Debug)]
pub struct Mvcc {
    engine: Arc<dyn Engine>,
    gc_watermark: Arc<AtomicU64>,
}

impl Mvcc {
    /// MVCC over `engine`; loads the stored GC watermark.
    pub fn open(engine: Arc<dyn Engine>) -> Result<Self> {
        let watermark = meta::gc_watermark(engine.as_ref())?;
        Ok(Self {
            engine,
            gc_watermark: Arc::new(AtomicU64::new(watermark.as_nanos())),
        })
    }

    /// The underlying engine.
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// Applies a batch built by the write methods (atomic, not durable until
    /// the engine flushes; the node WAL provides durability).
    pub fn apply(&self, batch: WriteBatch) -> Result<()> {
        self.engine.write(batch)
    }

    /// Versions older than this may have been removed by GC.
    pub fn gc_watermark(&self) -> Timestamp {
        Timestamp::from_nanos(self.gc_watermark.load(Ordering::Acquire))
    }

    pub(super) fn raise_gc_watermark(&self, watermark: Timestamp) {
        self.gc_watermark
            .fetch_max(watermark.as_nanos(), Ordering::AcqRel);
    }

    pub(super) fn check_readable(&self, ts: Timestamp) -> Result<()> {
        let watermark = self.gc_watermark();
        if ts < watermark {
            return Err(StorageError::BelowGcWatermark { ts, watermark });
        }
        Ok(())
    }
}
