//! One tablet replica: its Raft group, its lease, and the leader's timestamp
//! assignment; the raw reads and writes the KV interface needs.
//!
//! Timestamp rules (DESIGN.md §3, §6): a leader assigns timestamps only
//! while it holds its lease and after its `LeaseStart` entry of the current
//! term is applied; each is `> TT.now().latest`, `>` the last it assigned,
//! and `>` every timestamp applied from the log (`s_max`). A write is
//! acknowledged only after commit wait (`TT.after(ts)`), which runs while
//! the entry replicates.

use std::future::Future;
use std::ops::Bound;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::raft::ClientWriteResponse;
use spanlite_storage::engine::Direction;
use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::{Mvcc, ReadOutcome, Row};
use spanlite_truetime::{Timestamp, TrueTime, TrueTimeError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::error::TabletError;
use super::lease::{LeaseTracker, LeaseView};
use crate::directory::KeyRange;
use crate::raft::{Applied, Command, CommandResponse, Mutation, Node, NodeId, Raft, TypeConfig};
use spanlite_storage::mvcc::TxnId;
use spanlite_txn::lock::LockTable;
use spanlite_txn::twopc::Decision;

/// Timestamp state of the leader.
#[derive(Debug, Default)]
struct Clock {
    /// The last timestamp this replica assigned.
    last_assigned: Timestamp,
    /// The term whose `LeaseStart` entry this replica applied as leader.
    serving_term: Option<u64>,
    /// Handing leadership off: refuse to serve until a new leader is elected.
    stepping_down: bool,
    /// Timestamps assigned to writes not yet applied here: snapshot reads at
    /// or above one of them wait for it.
    inflight: std::collections::BTreeSet<Timestamp>,
    /// When this leader last proposed a timestamped entry (an idle tablet
    /// proposes `SafeTime` so followers' safe time keeps up).
    last_proposal: Option<Instant>,
}

/// Start and end bounds of a key range.
pub(super) type KeyBounds = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// A proposal submitted to Raft, not yet applied.
type Pending =
    Pin<Box<dyn Future<Output = Result<ClientWriteResponse<TypeConfig>, TabletError>> + Send>>;

/// How a proposal is timestamped (see [`Replica::submit`]).
#[derive(Clone, Copy, Debug)]
pub(super) enum Stamp {
    /// A new timestamp, at least this.
    AtLeast(Timestamp),
    /// None of its own (it carries timestamps chosen elsewhere, or none).
    Carried,
}

/// Reaches other tablets for the two-phase-commit steps a leader runs on
/// its own: asking a coordinator tablet for an outcome (termination
/// protocol) and telling participants the outcome. The node's gateway
/// implements it.
pub trait TxnPeers: Send + Sync + std::fmt::Debug + 'static {
    /// The outcome of `txn` recorded by `coordinator` (`None`: still being
    /// decided). Asking records an abort when nothing is recorded.
    fn status(
        &self,
        coordinator: TabletId,
        txn: TxnId,
    ) -> Pin<Box<dyn Future<Output = Result<Option<Decision>, String>> + Send>>;
    /// Tells `participant` the outcome of `txn`; done once it applied it.
    fn resolve(
        &self,
        participant: TabletId,
        txn: TxnId,
        decision: Decision,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
}

/// Where a node's replicas find their [`TxnPeers`] (set once the gateway
/// exists).
pub type PeersSlot = Arc<OnceLock<Arc<dyn TxnPeers>>>;

/// Removes an in-flight write timestamp when the write is done (or
/// abandoned) and wakes snapshot readers.
struct InFlightOwned {
    clock: Arc<Mutex<Clock>>,
    ts: Option<Timestamp>,
    done: Arc<tokio::sync::Notify>,
}

impl Drop for InFlightOwned {
    fn drop(&mut self) {
        if let Some(ts) = self.ts {
            lock(&self.clock).inflight.remove(&ts);
            self.done.notify_waiters();
        }
    }
}

/// A tablet replica hosted on this node.
pub struct Replica {
    pub(super) tablet: TabletId,
    node_id: NodeId,
    range: RwLock<KeyRange>,
    raft: Raft,
    mvcc: Mvcc,
    applied: watch::Receiver<Applied>,
    lease: LeaseTracker,
    pub(super) truetime: Arc<TrueTime>,
    clock: Arc<Mutex<Clock>>,
    follower: JoinHandle<()>,
    /// The leader's lock table (2PL); reset when a new term starts serving.
    pub(super) locks: Arc<LockTable>,
    /// Transactions known to this leader's lock table, and aborted ones.
    pub(super) txns: Arc<Mutex<TxnBook>>,
    /// Aborts transactions the lock table wounds.
    reaper: JoinHandle<()>,
    /// Signalled whenever an in-flight write finishes.
    inflight_done: Arc<tokio::sync::Notify>,
    /// Held while a timestamp is assigned and its entry handed to Raft, so
    /// entries reach the log in timestamp order (followers' safe time).
    propose_order: tokio::sync::Mutex<()>,
    /// Other tablets, for the termination protocol and decisions.
    pub(super) peers: PeersSlot,
    /// A prepared transaction undecided this long asks its coordinator.
    pub(super) in_doubt_after: Duration,
    /// An idle leader proposes `SafeTime` this often.
    safe_time_every: Duration,
    /// Transaction counters.
    pub(super) metrics: Arc<crate::metrics::TxnMetrics>,
}

/// What a leader remembers about transactions between their calls.
#[derive(Debug, Default)]
pub(super) struct TxnBook {
    /// Took locks here in the current term.
    pub(super) known: std::collections::HashSet<TxnId>,
    /// Aborted here, with the reason, until the transaction's own abort or
    /// commit call arrives (a fenced abort is itself noted here), or for
    /// `ABORT_MEMORY` idle timeouts.
    pub(super) aborted: std::collections::HashMap<TxnId, (String, Instant)>,
    /// When each known transaction last asked for something here.
    pub(super) last_seen: std::collections::HashMap<TxnId, Instant>,
    /// Prepared here and not yet resolved: coordinator tablet and since when.
    pub(super) prepared: std::collections::HashMap<TxnId, (TabletId, Instant)>,
    /// Prepared transactions whose coordinator is being asked right now.
    pub(super) asking: std::collections::HashSet<TxnId>,
    /// Being decided by this (coordinator) leader right now.
    pub(super) deciding: std::collections::HashSet<TxnId>,
    /// Decisions every participant applied: to drop from the records.
    pub(super) forgettable: Vec<TxnId>,
    /// Decisions whose participants are being told right now.
    pub(super) finishing: std::collections::HashSet<TxnId>,
}

/// How long an abort is remembered for a client that never calls back, in
/// units of the idle timeout. Forgetting it is safe: a late commit that read
/// here is refused anyway (its read locks are gone), a late write-only commit
/// is a valid commit.
const ABORT_MEMORY: u32 = 10;

impl TxnBook {
    /// Records that `txn` was aborted here (its locks already released).
    pub(super) fn note_aborted(&mut self, txn: TxnId, reason: String) {
        self.known.remove(&txn);
        self.last_seen.remove(&txn);
        self.aborted.insert(txn, (reason, Instant::now()));
    }
}

/// What a replica is made of (see [`Replica::start`]).
#[allow(missing_debug_implementations)]
pub struct ReplicaParts {
    /// The tablet.
    pub tablet: TabletId,
    /// This node.
    pub node_id: NodeId,
    /// The tablet's key range.
    pub range: KeyRange,
    /// Its Raft group, started.
    pub raft: Raft,
    /// MVCC over the node's engine.
    pub mvcc: Mvcc,
    /// The state machine's applied progress.
    pub applied: watch::Receiver<Applied>,
    /// Lease length (shorter than the minimum election timeout).
    pub lease: Duration,
    /// The node's clock.
    pub truetime: Arc<TrueTime>,
    /// An unprepared transaction silent for this long (its client vanished)
    /// is aborted and its locks released; a prepared one undecided this
    /// long asks its coordinator (termination protocol).
    pub txn_idle_timeout: Duration,
    /// Other tablets (2PC), once the node's gateway is up.
    pub peers: PeersSlot,
    /// An idle leader proposes `SafeTime` this often (followers' safe time).
    pub safe_time_every: Duration,
    /// The node's transaction counters.
    pub metrics: Arc<crate::metrics::TxnMetrics>,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("tablet", &self.tablet)
            .field("node_id", &self.node_id)
            .field("range", &self.range())
            .field("applied", &self.applied())
            .field("lease", &self.lease.view())
            .finish_non_exhaustive()
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Replica {
    /// Wraps a started Raft group; follows its metrics to keep the lease and
    /// proposes `LeaseStart` in every term in which it leads.
    pub fn start(parts: ReplicaParts) -> Arc<Self> {
        Arc::new_cyclic(|me: &Weak<Replica>| {
            let lease = LeaseTracker::new(parts.lease);
            let clock = Arc::new(Mutex::new(Clock::default()));
            let (locks, wounded) = LockTable::new();
            let locks = Arc::new(locks);
            let txns: Arc<Mutex<TxnBook>> = Arc::default();
            let reaper = tokio::spawn(reap(
                me.clone(),
                locks.clone(),
                txns.clone(),
                wounded,
                parts.txn_idle_timeout,
            ));
            let follower = {
                let lease = lease.clone();
                let raft = parts.raft.clone();
                let metrics = raft.metrics();
                let truetime = parts.truetime.clone();
                let applied = parts.applied.clone();
                let clock = clock.clone();
                let (tablet, node) = (parts.tablet, parts.node_id);
                let tracker = lease.clone();
                let me = me.clone();
                tokio::spawn(lease.follow(node, metrics, move |term| {
                    tokio::spawn(start_lease(
                        LeaseStarter {
                            tablet,
                            me: node,
                            raft: raft.clone(),
                            truetime: truetime.clone(),
                            applied: applied.clone(),
                            clock: clock.clone(),
                            tracker: tracker.clone(),
                            replica: me.clone(),
                        },
                        term,
                    ));
                }))
            };
            Self {
                tablet: parts.tablet,
                node_id: parts.node_id,
                range: RwLock::new(parts.range),
                raft: parts.raft,
                mvcc: parts.mvcc,
                applied: parts.applied,
                lease,
                truetime: parts.truetime,
                clock,
                follower,
                locks,
                txns,
                reaper,
                inflight_done: Arc::new(tokio::sync::Notify::new()),
                propose_order: tokio::sync::Mutex::new(()),
                peers: parts.peers,
                in_doubt_after: parts.txn_idle_timeout,
                safe_time_every: parts.safe_time_every,
                metrics: parts.metrics,
            }
        })
    }

    /// The tablet.
    pub fn tablet(&self) -> TabletId {
        self.tablet
    }

    /// The Raft group.
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// The key range this replica serves.
    pub fn range(&self) -> KeyRange {
        self.range
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Narrows the served range after a split was applied.
    pub fn set_range(&self, range: KeyRange) {
        *self.range.write().unwrap_or_else(PoisonError::into_inner) = range;
    }

    /// Splits the tablet at `at` through Raft; the new tablet `right` gets
    /// `[at, end)`. Returns the new tablet's range once the split is applied
    /// on this (leader) replica.
    pub async fn split(&self, at: Vec<u8>, right: TabletId) -> Result<KeyRange, TabletError> {
        if !self.range().can_split_at(&at) {
            return Err(TabletError::Refused {
                tablet: self.tablet,
                reason: format!(
                    "split key is not strictly inside the range {}",
                    self.range()
                ),
            });
        }
        self.check_serving()?;
        let resp = self
            .raft
            .client_write(Command::Split { at, right })
            .await
            .map_err(|e| self.write_error(e))?;
        match resp.data {
            CommandResponse::Split { range, .. } => Ok(range),
            other => Err(TabletError::Refused {
                tablet: self.tablet,
                reason: format!(
                    "split refused ({other:?}): the range changed or a membership change is in progress"
                ),
            }),
        }
    }

    /// Steps down as leader: stops serving and stops heartbeats and
    /// elections here, so the other voters elect a new leader after their
    /// election timeout; returns the new leader once one is known, or `None`
    /// after `deadline`. openraft 0.9 has no targeted leadership transfer:
    /// whichever voter wins the election leads.
    pub async fn step_down(&self, deadline: std::time::Duration) -> Option<NodeId> {
        lock(&self.clock).stepping_down = true;
        let rt = self.raft.runtime_config();
        rt.heartbeat(false);
        rt.elect(false);
        let start = Instant::now();
        let mut metrics = self.raft.metrics();
        let new_leader = loop {
            let leader = metrics.borrow_and_update().current_leader;
            if let Some(l) = leader.filter(|&l| l != self.node_id) {
                break Some(l);
            }
            let left = deadline.saturating_sub(start.elapsed());
            if left.is_zero() || tokio::time::timeout(left, metrics.changed()).await.is_err() {
                break None;
            }
        };
        rt.heartbeat(true);
        rt.elect(true);
        lock(&self.clock).stepping_down = false;
        new_leader
    }

    /// Applied progress.
    pub fn applied(&self) -> Applied {
        *self.applied.borrow()
    }

    /// The lease as last observed.
    pub fn lease(&self) -> LeaseView {
        self.lease.view()
    }

    /// True when this replica serves as leader now (lease held, lease start
    /// applied).
    pub fn is_serving(&self) -> bool {
        self.check_serving().is_ok()
    }

    /// Stops the Raft group.
    pub async fn shutdown(&self) {
        self.follower.abort();
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(tablet = self.tablet, "raft shutdown: {e}");
        }
    }

    fn not_leader(&self, view: LeaseView) -> TabletError {
        let leader = view.leader;
        let leader_addr = leader.and_then(|id| {
            self.raft
                .metrics()
                .borrow()
                .membership_config
                .membership()
                .get_node(&id)
                .map(|n: &Node| n.addr.clone())
        });
        TabletError::NotLeader {
            tablet: self.tablet,
            leader,
            leader_addr,
        }
    }

    pub(super) fn check_serving(&self) -> Result<LeaseView, TabletError> {
        let view = self.lease.view();
        let (serving_term, stepping_down) = {
            let clock = lock(&self.clock);
            (clock.serving_term, clock.stepping_down)
        };
        if view.holds_at(Instant::now()) && serving_term == Some(view.term) && !stepping_down {
            Ok(view)
        } else {
            Err(self.not_leader(view))
        }
    }

    pub(super) fn check_key(&self, key: &[u8]) -> Result<(), TabletError> {
        let range = self.range.read().unwrap_or_else(PoisonError::into_inner);
        if range.contains(key) {
            Ok(())
        } else {
            Err(TabletError::WrongTablet {
                tablet: self.tablet,
                range: range.to_string(),
            })
        }
    }

    fn clock_error(e: TrueTimeError) -> TabletError {
        TabletError::ClockUnsynchronized(e.to_string())
    }

    /// A new timestamp: above `TT.now().latest`, the last one assigned and
    /// every timestamp applied from the log, and at least `min` (a 2PC
    /// commit timestamp is at least every prepare timestamp).
    fn assign_ts(&self, min: Timestamp) -> Result<Timestamp, TabletError> {
        let now = self.truetime.now().map_err(Self::clock_error)?;
        let max_applied = self.applied.borrow().max_ts;
        let mut clock = lock(&self.clock);
        let ts = spanlite_txn::twopc::commit_timestamp(
            [min],
            now.latest.max(max_applied),
            clock.last_assigned,
        )
        .ok_or_else(|| TabletError::ClockUnsynchronized("timestamp space exhausted".to_string()))?;
        clock.last_assigned = ts;
        clock.inflight.insert(ts);
        Ok(ts)
    }

    /// The timestamp of a snapshot read (DESIGN.md §6): `at` if given, else
    /// `max(TT.now().latest, last assigned, max applied)`. Either way no
    /// later write of this leader gets a timestamp at or below it (the last
    /// assigned timestamp is raised to it), so once the writes in flight at
    /// or below it are applied, the snapshot at it never changes.
    ///
    /// Errors: `at` more than a second past `TT.now().latest` (it would push
    /// every later write's timestamp, and commit wait, that far).
    pub(super) fn snapshot_ts(&self, at: Option<Timestamp>) -> Result<Timestamp, TabletError> {
        let now = self.truetime.now().map_err(Self::clock_error)?;
        let max_applied = self.applied.borrow().max_ts;
        let mut clock = lock(&self.clock);
        let s = match at {
            Some(t) => {
                if t > now.latest.saturating_add(Duration::from_secs(1)) {
                    return Err(TabletError::Refused {
                        tablet: self.tablet,
                        reason: format!("read timestamp {t} is in the future"),
                    });
                }
                t
            }
            None => now.latest.max(clock.last_assigned).max(max_applied),
        };
        clock.last_assigned = clock.last_assigned.max(s);
        Ok(s)
    }

    /// Waits until no write assigned a timestamp `≤ s` is still in flight.
    pub(super) async fn wait_applied_through(
        &self,
        s: Timestamp,
        deadline: Duration,
    ) -> Result<(), TabletError> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let notified = self.inflight_done.notified();
            if lock(&self.clock).inflight.range(..=s).next().is_none() {
                return Ok(());
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                return Err(TabletError::Replication {
                    tablet: self.tablet,
                    message: format!("writes at or below {s} still in flight after {deadline:?}"),
                });
            }
        }
    }

    /// True when this idle leader should propose `SafeTime`: nothing
    /// timestamped proposed for `safe_time_every` (zero: never).
    pub(super) fn safe_time_due(&self) -> bool {
        !self.safe_time_every.is_zero()
            && lock(&self.clock)
                .last_proposal
                .is_none_or(|at| at.elapsed() >= self.safe_time_every)
    }

    /// Waits until this replica applied an entry at or above `t` (its
    /// Paxos safe time covers `t`), until `until`.
    pub(super) async fn wait_safe_time(
        &self,
        t: Timestamp,
        until: tokio::time::Instant,
    ) -> Result<(), TabletError> {
        let mut applied = self.applied.clone();
        loop {
            if applied.borrow_and_update().max_ts >= t {
                return Ok(());
            }
            if !matches!(
                tokio::time::timeout_at(until, applied.changed()).await,
                Ok(Ok(()))
            ) {
                return Err(self.not_leader(self.lease.view()));
            }
        }
    }

    /// A receiver of the applied progress (changes on every apply).
    pub(super) fn applied_watch(&self) -> watch::Receiver<Applied> {
        self.applied.clone()
    }

    /// The MVCC view of the replica (snapshot reads).
    pub(super) fn mvcc(&self) -> &Mvcc {
        &self.mvcc
    }

    fn write_error(&self, e: RaftError<NodeId, ClientWriteError<NodeId, Node>>) -> TabletError {
        if let Some(fwd) = e.forward_to_leader::<Node>() {
            return TabletError::NotLeader {
                tablet: self.tablet,
                leader: fwd.leader_id,
                leader_addr: fwd.leader_node.as_ref().map(|n| n.addr.clone()),
            };
        }
        TabletError::Replication {
            tablet: self.tablet,
            message: e.to_string(),
        }
    }

    /// Writes `mutations` atomically at a new timestamp through Raft; returns
    /// once they are applied on the leader and commit wait is over.
    ///
    /// Errors: `NotLeader` (retry at the hint), `WrongTablet`,
    /// `ClockUnsynchronized`, `Replication` (outcome unknown; retry).
    pub async fn write(&self, mutations: Vec<Mutation>) -> Result<Timestamp, TabletError> {
        for m in &mutations {
            self.check_key(m.key())?;
        }
        self.check_serving()?;
        let (ts, pending) = self
            .submit(Stamp::AtLeast(Timestamp::MIN), |ts| Command::Write {
                ts,
                mutations,
            })
            .await?;
        // Commit wait overlaps replication.
        let (written, waited) = tokio::join!(pending, self.truetime.wait_until_after(ts));
        if written?.data == CommandResponse::WrongTablet {
            // Split between proposal and apply: nothing was written.
            return Err(TabletError::WrongTablet {
                tablet: self.tablet,
                range: self.range().to_string(),
            });
        }
        self.metrics
            .note_commit_wait(waited.map_err(Self::clock_error)?);
        Ok(ts)
    }

    /// Hands the command `make(ts)` to Raft. With [`Stamp::AtLeast`] it gets
    /// a new timestamp `ts`; either way no later proposal of this leader
    /// gets a timestamp at or below the ones it carries. Assigning and
    /// handing over happen under one lock, so timestamps rise in log order:
    /// a replica that applied an entry at `t` has every write at or below
    /// `t` but those of transactions still prepared (whose intents block
    /// reads): that is its safe time.
    ///
    /// Returns the timestamp (`Timestamp::MIN` for `Carried`) and the
    /// pending outcome; the timestamp stays in flight (snapshot reads at or
    /// above it wait) until the outcome is known.
    pub(super) async fn submit(
        &self,
        stamp: Stamp,
        make: impl FnOnce(Timestamp) -> Command,
    ) -> Result<(Timestamp, Pending), TabletError> {
        let _order = self.propose_order.lock().await;
        let ts = match stamp {
            Stamp::AtLeast(min) => self.assign_ts(min)?,
            Stamp::Carried => Timestamp::MIN,
        };
        let command = make(ts);
        {
            let mut clock = lock(&self.clock);
            clock.last_assigned = clock.last_assigned.max(command.max_ts());
            clock.last_proposal = Some(Instant::now());
        }
        let inflight = InFlightOwned {
            clock: self.clock.clone(),
            ts: matches!(stamp, Stamp::AtLeast(_)).then_some(ts),
            done: self.inflight_done.clone(),
        };
        let rx =
            self.raft
                .client_write_ff(command)
                .await
                .map_err(|e| TabletError::Replication {
                    tablet: self.tablet,
                    message: e.to_string(),
                })?;
        let tablet = self.tablet;
        let pending: Pending = Box::pin(async move {
            let out = rx.await;
            drop(inflight);
            match out {
                Ok(Ok(resp)) => Ok(resp),
                Ok(Err(ClientWriteError::ForwardToLeader(f))) => Err(TabletError::NotLeader {
                    tablet,
                    leader: f.leader_id,
                    leader_addr: f.leader_node.as_ref().map(|n| n.addr.clone()),
                }),
                Ok(Err(e)) => Err(TabletError::Replication {
                    tablet,
                    message: e.to_string(),
                }),
                Err(_) => Err(TabletError::Replication {
                    tablet,
                    message: "the Raft group stopped before answering".to_string(),
                }),
            }
        });
        Ok((ts, pending))
    }

    /// The latest committed value of `key` (a linearizable read at the
    /// leader under its lease).
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, TabletError> {
        self.check_key(key)?;
        self.check_serving()?;
        let out = self.mvcc.get(key, Timestamp::MAX);
        // NB: checked again so a lease that ran out during the read (a long
        // pause) does not return possibly stale data.
        self.check_serving()?;
        self.ready(out)
    }

    /// A read's result as the caller sees it: blocked by an intent is
    /// `Locked`, a storage failure is `Storage`.
    fn ready<T>(&self, out: spanlite_storage::Result<ReadOutcome<T>>) -> Result<T, TabletError> {
        match out {
            Ok(ReadOutcome::Ready(v)) => Ok(v),
            Ok(ReadOutcome::Blocked(_)) => Err(TabletError::Locked {
                tablet: self.tablet,
            }),
            Err(source) => Err(TabletError::Storage {
                tablet: self.tablet,
                source,
            }),
        }
    }

    /// Latest committed pairs of `range` (inside this tablet's range), in
    /// key order, at most `limit` (0: all).
    pub fn scan(&self, range: &KeyRange, limit: usize) -> Result<Vec<Row>, TabletError> {
        let (start, end) = self.clip(range)?;
        self.check_serving()?;
        let out = self.mvcc.scan(
            start,
            end,
            Timestamp::MAX,
            Direction::Forward,
            (limit > 0).then_some(limit),
        );
        self.check_serving()?;
        self.ready(out)
    }

    /// The bounds of `range`, which must lie inside this tablet's range:
    /// a caller that routed with a stale descriptor (the tablet split
    /// since) gets `WrongTablet` and routes again, rather than a silently
    /// shorter answer it would take for the whole range.
    pub(super) fn clip(&self, range: &KeyRange) -> Result<KeyBounds, TabletError> {
        let own = self.range();
        let starts_inside = range.start >= own.start;
        let ends_inside = own.end.is_empty() || (!range.end.is_empty() && range.end <= own.end);
        if !starts_inside || !ends_inside {
            return Err(TabletError::WrongTablet {
                tablet: self.tablet,
                range: own.to_string(),
            });
        }
        let end = if range.end.is_empty() {
            Bound::Unbounded
        } else {
            Bound::Excluded(range.end.clone())
        };
        Ok((Bound::Included(range.start.clone()), end))
    }

    /// The latest committed value of `key` in this replica's local state,
    /// whether or not it leads (for tests and tools that check replicas).
    pub fn get_local(&self, key: &[u8]) -> Result<Option<Vec<u8>>, TabletError> {
        self.ready(self.mvcc.get(key, Timestamp::MAX))
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.follower.abort();
        self.reaper.abort();
    }
}

