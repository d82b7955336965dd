//! The directory: which tablet owns which keys, and where its replicas are
//! (DESIGN.md §2).
//!
//! Descriptors live in the meta tablet like any other data; every node
//! caches them ([`RouteCache`]) and refreshes an entry when a replica answers
//! `WrongTablet`, or when the cached leader answers `NotLeader`.

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod address;
mod cache;
pub mod call_stream;
mod descriptor;
mod peers;
pub mod tls;
pub mod wire;

pub use address::validate_address;
pub use cache::RouteCache;
pub use descriptor::{
    FIRST_DATA_TABLET, META_TABLET, TabletDescriptor, USER_KEYS_START, decommissioned_key,
    decommissioned_keys, decommissioned_node_of, descriptor_key, descriptor_keys, is_system_key,
    merged_tablet_key, next_tablet_id_key, node_id_of, node_key, node_keys,
};
pub use peers::{Peers, PeersConfig};
pub use spanlite_txn::KeyRange;
