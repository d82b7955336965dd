//! Step: the one-phase commit of a transaction that touched only this
//! tablet (DESIGN.md §6).
//!
//! ```text
//!   commit(w) ──▶ lock phase ──▶ Deciding (never wounded) ──▶ s assigned (pending)
//!             ──▶ Command::Write{w} @ s ──▶ applied AND TT.after(s) ──▶ committed:
//!                 s visible, locks released, reply
//!   nothing written (OCC validation only) ──▶ commits at a snapshot ts, at once
//! ```
//!
//! The timestamp: above the last one this leader assigned or read at, the
//! log's, and a `TT.now().latest` taken after the transaction began —
//! Spanner takes the one when the commit arrives; a 2PL transaction that
//! read here first, and under locks nowhere else (`CommitInput::alone`),
//! takes the one its first locked read here noted (`TxnState::Active`'s
//! `start`). Why that keeps external consistency: a transaction T1 that
//! was acknowledged before T2 began has `s1 <` true time at the
//! acknowledgement (commit wait), which is before T2 began, which is at
//! most T2's start bound `< s2`. Why it keeps the snapshot order: every
//! version T2 read here was written at or below this leader's last
//! assigned timestamp, and every read or closed timestamp served here was
//! raised into it, so `s2` is above them all; T2 saw nothing elsewhere (a
//! transaction that did, or whose commit has read-only participants, or
//! that reads at snapshots — OCC, SSI, SI, RC — takes `now.latest` as
//! before). The gain: when T2 ran longer than 2ε since its first read
//! here, `TT.after(s2)` holds already and commit wait costs nothing.
//!
//! INVARIANT: the locks and the pending mark go only when both the write is
//! applied and commit wait is over. If commit wait cannot finish (the
//! clock failed), both stay until it can: releasing the locks would let a
//! reader see the write before `TT.after(s)`.

use std::time::Instant;

use spanlite_storage::mvcc::{Mvcc, TxnId};
use spanlite_truetime::Timestamp;

use super::prepare::{CommitInput, Now, lock};
use super::timestamp::assign;
use crate::command::{Command, CommandResponse};
use crate::leader::{CommitWaited, Leader, Progress};
use crate::{AbortReason, TxnError};

/// What a one-phase commit does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Commit {
    /// Nothing to write (an OCC transaction that only read here): its reads
    /// are current at this timestamp; it is finished here.
    ReadOnly(Timestamp),
    /// Propose `command`; commit-wait `ts`; then [`committed`].
    Write {
        /// The commit timestamp (pending).
        ts: Timestamp,
        /// The `Write` command.
        command: Command,
    },
}

/// Commits `input.txn` on this tablet alone.
pub fn commit(
    leader: &mut Leader,
    mvcc: &Mvcc,
    input: &CommitInput<'_>,
    now: Now,
) -> Result<Progress<Commit>, TxnError> {
    if let Progress::Wait(ticket) = lock(leader, mvcc, input, now.instant)? {
        return Ok(Progress::Wait(ticket));
    }
    let txn = input.txn;
    if input.writes.is_empty() {
        let t = now
            .tt
            .latest
            .max(leader.clock.last_assigned())
            .max(now.max_applied);
        if let Err(reason) = input.check_deadline(t) {
            return Err(leader.abort(txn, reason, now.instant));
        }
        leader.clock.raise(t);
        leader.finish(txn, now.instant);
        return Ok(Progress::Done(Commit::ReadOnly(t)));
    }
    // The start bound (module docs): taken when it first read here,
    // after it began, so commit wait has (mostly) run out by now.
    let start = match leader.book.start(txn) {
        Some(s) if input.alone => s.min(now.tt.latest),
        _ => now.tt.latest,
    };
    let ts = assign(leader, Timestamp::MIN, start, now.max_applied)?;
    if let Err(reason) = input.check_deadline(ts) {
        leader.clock.abandon(ts);
        return Err(leader.abort(txn, reason, now.instant));
    }
    leader.book.decide(txn, ts)?;
    leader.locks.mark_prepared(txn, input.priority);
    Ok(Progress::Done(Commit::Write {
        ts,
        command: Command::Write {
            ts,
            mutations: input.writes.to_vec(),
        },
    }))
}

/// How a proposed write ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Applied (its response), and commit wait is over.
    Done(CommandResponse, CommitWaited),
    /// Never reached the log (the leader changed first).
    NotLogged,
    /// May or may not be in the log; this leader is losing its term. The
    /// locks and the pending mark stay (the term's end drops them).
    Unknown,
}

/// Records how the commit of `txn` at `ts` ended: the timestamp becomes
/// visible (or is abandoned), the locks go, the transaction is forgotten.
/// Returns the commit timestamp, or what to tell the client.
pub fn committed(
    leader: &mut Leader,
    txn: TxnId,
    ts: Timestamp,
    outcome: WriteOutcome,
    now: Instant,
) -> Result<Timestamp, TxnError> {
    let result = match outcome {
        WriteOutcome::Done(CommandResponse::Written { ts: written }, waited) => {
            if !waited.covers(written) {
                // Not a proof for this write: nothing may be released.
                return Err(TxnError::Refused(format!(
                    "commit wait is not over for {written}"
                )));
            }
            leader.clock.visible(ts);
            Ok(written)
        }
        WriteOutcome::Done(CommandResponse::WrongTablet, _) => {
            leader.clock.abandon(ts);
            Err(TxnError::WrongTablet(
                "the tablet split before the write applied; nothing was written".to_string(),
            ))
        }
        WriteOutcome::Done(other, _) => {
            leader.clock.abandon(ts);
            Err(TxnError::Refused(format!("write answered {other:?}")))
        }
        WriteOutcome::NotLogged => {
            leader.clock.abandon(ts);
            Err(TxnError::aborted_because(
                AbortReason::LeaderChanged,
                "the commit never reached the log",
            ))
        }
        // It may be in the log: keep its locks and its pending mark (this
        // leader is losing its term; the next one starts above it, waits
        // it out, and serves it as it finds it).
        WriteOutcome::Unknown => {
            return Err(TxnError::Ambiguous(
                "replication failed after the commit was proposed".to_string(),
            ));
        }
    };
    leader.finish(txn, now);
    result
}
