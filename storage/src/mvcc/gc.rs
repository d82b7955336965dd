//! Garbage collection of versions below a watermark.
//!
//! ```text
//!   versions of k (newest first):  ts=90  ts=60  ts=40  ts=20   watermark=50
//!                                   keep   keep   KEEP   drop
//!                                                  └─ newest ≤ watermark: a read at
//!                                                     50 still needs it (dropped too
//!                                                     if it is a tombstone)
//! ```
//!
//! The watermark is persisted and raised *before* anything is deleted, so no
//! read below it can start once versions begin to disappear. It never moves
//! back.

use spanlite_truetime::Timestamp;

use super::Mvcc;
use super::keys::decode_version_key;
use super::read::VersionValue;
use crate::engine::{Cf, Direction, ScanRange, WriteBatch};
use crate::error::Result;
use crate::meta;

/// Deletes per batch, so GC never builds an unbounded batch.
const GC_BATCH_OPS: usize = 1024;

/// What a GC pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcStats {
    /// Distinct user keys looked at.
    pub keys: u64,
    /// Versions examined.
    pub versions_scanned: u64,
    /// Versions deleted.
    pub versions_removed: u64,
}

impl Mvcc {
    /// Removes every version no read at or above `watermark` can see. Returns
    /// what it did; the effective watermark is `max(watermark, current)`.
    ///
    /// NB: deletions are applied to the engine directly (not through the node
    /// WAL): GC is idempotent and safe to lose in a crash — a later pass
    /// repeats it.
    pub fn gc(&self, watermark: Timestamp) -> Result<GcStats> {
        let watermark = watermark.max(self.gc_watermark());
        let mut batch = WriteBatch::new();
        meta::set_gc_watermark(&mut batch, watermark)?;
        self.apply(batch)?;
        self.raise_gc_watermark(watermark);

        let mut stats = GcStats::default();
        let mut batch = WriteBatch::new();
        // Key being walked, and whether its newest version ≤ watermark was seen.
        let mut current: Option<Vec<u8>> = None;
        let mut kept_visible = false;
        for item in self
            .engine()
            .scan(Cf::Versions, ScanRange::all(), Direction::Forward)?
        {
            let (k, v) = item?;
            let (key, ts) = decode_version_key(&k)?;
            stats.versions_scanned += 1;
            if current.as_ref() != Some(&key) {
                stats.keys += 1;
                current = Some(key);
                kept_visible = false;
            }
            if ts > watermark {
                continue;
            }
            let remove = if kept_visible {
                true
            } else {
                kept_visible = true;
                // A visible tombstone hides nothing older: drop it as well.
                VersionValue::decode(&v)?.is_none()
            };
            if remove {
                batch.delete(Cf::Versions, k.to_vec());
                stats.versions_removed += 1;
                if batch.len() >= GC_BATCH_OPS {
                    self.apply(std::mem::take(&mut batch))?;
                }
            }
        }
        if !batch.is_empty() {
            self.apply(batch)?;
        }
        Ok(stats)
    }

    /// Raises the watermark to `watermark` (persisted first) without
    /// collecting anything: a replica that installs a snapshot taken where
    /// versions below it are already gone must refuse reads below it too.
    pub fn raise_watermark(&self, watermark: Timestamp) -> Result<()> {
        if watermark <= self.gc_watermark() {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        meta::set_gc_watermark(&mut batch, watermark)?;
        self.apply(batch)?;
        self.raise_gc_watermark(watermark);
        Ok(())
    }

    /// How many versions of `key` are stored (tombstones included).
    pub fn version_count(&self, key: &[u8]) -> Result<usize> {
        let mut n = 0;
        for item in self.engine().scan(
            Cf::Versions,
            super::read::version_range(
                &std::ops::Bound::Included(key.to_vec()),
                &std::ops::Bound::Included(key.to_vec()),
            ),
            Direction::Forward,
        )? {
            let (k, _) = item?;
            let (user_key, _) = decode_version_key(&k)?;
            if user_key == key {
                n += 1;
            }
        }
        Ok(n)
    }
}
