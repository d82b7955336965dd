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
use spanlite_txn::twopc::TxnRecords;

use super::codec::{decode_entry, decode_stored, encode_stored};
use super::types::{
    Command, CommandResponse, Entry, Mutation, Node, NodeId, RaftLogId, StoredMembership,
};
use crate::directory::KeyRange;

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
    /// For a tablet born of a split: its first voters and their addresses.
    /// Every replica initializes the new group with exactly these (openraft
    /// allows initializing on all members with an identical membership).
    pub initial_members: Option<BTreeMap<NodeId, Node>>,
}

/// The state applying reads and advances, besides the data.
#[derive(Clone, Debug)]
pub struct ApplyState {
    /// Applied mark.
    pub mark: AppliedMark,
    /// The tablet's range.
    pub range: KeyRange,
    /// The last applied membership.
    pub membership: StoredMembership,
    /// The tablet's 2PC records (kept here, not read back from the engine:
    /// a run of entries is applied in one batch the engine has not seen).
    pub txns: TxnRecords,
}

/// A split applied by an entry: the node must start the new tablet's group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitApplied {
    /// The new tablet.
    pub right: TabletId,
    /// Its record (range and initial members).
    pub replica: LocalReplica,
}

/// Queues the effects of `entry` on `tablet` into `batch` and advances
/// `state`. Returns the response for the proposer and the split it applied,
/// if any.
pub fn apply_entry(
    mvcc: &Mvcc,
    tablet: TabletId,
    entry: &Entry,
    state: &mut ApplyState,
    batch: &mut WriteBatch,
) -> StorageResult<(CommandResponse, Option<SplitApplied>)> {
    let mut split = None;
    let response = match &entry.payload {
        EntryPayload::Blank => CommandResponse::None,
        EntryPayload::Normal(command) => {
            state.mark.max_ts = state.mark.max_ts.max(command.max_ts());
            match command {
                Command::Write { ts, mutations } => {
                    apply_write(mvcc, &state.range, *ts, mutations, batch)
                }
                Command::LeaseStart { .. } | Command::SafeTime { .. } => CommandResponse::None,
                Command::Prepare { txn, record } => {
                    super::apply_txn::prepare(mvcc, tablet, state, *txn, record, batch)?
                }
                Command::Resolve { txn, decision } => {
                    super::apply_txn::resolve(mvcc, tablet, state, *txn, *decision, batch)?
                }
                Command::Decide {
                    txn,
                    decision,
                    participants,
                    writes,
                } => super::apply_txn::decide(
                    mvcc,
                    tablet,
                    state,
                    (*txn, *decision),
                    participants,
                    writes,
                    batch,
                )?,
                Command::Forget { txns } => super::apply_txn::forget(tablet, state, txns, batch)?,
                Command::Split { at, right } => match split_at(tablet, state, at, *right, batch)? {
                    Some(applied) => {
                        let response = CommandResponse::Split {
                            right: applied.right,
                            range: applied.replica.range.clone(),
                        };
                        split = Some(applied);
                        response
                    }
                    None => CommandResponse::SplitRefused,
                },
            }
        }
        EntryPayload::Membership(m) => {
            let stored = StoredMembership::new(Some(entry.log_id), m.clone());
            write_membership(batch, tablet, &stored)?;
            state.membership = stored;
            CommandResponse::None
        }
    };
    state.mark.log_id = Some(entry.log_id);
    write_mark(batch, tablet, &state.mark)?;
    Ok((response, split))
}

pub(super) fn apply_write(
    mvcc: &Mvcc,
    range: &KeyRange,
    ts: Timestamp,
    mutations: &[Mutation],
    batch: &mut WriteBatch,
) -> CommandResponse {
    // INVARIANT: a tablet never writes outside its range, even for a write
    // proposed before a split that is applied after it.
    if mutations.iter().any(|m| !range.contains(m.key())) {
        return CommandResponse::WrongTablet;
    }
    for m in mutations {
        match m {
            Mutation::Put { key, value } => mvcc.put(batch, key, ts, value),
            Mutation::Delete { key } => mvcc.delete(batch, key, ts),
        }
    }
    CommandResponse::Written { ts }
}

