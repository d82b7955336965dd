//! Claim: the Raft log store keeps every group's log, vote, committed id and
//! purge point exactly like a simple in-memory model (a map per group), for
//! many groups interleaved in one WAL, with a tiny payload cache (reads go
//! to the WAL), across checkpoints that delete old segments, and across
//! reopen + replay at any point.

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use proptest::prelude::*;

use spanlite_storage::raftlog::{GroupId, LogEntry, LogId, LogState, MetaSnapshot, RaftLogStore};
use spanlite_storage::wal::{Record, RecordKind, Wal, WalConfig};

const GROUPS: u64 = 20;
/// Tiny: most reads go back to the WAL.
const CACHE: usize = 48;

fn entry(term: u64, index: u64, salt: u8) -> LogEntry {
    let payload = format!("t{term}i{index}s{salt}")
        .into_bytes()
        .repeat(1 + usize::from(salt % 4));
    LogEntry {
        log_id: LogId {
            term,
            node: 1 + term % 3,
            index,
        },
        payload: Bytes::from(payload),
    }
}

fn open_wal(dir: &Path) -> Wal {
    Wal::open(WalConfig {
        dir: dir.to_path_buf(),
        segment_size: 2048,
    })
    .unwrap()
    .0
}

/// Reopens as recovery does: one scan that replays every record and keeps
/// the last checkpoint's snapshot, loaded at the end.
fn reopen(dir: &Path) -> RaftLogStore {
    let wal = open_wal(dir);
    let store = RaftLogStore::new(wal.clone(), CACHE);
    let mut snapshot = None;
    for item in wal.iter_from(wal.first_lsn()).unwrap() {
        let (lsn, record) = item.unwrap();
        if record.kind == RecordKind::CheckpointEnd {
            snapshot = Some(MetaSnapshot::decode(&record.payload).unwrap());
        }
        store.apply_replayed(lsn, &record).unwrap();
    }
    if let Some(snapshot) = snapshot {
        store.load_meta_snapshot(&snapshot);
    }
    store.finish_replay().unwrap();
    store
}

/// A checkpoint as recovery takes it: snapshot, durable end record, then
/// delete what nobody needs. Returns segments deleted.
fn checkpoint(store: &RaftLogStore) -> usize {
    let snapshot = store.meta_snapshot();
    let wal = store.wal();
    let end = wal
        .append_blocking(vec![Record::new(
            RecordKind::CheckpointEnd,
            snapshot.encode().unwrap(),
        )])
        .unwrap();
    let keep = store
        .min_lsn_needed()
        .map_or(end.lsns[0], |l| l.min(end.lsns[0]));
    wal.remove_segments_below(keep).unwrap()
}

#[derive(Clone, Debug)]
enum Op {
    Append {
        group: GroupId,
        n: u64,
        new_term: bool,
        salt: u8,
    },
    Truncate {
        group: GroupId,
        back: u64,
    },
    Purge {
        group: GroupId,
        ahead: u64,
        to_end: bool,
    },
    Vote {
        group: GroupId,
        vote: u8,
    },
    Committed {
        group: GroupId,
    },
    Remove {
        group: GroupId,
    },
    /// Every group purges up to its last entry (all tablets snapshotted).
    PurgeAll,
    Checkpoint,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let group = 0..GROUPS;
    prop_oneof![
        10 => (group.clone(), 1u64..5, any::<bool>(), any::<u8>())
            .prop_map(|(group, n, new_term, salt)| Op::Append { group, n, new_term, salt }),
        2 => (group.clone(), 0u64..6).prop_map(|(group, back)| Op::Truncate { group, back }),
        3 => (group.clone(), 0u64..8, any::<bool>()).prop_map(|(group, ahead, to_end)| Op::Purge { group, ahead, to_end }),
        2 => (group.clone(), any::<u8>()).prop_map(|(group, vote)| Op::Vote { group, vote }),
        1 => group.clone().prop_map(|group| Op::Committed { group }),
        1 => group.prop_map(|group| Op::Remove { group }),
        1 => Just(Op::PurgeAll),
        2 => Just(Op::Checkpoint),
        1 => Just(Op::Reopen),
    ]
}

