//! openraft's `RaftLogStorage` for one tablet, over the node's shared
//! [`RaftLogStore`] (every group's log in the one node WAL).
//!
//! The storage crate implements openraft 0.9's semantics without knowing
//! openraft; this file only converts types and wires the durability callback:
//! `append` returns once the entries are readable, and `LogFlushed` is called
//! from a spawned task after the WAL fsync that covers them.

use std::fmt::Debug;
use std::ops::RangeBounds;
use std::sync::Arc;

use tokio::sync::watch;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, LogState, OptionalSend, RaftLogReader};
use spanlite_storage::raftlog::{GroupId, RaftLogError, RaftLogStore};

use super::codec::{
    decode_entry, decode_stored, encode_entry, encode_stored, io_error, to_raft_log_id,
    to_store_log_id,
};
use super::types::{Entry, RaftLogId, RaftStorageError, RaftVote, TypeConfig};

/// One tablet's Raft log: a view of the node's [`RaftLogStore`] for one group.
/// Cheap to clone (the log reader openraft asks for is a clone).
#[derive(Clone, Debug)]
pub struct TabletLogStore {
    store: RaftLogStore,
    group: GroupId,
    /// Counts the appends openraft began: each time, the group waits for
    /// the fsync before it takes its next client write (openraft 0.9), so
    /// a leader's proposer knows when to hand it the next batch.
    appends: Arc<watch::Sender<u64>>,
}

impl TabletLogStore {
    /// The log of `group` in `store`.
    pub fn new(store: RaftLogStore, group: GroupId) -> Self {
        Self {
            store,
            group,
            appends: Arc::new(watch::Sender::new(0)),
        }
    }

    /// Follows the number of appends begun on this log.
    pub fn appends(&self) -> watch::Receiver<u64> {
        self.appends.subscribe()
    }
}

fn log_err(verb: ErrorVerb, e: RaftLogError) -> RaftStorageError {
    io_error(ErrorSubject::Logs, verb, e.to_string())
}

fn vote_err(verb: ErrorVerb, e: impl ToString) -> RaftStorageError {
    io_error(ErrorSubject::Vote, verb, e.to_string())
}

/// The most entry bytes one AppendEntries carries (a single larger entry
/// goes alone). openraft 0.9 gives an AppendEntries one heartbeat to be
/// sent, appended, fsynced and answered; a lagging follower's catch-up
/// batch of `max_payload_entries` large entries (megabytes) never made it in
/// time, so the follower never caught up and the leader never heard its
/// answers — not even that it had moved to a higher term.
pub const MAX_BATCH_BYTES: usize = 256 << 10;

/// Entries fetched at a time while filling a batch.
const FETCH_STEP: u64 = 16;

impl RaftLogReader<TypeConfig> for TabletLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, RaftStorageError> {
        // NB: older entries are read back from WAL segments with blocking
        // file reads; they are rare (a lagging follower) and short.
        let entries = self
            .store
            .entries(self.group, range)
            .map_err(|e| log_err(ErrorVerb::Read, e))?;
        entries.iter().map(decode_entry).collect()
    }

    /// The entries of `[start, end)` up to [`MAX_BATCH_BYTES`] (at least
    /// one): what replication sends in one AppendEntries.
    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, RaftStorageError> {
        let mut raw = Vec::new();
        let mut bytes = 0;
        let mut next = start;
        'fill: while next < end {
            let step_end = end.min(next.saturating_add(FETCH_STEP));
            let got = self
                .store
                .entries(self.group, next..step_end)
                .map_err(|e| log_err(ErrorVerb::Read, e))?;
            if got.is_empty() {
                break;
            }
            for e in got {
                if !raw.is_empty() && bytes + e.payload.len() > MAX_BATCH_BYTES {
                    break 'fill;
                }
                bytes += e.payload.len();
                next = e.log_id.index + 1;
                raw.push(e);
            }
        }
        raw.iter().map(decode_entry).collect()
    }
}

impl RaftLogStorage<TypeConfig> for TabletLogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, RaftStorageError> {
        let state = self.store.log_state(self.group);
        Ok(LogState {
            last_purged_log_id: state.last_purged.as_ref().map(to_raft_log_id),
            last_log_id: state.last.as_ref().map(to_raft_log_id),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &RaftVote) -> Result<(), RaftStorageError> {
        let bytes = encode_stored(vote).map_err(|e| vote_err(ErrorVerb::Write, e))?;
        self.store
            .save_vote(self.group, bytes.into())
            .await
            .map_err(|e| vote_err(ErrorVerb::Write, e))
    }

    async fn read_vote(&mut self) -> Result<Option<RaftVote>, RaftStorageError> {
        match self.store.read_vote(self.group) {
            None => Ok(None),
            Some(bytes) => decode_stored(&bytes)
                .map(Some)
                .map_err(|e| vote_err(ErrorVerb::Read, e)),
        }
    }

    async fn save_committed(
        &mut self,
        committed: Option<RaftLogId>,
    ) -> Result<(), RaftStorageError> {
        self.store
            .save_committed(self.group, committed.as_ref().map(to_store_log_id))
            .map_err(|e| log_err(ErrorVerb::Write, e))
    }

    async fn read_committed(&mut self) -> Result<Option<RaftLogId>, RaftStorageError> {
        Ok(self
            .store
            .read_committed(self.group)
            .as_ref()
            .map(to_raft_log_id))
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), RaftStorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries = entries
            .into_iter()
            .map(|e| encode_entry(&e))
            .collect::<Result<Vec<_>, _>>()?;
        let durable = self
            .store
            .append(self.group, entries)
            .map_err(|e| log_err(ErrorVerb::Write, e))?;
        self.appends.send_modify(|n| *n += 1);
        // INVARIANT: the callback runs only after the fsync covering the
        // entries (the Durable future resolves then).
        tokio::spawn(async move {
            let result = durable.await.map_err(std::io::Error::other);
            callback.log_io_completed(result);
        });
        Ok(())
    }

    async fn truncate(&mut self, log_id: RaftLogId) -> Result<(), RaftStorageError> {
        self.store
            .truncate(self.group, log_id.index)
            .await
            .map_err(|e| log_err(ErrorVerb::Delete, e))
    }

    async fn purge(&mut self, log_id: RaftLogId) -> Result<(), RaftStorageError> {
        // Precondition of RaftLogStore::purge (purge after flush): the state
        // machine flushes the engine when it builds or installs a snapshot,
        // and openraft purges only entries covered by a snapshot.
        self.store
            .purge(self.group, to_store_log_id(&log_id))
            .await
            .map_err(|e| log_err(ErrorVerb::Delete, e))
    }
}
