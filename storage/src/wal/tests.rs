//! Unit tests of the WAL: framing, the torn-tail rule, segments, group
//! commit, failure, shutdown. Crash-cut tests are in `tests/wal_crash.rs`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::Fault;
use super::record::{Parsed, parse};
use super::tail::{TailScan, scan};
use super::*;

fn rec(i: usize) -> Record {
    Record::new(RecordKind::CheckpointBegin, vec![i as u8; i % 50])
}

fn encode(records: &[Record]) -> Vec<u8> {
    let mut buf = Vec::new();
    for r in records {
        r.encode_into(&mut buf).unwrap();
    }
    buf
}

fn must_open(dir: &Path, segment_size: u64) -> (Wal, OpenReport) {
    Wal::open(WalConfig {
        dir: dir.to_path_buf(),
        segment_size,
    })
    .unwrap()
}

fn must_read_all(wal: &Wal) -> Vec<Record> {
    wal.iter_from(wal.first_lsn())
        .unwrap()
        .map(|r| r.unwrap().1)
        .collect()
}

// --- framing -----------------------------------------------------------------

#[test]
fn framing_round_trips_every_kind() {
    for kind in RecordKind::ALL {
        assert_eq!(RecordKind::from_byte(kind as u8), Some(kind));
        let r = Record::new(kind, b"payload".to_vec());
        let buf = encode(std::slice::from_ref(&r));
        assert_eq!(buf.len() as u64, r.framed_len());
        assert_eq!(
            &buf[..4],
            &7u32.to_le_bytes(),
            "len is the payload length, little-endian"
        );
        assert_eq!(buf[8] & 0x7f, kind as u8);
        assert_eq!(parse(&buf), Parsed::Ok(r, buf.len()));
    }
    let empty = Record::new(RecordKind::CheckpointBegin, Vec::new());
    assert_eq!(
        parse(&encode(std::slice::from_ref(&empty))),
        Parsed::Ok(empty, HEADER_LEN)
    );
}

#[test]
fn crc_catches_every_flipped_bit() {
    let r = Record::new(RecordKind::RaftVote, b"hello".to_vec());
    let buf = encode(std::slice::from_ref(&r));
    for bit in 0..buf.len() * 8 {
        let mut bad = buf.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        assert!(
            !matches!(parse(&bad), Parsed::Ok(..)),
            "flipping bit {bit} went unnoticed"
        );
    }
    assert_eq!(parse(&buf[..buf.len() - 1]), Parsed::Short);
    assert_eq!(parse(&buf[..HEADER_LEN - 1]), Parsed::Short);
}

#[test]
fn an_unknown_kind_byte_is_bad_even_with_a_matching_crc() {
    let mut buf = vec![0u8; HEADER_LEN];
    buf[8] = 200;
    let crc = crc32c::crc32c(&[200]);
    buf[4..8].copy_from_slice(&crc.to_le_bytes());
    assert!(
        matches!(parse(&buf), Parsed::Bad(reason) if reason.contains("unknown record kind 200"))
    );
}

// --- torn tail rule ----------------------------------------------------------

