//! The allocator: where replicas and leaderships live. It runs on every
//! node but acts only on the one leading the meta tablet (one allocator at
//! a time), once every `every`, and makes **at most one change a round**
//! (one replica created, i.e. one snapshot in flight, cluster-wide), in
//! this order:
//!
//! ```text
//!   1. a voter on a node dead longer than dead_after, or decommissioned
//!        ──▶ move it (add a voter on the live node with the fewest, then
//!            remove the old one: 3 → 4 → 3 voters, never fewer than 3)
//!   2. a leader on a decommissioned node ──▶ hand the leadership off
//!   3. replica counts more than 1 apart across live nodes
//!        ──▶ move a replica from the fullest to the emptiest (never the
//!            one it leads there: that leadership is handed off first)
//!   4. leader counts more than 1 apart ──▶ a leadership of the busiest
//!        node goes to a voter with fewer; if none of its tablets has a
//!        voter on an idle node, along the shortest chain of hand-offs
//!   5. a tablet whose recent requests (≥ 50 over the round) come ≥ 60 %
//!        from another voter's node ──▶ its leadership goes there, if
//!        leader counts stay within one
//! ```
//!
//! Besides, a replica that its tablet's leader lists as neither voter nor
//! learner in every round for `leftover_after` (a node that came back
//! after its replicas were re-created elsewhere) is deleted; that copies
//! nothing, so it is not the round's one change.
//!
//! Counts are of data tablets: the meta tablet stays where `init` put it
//! unless its node dies or is decommissioned. A node is live while it
//! answers Admin.Status; a leadership hand-off is targeted (Admin.
//! TransferLeader: the leader goes silent and the chosen voter campaigns
//! first), though another voter may win if the chosen one is slow.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use spanlite_directory::{META_TABLET, decommissioned_keys, decommissioned_node_of};
use spanlite_proto::admin::admin_service_client::AdminServiceClient;
use spanlite_proto::admin::{ChangeReplicasRequest, DestroyReplicaRequest, TransferLeaderRequest};
use spanlite_replica::raft::NodeId;
use spanlite_storage::meta::TabletId;

use super::status::{NodeView, cluster};
use crate::NodeContext;

/// How the allocator behaves (`--rebalance-every`, `--dead-node-after`).
#[derive(Clone, Copy, Debug)]
pub struct AllocatorSettings {
    /// Time between rounds; zero: no allocator (replicas move only by
    /// hand).
    pub every: Duration,
    /// A node silent this long is dead: its replicas are re-created on
    /// live nodes.
    pub dead_after: Duration,
    /// A replica its tablet's group no longer has (a node that came back
    /// after its replicas were re-created elsewhere) is deleted once seen
    /// so for this long (longer than a replica being added takes to join
    /// its group).
    pub leftover_after: Duration,
}

impl Default for AllocatorSettings {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(10),
            dead_after: Duration::from_secs(300),
            leftover_after: Duration::from_secs(60),
        }
    }
}

/// The longest one change may take before the allocator gives up on it
/// (the next round decides afresh).
const ACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// The allocator's memory between rounds: when each node last answered,
/// and each tablet's request counts by sender as its leader last reported
/// them. It starts afresh on a new meta leader, which only delays
/// declaring a node dead and following load by a round or so.
#[derive(Debug, Default)]
pub struct AllocatorMemory {
    last_seen: Mutex<HashMap<NodeId, Instant>>,
    sources: Mutex<HashMap<TabletId, Reported>>,
    /// Replicas their groups do not have, by (tablet, node): since when.
    leftovers: Mutex<HashMap<(TabletId, NodeId), Instant>>,
}

/// A tablet's leader and its request counts by sending node, as reported.
type Reported = (NodeId, BTreeMap<NodeId, u64>);

/// Requests a tablet must have served over a round before its leadership
/// follows them (too few say nothing about where the load comes from).
const FOLLOW_MIN_REQUESTS: u64 = 50;

