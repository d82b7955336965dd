//! Tablet replicas as the rest of the node sees them: leases, timestamp
//! assignment, reads and writes on the leader (DESIGN.md §3), and the
//! transaction actions (DESIGN.md §6): the one-phase commit and snapshot
//! reads (`txn.rs`), the participant (`participant/`: reads under locks,
//! prepare, commit, abort), the 2PC coordinator (`coordinator.rs`) and the
//! optimistic modes' commit-time validation (`validate.rs`).

mod coordinator;
mod error;
mod lease;
mod participant;
mod replica;
mod txn;
mod validate;

pub use error::TabletError;
pub use lease::{LeaseTracker, LeaseView};
pub use replica::{PeersSlot, Replica, ReplicaParts, TxnPeers};
pub use validate::{ReadSpan, Validation};
