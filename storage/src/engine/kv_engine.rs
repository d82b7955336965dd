//! The `Engine` contract shared by the RocksDB and memory engines.

use std::fmt::Debug;
use std::ops::Bound;

use super::{Cf, WriteBatch};
use crate::error::Result;

/// A key and its value as returned by scans.
pub type KvPair = (Box<[u8]>, Box<[u8]>);

/// A scan's results, in the scan's direction.
pub type KvIter<'a> = Box<dyn Iterator<Item = Result<KvPair>> + 'a>;

/// Scan order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Ascending keys.
    Forward,
    /// Descending keys.
    Reverse,
}

/// The key range of a scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanRange {
    /// Lower bound.
    pub start: Bound<Vec<u8>>,
    /// Upper bound.
    pub end: Bound<Vec<u8>>,
    /// NB: set only when every key in the range shares the column family's
    /// bloom-filter prefix (for `versions`: one user key). RocksDB then uses its
    /// prefix bloom filters and may skip keys outside that prefix.
    pub single_prefix: bool,
}

impl ScanRange {
    /// All keys in `[start, end)`.
    pub fn new(start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Self {
        Self {
            start,
            end,
            single_prefix: false,
        }
    }

    /// Every key of the column family.
    pub fn all() -> Self {
        Self::new(Bound::Unbounded, Bound::Unbounded)
    }

    /// True when no key can lie within the bounds (start above end, or an
    /// excluded bound meeting the other bound).
    pub fn is_empty(&self) -> bool {
        match (&self.start, &self.end) {
            (Bound::Included(s), Bound::Included(e)) => s > e,
            (Bound::Included(s), Bound::Excluded(e))
            | (Bound::Excluded(s), Bound::Included(e))
            | (Bound::Excluded(s), Bound::Excluded(e)) => s >= e,
            _ => false,
        }
    }

    /// True when `key` lies within the bounds.
    pub fn contains(&self, key: &[u8]) -> bool {
        let above = match &self.start {
            Bound::Included(s) => key >= s.as_slice(),
            Bound::Excluded(s) => key > s.as_slice(),
            Bound::Unbounded => true,
        };
        let below = match &self.end {
            Bound::Included(e) => key <= e.as_slice(),
            Bound::Excluded(e) => key < e.as_slice(),
            Bound::Unbounded => true,
        };
        above && below
    }
}

/// An ordered key-value store with column families and atomic batches.
///
/// Callers: MVCC (`crate::mvcc`), the tablet state machine, recovery.
///
/// Contract:
/// - `write` applies a batch atomically and in order; after it returns, reads
///   see the batch. It is **not durable** until `flush` returns (no engine WAL).
/// - `flush` persists everything written before it, across all column
///   families at once (RocksDB atomic flush), so a crash never leaves one family
///   flushed ahead of another.
/// - The engine may also persist writes on its own at any time (*steal*):
///   recovery must not assume unflushed writes are absent.
/// - `scan` reflects writes completed before it started; concurrent writes may
///   or may not be seen.
///
/// Example: the state machine applies entry 42 of tablet 7 as one batch
/// `[put versions k@ts, put meta AppliedIndex(7)=42]`; after a crash either both
/// are on disk or neither is.
pub trait Engine: Send + Sync + Debug {
    /// Reads one key.
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Iterates keys within `range` in `direction` (nothing for an empty or
    /// inverted range).
    fn scan(&self, cf: Cf, range: ScanRange, direction: Direction) -> Result<KvIter<'_>>;

    /// Applies `batch` atomically (not durably; see the trait docs).
    fn write(&self, batch: WriteBatch) -> Result<()>;

    /// Makes every completed write durable, all column families atomically.
    fn flush(&self) -> Result<()>;

    /// The first `versions` entry whose key starts with `prefix`, an escaped
    /// user key (prefix-free): that key's newest version, as a key and value.
    /// Engines may answer from a cache that their writes keep exact
    /// (RocksDB's `read_cache`); this default seeks.
    fn first_version(&self, prefix: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        first_version_by_scan(self, prefix)
    }
}

/// [`Engine::first_version`] by a one-prefix seek.
pub(crate) fn first_version_by_scan<E: Engine + ?Sized>(
    engine: &E,
    prefix: &[u8],
) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    // Version keys are `prefix ++ !ts (8 bytes)`: from the newest
    // (`!MAX` = zeros) to the oldest (`!0` = ones).
    let with = |b: u8| {
        let mut k = Vec::with_capacity(prefix.len() + 8);
        k.extend_from_slice(prefix);
        k.extend_from_slice(&[b; 8]);
        k
    };
    let range = ScanRange {
        start: Bound::Included(with(0)),
        end: Bound::Included(with(0xff)),
        single_prefix: true,
    };
    engine
        .scan(Cf::Versions, range, Direction::Forward)?
        .next()
        .transpose()
        .map(|found| found.map(|(k, v)| (k.into_vec(), v.into_vec())))
}