/// The share of a tablet's requests one other node must send before the
/// leadership moves there (well above half: load split between two nodes
/// must not make it move back and forth).
const FOLLOW_SHARE: f64 = 0.6;

/// One tablet as its leader reports it.
#[derive(Clone, Debug)]
struct TabletView {
    id: TabletId,
    leader: NodeId,
    voters: BTreeSet<NodeId>,
    /// Requests its leader served since it started, by sending node.
    requests_from: BTreeMap<NodeId, u64>,
}

/// What one round decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Move `tablet`'s replica from `from` to `to`.
    Move {
        /// The tablet.
        tablet: TabletId,
        /// The node losing the replica.
        from: NodeId,
        /// The node gaining it.
        to: NodeId,
        /// Why.
        why: &'static str,
    },
    /// Leaderships handed along a chain of nodes, the last hop first: the
    /// first hop's leader loses one, the last hop's target gains one, the
    /// nodes between keep their count (when no single hand-off evens the
    /// counts because the busiest node's tablets have no replica on the
    /// idlest).
    Rotate {
        /// Each hop: the tablet, its leader now, the voter it goes to.
        hops: Vec<(TabletId, NodeId, NodeId)>,
        /// Why.
        why: &'static str,
    },
    /// `tablet`'s leader on `from` hands leadership to `to`.
    Lead {
        /// The tablet.
        tablet: TabletId,
        /// Its leader now.
        from: NodeId,
        /// The voter it should go to.
        to: NodeId,
        /// Why.
        why: &'static str,
    },
}

/// The cluster as one round sees it.
#[derive(Debug, Default)]
pub struct Picture {
    /// Nodes that answered.
    pub live: BTreeSet<NodeId>,
    /// Nodes silent longer than the dead-node setting.
    pub dead: BTreeSet<NodeId>,
    /// Decommissioned nodes.
    pub decommissioned: BTreeSet<NodeId>,
    tablets: Vec<TabletView>,
    /// Requests each tablet served over the last round, by sending node
    /// (tablets whose leader changed since are absent).
    recent: BTreeMap<TabletId, BTreeMap<NodeId, u64>>,
}

impl Picture {
    fn from_views(views: &[NodeView]) -> Picture {
        let mut p = Picture::default();
        let mut tablets: BTreeMap<TabletId, TabletView> = BTreeMap::new();
        for v in views {
            let Ok(s) = &v.status else { continue };
            p.live.insert(v.id);
            for t in s.tablets.iter().filter(|t| t.is_leader) {
                if let Some(d) = &t.descriptor {
                    tablets.insert(
                        d.tablet_id,
                        TabletView {
                            id: d.tablet_id,
                            leader: v.id,
                            voters: d.replicas.iter().copied().collect(),
                            requests_from: t.requests_from.clone().into_iter().collect(),
                        },
                    );
                }
            }
        }
        // A merge needs both tablets' voters as they are: leave a frozen
        // tablet and the one it merges into alone (`ops::merge`).
        let merging: BTreeSet<TabletId> = views
            .iter()
            .filter_map(|v| v.status.as_ref().ok())
            .flat_map(|s| s.tablets.iter())
            .filter(|t| t.frozen_into != 0)
            .flat_map(|t| {
                [t.frozen_into]
                    .into_iter()
                    .chain(t.descriptor.as_ref().map(|d| d.tablet_id))
            })
            .collect();
        tablets.retain(|id, _| !merging.contains(id));
        p.tablets = tablets.into_values().collect();
        p
    }

    /// Nodes that may take replicas.
    fn candidates(&self) -> BTreeSet<NodeId> {
        self.live
            .difference(&self.decommissioned)
            .copied()
            .collect()
    }

