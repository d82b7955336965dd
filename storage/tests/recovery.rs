//! Claims about checkpoints and recovery, each pass alone and together:
//! redo brings the engine back to its pre-crash state for every acknowledged
//! write; undo rolls back losers with CLRs and is safe to repeat after a crash
//! during undo; analysis rebuilds the tables from the log and checkpoints.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use spanlite_storage::engine::{
    Cf, Direction, Engine, MemoryEngine, RocksConfig, RocksEngine, ScanRange, WriteBatch,
};
use spanlite_storage::meta::{self, TabletId};
use spanlite_storage::mvcc::{Intent, Mvcc, TxnId};
use spanlite_storage::raftlog::{LogEntry, LogId, RaftLogStore};
use spanlite_storage::recovery::{
    self, Clr, DirtyTablets, EntryApplier, MvccUndo, TxnLog, TxnRecordBody, TxnState, TxnTable,
    UndoTarget,
};
use spanlite_storage::wal::{RecordKind, Wal, WalConfig};
use spanlite_storage::{Result, StorageError};
use spanlite_truetime::Timestamp;

/// The test tablet's commands (the real state machine arrives with the
/// replication issue; this one exercises the same contract).
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Cmd {
    Put {
        key: Vec<u8>,
        ts: u64,
        value: Vec<u8>,
    },
    Intent {
        key: Vec<u8>,
        txn: u128,
        prepare_ts: u64,
        value: Vec<u8>,
    },
    Commit {
        key: Vec<u8>,
        txn: u128,
        ts: u64,
    },
}

struct Applier(Mvcc);

impl EntryApplier for Applier {
    fn apply(&mut self, _tablet: TabletId, entry: &LogEntry, batch: &mut WriteBatch) -> Result<()> {
        let cmd: Cmd = postcard::from_bytes(&entry.payload)
            .map_err(|e| StorageError::Recovery(e.to_string()))?;
        match cmd {
            Cmd::Put { key, ts, value } => {
                self.0.put(batch, &key, Timestamp::from_nanos(ts), &value)
            }
            Cmd::Intent {
                key,
                txn,
                prepare_ts,
                value,
            } => {
                let intent = Intent {
                    txn: TxnId(txn),
                    prepare_ts: Timestamp::from_nanos(prepare_ts),
                    value: Some(value),
                };
                self.0.write_intent(batch, &key, &intent)?;
            }
            Cmd::Commit { key, txn, ts } => {
                self.0
                    .commit_intent(batch, &key, TxnId(txn), Timestamp::from_nanos(ts))?;
            }
        }
        Ok(())
    }
}

/// A single-replica "node": WAL, Raft log store, engine, and the live apply path.
struct Node {
    wal: Wal,
    raft: RaftLogStore,
    engine: Arc<dyn Engine>,
    mvcc: Mvcc,
    dirty: DirtyTablets,
    next_index: BTreeMap<TabletId, u64>,
    /// Index of each tablet's first entry (openraft's logs start at 0).
    first_index: u64,
}

fn open_wal(dir: &Path) -> (Wal, spanlite_storage::wal::OpenReport) {
    let mut config = WalConfig::new(dir.join("wal"));
    config.segment_size = 2048;
    Wal::open(config).unwrap()
}

impl Node {
    fn fresh(dir: &Path, engine: Arc<dyn Engine>) -> Node {
        let (wal, _) = open_wal(dir);
        let raft = RaftLogStore::new(wal.clone(), 1 << 20);
        let mvcc = Mvcc::open(engine.clone()).unwrap();
        Node {
            wal,
            raft,
            engine,
            mvcc,
            dirty: DirtyTablets::default(),
            next_index: BTreeMap::new(),
            first_index: 1,
        }
    }

