//! One tablet replica: its Raft group, its lease, its leader's transaction
//! state, and the glue that runs the protocol steps of `spanlite_txn`
//! (`steps.rs`, `reads.rs`, `commits.rs`, `duties.rs`).
//!
//! ```text
//!   request ──▶ step (txn::actions, under the core mutex) ──▶ Command
//!           ──▶ propose (in timestamp order) ──▶ applied ┐
//!           ──▶ commit wait (TT.after(s))  ─────────────┴▶ follow-up step ──▶ reply
//! ```
//!
//! Lock order: `propose_order` (async), then `core` (a std mutex never held
//! across an await), then nothing; the lease tracker's mutex and the
//! follower safe time's are leaves taken alone.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::Mvcc;
use spanlite_truetime::{Timestamp, TrueTime};
use spanlite_txn::actions::safe_time::FollowerSafeTime;
use spanlite_txn::leader::{CommitWaited, Leader, LeaderConfig};
use spanlite_txn::peers::TxnPeers;
use spanlite_txn::{Command, CommandResponse, KeyRange, TxnError};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::error::TabletError;
use super::lease::{LeaseTracker, LeaseView};
use super::steps::Core;
use crate::raft::{Applied, Node, NodeId, Raft};

/// Where a node's replicas find their [`TxnPeers`] (set once the gateway
/// exists).
pub type PeersSlot = Arc<std::sync::OnceLock<Arc<dyn TxnPeers>>>;

/// A proposal handed to Raft, not yet applied.
pub(super) type Pending = Pin<Box<dyn Future<Output = Proposed> + Send>>;

/// How a proposal ended.
#[derive(Debug)]
pub(super) enum Proposed {
    /// Applied here; the state machine's response.
    Applied(CommandResponse),
    /// Refused before reaching the log: this replica is not the leader.
    NotLeader(TabletError),
    /// Replication failed after the entry was handed over: it may or may
    /// not be committed.
    Unknown(String),
}

