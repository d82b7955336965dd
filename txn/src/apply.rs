//! Applying a tablet command to MVCC storage: the one deterministic
//! function shared by the live state machine, recovery's redo pass and the
//! scenario tests (so all three write exactly the same batches).
//!
//! The 2PC record transitions are [`crate::twopc`]'s; here they meet
//! storage. Each record change is written in the entry's batch
//! (`MetaKey::PreparedTxn`, `MetaKey::DecidedTxn`) beside the intents and
//! versions it implies, so a crash keeps all of an entry or none of it.
//!
//! Not here: Raft entries that are not commands (blank, membership), the
//! applied mark and the node's replica records (the server's Raft glue
//! writes those in the same batch).

use serde::Serialize;
use serde::de::DeserializeOwned;
use spanlite_storage::Result as StorageResult;
use spanlite_storage::engine::{Cf, WriteBatch};
use spanlite_storage::meta::{self, MetaKey, TabletId};
use spanlite_storage::mvcc::{Intent, Mvcc, TxnId};
use spanlite_truetime::Timestamp;

use crate::command::{Command, CommandResponse};
use crate::twopc::{Decided, Decision, PrepareOutcome, Prepared, TxnRecords};
use crate::{KeyRange, Mutation};

/// What applying reads and advances besides the data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TabletState {
    /// The highest timestamp any applied command carried (Spanner's
    /// `s_max`: a new leader's timestamps must exceed it).
    pub max_ts: Timestamp,
    /// The tablet's range.
    pub range: KeyRange,
    /// Its descriptor generation as of its last split.
    pub generation: u64,
    /// Its 2PC records (kept here, not read back from the engine: a run of
    /// entries is applied in one batch the engine has not seen yet).
    pub txns: TxnRecords,
}

/// A split applied by a command: the node must start the new tablet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitOut {
    /// The new tablet.
    pub right: TabletId,
    /// Its range.
    pub range: KeyRange,
    /// Its first `max_ts`: no timestamp at or below it may be assigned by
    /// its leaders (the parent's `s_max` and the split's floor).
    pub max_ts: Timestamp,
}

/// Queues the effects of `command` on `tablet` into `batch` and advances
/// `state`. Returns the proposer's response and the split it applied.
pub fn apply_command(
    mvcc: &Mvcc,
    tablet: TabletId,
    command: &Command,
    state: &mut TabletState,
    batch: &mut WriteBatch,
) -> StorageResult<(CommandResponse, Option<SplitOut>)> {
    state.max_ts = state.max_ts.max(command.max_ts());
    let response = match command {
        Command::Write { ts, mutations } => write(mvcc, &state.range, *ts, mutations, batch),
        Command::LeaseStart { .. } => CommandResponse::None,
        Command::Prepare { txn, record } => prepare(mvcc, tablet, state, *txn, record, batch)?,
        Command::Resolve { txn, decision } => resolve(mvcc, tablet, state, *txn, *decision, batch)?,
        Command::Decide {
            txn,
            decision,
            participants,
            writes,
        } => decide(
            mvcc,
            tablet,
            state,
            (*txn, *decision),
            participants,
            writes,
            batch,
        )?,
        Command::Forget { txns } => forget(tablet, state, txns, batch)?,
        Command::Split {
            at,
            right,
            left_generation,
            ..
        } => {
            return Ok(match split(tablet, state, at, *right, *left_generation) {
                Some(out) => (
                    CommandResponse::Split {
                        right: out.right,
                        range: out.range.clone(),
                    },
                    Some(out),
                ),
                None => (CommandResponse::SplitRefused, None),
            });
        }
    };
    Ok((response, None))
}

fn write(
    mvcc: &Mvcc,
    range: &KeyRange,
    ts: Timestamp,
    mutations: &[Mutation],
    batch: &mut WriteBatch,
) -> CommandResponse {
    // INVARIANT: a tablet never writes outside its range, even for a write
    // proposed before a split that is applied after it.
    if mutations.iter().any(|m| !range.contains(m.key())) {
        return CommandResponse::WrongTablet;
    }
    for m in mutations {
        match m {
            Mutation::Put { key, value } => mvcc.put(batch, key, ts, value),
            Mutation::Delete { key } => mvcc.delete(batch, key, ts),
        }
    }
    CommandResponse::Written { ts }
}

/// Shrinks the range to `[start, at)`, or refuses (`None`) when `at` is not
/// strictly inside it or something is prepared here (prepare records
/// belong to this tablet; its leader refuses to split then, and a split
/// replayed after a prepare is refused here).
fn split(
    tablet: TabletId,
    state: &mut TabletState,
    at: &[u8],
    right: TabletId,
    left_generation: u64,
) -> Option<SplitOut> {
    if !state.range.can_split_at(at) || right == tablet || !state.txns.nothing_prepared() {
        return None;
    }
    let out = SplitOut {
        right,
        range: KeyRange::new(at.to_vec(), state.range.end.clone()),
        max_ts: state.max_ts,
    };
    state.range = KeyRange::new(state.range.start.clone(), at.to_vec());
    state.generation = left_generation.max(state.generation);
    Some(out)
}