#[test]
fn tail_rule_transcript() {
    let good = encode(&[rec(10), rec(20), rec(30)]);
    let second = rec(10).framed_len() as usize;
    let third = second + rec(20).framed_len() as usize;

    // Clean log: no torn tail.
    assert_eq!(
        scan(&good),
        Ok(TailScan {
            valid_len: good.len() as u64,
            torn_bytes: None
        })
    );
    // Cut inside the last record: torn at its start.
    let cut = &good[..good.len() - 3];
    assert_eq!(
        scan(cut),
        Ok(TailScan {
            valid_len: third as u64,
            torn_bytes: Some((cut.len() - third) as u64)
        })
    );
    // Zeros after the last record (written ahead by the writer, or a size
    // that reached the disk before its data): the clean end, nothing cut.
    let mut zeros = good.clone();
    zeros.extend_from_slice(&[0; 64]);
    assert_eq!(
        scan(&zeros),
        Ok(TailScan {
            valid_len: good.len() as u64,
            torn_bytes: None
        })
    );
    assert_eq!(
        scan(&[0; 64]),
        Ok(TailScan {
            valid_len: 0,
            torn_bytes: None
        })
    );
    // Bad CRC in the last record, zeros after it: torn.
    let mut bad_last = good.clone();
    bad_last[third + 10] ^= 1;
    bad_last.extend_from_slice(&[0; 7]);
    assert_eq!(scan(&bad_last).map(|s| s.valid_len), Ok(third as u64));
    // Bad CRC with a valid record after it: corruption at the bad record.
    let mut bad_middle = good.clone();
    bad_middle[second + 10] ^= 1;
    assert!(matches!(scan(&bad_middle), Err((o, reason)) if o == second && reason.contains("CRC")));
    // A flipped length bit makes the record look short, but valid records
    // follow: corruption, never a silent cut.
    let mut long_len = good.clone();
    long_len[second + 2] ^= 0x40;
    assert!(matches!(scan(&long_len), Err((o, _)) if o == second));
    // The same flip in the last record, with nothing after it to give it
    // away: the CRC covers the length, so the record, whole, checks with
    // its real length. Corruption, not a torn tail (before the CRC covered
    // the length, this log lost its last, acknowledged record on open).
    let mut last_len = good.clone();
    last_len[third + 2] ^= 0x40;
    assert!(
        matches!(scan(&last_len), Err((o, ref reason)) if o == third && reason.contains("length field")),
        "{:?}",
        scan(&last_len)
    );
    // Followed by zeros (a preallocated or zero-filled tail): the same.
    let mut last_len_zeros = last_len.clone();
    last_len_zeros.extend_from_slice(&[0; 16]);
    assert!(matches!(scan(&last_len_zeros), Err((o, _)) if o == third));
    // A flip that lengthens the last record by less than the zeros written
    // ahead after it (a CRC mismatch then, not a record running past the
    // end): still corruption, never a cut of an acknowledged record — also
    // when its payload ends in zeros.
    let zeros_ahead = vec![0u8; 1 << 20];
    let mut payload = vec![5u8; 40];
    payload.extend_from_slice(&[0; 20]);
    for last in [rec(30), Record::new(RecordKind::CheckpointBegin, payload)] {
        let mut log = encode(&[rec(10), rec(20), last]);
        let bit = (0..8).find(|b| log[third] & (1 << b) == 0).unwrap();
        log[third] ^= 1 << bit;
        log.extend_from_slice(&zeros_ahead);
        assert!(
            matches!(scan(&log), Err((o, ref reason)) if o == third && reason.contains("length field")),
            "bit {bit}: {:?}",
            scan(&log)
        );
    }
    // A torn last record with the zeros written ahead after it: torn.
    let mut torn_ahead = good[..good.len() - 3].to_vec();
    torn_ahead.extend_from_slice(&zeros_ahead);
    assert_eq!(scan(&torn_ahead).map(|s| s.valid_len), Ok(third as u64));
    // A torn last record stays a torn tail (cut anywhere, zeros or not).
    for cut in third + 1..good.len() {
        assert_eq!(
            scan(&good[..cut]).map(|s| s.valid_len),
            Ok(third as u64),
            "cut at {cut}"
        );
        let mut zeroed = good.clone();
        zeroed[cut..].fill(0);
        assert_eq!(
            scan(&zeroed).map(|s| s.valid_len),
            Ok(third as u64),
            "zeros from {cut}"
        );
    }
}

