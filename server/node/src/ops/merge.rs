//! Merging a tablet with its right neighbour: by an administrator
//! (`spanlite admin merge`) and on their own, when two neighbours have been
//! small and cold for a while (the auto-splitter's rounds, `split.rs`).
//!
//! ```text
//!   on the node leading both (the right one's leadership is asked over
//!   first), with the same voters and no membership change in progress:
//!   1. Freeze R through R's log (refused while anything there is prepared,
//!      deciding or decided; its lock holders are aborted; R then serves
//!      nothing and closes no timestamp above its floor)
//!   2. every voter of R reports R frozen (Admin.Status): its data is
//!      complete in every node's engine, and will never change again
//!   3. TT.after(R's floor): R's commits are all past their commit wait
//!   4. Merge through L's log: every replica of L widens to [L.start, R.end)
//!      at the same log position (refused unless L's voters are R's, alone)
//!      and retires its node's replica of R (its records and Raft log go,
//!      its data stays: it is L's now)
//!   5. one transaction in the meta tablet: L's new descriptor, R's deleted,
//!      and a mark that R merged away (its questions about transactions it
//!      coordinated are answered abort)
//! ```
//!
//! A merge is finished by whoever leads L: a round that finds a replica
//! frozen into a tablet this node leads runs steps 2–5 again (each is
//! idempotent), so a node that crashed or lost leadership mid-merge leaves
//! R frozen only until L's next leader's round.
//!
//! A replica of R that does not answer step 2 for 10 s may be down, and
//! whether it applied the freeze is unknown, so L's log gives the merge up
//! (`AbandonMerge{R, floor}`: from then on L refuses that merge, or answers
//! that it applied it already) and R's log then unfreezes R; a later round
//! may try again. The merge does not start unless every replica answers.
//! A replica move racing the freeze (both tablets refuse moves once R is
//! frozen, and the allocator leaves them alone) makes step 4 refuse until
//! the voters match again.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spanlite_directory::{META_TABLET, TabletDescriptor, merged_tablet_key};
use spanlite_gateway::TxnOptions;
use spanlite_proto::admin::{StatusRequest, TransferLeaderRequest};
use spanlite_replica::raft::NodeId;
use spanlite_replica::tablet::Replica;
use spanlite_storage::meta::TabletId;

use crate::NodeContext;
use crate::ops::split::leader_replica;
use crate::ops::status::admin_client;

/// One merge at a time in this process (an administrator's and a round's
/// finishing the same merge would race to the same end).
static MERGING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long step 2 waits for every replica of R to apply its freeze.
const FROZEN_EVERYWHERE_WITHIN: Duration = Duration::from_secs(10);

/// Merges `left` with its right neighbour on this node, which must lead
/// `left`. Returns `left`'s new descriptor and the merged-away tablet.
pub async fn merge_tablets(
    ctx: &NodeContext,
    left: TabletId,
) -> Result<(TabletDescriptor, TabletId), String> {
    let _one = MERGING.lock().await;
    let (l, r) = neighbours(ctx, left)?;
    match r.applied().frozen_into() {
        Some(into) if into == left => {}
        Some(into) => {
            return Err(format!(
                "tablet {} is frozen for a merge into tablet {into}",
                r.tablet()
            ));
        }
        None => {
            if l.voters() != r.voters() {
                return Err(format!(
                    "tablets {left} and {} have different replicas ({:?} and {:?}); move one first",
                    r.tablet(),
                    l.voters(),
                    r.voters()
                ));
            }
            // Every replica must apply the freeze before the merge can go
            // on, and R serves nothing meanwhile: start only when all
            // answer.
            for node in r.voters() {
                if node != ctx.node_id {
                    answers(ctx, node).await.map_err(|e| {
                        format!(
                            "node {node} (a replica of tablet {}) does not answer: {e}",
                            r.tablet()
                        )
                    })?;
                }
            }
            if !r.is_serving() {
                ask_leadership(ctx, &r).await?;
                return Err(format!(
                    "tablet {}'s leadership is being moved to node {}; merge again once it leads there",
                    r.tablet(),
                    ctx.node_id
                ));
            }
            r.freeze(left)
                .await
                .map_err(|e| format!("freezing tablet {}: {e}", r.tablet()))?;
            tracing::info!(left, right = r.tablet(), "merge: right tablet frozen");
        }
    }
    complete_merge(ctx, &l, &r).await
}