    /// Data-tablet replicas and leaderships per candidate node.
    fn counts(&self) -> (BTreeMap<NodeId, usize>, BTreeMap<NodeId, usize>) {
        let mut replicas: BTreeMap<NodeId, usize> =
            self.candidates().into_iter().map(|n| (n, 0)).collect();
        let mut leaders = replicas.clone();
        for t in self.tablets.iter().filter(|t| t.id != META_TABLET) {
            for v in &t.voters {
                if let Some(c) = replicas.get_mut(v) {
                    *c += 1;
                }
            }
            if let Some(c) = leaders.get_mut(&t.leader) {
                *c += 1;
            }
        }
        (replicas, leaders)
    }

    /// The one change this round makes, if any.
    pub fn decide(&self) -> Option<Action> {
        let candidates = self.candidates();
        let (replicas, leaders) = self.counts();
        let emptiest = |t: &TabletView| {
            candidates
                .iter()
                .filter(|n| !t.voters.contains(n))
                .min_by_key(|n| (replicas.get(n).copied().unwrap_or(0), **n))
                .copied()
        };
        // 1. Replicas on dead or decommissioned nodes.
        for t in &self.tablets {
            for v in &t.voters {
                let why = if self.dead.contains(v) {
                    "its node is dead"
                } else if self.decommissioned.contains(v) && *v != t.leader {
                    "its node is decommissioned"
                } else {
                    continue;
                };
                if let Some(to) = emptiest(t) {
                    return Some(Action::Move {
                        tablet: t.id,
                        from: *v,
                        to,
                        why,
                    });
                }
            }
        }
        // 2. Leaders on decommissioned nodes.
        for t in &self.tablets {
            if self.decommissioned.contains(&t.leader)
                && let Some(to) = t.voters.iter().find(|v| candidates.contains(v))
            {
                return Some(Action::Lead {
                    tablet: t.id,
                    from: t.leader,
                    to: *to,
                    why: "its node is decommissioned",
                });
            }
        }
        // 3. Replica counts: the move between the most and the least
        // loaded pair of nodes that some tablet allows.
        let count = |m: &BTreeMap<NodeId, usize>, n: &NodeId| m.get(n).copied().unwrap_or(0);
        let mut best: Option<(usize, Action)> = None;
        let consider = |gain: usize, action: Action, best: &mut Option<(usize, Action)>| {
            if best.as_ref().is_none_or(|(g, _)| gain > *g) {
                *best = Some((gain, action));
            }
        };
        for t in self.tablets.iter().filter(|t| t.id != META_TABLET) {
            for from in t.voters.iter().filter(|v| candidates.contains(v)) {
                for to in candidates.iter().filter(|n| !t.voters.contains(n)) {
                    let (f, e) = (count(&replicas, from), count(&replicas, to));
                    if f <= e + 1 {
                        continue;
                    }
                    // A replica that leads is not moved: its leadership
                    // goes to another voter first (a smaller gain, so a
                    // plain move wins when there is one).
                    let action = if *from != t.leader {
                        Action::Move {
                            tablet: t.id,
                            from: *from,
                            to: *to,
                            why: "replica counts differ by more than one",
                        }
                    } else if let Some(other) = t.voters.iter().find(|v| *v != from) {
                        Action::Lead {
                            tablet: t.id,
                            from: *from,
                            to: *other,
                            why: "the replica to move leads",
                        }
                    } else {
                        continue;
                    };
                    let gain = 2 * (f - e) + usize::from(*from != t.leader);
                    consider(gain, action, &mut best);
                }
            }
        }
        if let Some((_, action)) = best {
            return Some(action);
        }
        // 4. Leader counts: hand a leadership to the voter of its tablet
        // with the fewest, where that evens things most.
        let mut best: Option<(usize, Action)> = None;
        for t in self.tablets.iter().filter(|t| t.id != META_TABLET) {
            let l = count(&leaders, &t.leader);
            for to in t
                .voters
                .iter()
                .filter(|v| **v != t.leader && candidates.contains(v))
            {
                let e = count(&leaders, to);
                if l > e + 1 {
                    consider(
                        l - e,
                        Action::Lead {
                            tablet: t.id,
                            from: t.leader,
                            to: *to,
                            why: "leader counts differ by more than one",
                        },
                        &mut best,
                    );
                }
            }
        }
        if let Some((_, action)) = best {
            return Some(action);
        }
        if let Some(action) = self.leader_chain(&candidates, &leaders) {
            return Some(action);
        }
        // 5. Leadership toward the load: a tablet most of whose recent
        // requests come from another of its voters leads there, if the
        // leader counts stay within one (a hand-off moves no data: cheap).
        let spread_after = |from: NodeId, to: NodeId| {
            let mut after = leaders.clone();
            after.entry(from).and_modify(|c| *c = c.saturating_sub(1));
            *after.entry(to).or_default() += 1;
            let (min, max) = (after.values().min(), after.values().max());
            matches!((min, max), (Some(a), Some(b)) if *b <= a + 1)
        };
        let mut best: Option<(u64, Action)> = None;
        for t in self.tablets.iter().filter(|t| t.id != META_TABLET) {
            let Some(recent) = self.recent.get(&t.id) else {
                continue;
            };
            let total: u64 = recent.values().sum();
            let Some((&to, &n)) = recent
                .iter()
                .max_by_key(|(node, n)| (**n, std::cmp::Reverse(**node)))
            else {
                continue;
            };
            if total < FOLLOW_MIN_REQUESTS
                || (n as f64) < FOLLOW_SHARE * total as f64
                || to == t.leader
                || !t.voters.contains(&to)
                || !candidates.contains(&to)
                || !spread_after(t.leader, to)
            {
                continue;
            }
            if best.as_ref().is_none_or(|(b, _)| n > *b) {
                best = Some((
                    n,
                    Action::Lead {
                        tablet: t.id,
                        from: t.leader,
                        to,
                        why: "most of its requests come from there",
                    },
                ));
            }
        }
        best.map(|(_, action)| action)
    }