#[test]
fn the_crc_covers_the_length_and_old_records_still_read() {
    let r = Record::new(RecordKind::RaftVote, b"hello".to_vec());
    let buf = encode(std::slice::from_ref(&r));
    assert_eq!(buf[8], RecordKind::RaftVote as u8 | 0x80, "the flag");
    let mut covered = 5u32.to_le_bytes().to_vec();
    covered.push(buf[8]);
    covered.extend_from_slice(b"hello");
    assert_eq!(&buf[4..8], &crc32c::crc32c(&covered).to_le_bytes());
    // A record written before (kind byte without the flag, CRC over kind
    // and payload) parses as it always did.
    let mut old = 5u32.to_le_bytes().to_vec();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&[RecordKind::RaftVote as u8]), b"hello");
    old.extend_from_slice(&crc.to_le_bytes());
    old.push(RecordKind::RaftVote as u8);
    old.extend_from_slice(b"hello");
    assert_eq!(parse(&old), Parsed::Ok(r, old.len()));
}

// --- appends, segments, reads ------------------------------------------------

#[test]
fn appends_span_many_segments_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, report) = must_open(dir.path(), 256);
    assert_eq!(
        report,
        OpenReport {
            end_lsn: 0,
            torn_tail: None,
            segments: 1
        }
    );
    let mut lsns = Vec::new();
    for i in 0..200 {
        let ack = wal.append_blocking(vec![rec(i)]).unwrap();
        assert_eq!(ack.end, ack.lsns[0] + rec(i).framed_len());
        lsns.extend(ack.lsns);
    }
    assert_eq!(wal.durable_lsn(), lsns[199] + rec(199).framed_len());
    let segments = super::segment::list(dir.path()).unwrap();
    assert!(
        segments.len() > 10,
        "expected many segments, got {}",
        segments.len()
    );
    for pair in segments.windows(2) {
        assert!(
            pair[1].0 - pair[0].0 <= 256,
            "segments respect the size limit"
        );
    }
    let read: Vec<_> = wal.iter_from(0).unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(read.len(), 200);
    for (i, (lsn, r)) in read.iter().enumerate() {
        assert_eq!((*lsn, r), (lsns[i], &rec(i)));
        assert_eq!(wal.read_at(*lsn).unwrap(), rec(i));
    }
    assert_eq!(wal.iter_from(lsns[150]).unwrap().count(), 50);
    assert_eq!(wal.iter_from(wal.durable_lsn()).unwrap().count(), 0);
    drop(wal);
    let (wal, report) = must_open(dir.path(), 256);
    assert_eq!(report.torn_tail, None);
    assert_eq!(report.segments, segments.len());
    assert_eq!(must_read_all(&wal), (0..200).map(rec).collect::<Vec<_>>());
}

