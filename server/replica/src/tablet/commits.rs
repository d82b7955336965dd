//! Commits on a tablet leader: the one-phase commit, 2PC's lock phase,
//! prepare and decision, and the participant's resolve and abort — each a
//! `spanlite_txn::actions` step, proposed, applied and commit-waited here.
//!
//! ```text
//!   commit    ──▶ lock ──▶ commit: Write @ s ──▶ applied ∧ TT.after(s) ──▶ committed
//!   lock      ──▶ lock (2PC's lock phase, every participant and the coordinator)
//!   prepare   ──▶ lock ──▶ prepare: Prepare @ p ──▶ applied ──▶ prepared
//!   coordinate──▶ lock ──▶ decide: Decide{Commit s} ──▶ applied ∧ TT.after(s)
//!                 ──▶ decided ──▶ reply, then tell the participants
//!   resolve / abort ──▶ prepared here? Resolve ──▶ applied ──▶ resolved
//! ```
//!
//! Each call is run by the Tablet service in a task of its own, so a client
//! that gives up (a dropped RPC) never cuts a commit in half: the task
//! finishes the protocol and releases what it holds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::TxnId;
use spanlite_truetime::Timestamp;
use spanlite_txn::actions::commit::{Commit, WriteOutcome, commit, committed};
use spanlite_txn::actions::decide::{self, DecideOutcome};
use spanlite_txn::actions::prepare::{self, CommitInput, Now, PrepareOutcome};
use spanlite_txn::actions::resolve::{self, AbortPlan};
use spanlite_txn::actions::validate::Validation;
use spanlite_txn::leader::Progress;
use spanlite_txn::twopc::{Decision, StatusAnswer};
use spanlite_txn::{Command, CommandResponse, Mutation, TxnError};

use super::error::TabletError;
use super::replica::{Proposed, Replica};

/// What a commit, a lock phase, a prepare or a decision asks of a tablet.
#[derive(Clone, Debug)]
pub struct CommitRequest {
    /// The transaction.
    pub txn: TxnId,
    /// Its wound-wait priority.
    pub priority: Timestamp,
    /// Its writes on this tablet.
    pub writes: Vec<Mutation>,
    /// What to check first.
    pub validation: Validation,
    /// The descriptor generation it was routed with (0: unknown).
    pub generation: u64,
    /// The commit timestamp must be below this (see
    /// [`CommitInput::commit_before`]).
    pub commit_before: Option<Timestamp>,
    /// The commit timestamp must be below this too (see
    /// [`CommitInput::read_locks_until`]).
    pub read_locks_until: Option<Timestamp>,
    /// See [`CommitInput::alone`].
    pub alone: bool,
}

impl CommitRequest {
    fn input(&self) -> CommitInput<'_> {
        CommitInput {
            txn: self.txn,
            priority: self.priority,
            writes: &self.writes,
            validation: &self.validation,
            generation: self.generation,
            commit_before: self.commit_before,
            read_locks_until: self.read_locks_until,
            alone: self.alone,
        }
    }
}

/// A step run after its lock phase: it must not wait (its locks are held;
/// had it been wounded meanwhile it would have failed instead).
fn locks_held<T>(progress: Progress<T>, what: &str) -> Result<T, TxnError> {
    match progress {
        Progress::Done(t) => Ok(t),
        Progress::Wait(_) => Err(TxnError::Refused(format!(
            "the {what}'s locks were lost after its lock phase"
        ))),
    }
}

/// A raw write's transaction id: the top bit set (gateways never set it).
fn raw_txn_id() -> TxnId {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    TxnId((1u128 << 127) | (u128::from(std::process::id()) << 64) | u128::from(n))
}

impl Replica {
    fn now(&self) -> Result<Now, TxnError> {
        Ok(Now {
            tt: self.truetime.now()?,
            max_applied: self.applied().max_ts,
            instant: Instant::now(),
        })
    }

