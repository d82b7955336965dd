//! Tablet descriptors and where the directory keeps them (DESIGN.md §2).
//!
//! ```text
//!   keyspace:  [ ""  ,  0x01 )  meta tablet (id 1): system keys, all 0x00…
//!                 0x00 'm' 'e' 't' 'a' '/' 't' <id BE>   tablet descriptors
//!                 0x00 'm' 'e' 't' 'a' '/' 'n' <id BE>   node addresses
//!                 0x00 'm' 'e' 't' 'a' '/' 'c' "next-tablet-id"  the next new tablet's id
//!                 0x00 'm' 'e' 't' 'a' '/' 'd' <id BE>   decommissioned nodes
//!                 0x00 'm' 'e' 't' 'a' '/' 'g' <id BE>   merged-away tablets (→ left id)
//!              [ 0x01 ,  ""  )  first data tablet (id 2), split from there
//! ```
//!
//! User keys (raw KV now, SQL rows later) never start with 0x00, so the meta
//! tablet holds only system data.

use serde::{Deserialize, Serialize};
use spanlite_proto::common;
use spanlite_storage::meta::TabletId;

use super::KeyRange;
use spanlite_txn::NodeId;

/// The meta tablet's id.
pub const META_TABLET: TabletId = 1;
/// The first data tablet's id (the rest of the keyspace at init).
pub const FIRST_DATA_TABLET: TabletId = 2;
/// First key of user data; the meta tablet owns everything below.
pub const USER_KEYS_START: &[u8] = &[0x01];

const DESCRIPTOR_PREFIX: &[u8] = b"\x00meta/t";
const NODE_PREFIX: &[u8] = b"\x00meta/n";
const NEXT_TABLET_ID: &[u8] = b"\x00meta/cnext-tablet-id";
const DECOMMISSIONED_PREFIX: &[u8] = b"\x00meta/d";
const MERGED_PREFIX: &[u8] = b"\x00meta/g";

/// A tablet: its id, key range, voting replicas and generation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabletDescriptor {
    /// Cluster-unique id, never reused.
    pub id: TabletId,
    /// Keys it owns.
    pub range: KeyRange,
    /// Node ids of its voting replicas.
    pub replicas: Vec<NodeId>,
    /// Bumped on every split or replica change.
    pub generation: u64,
}

impl TabletDescriptor {
    /// The meta tablet as created by init on `replicas`.
    pub fn meta(replicas: Vec<NodeId>) -> Self {
        Self {
            id: META_TABLET,
            range: KeyRange::new(Vec::new(), USER_KEYS_START.to_vec()),
            replicas,
            generation: 1,
        }
    }

    /// The first data tablet as created by init on `replicas`.
    pub fn first_data(replicas: Vec<NodeId>) -> Self {
        Self {
            id: FIRST_DATA_TABLET,
            range: KeyRange::new(USER_KEYS_START.to_vec(), Vec::new()),
            replicas,
            generation: 1,
        }
    }

    /// The meta-tablet key under which this descriptor is stored.
    pub fn key(&self) -> Vec<u8> {
        descriptor_key(self.id)
    }
}