#[test]
fn the_active_segment_is_zero_filled_ahead_and_sealed_ones_end_at_their_records() {
    use super::segment::PREALLOCATE;
    let dir = tempfile::tempdir().unwrap();
    // A segment larger than a preallocation chunk: the file runs a chunk
    // past the records, in zeros.
    let (wal, _) = must_open(dir.path(), 4 * PREALLOCATE);
    for i in 0..10 {
        wal.append_blocking(vec![rec(i)]).unwrap();
    }
    let end = wal.durable_lsn();
    let path = super::segment::segment_path(dir.path(), 0);
    let bytes = std::fs::read(&path).unwrap();
    let len = bytes.len() as u64;
    assert!(
        (end + PREALLOCATE / 2..=end + PREALLOCATE).contains(&len),
        "{len} bytes for records up to {end}"
    );
    assert!(bytes[end as usize..].iter().all(|&b| b == 0));
    // A record crossing the last half chunk moves the zeros ahead again.
    let big = Record::new(RecordKind::RaftEntries, vec![7; PREALLOCATE as usize]);
    let ack = wal.append_blocking(vec![big.clone()]).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        ack.end + PREALLOCATE
    );
    drop(wal);
    // Reopened: the zeros are the clean end, kept for the writer.
    let (wal, report) = must_open(dir.path(), 4 * PREALLOCATE);
    assert_eq!((report.end_lsn, report.torn_tail), (ack.end, None));
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        ack.end + PREALLOCATE
    );
    let more = wal.append_blocking(vec![rec(99)]).unwrap();
    assert_eq!(more.lsns[0], ack.end);
    assert_eq!(wal.read_at(ack.lsns[0]).unwrap(), big);
    assert_eq!(wal.read_at(more.lsns[0]).unwrap(), rec(99));
    drop(wal);

    // Small segments: the zeros stop at the segment size, and a sealed
    // segment is cut back to its records (the chain has no gap).
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = must_open(dir.path(), 256);
    for i in 0..100 {
        wal.append_blocking(vec![rec(i)]).unwrap();
    }
    let segments = super::segment::list(dir.path()).unwrap();
    assert!(segments.len() > 5);
    for pair in segments.windows(2) {
        assert_eq!(
            std::fs::metadata(&pair[0].1).unwrap().len(),
            pair[1].0 - pair[0].0,
            "{}",
            pair[0].1.display()
        );
    }
    let (last_start, last) = segments.last().unwrap();
    assert_eq!(std::fs::metadata(last).unwrap().len(), 256);
    assert!(wal.durable_lsn() - last_start < 256);
    drop(wal);
    let (wal, report) = must_open(dir.path(), 256);
    assert_eq!(report.torn_tail, None);
    assert_eq!(must_read_all(&wal), (0..100).map(rec).collect::<Vec<_>>());
}

#[test]
fn one_append_call_is_contiguous_and_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = must_open(dir.path(), 128);
    let records: Vec<_> = (0..20).map(rec).collect();
    let ack = wal.append_blocking(records.clone()).unwrap();
    let mut expect = ack.lsns[0];
    for (lsn, r) in ack.lsns.iter().zip(&records) {
        assert_eq!(*lsn, expect);
        expect += r.framed_len();
    }
    assert_eq!(ack.end, expect);
    assert_eq!(must_read_all(&wal), records);
}

#[test]
fn an_oversized_record_gets_a_segment_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = must_open(dir.path(), 64);
    let big = Record::new(RecordKind::CheckpointBegin, vec![9u8; 500]);
    let ack = wal
        .append_blocking(vec![rec(1), big.clone(), rec(2)])
        .unwrap();
    let starts: Vec<u64> = super::segment::list(dir.path())
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(starts, vec![0, ack.lsns[1], ack.lsns[2]]);
    assert_eq!(must_read_all(&wal), vec![rec(1), big.clone(), rec(2)]);
    assert_eq!(wal.read_at(ack.lsns[1]).unwrap(), big);
}

#[test]
fn retention_deletes_whole_old_segments_only() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = must_open(dir.path(), 128);
    let mut lsns = Vec::new();
    for i in 0..60 {
        lsns.extend(wal.append_blocking(vec![rec(i)]).unwrap().lsns);
    }
    let keep = lsns[40];
    let before = super::segment::list(dir.path()).unwrap().len();
    let removed = wal.remove_segments_below(keep).unwrap();
    assert!(removed > 0);
    assert_eq!(
        super::segment::list(dir.path()).unwrap().len(),
        before - removed
    );
    assert!(wal.first_lsn() <= keep, "the segment holding `keep` stays");
    assert!(
        matches!(wal.read_at(0), Err(WalError::Truncated { lsn: 0, first }) if first == wal.first_lsn())
    );
    assert!(matches!(wal.iter_from(0), Err(WalError::Truncated { .. })));
    let from_keep: Vec<_> = wal.iter_from(keep).unwrap().map(|r| r.unwrap().1).collect();
    assert_eq!(from_keep, (40..60).map(rec).collect::<Vec<_>>());
    // Never the active segment, whatever the LSN.
    wal.remove_segments_below(u64::MAX).unwrap();
    assert_eq!(super::segment::list(dir.path()).unwrap().len(), 1);
    drop(wal);
    let (wal, _) = must_open(dir.path(), 128);
    assert_eq!(must_read_all(&wal).last(), Some(&rec(59)));
}

