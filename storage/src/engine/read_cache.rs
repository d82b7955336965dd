//! A bounded in-memory cache of point lookups, kept exact by the engine's
//! writes: the newest `versions` entry of a user key and the `intents` value
//! of a key.
//!
//! Why: a point read is an intent lookup plus a seek for the newest version
//! at or below the read timestamp. In RocksDB the seek means building an
//! iterator over every memtable and level, then seeking it — about a fifth
//! of a node's CPU under sysbench point selects (docs/performance.md). A
//! strong read asks for the newest version almost always; this cache answers
//! that from a hash map.
//!
//! Exactness, the one rule: an entry says what the engine holds *now*. The
//! engine calls [`ReadCache::update`] (or [`ReadCache::invalidate`]) for
//! every key a batch touches, after the batch is in the engine and in the
//! order batches were applied. A miss is filled only if nothing in its
//! shard changed since the miss was taken ([`Ticket`]):
//!
//! ```text
//!   reader: lookup → Miss(t) ─── read the engine ─── fill(t, v)
//!   writer:                write batch ─ update(k)
//! ```
//! If the writer's batch came after the reader's engine read, the update
//! comes after the miss was taken, so either it finds the filled entry and
//! brings it up to date (fill first) or the fill is refused (update first).
//! Reads racing a write may see the old value, exactly as they may when the
//! engine is read directly (`Engine` contract: concurrent writes may or may
//! not be seen); once `write` returns, every lookup sees the batch.
//!
//! Bounded: each shard keeps at most its share of the byte budget; when a
//! fill would pass it, arbitrary entries (hash order) are dropped until a
//! quarter of the share is free. A crash loses the cache with the engine's
//! memtables; a reopened engine starts empty.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};

/// Shards, each its own lock (a power of two).
const SHARDS: usize = 16;

/// Bookkeeping bytes charged per entry on top of its key and value.
const ENTRY_OVERHEAD: usize = 64;

/// What a cached value weighs, for the byte budget.
pub(crate) trait Weigh {
    /// Heap bytes held.
    fn weight(&self) -> usize;
}

impl Weigh for Vec<u8> {
    fn weight(&self) -> usize {
        self.len()
    }
}

impl<A: Weigh, B: Weigh> Weigh for (A, B) {
    fn weight(&self) -> usize {
        self.0.weight() + self.1.weight()
    }
}

impl<T: Weigh> Weigh for Option<T> {
    fn weight(&self) -> usize {
        self.as_ref().map_or(0, Weigh::weight)
    }
}

/// The answer of [`ReadCache::lookup`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup<V> {
    /// What the engine holds for the key.
    Hit(V),
    /// Not cached: read the engine, then [`ReadCache::fill`] with this.
    Miss(Ticket),
}

/// A miss, remembering the state of its shard when it was taken.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Ticket {
    shard: usize,
    generation: u64,
}

