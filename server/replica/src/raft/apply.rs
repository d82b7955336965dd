//! Applying a committed log entry to a tablet's MVCC storage: the one
//! deterministic function shared by the live state machine and by recovery's
//! redo pass (so redo produces exactly the batches the live path wrote).
//!
//! Every entry's effects go into one batch together with the tablet's
//! applied index (pageLSN), applied mark and, when they change, its
//! membership and replica record: after a crash RocksDB holds all of an
//! entry or none of it.
//!
//! A split changes the tablet's range here, deterministically: every replica
//! shrinks its range at the same log position and records the new tablet
//! with the parent's voters, so all replicas start the new group alike.

use std::collections::BTreeMap;

use openraft::EntryPayload;
use serde::{Deserialize, Serialize};
use spanlite_storage::engine::WriteBatch;
use spanlite_storage::meta::{self, MetaKey, TabletId};
use spanlite_storage::mvcc::Mvcc;
use spanlite_storage::raftlog::LogEntry;
use spanlite_storage::recovery::EntryApplier;
use spanlite_storage::{Result as StorageResult, StorageError};
use spanlite_truetime::Timestamp;
use spanlite_txn::apply::{TabletState, apply_command, load_frozen, load_merges, load_txn_records};

use super::codec::decode_entry;
use super::types::{Command, CommandResponse, Entry, Node, NodeId, RaftLogId, StoredMembership};
use spanlite_directory::KeyRange;

/// How far a tablet replica has applied its log: stored under
/// `MetaKey::AppliedLogId` in the batch of each applied entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedMark {
    /// The last applied entry (`None`: nothing applied yet).
    pub log_id: Option<RaftLogId>,
    /// The highest timestamp any applied entry carried (Spanner's `s_max`:
    /// a new leader's timestamps must exceed it).
    pub max_ts: Timestamp,
}

/// A node's record of a replica it hosts (`MetaKey::LocalReplica`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalReplica {
    /// The tablet's key range as of the last applied entry.
    pub range: KeyRange,
    /// Its descriptor generation as of its last split (requests routed
    /// with an older one are refused).
    pub generation: u64,
    /// For a tablet born of a split: no timestamp at or below this was
    /// handed out for its keys (the parent's `s_max` and the split's
    /// floor); its `s_max` starts here.
    pub floor: Timestamp,
    /// For a tablet born of a split: its first voters and their addresses.
    /// Every replica initializes the new group with exactly these (openraft
    /// allows initializing on all members with an identical membership).
    pub initial_members: Option<BTreeMap<NodeId, Node>>,
}

impl LocalReplica {
    /// False for the record of a split-born tablet whose first voters do
    /// not include `node`: the node held the parent as a learner (a
    /// replica being added) when it split. Unless the new tablet's group
    /// already runs here (moved to this node before it applied the split),
    /// it is no member of that group and must not start it (openraft
    /// refuses to initialize a group without itself).
    pub fn is_member(&self, node: NodeId) -> bool {
        self.initial_members
            .as_ref()
            .is_none_or(|members| members.contains_key(&node))
    }
}

/// The state applying reads and advances, besides the data.
#[derive(Clone, Debug)]
pub struct ApplyState {
    /// The last applied entry.
    pub log_id: Option<RaftLogId>,
    /// The tablet's transactional state (`s_max`, range, generation, 2PC
    /// records).
    pub tablet: TabletState,
    /// The last applied membership.
    pub membership: StoredMembership,
}

impl ApplyState {
    /// The applied mark to store.
    pub fn mark(&self) -> AppliedMark {
        AppliedMark {
            log_id: self.log_id,
            max_ts: self.tablet.max_ts,
        }
    }
}

/// A split applied by an entry: the node must start the new tablet's group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitApplied {
    /// The new tablet.
    pub right: TabletId,
    /// Its record (range and initial members).
    pub replica: LocalReplica,
    /// The split tablet's new generation.
    pub left_generation: u64,
}

/// A change of ranges applied by an entry or a snapshot, for the node to
/// act on (start a new tablet's group, retire a merged one, serve a new
/// range).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeEvent {
    /// The tablet split: start the new tablet's group.
    Split(SplitApplied),
    /// The tablet took over its frozen right neighbour `right`: retire
    /// that replica here (its data stays: it is now this tablet's).
    Merged {
        /// The merged-away tablet.
        right: TabletId,
        /// This tablet's new range.
        range: KeyRange,
        /// Its new generation.
        generation: u64,
    },
    /// A snapshot replaced the tablet's state: serve its range, and retire
    /// any replica here that was frozen into this tablet and that the
    /// range now covers.
    Installed {
        /// The range the snapshot brought.
        range: KeyRange,
        /// Its generation.
        generation: u64,
    },
}