#[test]
fn bad_lsns_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = must_open(dir.path(), DEFAULT_SEGMENT_SIZE);
    let ack = wal.append_blocking(vec![rec(10), rec(11)]).unwrap();
    assert!(matches!(
        wal.read_at(ack.end),
        Err(WalError::NotDurable { .. })
    ));
    assert!(matches!(
        wal.iter_from(ack.end + 1),
        Err(WalError::NotDurable { .. })
    ));
    // Not a record boundary: the CRC (or the length bound) catches it.
    let err = wal.read_at(ack.lsns[0] + 1).unwrap_err();
    assert!(
        matches!(err, WalError::Corruption { offset: 1, .. }),
        "{err:?}"
    );
    let err = wal
        .iter_from(ack.lsns[0] + 3)
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err, WalError::Corruption { offset: 3, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable() && err.must_restart());
}

#[test]
fn a_second_open_of_the_same_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = must_open(dir.path(), DEFAULT_SEGMENT_SIZE);
    assert!(matches!(
        Wal::open(WalConfig::new(dir.path())),
        Err(WalError::Locked { .. })
    ));
    drop(wal);
    must_open(dir.path(), DEFAULT_SEGMENT_SIZE);
}

#[test]
fn a_too_large_payload_is_refused_without_failing_the_wal() {
    // Only the length check runs: the payload is a cheap slice of zeros.
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = must_open(dir.path(), DEFAULT_SEGMENT_SIZE);
    let len = u32::MAX as usize + 1;
    let huge = Record::new(
        RecordKind::CheckpointBegin,
        bytes::Bytes::from(vec![0u8; len]),
    );
    assert!(
        matches!(wal.append_blocking(vec![huge]), Err(WalError::RecordTooLarge { len: l }) if l == len)
    );
    assert!(!wal.is_failed());
    wal.append_blocking(vec![rec(1)]).unwrap();
}

// --- group commit ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appenders_get_ordered_lsns_and_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = must_open(dir.path(), DEFAULT_SEGMENT_SIZE);
    let mut tasks = Vec::new();
    for t in 0..32 {
        let wal = wal.clone();
        tasks.push(tokio::spawn(async move {
            let mut lsns = Vec::new();
            for i in 0..20 {
                let ack = wal
                    .append(vec![rec(t * 100 + i), rec(t * 100 + i + 1)])
                    .await
                    .unwrap();
                assert_eq!(ack.lsns.len(), 2);
                assert!(ack.lsns[0] < ack.lsns[1] && ack.lsns[1] < ack.end);
                assert!(wal.durable_lsn() >= ack.end, "acknowledged means durable");
                lsns.push(ack.lsns[0]);
            }
            lsns
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let lsns = t.await.unwrap();
        assert!(
            lsns.windows(2).all(|w| w[0] < w[1]),
            "one task's appends are ordered"
        );
        all.extend(lsns);
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 640, "LSNs are distinct");
    let stats = wal.stats();
    assert_eq!((stats.appends, stats.records), (640, 1280));
    assert!(
        stats.fsyncs < stats.appends,
        "group commit should share fsyncs: {stats:?}"
    );
    assert_eq!(
        stats.fsyncs, stats.groups,
        "one fsync per group without segment rolls"
    );
}

#[test]
fn an_append_with_callback_runs_after_durability() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = must_open(dir.path(), DEFAULT_SEGMENT_SIZE);
    let (tx, rx) = std::sync::mpsc::channel();
    let probe = wal.clone();
    wal.append_with(vec![rec(3)], move |ack| {
        let ack = ack.unwrap();
        tx.send((ack.end, probe.durable_lsn())).unwrap();
    })
    .unwrap();
    let (end, durable) = rx.recv().unwrap();
    assert!(durable >= end);
    // Lazy appends become durable with the next group.
    wal.append_lazy(vec![rec(4)]).unwrap();
    wal.append_blocking(vec![]).unwrap();
    assert_eq!(must_read_all(&wal), vec![rec(3), rec(4)]);
}

#[test]
fn lazy_appends_alone_cost_no_fsync_and_the_next_barrier_syncs_them() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = must_open(dir.path(), DEFAULT_SEGMENT_SIZE);
    let ack = wal.append_blocking(vec![rec(1)]).unwrap();
    let fsyncs = wal.stats().fsyncs;
    for i in 2..=20 {
        wal.append_lazy(vec![rec(i)]).unwrap();
    }
    // Wait until the writer has taken them all (written, not synced).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while wal.stats().records < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "lazy appends not written"
        );
        std::thread::yield_now();
    }
    assert_eq!(wal.stats().fsyncs, fsyncs, "lazy appends alone were synced");
    assert_eq!(
        wal.durable_lsn(),
        ack.end,
        "the durable end moved without an fsync"
    );
    // An empty barrier now syncs them: its end covers every lazy record.
    let barrier = wal.append_blocking(vec![]).unwrap();
    assert_eq!(wal.stats().fsyncs, fsyncs + 1);
    assert!(barrier.end > ack.end && wal.durable_lsn() == barrier.end);
    assert_eq!(must_read_all(&wal), (1..=20).map(rec).collect::<Vec<_>>());
}

