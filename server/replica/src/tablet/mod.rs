//! Tablet replicas as the rest of the node sees them (DESIGN.md §3, §6):
//! the glue between a tablet's Raft group and the transaction protocol of
//! `spanlite_txn`, whose steps decide everything; here they are proposed,
//! applied, commit-waited and answered.
//!
//! - `replica.rs`: the replica, its lease, proposals in timestamp order,
//!   commit wait, splits.
//! - `steps.rs`: the leader state behind its mutex; lock waits.
//! - `reads.rs`: locked reads, strong and snapshot reads (leader and
//!   follower), closed timestamps.
//! - `commits.rs`: one-phase commit, 2PC lock phase, prepare, decision,
//!   resolve, abort, status.
//! - `duties.rs`: term start, the sweep, telling participants.
//! - `lease.rs`: the lease fed from openraft's metrics; votes.

mod commits;
mod duties;
mod error;
mod lease;
mod proposer;
mod reads;
mod replica;
mod steps;

pub use commits::CommitRequest;
pub use error::TabletError;
pub use lease::{LeaseTracker, LeaseView};
pub use reads::{ReadAt, TxnReadRequest};
pub use replica::{PeersSlot, Replica, ReplicaParts};
pub use spanlite_txn::actions::validate::{ReadSpan, Validation};
pub use spanlite_txn::peers::TxnPeers;

/// Start and end bounds of a key range.
pub(crate) type KeyBounds = (std::ops::Bound<Vec<u8>>, std::ops::Bound<Vec<u8>>);
