//! What a node knows about its cluster: id, nodes in join order, the meta
//! tablet; kept in memory and in the identity file.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use super::identity::{Identity, IdentityError};
use spanlite_directory::TabletDescriptor;
use spanlite_replica::raft::NodeId;

#[derive(Debug)]
struct Inner {
    identity: Identity,
    /// Nodes in the order this node heard of them (itself first): init
    /// picks the first three.
    join_order: Vec<NodeId>,
}

/// The node's view of the cluster. Every change is saved to the identity
/// file before it is visible.
#[derive(Debug)]
pub struct ClusterView {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

impl ClusterView {
    /// The view loaded from `identity`, with this node at `advertise`.
    pub fn new(dir: PathBuf, mut identity: Identity, advertise: &str) -> Self {
        identity
            .nodes
            .insert(identity.node_id, advertise.to_string());
        let mut join_order = vec![identity.node_id];
        join_order.extend(
            identity
                .nodes
                .keys()
                .copied()
                .filter(|&n| n != identity.node_id),
        );
        Self {
            dir,
            inner: Mutex::new(Inner {
                identity,
                join_order,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of the identity.
    pub fn identity(&self) -> Identity {
        self.lock().identity.clone()
    }

    /// The cluster id ("" before init).
    pub fn cluster_id(&self) -> String {
        self.lock().identity.cluster_id.clone()
    }

    /// The meta tablet, once known.
    pub fn meta(&self) -> Option<TabletDescriptor> {
        self.lock().identity.meta.clone()
    }

    /// Known nodes in join order, with addresses.
    pub fn nodes_in_join_order(&self) -> Vec<(NodeId, String)> {
        let inner = self.lock();
        inner
            .join_order
            .iter()
            .filter_map(|n| inner.identity.nodes.get(n).map(|a| (*n, a.clone())))
            .collect()
    }

    /// Applies `change` and saves the identity if it changed anything.
    pub fn update(&self, change: impl FnOnce(&mut Identity)) -> Result<(), IdentityError> {
        let mut inner = self.lock();
        let mut next = inner.identity.clone();
        change(&mut next);
        for n in next.nodes.keys() {
            if !inner.join_order.contains(n) {
                inner.join_order.push(*n);
            }
        }
        if next != inner.identity {
            next.save(&self.dir)?;
            inner.identity = next;
        }
        Ok(())
    }
}
