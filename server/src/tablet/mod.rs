//! Tablet replicas as the rest of the node sees them: leases, timestamp
//! assignment, reads and writes on the leader (DESIGN.md §3), and the
//! transaction actions (DESIGN.md §6): the one-phase commit and snapshot
//! reads (`txn.rs`), the participant (`participant/`: reads under locks,
//! prepare, commit, abort) and the 2PC coordinator (`coordinator.rs`).

mod coordinator;
mod error;
mod lease;
mod participant;
mod replica;
mod txn;

pub use error::TabletError;
pub use lease::{LeaseTracker, LeaseView};
pub use replica::{PeersSlot, Replica, ReplicaParts, TxnPeers};
