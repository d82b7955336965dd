//! The Raft log store: many groups' logs in the one node WAL.

use std::collections::{HashMap, HashSet};
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::codec::RaftRecord;
use super::group::{GroupLog, Location, Slot};
use super::{Durable, GroupId, LogEntry, LogId, LogState, RaftLogError};
use crate::wal::{AppendAck, Lsn, Wal, WalError};

/// Everything the store knows, behind one mutex.
#[derive(Debug, Default)]
pub(super) struct State {
    pub groups: HashMap<GroupId, GroupLog>,
    /// Groups that a remove record removed since the store was created: a
    /// checkpoint snapshot must not bring them back.
    pub removed: HashSet<GroupId>,
    /// Records at or above this LSN may carry metadata that no durable
    /// checkpoint snapshot has yet (see `meta.rs`).
    pub meta_floor: Lsn,
    /// Number of the next entries append, to match WAL completions to slots.
    pub next_append: u64,
}

#[derive(Debug)]
struct Inner {
    wal: Wal,
    cache_bytes_per_group: usize,
    /// NB: shared with WAL completion callbacks, which must not hold the `Wal`
    /// (the last `Wal` handle dropped on the writer thread would stop it).
    state: Arc<Mutex<State>>,
}

/// The Raft logs of every group on this node, stored in the node WAL.
///
/// Semantics are openraft 0.9 storage-v2's (`RaftLogStorage` +
/// `RaftLogReader`), per group, so the adapter is a thin mapping:
///
/// | openraft | here |
/// |---|---|
/// | `get_log_state` | [`RaftLogStore::log_state`] |
/// | `try_get_log_entries(range)` | [`RaftLogStore::entries`] |
/// | `append(entries, callback)` | [`RaftLogStore::append`]: readable when it returns; spawn the returned [`Durable`] and call `callback.log_io_completed` when it resolves |
/// | `save_vote` / `read_vote` | [`RaftLogStore::save_vote`] (await: durable) / [`RaftLogStore::read_vote`] |
/// | `save_committed` / `read_committed` | [`RaftLogStore::save_committed`] (lazily durable) / [`RaftLogStore::read_committed`] |
/// | `truncate(log_id)` | [`RaftLogStore::truncate`]`(group, log_id.index)` (await: durable) |
/// | `purge(log_id)` | [`RaftLogStore::purge`] (await: durable) |
///
/// Every write takes effect in memory and is queued to the WAL before the
/// method returns; the [`Durable`] it returns resolves after the fsync that
/// covers it. Writes of one group reach the WAL in call order (openraft's
/// "all write-IO must be serialized").
///
/// Example (what the adapter's `append` does):
/// ```ignore
/// let durable = store.append(group, entries)?;          // readable now
/// tokio::spawn(async move { callback.log_io_completed(durable.await.map_err(to_io)) });
/// ```
///
/// Lock ordering: the store's one mutex, then the WAL's queue lock (writes
/// are queued while the mutex is held, so WAL order = memory order). The WAL
/// writer thread takes the store's mutex in completion callbacks while it
/// holds no WAL lock. The mutex is never held across an `.await`, a WAL read
/// or an fsync.
///
/// Cheap to clone; clones share the store.
#[derive(Clone, Debug)]
pub struct RaftLogStore {
    inner: Arc<Inner>,
}

pub(super) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where `entries` finds a payload.
enum Fetch {
    Cached(Bytes),
    At(Lsn),
}

impl RaftLogStore {
    /// An empty store writing to `wal`, caching up to `cache_bytes_per_group`
    /// bytes of recent entry payloads per group. Recovery fills it with
    /// [`RaftLogStore::apply_replayed`] and [`RaftLogStore::finish_replay`]
    /// (or builds it with [`RaftLogStore::from_replay`]).
    pub fn new(wal: Wal, cache_bytes_per_group: usize) -> Self {
        let state = State {
            meta_floor: wal.first_lsn(),
            ..State::default()
        };
        Self::with_state(wal, cache_bytes_per_group, state)
    }

    pub(super) fn with_state(wal: Wal, cache_bytes_per_group: usize, state: State) -> Self {
        Self {
            inner: Arc::new(Inner {
                wal,
                cache_bytes_per_group,
                state: Arc::new(Mutex::new(state)),
            }),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.state)
    }

    /// The node WAL this store writes to.
    pub fn wal(&self) -> &Wal {
        &self.inner.wal
    }

    /// Groups with a log or metadata on this node, in order.
    pub fn groups(&self) -> Vec<GroupId> {
        let mut groups: Vec<_> = self.lock().groups.keys().copied().collect();
        groups.sort_unstable();
        groups
    }

    /// The last purged id and the last id (openraft `get_log_state`).
    pub fn log_state(&self, group: GroupId) -> LogState {
        self.lock()
            .groups
            .get(&group)
            .map(GroupLog::log_state)
            .unwrap_or_default()
    }