/// Aborts transactions the lock table wounds and unprepared ones whose
/// client went silent (their locks would otherwise block every younger
/// transaction, which can only wait, for ever), and runs the leader's
/// periodic transaction duties ([`Replica::housekeeping`]).
///
/// NB: a wounded transaction is unprepared (prepared ones cannot be
/// wounded) and its writes are buffered at its gateway, so aborting it here
/// is only forgetting its locks.
async fn reap(
    me: Weak<Replica>,
    locks: Arc<LockTable>,
    txns: Arc<Mutex<TxnBook>>,
    mut wounded: tokio::sync::mpsc::UnboundedReceiver<TxnId>,
    idle: Duration,
) {
    let tick = (idle / 4).clamp(Duration::from_millis(10), HOUSEKEEPING_EVERY);
    let mut sweep = tokio::time::interval(tick);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let doomed: Vec<(TxnId, &str)> = tokio::select! {
            txn = wounded.recv() => match txn {
                Some(txn) => vec![(txn, "wounded by an older transaction")],
                None => return,
            },
            _ = sweep.tick() => {
                let Some(replica) = me.upgrade() else { return };
                replica.housekeeping();
                let mut book = lock(&txns);
                book.aborted
                    .retain(|_, (_, at)| at.elapsed() < idle * ABORT_MEMORY);
                book.last_seen
                    .iter()
                    .filter(|(txn, seen)| {
                        // Waiting for a lock is not silence.
                        seen.elapsed() > idle
                            && !locks.is_prepared(**txn)
                            && !locks.is_waiting(**txn)
                    })
                    .map(|(txn, _)| (*txn, "idle too long: its client went silent"))
                    .collect()
            }
        };
        for (txn, reason) in doomed {
            // Noted first, as in `Replica::aborted`.
            lock(&txns).note_aborted(txn, reason.to_string());
            locks.release_all(txn);
            if let Some(r) = me.upgrade() {
                r.metrics.note_abort(reason);
            }
        }
    }
}