/// Shrinks the range to `[start, at)` and records the new tablet
/// `[at, end)`, or refuses (`None`) when `at` is not strictly inside the
/// range or a membership change is in flight.
fn split_at(
    tablet: TabletId,
    state: &mut ApplyState,
    at: &[u8],
    right: TabletId,
    batch: &mut WriteBatch,
) -> StorageResult<Option<SplitApplied>> {
    let membership = state.membership.membership();
    // NB: prepared transactions' records belong to this tablet; a split
    // waits until they are resolved.
    if !state.range.can_split_at(at)
        || membership.get_joint_config().len() != 1
        || right == tablet
        || !state.txns.nothing_prepared()
    {
        return Ok(None);
    }
    let members: BTreeMap<NodeId, Node> = membership
        .voter_ids()
        .filter_map(|id| membership.get_node(&id).map(|n| (id, n.clone())))
        .collect();
    let right_range = KeyRange::new(at.to_vec(), state.range.end.clone());
    state.range = KeyRange::new(state.range.start.clone(), at.to_vec());
    let left_record = LocalReplica {
        range: state.range.clone(),
        initial_members: None,
    };
    let right_record = LocalReplica {
        range: right_range,
        initial_members: Some(members),
    };
    write_local_replica(batch, tablet, &left_record)?;
    write_local_replica(batch, right, &right_record)?;
    Ok(Some(SplitApplied {
        right,
        replica: right_record,
    }))
}

/// Queues the applied index and [`AppliedMark`] of `tablet`.
pub fn write_mark(
    batch: &mut WriteBatch,
    tablet: TabletId,
    mark: &AppliedMark,
) -> StorageResult<()> {
    meta::set_applied_index(batch, tablet, mark.log_id.map_or(0, |id| id.index))?;
    meta::put_bytes(batch, &MetaKey::AppliedLogId(tablet), encode(mark)?)
}

/// Queues `membership` as the tablet's applied membership.
pub fn write_membership(
    batch: &mut WriteBatch,
    tablet: TabletId,
    membership: &StoredMembership,
) -> StorageResult<()> {
    meta::put_bytes(batch, &MetaKey::Membership(tablet), encode(membership)?)
}

/// Queues the node's record of its replica of `tablet`.
pub fn write_local_replica(
    batch: &mut WriteBatch,
    tablet: TabletId,
    record: &LocalReplica,
) -> StorageResult<()> {
    meta::put_bytes(batch, &MetaKey::LocalReplica(tablet), encode(record)?)
}

/// The node's record of its replica of `tablet`, if it hosts one.
pub fn load_local_replica(mvcc: &Mvcc, tablet: TabletId) -> StorageResult<Option<LocalReplica>> {
    meta::get_bytes(mvcc.engine().as_ref(), &MetaKey::LocalReplica(tablet))?
        .map(|b| decode(&b, "local replica"))
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
        .map(|b| decode(&b, "applied mark"))
        .transpose()?
        .unwrap_or_default();
    let membership = meta::get_bytes(engine, &MetaKey::Membership(tablet))?
        .map(|b| decode(&b, "membership"))
        .transpose()?
        .unwrap_or_default();
    Ok((applied, membership))
}

/// Encodes a value the Raft glue or the node keeps in the `meta` family.
pub fn encode<T: serde::Serialize>(value: &T) -> StorageResult<Vec<u8>> {
    encode_stored(value).map_err(|e| StorageError::Corrupt {
        what: "raft state",
        cf: "meta",
        reason: format!("cannot encode: {e}"),
    })
}

/// Decodes [`encode`]'s output; `what` names it in the corruption error.
pub fn decode<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
) -> StorageResult<T> {
    decode_stored(bytes).map_err(|reason| StorageError::Corrupt {
        what,
        cf: "meta",
        reason,
    })
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
        let range = load_local_replica(&self.mvcc, tablet)?
            .ok_or_else(|| {
                StorageError::Recovery(format!(
                    "tablet {tablet} has Raft entries to redo but no replica record"
                ))
            })?
            .range;
        let mut state = ApplyState {
            mark,
            range,
            membership,
            txns: super::apply_txn::load_txn_records(&self.mvcc, tablet)?,
        };
        apply_entry(&self.mvcc, tablet, &entry, &mut state, batch).map(drop)
    }
}