/// True when the group is one configuration of exactly `voters` (no joint
/// configuration, no learners): a merge's two groups must be.
fn membership_is(membership: &StoredMembership, voters: &[NodeId]) -> bool {
    let m = membership.membership();
    let mut have: Vec<NodeId> = m.voter_ids().collect();
    have.sort_unstable();
    let mut want = voters.to_vec();
    want.sort_unstable();
    m.get_joint_config().len() == 1 && m.nodes().count() == have.len() && have == want
}

/// Queues the effects of `entry` on `tablet` into `batch` and advances
/// `state`. Returns the response for the proposer and the change of
/// ranges it applied, if any.
pub fn apply_entry(
    mvcc: &Mvcc,
    tablet: TabletId,
    entry: &Entry,
    state: &mut ApplyState,
    batch: &mut WriteBatch,
) -> StorageResult<(CommandResponse, Option<RangeEvent>)> {
    let mut event = None;
    let joint = state.membership.membership().get_joint_config().len() != 1;
    let response = match &entry.payload {
        EntryPayload::Blank => CommandResponse::None,
        // A split waits for a membership change in progress to end: the new
        // tablet's voters must be one configuration. So does a freeze (the
        // merge needs both groups' voters settled).
        EntryPayload::Normal(command @ Command::Split { .. }) if joint => {
            state.tablet.max_ts = state.tablet.max_ts.max(command.max_ts());
            CommandResponse::SplitRefused
        }
        EntryPayload::Normal(command @ Command::Freeze { .. }) if joint => {
            state.tablet.max_ts = state.tablet.max_ts.max(command.max_ts());
            CommandResponse::FreezeRefused
        }
        // A merge takes the right neighbour's keys from this node's engine:
        // every replica of this group must be on a node that held a frozen
        // replica of it, so the groups must have the same voters and no
        // one else.
        EntryPayload::Normal(command @ Command::Merge { voters, .. })
            if !membership_is(&state.membership, voters) =>
        {
            state.tablet.max_ts = state.tablet.max_ts.max(command.max_ts());
            CommandResponse::MergeRefused
        }
        EntryPayload::Normal(command) => {
            let (response, out) = apply_command(mvcc, tablet, command, &mut state.tablet, batch)?;
            if let Some(out) = out {
                event = Some(RangeEvent::Split(record_split(tablet, state, out, batch)?));
            }
            if let (Command::Merge { right, .. }, CommandResponse::Merged { range }) =
                (command, &response)
            {
                let record = LocalReplica {
                    range: range.clone(),
                    generation: state.tablet.generation,
                    floor: Timestamp::MIN,
                    initial_members: None,
                };
                write_local_replica(batch, tablet, &record)?;
                event = Some(RangeEvent::Merged {
                    right: *right,
                    range: range.clone(),
                    generation: state.tablet.generation,
                });
            }
            response
        }
        EntryPayload::Membership(m) => {
            let stored = StoredMembership::new(Some(entry.log_id), m.clone());
            write_membership(batch, tablet, &stored)?;
            state.membership = stored;
            CommandResponse::None
        }
    };
    state.log_id = Some(entry.log_id);
    write_mark(batch, tablet, &state.mark())?;
    Ok((response, event))
}

/// The node's records of a split: the left tablet's new range and
/// generation, and the new tablet's record with the parent's voters (so
/// all replicas start its group alike) and its floor (its first `s_max`,
/// so its leaders start above what the parent handed out).
///
/// NB: only records keyed by the split tablet's own entry are written:
/// redo may repeat this entry after the new tablet applied entries of its
/// own, so nothing of the new tablet's applied state may be written here.
fn record_split(
    tablet: TabletId,
    state: &ApplyState,
    out: spanlite_txn::apply::SplitOut,
    batch: &mut WriteBatch,
) -> StorageResult<SplitApplied> {
    let membership = state.membership.membership();
    let members: BTreeMap<NodeId, Node> = membership
        .voter_ids()
        .filter_map(|id| membership.get_node(&id).map(|n| (id, n.clone())))
        .collect();
    let left = LocalReplica {
        range: state.tablet.range.clone(),
        generation: state.tablet.generation,
        floor: Timestamp::MIN,
        initial_members: None,
    };
    let right = LocalReplica {
        range: out.range,
        generation: 1,
        floor: out.max_ts,
        initial_members: Some(members),
    };
    write_local_replica(batch, tablet, &left)?;
    write_local_replica(batch, out.right, &right)?;
    Ok(SplitApplied {
        right: out.right,
        replica: right,
        left_generation: state.tablet.generation,
    })
}