    /// The lock phase of `req` (2PC): waits at most `wait` for the locks.
    pub async fn txn_lock(&self, req: &CommitRequest, wait: Duration) -> Result<(), TabletError> {
        self.check_serving()?;
        let input = req.input();
        let mvcc = self.mvcc().clone();
        self.run_step(req.txn, wait, |leader, now| {
            prepare::lock(leader, &mvcc, &input, now)
        })
        .await
    }

    /// Writes `mutations` atomically at a new timestamp (a transaction of
    /// its own, committed in one phase); returns once they are visible.
    pub async fn write(&self, mutations: Vec<Mutation>) -> Result<Timestamp, TabletError> {
        let priority = self
            .truetime
            .now()
            .map_err(|e| TabletError::ClockUnsynchronized(e.to_string()))?
            .latest;
        let req = CommitRequest {
            txn: raw_txn_id(),
            priority,
            writes: mutations,
            validation: Validation::default(),
            generation: 0,
            commit_before: None,
            read_locks_until: None,
            alone: false,
        };
        self.txn_commit(&req, Duration::from_secs(4)).await
    }

    /// Commits `req` on this tablet alone (the one-phase fast path);
    /// returns its commit timestamp once it is visible (commit wait over).
    /// Without writes (an OCC transaction that only read) it only
    /// validates and returns a timestamp its reads are current at.
    pub async fn txn_commit(
        &self,
        req: &CommitRequest,
        wait: Duration,
    ) -> Result<Timestamp, TabletError> {
        self.txn_lock(req, wait).await?;
        let term = self.lease.view().term;
        let input = req.input();
        let mvcc = self.mvcc().clone();
        if req.writes.is_empty() {
            let now = self.now().map_err(|e| self.txn_error(e))?;
            return match self
                .with_core(|core| commit(&mut core.leader, &mvcc, &input, now))
                .map_err(|e| self.txn_error(e))?
            {
                Progress::Done(Commit::ReadOnly(t)) => Ok(t),
                other => Err(TabletError::Refused {
                    tablet: self.tablet,
                    reason: format!("a commit without writes answered {other:?}"),
                }),
            };
        }
        let (ts, pending) = self
            .propose(|core| {
                let now = self.now()?;
                match locks_held(commit(&mut core.leader, &mvcc, &input, now)?, "commit")? {
                    Commit::Write { ts, command } => Ok((ts, command)),
                    Commit::ReadOnly(_) => Err(TxnError::Refused(
                        "a commit with writes found nothing to write".to_string(),
                    )),
                }
            })
            .await?;
        // Commit wait overlaps replication.
        let (proposed, waited) = tokio::join!(pending, self.commit_wait(ts, term));
        let outcome = match (proposed, waited) {
            (Proposed::Applied(response), Some(proof)) => WriteOutcome::Done(response, proof),
            (Proposed::Applied(_), None) => WriteOutcome::Unknown,
            (Proposed::NotLeader(_), _) => WriteOutcome::NotLogged,
            (Proposed::Unknown(_), _) => WriteOutcome::Unknown,
        };
        let result = self
            .with_core(|core| committed(&mut core.leader, req.txn, ts, outcome, Instant::now()))
            .map_err(|e| self.txn_error(e));
        if result.is_ok() {
            self.metrics.note_commit(false);
        }
        result
    }