    /// Fills in `recent` from the counts the leaders reported and the
    /// counts remembered from the last round (then remembers these).
    fn note_recent(&mut self, memory: &AllocatorMemory) {
        let mut last = memory
            .sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for t in &self.tablets {
            if let Some((leader, before)) = last.get(&t.id)
                && *leader == t.leader
            {
                let delta: BTreeMap<NodeId, u64> = t
                    .requests_from
                    .iter()
                    .map(|(n, c)| (*n, c.saturating_sub(before.get(n).copied().unwrap_or(0))))
                    .filter(|(_, c)| *c > 0)
                    .collect();
                self.recent.insert(t.id, delta);
            }
        }
        *last = self
            .tablets
            .iter()
            .map(|t| (t.id, (t.leader, t.requests_from.clone())))
            .collect();
    }

    /// The shortest chain of hand-offs (each from a tablet's leader to one
    /// of its voters) from a node with the most leaderships to one with at
    /// least two fewer, if the counts are uneven and such a chain exists.
    fn leader_chain(
        &self,
        candidates: &BTreeSet<NodeId>,
        leaders: &BTreeMap<NodeId, usize>,
    ) -> Option<Action> {
        let max = leaders.values().copied().max()?;
        let low: BTreeSet<NodeId> = leaders
            .iter()
            .filter(|(_, c)| **c + 2 <= max)
            .map(|(n, _)| *n)
            .collect();
        if low.is_empty() {
            return None;
        }
        // Breadth first from every busiest node; `came_from[b] = (a, t)`:
        // reached b by handing tablet t from a.
        let mut came_from: BTreeMap<NodeId, (NodeId, TabletId)> = BTreeMap::new();
        let mut frontier: std::collections::VecDeque<NodeId> = leaders
            .iter()
            .filter(|(_, c)| **c == max)
            .map(|(n, _)| *n)
            .collect();
        let mut seen: BTreeSet<NodeId> = frontier.iter().copied().collect();
        let end = 'search: loop {
            let a = frontier.pop_front()?;
            for t in self
                .tablets
                .iter()
                .filter(|t| t.id != META_TABLET && t.leader == a)
            {
                for b in t.voters.iter().filter(|v| candidates.contains(v)) {
                    if seen.insert(*b) {
                        came_from.insert(*b, (a, t.id));
                        if low.contains(b) {
                            break 'search *b;
                        }
                        frontier.push_back(*b);
                    }
                }
            }
        };
        let mut hops = Vec::new();
        let mut at = end;
        while let Some(&(from, tablet)) = came_from.get(&at) {
            hops.push((tablet, from, at));
            at = from;
        }
        hops.reverse();
        Some(Action::Rotate {
            hops,
            why: "leader counts differ by more than one",
        })
    }
}