#[test]
fn lazy_appends_wait_for_the_next_append_and_go_ahead_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = must_open(dir.path(), DEFAULT_SEGMENT_SIZE);
    // Hold the writer inside a group (its callback blocks).
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (entered, in_callback) = std::sync::mpsc::channel::<()>();
    wal.append_with(vec![], move |_| {
        entered.send(()).unwrap();
        let _ = released.recv();
    })
    .unwrap();
    in_callback.recv().unwrap();
    let before = wal.stats();
    for i in 1..=5 {
        wal.append_lazy(vec![rec(i)]).unwrap();
    }
    let waited = wal.append(vec![rec(6)]);
    release.send(()).unwrap();
    let ack = futures_lite_block_on(waited).unwrap();
    let after = wal.stats();
    // One request for the five lazy appends, queued ahead of the waited
    // one, and one group for both: the lazy ones cost no wake-up or write
    // of their own (before, each was a request the writer woke up for).
    assert_eq!(
        (
            after.appends - before.appends,
            after.records - before.records
        ),
        (2, 6)
    );
    assert_eq!(after.groups - before.groups, 1);
    let all = must_read_all(&wal);
    assert_eq!(all, (1..=6).map(rec).collect::<Vec<_>>());
    assert_eq!(wal.durable_lsn(), ack.end);
    // Lazy records with nothing after them are written at close.
    wal.append_lazy(vec![rec(7)]).unwrap();
    wal.close();
    let (wal, report) = must_open(dir.path(), DEFAULT_SEGMENT_SIZE);
    assert_eq!(report.torn_tail, None);
    assert_eq!(must_read_all(&wal), (1..=7).map(rec).collect::<Vec<_>>());
}

#[test]
fn an_empty_append_is_a_barrier() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = must_open(dir.path(), DEFAULT_SEGMENT_SIZE);
    let ack = wal.append_blocking(vec![rec(1)]).unwrap();
    let fsyncs = wal.stats().fsyncs;
    let empty = wal.append_blocking(vec![]).unwrap();
    assert_eq!(
        empty,
        AppendAck {
            lsns: vec![],
            end: ack.end
        }
    );
    assert_eq!(wal.stats().fsyncs, fsyncs, "nothing new to sync");
}

// --- failure and shutdown ----------------------------------------------------