    /// The lock phase of a 2PL participant that only read here: its read
    /// locks are kept for the decision, with no Raft entry, until the
    /// returned timestamp (the end of this leader's lease), which the
    /// commit timestamp must be below (`prepare::read_lock`).
    pub async fn txn_read_lock(
        &self,
        req: &CommitRequest,
        wait: Duration,
    ) -> Result<Timestamp, TabletError> {
        self.check_serving()?;
        let input = req.input();
        let mvcc = self.mvcc().clone();
        let truetime = self.truetime.clone();
        let lease = self.lease.clone();
        self.run_step(req.txn, wait, |leader, now| {
            // Measured at each attempt (a wait for a lock uses up lease),
            // the clock first: earliest + remaining never passes the
            // lease's real end.
            let earliest = truetime.now()?.earliest;
            let remaining = lease.view().remaining_at(Instant::now());
            if remaining.is_zero() {
                return Err(TxnError::aborted_because(
                    spanlite_txn::AbortReason::LeaderChanged,
                    "this leader holds no lease to keep read locks under",
                ));
            }
            let remaining = u64::try_from(remaining.as_nanos()).unwrap_or(u64::MAX);
            let until = Timestamp::from_nanos(earliest.as_nanos().saturating_add(remaining));
            prepare::read_lock(leader, &mvcc, &input, until, now)
        })
        .await
    }

    /// Prepares `req` here for two-phase commit coordinated by the tablet
    /// `coordinator`; returns the prepare timestamp. A 2PL transaction that
    /// only read here holds its read locks with `txn_read_lock` instead;
    /// an optimistic one that only read here prepares (its validated reads
    /// must stay so until the decision).
    pub async fn txn_prepare(
        &self,
        req: &CommitRequest,
        coordinator: TabletId,
        wait: Duration,
    ) -> Result<Timestamp, TabletError> {
        self.txn_lock(req, wait).await?;
        let input = req.input();
        let mvcc = self.mvcc().clone();
        let (p, pending) = self
            .propose(|core| {
                let now = self.now()?;
                locks_held(
                    prepare::prepare(&mut core.leader, &mvcc, &input, coordinator, now)?,
                    "prepare",
                )
            })
            .await?;
        let outcome = match pending.await {
            Proposed::Applied(response) => PrepareOutcome::Applied(response),
            Proposed::NotLeader(_) => PrepareOutcome::NotLogged,
            Proposed::Unknown(_) => PrepareOutcome::Unknown,
        };
        let result = self.with_core(|core| {
            prepare::prepared(&mut core.leader, req.txn, p, outcome, Instant::now())
        });
        match result {
            prepare::Vote::Yes(ts) => Ok(ts),
            prepare::Vote::No { error: e, undo } => {
                if let Some(command) = undo {
                    // Best effort: the termination protocol resolves it
                    // otherwise (the coordinator records an abort).
                    let _ = self.propose_carried(command).await;
                    self.with_core(|core| {
                        resolve::resolved(&mut core.leader, req.txn, Instant::now())
                    });
                }
                Err(self.txn_error(e))
            }
        }
    }

    /// Decides `req.txn`, whose other `participants` prepared at the given
    /// timestamps, and commits this tablet's own writes with the decision;
    /// returns the commit timestamp after commit wait. The participants
    /// are told in the background.
    pub async fn txn_coordinate(
        self: &Arc<Self>,
        req: &CommitRequest,
        participants: Vec<(TabletId, Timestamp)>,
        wait: Duration,
    ) -> Result<Timestamp, TabletError> {
        self.txn_lock(req, wait).await?;
        let term = self.lease.view().term;
        let input = req.input();
        let mvcc = self.mvcc().clone();
        let (s, pending) = self
            .propose(|core| {
                let now = self.now()?;
                locks_held(
                    decide::decide(&mut core.leader, &mvcc, &input, &participants, now)?,
                    "decision",
                )
            })
            .await?;
        let (proposed, waited) = tokio::join!(pending, self.commit_wait(s, term));
        let outcome = match proposed {
            Proposed::Applied(response) => {
                let waited = match &response {
                    // Recorded earlier by a retried commit: wait out that
                    // timestamp.
                    CommandResponse::Decided {
                        decision: Decision::Commit(recorded),
                    } if *recorded != s => self.commit_wait(*recorded, term).await,
                    CommandResponse::Decided {
                        decision: Decision::Commit(_),
                    } => waited,
                    _ => None,
                };
                match (&response, waited) {
                    (
                        CommandResponse::Decided {
                            decision: Decision::Commit(_),
                        },
                        None,
                    ) => DecideOutcome::Unknown,
                    (_, waited) => DecideOutcome::Done(response, waited),
                }
            }
            Proposed::NotLeader(_) => DecideOutcome::NotLogged,
            Proposed::Unknown(_) => DecideOutcome::Unknown,
        };
        let ids: Vec<TabletId> = participants.iter().map(|(t, _)| *t).collect();
        let result = self
            .with_core(|core| {
                decide::decided(&mut core.leader, req.txn, s, ids, outcome, Instant::now())
            })
            .map_err(|e| self.txn_error(e));
        if result.is_ok() {
            self.metrics.note_commit(true);
            super::duties::tell_participants(self, req.txn);
        }
        result
    }