/// The model of one group.
#[derive(Clone, Debug, Default)]
struct ModelGroup {
    entries: BTreeMap<u64, LogEntry>,
    purged: Option<LogId>,
    vote: Option<Bytes>,
    committed: Option<LogId>,
    term: u64,
}

impl ModelGroup {
    fn last(&self) -> Option<LogId> {
        self.entries
            .values()
            .next_back()
            .map(|e| e.log_id)
            .or(self.purged)
    }

    fn next_index(&self) -> u64 {
        self.last().map_or(1, |l| l.index + 1)
    }
}

/// Applies `op` to the store and the model.
fn step(
    rt: &tokio::runtime::Runtime,
    store: &RaftLogStore,
    model: &mut BTreeMap<GroupId, ModelGroup>,
    op: Op,
) {
    match op {
        Op::Append {
            group,
            n,
            new_term,
            salt,
        } => {
            let m = model.entry(group).or_default();
            m.term += u64::from(new_term || m.term == 0);
            let next = m.next_index();
            let new: Vec<_> = (next..next + n).map(|i| entry(m.term, i, salt)).collect();
            m.entries
                .extend(new.iter().map(|e| (e.log_id.index, e.clone())));
            rt.block_on(store.append(group, new).unwrap()).unwrap();
        }
        Op::Truncate { group, back } => {
            // openraft truncates a conflicting suffix, never purged entries.
            let Some(m) = model.get_mut(&group) else {
                return;
            };
            let since = m
                .next_index()
                .saturating_sub(back)
                .max(m.purged.map_or(0, |p| p.index + 1));
            m.entries.split_off(&since);
            rt.block_on(store.truncate(group, since)).unwrap();
        }
        Op::Purge {
            group,
            ahead,
            to_end,
        } => {
            // Up to an entry it has, or past the end (a snapshot install).
            let m = model.entry(group).or_default();
            let first = m.entries.keys().next().copied().unwrap_or(m.next_index());
            let index = if to_end {
                m.next_index() - 1 + ahead % 3
            } else {
                first + ahead
            };
            let upto = m.entries.get(&index).map_or(
                LogId {
                    term: m.term,
                    node: 9,
                    index,
                },
                |e| e.log_id,
            );
            if m.purged.is_some_and(|p| p.index >= index) {
                return;
            }
            m.entries = m.entries.split_off(&(index + 1));
            m.purged = Some(upto);
            rt.block_on(store.purge(group, upto)).unwrap();
        }
        Op::Vote { group, vote } => {
            let vote = Bytes::from(vec![vote; 3]);
            model.entry(group).or_default().vote = Some(vote.clone());
            rt.block_on(store.save_vote(group, vote)).unwrap();
        }
        Op::Committed { group } => {
            let m = model.entry(group).or_default();
            m.committed = m.last();
            store.save_committed(group, m.committed).unwrap();
        }
        Op::Remove { group } => {
            model.remove(&group);
            rt.block_on(store.remove_group(group)).unwrap();
        }
        Op::PurgeAll => {
            for (&group, m) in model.iter_mut() {
                let Some(last) = m.entries.values().next_back().map(|e| e.log_id) else {
                    continue;
                };
                m.entries.clear();
                m.purged = Some(last);
                rt.block_on(store.purge(group, last)).unwrap();
            }
        }
        Op::Checkpoint => {
            checkpoint(store);
        }
        // The caller reopens: it owns the store.
        Op::Reopen => {}
    }
}

