//! Transcripts, one per openraft contract point, then replay, snapshot and
//! codec tests. The many-group model and crash tests are in
//! `tests/raftlog_*.rs`.

use std::future::Future;
use std::path::Path;
use std::sync::mpsc;

use bytes::Bytes;

use super::codec::RaftRecord;
use super::*;
use crate::wal::{Record, RecordKind, Wal, WalConfig, WalError};

fn id(term: u64, index: u64) -> LogId {
    LogId {
        term,
        node: 1,
        index,
    }
}

fn entry(term: u64, index: u64) -> LogEntry {
    LogEntry {
        log_id: id(term, index),
        payload: Bytes::from(format!("t{term}i{index}")),
    }
}

fn entries(term: u64, indexes: std::ops::RangeInclusive<u64>) -> Vec<LogEntry> {
    indexes.map(|i| entry(term, i)).collect()
}

fn open_wal(dir: &Path) -> Wal {
    Wal::open(WalConfig {
        dir: dir.to_path_buf(),
        segment_size: 4096,
    })
    .unwrap()
    .0
}

/// Opens the WAL in `dir` and rebuilds the store from it.
fn reopen(dir: &Path, cache: usize) -> RaftLogStore {
    RaftLogStore::recover(open_wal(dir), cache, None).unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn must_append(store: &RaftLogStore, group: GroupId, entries: Vec<LogEntry>) {
    rt().block_on(store.append(group, entries).unwrap())
        .unwrap();
}

fn must_durable(d: Durable) {
    rt().block_on(d).unwrap();
}

/// Holds the WAL writer thread inside a completion callback until dropped,
/// so that nothing queued after it can become durable.
struct WriterPaused {
    _release: mpsc::Sender<()>,
}

fn pause_writer(wal: &Wal) -> WriterPaused {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    wal.append_with(vec![], move |_| {
        entered_tx.send(()).unwrap();
        let _ = release_rx.recv();
    })
    .unwrap();
    entered_rx.recv().unwrap();
    WriterPaused {
        _release: release_tx,
    }
}

// --- openraft contract transcripts ---------------------------------------------

#[test]
fn appended_entries_are_readable_before_they_are_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = reopen(dir.path(), 1 << 20);
    let paused = pause_writer(store.wal());
    let mut durable = store.append(7, entries(1, 1..=2)).unwrap();
    // append returned: readable, in the log state, not durable yet.
    assert_eq!(store.entries(7, 1..=2).unwrap(), entries(1, 1..=2));
    assert_eq!(
        store.log_state(7),
        LogState {
            last_purged: None,
            last: Some(id(1, 2))
        }
    );
    assert_eq!(store.lsn_of(7, 1), None);
    let waker = std::task::Waker::noop();
    let poll = std::pin::Pin::new(&mut durable).poll(&mut std::task::Context::from_waker(waker));
    assert!(
        poll.is_pending(),
        "the durability future waits for the fsync"
    );
    drop(paused);
    must_durable(durable);
    assert!(store.lsn_of(7, 1).is_some() && store.lsn_of(7, 2).is_some());
}

#[test]
fn the_durability_future_resolves_after_the_fsync_covering_the_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = reopen(dir.path(), 1 << 20);
    let fsyncs = store.wal().stats().fsyncs;
    must_append(&store, 1, entries(1, 1..=3));
    assert!(store.wal().stats().fsyncs > fsyncs);
    let last = store.lsn_of(1, 3).unwrap();
    assert!(
        store.wal().durable_lsn() > last,
        "the last entry's record lies below the durable end"
    );
    assert_eq!(
        store.wal().read_at(last).unwrap().kind,
        RecordKind::RaftEntries
    );
}

