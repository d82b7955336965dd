//! Claims about checkpoints and recovery, each pass alone and together:
//! redo brings the engine back to its pre-crash state for every acknowledged
//! write and is safe to repeat; the intents of undecided transactions are
//! kept, never rolled back by one node (there is no undo pass: docs/wal.md);
//! analysis rebuilds the tables from the log and checkpoints.

use std::collections::BTreeMap;
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
use spanlite_storage::recovery::{self, DirtyTablets, EntryApplier};
use spanlite_storage::wal::{Record, RecordKind, Wal, WalConfig};
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

/// Recovery with the test applier.
fn recover(dir: &Path, engine: Arc<dyn Engine>) -> (Wal, recovery::Recovered) {
    let (wal, opened) = open_wal(dir);
    let mvcc = Mvcc::open(engine.clone()).unwrap();
    let recovered = recovery::recover(
        &wal,
        &opened,
        engine.as_ref(),
        &mut Applier(mvcc.clone()),
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

fn intent_owners(mvcc: &Mvcc, keys: &[&str]) -> Vec<Option<u128>> {
    keys.iter()
        .map(|k| mvcc.intent(k.as_bytes()).unwrap().map(|i| i.txn.0))
        .collect()
}

/// A prepared participant's intents come from a committed Raft entry; its
/// outcome is the coordinator's to decide, through Raft. Recovery redoes
/// the intents and leaves them: a node that rolled them back alone would
/// break the participant's promise and make its replica differ from the
/// others.
#[test]
fn the_intents_of_undecided_transactions_survive_recovery() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let engine = MemoryEngine::new();
    let mut node = Node::fresh(dir.path(), Arc::new(engine.clone()));
    for (i, key) in ["a", "b"].iter().enumerate() {
        let cmd = Cmd::Intent {
            key: key.as_bytes().to_vec(),
            txn: 7,
            prepare_ts: 10 + i as u64,
            value: vec![1],
        };
        node.run(&rt, 0, &cmd);
    }
    // One decided on the same tablet, for contrast.
    node.run(
        &rt,
        0,
        &Cmd::Intent {
            key: b"c".to_vec(),
            txn: 8,
            prepare_ts: 20,
            value: vec![2],
        },
    );
    node.run(
        &rt,
        0,
        &Cmd::Commit {
            key: b"c".to_vec(),
            txn: 8,
            ts: 21,
        },
    );
    drop(node);
    engine.crash();
    let (_wal, recovered) = recover(dir.path(), Arc::new(engine.clone()));
    assert_eq!(recovered.report.entries_redone, 4);
    let mvcc = Mvcc::open(Arc::new(engine.clone())).unwrap();
    assert_eq!(
        intent_owners(&mvcc, &["a", "b", "c"]),
        vec![Some(7), Some(7), None]
    );
}

/// A checkpoint end record of the format that carried a transaction table
/// (format 1, before the undo pass was removed) is refused with its LSN,
/// not misread as today's.
#[test]
fn a_checkpoint_of_the_old_format_is_refused_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (wal, _) = open_wal(dir.path());
        wal.append_blocking(vec![Record::new(
            RecordKind::CheckpointEnd,
            vec![1u8, 0, 0, 0, 0],
        )])
        .unwrap();
    }
    let (wal, opened) = open_wal(dir.path());
    let engine = MemoryEngine::new();
    let mvcc = Mvcc::open(Arc::new(engine.clone())).unwrap();
    let err = recovery::recover(&wal, &opened, &engine, &mut Applier(mvcc), 1 << 20)
        .expect_err("an old checkpoint must be refused");
    assert!(err.to_string().contains("unknown format 1"), "{err}");
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
    let report = recovery::checkpoint(&node.wal, &engine, &node.raft, &node.dirty).unwrap();
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
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let engine = MemoryEngine::new();
    let mut node = Node::fresh(dir.path(), Arc::new(engine.clone()));
    for i in 1..=10 {
        let (tablet, cmd) = workload(i);
        node.run(&rt, tablet, &cmd);
    }
    drop(node);
    engine.crash();
    let (_wal, recovered) = recover(dir.path(), Arc::new(engine));
    let line = recovered.report.to_string();
    assert!(line.starts_with("recovery: "), "{line}");
    assert!(line.contains("redo 10 entries on 3 tablets"), "{line}");
    assert!(!line.contains('\n'));
}