/// A tablet replica hosted on this node.
pub struct Replica {
    pub(super) tablet: TabletId,
    node_id: NodeId,
    range: RwLock<KeyRange>,
    /// The descriptor generation of `range` (as of its last split).
    generation: std::sync::atomic::AtomicU64,
    raft: Raft,
    mvcc: Mvcc,
    applied: watch::Receiver<Applied>,
    pub(super) lease: LeaseTracker,
    pub(super) truetime: Arc<TrueTime>,
    /// The leader's transaction state (see `steps.rs`).
    pub(super) core: Mutex<Core>,
    /// Signalled whenever a pending timestamp becomes visible or is
    /// abandoned (snapshot reads wait on it).
    pub(super) visible: Notify,
    /// Held while a step assigns a timestamp and its command is handed to
    /// Raft, so timestamps rise in log order.
    propose_order: tokio::sync::Mutex<()>,
    /// Hands commands to the Raft group, batching commits.
    proposer: super::proposer::Proposer,
    /// The closed timestamps this replica's leaders sent (follower reads).
    pub(super) safe_time: Mutex<FollowerSafeTime>,
    /// Other tablets, for the termination protocol and decisions.
    pub(super) peers: PeersSlot,
    pub(super) config: LeaderConfig,
    /// Transaction counters.
    pub(super) metrics: Arc<crate::metrics::TxnMetrics>,
    follower: JoinHandle<()>,
    duties: JoinHandle<()>,
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
    /// Its descriptor generation as of its last split (0: unknown).
    pub generation: u64,
    /// Its Raft group, started.
    pub raft: Raft,
    /// The number of appends its log began (`TabletLogStore::appends`).
    pub appends: watch::Receiver<u64>,
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

/// How long an abort is remembered for a client that never calls back, in
/// units of the idle timeout. Forgetting it is safe: a late commit that read
/// here is refused anyway (its read locks are gone), a late write-only commit
/// is a valid commit.
const ABORT_MEMORY: u32 = 10;

/// How long a freeze for a merge waits for the transactions prepared or
/// committing on the tablet to finish (new ones are refused meanwhile).
const FREEZE_DRAIN_WITHIN: Duration = Duration::from_secs(10);

impl Replica {
    /// Wraps a started Raft group; follows its metrics to keep the lease and
    /// starts serving in every term in which it leads (`duties.rs`).
    ///
    /// The follower and the duties start only once the `Replica` is built:
    /// inside `Arc::new_cyclic` their `Weak` cannot be upgraded yet, and a
    /// group that reports leadership at once (a node restarted as the
    /// leader of its committed vote) would otherwise start its term against
    /// nothing and never serve it (seen in a Jepsen run after a kill).
    pub fn start(parts: ReplicaParts) -> Arc<Self> {
        let (built, ready) = tokio::sync::watch::channel(false);
        let when_built = move || {
            let mut ready = ready.clone();
            async move { ready.wait_for(|b| *b).await.is_ok() }
        };
        let replica = Arc::new_cyclic(|me: &Weak<Replica>| {
            let lease = LeaseTracker::new(parts.lease);
            let config = LeaderConfig {
                idle_timeout: parts.txn_idle_timeout,
                abort_memory: parts.txn_idle_timeout * ABORT_MEMORY,
            };
            let follower = {
                let metrics = parts.raft.metrics();
                let me = me.clone();
                let follow = lease.clone().follow(parts.node_id, metrics, move |term| {
                    tokio::spawn(super::duties::start_term(me.clone(), term));
                });
                let built = when_built();
                tokio::spawn(async move {
                    if built.await {
                        follow.await;
                    }
                })
            };
            let duties = {
                let run = super::duties::run(me.clone(), parts.txn_idle_timeout);
                let built = when_built();
                tokio::spawn(async move {
                    if built.await {
                        run.await;
                    }
                })
            };
            let proposer =
                super::proposer::Proposer::start(parts.tablet, parts.raft.clone(), parts.appends);
            let leader = Leader::new(
                parts.tablet,
                parts.range.clone(),
                parts.generation,
                Timestamp::MIN,
                config,
            );
            Self {
                tablet: parts.tablet,
                node_id: parts.node_id,
                range: RwLock::new(parts.range),
                generation: std::sync::atomic::AtomicU64::new(parts.generation),
                raft: parts.raft,
                mvcc: parts.mvcc,
                applied: parts.applied,
                lease,
                truetime: parts.truetime,
                core: Mutex::new(Core::new(leader)),
                visible: Notify::new(),
                propose_order: tokio::sync::Mutex::new(()),
                proposer,
                safe_time: Mutex::new(FollowerSafeTime::default()),
                peers: parts.peers,
                config,
                metrics: parts.metrics,
                follower,
                duties,
            }
        });
        built.send_replace(true);
        replica
    }

    /// The tablet.
    pub fn tablet(&self) -> TabletId {
        self.tablet
    }

    /// This node.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The Raft group.
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// The voters of its Raft group, as this replica knows them.
    pub fn voters(&self) -> std::collections::BTreeSet<NodeId> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect()
    }