#[test]
fn a_failed_fsync_fails_the_wal_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = must_open(dir.path(), DEFAULT_SEGMENT_SIZE);
    wal.append_blocking(vec![rec(1)]).unwrap();
    let durable = wal.durable_lsn();
    wal.inject_fault(Fault::Sync);
    let err = wal.append_blocking(vec![rec(2)]).unwrap_err();
    assert!(
        matches!(err, WalError::Failed { .. }) && err.must_restart(),
        "{err:?}"
    );
    assert_eq!(wal.durable_lsn(), durable, "a failed group is not durable");
    // Everything after is refused, although the next fsync would work.
    assert!(wal.is_failed());
    assert!(matches!(
        wal.append_blocking(vec![rec(3)]),
        Err(WalError::Failed { .. })
    ));
    assert!(matches!(
        futures_lite_block_on(wal.append(vec![rec(3)])),
        Err(WalError::Failed { .. })
    ));
    drop(wal);
    // On restart the log holds the acknowledged record, and possibly the
    // unacknowledged one whose bytes reached the page cache.
    let (wal, _) = must_open(dir.path(), DEFAULT_SEGMENT_SIZE);
    let read = must_read_all(&wal);
    assert_eq!(read[0], rec(1));
    assert!(read.len() <= 2);
    wal.append_blocking(vec![rec(4)]).unwrap();
}

#[test]
fn a_failed_write_fails_every_waiter_of_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = must_open(dir.path(), DEFAULT_SEGMENT_SIZE);
    wal.inject_fault(Fault::Write);
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let wal = &wal;
                s.spawn(move || wal.append_blocking(vec![rec(i)]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(WalError::Failed { .. }))),
        "{results:?}"
    );
    assert_eq!(wal.durable_lsn(), 0);
}

#[test]
fn close_drains_the_queue_then_refuses_appends() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = must_open(dir.path(), DEFAULT_SEGMENT_SIZE);
    let queued: Vec<_> = (0..50).map(|i| wal.append(vec![rec(i)])).collect();
    let clone = wal.clone();
    wal.close();
    for f in queued {
        futures_lite_block_on(f).unwrap();
    }
    assert!(matches!(
        clone.append_blocking(vec![rec(1)]),
        Err(WalError::Closed)
    ));
    assert!(matches!(
        futures_lite_block_on(clone.append(vec![rec(1)])),
        Err(WalError::Closed)
    ));
    assert!(matches!(
        clone.append_with(vec![rec(1)], |_| {}),
        Err(WalError::Closed)
    ));
    assert_eq!(
        must_read_all(&clone).len(),
        50,
        "reads still work after close"
    );
}

#[test]
fn dropping_the_last_handle_inside_a_callback_does_not_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = must_open(dir.path(), DEFAULT_SEGMENT_SIZE);
    let ran = Arc::new(AtomicBool::new(false));
    let (inner, flag) = (wal.clone(), ran.clone());
    wal.append_with(vec![rec(1)], move |_| {
        drop(inner);
        flag.store(true, Ordering::SeqCst);
    })
    .unwrap();
    drop(wal);
    // The writer thread exits on its own; the directory lock goes with it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Wal::open(WalConfig::new(dir.path())) {
            Ok((wal, _)) => {
                assert_eq!(must_read_all(&wal), vec![rec(1)]);
                break;
            }
            Err(WalError::Locked { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("reopen failed: {e}"),
        }
    }
    assert!(ran.load(Ordering::SeqCst));
}

#[test]
fn append_blocking_works_outside_any_runtime_and_futures_work_inside_one() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = must_open(dir.path(), DEFAULT_SEGMENT_SIZE);
    wal.append_blocking(vec![rec(1)]).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let fut = wal.append(vec![rec(2)]);
    let handle = rt.spawn(fut);
    let ack = rt.block_on(handle).unwrap().unwrap();
    assert_eq!(wal.read_at(ack.lsns[0]).unwrap(), rec(2));
}

/// Polls a future to completion on the current thread (no runtime needed for
/// the WAL's futures: they are woken by the writer thread).
fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}