/// This node's leading replica of `left` and its replica of the tablet
/// starting where `left` ends.
fn neighbours(ctx: &NodeContext, left: TabletId) -> Result<(Arc<Replica>, Arc<Replica>), String> {
    if left == META_TABLET {
        return Err("the meta tablet is not merged".to_string());
    }
    let l = leader_replica(ctx, left)?;
    let end = l.range().end;
    if end.is_empty() {
        return Err(format!(
            "tablet {left} ends the key space: it has no right neighbour"
        ));
    }
    let r = ctx
        .store
        .replicas()
        .into_iter()
        .find(|r| r.range().start == end)
        .ok_or_else(|| {
            format!(
                "node {} holds no replica of tablet {left}'s right neighbour (merged tablets must have the same replicas)",
                ctx.node_id
            )
        })?;
    Ok((l, r))
}

/// Steps 2–5 for `r`, frozen into `l` (which this node leads).
async fn complete_merge(
    ctx: &NodeContext,
    l: &Arc<Replica>,
    r: &Arc<Replica>,
) -> Result<(TabletDescriptor, TabletId), String> {
    let (left, right) = (l.tablet(), r.tablet());
    let frozen = r
        .frozen()
        .ok_or_else(|| format!("tablet {right} is not frozen"))?;
    let voters: Vec<NodeId> = r.voters().into_iter().collect();
    let right_range = r.range();
    match frozen_everywhere(
        ctx,
        (left, right),
        (&right_range.end, frozen.floor),
        &voters,
    )
    .await
    {
        Ok(()) => {}
        Err(NotFrozen::Behind(nodes)) => {
            return Err(format!(
                "tablet {right} is not frozen yet on nodes {nodes:?}; the merge finishes in a later round"
            ));
        }
        Err(NotFrozen::Silent(nodes)) => return abandon(l, r, frozen.floor, &nodes).await,
    }
    let deadline = Instant::now() + FROZEN_EVERYWHERE_WITHIN;
    while let Err(e) = ctx.store.truetime().wait_until_after(frozen.floor).await {
        if Instant::now() > deadline {
            return Err(format!("waiting out tablet {right}'s floor: {e}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ctx.gateway.refresh().await.map_err(|e| e.to_string())?;
    let known = ctx.gateway.cache().tablet(left).map_or(0, |d| d.generation);
    let generation = known.max(l.generation()) + 1;
    let merged_here = |l: &Replica| {
        l.merges()
            .ok()
            .and_then(|m| m.get(&right).copied())
            .is_some_and(|m| m.merged && m.floor == frozen.floor)
    };
    let range = match l
        .merge(
            right,
            (right_range.start, right_range.end),
            frozen.floor,
            generation,
            voters.clone(),
        )
        .await
    {
        Ok(range) => range,
        // Finished meanwhile by another round (its record is the same):
        // record it again, idempotently.
        Err(_) if merged_here(l) => l.range(),
        Err(e) => return Err(e.to_string()),
    };
    let generation = generation.max(l.generation());
    let merged = TabletDescriptor {
        id: left,
        range,
        replicas: voters,
        generation,
    };
    record(ctx, &merged, right).await?;
    tracing::info!(left, right, range = %merged.range, "merged");
    Ok((merged, right))
}

/// Why step 2 did not finish in time.
enum NotFrozen {
    /// These nodes did not answer the last time they were asked: one may
    /// be down, and the merge is given up (the right tablet unfreezes).
    Silent(BTreeSet<NodeId>),
    /// These nodes answered but have not applied the freeze yet.
    Behind(BTreeSet<NodeId>),
}

/// Step 2: every node of `voters` reports its replica of `right` frozen
/// into `left` (or already retired by the merge: its `left` covers it).
async fn frozen_everywhere(
    ctx: &NodeContext,
    (left, right): (TabletId, TabletId),
    (end, floor): (&[u8], spanlite_truetime::Timestamp),
    voters: &[NodeId],
) -> Result<(), NotFrozen> {
    let deadline = Instant::now() + FROZEN_EVERYWHERE_WITHIN;
    let mut waiting: BTreeSet<NodeId> = voters.iter().copied().collect();
    loop {
        let mut behind = BTreeSet::new();
        let mut silent = BTreeSet::new();
        for &node in &waiting {
            match frozen_on(ctx, node, (left, right), (end, floor)).await {
                Ok(true) => {}
                Ok(false) => {
                    behind.insert(node);
                }
                Err(e) => {
                    tracing::debug!(node, right, "merge: asking whether frozen: {e}");
                    silent.insert(node);
                }
            }
        }
        if behind.is_empty() && silent.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(if silent.is_empty() {
                NotFrozen::Behind(behind)
            } else {
                NotFrozen::Silent(silent)
            });
        }
        waiting = behind.union(&silent).copied().collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether node `node`'s replica of `right` applied this freeze (into
/// `left` at `floor`: a replica still frozen by an earlier freeze that was
/// given up has not applied what came after it), or the merge already
/// retired it there (its `left` ends at `end`).
async fn frozen_on(
    ctx: &NodeContext,
    node: NodeId,
    (left, right): (TabletId, TabletId),
    (end, floor): (&[u8], spanlite_truetime::Timestamp),
) -> Result<bool, String> {
    if node == ctx.node_id {
        return Ok(match ctx.store.replica(right) {
            Some(r) => r
                .frozen()
                .is_some_and(|f| f.into == left && f.floor == floor),
            None => ctx
                .store
                .replica(left)
                .is_some_and(|l| l.range().end == end),
        });
    }
    let mut client = admin_client(ctx, node)?;
    let status = tokio::time::timeout(Duration::from_secs(1), client.status(StatusRequest {}))
        .await
        .map_err(|_| "no answer within 1 s".to_string())?
        .map_err(|s| s.message().to_string())?
        .into_inner();
    let of = |id: TabletId| {
        status
            .tablets
            .iter()
            .find(|t| t.descriptor.as_ref().is_some_and(|d| d.tablet_id == id))
    };
    Ok(match of(right) {
        Some(t) => t.frozen_into == left && t.frozen_floor_nanos == floor.as_nanos(),
        None => of(left)
            .and_then(|t| t.descriptor.as_ref())
            .and_then(|d| d.range.as_ref())
            .is_some_and(|range| range.end == end),
    })
}

/// A replica of `r` may be down, so whether it applied the freeze is not
/// known: `l` gives the merge up through its log (after which it never
/// applies it) and `r` unfreezes (here if it leads here, else by its
/// leader's next round, `finish_frozen`). If `l` applied the merge before
/// giving it up, the merge stands and is recorded.
async fn abandon(
    l: &Arc<Replica>,
    r: &Arc<Replica>,
    floor: spanlite_truetime::Timestamp,
    silent: &BTreeSet<NodeId>,
) -> Result<(TabletDescriptor, TabletId), String> {
    let (left, right) = (l.tablet(), r.tablet());
    let abandoned = l
        .abandon_merge(right, floor)
        .await
        .map_err(|e| format!("giving the merge of tablet {right} up: {e}"))?;
    if !abandoned {
        return Err(format!(
            "tablet {left} applied the merge of tablet {right} already; it is recorded in a later round"
        ));
    }
    tracing::warn!(
        left,
        right,
        ?silent,
        "merge given up: replicas did not answer"
    );
    if r.is_serving() {
        r.unfreeze(left, floor)
            .await
            .map_err(|e| format!("unfreezing tablet {right}: {e}"))?;
    }
    Err(format!(
        "merge given up: nodes {silent:?} (replicas of tablet {right}) did not answer; tablet {right} serves again"
    ))
}

/// Whether node `node` answers Admin.Status within a second.
async fn answers(ctx: &NodeContext, node: NodeId) -> Result<(), String> {
    let mut client = admin_client(ctx, node)?;
    match tokio::time::timeout(Duration::from_secs(1), client.status(StatusRequest {})).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(s)) => Err(s.message().to_string()),
        Err(_) => Err("no answer within 1 s".to_string()),
    }
}

/// Step 5: the directory in one transaction.
async fn record(
    ctx: &NodeContext,
    merged: &TabletDescriptor,
    right: TabletId,
) -> Result<(), String> {
    let value = spanlite_storage::meta::encode_value(merged, "tablet descriptor")
        .map_err(|e| e.to_string())?;
    let key = merged.key();
    let left = merged.id;
    ctx.gateway
        .run_txn(&TxnOptions::default(), move |txn| {
            let (key, value) = (key.clone(), value.clone());
            Box::pin(async move {
                txn.put(key, value)?;
                txn.delete(spanlite_directory::descriptor_key(right))?;
                // The mark's value: whom it merged into.
                txn.put(merged_tablet_key(right), left.to_be_bytes().to_vec())?;
                Ok(())
            })
        })
        .await
        .map_err(|e| format!("merge applied, but recording it in the directory failed: {e}"))?;
    let cache = ctx.gateway.cache();
    cache.evict(right);
    cache.insert(merged.clone());
    Ok(())
}

/// Asks `r`'s leader to hand its leadership to this node.
pub(crate) async fn ask_leadership(ctx: &NodeContext, r: &Replica) -> Result<(), String> {
    let leader = r
        .raft()
        .metrics()
        .borrow()
        .current_leader
        .ok_or_else(|| format!("tablet {} has no leader now", r.tablet()))?;
    let resp = admin_client(ctx, leader)?
        .transfer_leader(TransferLeaderRequest {
            tablet_id: r.tablet(),
            to_node_id: ctx.node_id,
        })
        .await
        .map_err(|s| s.message().to_string())?
        .into_inner();
    if resp.error.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "asking node {leader} to hand tablet {} over: {}",
            r.tablet(),
            resp.error
        ))
    }
}