    /// Replicate (append + commit) and apply one command, as the live path does.
    fn run(&mut self, rt: &tokio::runtime::Runtime, tablet: TabletId, cmd: &Cmd) {
        let index = self.next_index.entry(tablet).or_insert(self.first_index);
        let log_id = LogId {
            term: 1,
            node: 1,
            index: *index,
        };
        *index += 1;
        let entry = LogEntry {
            log_id,
            payload: Bytes::from(postcard::to_stdvec(cmd).unwrap()),
        };
        rt.block_on(self.raft.append(tablet, vec![entry.clone()]).unwrap())
            .unwrap();
        self.raft.save_committed(tablet, Some(log_id)).unwrap();
        let mut batch = WriteBatch::new();
        Applier(self.mvcc.clone())
            .apply(tablet, &entry, &mut batch)
            .unwrap();
        meta::set_applied_index(&mut batch, tablet, log_id.index).unwrap();
        self.engine.write(batch).unwrap();
        self.dirty
            .note_applied(tablet, self.raft.lsn_of(tablet, log_id.index).unwrap());
    }
}

fn dump(engine: &dyn Engine) -> Vec<(Cf, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for cf in Cf::ALL {
        for item in engine
            .scan(cf, ScanRange::all(), Direction::Forward)
            .unwrap()
        {
            let (k, v) = item.unwrap();
            out.push((cf, k.to_vec(), v.to_vec()));
        }
    }
    out
}

fn workload(i: u64) -> (TabletId, Cmd) {
    // A commit (i % 5 == 4) resolves the intent written by step i - 1, on
    // that step's tablet.
    let tablet = if i % 5 == 4 { (i - 1) % 3 } else { i % 3 };
    let key = format!("t{tablet}/k{}", i % 7).into_bytes();
    let cmd = match i % 5 {
        0..=2 => Cmd::Put {
            key,
            ts: 10 * i + 1,
            value: vec![i as u8; 20],
        },
        3 => Cmd::Intent {
            key: format!("t{tablet}/i{i}").into_bytes(),
            txn: u128::from(i),
            prepare_ts: 10 * i,
            value: vec![1],
        },
        _ => Cmd::Commit {
            key: format!("t{tablet}/i{}", i - 1).into_bytes(),
            txn: u128::from(i - 1),
            ts: 10 * i,
        },
    };
    (tablet, cmd)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Recovery with the test applier and a local undo target.
fn recover(dir: &Path, engine: Arc<dyn Engine>) -> (Wal, recovery::Recovered) {
    let (wal, opened) = open_wal(dir);
    let mvcc = Mvcc::open(engine.clone()).unwrap();
    let recovered = recovery::recover(
        &wal,
        &opened,
        engine.as_ref(),
        &mvcc,
        &mut Applier(mvcc.clone()),
        &mut MvccUndo(&mvcc),
        1 << 20,
    )
    .unwrap();
    (wal, recovered)
}

#[test]
fn redo_restores_every_acknowledged_write_after_memtables_are_lost() {
    let rt = rt();
    // Logs starting at 1, and at 0 like openraft's (whose entry 0, the
    // initial membership, must be redone too: "nothing applied" is not
    // "entry 0 applied").
    for (flush_every, first_index) in [(0u64, 1), (17, 1), (50, 1), (0, 0), (17, 0)] {
        let dir = tempfile::tempdir().unwrap();
        let engine = MemoryEngine::new();
        let mut node = Node::fresh(dir.path(), Arc::new(engine.clone()));
        node.first_index = first_index;
        for i in 1..=120 {
            let (tablet, cmd) = workload(i);
            node.run(&rt, tablet, &cmd);
            if flush_every > 0 && i % flush_every == 0 {
                engine.flush().unwrap();
            }
        }
        let before = dump(&engine);
        // The workload's commits turned intents into versions (so redo of
        // the commit path is exercised).
        assert!(
            before
                .iter()
                .any(|(cf, k, _)| *cf == Cf::Versions && k.windows(2).any(|w| w == b"/i")),
            "no committed intent in the workload"
        );
        drop(node);
        engine.crash(); // memtables gone
        assert!(
            dump(&engine) != before,
            "the crash must lose something for this test to mean anything"
        );

        let (wal, recovered) = recover(dir.path(), Arc::new(engine.clone()));
        assert!(
            dump(&engine) == before,
            "flush every {flush_every}: state differs after redo"
        );
        assert!(recovered.report.entries_redone > 0);
        // Repeating recovery with the redone state still in memory: nothing
        // left to redo.
        drop((wal, recovered));
        let (wal, again) = recover(dir.path(), Arc::new(engine.clone()));
        assert_eq!(dump(&engine), before);
        assert_eq!(again.report.entries_redone, 0);
        // A crash right after redo (nothing flushed) loses the redone writes
        // again; the next recovery redoes them again, to the same state.
        drop((wal, again));
        engine.crash();
        let (_wal, third) = recover(dir.path(), Arc::new(engine.clone()));
        assert!(third.report.entries_redone > 0);
        assert!(
            dump(&engine) == before,
            "flush every {flush_every}: state differs after a second crash"
        );
    }
}

#[test]
fn redo_on_rocksdb_after_a_crash() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let before = {
        let engine: Arc<dyn Engine> = Arc::new(RocksEngine::open(RocksConfig::new(&db)).unwrap());
        let mut node = Node::fresh(dir.path(), engine.clone());
        for i in 1..=60 {
            let (tablet, cmd) = workload(i);
            node.run(&rt, tablet, &cmd);
            if i == 30 {
                engine.flush().unwrap();
            }
        }
        dump(engine.as_ref())
    }; // RocksDB closes without flushing: unflushed writes are lost
    let engine: Arc<dyn Engine> = Arc::new(RocksEngine::open(RocksConfig::new(&db)).unwrap());
    assert!(
        dump(engine.as_ref()) != before,
        "the crash must lose something"
    );
    let (_wal, recovered) = recover(dir.path(), engine.clone());
    assert_eq!(dump(engine.as_ref()), before);
    assert!(recovered.report.entries_redone >= 30);
}

