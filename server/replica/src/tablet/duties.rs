//! A leader's duties between requests: starting a term, the periodic
//! sweep (`spanlite_txn::actions::reap`), asking coordinators about
//! transactions in doubt, telling participants decisions, and dropping
//! decision records every participant applied.
//!
//! ```text
//!   new term ──▶ LeaseStart{floor} applied ──▶ TT.after(s_max) ──▶ fresh
//!                Leader, prepared txns' locks restored ──▶ serving
//!   every tick ──▶ sweep: idle aborts, in doubt → ask, decided → tell,
//!                  read locks held past their lease end → released
//!              ──▶ told by all → Forget
//! ```

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use spanlite_storage::mvcc::TxnId;
use spanlite_txn::actions::{decide, reap};
use spanlite_txn::leader::Leader;
use spanlite_txn::{Command, KeyRange};

use super::replica::{Proposed, Replica};

/// How often a leader runs its sweep (at most).
const SWEEP_EVERY: Duration = Duration::from_millis(250);

/// Backoff between attempts to tell a participant a decision.
const TELL_RETRY: Duration = Duration::from_millis(200);

/// The replica's duties until it is dropped.
pub(super) async fn run(me: Weak<Replica>, idle: Duration) {
    let tick = (idle / 4).clamp(Duration::from_millis(10), SWEEP_EVERY);
    let mut sweep = tokio::time::interval(tick);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        sweep.tick().await;
        let Some(replica) = me.upgrade() else { return };
        if replica.is_serving() {
            replica.sweep();
        }
    }
}

impl Replica {
    fn sweep(self: &Arc<Self>) {
        let earliest = self.truetime.now().ok().map(|tt| tt.earliest);
        let (sweep, forget) = self.with_core(|core| {
            let sweep = reap::sweep(&mut core.leader, Instant::now());
            if let Some(earliest) = earliest {
                reap::expire_read_locks(&mut core.leader, earliest, Instant::now());
            }
            (sweep, std::mem::take(&mut core.forgettable))
        });
        for _ in &sweep.aborted {
            self.metrics.note_abort(spanlite_txn::AbortReason::Idle);
        }
        if let Some(peers) = self.peers.get().cloned() {
            for (txn, coordinator) in sweep.in_doubt {
                let me = self.clone();
                let peers = peers.clone();
                tokio::spawn(async move {
                    match peers.status(coordinator, txn).await {
                        Ok(Some(decision)) => {
                            tracing::info!(tablet = me.tablet, %txn, ?decision, "in-doubt transaction resolved by its coordinator");
                            if let Err(e) = me.txn_resolve(txn, decision).await {
                                tracing::debug!(%txn, "resolving: {e}");
                                me.with_core(|core| reap::asked(&mut core.leader, txn));
                            }
                        }
                        Ok(None) => me.with_core(|core| reap::asked(&mut core.leader, txn)),
                        Err(e) => {
                            tracing::debug!(%txn, coordinator, "asking the coordinator: {e}");
                            me.with_core(|core| reap::asked(&mut core.leader, txn));
                        }
                    }
                });
            }
        }
        for (txn, _, _) in sweep.to_tell {
            // `sweep` marked them being told already.
            tell(self, txn);
        }
        if !forget.is_empty() {
            let me = self.clone();
            tokio::spawn(async move {
                let txns = forget.clone();
                if !matches!(
                    me.propose_carried(Command::Forget { txns }).await,
                    Proposed::Applied(_)
                ) {
                    // Try again next time (forgetting twice is harmless).
                    me.core_lock().forgettable.extend(forget);
                }
            });
        }
    }
}

/// Tells the participants of the `Finishing` transaction `txn` its
/// decision in the background (unless someone is telling them already).
pub(super) fn tell_participants(replica: &Arc<Replica>, txn: TxnId) {
    let started = replica.with_core(|core| decide::start_telling(&mut core.leader, txn));
    if started.is_some() {
        tell(replica, txn);
    }
}