    /// The key range this replica serves.
    pub fn range(&self) -> KeyRange {
        self.range
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The descriptor generation of the served range (as of its last
    /// split, whether applied here or brought by a snapshot).
    pub fn generation(&self) -> u64 {
        self.generation
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(self.applied().generation)
    }

    /// Narrows the served range after a split was applied here.
    pub fn set_range(&self, range: KeyRange, generation: u64) {
        *self.range.write().unwrap_or_else(PoisonError::into_inner) = range.clone();
        self.generation
            .fetch_max(generation, std::sync::atomic::Ordering::Relaxed);
        self.with_core(|core| {
            spanlite_txn::actions::split::end(&mut core.leader, Some((range, generation)))
        });
    }

    /// Applied progress.
    pub fn applied(&self) -> Applied {
        *self.applied.borrow()
    }

    /// A receiver of the applied progress (changes on every apply).
    pub(super) fn applied_watch(&self) -> watch::Receiver<Applied> {
        self.applied.clone()
    }

    /// The lease as last observed.
    pub fn lease(&self) -> LeaseView {
        self.lease.view()
    }

    /// A candidate asks this replica's vote in `term` (see
    /// [`LeaseTracker::vote_allowed`]).
    pub fn vote_allowed(&self, term: u64) -> bool {
        self.lease.vote_allowed(term)
    }

    /// True when this replica serves as leader now (lease held, its term
    /// started).
    pub fn is_serving(&self) -> bool {
        self.check_serving().is_ok()
    }

    /// The MVCC view of the replica.
    pub(super) fn mvcc(&self) -> &Mvcc {
        &self.mvcc
    }

    /// Stops the Raft group.
    pub async fn shutdown(&self) {
        self.follower.abort();
        self.duties.abort();
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(tablet = self.tablet, "raft shutdown: {e}");
        }
    }

    pub(super) fn not_leader(&self, view: LeaseView) -> TabletError {
        let leader = view.leader.filter(|&l| l != self.node_id || view.is_leader);
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

    /// The lease view if this replica serves as leader now: it leads, its
    /// lease holds, its term's `LeaseStart` is applied, it is not stepping
    /// down.
    pub(super) fn check_serving(&self) -> Result<LeaseView, TabletError> {
        let view = self.lease.view();
        let (serving_term, stepping_down) = {
            let core = self.core_lock();
            (core.serving_term, core.stepping_down)
        };
        if view.holds_at(Instant::now()) && serving_term == Some(view.term) && !stepping_down {
            Ok(view)
        } else {
            Err(self.not_leader(view))
        }
    }

    /// A protocol step's refusal as this tablet's error.
    pub(super) fn txn_error(&self, e: TxnError) -> TabletError {
        if let TxnError::Aborted { reason, .. } = &e {
            self.metrics.note_abort(*reason);
        }
        TabletError::from_txn(self.tablet, e)
    }

    /// Refuses a key outside the replica's range (followers too).
    pub(super) fn check_key(&self, key: &[u8]) -> Result<(), TabletError> {
        let range = self.range.read().unwrap_or_else(PoisonError::into_inner);
        if range.contains(key) {
            Ok(())
        } else {
            Err(TabletError::WrongTablet {
                tablet: self.tablet,
                reason: format!("key outside its range {range}"),
            })
        }
    }

    /// Hands the command `step` returns to Raft. `step` runs under the
    /// proposal order and the core mutex, so the timestamps steps assign
    /// rise in log order. Returns what the step returned and the pending
    /// outcome.
    pub(super) async fn propose<T>(
        &self,
        step: impl FnOnce(&mut Core) -> Result<(T, Command), TxnError>,
    ) -> Result<(T, Pending), TabletError> {
        let _order = self.propose_order.lock().await;
        self.check_serving()?;
        let (out, command) = self.with_core(step).map_err(|e| self.txn_error(e))?;
        self.metrics.note_proposal(self.tablet);
        // Queued in timestamp order (under `propose_order`); the proposer
        // may put it in one entry with other commits (`proposer`).
        let rx = self.proposer.submit(command);
        let pending: Pending = Box::pin(async move {
            rx.await.unwrap_or_else(|_| {
                Proposed::Unknown("the tablet's proposer stopped before answering".to_string())
            })
        });
        Ok((out, pending))
    }

    /// Proposes a command that assigns no timestamp and waits for it.
    pub(super) async fn propose_carried(&self, command: Command) -> Proposed {
        match self.propose(|_| Ok(((), command))).await {
            Ok(((), pending)) => pending.await,
            Err(e @ TabletError::NotLeader { .. }) => Proposed::NotLeader(e),
            Err(e) => Proposed::Unknown(e.to_string()),
        }
    }

    /// Commit wait: returns the proof once `TT.after(ts)` holds here. If
    /// the clock fails meanwhile it keeps trying while this replica leads
    /// in `term` (the commit's locks and pending mark stay: nothing may be
    /// revealed before commit wait is over); once the term is over it gives
    /// up (`None`): the next leader waits out every timestamp in its log
    /// before it serves.
    pub(super) async fn commit_wait(&self, ts: Timestamp, term: u64) -> Option<CommitWaited> {
        loop {
            match self.truetime.wait_until_after(ts).await {
                Ok(waited) => match self.truetime.now() {
                    Ok(now) => {
                        if let Some(proof) = CommitWaited::check(ts, now) {
                            self.metrics.note_commit_wait(waited);
                            return Some(proof);
                        }
                    }
                    Err(e) => tracing::warn!(tablet = self.tablet, %ts, "commit wait: {e}"),
                },
                Err(e) => {
                    tracing::warn!(tablet = self.tablet, %ts, "commit wait cannot finish yet: {e}")
                }
            }
            if self.lease.view().term != term {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Splits the tablet at `at` through Raft; the new tablet `right` gets
    /// `[at, end)`, and this one `left_generation`. Returns the new tablet's
    /// range once the split is applied on this (leader) replica.
    pub async fn split(
        &self,
        at: Vec<u8>,
        right: TabletId,
        left_generation: u64,
    ) -> Result<KeyRange, TabletError> {
        let max_applied = self.applied().max_ts;
        let proposed = self
            .propose(|core| {
                let plan = spanlite_txn::actions::split::begin(
                    &mut core.leader,
                    &at,
                    max_applied,
                    Instant::now(),
                )?;
                Ok((
                    plan.aborted.len(),
                    Command::Split {
                        at: at.clone(),
                        right,
                        floor: plan.floor,
                        left_generation,
                    },
                ))
            })
            .await;
        let (aborted, pending) = match proposed {
            Ok(p) => p,
            Err(e) => {
                self.with_core(|core| spanlite_txn::actions::split::end(&mut core.leader, None));
                return Err(e);
            }
        };
        if aborted > 0 {
            tracing::info!(
                tablet = self.tablet,
                aborted,
                "split: aborted the transactions holding locks on the moved keys"
            );
        }
        match pending.await {
            Proposed::Applied(CommandResponse::Split { range, .. }) => Ok(range),
            other => {
                self.with_core(|core| spanlite_txn::actions::split::end(&mut core.leader, None));
                Err(TabletError::Refused {
                    tablet: self.tablet,
                    reason: format!(
                        "split refused ({other:?}): the range changed, transactions are prepared, or a membership change is in progress"
                    ),
                })
            }
        }
    }

    /// Freezes the tablet for a merge into its left neighbour `into`
    /// through Raft (`spanlite_txn::actions::merge`): new work is refused
    /// at once, what is prepared or committing here is waited out (at most
    /// `FREEZE_DRAIN_WITHIN`; then the tablet serves again and this fails). Returns the freeze's
    /// floor and log index once applied on this (leader) replica; done
    /// already (an earlier freeze into `into`) answers the same.
    pub async fn freeze(&self, into: TabletId) -> Result<(Timestamp, u64), TabletError> {
        if let Some(frozen) = self.frozen() {
            return if frozen.into == into {
                Ok((frozen.floor, self.applied().index))
            } else {
                Err(self.refused(format!("frozen for a merge into tablet {}", frozen.into)))
            };
        }
        let end = |applied| {
            self.with_core(|core| {
                spanlite_txn::actions::merge::end_freeze(&mut core.leader, applied)
            })
        };
        self.check_serving()?;
        let aborted = self.with_core(|core| {
            spanlite_txn::actions::merge::block(&mut core.leader, Instant::now())
        });
        if !aborted.is_empty() {
            tracing::info!(
                tablet = self.tablet,
                aborted = aborted.len(),
                "freeze: aborted the lock holders"
            );
        }
        // What is prepared, deciding or finishing here goes on to its end
        // (its decision, its resolve, its forget), and no new work starts.
        let deadline = Instant::now() + FREEZE_DRAIN_WITHIN;
        loop {
            let in_the_way = match self
                .with_core(|core| spanlite_txn::actions::merge::in_the_way(&core.leader))
            {
                Some(why) => Some(why),
                None => {
                    let records = spanlite_txn::apply::load_txn_records(&self.mvcc, self.tablet)
                        .map_err(|source| TabletError::Storage {
                            tablet: self.tablet,
                            source,
                        });
                    match records {
                        Ok(r) if r.nothing_prepared() && r.all_decided().next().is_none() => None,
                        Ok(_) => Some("a 2PC record is not yet forgotten here".to_string()),
                        Err(e) => {
                            end(false);
                            return Err(e);
                        }
                    }
                }
            };
            let Some(why) = in_the_way else { break };
            if Instant::now() > deadline || !self.is_serving() {
                end(false);
                return Err(self.refused(format!("freeze put off: {why}")));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let proposed = self
            .propose(|core| {
                let max_applied = self.applied().max_ts;
                let plan =
                    spanlite_txn::actions::merge::begin_freeze(&mut core.leader, max_applied)?;
                Ok((
                    (),
                    Command::Freeze {
                        into,
                        floor: plan.floor,
                    },
                ))
            })
            .await;
        let ((), pending) = match proposed {
            Ok(p) => p,
            Err(e) => {
                end(false);
                return Err(e);
            }
        };
        match pending.await {
            Proposed::Applied(CommandResponse::Frozen { into: i }) if i == into => {
                end(true);
                let frozen = self.frozen().ok_or_else(|| {
                    self.refused("the freeze was applied but no freeze is stored".to_string())
                })?;
                Ok((frozen.floor, self.applied().index))
            }
            other => {
                end(false);
                Err(self.refused(format!(
                    "freeze refused ({other:?}): transactions are prepared or decided here, or a membership change is in progress"
                )))
            }
        }
    }

    /// This tablet's freeze for a merge, if it is frozen (as applied).
    pub fn frozen(&self) -> Option<spanlite_txn::apply::Frozen> {
        self.applied().frozen
    }

    /// Takes over the frozen right neighbour `right` (`[at, end)`, frozen
    /// at `floor` on the nodes `voters`) through Raft. Returns this
    /// tablet's new range once applied on this (leader) replica.
    pub async fn merge(
        &self,
        right: TabletId,
        (at, end): (Vec<u8>, Vec<u8>),
        floor: Timestamp,
        generation: u64,
        voters: Vec<NodeId>,
    ) -> Result<KeyRange, TabletError> {
        let command = Command::Merge {
            right,
            at,
            end,
            floor,
            generation,
            voters,
        };
        let proposed = self
            .propose(|core| {
                spanlite_txn::actions::merge::begin_merge(&mut core.leader, floor);
                Ok(((), command))
            })
            .await;
        let ((), pending) = proposed?;
        match pending.await {
            Proposed::Applied(CommandResponse::Merged { range }) => {
                self.set_range(range.clone(), generation);
                Ok(range)
            }
            other => Err(self.refused(format!(
                "merge refused ({other:?}): the ranges are not adjacent, or the groups' voters differ"
            ))),
        }
    }

    /// Gives up the merge of the right neighbour `right` frozen at `floor`
    /// through Raft: `true` once the merge can never be applied here,
    /// `false` if it was applied already.
    pub async fn abandon_merge(
        &self,
        right: TabletId,
        floor: Timestamp,
    ) -> Result<bool, TabletError> {
        match self
            .propose_applied(Command::AbandonMerge { right, floor })
            .await?
        {
            CommandResponse::MergeAbandoned => Ok(true),
            CommandResponse::AlreadyMerged => Ok(false),
            other => Err(self.refused(format!("abandoning the merge answered {other:?}"))),
        }
    }

    /// The merges this tablet applied or abandoned as a left neighbour.
    pub fn merges(
        &self,
    ) -> Result<std::collections::BTreeMap<TabletId, spanlite_txn::apply::MergeRecord>, TabletError>
    {
        spanlite_txn::apply::load_merges(&self.mvcc, self.tablet).map_err(|source| {
            TabletError::Storage {
                tablet: self.tablet,
                source,
            }
        })
    }

    /// Ends this tablet's freeze into `into` at `floor` through Raft (its
    /// left neighbour abandoned the merge); it serves again.
    pub async fn unfreeze(&self, into: TabletId, floor: Timestamp) -> Result<(), TabletError> {
        match self
            .propose_applied(Command::Unfreeze { into, floor })
            .await?
        {
            CommandResponse::Unfrozen => {
                self.with_core(|core| {
                    spanlite_txn::actions::merge::end_freeze(&mut core.leader, false)
                });
                Ok(())
            }
            other => Err(self.refused(format!("unfreezing answered {other:?}"))),
        }
    }

    fn refused(&self, reason: String) -> TabletError {
        TabletError::Refused {
            tablet: self.tablet,
            reason,
        }
    }

    /// Steps down as leader: stops serving and stops heartbeats and
    /// elections here, so the other voters elect a new leader after their
    /// election timeout; returns the new leader once one is known, or `None`
    /// after `deadline`. openraft 0.9 has no targeted leadership transfer:
    /// whichever voter wins the election leads.
    pub async fn step_down(&self, deadline: Duration) -> Option<NodeId> {
        self.core_lock().stepping_down = true;
        let new_leader = self.silent_until_new_leader(deadline, async {}).await;
        self.core_lock().stepping_down = false;
        new_leader
    }

    /// Hands leadership to voter `to`: stops serving new requests, waits up
    /// to `catch_up` for `to` to hold the whole log (a candidate with less
    /// is refused votes), then goes silent as `step_down` does while `ask`
    /// runs — `ask` asks `to` to stand for election (see `campaign`).
    /// Returns the new leader (`to` unless another voter was faster), or
    /// `None` if none was elected within `deadline` (this replica leads
    /// again). Errors: `to` did not catch up in time (nothing changed).
    pub async fn hand_off(
        &self,
        to: NodeId,
        catch_up: Duration,
        deadline: Duration,
        ask: impl Future<Output = ()>,
    ) -> Result<Option<NodeId>, String> {
        self.core_lock().stepping_down = true;
        let until = Instant::now() + catch_up;
        let mut metrics = self.raft.metrics();
        let result = loop {
            if self.caught_up(to) {
                break Ok(self.silent_until_new_leader(deadline, ask).await);
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, metrics.changed()).await.is_err() {
                break Err(format!(
                    "node {to} did not replicate all of tablet {}'s log within {catch_up:?}",
                    self.tablet
                ));
            }
        };
        self.core_lock().stepping_down = false;
        result
    }

    /// Stops heartbeats and elections here, runs `ask`, and waits for
    /// another voter to lead (at most `deadline`); heartbeats and elections
    /// resume afterwards either way.
    async fn silent_until_new_leader(
        &self,
        deadline: Duration,
        ask: impl Future<Output = ()>,
    ) -> Option<NodeId> {
        let rt = self.raft.runtime_config();
        rt.heartbeat(false);
        rt.elect(false);
        let start = Instant::now();
        let wait = async {
            let mut metrics = self.raft.metrics();
            loop {
                let leader = metrics.borrow_and_update().current_leader;
                if let Some(l) = leader.filter(|&l| l != self.node_id) {
                    break Some(l);
                }
                let left = deadline.saturating_sub(start.elapsed());
                if left.is_zero() || tokio::time::timeout(left, metrics.changed()).await.is_err() {
                    break None;
                }
            }
        };
        let ((), new_leader) = tokio::join!(ask, wait);
        rt.heartbeat(true);
        rt.elect(true);
        new_leader
    }

    /// Whether voter `to` holds every entry of this leader's log. `false`
    /// when this replica does not lead.
    fn caught_up(&self, to: NodeId) -> bool {
        let m = self.raft.metrics().borrow().clone();
        let last = m.last_log_index;
        m.replication
            .as_ref()
            .and_then(|r| r.get(&to).cloned())
            .is_some_and(|matched| matched.map(|l| l.index) == last)
    }

    /// Stands for election, for a leader handing leadership here: waits
    /// `after` (until the other voters' lease on the old leader has run out;
    /// before that they refuse any vote), then starts an election, and again
    /// every `retry` while no other node leads and this one does not, until
    /// `window` has passed. The other voters' own election timers fire only
    /// an election timeout after their lease runs out, so this replica asks
    /// first. Returns whether this replica leads at the end.
    pub async fn campaign(&self, after: Duration, retry: Duration, window: Duration) -> bool {
        let mut metrics = self.raft.metrics();
        let first_term = metrics.borrow_and_update().current_term;
        tokio::time::sleep(after).await;
        let until = Instant::now() + window;
        loop {
            let (leader, term) = {
                let m = metrics.borrow_and_update();
                (m.current_leader, m.current_term)
            };
            match leader {
                Some(l) if l == self.node_id => return true,
                // Another voter won an election since the hand-off began.
                Some(_) if term > first_term => return false,
                _ => {}
            }
            if Instant::now() >= until {
                return false;
            }
            if let Err(e) = self.raft.trigger().elect().await {
                tracing::warn!(tablet = self.tablet, "campaign: {e}");
                return false;
            }
            // Give the election `retry` to finish before standing again: an
            // election changes the metrics at once (a new term), so waking
            // on any change would start one election after another (seen:
            // thousands of terms in a second under the Jepsen-style test).
            let next = Instant::now() + retry;
            loop {
                let left = next.saturating_duration_since(Instant::now());
                if left.is_zero() || tokio::time::timeout(left, metrics.changed()).await.is_err() {
                    break;
                }
                if metrics.borrow_and_update().current_leader.is_some() {
                    break;
                }
            }
        }
    }

    /// Requests waiting in this replica's lock table.
    pub fn lock_waiters(&self) -> usize {
        self.core_lock().leader.locks().waiting()
    }

    /// The latest committed pairs of `range` (clipped to this replica's
    /// range) in this replica's local state, whatever its role (tools and
    /// tests that compare replicas).
    pub fn scan_local(
        &self,
        range: &KeyRange,
    ) -> Result<Vec<spanlite_storage::mvcc::Row>, TabletError> {
        use std::ops::Bound;
        let own = self.range();
        let start = range.start.clone().max(own.start.clone());
        let end = match (range.end.is_empty(), own.end.is_empty()) {
            (true, true) => Bound::Unbounded,
            (true, false) => Bound::Excluded(own.end),
            (false, true) => Bound::Excluded(range.end.clone()),
            (false, false) => Bound::Excluded(range.end.clone().min(own.end)),
        };
        self.local(self.mvcc.scan(
            Bound::Included(start),
            end,
            Timestamp::MAX,
            spanlite_storage::engine::Direction::Forward,
            None,
        ))
    }

    /// The latest committed value of `key` in this replica's local state,
    /// whether or not it leads (for tests and tools that check replicas).
    pub fn get_local(&self, key: &[u8]) -> Result<Option<Vec<u8>>, TabletError> {
        self.local(self.mvcc.get(key, Timestamp::MAX))
    }

    /// A local read's outcome: an undecided intent in the way is
    /// `Unresolved`.
    fn local<T>(
        &self,
        read: spanlite_storage::Result<spanlite_storage::mvcc::ReadOutcome<T>>,
    ) -> Result<T, TabletError> {
        match read {
            Ok(spanlite_storage::mvcc::ReadOutcome::Ready(v)) => Ok(v),
            Ok(spanlite_storage::mvcc::ReadOutcome::Blocked(_)) => Err(TabletError::aborted(
                self.tablet,
                spanlite_txn::AbortReason::Unresolved,
            )),
            Err(source) => Err(TabletError::Storage {
                tablet: self.tablet,
                source,
            }),
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.follower.abort();
        self.duties.abort();
    }
}
