//! Steps: the lock phase every commit starts with, and 2PC's prepare on a
//! participant.
//!
//! ```text
//!   lock(w, v)     ──▶ refused if aborted, outside the range, or its 2PL
//!                      read locks are gone (leader changed)
//!                  ──▶ X locks on w, S locks on v's read spans (may wait)
//!                  ──▶ validate v (OCC/SSI/SI) ──▶ locked (still woundable)
//!   prepare(w, c)  ──▶ lock (held already after 2PC's lock phase)
//!                  ──▶ Prepared (never wounded) ──▶ p assigned (pending)
//!                  ──▶ Command::Prepare{intents, locks held, coordinator c} @ p
//!   prepared(resp) ──▶ p visible; refused by apply? aborted; overtaken by
//!                      an abort? resolve it as aborted
//! ```
//!
//! Why 2PC locks everywhere before it prepares anywhere: wound-wait is
//! deadlock-free only if a transaction that can no longer be wounded waits
//! for nothing. A transaction prepared on one tablet while still waiting
//! for a lock on another (the coordinator's, or another participant's)
//! could wait for an older transaction that waits for it. So the gateway
//! runs the lock phase on every participant and the coordinator first
//! (woundable, in parallel), then the prepares; a prepare finds its locks
//! held and never waits (`prepared_waits_for_nothing`).

use std::time::Instant;

use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::{Mvcc, TxnId};
use spanlite_truetime::{TTInterval, Timestamp};

use super::timestamp::assign;
use super::validate::{Validation, check_spans, validate};
use crate::command::{Command, CommandResponse};
use crate::leader::{Leader, Progress, TxnState};
use crate::lock::{LockMode, LockTarget};
use crate::twopc::{Decision, Prepared};
use crate::{AbortReason, Mutation, TxnError};

/// What a commit, a prepare or a decision is asked to make durable here.
#[derive(Clone, Copy, Debug)]
pub struct CommitInput<'a> {
    /// The transaction.
    pub txn: TxnId,
    /// Its wound-wait priority.
    pub priority: Timestamp,
    /// Its writes on this tablet.
    pub writes: &'a [Mutation],
    /// What to check first (2PL read locks, optimistic read spans).
    pub validation: &'a Validation,
    /// The descriptor generation it was routed with (0: unknown).
    pub generation: u64,
    /// Its commit timestamp must be below this (the end of the schema
    /// lease its SQL statements were bound under), or it aborts with
    /// `SchemaChanged`. Checked where the timestamp is chosen: the
    /// one-phase commit and the coordinator's decision.
    pub commit_before: Option<Timestamp>,
    /// Its commit timestamp must be below this too (the earliest end of
    /// the leases under which its read-only participants hold its read
    /// locks, see [`read_lock`]), or it aborts with `ReadLocksExpired`.
    pub read_locks_until: Option<Timestamp>,
    /// A 2PL transaction that read under locks on no other tablet and has
    /// no other participant: nothing it saw elsewhere bounds its commit
    /// timestamp, so a one-phase commit may take it from its start bound
    /// here (see `actions::commit`). False for every other case.
    pub alone: bool,
}

impl CommitInput<'_> {
    /// `SchemaChanged` if `ts` is not below `commit_before`,
    /// `ReadLocksExpired` if not below `read_locks_until`.
    pub(crate) fn check_deadline(&self, ts: Timestamp) -> Result<(), AbortReason> {
        match (self.commit_before, self.read_locks_until) {
            (Some(limit), _) if ts >= limit => Err(AbortReason::SchemaChanged),
            (_, Some(limit)) if ts >= limit => Err(AbortReason::ReadLocksExpired),
            _ => Ok(()),
        }
    }
}

/// The clocks a step that assigns a timestamp reads.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    /// `TT.now()` on this node.
    pub tt: TTInterval,
    /// The highest timestamp applied from the log.
    pub max_applied: Timestamp,
    /// The monotonic clock (idle and in-doubt timeouts).
    pub instant: Instant,
}

