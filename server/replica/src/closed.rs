//! The closed-timestamp side transport (DESIGN.md §10): every interval,
//! each node sends each other node one message with the closed timestamp
//! of every tablet it leads that the other node replicates, so followers'
//! safe time keeps up on idle tablets without a Raft entry per tablet.
//!
//! ```text
//!   node 1 (leads t3, t7) ──{t3: C₃@I₃, t7: C₇@I₇}──▶ node 2 (follows t3, t7)
//!                         ──{t3: C₃@I₃}───────────▶ node 3 (follows t3)
//! ```
//!
//! A lost or late message only delays follower reads (they are sent to the
//! leader meanwhile): every promise stays true once made
//! (`spanlite_txn::actions::safe_time`).

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use spanlite_proto::raft::raft_service_client::RaftServiceClient;
use spanlite_proto::raft::{ClosedTimestamp, ClosedTimestamps};

use super::Store;
use crate::raft::NodeId;

/// Sends closed timestamps every `every` until the store is dropped.
pub(super) async fn publish(store: Weak<Store>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(store) = store.upgrade() else { return };
        send_round(&store, every);
    }
}

/// One round: a message per peer node, sent concurrently, each given at
/// most `every` (the next round supersedes it).
fn send_round(store: &Arc<Store>, every: Duration) {
    let me = store.node_id();
    let mut by_node: BTreeMap<NodeId, (String, Vec<ClosedTimestamp>)> = BTreeMap::new();
    for replica in store.replicas() {
        let Some(closed) = replica.close_timestamp() else {
            continue;
        };
        let metrics = replica.raft().metrics();
        let membership = metrics.borrow().membership_config.clone();
        for (node, n) in membership.membership().nodes() {
            if *node == me {
                continue;
            }
            by_node
                .entry(*node)
                .or_insert_with(|| (n.addr.clone(), Vec::new()))
                .1
                .push(ClosedTimestamp {
                    tablet_id: replica.tablet(),
                    closed_ts: closed.ts.as_nanos(),
                    applied_index: closed.index,
                });
        }
    }
    for (node, (addr, tablets)) in by_node {
        if store.peers().is_blocked(node) {
            continue;
        }
        let Ok(channel) = store.peers().channel(&addr) else {
            continue;
        };
        let message = ClosedTimestamps {
            from_node_id: me,
            target_node_id: node,
            tablets,
        };
        tokio::spawn(async move {
            let mut client = RaftServiceClient::new(channel);
            if let Err(e) = tokio::time::timeout(every, client.close_timestamps(message)).await {
                tracing::trace!(node, "closed timestamps not delivered in time: {e}");
            }
        });
    }
}