/// Writes a transaction's intents to MVCC and logs its Write record.
fn txn_write(log: &TxnLog, mvcc: &Mvcc, txn: u128, tablet: TabletId, keys: &[&str]) {
    let mut batch = WriteBatch::new();
    for k in keys {
        let intent = Intent {
            txn: TxnId(txn),
            prepare_ts: Timestamp::from_nanos(5),
            value: Some(b"x".to_vec()),
        };
        mvcc.write_intent(&mut batch, k.as_bytes(), &intent)
            .unwrap();
    }
    mvcc.apply(batch).unwrap();
    let keys = keys.iter().map(|k| k.as_bytes().to_vec()).collect();
    log.log_blocking(TxnId(txn), TxnRecordBody::Write { tablet, keys })
        .unwrap();
}

fn intent_owners(mvcc: &Mvcc, keys: &[&str]) -> Vec<Option<u128>> {
    keys.iter()
        .map(|k| mvcc.intent(k.as_bytes()).unwrap().map(|i| i.txn.0))
        .collect()
}

/// Logs the standard cast: 1 loser (active), 2 in doubt, 3 decided,
/// 4 coordinator without decision (presumed abort), 5 ended.
fn cast(dir: &Path, engine: &MemoryEngine) {
    let (wal, _) = open_wal(dir);
    let mvcc = Mvcc::open(Arc::new(engine.clone())).unwrap();
    let log = TxnLog::new(wal, Default::default());
    let begin = |t: u128, coordinator| {
        log.log_blocking(
            TxnId(t),
            TxnRecordBody::Begin {
                coordinator,
                detail: vec![t as u8],
            },
        )
        .unwrap()
    };
    begin(1, false);
    txn_write(&log, &mvcc, 1, 1, &["a", "b"]);
    txn_write(&log, &mvcc, 1, 2, &["c"]);
    begin(2, false);
    txn_write(&log, &mvcc, 2, 1, &["d"]);
    log.log_blocking(
        TxnId(2),
        TxnRecordBody::Prepared {
            prepare_ts: Timestamp::from_nanos(9),
        },
    )
    .unwrap();
    begin(3, true);
    txn_write(&log, &mvcc, 3, 1, &["e"]);
    log.log_blocking(
        TxnId(3),
        TxnRecordBody::Committed {
            commit_ts: Timestamp::from_nanos(11),
        },
    )
    .unwrap();
    begin(4, true);
    txn_write(&log, &mvcc, 4, 2, &["f"]);
    log.log_blocking(
        TxnId(4),
        TxnRecordBody::Prepared {
            prepare_ts: Timestamp::from_nanos(12),
        },
    )
    .unwrap();
    begin(5, false);
    txn_write(&log, &mvcc, 5, 1, &["g"]);
    log.log_blocking(TxnId(5), TxnRecordBody::Aborted).unwrap();
    let mut b = WriteBatch::new();
    mvcc.abort_intent(&mut b, b"g", TxnId(5)).unwrap();
    mvcc.apply(b).unwrap();
    log.log_blocking(TxnId(5), TxnRecordBody::End).unwrap();
    engine.flush().unwrap();
}

