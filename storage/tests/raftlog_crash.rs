//! Claim: a crash that cuts the WAL anywhere after the last acknowledged write
//! loses no acknowledged entry or vote of any group; writes in flight at the
//! crash survive only as a prefix, in order (never a hole, never a later write
//! without an earlier one of the same group).

mod common;

use common::segments;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use bytes::Bytes;

use spanlite_storage::raftlog::{GroupId, LogEntry, LogId, RaftLogStore};
use spanlite_storage::wal::{Lsn, Wal, WalConfig};

const GROUPS: u64 = 8;
const SEGMENT: u64 = 1024;

fn entry(term: u64, index: u64) -> LogEntry {
    LogEntry {
        log_id: LogId {
            term,
            node: 1,
            index,
        },
        payload: Bytes::from(format!("term {term} index {index}").repeat(3)),
    }
}

fn open(dir: &Path) -> Wal {
    Wal::open(WalConfig {
        dir: dir.to_path_buf(),
        segment_size: SEGMENT,
    })
    .unwrap()
    .0
}

/// A copy of the WAL in `from`, cut at LSN `cut` as a crash would leave it.
fn crashed_copy(from: &Path, cut: Lsn) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (start, path) in segments(from) {
        if start > cut || (start == cut && start != 0) {
            continue;
        }
        let to = dir.path().join(path.file_name().unwrap());
        fs::copy(&path, &to).unwrap();
        let len = fs::metadata(&to).unwrap().len();
        fs::OpenOptions::new()
            .write(true)
            .open(&to)
            .unwrap()
            .set_len(len.min(cut - start))
            .unwrap();
    }
    dir
}

/// What was acknowledged per group.
#[derive(Clone, Debug, Default)]
struct Acked {
    entries: Vec<LogEntry>,
    vote: Option<Bytes>,
}

#[test]
fn every_acknowledged_entry_and_vote_survives_any_cut_after_the_last_ack() {
    let src = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = RaftLogStore::new(open(src.path()), 64);
    let mut acked: BTreeMap<GroupId, Acked> = BTreeMap::new();

    // Acknowledged history: appends, votes, a conflicting suffix replaced.
    for round in 0..12u64 {
        for group in 0..GROUPS {
            let a = acked.entry(group).or_default();
            let next = a.entries.last().map_or(1, |e| e.log_id.index + 1);
            let new: Vec<_> = (next..next + 1 + (round + group) % 3)
                .map(|i| entry(1 + round / 4, i))
                .collect();
            rt.block_on(store.append(group, new.clone()).unwrap())
                .unwrap();
            a.entries.extend(new);
            if round % 4 == group % 4 {
                let vote = Bytes::from(format!("group {group} vote {round}"));
                rt.block_on(store.save_vote(group, vote.clone())).unwrap();
                a.vote = Some(vote);
            }
            if round == 6 && group % 2 == 0 {
                let since = a.entries[a.entries.len() - 2].log_id.index;
                rt.block_on(store.truncate(group, since)).unwrap();
                a.entries.truncate(a.entries.len() - 2);
            }
        }
    }
    let acked_end = store.wal().durable_lsn();

    // In flight at the crash: appends and votes nobody waited for.
    let mut in_flight: BTreeMap<GroupId, (Vec<LogEntry>, Bytes)> = BTreeMap::new();
    let mut pending = Vec::new();
    for group in 0..GROUPS {
        let next = acked[&group]
            .entries
            .last()
            .map_or(1, |e| e.log_id.index + 1);
        let new: Vec<_> = (next..next + 3).map(|i| entry(9, i)).collect();
        let vote = Bytes::from(format!("group {group} in-flight vote"));
        pending.push(store.append(group, new.clone()).unwrap());
        pending.push(store.save_vote(group, vote.clone()));
        in_flight.insert(group, (new, vote));
    }
    drop(pending);
    drop(store); // the writer drains the queue: the log now holds everything
    let full_end = open(src.path()).durable_lsn();
    assert!(full_end > acked_end);

    // Cut at every record boundary after the last ack, and inside records.
    let boundaries: Vec<Lsn> = {
        let wal = open(src.path());
        wal.iter_from(wal.first_lsn())
            .unwrap()
            .map(|r| r.unwrap().0)
            .filter(|l| *l >= acked_end)
            .collect()
    };
    let mut cuts = vec![acked_end, full_end];
    for pair in boundaries.windows(2) {
        cuts.extend([pair[0], pair[0] + 3, (pair[0] + pair[1]) / 2, pair[1] - 1]);
    }
    for cut in cuts {
        let dir = crashed_copy(src.path(), cut);
        let store = RaftLogStore::recover(open(dir.path()), 64, None).unwrap();
        for (&group, a) in &acked {
            let got = store.entries(group, ..).unwrap();
            assert!(
                got.len() >= a.entries.len(),
                "cut {cut}: group {group} lost entries"
            );
            assert_eq!(
                got[..a.entries.len()],
                a.entries[..],
                "cut {cut}: group {group}"
            );
            // Anything past the acknowledged log is a prefix of what was in flight.
            let (extra, vote) = &in_flight[&group];
            assert_eq!(
                got[a.entries.len()..],
                extra[..got.len() - a.entries.len()],
                "cut {cut}: group {group}"
            );
            let got_vote = store.read_vote(group);
            assert!(
                got_vote == a.vote || got_vote.as_ref() == Some(vote),
                "cut {cut}: group {group} vote {got_vote:?}"
            );
            if got_vote.as_ref() == Some(vote) {
                assert_eq!(
                    got.len(),
                    a.entries.len() + extra.len(),
                    "cut {cut}: the vote was queued after the entries"
                );
            }
        }
    }
}
