//! Tablet replicas as the rest of the node sees them: leases, timestamp
//! assignment, and reads and writes on the leader (DESIGN.md §3).

mod error;
mod lease;
mod replica;
mod txn;

pub use error::TabletError;
pub use lease::{LeaseTracker, LeaseView};
pub use replica::{Replica, ReplicaParts};