const KEYS: [&str; 7] = ["a", "b", "c", "d", "e", "f", "g"];

#[test]
fn analysis_rebuilds_the_transaction_table() {
    let dir = tempfile::tempdir().unwrap();
    let engine = MemoryEngine::new();
    cast(dir.path(), &engine);
    let (wal, _) = open_wal(dir.path());
    let found = recovery::analysis(&wal, 1 << 20).unwrap();
    let states: BTreeMap<u128, (TxnState, bool)> = found
        .txns
        .txns
        .iter()
        .map(|(id, t)| (id.0, (t.state, t.coordinator)))
        .collect();
    assert_eq!(
        states,
        BTreeMap::from([
            (1, (TxnState::Active, false)),
            (
                2,
                (
                    TxnState::Prepared {
                        prepare_ts: Timestamp::from_nanos(9)
                    },
                    false
                )
            ),
            (
                3,
                (
                    TxnState::Committed {
                        commit_ts: Timestamp::from_nanos(11)
                    },
                    true
                )
            ),
            (
                4,
                (
                    TxnState::Prepared {
                        prepare_ts: Timestamp::from_nanos(12)
                    },
                    true
                )
            ),
        ])
    );
    assert_eq!(found.txns.txns[&TxnId(2)].detail, vec![2]);
    assert!(found.clrs.is_empty());
}

#[test]
fn undo_rolls_back_losers_with_clrs_and_reports_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let engine = MemoryEngine::new();
    cast(dir.path(), &engine);
    let (wal, recovered) = recover(dir.path(), Arc::new(engine.clone()));
    let r = &recovered.report;
    assert_eq!(r.txns_undone, vec![TxnId(1), TxnId(4)]);
    assert_eq!(r.txns_in_doubt, vec![TxnId(2)]);
    assert_eq!(r.txns_decided, vec![TxnId(3)]);
    assert_eq!(r.clrs_written, 3, "T1 wrote twice, T4 once");
    let mvcc = Mvcc::open(Arc::new(engine.clone())).unwrap();
    // Losers' intents are gone; the in-doubt and decided ones stay for the txn layer.
    assert_eq!(
        intent_owners(&mvcc, &KEYS),
        vec![None, None, None, Some(2), Some(3), None, None]
    );
    assert_eq!(
        recovered.txns.txns.keys().map(|t| t.0).collect::<Vec<_>>(),
        vec![2, 3]
    );
    // The log holds the CLRs.
    let clrs = wal
        .iter_from(0)
        .unwrap()
        .filter(|r| r.as_ref().unwrap().1.kind == RecordKind::Clr)
        .count();
    assert_eq!(clrs, 3);
    // Recovering again undoes nothing more.
    drop((wal, recovered));
    let (_wal, again) = recover(dir.path(), Arc::new(engine.clone()));
    assert!(again.report.txns_undone.is_empty());
    assert_eq!(again.report.clrs_written, 0);
    assert_eq!(again.report.clrs_redone, 3);
}

/// Fails after `left` successful compensations, like a crash mid-undo.
struct CrashingUndo<'a> {
    inner: MvccUndo<'a>,
    left: usize,
}

impl UndoTarget for CrashingUndo<'_> {
    fn undo_write(&mut self, txn: TxnId, tablet: TabletId, keys: &[Vec<u8>]) -> Result<()> {
        if self.left == 0 {
            return Err(StorageError::Recovery("simulated crash during undo".into()));
        }
        self.left -= 1;
        self.inner.undo_write(txn, tablet, keys)
    }
}