#[test]
fn truncate_removes_the_conflicting_suffix_and_a_new_term_follows() {
    let dir = tempfile::tempdir().unwrap();
    let store = reopen(dir.path(), 1 << 20);
    must_append(&store, 1, entries(1, 1..=5));
    must_durable(store.truncate(1, 3));
    assert_eq!(store.log_state(1).last, Some(id(1, 2)));
    assert_eq!(store.entries(1, ..).unwrap(), entries(1, 1..=2));
    must_append(&store, 1, entries(2, 3..=4));
    let expect: Vec<_> = entries(1, 1..=2)
        .into_iter()
        .chain(entries(2, 3..=4))
        .collect();
    assert_eq!(store.entries(1, ..).unwrap(), expect);
    drop(store);
    assert_eq!(
        reopen(dir.path(), 1 << 20).entries(1, ..).unwrap(),
        expect,
        "replay gives the same log"
    );
}

#[test]
fn an_append_that_would_leave_a_hole_or_overwrite_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = reopen(dir.path(), 1 << 20);
    must_append(&store, 1, entries(1, 1..=3));
    for bad in [
        vec![entry(1, 5)],
        vec![entry(2, 3)],
        vec![entry(1, 4), entry(1, 6)],
    ] {
        let err = store.append(1, bad).unwrap_err();
        assert!(
            matches!(err, RaftLogError::NotContiguous { group: 1, .. }) && !err.must_restart(),
            "{err:?}"
        );
    }
    assert_eq!(
        store.entries(1, ..).unwrap(),
        entries(1, 1..=3),
        "nothing changed"
    );
    // A new group may start anywhere (openraft starts at 0).
    must_append(&store, 2, entries(1, 0..=1));
}

#[test]
fn purge_keeps_last_purged_in_the_log_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = reopen(dir.path(), 1 << 20);
    must_append(&store, 1, entries(1, 1..=4));
    must_durable(store.purge(1, id(1, 2)));
    assert_eq!(
        store.log_state(1),
        LogState {
            last_purged: Some(id(1, 2)),
            last: Some(id(1, 4))
        }
    );
    // Reads across the purge boundary return what is left.
    assert_eq!(store.entries(1, 1..=4).unwrap(), entries(1, 3..=4));
    assert_eq!(store.entries(1, ..3).unwrap(), vec![]);
    must_durable(store.purge(1, id(1, 4)));
    // An empty log reports the purged id as its last.
    let empty = LogState {
        last_purged: Some(id(1, 4)),
        last: Some(id(1, 4)),
    };
    assert_eq!(store.log_state(1), empty);
    drop(store);
    let store = reopen(dir.path(), 1 << 20);
    assert_eq!(store.log_state(1), empty);
    // The next append follows the purge point.
    assert!(matches!(
        store.append(1, vec![entry(1, 7)]),
        Err(RaftLogError::NotContiguous { expected: 5, .. })
    ));
    must_append(&store, 1, vec![entry(2, 5)]);
}

#[test]
fn purge_past_the_last_entry_empties_the_log_like_a_snapshot_install() {
    let dir = tempfile::tempdir().unwrap();
    let store = reopen(dir.path(), 1 << 20);
    must_append(&store, 1, entries(1, 1..=3));
    must_durable(store.purge(1, id(3, 10)));
    assert_eq!(
        store.log_state(1),
        LogState {
            last_purged: Some(id(3, 10)),
            last: Some(id(3, 10))
        }
    );
    assert_eq!(store.entries(1, ..).unwrap(), vec![]);
    must_append(&store, 1, entries(3, 11..=12));
    drop(store);
    assert_eq!(
        reopen(dir.path(), 1 << 20).entries(1, ..).unwrap(),
        entries(3, 11..=12)
    );
}

#[test]
fn the_vote_is_durable_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = reopen(dir.path(), 1 << 20);
    assert_eq!(store.read_vote(3), None);
    must_durable(store.save_vote(3, Bytes::from_static(b"term 5 voted 2")));
    must_durable(store.save_vote(3, Bytes::from_static(b"term 6 voted 1")));
    assert_eq!(
        store.read_vote(3),
        Some(Bytes::from_static(b"term 6 voted 1"))
    );
    drop(store);
    let store = reopen(dir.path(), 1 << 20);
    assert_eq!(
        store.read_vote(3),
        Some(Bytes::from_static(b"term 6 voted 1")),
        "the later vote wins"
    );
}

