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

use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
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
    /// Frozen for a merge into its left neighbour (`Command::Freeze`).
    pub frozen: Option<Frozen>,
    /// As a left neighbour: the merges applied or abandoned here, by right
    /// neighbour (`MetaKey::Merges`).
    pub merges: BTreeMap<TabletId, MergeRecord>,
}

/// A merge of a right neighbour as its left neighbour recorded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeRecord {
    /// The right neighbour's freeze floor (which freeze).
    pub floor: Timestamp,
    /// Applied (`true`) or abandoned (`false`).
    pub merged: bool,
}

/// The merges stored for `tablet` as a left neighbour.
pub fn load_merges(
    mvcc: &Mvcc,
    tablet: TabletId,
) -> StorageResult<BTreeMap<TabletId, MergeRecord>> {
    Ok(
        meta::get_bytes(mvcc.engine().as_ref(), &MetaKey::Merges(tablet))?
            .map(|b| meta::decode_value(&b, "merge records"))
            .transpose()?
            .unwrap_or_default(),
    )
}

fn store_merges(
    tablet: TabletId,
    state: &TabletState,
    batch: &mut WriteBatch,
) -> StorageResult<()> {
    meta::put_bytes(
        batch,
        &MetaKey::Merges(tablet),
        meta::encode_value(&state.merges, "merge records")?,
    )
}

/// A tablet's freeze for a merge (`MetaKey::Frozen`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frozen {
    /// The left neighbour taking the range over.
    pub into: TabletId,
    /// No timestamp at or below it was handed out here.
    pub floor: Timestamp,
}