#[test]
fn a_crash_during_undo_is_safe_to_repeat() {
    for crash_after in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let engine = MemoryEngine::new();
        cast(dir.path(), &engine);
        {
            let (wal, opened) = open_wal(dir.path());
            let mvcc = Mvcc::open(Arc::new(engine.clone())).unwrap();
            let mut target = CrashingUndo {
                inner: MvccUndo(&mvcc),
                left: crash_after,
            };
            let result = recovery::recover(
                &wal,
                &opened,
                &engine,
                &mvcc,
                &mut Applier(mvcc.clone()),
                &mut target,
                1 << 20,
            );
            assert!(result.is_err(), "crash_after {crash_after}");
        }
        engine.crash(); // and the engine loses what undo did in memory
        let (wal, recovered) = recover(dir.path(), Arc::new(engine.clone()));
        // T1 finished (End logged) before the crash when two compensations
        // went through; T4 never did.
        let expect = if crash_after >= 2 {
            vec![TxnId(4)]
        } else {
            vec![TxnId(1), TxnId(4)]
        };
        assert_eq!(
            recovered.report.txns_undone, expect,
            "crash_after {crash_after}"
        );
        let mvcc = Mvcc::open(Arc::new(engine.clone())).unwrap();
        assert_eq!(
            intent_owners(&mvcc, &KEYS),
            vec![None, None, None, Some(2), Some(3), None, None]
        );
        // Each Write was compensated exactly once across both runs.
        let mut undone = HashSet::new();
        for item in wal.iter_from(0).unwrap() {
            let (_, record) = item.unwrap();
            if record.kind == RecordKind::Clr {
                let clr: Clr = postcard::from_bytes(&record.payload[1..]).unwrap();
                assert!(
                    undone.insert(clr.undone_lsn),
                    "write at LSN {} compensated twice",
                    clr.undone_lsn
                );
            }
        }
        assert_eq!(undone.len(), 3);
    }
}

#[test]
fn checkpoint_frees_segments_and_recovery_still_has_everything() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let engine = MemoryEngine::new();
    let mut node = Node::fresh(dir.path(), Arc::new(engine.clone()));
    rt.block_on(node.raft.save_vote(0, Bytes::from_static(b"vote-0")))
        .unwrap();
    for i in 1..=200 {
        let (tablet, cmd) = workload(i);
        node.run(&rt, tablet, &cmd);
    }
    // Raft purges what the flushed state covers (the tablet flushes first).
    engine.flush().unwrap();
    for tablet in 0..3 {
        let last = node.raft.log_state(tablet).last.unwrap();
        let upto = LogId {
            index: last.index - 3,
            ..last
        };
        rt.block_on(node.raft.purge(tablet, upto)).unwrap();
    }
    let segments_before = std::fs::read_dir(dir.path().join("wal")).unwrap().count();
    let report =
        recovery::checkpoint(&node.wal, &engine, &node.raft, &node.dirty, TxnTable::new()).unwrap();
    assert!(report.segments_removed > 0, "{report:?}");
    let segments_after = std::fs::read_dir(dir.path().join("wal")).unwrap().count();
    assert_eq!(segments_before - report.segments_removed, segments_after);
    for i in 201..=230 {
        let (tablet, cmd) = workload(i);
        node.run(&rt, tablet, &cmd);
    }
    let before = dump(&engine);
    let logs: Vec<_> = (0..3).map(|t| node.raft.entries(t, ..).unwrap()).collect();
    drop(node);
    engine.crash();

    let (_wal, recovered) = recover(dir.path(), Arc::new(engine.clone()));
    assert_eq!(dump(&engine), before);
    assert_eq!(recovered.report.checkpoint, Some(report.end_lsn));
    // The vote's record was in a deleted segment; the checkpoint carried it.
    assert_eq!(
        recovered.raft.read_vote(0),
        Some(Bytes::from_static(b"vote-0"))
    );
    for t in 0..3 {
        assert_eq!(recovered.raft.entries(t, ..).unwrap(), logs[t as usize]);
    }
}

#[test]
fn recovery_report_is_one_readable_line() {
    let dir = tempfile::tempdir().unwrap();
    let engine = MemoryEngine::new();
    cast(dir.path(), &engine);
    let (_wal, recovered) = recover(dir.path(), Arc::new(engine));
    let line = recovered.report.to_string();
    assert!(line.starts_with("recovery: "), "{line}");
    assert!(line.contains("undo 2 txns with 3 CLRs"), "{line}");
    assert!(!line.contains('\n'));
}
