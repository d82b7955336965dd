//! openraft's `RaftStateMachine` for one tablet replica: applies committed
//! entries to MVCC storage ([`super::apply`]) and builds and installs
//! snapshots ([`super::snapshot`]).

use std::io::Cursor;
use std::sync::{Arc, Mutex, PoisonError};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder, SnapshotMeta};
use spanlite_storage::engine::WriteBatch;
use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::Mvcc;
use spanlite_storage::raftlog::RaftLogStore;
use spanlite_storage::recovery::DirtyTablets;
use spanlite_truetime::Timestamp;
use tokio::sync::{mpsc, watch};

use super::apply::{ApplyState, RangeEvent, apply_entry, load_applied};
use super::codec::io_error;
use super::snapshot;
use super::types::{
    CommandResponse, Entry, Node, NodeId, RaftLogId, RaftStorageError, StoredMembership, TypeConfig,
};

/// What a replica has applied, published after every apply (reads wait on
/// it; the leader's timestamp floor comes from `max_ts`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Index of the last applied entry (0: none).
    pub index: u64,
    /// Highest timestamp carried by an applied entry.
    pub max_ts: Timestamp,
    /// The range's descriptor generation as applied (splits, snapshots).
    pub generation: u64,
    /// Frozen for a merge (into whom, at which floor).
    pub frozen: Option<spanlite_txn::apply::Frozen>,
}

impl Applied {
    /// The left neighbour this tablet is frozen into, if frozen.
    pub fn frozen_into(&self) -> Option<TabletId> {
        self.frozen.map(|f| f.into)
    }
}

/// The last snapshot built or installed, kept for replication.
#[derive(Debug)]
struct CurrentSnapshot {
    meta: SnapshotMeta<NodeId, Node>,
    data: Arc<Vec<u8>>,
}

type Shared<T> = Arc<Mutex<T>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One tablet replica's state machine.
#[derive(Debug)]
pub struct TabletStateMachine {
    tablet: TabletId,
    mvcc: Mvcc,
    state: ApplyState,
    current: Shared<Option<CurrentSnapshot>>,
    applied: watch::Sender<Applied>,
    snapshots_built: u64,
    /// The node's dirty-tablet table (for checkpoints) and Raft log store
    /// (to find the LSN of the entries applied).
    dirty: Arc<DirtyTablets>,
    raftlog: RaftLogStore,
    /// Splits, merges and snapshots applied, for the node to act on.
    splits: mpsc::UnboundedSender<(TabletId, RangeEvent)>,
}

impl TabletStateMachine {
    /// The state machine of `tablet` (owning `range`), resuming from what the
    /// engine holds. Returns it with a receiver of its [`Applied`] progress.
    pub fn open(
        tablet: TabletId,
        mvcc: Mvcc,
        record: &crate::raft::LocalReplica,
        dirty: Arc<DirtyTablets>,
        raftlog: RaftLogStore,
        splits: mpsc::UnboundedSender<(TabletId, RangeEvent)>,
    ) -> Result<(Self, watch::Receiver<Applied>), RaftStorageError> {
        let (mark, membership) = load_applied(&mvcc, tablet)
            .map_err(|e| io_error(ErrorSubject::StateMachine, ErrorVerb::Read, e.to_string()))?;
        let txns = spanlite_txn::apply::load_txn_records(&mvcc, tablet)
            .map_err(|e| io_error(ErrorSubject::StateMachine, ErrorVerb::Read, e.to_string()))?;
        let frozen = spanlite_txn::apply::load_frozen(&mvcc, tablet)
            .map_err(|e| io_error(ErrorSubject::StateMachine, ErrorVerb::Read, e.to_string()))?;
        let merges = spanlite_txn::apply::load_merges(&mvcc, tablet)
            .map_err(|e| io_error(ErrorSubject::StateMachine, ErrorVerb::Read, e.to_string()))?;
        // A tablet born of a split starts above its parent's floor.
        let max_ts = mark.max_ts.max(record.floor);
        let (applied, rx) = watch::channel(Applied {
            index: mark.log_id.map_or(0, |id| id.index),
            max_ts,
            generation: record.generation,
            frozen,
        });
        Ok((
            Self {
                tablet,
                mvcc,
                state: ApplyState {
                    log_id: mark.log_id,
                    tablet: spanlite_txn::apply::TabletState {
                        max_ts,
                        range: record.range.clone(),
                        generation: record.generation,
                        txns,
                        frozen,
                        merges,
                    },
                    membership,
                },
                current: Arc::new(Mutex::new(None)),
                applied,
                snapshots_built: 0,
                dirty,
                raftlog,
                splits,
            },
            rx,
        ))
    }

    fn publish(&self) {
        let applied = Applied {
            index: self.state.log_id.map_or(0, |id| id.index),
            max_ts: self.state.tablet.max_ts,
            generation: self.state.tablet.generation,
            frozen: self.state.tablet.frozen,
        };
        self.applied.send_replace(applied);
    }
}

fn sm_err(verb: ErrorVerb, e: impl ToString) -> RaftStorageError {
    io_error(ErrorSubject::StateMachine, verb, e.to_string())
}

fn snap_err(verb: ErrorVerb, e: impl ToString) -> RaftStorageError {
    io_error(ErrorSubject::Snapshot(None), verb, e.to_string())
}

