//! A node's cache of the directory: descriptors by range, node addresses,
//! and the last known leader of each tablet.

use std::collections::{BTreeMap, HashMap};
use std::sync::{PoisonError, RwLock};

use spanlite_storage::meta::TabletId;

use super::TabletDescriptor;
use spanlite_txn::NodeId;

#[derive(Debug, Default)]
struct Inner {
    /// Descriptors by range start; ranges do not overlap.
    tablets: BTreeMap<Vec<u8>, TabletDescriptor>,
    nodes: HashMap<NodeId, String>,
    leaders: HashMap<TabletId, NodeId>,
}

/// The route cache. Entries may be stale; callers refresh on `WrongTablet`.
#[derive(Debug, Default)]
pub struct RouteCache {
    inner: RwLock<Inner>,
}

impl RouteCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached tablet owning `key`.
    pub fn lookup(&self, key: &[u8]) -> Option<TabletDescriptor> {
        let inner = self.read();
        let (_, d) = inner.tablets.range(..=key.to_vec()).next_back()?;
        d.range.contains(key).then(|| d.clone())
    }

    /// The cached tablet owning the keys just below `end` (empty: the end
    /// of the keyspace): the one a reverse scan of a range ending at `end`
    /// reads first. Its range starts before `end` and reaches it.
    pub fn lookup_before(&self, end: &[u8]) -> Option<TabletDescriptor> {
        let inner = self.read();
        let (_, d) = if end.is_empty() {
            inner.tablets.iter().next_back()?
        } else {
            inner.tablets.range(..end.to_vec()).next_back()?
        };
        let reaches = d.range.end.is_empty() || (!end.is_empty() && d.range.end.as_slice() >= end);
        reaches.then(|| d.clone())
    }

    /// The cached tablet with id `id`.
    pub fn tablet(&self, id: TabletId) -> Option<TabletDescriptor> {
        self.read().tablets.values().find(|d| d.id == id).cloned()
    }

    /// Every cached descriptor, in key order.
    pub fn tablets(&self) -> Vec<TabletDescriptor> {
        self.read().tablets.values().cloned().collect()
    }

    /// Caches `d`, dropping any cached descriptor whose range overlaps it
    /// and is older (a split or move made it stale).
    pub fn insert(&self, d: TabletDescriptor) {
        let mut inner = self.write();
        let overlapping: Vec<Vec<u8>> = inner
            .tablets
            .iter()
            .filter(|(_, o)| overlaps(o, &d))
            .map(|(k, _)| k.clone())
            .collect();
        if overlapping
            .iter()
            .any(|k| inner.tablets[k].id == d.id && inner.tablets[k].generation > d.generation)
        {
            return;
        }
        for k in overlapping {
            inner.tablets.remove(&k);
        }
        inner.tablets.insert(d.range.start.clone(), d);
    }

    /// Forgets the descriptor of `id` (it answered `WrongTablet`).
    pub fn evict(&self, id: TabletId) {
        let mut inner = self.write();
        inner.tablets.retain(|_, d| d.id != id);
        inner.leaders.remove(&id);
    }

    /// Records node `id`'s address.
    pub fn set_node(&self, id: NodeId, addr: String) {
        self.write().nodes.insert(id, addr);
    }

    /// Node `id`'s address, if known.
    pub fn node_addr(&self, id: NodeId) -> Option<String> {
        self.read().nodes.get(&id).cloned()
    }

    /// Every known node and address, by id.
    pub fn nodes(&self) -> BTreeMap<NodeId, String> {
        self.read()
            .nodes
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }

    /// Records the leader of `tablet` as learned from a reply.
    pub fn set_leader(&self, tablet: TabletId, leader: NodeId) {
        self.write().leaders.insert(tablet, leader);
    }

    /// Forgets the leader of `tablet` if it is `node` (it stopped answering).
    pub fn clear_leader(&self, tablet: TabletId, node: NodeId) {
        let mut inner = self.write();
        if inner.leaders.get(&tablet) == Some(&node) {
            inner.leaders.remove(&tablet);
        }
    }

    /// The last known leader of `tablet`, if any.
    pub fn leader(&self, tablet: TabletId) -> Option<NodeId> {
        self.read().leaders.get(&tablet).copied()
    }

    /// Nodes to try for `d`, the last known leader first.
    pub fn candidates(&self, d: &TabletDescriptor) -> Vec<NodeId> {
        let leader = self.read().leaders.get(&d.id).copied();
        let mut out: Vec<NodeId> = leader.into_iter().collect();
        out.extend(d.replicas.iter().copied().filter(|&n| Some(n) != leader));
        out
    }
}