/// Runs the allocator until the node stops.
pub(crate) async fn allocator_loop(ctx: Arc<NodeContext>, settings: AllocatorSettings) {
    if settings.every.is_zero() {
        return;
    }
    loop {
        tokio::time::sleep(settings.every).await;
        let leads_meta = ctx
            .store
            .replica(META_TABLET)
            .is_some_and(|r| r.is_serving());
        if !leads_meta {
            continue;
        }
        match round(&ctx, settings).await {
            Ok(Some(done)) => tracing::info!(node = ctx.node_id, "allocator: {done}"),
            Err(e) => tracing::info!(node = ctx.node_id, "allocator: {e}"),
            Ok(None) => {}
        }
    }
}

/// One round: looks at the cluster, makes at most one change; says what it
/// did.
async fn round(ctx: &NodeContext, settings: AllocatorSettings) -> Result<Option<String>, String> {
    let views = cluster(ctx).await;
    let mut picture = Picture::from_views(&views);
    let now = Instant::now();
    {
        let mut seen = ctx
            .allocator
            .last_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for v in &views {
            let last = seen.entry(v.id).or_insert(now);
            if v.status.is_ok() {
                *last = now;
            } else if now.duration_since(*last) >= settings.dead_after {
                picture.dead.insert(v.id);
            }
        }
    }
    picture.decommissioned = decommissioned(ctx).await?;
    picture.note_recent(&ctx.allocator);
    // Deleting a leftover copies nothing: it does not count as the round's
    // change.
    if let Some((tablet, node)) = old_leftover(&ctx.allocator, &views, settings.leftover_after) {
        match destroy_leftover(ctx, &views, tablet, node).await {
            Ok(()) => tracing::info!(tablet, node, "allocator: deleted a leftover replica"),
            Err(e) => tracing::info!(tablet, node, "allocator: deleting a leftover replica: {e}"),
        }
    }
    let Some(action) = picture.decide() else {
        return Ok(None);
    };
    // A move waits for the new replica to catch up; one that cannot (its
    // node went away meanwhile) must not stop the allocator for good.
    tokio::time::timeout(ACTION_TIMEOUT, apply(ctx, &views, &action))
        .await
        .map_err(|_| format!("{action:?} did not finish within {ACTION_TIMEOUT:?}"))??;
    Ok(Some(format!("{action:?}")))
}

/// The nodes marked decommissioned in the meta tablet.
pub(crate) async fn decommissioned(ctx: &NodeContext) -> Result<BTreeSet<NodeId>, String> {
    Ok(ctx
        .gateway
        .scan(&decommissioned_keys(), 0)
        .await
        .map_err(|e| format!("reading decommissioned nodes: {e}"))?
        .into_iter()
        .filter_map(|(k, _)| decommissioned_node_of(&k))
        .collect())
}