/// Tells the participants of `txn` (marked being told), retrying while this
/// replica leads; once all applied it, the decision record may go.
fn tell(replica: &Arc<Replica>, txn: TxnId) {
    let Some(peers) = replica.peers.get().cloned() else {
        tracing::warn!(tablet = replica.tablet, %txn, "no peers to tell the decision to");
        return;
    };
    let me = Arc::downgrade(replica);
    let replica = replica.clone();
    tokio::spawn(async move {
        let Some((decision, participants)) = replica.with_core(|core| {
            core.leader.book().get(txn).and_then(|s| match s {
                spanlite_txn::leader::TxnState::Finishing {
                    decision,
                    participants,
                    ..
                } => Some((*decision, participants.clone())),
                _ => None,
            })
        }) else {
            return;
        };
        drop(replica);
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
            r.with_core(|core| {
                if decide::told(&mut core.leader, txn, all) {
                    core.forgettable.push(txn);
                }
            });
        }
    });
}

/// Starts serving `term` once this replica's `LeaseStart` entry of that
/// term is applied: every timestamp it assigns will be above the floor
/// (`TT.now().latest` at election and every timestamp in the log, Spanner's
/// `s_max`). Retries while the clock cannot vouch for time and this replica
/// still leads in `term`.
pub(super) async fn start_term(me: Weak<Replica>, term: u64) {
    loop {
        let Some(replica) = me.upgrade() else { return };
        let view = replica.lease.view();
        if view.term != term || !view.is_leader {
            return;
        }
        let floor = match replica.truetime.now() {
            Ok(now) => now.latest.max(replica.applied().max_ts),
            Err(e) => {
                tracing::warn!(tablet = replica.tablet, "cannot start lease: {e}");
                drop(replica);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let raft = replica.raft().clone();
        let node = replica.node_id();
        drop(replica);
        match raft
            .client_write(Command::LeaseStart {
                leader: node,
                floor,
            })
            .await
        {
            Ok(resp) if resp.log_id.leader_id.term == term => {
                let Some(replica) = me.upgrade() else { return };
                if let Err(e) = replica.begin_term(term, floor).await {
                    tracing::error!(
                        tablet = replica.tablet,
                        term,
                        "cannot restore prepared transactions: {e}"
                    );
                }
                return;
            }
            Ok(_) => return,
            Err(e) => {
                tracing::info!(term, "lease start not committed: {e}");
                return;
            }
        }
    }
}

impl Replica {
    /// The rest of a term's start (see [`start_term`]): waits out every
    /// timestamp in the log (a write of an earlier term may have been
    /// applied before its commit wait ended), then takes up the log's
    /// unfinished transactions with a fresh leader state.
    async fn begin_term(
        self: &Arc<Self>,
        term: u64,
        floor: spanlite_truetime::Timestamp,
    ) -> Result<(), spanlite_storage::StorageError> {
        let s_max = self.applied().max_ts;
        while self.truetime.wait_until_after(s_max).await.is_err() {
            if self.lease.view().term != term {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let records = spanlite_txn::apply::load_txn_records(self.mvcc(), self.tablet)?;
        let range: KeyRange = self.range();
        let generation = self.generation();
        let mut leader = Leader::new(self.tablet, range, generation, floor, self.config);
        leader.restore(&records, Instant::now());
        // A frozen tablet's leader serves nothing and closes nothing above
        // the freeze's floor.
        if let Some(frozen) = spanlite_txn::apply::load_frozen(self.mvcc(), self.tablet)? {
            leader.set_frozen(Some(frozen.floor));
        }
        // A later term may have begun meanwhile (this one's wait was long):
        // then this start is stale and changes nothing.
        if self.lease.view().term > term || !self.with_core(|core| core.start_term(term, leader)) {
            tracing::info!(
                tablet = self.tablet,
                term,
                "term start overtaken by a later term"
            );
            return Ok(());
        }
        tracing::info!(tablet = self.tablet, term, "leader serving");
        Ok(())
    }
}
