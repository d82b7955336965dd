//! An in-memory engine with the same contract as RocksDB, for tests.
//!
//! It keeps two copies of every column family: the *live* maps that reads and
//! writes use (RocksDB's memtables + SSTs) and the *flushed* maps (what would
//! be on disk). [`MemoryEngine::crash`] throws the live maps away and restarts
//! from the flushed ones, which is what a process crash does to a RocksDB
//! opened without its own WAL.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{BatchOp, Cf, Direction, Engine, KvIter, ScanRange, WriteBatch};
use crate::error::Result;

type Maps = [BTreeMap<Vec<u8>, Vec<u8>>; 3];

/// See the module docs. Cloning shares the same data.
#[derive(Clone, Debug, Default)]
pub struct MemoryEngine {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    // Lock ordering: `live` before `flushed`.
    live: Mutex<Maps>,
    flushed: Mutex<Maps>,
}

fn idx(cf: Cf) -> usize {
    match cf {
        Cf::Versions => 0,
        Cf::Intents => 1,
        Cf::Meta => 2,
    }
}

fn lock(m: &Mutex<Maps>) -> MutexGuard<'_, Maps> {
    // A panic while holding the lock leaves the maps consistent (every
    // mutation is a single insert/remove), so poisoning is ignored.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MemoryEngine {
    /// An empty engine.
    pub fn new() -> Self {
        Self::default()
    }

    /// Simulates a crash: every write since the last `flush` is lost.
    pub fn crash(&self) {
        let mut live = lock(&self.inner.live);
        let flushed = lock(&self.inner.flushed);
        *live = flushed.clone();
    }

    /// Number of keys in a column family (live view).
    pub fn len(&self, cf: Cf) -> usize {
        lock(&self.inner.live)[idx(cf)].len()
    }

    /// True when the column family holds no keys (live view).
    pub fn is_empty(&self, cf: Cf) -> bool {
        self.len(cf) == 0
    }
}

impl Engine for MemoryEngine {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(lock(&self.inner.live)[idx(cf)].get(key).cloned())
    }

    fn scan(&self, cf: Cf, range: ScanRange, direction: Direction) -> Result<KvIter<'_>> {
        // NB: copies the range out under the lock; fine for tests, and gives
        // the snapshot-at-start behaviour the contract allows.
        if range.is_empty() {
            return Ok(Box::new(std::iter::empty()));
        }
        let live = lock(&self.inner.live);
        let map = &live[idx(cf)];
        let iter = map
            .range((range.start.clone(), range.end.clone()))
            .map(|(k, v)| Ok((k.clone().into_boxed_slice(), v.clone().into_boxed_slice())));
        let items: Vec<_> = match direction {
            Direction::Forward => iter.collect(),
            Direction::Reverse => iter.rev().collect(),
        };
        Ok(Box::new(items.into_iter()))
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        let mut live = lock(&self.inner.live);
        for op in batch.ops() {
            match op {
                BatchOp::Put { cf, key, value } => {
                    live[idx(*cf)].insert(key.clone(), value.clone());
                }
                BatchOp::Delete { cf, key } => {
                    live[idx(*cf)].remove(key);
                }
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        let live = lock(&self.inner.live);
        let mut flushed = lock(&self.inner.flushed);
        *flushed = live.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_drops_unflushed_writes() {
        let e = MemoryEngine::new();
        let mut b = WriteBatch::new();
        b.put(Cf::Meta, b"a".to_vec(), b"1".to_vec());
        e.write(b).unwrap();
        e.flush().unwrap();
        let mut b = WriteBatch::new();
        b.put(Cf::Meta, b"b".to_vec(), b"2".to_vec());
        b.delete(Cf::Meta, b"a".to_vec());
        e.write(b).unwrap();
        assert_eq!(e.get(Cf::Meta, b"a").unwrap(), None);
        e.crash();
        assert_eq!(e.get(Cf::Meta, b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(e.get(Cf::Meta, b"b").unwrap(), None);
    }
}