/// Replicas their tablet's group does not have (not a voter nor a learner
/// of the group as its leader reports it), on nodes that answered; a
/// tablet frozen for a merge, or merging one in, is left to the merge.
fn leftovers(views: &[NodeView]) -> BTreeSet<(TabletId, NodeId)> {
    let statuses = || {
        views
            .iter()
            .filter_map(|v| v.status.as_ref().ok().map(|s| (v.id, s)))
    };
    let mut members: BTreeMap<TabletId, BTreeSet<NodeId>> = BTreeMap::new();
    let mut merging = BTreeSet::new();
    for (_, s) in statuses() {
        for t in &s.tablets {
            let Some(d) = &t.descriptor else { continue };
            if t.frozen_into != 0 {
                merging.extend([t.frozen_into, d.tablet_id]);
            }
            if t.is_leader {
                members.insert(
                    d.tablet_id,
                    d.replicas.iter().chain(&d.learners).copied().collect(),
                );
            }
        }
    }
    let mut out = BTreeSet::new();
    for (node, s) in statuses() {
        for d in s.tablets.iter().filter_map(|t| t.descriptor.as_ref()) {
            if !merging.contains(&d.tablet_id)
                && members
                    .get(&d.tablet_id)
                    .is_some_and(|m| !m.contains(&node))
            {
                out.insert((d.tablet_id, node));
            }
        }
    }
    out
}

/// A leftover replica seen in every round for at least `after`, if any
/// (the memory keeps only those seen this round).
fn old_leftover(
    memory: &AllocatorMemory,
    views: &[NodeView],
    after: Duration,
) -> Option<(TabletId, NodeId)> {
    let now = Instant::now();
    let seen = leftovers(views);
    let mut since = memory
        .leftovers
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    since.retain(|k, _| seen.contains(k));
    for k in &seen {
        since.entry(*k).or_insert(now);
    }
    since
        .iter()
        .find(|(_, t)| now.duration_since(**t) >= after)
        .map(|(k, _)| *k)
}

/// Deletes `node`'s replica of `tablet` (its group no longer has it).
async fn destroy_leftover(
    ctx: &NodeContext,
    views: &[NodeView],
    tablet: TabletId,
    node: NodeId,
) -> Result<(), String> {
    let addr = views
        .iter()
        .find(|v| v.id == node)
        .map(|v| v.addr.clone())
        .ok_or_else(|| format!("node {node} is not known"))?;
    let resp = ctx
        .store
        .peers()
        .channel(&addr)
        .map(AdminServiceClient::new)
        .map_err(|e| e.to_string())?
        .destroy_replica(DestroyReplicaRequest { tablet_id: tablet })
        .await
        .map_err(|s| s.message().to_string())?
        .into_inner();
    if resp.error.is_empty() {
        ctx.allocator
            .leftovers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(tablet, node));
        Ok(())
    } else {
        Err(resp.error)
    }
}

