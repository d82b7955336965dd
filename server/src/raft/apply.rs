//! Applying a committed log entry to a tablet's MVCC storage: the one
//! deterministic function shared by the live state machine and by recovery's
//! redo pass (so redo produces exactly the batches the live path wrote).
//!
//! Every entry's effects go into one batch together with the tablet's
//! applied index (pageLSN), applied log id and, for membership entries, the
//! membership: after a crash RocksDB holds all of an entry or none of it.

use openraft::EntryPayload;
use spanlite_storage::engine::WriteBatch;
use spanlite_storage::meta::{self, MetaKey, TabletId};
use spanlite_storage::mvcc::Mvcc;
use spanlite_storage::raftlog::LogEntry;
use spanlite_storage::recovery::EntryApplier;
use spanlite_storage::{Result as StorageResult, StorageError};

use serde::{Deserialize, Serialize};
use spanlite_truetime::Timestamp;

use super::codec::{decode_entry, decode_stored, encode_stored};
use super::types::{Command, CommandResponse, Entry, Mutation, RaftLogId, StoredMembership};

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

/// Queues the effects of `entry` on `tablet` into `batch`, with the tablet's
/// applied index and [`AppliedMark`] (advanced in place) and, if it changed,
/// membership. Returns the response for the proposer and the new membership,
/// if the entry set one.
pub fn apply_entry(
    mvcc: &Mvcc,
    tablet: TabletId,
    entry: &Entry,
    mark: &mut AppliedMark,
    batch: &mut WriteBatch,
) -> StorageResult<(CommandResponse, Option<StoredMembership>)> {
    let mut membership = None;
    let response = match &entry.payload {
        EntryPayload::Blank => CommandResponse::None,
        EntryPayload::Normal(command) => {
            mark.max_ts = mark.max_ts.max(command.max_ts());
            apply_command(mvcc, command, batch)
        }
        EntryPayload::Membership(m) => {
            let stored = StoredMembership::new(Some(entry.log_id), m.clone());
            write_membership(batch, tablet, &stored)?;
            membership = Some(stored);
            CommandResponse::None
        }
    };
    mark.log_id = Some(entry.log_id);
    write_mark(batch, tablet, mark)?;
    Ok((response, membership))
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

fn apply_command(mvcc: &Mvcc, command: &Command, batch: &mut WriteBatch) -> CommandResponse {
    match command {
        Command::Write { ts, mutations } => {
            for m in mutations {
                match m {
                    Mutation::Put { key, value } => mvcc.put(batch, key, *ts, value),
                    Mutation::Delete { key } => mvcc.delete(batch, key, *ts),
                }
            }
            CommandResponse::Written { ts: *ts }
        }
        Command::LeaseStart { .. } => CommandResponse::None,
    }
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
    fn apply(
        &mut self,
        tablet: TabletId,
        entry: &LogEntry,
        batch: &mut WriteBatch,
    ) -> StorageResult<()> {
        let entry = decode_entry(entry).map_err(|e| StorageError::Recovery(e.to_string()))?;
        // NB: redo writes one batch per entry, so the stored mark is the
        // previous entry's.
        let (mut mark, _) = load_applied(&self.mvcc, tablet)?;
        apply_entry(&self.mvcc, tablet, &entry, &mut mark, batch).map(drop)
    }
}