/// How often a leader looks at its in-doubt transactions, decision
/// records and safe time (at most).
const HOUSEKEEPING_EVERY: Duration = Duration::from_millis(250);

/// What proposing a lease start needs.
struct LeaseStarter {
    tablet: TabletId,
    me: NodeId,
    raft: Raft,
    truetime: Arc<TrueTime>,
    applied: watch::Receiver<Applied>,
    clock: Arc<Mutex<Clock>>,
    tracker: LeaseTracker,
    replica: Weak<Replica>,
}

/// Proposes `LeaseStart` for `term` and, once it is applied, lets the
/// replica serve in that term. Retries while the clock cannot vouch for
/// time and this replica still leads in `term`.
async fn start_lease(s: LeaseStarter, term: u64) {
    loop {
        let view = s.tracker.view();
        if view.term != term || !view.is_leader {
            return;
        }
        let floor = match s.truetime.now() {
            Ok(now) => now.latest.max(s.applied.borrow().max_ts),
            Err(e) => {
                tracing::warn!(tablet = s.tablet, "cannot start lease: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match s
            .raft
            .client_write(Command::LeaseStart {
                leader: s.me,
                floor,
            })
            .await
        {
            Ok(resp) if resp.log_id.leader_id.term == term => {
                let Some(replica) = s.replica.upgrade() else {
                    return;
                };
                // Locks of an earlier term mean nothing now (transactions
                // that read under them are aborted at commit: has_reads),
                // except those of prepared transactions, kept in their
                // records.
                if let Err(e) = replica.restore_txns() {
                    tracing::error!(
                        tablet = s.tablet,
                        term,
                        "cannot restore prepared transactions: {e}"
                    );
                    return;
                }
                let mut clock = lock(&s.clock);
                clock.last_assigned = clock.last_assigned.max(floor);
                clock.serving_term = Some(term);
                tracing::info!(tablet = s.tablet, term, "leader serving");
                return;
            }
            Ok(_) => return,
            Err(e) => {
                tracing::debug!(tablet = s.tablet, term, "lease start not committed: {e}");
                return;
            }
        }
    }
}