/// The meta-tablet key of tablet `id`'s descriptor.
pub fn descriptor_key(id: TabletId) -> Vec<u8> {
    let mut k = DESCRIPTOR_PREFIX.to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The range of every descriptor key.
pub fn descriptor_keys() -> KeyRange {
    let mut end = DESCRIPTOR_PREFIX.to_vec();
    end.push(0xff);
    end.extend_from_slice(&[0xff; 8]);
    KeyRange::new(DESCRIPTOR_PREFIX.to_vec(), end)
}

/// The meta-tablet key of the counter new tablet ids are taken from (in a
/// transaction, so that splits on different leaders never pick one id
/// twice): a big-endian u64, the lowest id not yet given out.
pub fn next_tablet_id_key() -> Vec<u8> {
    NEXT_TABLET_ID.to_vec()
}

/// The meta-tablet key that marks node `id` decommissioned (present:
/// drained and refusing new replicas).
pub fn decommissioned_key(id: NodeId) -> Vec<u8> {
    let mut k = DECOMMISSIONED_PREFIX.to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The range of every decommission mark.
pub fn decommissioned_keys() -> KeyRange {
    let mut end = DECOMMISSIONED_PREFIX.to_vec();
    end.extend_from_slice(&[0xff; 9]);
    KeyRange::new(DECOMMISSIONED_PREFIX.to_vec(), end)
}

/// The node id in a decommission mark.
pub fn decommissioned_node_of(key: &[u8]) -> Option<NodeId> {
    let id = key.strip_prefix(DECOMMISSIONED_PREFIX)?;
    Some(NodeId::from_be_bytes(id.try_into().ok()?))
}

/// The meta-tablet key that records tablet `id` as merged away (its value:
/// the left neighbour's id, big-endian). A participant asking a merged-away
/// coordinator about a transaction hears abort: the coordinator froze with
/// no decision recorded and could record none afterwards.
pub fn merged_tablet_key(id: TabletId) -> Vec<u8> {
    let mut k = MERGED_PREFIX.to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The meta-tablet key of node `id`'s address.
pub fn node_key(id: NodeId) -> Vec<u8> {
    let mut k = NODE_PREFIX.to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The range of every node-address key.
pub fn node_keys() -> KeyRange {
    let mut end = NODE_PREFIX.to_vec();
    end.extend_from_slice(&[0xff; 9]);
    KeyRange::new(NODE_PREFIX.to_vec(), end)
}

/// The node id in a node-address key.
pub fn node_id_of(key: &[u8]) -> Option<NodeId> {
    let id = key.strip_prefix(NODE_PREFIX)?;
    Some(NodeId::from_be_bytes(id.try_into().ok()?))
}

/// True for keys users may not write (system keys).
pub fn is_system_key(key: &[u8]) -> bool {
    key < USER_KEYS_START
}

impl From<&TabletDescriptor> for common::TabletDescriptor {
    fn from(d: &TabletDescriptor) -> Self {
        common::TabletDescriptor {
            tablet_id: d.id,
            range: Some(common::KeyRange {
                start: d.range.start.clone(),
                end: d.range.end.clone(),
            }),
            replicas: d.replicas.clone(),
            learners: Vec::new(),
            generation: d.generation,
        }
    }
}

impl From<&common::TabletDescriptor> for TabletDescriptor {
    fn from(d: &common::TabletDescriptor) -> Self {
        let range = d
            .range
            .as_ref()
            .map(|r| KeyRange::new(r.start.clone(), r.end.clone()))
            .unwrap_or_default();
        TabletDescriptor {
            id: d.tablet_id,
            range,
            replicas: d.replicas.clone(),
            generation: d.generation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_keys_live_in_the_meta_tablet_and_user_keys_do_not() {
        let meta = TabletDescriptor::meta(vec![1, 2, 3]);
        let data = TabletDescriptor::first_data(vec![1, 2, 3]);
        for key in [descriptor_key(0), descriptor_key(u64::MAX), node_key(7)] {
            assert!(meta.range.contains(&key) && !data.range.contains(&key));
            assert!(is_system_key(&key));
        }
        for key in [&b"a"[..], b"\x01", b"\xff\xff", b"0"] {
            assert!(data.range.contains(key) && !meta.range.contains(key));
            assert!(!is_system_key(key));
        }
        assert!(descriptor_keys().contains(&descriptor_key(u64::MAX)));
        assert!(!descriptor_keys().contains(&node_key(0)));
        assert!(node_keys().contains(&node_key(u64::MAX)));
        assert_eq!(node_id_of(&node_key(42)), Some(42));
    }

    #[test]
    fn descriptor_survives_the_wire() {
        let d = TabletDescriptor {
            id: 9,
            range: KeyRange::new(b"b".to_vec(), b"q".to_vec()),
            replicas: vec![3, 1],
            generation: 5,
        };
        let wire = common::TabletDescriptor::from(&d);
        assert_eq!(TabletDescriptor::from(&wire), d);
    }
}