fn overlaps(a: &TabletDescriptor, b: &TabletDescriptor) -> bool {
    let a_before_b = !a.range.end.is_empty() && a.range.end <= b.range.start;
    let b_before_a = !b.range.end.is_empty() && b.range.end <= a.range.start;
    !(a_before_b || b_before_a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyRange;

    fn desc(id: u64, start: &[u8], end: &[u8], generation: u64) -> TabletDescriptor {
        TabletDescriptor {
            id,
            range: KeyRange::new(start.to_vec(), end.to_vec()),
            replicas: vec![1, 2, 3],
            generation,
        }
    }

    #[test]
    fn lookup_finds_the_owning_range_only() {
        let c = RouteCache::new();
        c.insert(desc(1, b"", b"c", 1));
        c.insert(desc(2, b"f", b"", 1));
        assert_eq!(c.lookup(b"a").map(|d| d.id), Some(1));
        assert_eq!(c.lookup(b"c"), None, "gap between tablets");
        assert_eq!(c.lookup(b"zzz").map(|d| d.id), Some(2));
    }

    #[test]
    fn lookup_before_finds_the_range_reaching_the_end() {
        let c = RouteCache::new();
        c.insert(desc(1, b"", b"c", 1));
        c.insert(desc(2, b"f", b"m", 1));
        c.insert(desc(3, b"m", b"", 1));
        assert_eq!(c.lookup_before(b"c").map(|d| d.id), Some(1));
        assert_eq!(c.lookup_before(b"b").map(|d| d.id), Some(1));
        assert_eq!(c.lookup_before(b"m").map(|d| d.id), Some(2));
        assert_eq!(c.lookup_before(b"m\0").map(|d| d.id), Some(3));
        assert_eq!(c.lookup_before(b"").map(|d| d.id), Some(3));
        assert_eq!(c.lookup_before(b"e"), None, "gap between tablets");
        assert_eq!(c.lookup_before(b"f"), None, "gap between tablets");
        let d = RouteCache::new();
        d.insert(desc(1, b"", b"c", 1));
        assert_eq!(
            d.lookup_before(b""),
            None,
            "the end of the keyspace is not cached"
        );
    }

    #[test]
    fn a_split_replaces_the_stale_descriptor_but_not_the_reverse() {
        let c = RouteCache::new();
        c.insert(desc(2, b"a", b"", 1));
        c.insert(desc(2, b"a", b"m", 2));
        c.insert(desc(3, b"m", b"", 1));
        assert_eq!(c.lookup(b"b").map(|d| d.generation), Some(2));
        assert_eq!(c.lookup(b"q").map(|d| d.id), Some(3));
        // A late reply carrying the pre-split descriptor is ignored.
        c.insert(desc(2, b"a", b"", 1));
        assert_eq!(c.lookup(b"q").map(|d| d.id), Some(3));
    }

    #[test]
    fn candidates_put_the_known_leader_first() {
        let c = RouteCache::new();
        let d = desc(5, b"", b"", 1);
        assert_eq!(c.candidates(&d), vec![1, 2, 3]);
        c.set_leader(5, 3);
        assert_eq!(c.candidates(&d), vec![3, 1, 2]);
    }
}