/// The freeze stored for `tablet`, if it is frozen.
pub fn load_frozen(mvcc: &Mvcc, tablet: TabletId) -> StorageResult<Option<Frozen>> {
    meta::get_bytes(mvcc.engine().as_ref(), &MetaKey::Frozen(tablet))?
        .map(|b| meta::decode_value(&b, "freeze record"))
        .transpose()
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
    // Ending a freeze, and giving a merge up, apply whether frozen or not.
    match command {
        Command::Unfreeze { into, floor } => {
            return Ok((unfreeze(tablet, state, *into, *floor, batch)?, None));
        }
        Command::AbandonMerge { right, floor } => {
            return Ok((abandon(tablet, state, *right, *floor, batch)?, None));
        }
        _ => {}
    }
    if let Some(frozen) = state.frozen {
        // INVARIANT: a frozen tablet's data and 2PC records never change
        // again: its range now belongs to its left neighbour.
        return Ok((frozen_answer(command, frozen), None));
    }
    let response = match command {
        Command::Write { ts, mutations } => write(mvcc, &state.range, *ts, mutations, batch),
        Command::Writes { writes } => CommandResponse::Each(
            writes
                .iter()
                .map(|(ts, mutations)| write(mvcc, &state.range, *ts, mutations, batch))
                .collect(),
        ),
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
        Command::Freeze { into, floor } => freeze(tablet, state, *into, *floor, batch)?,
        Command::Merge {
            right,
            at,
            end,
            floor,
            generation,
            ..
        } => merge(tablet, state, (*right, at, end), *floor, *generation, batch)?,
        // Applied before the freeze check above.
        Command::AbandonMerge { .. } | Command::Unfreeze { .. } => CommandResponse::None,
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

/// What a frozen tablet answers: every change is refused (a write or
/// prepare routes again and finds the left neighbour), a repeated freeze
/// into the same neighbour is answered as done, and steps that change
/// nothing here (a resolve or forget of what is not recorded, a lease
/// start) are no-ops.
fn frozen_answer(command: &Command, frozen: Frozen) -> CommandResponse {
    match command {
        Command::Write { .. } | Command::Prepare { .. } | Command::Decide { .. } => {
            CommandResponse::WrongTablet
        }
        Command::Writes { writes } => {
            CommandResponse::Each(vec![CommandResponse::WrongTablet; writes.len()])
        }
        Command::Split { .. } => CommandResponse::SplitRefused,
        Command::Merge { .. } => CommandResponse::MergeRefused,
        Command::Freeze { into, .. } if *into == frozen.into => {
            CommandResponse::Frozen { into: *into }
        }
        Command::Freeze { .. } => CommandResponse::FreezeRefused,
        Command::Resolve { decision, .. } => CommandResponse::Decided {
            decision: *decision,
        },
        Command::Forget { .. }
        | Command::LeaseStart { .. }
        | Command::AbandonMerge { .. }
        | Command::Unfreeze { .. } => CommandResponse::None,
    }
}

/// `Unfreeze`: ends the freeze into `into` at `floor` (its left neighbour
/// abandoned the merge); a tablet not frozen answers the same.
fn unfreeze(
    tablet: TabletId,
    state: &mut TabletState,
    into: TabletId,
    floor: Timestamp,
    batch: &mut WriteBatch,
) -> StorageResult<CommandResponse> {
    match state.frozen {
        None => Ok(CommandResponse::Unfrozen),
        Some(f) if f.into == into && f.floor == floor => {
            batch.delete(Cf::Meta, MetaKey::Frozen(tablet).encode()?);
            state.frozen = None;
            Ok(CommandResponse::Unfrozen)
        }
        Some(_) => Ok(CommandResponse::FreezeRefused),
    }
}

/// `AbandonMerge`: from now on the merge of `right` frozen at `floor` is
/// refused here, unless it was applied already.
fn abandon(
    tablet: TabletId,
    state: &mut TabletState,
    right: TabletId,
    floor: Timestamp,
    batch: &mut WriteBatch,
) -> StorageResult<CommandResponse> {
    match state.merges.get(&right) {
        Some(r) if r.merged && r.floor >= floor => return Ok(CommandResponse::AlreadyMerged),
        Some(r) if !r.merged && r.floor >= floor => return Ok(CommandResponse::MergeAbandoned),
        _ => {}
    }
    state.merges.insert(
        right,
        MergeRecord {
            floor,
            merged: false,
        },
    );
    store_merges(tablet, state, batch)?;
    Ok(CommandResponse::MergeAbandoned)
}

/// `Freeze`: refused while anything is prepared here (its record belongs
/// to this tablet) or any decision is remembered (a participant may still
/// ask for it); else the tablet is frozen from now on.
fn freeze(
    tablet: TabletId,
    state: &mut TabletState,
    into: TabletId,
    floor: Timestamp,
    batch: &mut WriteBatch,
) -> StorageResult<CommandResponse> {
    if into == tablet || !state.txns.nothing_prepared() || state.txns.all_decided().next().is_some()
    {
        return Ok(CommandResponse::FreezeRefused);
    }
    let frozen = Frozen {
        into,
        floor: floor.max(state.max_ts),
    };
    meta::put_bytes(
        batch,
        &MetaKey::Frozen(tablet),
        meta::encode_value(&frozen, "freeze record")?,
    )?;
    state.frozen = Some(frozen);
    Ok(CommandResponse::Frozen { into })
}

/// `Merge`: extends the range to the frozen right neighbour's end when it
/// starts where this one ends and this freeze's merge was not abandoned
/// here; its floor becomes part of `s_max`.
fn merge(
    tablet: TabletId,
    state: &mut TabletState,
    (right, at, end): (TabletId, &[u8], &[u8]),
    floor: Timestamp,
    generation: u64,
    batch: &mut WriteBatch,
) -> StorageResult<CommandResponse> {
    let adjacent = !at.is_empty() && state.range.end == at && (end.is_empty() || end > at);
    let abandoned = state
        .merges
        .get(&right)
        .is_some_and(|r| !r.merged && r.floor >= floor);
    if !adjacent || abandoned {
        return Ok(CommandResponse::MergeRefused);
    }
    state.range = KeyRange::new(state.range.start.clone(), end.to_vec());
    state.max_ts = state.max_ts.max(floor);
    state.generation = generation.max(state.generation);
    state.merges.insert(
        right,
        MergeRecord {
            floor,
            merged: true,
        },
    );
    store_merges(tablet, state, batch)?;
    Ok(CommandResponse::Merged {
        range: state.range.clone(),
    })
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use spanlite_storage::engine::MemoryEngine;

    use super::*;
    use crate::lock::{LockMode, LockTarget};

    fn ts(n: u64) -> Timestamp {
        Timestamp::from_nanos(n)
    }

    fn world(range: KeyRange) -> (Mvcc, TabletState) {
        let mvcc = Mvcc::open(Arc::new(MemoryEngine::new())).unwrap();
        let state = TabletState {
            max_ts: ts(10),
            range,
            generation: 1,
            ..Default::default()
        };
        (mvcc, state)
    }

    fn apply(mvcc: &Mvcc, state: &mut TabletState, command: &Command) -> CommandResponse {
        let mut batch = WriteBatch::new();
        let (response, _) = apply_command(mvcc, 7, command, state, &mut batch).unwrap();
        mvcc.apply(batch).unwrap();
        response
    }

    fn put(key: &[u8], at: u64) -> Command {
        Command::Write {
            ts: ts(at),
            mutations: vec![Mutation::Put {
                key: key.to_vec(),
                value: b"v".to_vec(),
            }],
        }
    }

    fn range(start: &[u8], end: &[u8]) -> KeyRange {
        KeyRange::new(start.to_vec(), end.to_vec())
    }

    /// Claim: a batch of commits applies each as its own `Write` would,
    /// in order, answering each on its own: one out of the range (split
    /// off after it was proposed) is refused alone; frozen, all are.
    #[test]
    fn a_batch_of_commits_applies_and_answers_each_as_its_own_write() {
        let (mvcc, mut state) = world(range(b"a", b"m"));
        let batch = |writes: &[(&[u8], u64)]| Command::Writes {
            writes: writes
                .iter()
                .map(|(k, at)| match put(k, *at) {
                    Command::Write { ts, mutations } => (ts, mutations),
                    _ => unreachable!(),
                })
                .collect(),
        };
        assert_eq!(
            apply(
                &mvcc,
                &mut state,
                &batch(&[(b"b", 20), (b"x", 21), (b"c", 22)])
            ),
            CommandResponse::Each(vec![
                CommandResponse::Written { ts: ts(20) },
                CommandResponse::WrongTablet,
                CommandResponse::Written { ts: ts(22) },
            ])
        );
        assert_eq!(state.max_ts, ts(22));
        let at = |k: &[u8], t: u64| mvcc.get(k, ts(t)).unwrap().ready().flatten();
        assert_eq!(at(b"b", 20), Some(b"v".to_vec()));
        assert_eq!(at(b"c", 21), None, "written at its own timestamp");
        assert_eq!(at(b"c", 22), Some(b"v".to_vec()));
        assert_eq!(at(b"x", 30), None);
        apply(
            &mvcc,
            &mut state,
            &Command::Freeze {
                into: 3,
                floor: ts(40),
            },
        );
        assert_eq!(
            apply(&mvcc, &mut state, &batch(&[(b"d", 50), (b"e", 51)])),
            CommandResponse::Each(vec![CommandResponse::WrongTablet; 2])
        );
        assert_eq!(at(b"d", 60), None);
    }

    #[test]
    fn a_frozen_tablet_changes_nothing_again() {
        let (mvcc, mut state) = world(range(b"m", b""));
        let freeze = Command::Freeze {
            into: 3,
            floor: ts(20),
        };
        assert_eq!(
            apply(&mvcc, &mut state, &freeze),
            CommandResponse::Frozen { into: 3 }
        );
        assert_eq!(
            state.frozen,
            Some(Frozen {
                into: 3,
                floor: ts(20)
            })
        );
        assert_eq!(
            load_frozen(&mvcc, 7).unwrap(),
            state.frozen,
            "stored with the entry"
        );
        // Every change is refused from now on; a repeated freeze is done.
        assert_eq!(
            apply(&mvcc, &mut state, &put(b"n", 30)),
            CommandResponse::WrongTablet
        );
        assert_eq!(
            mvcc.get(b"n", Timestamp::MAX).unwrap().ready().unwrap(),
            None
        );
        let split = Command::Split {
            at: b"p".to_vec(),
            right: 9,
            floor: ts(30),
            left_generation: 2,
        };
        assert_eq!(
            apply(&mvcc, &mut state, &split),
            CommandResponse::SplitRefused
        );
        let decide = Command::Decide {
            txn: TxnId(5),
            decision: Decision::Abort,
            participants: vec![],
            writes: vec![],
        };
        assert_eq!(
            apply(&mvcc, &mut state, &decide),
            CommandResponse::WrongTablet
        );
        assert!(state.txns.all_decided().next().is_none());
        assert_eq!(
            apply(&mvcc, &mut state, &freeze),
            CommandResponse::Frozen { into: 3 }
        );
        let other = Command::Freeze {
            into: 4,
            floor: ts(20),
        };
        assert_eq!(
            apply(&mvcc, &mut state, &other),
            CommandResponse::FreezeRefused
        );
    }

    #[test]
    fn a_freeze_is_refused_while_a_record_is_kept() {
        let (mvcc, mut state) = world(range(b"m", b""));
        let prepare = Command::Prepare {
            txn: TxnId(1),
            record: Prepared {
                prepare_ts: ts(15),
                priority: ts(1),
                coordinator: 2,
                writes: vec![Mutation::Put {
                    key: b"n".to_vec(),
                    value: b"v".to_vec(),
                }],
                locks: vec![(LockTarget::key(b"n".to_vec()), LockMode::Exclusive)],
            },
        };
        assert!(matches!(
            apply(&mvcc, &mut state, &prepare),
            CommandResponse::Prepared { .. }
        ));
        let freeze = Command::Freeze {
            into: 3,
            floor: ts(20),
        };
        assert_eq!(
            apply(&mvcc, &mut state, &freeze),
            CommandResponse::FreezeRefused
        );
        let resolve = Command::Resolve {
            txn: TxnId(1),
            decision: Decision::Commit(ts(16)),
        };
        apply(&mvcc, &mut state, &resolve);
        // A decision this tablet coordinated is kept until forgotten.
        let decide = Command::Decide {
            txn: TxnId(2),
            decision: Decision::Commit(ts(17)),
            participants: vec![4],
            writes: vec![],
        };
        apply(&mvcc, &mut state, &decide);
        assert_eq!(
            apply(&mvcc, &mut state, &freeze),
            CommandResponse::FreezeRefused
        );
        apply(
            &mvcc,
            &mut state,
            &Command::Forget {
                txns: vec![TxnId(2)],
            },
        );
        assert_eq!(
            apply(&mvcc, &mut state, &freeze),
            CommandResponse::Frozen { into: 3 }
        );
        assert_eq!(state.frozen.map(|f| f.floor), Some(ts(20)));
    }

    #[test]
    fn a_merge_widens_an_adjacent_range_and_raises_s_max() {
        let (mvcc, mut state) = world(range(b"a", b"m"));
        let merge = |at: &[u8], end: &[u8]| Command::Merge {
            right: 9,
            at: at.to_vec(),
            end: end.to_vec(),
            floor: ts(50),
            generation: 4,
            voters: vec![1, 2, 3],
        };
        assert_eq!(
            apply(&mvcc, &mut state, &merge(b"n", b"z")),
            CommandResponse::MergeRefused,
            "not adjacent"
        );
        assert_eq!(state.range, range(b"a", b"m"));
        assert_eq!(
            apply(&mvcc, &mut state, &merge(b"m", b"")),
            CommandResponse::Merged {
                range: range(b"a", b"")
            }
        );
        assert_eq!(state.generation, 4);
        assert_eq!(state.max_ts, ts(50), "the right tablet's floor");
        // It now writes the merged keys; a second copy of the merge is refused.
        assert!(matches!(
            apply(&mvcc, &mut state, &put(b"q", 60)),
            CommandResponse::Written { .. }
        ));
        assert_eq!(
            apply(&mvcc, &mut state, &merge(b"m", b"")),
            CommandResponse::MergeRefused
        );
    }

    #[test]
    fn an_abandoned_merge_is_never_applied_and_the_right_tablet_unfreezes() {
        let (mvcc, mut left) = world(range(b"a", b"m"));
        let merge = |floor: u64| Command::Merge {
            right: 9,
            at: b"m".to_vec(),
            end: Vec::new(),
            floor: ts(floor),
            generation: 4,
            voters: vec![1, 2, 3],
        };
        let abandon = |floor: u64| Command::AbandonMerge {
            right: 9,
            floor: ts(floor),
        };
        assert_eq!(
            apply(&mvcc, &mut left, &abandon(50)),
            CommandResponse::MergeAbandoned
        );
        assert_eq!(
            apply(&mvcc, &mut left, &merge(50)),
            CommandResponse::MergeRefused,
            "the merge of the freeze given up"
        );
        assert_eq!(left.range, range(b"a", b"m"));
        assert_eq!(
            load_merges(&mvcc, 7).unwrap().get(&9),
            Some(&MergeRecord {
                floor: ts(50),
                merged: false
            }),
            "stored with the entry"
        );
        // A later freeze of the same neighbour (a higher floor) merges, and
        // then it is too late to give that one up.
        assert!(matches!(
            apply(&mvcc, &mut left, &merge(60)),
            CommandResponse::Merged { .. }
        ));
        assert_eq!(
            apply(&mvcc, &mut left, &abandon(60)),
            CommandResponse::AlreadyMerged
        );

        let (mvcc, mut right) = world(range(b"m", b""));
        let freeze = Command::Freeze {
            into: 3,
            floor: ts(50),
        };
        assert_eq!(
            apply(&mvcc, &mut right, &freeze),
            CommandResponse::Frozen { into: 3 }
        );
        let unfreeze = |floor: u64| Command::Unfreeze {
            into: 3,
            floor: ts(floor),
        };
        assert_eq!(
            apply(&mvcc, &mut right, &unfreeze(49)),
            CommandResponse::FreezeRefused,
            "another freeze"
        );
        assert_eq!(
            apply(&mvcc, &mut right, &unfreeze(50)),
            CommandResponse::Unfrozen
        );
        assert_eq!(right.frozen, None);
        assert_eq!(load_frozen(&mvcc, 7).unwrap(), None);
        assert!(matches!(
            apply(&mvcc, &mut right, &put(b"n", 70)),
            CommandResponse::Written { .. }
        ));
    }
}
