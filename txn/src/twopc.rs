//! Two-phase commit across tablets (DESIGN.md §6): the durable records a
//! tablet keeps for it, and the rules every step follows.
//!
//! Each tablet's Raft log carries the steps; applying them runs the pure
//! functions here on the tablet's [`TxnRecords`], so every replica (and
//! recovery's redo) reaches the same records, and the steps are idempotent.
//!
//! ```text
//!   participant                          coordinator tablet
//!   ───────────                          ──────────────────
//!   prepare(writes, locks) ─▶ Prepared ─── votes (prepare_ts) ──▶ decide(Commit s | Abort)
//!                                                                  first decision wins
//!   resolve(Commit s | Abort) ◀──────── told after commit wait ─── Decided (kept until forgotten)
//!   in doubt too long ─▶ status(txn) ──────────────────────────▶ Decided? answer it
//!                                                                  coordinating? Pending
//!                                                                  otherwise record Abort
//!                                                                  (presumed abort)
//! ```
//!
//! The coordinator tablet writes its own share of the writes with the
//! decision (it never prepares), so a one-entry decision commits them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::TxnId;
use spanlite_truetime::Timestamp;

use crate::Mutation;
use crate::lock::{LockMode, LockTarget};

/// The outcome of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    /// Committed at this timestamp.
    Commit(Timestamp),
    /// Aborted.
    Abort,
}

impl Decision {
    /// The commit timestamp, if committed.
    pub fn commit_ts(self) -> Option<Timestamp> {
        match self {
            Decision::Commit(ts) => Some(ts),
            Decision::Abort => None,
        }
    }
}

/// A participant's durable prepare record: enough to finish the
/// transaction after any crash or leadership change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prepared {
    /// The prepare timestamp; the commit timestamp will be at least this.
    pub prepare_ts: Timestamp,
    /// The transaction's wound-wait priority (for restoring its locks).
    pub priority: Timestamp,
    /// The tablet whose log holds (or will hold) the decision.
    pub coordinator: TabletId,
    /// The writes, kept as intents until resolved.
    pub writes: Vec<Mutation>,
    /// Every lock the transaction held here at prepare (its read locks
    /// too): a new leader takes them again, so 2PL holds to the end.
    pub locks: Vec<(LockTarget, LockMode)>,
}

/// The coordinator tablet's durable decision record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decided {
    /// The outcome.
    pub decision: Decision,
    /// The other participants, to be told the outcome.
    pub participants: Vec<TabletId>,
}

/// A prepare's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrepareOutcome {
    /// Prepared now at this timestamp: write the intents.
    Prepared(Timestamp),
    /// Already prepared (a duplicate request): this is the first timestamp,
    /// nothing to write.
    AlreadyPrepared(Timestamp),
    /// Voted no: this other prepared transaction has an intent on one of
    /// the keys; nothing recorded.
    Refused(TxnId),
}

/// What the coordinator tablet answers a participant in doubt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusAnswer {
    /// The recorded decision.
    Known(Decision),
    /// Its leader is deciding right now: ask again.
    Pending,
    /// Nothing recorded and nobody deciding: record an abort, then answer
    /// with whatever got recorded first (presumed abort).
    RecordAbort,
}

/// A tablet's transaction records (the ARIES transaction table of its
/// distributed transactions): prepared ones it participates in, and
/// decisions it coordinated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnRecords {
    prepared: BTreeMap<TxnId, Prepared>,
    decided: BTreeMap<TxnId, Decided>,
}

impl TxnRecords {
    /// No records.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records loaded from storage.
    pub fn from_parts(
        prepared: impl IntoIterator<Item = (TxnId, Prepared)>,
        decided: impl IntoIterator<Item = (TxnId, Decided)>,
    ) -> Self {
        Self {
            prepared: prepared.into_iter().collect(),
            decided: decided.into_iter().collect(),
        }
    }

    /// Prepares `txn` with `record`. Refused when another prepared
    /// transaction has an intent on one of the keys (the leader's locks
    /// prevent that; a request replayed from an old term may not).
    pub fn prepare(&mut self, txn: TxnId, record: Prepared) -> PrepareOutcome {
        if let Some(existing) = self.prepared.get(&txn) {
            return PrepareOutcome::AlreadyPrepared(existing.prepare_ts);
        }
        for (other, p) in &self.prepared {
            if p.writes
                .iter()
                .any(|theirs| record.writes.iter().any(|mine| mine.key() == theirs.key()))
            {
                return PrepareOutcome::Refused(*other);
            }
        }
        let ts = record.prepare_ts;
        self.prepared.insert(txn, record);
        PrepareOutcome::Prepared(ts)
    }

    /// Resolves `txn` here: removes and returns its prepare record, whose
    /// intents the caller turns into versions (commit) or removes (abort).
    /// `None`: nothing prepared (already resolved, or never prepared).
    pub fn resolve(&mut self, txn: TxnId) -> Option<Prepared> {
        self.prepared.remove(&txn)
    }

    /// Records the decision for `txn` unless one is recorded already; the
    /// first decision wins. Returns the recorded decision and whether it is
    /// new (the caller then writes the coordinator's own writes).
    pub fn decide(
        &mut self,
        txn: TxnId,
        decision: Decision,
        participants: Vec<TabletId>,
    ) -> (Decision, bool) {
        if let Some(d) = self.decided.get(&txn) {
            return (d.decision, false);
        }
        self.decided.insert(
            txn,
            Decided {
                decision,
                participants,
            },
        );
        (decision, true)
    }

    /// Drops decision records every participant has applied. Returns those
    /// that were there.
    pub fn forget(&mut self, txns: &[TxnId]) -> Vec<TxnId> {
        txns.iter()
            .copied()
            .filter(|t| self.decided.remove(t).is_some())
            .collect()
    }

    /// The answer to a participant asking about `txn`; `deciding`: this
    /// tablet's leader is deciding it right now.
    pub fn status(&self, txn: TxnId, deciding: bool) -> StatusAnswer {
        status_answer(self.decided.get(&txn).map(|d| d.decision), deciding)
    }

    /// The prepare record of `txn`.
    pub fn prepared(&self, txn: TxnId) -> Option<&Prepared> {
        self.prepared.get(&txn)
    }

    /// Every prepared transaction (in doubt until resolved).
    pub fn all_prepared(&self) -> impl Iterator<Item = (&TxnId, &Prepared)> {
        self.prepared.iter()
    }

    /// Every decision record not yet forgotten.
    pub fn all_decided(&self) -> impl Iterator<Item = (&TxnId, &Decided)> {
        self.decided.iter()
    }

    /// The smallest prepare timestamp of an undecided transaction: reads at
    /// or above it must wait for it (`t_tm` is just below).
    pub fn min_prepare_ts(&self) -> Option<Timestamp> {
        self.prepared.values().map(|p| p.prepare_ts).min()
    }

    /// True when nothing is prepared here (a split may go ahead).
    pub fn nothing_prepared(&self) -> bool {
        self.prepared.is_empty()
    }
}

/// What a coordinator answers a participant in doubt: the decision
/// `recorded` in its log; else wait if it is `deciding` right now; else
/// record an abort (presumed abort).
pub fn status_answer(recorded: Option<Decision>, deciding: bool) -> StatusAnswer {
    match recorded {
        Some(d) => StatusAnswer::Known(d),
        None if deciding => StatusAnswer::Pending,
        None => StatusAnswer::RecordAbort,
    }
}

#[cfg(test)]
mod tests;