/// The lock phase: everything a commit needs before it may be prepared.
/// `Done` once the locks are held and the reads validated; repeating it
/// then is cheap (locks held are granted again, validation is skipped).
pub fn lock(
    leader: &mut Leader,
    mvcc: &Mvcc,
    input: &CommitInput<'_>,
    now: Instant,
) -> Result<Progress<()>, TxnError> {
    let txn = input.txn;
    if let Some(reason) = leader.book.aborted(txn) {
        return Err(TxnError::aborted(reason));
    }
    leader.check_generation(input.generation)?;
    for m in input.writes {
        leader.check_key(m.key())?;
    }
    check_spans(leader, input.validation)?;
    if leader.book.is_locked(txn) {
        return Ok(Progress::Done(()));
    }
    if input.validation.has_reads && !leader.book.is_active(txn) {
        return Err(leader.abort(txn, AbortReason::LeaderChanged, now));
    }
    let writes: Vec<LockTarget> = input
        .writes
        .iter()
        .map(|m| LockTarget::key(m.key().to_vec()))
        .collect();
    let spans: Vec<LockTarget> = input
        .validation
        .reads
        .iter()
        .map(|s| s.lock_target())
        .collect();
    let targets = writes
        .iter()
        .map(|t| (t, LockMode::Exclusive))
        .chain(spans.iter().map(|t| (t, LockMode::Shared)));
    if let Progress::Wait(ticket) = leader.acquire_all(txn, input.priority, targets, now)? {
        return Ok(Progress::Wait(ticket));
    }
    // A transaction with nothing to lock here (a read-only 2PL
    // participant whose locks are held) is known from its reads.
    leader.book.lock(txn, now)?;
    if let Err(e) = validate(mvcc, txn, input.writes, input.validation) {
        let reason = e.abort_reason();
        return Err(match reason {
            Some(reason) => {
                let detail = match &e {
                    TxnError::Aborted { detail, .. } => detail.clone(),
                    _ => String::new(),
                };
                leader.abort(txn, reason, now);
                TxnError::aborted_because(reason, detail)
            }
            None => e,
        });
    }
    leader.book.note_locked(txn);
    Ok(Progress::Done(()))
}

/// Prepares `input.txn` here for two-phase commit coordinated by
/// `coordinator`: after the lock phase, marks it prepared and returns its
/// prepare timestamp (pending until [`prepared`]) with the command to
/// propose. The prepare record keeps every lock it holds here (its read
/// locks too), so a new leader takes them again.
pub fn prepare(
    leader: &mut Leader,
    mvcc: &Mvcc,
    input: &CommitInput<'_>,
    coordinator: TabletId,
    now: Now,
) -> Result<Progress<(Timestamp, Command)>, TxnError> {
    if let Some(TxnState::Prepared { prepare_ts, .. }) = leader.book.get(input.txn) {
        return Err(TxnError::Refused(format!(
            "{} is prepared here already (at {prepare_ts})",
            input.txn
        )));
    }
    if let Progress::Wait(ticket) = lock(leader, mvcc, input, now.instant)? {
        return Ok(Progress::Wait(ticket));
    }
    let txn = input.txn;
    let p = assign(leader, Timestamp::MIN, now.tt.latest, now.max_applied)?;
    leader.book.prepare(txn, coordinator, p, now.instant)?;
    leader.locks.mark_prepared(txn, input.priority);
    let record = Prepared {
        prepare_ts: p,
        priority: input.priority,
        coordinator,
        writes: input.writes.to_vec(),
        locks: leader.locks.held_by(txn),
    };
    Ok(Progress::Done((p, Command::Prepare { txn, record })))
}

