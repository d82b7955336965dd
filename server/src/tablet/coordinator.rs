//! The coordinator side of two-phase commit (DESIGN.md §6) on the leader
//! of the coordinator tablet, and what a leader does for transactions on
//! its own: answering participants in doubt (termination protocol with
//! presumed abort), telling participants decisions (also a new leader's
//! unfinished ones), asking coordinators about its own in-doubt prepares,
//! and taking prepared transactions' locks again when it starts to lead.
//!
//! ```text
//!   commit(w, votes) ──▶ X locks on w ──▶ Raft: Decide{Commit s, w, participants}
//!                        s ≥ every prepare ts, > TT.now().latest, > last assigned
//!                    ──▶ commit wait (overlapped) ──▶ release, reply ──▶ tell participants
//!                    ──▶ all applied ──▶ Raft: Forget
//!   status(txn)      ──▶ recorded? answer : deciding now? Pending : Raft: Decide{Abort}
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::TxnId;
use spanlite_truetime::Timestamp;
use spanlite_txn::twopc::{Decision, StatusAnswer, TxnRecords};

use super::TabletError;
use super::replica::{Replica, Stamp, TxnBook, lock};
use super::validate::Validation;
use crate::raft::{Command, CommandResponse, Mutation, load_decision, load_txn_records};

/// Backoff between attempts to tell a participant a decision.
const TELL_RETRY: Duration = Duration::from_millis(200);

impl Replica {
    /// Decides `txn`, whose other `participants` prepared at the given
    /// timestamps, and commits this tablet's own `mutations` with the
    /// decision; returns the commit timestamp after commit wait. The
    /// participants are told in the background.
    pub async fn txn_coordinate(
        self: &Arc<Self>,
        txn: TxnId,
        priority: Timestamp,
        mutations: Vec<Mutation>,
        validation: &Validation,
        participants: Vec<(TabletId, Timestamp)>,
        wait: Duration,
    ) -> Result<Timestamp, TabletError> {
        self.lock_for_commit(txn, priority, &mutations, validation, wait)
            .await?;
        let min = participants
            .iter()
            .map(|(_, p)| *p)
            .max()
            .unwrap_or(Timestamp::MIN);
        let ids: Vec<TabletId> = participants.iter().map(|(t, _)| *t).collect();
        lock(&self.txns).deciding.insert(txn);
        let submitted = self
            .submit(Stamp::AtLeast(min), |ts| Command::Decide {
                txn,
                decision: Decision::Commit(ts),
                participants: ids.clone(),
                writes: mutations,
            })
            .await;
        let (ts, pending) = match submitted {
            Ok(p) => p,
            Err(e) => {
                lock(&self.txns).deciding.remove(&txn);
                return Err(self.aborted(txn, format!("cannot decide: {e}")));
            }
        };
        let (decided, waited) = tokio::join!(pending, self.truetime.wait_until_after(ts));
        lock(&self.txns).deciding.remove(&txn);
        let decision = match decided {
            Ok(resp) => resp.data,
            // Not appended: no decision; the participants will hear abort.
            Err(e @ TabletError::NotLeader { .. }) => {
                return Err(self.aborted(txn, format!("coordinator leader changed: {e}")));
            }
            Err(e) => {
                self.txn_finish(txn);
                return Err(TabletError::Ambiguous {
                    tablet: self.tablet,
                    message: e.to_string(),
                });
            }
        };
        match decision {
            CommandResponse::Decided {
                decision: Decision::Commit(s),
            } => {
                let waited = if s == ts {
                    waited
                } else {
                    self.truetime.wait_until_after(s).await
                };
                self.metrics
                    .note_commit_wait(waited.map_err(Self::clock_error_of)?);
                self.txn_finish(txn);
                self.metrics.note_commit(true);
                self.tell_participants(txn, Decision::Commit(s), ids);
                Ok(s)
            }
            CommandResponse::Decided {
                decision: Decision::Abort,
            } => Err(self.aborted(
                txn,
                "presumed abort: a participant in doubt asked before the decision",
            )),
            CommandResponse::WrongTablet => {
                self.txn_finish(txn);
                Err(TabletError::WrongTablet {
                    tablet: self.tablet,
                    range: self.range().to_string(),
                })
            }
            other => Err(self.aborted(txn, format!("decision answered {other:?}"))),
        }
    }

    fn clock_error_of(e: spanlite_truetime::TrueTimeError) -> TabletError {
        TabletError::ClockUnsynchronized(e.to_string())
    }

    /// The outcome of `txn` as this coordinator tablet knows it, for a
    /// participant in doubt: `None` while this leader is deciding it;
    /// nothing recorded means a recorded abort (presumed abort).
    pub async fn txn_status(&self, txn: TxnId) -> Result<Option<Decision>, TabletError> {
        self.check_serving()?;
        let deciding = lock(&self.txns).deciding.contains(&txn);
        let decided = load_decision(self.mvcc(), self.tablet, txn).map_err(|source| {
            TabletError::Storage {
                tablet: self.tablet,
                source,
            }
        })?;
        let records = TxnRecords::from_parts([], decided.map(|d| (txn, d)));
        match records.status(txn, deciding) {
            StatusAnswer::Known(d) => Ok(Some(d)),
            StatusAnswer::Pending => Ok(None),
            StatusAnswer::RecordAbort => {
                let (_, pending) = self
                    .submit(Stamp::Carried, |_| Command::Decide {
                        txn,
                        decision: Decision::Abort,
                        participants: Vec::new(),
                        writes: Vec::new(),
                    })
                    .await?;
                match pending.await?.data {
                    CommandResponse::Decided { decision } => Ok(Some(decision)),
                    other => Err(TabletError::Replication {
                        tablet: self.tablet,
                        message: format!("abort record answered {other:?}"),
                    }),
                }
            }
        }
    }