    /// Appends `entries`, which must be consecutive and follow the group's
    /// last entry (or its last purged id). They are readable as soon as this
    /// returns; the returned [`Durable`] resolves once they are fsynced.
    ///
    /// Errors (nothing changed): [`RaftLogError::NotContiguous`] — truncate
    /// the conflicting suffix first; [`RaftLogError::Wal`] — the WAL is
    /// closed or failed.
    pub fn append(&self, group: GroupId, entries: Vec<LogEntry>) -> Result<Durable, RaftLogError> {
        let Some(head) = entries.first() else {
            return Ok(self.flush());
        };
        let first_index = head.log_id.index;
        let records = entries
            .iter()
            .map(|e| {
                RaftRecord::Entry {
                    group,
                    log_id: e.log_id,
                    payload: e.payload.clone(),
                }
                .encode()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (tx, durable) = Durable::waiting();
        let (budget, shared) = (
            self.inner.cache_bytes_per_group,
            Arc::clone(&self.inner.state),
        );

        let mut state = self.lock();
        let st = &mut *state;
        match st.groups.get(&group) {
            Some(g) => g.check_append(group, &entries)?,
            None => GroupLog::default().check_append(group, &entries)?,
        }
        let append = st.next_append;
        st.next_append += 1;
        // Any LSN the writer assigns from now on is at least this.
        let floor = self.inner.wal.durable_lsn();
        let completion = AppendCompletion {
            state: shared,
            group,
            append,
            first_index,
            budget,
            tx,
        };
        self.inner
            .wal
            .append_with(records, move |result| completion.complete(result))?;
        let g = st.groups.entry(group).or_default();
        for e in entries {
            g.push(Slot {
                log_id: e.log_id,
                at: Location::Pending { append, floor },
                payload: Some(e.payload),
            });
        }
        Ok(durable)
    }

    /// Entries with indexes in `range` that are present, in order (openraft
    /// `try_get_log_entries`; purged or missing indexes are skipped). Cached
    /// payloads come from memory, the others are read back from the WAL.
    ///
    /// Errors: [`RaftLogError::Wal`] if a segment was deleted meanwhile
    /// ([`WalError::Truncated`]: the entries were purged) or is damaged.
    pub fn entries(
        &self,
        group: GroupId,
        range: impl RangeBounds<u64>,
    ) -> Result<Vec<LogEntry>, RaftLogError> {
        let plan: Vec<(LogId, Fetch)> = {
            let state = self.lock();
            let Some(g) = state.groups.get(&group) else {
                return Ok(Vec::new());
            };
            let mut plan = Vec::new();
            for slot in g.range(range) {
                let fetch = match (&slot.payload, slot.at) {
                    (Some(p), _) => Fetch::Cached(p.clone()),
                    (None, Location::Durable(lsn)) => Fetch::At(lsn),
                    (None, Location::Pending { .. }) => {
                        return Err(RaftLogError::Inconsistent {
                            group,
                            lsn: None,
                            reason: format!(
                                "entry {} is neither cached nor durable",
                                slot.log_id.index
                            ),
                        });
                    }
                };
                plan.push((slot.log_id, fetch));
            }
            plan
        };
        // NB: WAL reads happen without the mutex.
        plan.into_iter()
            .map(|(log_id, fetch)| match fetch {
                Fetch::Cached(payload) => Ok(LogEntry { log_id, payload }),
                Fetch::At(lsn) => self.read_entry(group, log_id, lsn),
            })
            .collect()
    }

    /// Reads one entry back from the WAL and checks it is the one expected.
    fn read_entry(
        &self,
        group: GroupId,
        log_id: LogId,
        lsn: Lsn,
    ) -> Result<LogEntry, RaftLogError> {
        let record = self.inner.wal.read_at(lsn)?;
        match RaftRecord::decode(lsn, &record)? {
            Some(RaftRecord::Entry {
                group: g,
                log_id: id,
                payload,
            }) if g == group && id == log_id => Ok(LogEntry { log_id, payload }),
            other => Err(RaftLogError::Inconsistent {
                group,
                lsn: Some(lsn),
                reason: format!("the index points at entry {log_id:?} but the WAL holds {other:?}"),
            }),
        }
    }

    /// LSN of an entry's record, once it is durable.
    pub fn lsn_of(&self, group: GroupId, index: u64) -> Option<Lsn> {
        match self.lock().groups.get(&group)?.get(index)?.at {
            Location::Durable(lsn) => Some(lsn),
            Location::Pending { .. } => None,
        }
    }

    /// Queues one metadata record and applies it to memory, under the mutex.
    fn write_meta(&self, record: RaftRecord, apply: impl FnOnce(&mut State)) -> Durable {
        let record = match record.encode() {
            Ok(r) => r,
            Err(e) => return Durable::ready(Err(e)),
        };
        let (tx, durable) = Durable::waiting();
        let mut state = self.lock();
        if let Err(e) = self
            .inner
            .wal
            .append_with(vec![record], move |r| drop(tx.send(r.map(drop))))
        {
            return Durable::ready(Err(e.into()));
        }
        apply(&mut state);
        durable
    }

    /// Saves the vote (openraft `save_vote`): readable at once; await the
    /// result before answering the vote request — it resolves once durable.
    pub fn save_vote(&self, group: GroupId, vote: Bytes) -> Durable {
        self.write_meta(
            RaftRecord::Vote {
                group,
                vote: vote.clone(),
            },
            |st| {
                let g = st.groups.entry(group).or_default();
                g.vote = Some(vote);
                g.seen.vote = true;
            },
        )
    }

    /// The saved vote.
    pub fn read_vote(&self, group: GroupId) -> Option<Bytes> {
        self.lock().groups.get(&group)?.vote.clone()
    }

    /// Saves the committed log id (openraft `save_committed`). Lazily
    /// durable, as openraft allows: the next fsync makes it durable (await
    /// [`RaftLogStore::flush`] to force one). Losing it in a crash only means
    /// recovery re-applies less and Raft re-commits.
    pub fn save_committed(
        &self,
        group: GroupId,
        committed: Option<LogId>,
    ) -> Result<(), RaftLogError> {
        let record = RaftRecord::Committed { group, committed }.encode()?;
        let mut state = self.lock();
        self.inner.wal.append_lazy(vec![record])?;
        let g = state.groups.entry(group).or_default();
        g.committed = committed;
        g.seen.committed = true;
        Ok(())
    }

    /// The saved committed log id.
    pub fn read_committed(&self, group: GroupId) -> Option<LogId> {
        self.lock().groups.get(&group)?.committed
    }

    /// Removes entries with index ≥ `since` (openraft `truncate(log_id)` with
    /// `since = log_id.index`: a conflicting suffix). Await: durable.
    pub fn truncate(&self, group: GroupId, since: u64) -> Durable {
        self.write_meta(RaftRecord::Truncate { group, since }, |st| {
            if let Some(g) = st.groups.get_mut(&group) {
                g.truncate_from(since);
            }
        })
    }

    /// Removes entries with index ≤ `upto.index` and remembers `upto` as the
    /// last purged id (openraft `purge`); `upto` may lie past the last entry
    /// (after installing a snapshot), which empties the log. Await: durable.
    ///
    /// Precondition (purge after flush): the tablet's engine holds everything
    /// up to `upto` in flushed data, so redo never needs a purged entry.
    pub fn purge(&self, group: GroupId, upto: LogId) -> Durable {
        self.write_meta(RaftRecord::Purge { group, upto }, |st| {
            let g = st.groups.entry(group).or_default();
            g.purge_upto(upto);
            g.seen.purge = true;
        })
    }

    /// Forgets a group whose tablet was deleted or moved away: its entries,
    /// vote and committed id. Await: durable.
    pub fn remove_group(&self, group: GroupId) -> Durable {
        self.write_meta(RaftRecord::RemoveGroup { group }, |st| {
            st.groups.remove(&group);
            st.removed.insert(group);
        })
    }

    /// Resolves once every write queued before it is durable (including lazy
    /// [`RaftLogStore::save_committed`] records).
    pub fn flush(&self) -> Durable {
        let (tx, durable) = Durable::waiting();
        match self
            .inner
            .wal
            .append_with(Vec::new(), move |r| drop(tx.send(r.map(drop))))
        {
            Ok(()) => durable,
            Err(e) => Durable::ready(Err(e.into())),
        }
    }

    /// Payload bytes cached for a group (tests).
    #[cfg(test)]
    pub(super) fn cached_bytes(&self, group: GroupId) -> usize {
        self.lock()
            .groups
            .get(&group)
            .map_or(0, GroupLog::cached_bytes)
    }
}

/// An entries append waiting for its WAL completion.
struct AppendCompletion {
    state: Arc<Mutex<State>>,
    group: GroupId,
    /// The append's number and first index, to find its slots.
    append: u64,
    first_index: u64,
    budget: usize,
    tx: oneshot::Sender<Result<(), WalError>>,
}

impl AppendCompletion {
    /// Runs on the WAL writer thread: records the LSNs, evicts old payloads,
    /// then wakes the caller's [`Durable`].
    fn complete(self, result: Result<AppendAck, WalError>) {
        if let Ok(ack) = &result {
            let mut st = lock(&self.state);
            if let Some(g) = st.groups.get_mut(&self.group) {
                g.mark_durable(self.append, self.first_index, &ack.lsns);
                g.evict(self.budget);
            }
        }
        // The caller may have dropped its Durable; that is fine.
        let _ = self.tx.send(result.map(drop));
    }
}