/// Queues the applied index and [`AppliedMark`] of `tablet`.
pub fn write_mark(
    batch: &mut WriteBatch,
    tablet: TabletId,
    mark: &AppliedMark,
) -> StorageResult<()> {
    meta::set_applied_index(batch, tablet, mark.log_id.map_or(0, |id| id.index))?;
    meta::put_bytes(
        batch,
        &MetaKey::AppliedLogId(tablet),
        meta::encode_value(mark, "raft state")?,
    )
}

/// Queues `membership` as the tablet's applied membership.
pub fn write_membership(
    batch: &mut WriteBatch,
    tablet: TabletId,
    membership: &StoredMembership,
) -> StorageResult<()> {
    meta::put_bytes(
        batch,
        &MetaKey::Membership(tablet),
        meta::encode_value(membership, "raft state")?,
    )
}

/// Queues the node's record of its replica of `tablet`.
pub fn write_local_replica(
    batch: &mut WriteBatch,
    tablet: TabletId,
    record: &LocalReplica,
) -> StorageResult<()> {
    meta::put_bytes(
        batch,
        &MetaKey::LocalReplica(tablet),
        meta::encode_value(record, "raft state")?,
    )
}

/// The node's record of its replica of `tablet`, if it hosts one.
pub fn load_local_replica(mvcc: &Mvcc, tablet: TabletId) -> StorageResult<Option<LocalReplica>> {
    meta::get_bytes(mvcc.engine().as_ref(), &MetaKey::LocalReplica(tablet))?
        .map(|b| meta::decode_value(&b, "local replica"))
        .transpose()
}

/// The applied mark and membership stored for `tablet` (defaults for a new
/// replica).
pub fn load_applied(
    mvcc: &Mvcc,
    tablet: TabletId,
) -> StorageResult<(AppliedMark, StoredMembership)> {
    let engine = mvcc.engine().as_ref();
    let applied = meta::get_bytes(engine, &MetaKey::AppliedLogId(tablet))?
        .map(|b| meta::decode_value(&b, "applied mark"))
        .transpose()?
        .unwrap_or_default();
    let membership = meta::get_bytes(engine, &MetaKey::Membership(tablet))?
        .map(|b| meta::decode_value(&b, "membership"))
        .transpose()?
        .unwrap_or_default();
    Ok((applied, membership))
}

/// Recovery's redo pass applies entries with this: the same code as the live
/// state machine.
#[derive(Debug)]
pub struct TabletApplier {
    mvcc: Mvcc,
}

impl TabletApplier {
    /// An applier writing through `mvcc`.
    pub fn new(mvcc: Mvcc) -> Self {
        Self { mvcc }
    }
}

impl EntryApplier for TabletApplier {
    fn hosts(&mut self, tablet: TabletId) -> StorageResult<bool> {
        Ok(load_local_replica(&self.mvcc, tablet)?.is_some())
    }

    fn apply(
        &mut self,
        tablet: TabletId,
        entry: &LogEntry,
        batch: &mut WriteBatch,
    ) -> StorageResult<()> {
        let entry = decode_entry(entry).map_err(|e| StorageError::Recovery(e.to_string()))?;
        // NB: redo writes one batch per entry, so the stored state is the
        // previous entry's.
        let (mark, membership) = load_applied(&self.mvcc, tablet)?;
        let record = load_local_replica(&self.mvcc, tablet)?.ok_or_else(|| {
            StorageError::Recovery(format!(
                "tablet {tablet} has Raft entries to redo but no replica record"
            ))
        })?;
        let mut state = ApplyState {
            log_id: mark.log_id,
            tablet: TabletState {
                max_ts: mark.max_ts.max(record.floor),
                range: record.range,
                generation: record.generation,
                txns: load_txn_records(&self.mvcc, tablet)?,
                frozen: load_frozen(&self.mvcc, tablet)?,
                merges: load_merges(&self.mvcc, tablet)?,
            },
            membership,
        };
        apply_entry(&self.mvcc, tablet, &entry, &mut state, batch).map(drop)
    }
}