#[derive(Debug)]
struct Shard<V> {
    map: HashMap<Vec<u8>, V>,
    bytes: usize,
    /// Bumped by every update or invalidation in this shard.
    generation: u64,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct ReadCache<V> {
    shards: Vec<Mutex<Shard<V>>>,
    shard_budget: usize,
    hasher: std::collections::hash_map::RandomState,
}

impl<V: Clone + Weigh> ReadCache<V> {
    /// A cache of at most about `budget_bytes` (0 = caches nothing).
    pub(crate) fn new(budget_bytes: usize) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::new(),
                        bytes: 0,
                        generation: 0,
                    })
                })
                .collect(),
            shard_budget: budget_bytes / SHARDS,
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    fn shard_of(&self, key: &[u8]) -> usize {
        (self.hasher.hash_one(key) as usize) & (SHARDS - 1)
    }

    fn lock(&self, shard: usize) -> std::sync::MutexGuard<'_, Shard<V>> {
        // A panic while holding a shard cannot leave it inexact: the map and
        // generation change in single steps, and a half-done eviction only
        // drops entries.
        self.shards[shard]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached value of `key`, or a ticket to fill it with.
    pub(crate) fn lookup(&self, key: &[u8]) -> Lookup<V> {
        let shard = self.shard_of(key);
        let s = self.lock(shard);
        match s.map.get(key) {
            Some(v) => Lookup::Hit(v.clone()),
            None => Lookup::Miss(Ticket {
                shard,
                generation: s.generation,
            }),
        }
    }

    /// Caches `value` (what the engine held for `key` after `ticket`'s miss)
    /// unless the shard changed since.
    pub(crate) fn fill(&self, ticket: Ticket, key: &[u8], value: V) {
        let weight = key.len() + value.weight() + ENTRY_OVERHEAD;
        if weight > self.shard_budget / 4 {
            return;
        }
        let mut s = self.lock(ticket.shard);
        if s.generation != ticket.generation {
            return;
        }
        if s.bytes + weight > self.shard_budget {
            let target = self.shard_budget - self.shard_budget / 4;
            let mut bytes = s.bytes;
            s.map.retain(|k, v| {
                if bytes <= target {
                    return true;
                }
                bytes -= k.len() + v.weight() + ENTRY_OVERHEAD;
                false
            });
            s.bytes = bytes;
        }
        if let Some(old) = s.map.insert(key.to_vec(), value) {
            // Two readers missed with nothing changed between: both read
            // the same value; the second replaces the first.
            s.bytes -= key.len() + old.weight() + ENTRY_OVERHEAD;
        }
        s.bytes += weight;
    }

    /// Forgets `key` and refuses fills of misses taken before: the engine
    /// has just changed it.
    pub(crate) fn invalidate(&self, key: &[u8]) {
        self.update(key, |_| false);
    }

    /// The engine has just changed `key`: refuses fills of misses taken
    /// before and, if `key` is cached, lets `change` bring its entry up to
    /// date (false: drop it). NB: exact only if every change reaches the
    /// cache in the order the engine applied it (the engine serializes its
    /// writes with their updates).
    pub(crate) fn update(&self, key: &[u8], change: impl FnOnce(&mut V) -> bool) {
        let mut s = self.lock(self.shard_of(key));
        s.generation += 1;
        let Some(v) = s.map.get_mut(key) else {
            return;
        };
        let before = v.weight();
        let keep = change(v);
        let after = v.weight();
        // Kept if it still fits (a grown value may not).
        if keep
            && after + key.len() + ENTRY_OVERHEAD <= self.shard_budget / 4
            && s.bytes - before + after <= self.shard_budget
        {
            s.bytes = s.bytes - before + after;
        } else {
            s.map.remove(key);
            s.bytes -= key.len() + before + ENTRY_OVERHEAD;
        }
    }

    /// Entries and bytes held (for tests and metrics).
    #[cfg(test)]
    fn usage(&self) -> (usize, usize) {
        (0..SHARDS).fold((0, 0), |(n, b), i| {
            let s = self.lock(i);
            (n + s.map.len(), b + s.bytes)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_after_an_invalidation_of_its_shard_is_refused() {
        let cache: ReadCache<Vec<u8>> = ReadCache::new(1 << 20);
        let Lookup::Miss(ticket) = cache.lookup(b"k") else {
            panic!("an empty cache hit");
        };
        // The reader read the old value from the engine; then a writer
        // changed the key and invalidated it; then the reader fills.
        cache.invalidate(b"k");
        cache.fill(ticket, b"k", b"old".to_vec());
        assert!(
            matches!(cache.lookup(b"k"), Lookup::Miss(_)),
            "a value read before a write was cached after it"
        );
    }

    #[test]
    fn a_fill_before_the_invalidation_is_removed_by_it() {
        let cache: ReadCache<Vec<u8>> = ReadCache::new(1 << 20);
        let Lookup::Miss(ticket) = cache.lookup(b"k") else {
            panic!("an empty cache hit");
        };
        cache.fill(ticket, b"k", b"old".to_vec());
        assert_eq!(cache.lookup(b"k"), Lookup::Hit(b"old".to_vec()));
        cache.invalidate(b"k");
        assert!(matches!(cache.lookup(b"k"), Lookup::Miss(_)));
        assert_eq!(cache.usage(), (0, 0));
    }

    #[test]
    fn the_budget_holds() {
        let budget = 64 << 10;
        let cache: ReadCache<Option<Vec<u8>>> = ReadCache::new(budget);
        for i in 0..10_000u32 {
            let key = i.to_be_bytes();
            if let Lookup::Miss(t) = cache.lookup(&key) {
                cache.fill(t, &key, Some(vec![0; 32]));
            }
            assert!(cache.usage().1 <= budget, "over budget after {i} fills");
        }
        let (entries, _) = cache.usage();
        assert!(entries > 100, "evicted too much: {entries} entries left");
        // Misses stay misses with no budget.
        let none: ReadCache<Vec<u8>> = ReadCache::new(0);
        if let Lookup::Miss(t) = none.lookup(b"k") {
            none.fill(t, b"k", vec![1]);
        }
        assert!(matches!(none.lookup(b"k"), Lookup::Miss(_)));
    }
}