/// Asks the tablet's leader to carry `action` out.
async fn apply(ctx: &NodeContext, views: &[NodeView], action: &Action) -> Result<(), String> {
    let leader_addr = |tablet: TabletId| {
        views
            .iter()
            .find(|v| {
                v.status.as_ref().is_ok_and(|s| {
                    s.tablets.iter().any(|t| {
                        t.is_leader && t.descriptor.as_ref().is_some_and(|d| d.tablet_id == tablet)
                    })
                })
            })
            .map(|v| v.addr.clone())
            .ok_or_else(|| format!("tablet {tablet} has no leader now"))
    };
    let client = |addr: String| async move {
        ctx.store
            .peers()
            .channel(&addr)
            .map(AdminServiceClient::new)
            .map_err(|e| e.to_string())
    };
    let lead = |tablet: TabletId, to: NodeId| async move {
        let r = client(leader_addr(tablet)?)
            .await?
            .transfer_leader(TransferLeaderRequest {
                tablet_id: tablet,
                to_node_id: to,
            })
            .await
            .map_err(|s| s.message().to_string())?
            .into_inner();
        if r.error.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "handing tablet {tablet}'s leadership to node {to}: {}",
                r.error
            ))
        }
    };
    match *action {
        Action::Move {
            tablet, from, to, ..
        } => {
            let r = client(leader_addr(tablet)?)
                .await?
                .change_replicas(ChangeReplicasRequest {
                    tablet_id: tablet,
                    add_node_id: to,
                    remove_node_id: from,
                })
                .await
                .map_err(|s| s.message().to_string())?
                .into_inner();
            if !r.error.is_empty() {
                return Err(format!(
                    "moving tablet {tablet} from {from} to {to}: {}",
                    r.error
                ));
            }
        }
        Action::Lead { tablet, to, .. } => lead(tablet, to).await?,
        Action::Rotate { ref hops, .. } => {
            for &(tablet, _, to) in hops.iter().rev() {
                lead(tablet, to).await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(live: &[NodeId], tablets: &[(TabletId, NodeId, &[NodeId])]) -> Picture {
        Picture {
            live: live.iter().copied().collect(),
            tablets: tablets
                .iter()
                .map(|(id, leader, voters)| TabletView {
                    id: *id,
                    leader: *leader,
                    voters: voters.iter().copied().collect(),
                    requests_from: BTreeMap::new(),
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn leadership_follows_the_load_when_the_counts_allow() {
        // Four data tablets on three nodes: leader counts 2, 1, 1.
        let mut p = picture(
            &[1, 2, 3],
            &[
                (2, 1, &[1, 2, 3]),
                (3, 1, &[1, 2, 3]),
                (4, 2, &[1, 2, 3]),
                (5, 3, &[1, 2, 3]),
            ],
        );
        let memory = AllocatorMemory::default();
        let report = |p: &mut Picture, counts: &[(TabletId, &[(NodeId, u64)])]| {
            for t in &mut p.tablets {
                if let Some((_, c)) = counts.iter().find(|(id, _)| *id == t.id) {
                    t.requests_from = c.iter().copied().collect();
                }
            }
        };
        // The first round only remembers the counts.
        report(&mut p, &[(3, &[(1, 10), (3, 10)]), (4, &[(2, 500)])]);
        p.note_recent(&memory);
        assert!(p.recent.is_empty());
        assert_eq!(p.decide(), None);
        // Then tablet 3 (led by node 1) gets 90 requests from node 3 and 5
        // from node 1: it moves to node 3 (counts 1, 1, 2).
        report(&mut p, &[(3, &[(1, 15), (3, 100)]), (4, &[(2, 500)])]);
        p.recent.clear();
        p.note_recent(&memory);
        assert_eq!(
            p.decide(),
            Some(Action::Lead {
                tablet: 3,
                from: 1,
                to: 3,
                why: "most of its requests come from there"
            })
        );
        // Load split evenly, or too little of it, moves nothing.
        report(&mut p, &[(3, &[(1, 65), (3, 150)])]);
        p.recent.clear();
        p.note_recent(&memory);
        assert_eq!(p.decide(), None);
        report(&mut p, &[(3, &[(1, 65), (3, 190)])]);
        p.recent.clear();
        p.note_recent(&memory);
        assert_eq!(p.recent[&3], BTreeMap::from([(3, 40)]));
        assert_eq!(p.decide(), None);
        // Nor where it would unbalance the counts: tablet 4 (node 2, one
        // leadership) loaded from node 1 (two).
        report(&mut p, &[(4, &[(2, 500), (1, 200)])]);
        p.recent.clear();
        p.note_recent(&memory);
        assert_eq!(p.decide(), None);
    }

    #[test]
    fn new_nodes_get_replicas_from_the_fullest_never_its_leader() {
        let p = picture(
            &[1, 2, 3, 4],
            &[(2, 1, &[1, 2, 3]), (3, 2, &[1, 2, 3]), (4, 3, &[1, 2, 3])],
        );
        // 3, 3, 3, 0: a replica that does not lead moves to node 4 (the
        // first such: tablet 2's on node 2).
        assert_eq!(
            p.decide(),
            Some(Action::Move {
                tablet: 2,
                from: 2,
                to: 4,
                why: "replica counts differ by more than one"
            })
        );
        let balanced = picture(
            &[1, 2, 3, 4],
            &[(2, 1, &[1, 2, 3]), (3, 2, &[2, 3, 4]), (4, 4, &[1, 3, 4])],
        );
        assert_eq!(balanced.decide(), None);
    }

    #[test]
    fn dead_and_decommissioned_nodes_lose_their_replicas_first() {
        let mut p = picture(
            &[1, 2, 3, 5],
            &[(2, 1, &[1, 2, 4]), (3, 5, &[1, 2, 5]), (1, 1, &[1, 2, 3])],
        );
        p.dead.insert(4);
        assert_eq!(
            p.decide(),
            Some(Action::Move {
                tablet: 2,
                from: 4,
                to: 3,
                why: "its node is dead"
            })
        );
        p.dead.clear();
        p.decommissioned.insert(5);
        // Node 5 leads tablet 3: the leadership goes first.
        assert_eq!(
            p.decide(),
            Some(Action::Lead {
                tablet: 3,
                from: 5,
                to: 1,
                why: "its node is decommissioned"
            })
        );
        let mut q = picture(&[1, 2, 3, 5], &[(3, 1, &[1, 2, 5])]);
        q.decommissioned.insert(5);
        assert_eq!(
            q.decide(),
            Some(Action::Move {
                tablet: 3,
                from: 5,
                to: 3,
                why: "its node is decommissioned"
            })
        );
    }

    #[test]
    fn any_tablet_that_allows_it_evens_the_counts() {
        // Replicas even (5 or 6 each), leaders 1, 2, 3, 3, 0 — the kind of
        // state that stalled a run when only the busiest node by id and
        // the idlest were looked at together. The largest step toward
        // even: a leadership of node 3 or 4 to node 5 (tablet 6 first).
        let p = picture(
            &[1, 2, 3, 4, 5],
            &[
                (2, 1, &[1, 2, 3]),
                (3, 2, &[2, 3, 4]),
                (4, 2, &[2, 4, 5]),
                (5, 3, &[1, 3, 4]),
                (6, 3, &[1, 3, 5]),
                (7, 3, &[2, 3, 5]),
                (8, 4, &[1, 4, 5]),
                (9, 4, &[1, 2, 5]),
                (10, 4, &[3, 4, 5]),
            ],
        );
        assert_eq!(
            p.decide(),
            Some(Action::Lead {
                tablet: 6,
                from: 3,
                to: 5,
                why: "leader counts differ by more than one"
            })
        );
    }

    #[test]
    fn leaders_spread_once_replicas_are_even() {
        let p = picture(
            &[1, 2, 3],
            &[(2, 1, &[1, 2, 3]), (3, 1, &[1, 2, 3]), (4, 1, &[1, 2, 3])],
        );
        assert_eq!(
            p.decide(),
            Some(Action::Lead {
                tablet: 2,
                from: 1,
                to: 2,
                why: "leader counts differ by more than one"
            })
        );
    }

    #[test]
    fn leaders_move_along_a_chain_when_no_single_hand_off_evens_them() {
        // Node 3 leads three tablets whose other voters (1 and 2) lead two
        // each; nodes 4 and 5 lead one. No hand-off from node 3 evens
        // anything; node 3 → 1 → 4 does.
        let p = picture(
            &[1, 2, 3, 4, 5],
            &[
                (2, 3, &[1, 2, 3]),
                (3, 3, &[1, 2, 3]),
                (4, 3, &[1, 2, 3]),
                (5, 1, &[1, 4, 5]),
                (6, 1, &[1, 2, 3]),
                (7, 2, &[2, 4, 5]),
                (8, 2, &[1, 2, 3]),
                (9, 4, &[3, 4, 5]),
                (10, 5, &[3, 4, 5]),
            ],
        );
        let (_, leaders) = p.counts();
        assert_eq!(
            p.leader_chain(&p.candidates(), &leaders),
            Some(Action::Rotate {
                hops: vec![(2, 3, 1), (5, 1, 4)],
                why: "leader counts differ by more than one"
            })
        );
        // Even counts: no chain.
        let even = picture(&[1, 2], &[(2, 1, &[1, 2]), (3, 2, &[1, 2])]);
        let (_, leaders) = even.counts();
        assert_eq!(even.leader_chain(&even.candidates(), &leaders), None);
    }
}
