//! Applying the two-phase-commit commands (DESIGN.md §6): the record
//! transitions are `spanlite_txn::twopc`'s; here they meet storage. Each
//! record change is written in the entry's batch (`MetaKey::PreparedTxn`,
//! `MetaKey::DecidedTxn`) beside the intents and versions it implies, so a
//! crash keeps all of an entry or none of it, and redo repeats it exactly.

use spanlite_storage::engine::WriteBatch;
use spanlite_storage::meta::{self, MetaKey, TabletId};
use spanlite_storage::mvcc::{Intent, Mvcc, TxnId};
use spanlite_storage::{Result as StorageResult, StorageError};
use spanlite_txn::twopc::{Decided, Decision, PrepareOutcome, Prepared, TxnRecords};

use super::apply::{ApplyState, apply_write, decode, encode};
use super::types::{CommandResponse, Mutation};

/// The 2PC records stored for `tablet`.
pub fn load_txn_records(mvcc: &Mvcc, tablet: TabletId) -> StorageResult<TxnRecords> {
    let engine = mvcc.engine().as_ref();
    let prepared = meta::txn_records(engine, tablet, false)?
        .into_iter()
        .map(|(t, b)| Ok((TxnId(t), decode::<Prepared>(&b, "prepare record")?)))
        .collect::<StorageResult<Vec<_>>>()?;
    let decided = meta::txn_records(engine, tablet, true)?
        .into_iter()
        .map(|(t, b)| Ok((TxnId(t), decode::<Decided>(&b, "decision record")?)))
        .collect::<StorageResult<Vec<_>>>()?;
    Ok(TxnRecords::from_parts(prepared, decided))
}

/// The decision record of `txn` on `tablet`, if one is stored (one key
/// read: what a coordinator answers a participant in doubt).
pub fn load_decision(mvcc: &Mvcc, tablet: TabletId, txn: TxnId) -> StorageResult<Option<Decided>> {
    meta::get_bytes(mvcc.engine().as_ref(), &MetaKey::DecidedTxn(tablet, txn.0))?
        .map(|b| decode::<Decided>(&b, "decision record"))
        .transpose()
}

fn outside(state: &ApplyState, keys: impl IntoIterator<Item = Vec<u8>>) -> bool {
    keys.into_iter().any(|k| !state.range.contains(&k))
}

/// `Prepare`: records the transaction and writes its intents.
pub fn prepare(
    mvcc: &Mvcc,
    tablet: TabletId,
    state: &mut ApplyState,
    txn: TxnId,
    record: &Prepared,
    batch: &mut WriteBatch,
) -> StorageResult<CommandResponse> {
    // INVARIANT: a tablet never writes outside its range.
    if outside(state, record.writes.iter().map(|(k, _)| k.clone())) {
        return Ok(CommandResponse::WrongTablet);
    }
    Ok(match state.txns.prepare(txn, record.clone()) {
        PrepareOutcome::Prepared(ts) => {
            for (key, value) in &record.writes {
                let intent = Intent {
                    txn,
                    prepare_ts: ts,
                    value: value.clone(),
                };
                mvcc.put_intent(batch, key, &intent)?;
            }
            meta::put_bytes(batch, &MetaKey::PreparedTxn(tablet, txn.0), encode(record)?)?;
            CommandResponse::Prepared { ts }
        }
        PrepareOutcome::AlreadyPrepared(ts) => CommandResponse::Prepared { ts },
        PrepareOutcome::Refused(reason) => CommandResponse::PrepareRefused { reason },
    })
}

/// `Resolve`: turns the intents into versions at the commit timestamp, or
/// drops them, and deletes the prepare record. Nothing prepared: no-op.
pub fn resolve(
    mvcc: &Mvcc,
    tablet: TabletId,
    state: &mut ApplyState,
    txn: TxnId,
    decision: Decision,
    batch: &mut WriteBatch,
) -> StorageResult<CommandResponse> {
    if let Some(record) = state.txns.resolve(txn) {
        for (key, value) in &record.writes {
            match (decision, value) {
                (Decision::Commit(ts), Some(v)) => mvcc.put(batch, key, ts, v),
                (Decision::Commit(ts), None) => mvcc.delete(batch, key, ts),
                (Decision::Abort, _) => {}
            }
            mvcc.remove_intent(batch, key);
        }
        batch.delete(
            spanlite_storage::engine::Cf::Meta,
            MetaKey::PreparedTxn(tablet, txn.0).encode()?,
        );
    }
    Ok(CommandResponse::Decided { decision })
}

/// `Decide`: records the first decision; a new commit decision writes the
/// coordinator tablet's own writes at the commit timestamp.
pub fn decide(
    mvcc: &Mvcc,
    tablet: TabletId,
    state: &mut ApplyState,
    (txn, decision): (TxnId, Decision),
    participants: &[TabletId],
    writes: &[Mutation],
    batch: &mut WriteBatch,
) -> StorageResult<CommandResponse> {
    if outside(state, writes.iter().map(|m| m.key().to_vec())) {
        return Ok(CommandResponse::WrongTablet);
    }
    let (recorded, new) = state.txns.decide(txn, decision, participants.to_vec());
    if new {
        if let Decision::Commit(ts) = recorded {
            match apply_write(mvcc, &state.range, ts, writes, batch) {
                CommandResponse::Written { .. } => {}
                other => {
                    return Err(StorageError::Recovery(format!(
                        "decision of {txn} on tablet {tablet}: writes refused after the range check: {other:?}"
                    )));
                }
            }
        }
        let stored = Decided {
            decision: recorded,
            participants: participants.to_vec(),
        };
        meta::put_bytes(batch, &MetaKey::DecidedTxn(tablet, txn.0), encode(&stored)?)?;
    }
    Ok(CommandResponse::Decided { decision: recorded })
}

/// `Forget`: drops decision records.
pub fn forget(
    tablet: TabletId,
    state: &mut ApplyState,
    txns: &[TxnId],
    batch: &mut WriteBatch,
) -> StorageResult<CommandResponse> {
    for txn in state.txns.forget(txns) {
        batch.delete(
            spanlite_storage::engine::Cf::Meta,
            MetaKey::DecidedTxn(tablet, txn.0).encode()?,
        );
    }
    Ok(CommandResponse::None)
}