/// The lock phase of a 2PL participant that only read here, holding its
/// read locks for the decision without preparing: no Raft entry here, ever.
/// `lease_until` is when this leader's lease ends, as a timestamp no later
/// than the real end (`TT.now().earliest` plus the lease left). Returns it:
/// the coordinator must commit below it (`CommitInput::read_locks_until`).
///
/// Why no record is needed (DESIGN.md §6, read-only participants): the
/// locks keep every conflicting writer out while this leader serves, and
/// they go only when the decision is told here (the clock raised to the
/// commit timestamp first) or when `TT.now().earliest` passes
/// `lease_until`. Whatever happens to them, a write after them gets a
/// timestamp above the commit timestamp: here, because this clock is past
/// it; under a new leader, because a new lease starts only after the old
/// one ended, so its timestamps exceed `lease_until`, which exceeds the
/// commit timestamp.
pub fn read_lock(
    leader: &mut Leader,
    mvcc: &Mvcc,
    input: &CommitInput<'_>,
    lease_until: Timestamp,
    now: Instant,
) -> Result<Progress<Timestamp>, TxnError> {
    if !input.writes.is_empty() || !input.validation.reads.is_empty() || !input.validation.has_reads
    {
        return Err(TxnError::Refused(
            "holding read locks for a decision is for a 2PL participant that only read".into(),
        ));
    }
    if let Some(TxnState::ReadLocked { until }) = leader.book.get(input.txn) {
        return Ok(Progress::Done(*until));
    }
    if let Progress::Wait(ticket) = lock(leader, mvcc, input, now)? {
        return Ok(Progress::Wait(ticket));
    }
    let until = leader.book.read_lock(input.txn, lease_until)?;
    leader.locks.mark_prepared(input.txn, input.priority);
    Ok(Progress::Done(until))
}

/// How a proposed prepare ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrepareOutcome {
    /// Applied; the response the state machine gave.
    Applied(CommandResponse),
    /// Never reached the log (the leader changed first).
    NotLogged,
    /// May or may not be in the log (replication failed).
    Unknown,
}

/// The participant's vote after its prepare ended.
#[derive(Debug)]
pub enum Vote {
    /// Prepared at this timestamp.
    Yes(Timestamp),
    /// Not prepared: answer `error`; with `undo`, an abort overtook the
    /// prepare and its intents must be removed (propose it).
    No {
        /// What to tell the coordinator's caller.
        error: TxnError,
        /// A `Resolve{Abort}` to propose.
        undo: Option<Command>,
    },
}

fn no(error: TxnError, undo: Option<Command>) -> Vote {
    Vote::No { error, undo }
}

/// Records how the prepare of `txn` at `p` ended (see [`PrepareOutcome`]).
pub fn prepared(
    leader: &mut Leader,
    txn: TxnId,
    p: Timestamp,
    outcome: PrepareOutcome,
    now: Instant,
) -> Vote {
    let response = match outcome {
        PrepareOutcome::Applied(response) => {
            leader.clock.visible(p);
            response
        }
        PrepareOutcome::NotLogged => {
            leader.clock.abandon(p);
            leader.finish(txn, now);
            return no(
                TxnError::aborted_because(AbortReason::LeaderChanged, "prepare not logged"),
                None,
            );
        }
        // Maybe prepared: keep the locks; the coordinator's abort, or the
        // termination protocol, resolves it.
        PrepareOutcome::Unknown => {
            leader.clock.abandon(p);
            return no(
                TxnError::aborted_because(
                    AbortReason::PrepareFailed,
                    "prepare outcome unknown: replication failed",
                ),
                None,
            );
        }
    };
    match response {
        CommandResponse::Prepared { ts } if leader.book.is_committing(txn) => Vote::Yes(ts),
        CommandResponse::Prepared { .. } => {
            // Its abort was applied before the prepare (they crossed):
            // remove what the prepare just wrote.
            let reason = leader.book.aborted(txn).unwrap_or(AbortReason::RolledBack);
            no(
                TxnError::aborted_because(reason, "aborted while preparing"),
                Some(Command::Resolve {
                    txn,
                    decision: Decision::Abort,
                }),
            )
        }
        CommandResponse::PrepareRefused { holder } => {
            leader.finish(txn, now);
            leader.abort(txn, AbortReason::IntentConflict, now);
            no(
                TxnError::aborted_because(
                    AbortReason::IntentConflict,
                    format!("{holder} holds an intent on a key it writes"),
                ),
                None,
            )
        }
        CommandResponse::WrongTablet => {
            leader.finish(txn, now);
            no(
                TxnError::WrongTablet("the tablet split before the prepare applied".to_string()),
                None,
            )
        }
        other => {
            leader.finish(txn, now);
            no(
                TxnError::Refused(format!("prepare answered {other:?}")),
                None,
            )
        }
    }
}