#[test]
fn committed_is_lazily_durable_and_flush_forces_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = reopen(dir.path(), 1 << 20);
    store.save_committed(3, Some(id(5, 9))).unwrap();
    assert_eq!(store.read_committed(3), Some(id(5, 9)));
    must_durable(store.flush());
    drop(store);
    assert_eq!(
        reopen(dir.path(), 1 << 20).read_committed(3),
        Some(id(5, 9))
    );
}

#[test]
fn a_tiny_cache_reads_old_entries_back_from_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let store = reopen(dir.path(), 16);
    let all = entries(1, 1..=50);
    for e in &all {
        must_append(&store, 1, vec![e.clone()]);
    }
    assert!(
        store.cached_bytes(1) <= 16,
        "cache holds {} bytes",
        store.cached_bytes(1)
    );
    assert_eq!(store.entries(1, ..).unwrap(), all);
    assert_eq!(store.entries(1, 10..20).unwrap(), all[9..19].to_vec());
    // A large budget keeps them all in memory.
    let big = reopen(tempfile::tempdir().unwrap().path(), 1 << 20);
    must_append(&big, 1, all.clone());
    assert_eq!(
        big.cached_bytes(1),
        all.iter().map(|e| e.payload.len()).sum::<usize>()
    );
}

#[test]
fn a_failed_wal_fails_the_durability_future() {
    let dir = tempfile::tempdir().unwrap();
    let store = reopen(dir.path(), 1 << 20);
    store.wal().inject_fault(crate::wal::Fault::Sync);
    let err = rt()
        .block_on(store.append(1, entries(1, 1..=2)).unwrap())
        .unwrap_err();
    assert!(
        matches!(err, RaftLogError::Wal(WalError::Failed { .. })) && err.must_restart(),
        "{err:?}"
    );
    // Later writes are refused up front.
    assert!(matches!(
        store.append(1, entries(1, 3..=3)),
        Err(RaftLogError::Wal(WalError::Failed { .. }))
    ));
    assert!(
        rt().block_on(store.save_vote(1, Bytes::from_static(b"v")))
            .is_err()
    );
}

// --- groups, replay, snapshots ---------------------------------------------

#[test]
fn removed_groups_stay_removed_after_replay_even_over_an_older_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = reopen(dir.path(), 1 << 20);
    must_append(&store, 1, vec![entry(1, 1)]);
    must_durable(store.save_vote(1, Bytes::from_static(b"v1")));
    must_append(&store, 2, vec![entry(1, 1)]);
    let snapshot = store.meta_snapshot();
    must_durable(store.remove_group(1));
    assert_eq!(store.groups(), vec![2]);
    drop(store);
    let store = RaftLogStore::recover(open_wal(dir.path()), 1 << 20, Some(&snapshot)).unwrap();
    assert_eq!(store.groups(), vec![2]);
    assert_eq!(store.read_vote(1), None);
}