/// `Prepare`: records the transaction and writes its intents.
fn prepare(
    mvcc: &Mvcc,
    tablet: TabletId,
    state: &mut TabletState,
    txn: TxnId,
    record: &Prepared,
    batch: &mut WriteBatch,
) -> StorageResult<CommandResponse> {
    // INVARIANT: a tablet never writes outside its range.
    if record.writes.iter().any(|m| !state.range.contains(m.key())) {
        return Ok(CommandResponse::WrongTablet);
    }
    Ok(match state.txns.prepare(txn, record.clone()) {
        PrepareOutcome::Prepared(ts) => {
            for m in &record.writes {
                let intent = Intent {
                    txn,
                    prepare_ts: ts,
                    value: m.value().map(<[u8]>::to_vec),
                };
                mvcc.put_intent(batch, m.key(), &intent)?;
            }
            meta::put_bytes(
                batch,
                &MetaKey::PreparedTxn(tablet, txn.0),
                encode_record(record)?,
            )?;
            CommandResponse::Prepared { ts }
        }
        PrepareOutcome::AlreadyPrepared(ts) => CommandResponse::Prepared { ts },
        PrepareOutcome::Refused(holder) => CommandResponse::PrepareRefused { holder },
    })
}

/// `Resolve`: turns the intents into versions at the commit timestamp, or
/// drops them, and deletes the prepare record. Nothing prepared: no-op.
fn resolve(
    mvcc: &Mvcc,
    tablet: TabletId,
    state: &mut TabletState,
    txn: TxnId,
    decision: Decision,
    batch: &mut WriteBatch,
) -> StorageResult<CommandResponse> {
    if let Some(record) = state.txns.resolve(txn) {
        for m in &record.writes {
            match (decision, m) {
                (Decision::Commit(ts), Mutation::Put { key, value }) => {
                    mvcc.put(batch, key, ts, value)
                }
                (Decision::Commit(ts), Mutation::Delete { key }) => mvcc.delete(batch, key, ts),
                (Decision::Abort, _) => {}
            }
            mvcc.remove_intent(batch, m.key());
        }
        batch.delete(Cf::Meta, MetaKey::PreparedTxn(tablet, txn.0).encode()?);
    }
    Ok(CommandResponse::Decided { decision })
}

/// `Decide`: records the first decision; a new commit decision writes the
/// coordinator tablet's own writes at the commit timestamp.
fn decide(
    mvcc: &Mvcc,
    tablet: TabletId,
    state: &mut TabletState,
    (txn, decision): (TxnId, Decision),
    participants: &[TabletId],
    writes: &[Mutation],
    batch: &mut WriteBatch,
) -> StorageResult<CommandResponse> {
    if writes.iter().any(|m| !state.range.contains(m.key())) {
        return Ok(CommandResponse::WrongTablet);
    }
    let (recorded, new) = state.txns.decide(txn, decision, participants.to_vec());
    if new {
        if let Decision::Commit(ts) = recorded {
            write(mvcc, &state.range, ts, writes, batch);
        }
        let stored = Decided {
            decision: recorded,
            participants: participants.to_vec(),
        };
        meta::put_bytes(
            batch,
            &MetaKey::DecidedTxn(tablet, txn.0),
            encode_record(&stored)?,
        )?;
    }
    Ok(CommandResponse::Decided { decision: recorded })
}

/// `Forget`: drops decision records.
fn forget(
    tablet: TabletId,
    state: &mut TabletState,
    txns: &[TxnId],
    batch: &mut WriteBatch,
) -> StorageResult<CommandResponse> {
    for txn in state.txns.forget(txns) {
        batch.delete(Cf::Meta, MetaKey::DecidedTxn(tablet, txn.0).encode()?);
    }
    Ok(CommandResponse::None)
}

fn encode_record<T: Serialize>(value: &T) -> StorageResult<Vec<u8>> {
    meta::encode_value(value, "transaction record")
}

fn decode_record<T: DeserializeOwned>(bytes: &[u8], what: &'static str) -> StorageResult<T> {
    meta::decode_value(bytes, what)
}

/// The 2PC records stored for `tablet`.
pub fn load_txn_records(mvcc: &Mvcc, tablet: TabletId) -> StorageResult<TxnRecords> {
    let engine = mvcc.engine().as_ref();
    let prepared = meta::txn_records(engine, tablet, false)?
        .into_iter()
        .map(|(t, b)| Ok((TxnId(t), decode_record::<Prepared>(&b, "prepare record")?)))
        .collect::<StorageResult<Vec<_>>>()?;
    let decided = meta::txn_records(engine, tablet, true)?
        .into_iter()
        .map(|(t, b)| Ok((TxnId(t), decode_record::<Decided>(&b, "decision record")?)))
        .collect::<StorageResult<Vec<_>>>()?;
    Ok(TxnRecords::from_parts(prepared, decided))
}

/// The decision record of `txn` on `tablet`, if one is stored (one key
/// read: what a coordinator answers a participant in doubt).
pub fn load_decision(mvcc: &Mvcc, tablet: TabletId, txn: TxnId) -> StorageResult<Option<Decided>> {
    meta::get_bytes(mvcc.engine().as_ref(), &MetaKey::DecidedTxn(tablet, txn.0))?
        .map(|b| decode_record::<Decided>(&b, "decision record"))
        .transpose()
}