fn check(store: &RaftLogStore, model: &BTreeMap<GroupId, ModelGroup>) -> Result<(), TestCaseError> {
    prop_assert_eq!(store.groups(), model.keys().copied().collect::<Vec<_>>());
    let needed = store.min_lsn_needed();
    for (&g, m) in model {
        let all: Vec<LogEntry> = m.entries.values().cloned().collect();
        prop_assert_eq!(store.entries(g, ..).unwrap(), all.clone(), "group {}", g);
        if let (Some(first), Some(last)) = (m.entries.keys().next(), m.entries.keys().next_back()) {
            let (lo, hi) = (first + (last - first) / 3, last - (last - first) / 3);
            let want: Vec<_> = m.entries.range(lo..hi).map(|(_, e)| e.clone()).collect();
            prop_assert_eq!(
                store.entries(g, lo..hi).unwrap(),
                want,
                "group {} range {}..{}",
                g,
                lo,
                hi
            );
            if let Some(lsn) = store.lsn_of(g, *first) {
                prop_assert!(
                    needed.is_some_and(|n| n <= lsn),
                    "retention would drop a live entry"
                );
            }
        }
        prop_assert_eq!(
            store.log_state(g),
            LogState {
                last_purged: m.purged,
                last: m.last()
            },
            "group {}",
            g
        );
        prop_assert_eq!(store.read_vote(g), m.vote.clone(), "group {}", g);
        prop_assert_eq!(store.read_committed(g), m.committed, "group {}", g);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn many_groups_match_the_model_across_checkpoints_and_reopens(ops in prop::collection::vec(op(), 1..120)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut store = reopen(dir.path());
        let mut model: BTreeMap<GroupId, ModelGroup> = BTreeMap::new();
        for op in ops {
            if let Op::Reopen = op {
                // Dropping the store drops the WAL: queued lazy records are
                // written first, so committed ids survive a clean restart.
                drop(store);
                store = reopen(dir.path());
            }
            step(&rt, &store, &mut model, op);
            check(&store, &model)?;
        }
        drop(store);
        check(&reopen(dir.path()), &model)?;
    }
}

/// Claim: groups written concurrently from many tasks (so their appends share
/// group commits) each end up exactly as written, before and after a reopen,
/// and share fsyncs.
#[test]
fn concurrent_groups_share_group_commits_and_replay_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let store = reopen(dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let models: Vec<(GroupId, ModelGroup)> = rt.block_on(async {
        let tasks: Vec<_> = (0..GROUPS)
            .map(|group| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut m = ModelGroup {
                        term: 1,
                        ..ModelGroup::default()
                    };
                    for round in 0..30u64 {
                        let next = m.next_index();
                        let new: Vec<_> = (next..next + 1 + round % 3)
                            .map(|i| entry(m.term, i, group as u8))
                            .collect();
                        m.entries
                            .extend(new.iter().map(|e| (e.log_id.index, e.clone())));
                        store.append(group, new).unwrap().await.unwrap();
                        match round % 10 {
                            3 => {
                                m.term += 1;
                                let vote = Bytes::from(format!("g{group} term {}", m.term));
                                m.vote = Some(vote.clone());
                                store.save_vote(group, vote).await.unwrap();
                            }
                            6 => {
                                let since = m.next_index() - 2;
                                m.entries.split_off(&since);
                                store.truncate(group, since).await.unwrap();
                            }
                            9 => {
                                let upto = m.entries.values().nth(3).unwrap().log_id;
                                m.entries = m.entries.split_off(&(upto.index + 1));
                                m.purged = Some(upto);
                                store.purge(group, upto).await.unwrap();
                            }
                            _ => {}
                        }
                    }
                    (group, m)
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    let model: BTreeMap<GroupId, ModelGroup> = models.into_iter().collect();
    check(&store, &model).unwrap();
    let stats = store.wal().stats();
    assert!(
        stats.fsyncs < stats.appends,
        "groups share fsyncs: {stats:?}"
    );
    checkpoint(&store);
    drop(store);
    check(&reopen(dir.path()), &model).unwrap();
}