#[test]
fn a_snapshot_fills_only_what_the_retained_log_does_not_say_in_either_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = reopen(dir.path(), 1 << 20);
    must_durable(store.save_vote(1, Bytes::from_static(b"old")));
    must_durable(store.save_vote(2, Bytes::from_static(b"only in snapshot")));
    must_append(&store, 3, entries(1, 1..=2));
    must_durable(store.purge(3, id(1, 2)));
    must_append(&store, 1, entries(1, 1..=4));
    must_durable(store.purge(1, id(1, 2)));
    let snapshot = store.meta_snapshot();
    must_durable(store.save_vote(1, Bytes::from_static(b"new")));
    // Retention would keep the log from group 1's entry 3 on: the two votes
    // and group 3's purge are only in the snapshot then.
    let keep_from = store.min_lsn_needed().unwrap();
    assert_eq!(Some(keep_from), store.lsn_of(1, 3));
    drop(store);
    let wal = open_wal(dir.path());
    let retained: Vec<(u64, Record)> = wal
        .iter_from(keep_from)
        .unwrap()
        .map(Result::unwrap)
        .collect();

    let loaded_first = {
        let mut replay = RaftLogReplay::new();
        replay.load_meta_snapshot(&snapshot);
        for (lsn, r) in &retained {
            replay.apply(*lsn, r).unwrap();
        }
        RaftLogStore::from_replay(wal.clone(), 1 << 20, replay).unwrap()
    };
    let loaded_last = RaftLogStore::new(wal.clone(), 1 << 20);
    for (lsn, r) in &retained {
        loaded_last.apply_replayed(*lsn, r).unwrap();
    }
    loaded_last.load_meta_snapshot(&snapshot);
    loaded_last.finish_replay().unwrap();
    for store in [&loaded_first, &loaded_last] {
        assert_eq!(
            store.read_vote(1),
            Some(Bytes::from_static(b"new")),
            "the log wins"
        );
        assert_eq!(
            store.read_vote(2),
            Some(Bytes::from_static(b"only in snapshot"))
        );
        assert_eq!(
            store.log_state(3),
            LogState {
                last_purged: Some(id(1, 2)),
                last: Some(id(1, 2))
            }
        );
        assert_eq!(
            store.log_state(1),
            LogState {
                last_purged: Some(id(1, 2)),
                last: Some(id(1, 4))
            }
        );
        assert_eq!(store.entries(1, ..).unwrap(), entries(1, 3..=4));
        assert_eq!(store.groups(), vec![1, 2, 3]);
    }
}

#[test]
fn min_lsn_needed_covers_live_entries_and_unsnapshotted_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let store = reopen(dir.path(), 1 << 20);
    assert_eq!(store.min_lsn_needed(), None, "no group: nothing needed");
    must_durable(store.save_vote(9, Bytes::from_static(b"v")));
    assert_eq!(
        store.min_lsn_needed(),
        Some(0),
        "the vote is only in the log until a snapshot"
    );
    must_append(&store, 1, entries(1, 1..=3));
    let first_entry = store.lsn_of(1, 1).unwrap();
    let snapshot = store.meta_snapshot();
    assert_eq!(snapshot.covers_below, store.wal().durable_lsn());
    assert_eq!(store.min_lsn_needed(), Some(first_entry));
    must_durable(store.purge(1, id(1, 3)));
    assert_eq!(
        store.min_lsn_needed(),
        Some(snapshot.covers_below),
        "the purge record is not in the snapshot"
    );
    let snapshot = store.meta_snapshot();
    assert_eq!(store.min_lsn_needed(), Some(snapshot.covers_below));
    // An in-flight append counts from the durable end when it was queued.
    let paused = pause_writer(store.wal());
    let durable = store.append(2, entries(1, 1..=1)).unwrap();
    assert_eq!(
        store.min_lsn_needed(),
        Some(snapshot.covers_below.min(store.wal().durable_lsn()))
    );
    drop(paused);
    must_durable(durable);
}

#[test]
fn a_hole_left_after_replay_is_inconsistent() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open_wal(dir.path());
    let mut lsns = Vec::new();
    for index in [1, 2, 4] {
        let rec = RaftRecord::Entry {
            group: 5,
            log_id: id(1, index),
            payload: Bytes::new(),
        };
        lsns.push(
            wal.append_blocking(vec![rec.encode().unwrap()])
                .unwrap()
                .lsns[0],
        );
    }
    let err = RaftLogStore::recover(wal, 1 << 20, None).unwrap_err();
    assert!(
        matches!(err, RaftLogError::Inconsistent { group: 5, lsn: Some(l), .. } if l == lsns[2]),
        "{err}"
    );
    assert!(err.must_restart());
}