/// Finishes merges left half done: a replica here frozen into a tablet this
/// node leads (its orchestrator crashed or lost leadership) is merged, or
/// unfrozen if its left neighbour gave the merge up. Returns the left
/// tablets of the merges finished.
pub(crate) async fn finish_frozen(ctx: &NodeContext) -> Vec<TabletId> {
    let _one = MERGING.lock().await;
    let mut done = Vec::new();
    for r in ctx.store.replicas() {
        let Some(frozen) = r.frozen() else {
            continue;
        };
        let left = frozen.into;
        let Some(l) = ctx.store.replica(left) else {
            continue;
        };
        let merges = match l.merges() {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(left, right = r.tablet(), "finishing a merge: {e}");
                continue;
            }
        };
        let abandoned = merges
            .get(&r.tablet())
            .is_some_and(|m| !m.merged && m.floor >= frozen.floor);
        if abandoned {
            if r.is_serving()
                && let Err(e) = r.unfreeze(left, frozen.floor).await
            {
                tracing::info!(
                    left,
                    right = r.tablet(),
                    "unfreezing after a merge given up: {e}"
                );
            }
            continue;
        }
        if !l.is_serving() {
            continue;
        }
        match complete_merge(ctx, &l, &r).await {
            Ok(_) => done.push(left),
            Err(e) => tracing::info!(left, right = r.tablet(), "finishing a merge: {e}"),
        }
    }
    done
}
