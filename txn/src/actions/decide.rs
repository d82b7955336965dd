//! Steps of the 2PC coordinator on the leader of the coordinator tablet:
//! deciding, what follows the decision, and answering participants in
//! doubt (the termination protocol, with presumed abort).
//!
//! ```text
//!   decide(w, votes) ──▶ lock phase (done already, with the prepares' one)
//!                    ──▶ Deciding ──▶ s ≥ every prepare ts, > TT.now().latest,
//!                        > last assigned (pending)
//!                    ──▶ Command::Decide{Commit s, w, participants}
//!                    ──▶ applied AND TT.after(s) ──▶ decided: s visible, locks
//!                        released, reply; Finishing: tell the participants
//!   status(txn)      ──▶ recorded? answer : deciding now? Pending : record Abort
//! ```
//!
//! The participants hear the decision only after commit wait (Spanner
//! §4.2.1: the coordinator leader waits before any participant applies),
//! so no replica anywhere shows the transaction's writes before
//! `TT.after(s)` on the node that chose `s`.

use std::time::Instant;

use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::{Mvcc, TxnId};
use spanlite_truetime::Timestamp;

use super::prepare::{CommitInput, Now, lock};
use super::timestamp::assign;
use crate::command::{Command, CommandResponse};
use crate::leader::{CommitWaited, Leader, Progress, TxnState};
use crate::twopc::{Decision, StatusAnswer, status_answer};
use crate::{AbortReason, TxnError};

/// Decides `input.txn`, whose other `participants` prepared at the given
/// timestamps, with this tablet's own writes: returns the commit
/// timestamp (pending) and the `Decide` command.
pub fn decide(
    leader: &mut Leader,
    mvcc: &Mvcc,
    input: &CommitInput<'_>,
    participants: &[(TabletId, Timestamp)],
    now: Now,
) -> Result<Progress<(Timestamp, Command)>, TxnError> {
    if let Progress::Wait(ticket) = lock(leader, mvcc, input, now.instant)? {
        return Ok(Progress::Wait(ticket));
    }
    let txn = input.txn;
    let min = participants
        .iter()
        .map(|(_, p)| *p)
        .max()
        .unwrap_or(Timestamp::MIN);
    let s = assign(leader, min, now.tt.latest, now.max_applied)?;
    if let Err(reason) = input.check_deadline(s) {
        leader.clock.abandon(s);
        return Err(leader.abort(txn, reason, now.instant));
    }
    leader.book.decide(txn, s)?;
    leader.locks.mark_prepared(txn, input.priority);
    Ok(Progress::Done((
        s,
        Command::Decide {
            txn,
            decision: Decision::Commit(s),
            participants: participants.iter().map(|(t, _)| *t).collect(),
            writes: input.writes.to_vec(),
        },
    )))
}

/// How a proposed decision ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecideOutcome {
    /// Applied; with the proof that commit wait is over (required to
    /// finish a commit).
    Done(CommandResponse, Option<CommitWaited>),
    /// Never reached the log (the leader changed first).
    NotLogged,
    /// May or may not be in the log; the locks and the pending mark stay.
    Unknown,
}

/// Records how the decision of `txn` proposed at `s` ended. On a commit,
/// returns the commit timestamp; the transaction is then `Finishing` and
/// the caller tells its participants (see [`start_telling`]).
pub fn decided(
    leader: &mut Leader,
    txn: TxnId,
    s: Timestamp,
    participants: Vec<TabletId>,
    outcome: DecideOutcome,
    now: Instant,
) -> Result<Timestamp, TxnError> {
    let (response, waited) = match outcome {
        DecideOutcome::Done(response, waited) => (response, waited),
        DecideOutcome::NotLogged => {
            leader.clock.abandon(s);
            leader.finish(txn, now);
            // Nothing decided: the participants will hear abort.
            return Err(leader.abort(txn, AbortReason::LeaderChanged, now));
        }
        // It may be in the log: keep the locks and the pending mark (see
        // `commit::committed`).
        DecideOutcome::Unknown => {
            return Err(TxnError::Ambiguous(
                "replication failed after the decision was proposed".to_string(),
            ));
        }
    };
    match response {
        CommandResponse::Decided {
            decision: Decision::Commit(recorded),
        } => {
            if !waited.is_some_and(|w| w.covers(recorded)) {
                // Not a proof for this commit: nothing may be released.
                return Err(TxnError::Refused(format!(
                    "commit wait is not over for {recorded}"
                )));
            }
            // A decision recorded earlier (a retried commit) wins; ours
            // wrote nothing then.
            if recorded == s {
                leader.clock.visible(s);
            } else {
                leader.clock.abandon(s);
            }
            leader.finish(txn, now);
            leader
                .book
                .decided(txn, Decision::Commit(recorded), participants);
            Ok(recorded)
        }
        CommandResponse::Decided {
            decision: Decision::Abort,
        } => {
            leader.clock.abandon(s);
            leader.finish(txn, now);
            Err(leader.abort(txn, AbortReason::PresumedAbort, now))
        }
        CommandResponse::WrongTablet => {
            leader.clock.abandon(s);
            leader.finish(txn, now);
            Err(TxnError::WrongTablet(
                "the tablet split before the decision applied; nothing was decided".to_string(),
            ))
        }
        other => {
            leader.clock.abandon(s);
            leader.finish(txn, now);
            Err(TxnError::Refused(format!("decision answered {other:?}")))
        }
    }
}

/// The decision of a `Finishing` transaction and its participants, unless
/// someone is telling them already; call [`told`] when done.
pub fn start_telling(leader: &mut Leader, txn: TxnId) -> Option<(Decision, Vec<TabletId>)> {
    leader.book.start_telling(txn)
}

/// Telling the participants of `txn` ended; `all` applied the decision.
/// Returns true when the decision record may be dropped (`Forget`).
pub fn told(leader: &mut Leader, txn: TxnId, all: bool) -> bool {
    leader.book.told(txn, all)
}

/// What this coordinator answers a participant in doubt about `txn`, given
/// the decision recorded in its log (if any).
pub fn status(leader: &Leader, txn: TxnId, recorded: Option<Decision>) -> StatusAnswer {
    let deciding = matches!(leader.book.get(txn), Some(TxnState::Deciding { .. }));
    status_answer(recorded, deciding)
}

/// The command that records a presumed abort of `txn` (the first decision
/// recorded wins, so it is harmless if a commit got there first).
pub fn record_abort(txn: TxnId) -> Command {
    Command::Decide {
        txn,
        decision: Decision::Abort,
        participants: Vec::new(),
        writes: Vec::new(),
    }
}
