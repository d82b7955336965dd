//! The node: identity, storage and hosted replicas ([`Store`]), the running
//! process ([`start`]).

mod closed;
mod cluster;
mod identity;
mod server;
mod store;

pub use cluster::ClusterView;
pub use identity::{Identity, IdentityError};
pub use server::{NodeConfig, NodeContext, NodeError, RunningNode, incoming, start, start_on};
pub use store::{Store, StoreConfig, StoreError};