    /// Applies the outcome of `txn` here (the coordinator's decision): its
    /// intents become versions at the commit timestamp, or are removed;
    /// then its locks are released. Idempotent.
    pub async fn txn_resolve(&self, txn: TxnId, decision: Decision) -> Result<(), TabletError> {
        self.check_serving()?;
        let command = self.with_core(|core| resolve::resolve(&mut core.leader, txn, decision));
        if let Some(command) = command {
            self.propose_applied(command).await?;
        }
        self.with_core(|core| resolve::resolved(&mut core.leader, txn, Instant::now()));
        Ok(())
    }

    /// Aborts `txn` here, whether it only read (locks released) or
    /// prepared (intents removed through Raft). Idempotent. `fence`: see
    /// `AbortRequest.fence` (the abort is remembered and later requests of
    /// the transaction are refused).
    pub async fn txn_abort(&self, txn: TxnId, fence: bool) -> Result<(), TabletError> {
        // Only the leader knows what the transaction holds here.
        self.check_serving()?;
        let plan = self
            .with_core(|core| resolve::abort(&mut core.leader, txn, fence, Instant::now()))
            .map_err(|e| self.txn_error(e))?;
        if let AbortPlan::Resolve(command) = plan {
            self.propose_applied(command).await?;
            self.with_core(|core| resolve::resolved(&mut core.leader, txn, Instant::now()));
        }
        Ok(())
    }

    /// The outcome of `txn` as this coordinator tablet knows it, for a
    /// participant in doubt: `None` while this leader is deciding it;
    /// nothing recorded means a recorded abort (presumed abort).
    pub async fn txn_status(&self, txn: TxnId) -> Result<Option<Decision>, TabletError> {
        self.check_serving()?;
        let recorded = spanlite_txn::apply::load_decision(self.mvcc(), self.tablet, txn)
            .map_err(|source| TabletError::Storage {
                tablet: self.tablet,
                source,
            })?
            .map(|d| d.decision);
        // Frozen for a merge with nothing decided (a freeze needs that) and
        // no decision possible any more: every question gets abort.
        if recorded.is_none() && self.applied().frozen_into().is_some() {
            return Ok(Some(Decision::Abort));
        }
        let answer = self.with_core(|core| decide::status(&core.leader, txn, recorded));
        match answer {
            StatusAnswer::Known(d) => Ok(Some(d)),
            StatusAnswer::Pending => Ok(None),
            StatusAnswer::RecordAbort => {
                match self.propose_applied(decide::record_abort(txn)).await? {
                    CommandResponse::Decided { decision } => Ok(Some(decision)),
                    other => Err(TabletError::Refused {
                        tablet: self.tablet,
                        reason: format!("abort record answered {other:?}"),
                    }),
                }
            }
        }
    }

    /// Proposes a command that assigns no timestamp; its response once
    /// applied.
    pub(super) async fn propose_applied(
        &self,
        command: Command,
    ) -> Result<CommandResponse, TabletError> {
        match self.propose_carried(command).await {
            Proposed::Applied(response) => Ok(response),
            Proposed::NotLeader(e) => Err(e),
            Proposed::Unknown(message) => Err(TabletError::Replication {
                tablet: self.tablet,
                message,
            }),
        }
    }
}