    /// Tells `participants` the decision in the background, retrying while
    /// this replica leads; once all applied it, the decision record may go.
    pub(super) fn tell_participants(
        self: &Arc<Self>,
        txn: TxnId,
        decision: Decision,
        participants: Vec<TabletId>,
    ) {
        let Some(peers) = self.peers.get().cloned() else {
            tracing::warn!(tablet = self.tablet, %txn, "no peers to tell the decision to");
            return;
        };
        if !lock(&self.txns).finishing.insert(txn) {
            return;
        }
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut set = tokio::task::JoinSet::new();
            for p in participants {
                let (peers, me) = (peers.clone(), me.clone());
                set.spawn(async move {
                    loop {
                        match peers.resolve(p, txn, decision).await {
                            Ok(()) => return true,
                            Err(e) => {
                                tracing::debug!(%txn, participant = p, "telling the decision: {e}")
                            }
                        }
                        tokio::time::sleep(TELL_RETRY).await;
                        if !me.upgrade().is_some_and(|r| r.is_serving()) {
                            // The next leader tells them.
                            return false;
                        }
                    }
                });
            }
            let mut all = true;
            while let Some(told) = set.join_next().await {
                all &= told.unwrap_or(false);
            }
            if let Some(r) = me.upgrade() {
                let mut book = lock(&r.txns);
                book.finishing.remove(&txn);
                if all {
                    book.forgettable.push(txn);
                }
            }
        });
    }

    /// A new leader's start: locks of the previous term are dropped, those
    /// of prepared transactions taken again from their records; decisions
    /// not yet known to every participant are told again.
    pub(super) fn restore_txns(self: &Arc<Self>) -> Result<(), spanlite_storage::StorageError> {
        let records = load_txn_records(self.mvcc(), self.tablet)?;
        self.locks.reset();
        let now = Instant::now();
        // Ask soon: a leadership change often means a crash.
        let since = now.checked_sub(self.in_doubt_after).unwrap_or(now) + Duration::from_secs(1);
        {
            let mut book = lock(&self.txns);
            *book = TxnBook::default();
            for (txn, p) in records.all_prepared() {
                self.locks
                    .restore_prepared(*txn, p.priority, p.locks.clone());
                book.prepared.insert(*txn, (p.coordinator, since));
            }
        }
        for (txn, d) in records.all_decided() {
            if d.participants.is_empty() {
                continue;
            }
            self.tell_participants(*txn, d.decision, d.participants.clone());
        }
        Ok(())
    }

    /// Periodic duties of a serving leader (called by the reaper): ask the
    /// coordinators of transactions in doubt for too long, drop decision
    /// records every participant applied, and keep followers' safe time
    /// moving on an idle tablet.
    pub(super) fn housekeeping(self: &Arc<Self>) {
        if !self.is_serving() {
            return;
        }
        let (in_doubt, forget) = {
            let mut book = lock(&self.txns);
            let now = Instant::now();
            let due: Vec<(TxnId, TabletId)> = book
                .prepared
                .iter()
                .filter(|(_, (_, since))| now.duration_since(*since) > self.in_doubt_after)
                .map(|(t, (c, _))| (*t, *c))
                .collect();
            let mut in_doubt = Vec::new();
            for (txn, coordinator) in due {
                if book.asking.insert(txn) {
                    book.prepared.insert(txn, (coordinator, now));
                    in_doubt.push((txn, coordinator));
                }
            }
            (in_doubt, std::mem::take(&mut book.forgettable))
        };
        if let Some(peers) = self.peers.get().cloned() {
            for (txn, coordinator) in in_doubt {
                let me = self.clone();
                let peers = peers.clone();
                tokio::spawn(async move {
                    match peers.status(coordinator, txn).await {
                        Ok(Some(decision)) => {
                            tracing::info!(tablet = me.tablet, %txn, ?decision, "in-doubt transaction resolved by its coordinator");
                            if let Err(e) = me.txn_resolve(txn, decision).await {
                                tracing::debug!(%txn, "resolving: {e}");
                            }
                        }
                        Ok(None) => {}
                        Err(e) => tracing::debug!(%txn, coordinator, "asking the coordinator: {e}"),
                    }
                    lock(&me.txns).asking.remove(&txn);
                });
            }
        }
        if !forget.is_empty() {
            let me = self.clone();
            tokio::spawn(async move {
                let txns = forget.clone();
                let done = match me
                    .submit(Stamp::Carried, |_| Command::Forget { txns })
                    .await
                {
                    Ok((_, pending)) => pending.await.is_ok(),
                    Err(_) => false,
                };
                if !done {
                    // Try again next time (forgetting twice is harmless).
                    lock(&me.txns).forgettable.extend(forget);
                }
            });
        }
        if self.safe_time_due() {
            let me = self.clone();
            tokio::spawn(async move {
                let proposed = me
                    .submit(Stamp::AtLeast(Timestamp::MIN), |ts| Command::SafeTime {
                        ts,
                    })
                    .await;
                if let Ok((_, pending)) = proposed {
                    let _ = pending.await;
                }
            });
        }
    }
}