/// Builds the snapshot captured by `get_snapshot_builder`: flushes the
/// engine (so the log may be purged up to it), then keeps it as current.
#[derive(Debug)]
pub struct TabletSnapshotBuilder {
    mvcc: Mvcc,
    captured: Result<(SnapshotMeta<NodeId, Node>, Vec<u8>), RaftStorageError>,
    current: Shared<Option<CurrentSnapshot>>,
}

impl RaftSnapshotBuilder<TypeConfig> for TabletSnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, RaftStorageError> {
        let (meta, data) = std::mem::replace(
            &mut self.captured,
            Err(snap_err(ErrorVerb::Read, "snapshot builder used twice")),
        )?;
        let engine = self.mvcc.engine().clone();
        tokio::task::spawn_blocking(move || engine.flush())
            .await
            .map_err(|e| snap_err(ErrorVerb::Write, e))?
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        let data = Arc::new(data);
        *lock(&self.current) = Some(CurrentSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        });
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data.as_ref().clone())),
        })
    }
}

impl RaftStateMachine<TypeConfig> for TabletStateMachine {
    type SnapshotBuilder = TabletSnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<RaftLogId>, StoredMembership), RaftStorageError> {
        Ok((self.state.log_id, self.state.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResponse>, RaftStorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        // One atomic batch for the whole run of entries, ending with the
        // last one's applied mark.
        let mut batch = WriteBatch::new();
        // Applied to a copy: if the batch fails, nothing changes.
        let mut state = self.state.clone();
        let mut splits = Vec::new();
        let mut responses = Vec::new();
        let mut first_index = None;
        for entry in entries {
            first_index.get_or_insert(entry.log_id.index);
            let (response, split) =
                apply_entry(&self.mvcc, self.tablet, &entry, &mut state, &mut batch).map_err(
                    |e| {
                        io_error(
                            ErrorSubject::Apply(entry.log_id),
                            ErrorVerb::Write,
                            e.to_string(),
                        )
                    },
                )?;
            splits.extend(split);
            responses.push(response);
        }
        self.mvcc
            .apply(batch)
            .map_err(|e| sm_err(ErrorVerb::Write, e))?;
        if let Some(index) = first_index {
            // recLSN: where redo would have to start for this tablet. An
            // entry committed by followers before the leader's own fsync has
            // no LSN yet; the durable end of the WAL is below it, so it is a
            // safe (earlier) stand-in.
            let lsn = self
                .raftlog
                .lsn_of(self.tablet, index)
                .unwrap_or_else(|| self.raftlog.wal().durable_lsn());
            self.dirty.note_applied(self.tablet, lsn);
        }
        self.state = state;
        for split in splits {
            // The node may be shutting down; the replica record is in the
            // batch either way and the group starts at the next open.
            let _ = self.splits.send((self.tablet, split));
        }
        self.publish();
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.snapshots_built += 1;
        // Runs on the state-machine task: nothing is applied while we scan.
        let captured = snapshot::build(&self.mvcc, self.tablet, &self.state.tablet)
            .map_err(|e| snap_err(ErrorVerb::Read, e))
            .map(|data| {
                let snapshot_id = format!(
                    "t{}-{}-{}",
                    self.tablet,
                    self.state.log_id.map_or(0, |id| id.index),
                    self.snapshots_built
                );
                let meta = SnapshotMeta {
                    last_log_id: self.state.log_id,
                    last_membership: self.state.membership.clone(),
                    snapshot_id,
                };
                (meta, data)
            });
        TabletSnapshotBuilder {
            mvcc: self.mvcc.clone(),
            captured,
            current: self.current.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, RaftStorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, Node>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), RaftStorageError> {
        let data = snapshot.into_inner();
        let mvcc = self.mvcc.clone();
        let tablet = self.tablet;
        let membership = meta.last_membership.clone();
        let (log_id, prior_max_ts) = (meta.last_log_id, self.state.tablet.max_ts);
        let bytes = data.clone();
        let installed = tokio::task::spawn_blocking(move || {
            snapshot::install(&mvcc, tablet, &bytes, log_id, prior_max_ts, &membership)
        })
        .await
        .map_err(|e| snap_err(ErrorVerb::Write, e))?
        .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        tracing::info!(
            tablet = self.tablet,
            snapshot = %meta.snapshot_id,
            keys = installed.keys,
            range = %installed.range,
            "installed snapshot"
        );
        self.state = ApplyState {
            log_id: installed.mark.log_id,
            tablet: spanlite_txn::apply::TabletState {
                max_ts: installed.mark.max_ts,
                range: installed.range,
                generation: installed.generation,
                txns: installed.txns,
                frozen: installed.frozen,
                merges: installed.merges,
            },
            membership: meta.last_membership.clone(),
        };
        *lock(&self.current) = Some(CurrentSnapshot {
            meta: meta.clone(),
            data: Arc::new(data),
        });
        self.publish();
        let _ = self.splits.send((
            self.tablet,
            RangeEvent::Installed {
                range: self.state.tablet.range.clone(),
                generation: self.state.tablet.generation,
            },
        ));
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, RaftStorageError> {
        Ok(lock(&self.current).as_ref().map(|c| Snapshot {
            meta: c.meta.clone(),
            snapshot: Box::new(Cursor::new(c.data.as_ref().clone())),
        }))
    }
}