/// Regression: retention deleted the records of dead entries 2 and 3, so the
/// retained suffix shows a hole (purged to 1, then entry 4) until the later
/// purge record kills both sides.
#[test]
fn a_hole_of_dead_entries_in_the_retained_suffix_replays_fine() {
    let dir = tempfile::tempdir().unwrap();
    let store = reopen(dir.path(), 1 << 20);
    must_append(&store, 5, entries(1, 1..=3));
    must_durable(store.purge(5, id(1, 1)));
    must_append(&store, 5, entries(1, 4..=7));
    must_durable(store.purge(5, id(1, 7)));
    must_append(&store, 6, entries(1, 1..=1));
    let purge_lsn = store
        .wal()
        .iter_from(0)
        .unwrap()
        .map(Result::unwrap)
        .find(|(_, r)| r.kind == RecordKind::RaftPurge)
        .unwrap()
        .0;
    let wal = store.wal().clone();
    let mut replay = RaftLogReplay::new();
    for item in wal.iter_from(purge_lsn).unwrap() {
        let (lsn, record) = item.unwrap();
        replay.apply(lsn, &record).unwrap();
    }
    let replayed = RaftLogStore::from_replay(wal, 1 << 20, replay).unwrap();
    assert_eq!(
        replayed.log_state(5),
        LogState {
            last_purged: Some(id(1, 7)),
            last: Some(id(1, 7))
        }
    );
    assert_eq!(replayed.entries(6, ..).unwrap(), entries(1, 1..=1));
}

#[test]
fn replay_ignores_other_kinds_and_reports_the_group_of_raft_records() {
    let mut replay = RaftLogReplay::new();
    let other = Record::new(RecordKind::CheckpointBegin, b"not ours".to_vec());
    assert_eq!(replay.apply(0, &other).unwrap(), None);
    let rec = RaftRecord::Vote {
        group: 4,
        vote: Bytes::from_static(b"v"),
    }
    .encode()
    .unwrap();
    assert_eq!(replay.apply(20, &rec).unwrap(), Some(4));
    assert_eq!(replay.records(), 1);
}

// --- codec ---------------------------------------------------------------------

#[test]
fn every_raft_record_round_trips() {
    let all = [
        RaftRecord::Entry {
            group: 1,
            log_id: id(2, 3),
            payload: Bytes::from_static(b"payload"),
        },
        RaftRecord::Vote {
            group: u64::MAX,
            vote: Bytes::from_static(b"vote"),
        },
        RaftRecord::Committed {
            group: 1,
            committed: Some(id(1, 1)),
        },
        RaftRecord::Committed {
            group: 1,
            committed: None,
        },
        RaftRecord::Truncate { group: 1, since: 7 },
        RaftRecord::Purge {
            group: 1,
            upto: id(4, 5),
        },
        RaftRecord::RemoveGroup { group: 1 },
    ];
    for rec in all {
        let encoded = rec.encode().unwrap();
        assert_eq!(RaftRecord::decode(42, &encoded).unwrap(), Some(rec));
        let mut bad = encoded.payload.to_vec();
        bad[0] = 9;
        let err = RaftRecord::decode(42, &Record::new(encoded.kind, bad)).unwrap_err();
        assert!(
            matches!(
                err,
                RaftLogError::UnknownFormat {
                    lsn: Some(42),
                    version: Some(9),
                    ..
                }
            ),
            "{err}"
        );
    }
    let truncated = Record::new(RecordKind::RaftPurge, vec![1u8, 1]);
    assert!(matches!(
        RaftRecord::decode(1, &truncated),
        Err(RaftLogError::Decode { .. })
    ));
    let empty = Record::new(RecordKind::RaftVote, Vec::new());
    assert!(matches!(
        RaftRecord::decode(1, &empty),
        Err(RaftLogError::UnknownFormat { version: None, .. })
    ));
}

#[test]
fn the_meta_snapshot_round_trips() {
    let snapshot = MetaSnapshot {
        covers_below: 1234,
        groups: vec![
            GroupMeta {
                group: 1,
                vote: Some(Bytes::from_static(b"v")),
                committed: Some(id(1, 2)),
                last_purged: None,
                last: Some(id(1, 3)),
            },
            GroupMeta {
                group: 2,
                ..GroupMeta::default()
            },
        ],
    };
    assert_eq!(
        MetaSnapshot::decode(&snapshot.encode().unwrap()).unwrap(),
        snapshot
    );
    assert!(matches!(
        MetaSnapshot::decode(&[]),
        Err(RaftLogError::UnknownFormat { version: None, .. })
    ));
}
