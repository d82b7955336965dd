//! Claim: after a crash that cuts the log anywhere, the WAL recovers exactly
//! the records that lie wholly before the cut — every acknowledged record the
//! cut spares, nothing half-written — reports a torn tail when the cut falls
//! inside a record, and takes new appends after it. Damage before the tail is
//! an error naming the segment and offset, never a silent truncation.

mod common;

use common::segments;
use std::fs;
use std::path::Path;

use spanlite_storage::wal::{
    Lsn, OpenReport, Record, RecordKind, TornTail, Wal, WalConfig, WalError,
};

const SEGMENT: u64 = 512;

fn record(i: usize) -> Record {
    // Sizes from 0 to ~300 bytes, so records straddle segment limits.
    Record::new(
        RecordKind::RaftEntries,
        vec![(i % 251) as u8; (i * 37) % 300],
    )
}

fn open(dir: &Path) -> Result<(Wal, OpenReport), WalError> {
    Wal::open(WalConfig {
        dir: dir.to_path_buf(),
        segment_size: SEGMENT,
    })
}

/// Writes `n` acknowledged records; returns `(lsn, end)` of each.
fn write_log(dir: &Path, n: usize) -> Vec<(Lsn, Lsn)> {
    let (wal, _) = open(dir).unwrap();
    (0..n)
        .map(|i| {
            let ack = wal.append_blocking(vec![record(i)]).unwrap();
            (ack.lsns[0], ack.end)
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    for (_, p) in segments(from) {
        fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

/// Simulates a crash that persisted the log only up to LSN `cut`: the segment
/// holding `cut` is cut there and later segments are gone.
fn cut_at(dir: &Path, cut: Lsn) {
    let segs = segments(dir);
    let (start, path) = segs.iter().rev().find(|(s, _)| *s <= cut).unwrap().clone();
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(cut - start)
        .unwrap();
    for (s, p) in segs {
        if s > start {
            fs::remove_file(p).unwrap();
        }
    }
}

fn recovered(dir: &Path) -> (Vec<(Lsn, Record)>, Option<TornTail>) {
    let (wal, report) = open(dir).unwrap();
    let records: Vec<_> = wal
        .iter_from(wal.first_lsn())
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(report.end_lsn, wal.durable_lsn());
    (records, report.torn_tail)
}

/// Whether what a cut at `cut` leaves of the record it falls in is zeros.
fn survives_as_zeros(dir: &Path, acked: &[(Lsn, Lsn)], cut: Lsn) -> bool {
    let Some(&(start, _)) = acked.iter().find(|(l, e)| *l < cut && cut < *e) else {
        return false;
    };
    let (seg_start, path) = segments(dir).pop().unwrap();
    let bytes = fs::read(path).unwrap();
    bytes[(start - seg_start) as usize..(cut - seg_start) as usize]
        .iter()
        .all(|&b| b == 0)
}

/// A small deterministic generator for cut offsets.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn a_cut_at_every_record_boundary_and_inside_records_recovers_the_prefix() {
    let src = tempfile::tempdir().unwrap();
    let acked = write_log(src.path(), 80);
    assert!(
        segments(src.path()).len() > 5,
        "the test needs many segments"
    );
    let (last_lsn, log_end) = *acked.last().unwrap();

    // (cut, falls inside a record)
    let mut cuts: Vec<(Lsn, bool)> = vec![(0, false)];
    for &(lsn, end) in &acked {
        cuts.push((end, false));
        // Inside every record: in the header, at its end, mid-payload, one short.
        for off in [1, 5, 9, (end - lsn) / 2, end - lsn - 1] {
            if off > 0 && lsn + off < end {
                cuts.push((lsn + off, true));
            }
        }
    }
    // And several random offsets inside the last record.
    let mut rng = 0x2545_f491_4f6c_dd1d;
    for _ in 0..16 {
        cuts.push((
            last_lsn + 1 + xorshift(&mut rng) % (log_end - last_lsn - 1),
            true,
        ));
    }

    for (cut, inside) in cuts {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(src.path(), dir.path());
        cut_at(dir.path(), cut);
        let (records, torn) = recovered(dir.path());
        let expect: Vec<(Lsn, Record)> = acked
            .iter()
            .enumerate()
            .take_while(|(_, (_, end))| *end <= cut)
            .map(|(i, (lsn, _))| (*lsn, record(i)))
            .collect();
        assert_eq!(records, expect, "cut at LSN {cut}");
        match torn {
            Some(t) => {
                assert!(
                    inside,
                    "cut at LSN {cut} is a record boundary, yet torn tail {t:?}"
                );
                let start = acked.iter().find(|(l, e)| *l < cut && cut < *e).unwrap().0;
                let seg_start = segments(dir.path()).last().unwrap().0;
                assert_eq!(
                    (t.offset, t.bytes_dropped),
                    (start - seg_start, cut - start),
                    "cut at LSN {cut}"
                );
            }
            // A cut that leaves only zeros of the record (its first length
            // byte, say) looks like the zeros written ahead of the log:
            // the log's clean end, as nothing of the record survives.
            None => assert!(
                !inside || survives_as_zeros(dir.path(), &acked, cut),
                "cut at LSN {cut} inside a record: no torn tail reported"
            ),
        }
        // The recovered log takes new appends right after the cut.
        let (wal, report) = open(dir.path()).unwrap();
        assert_eq!(report.torn_tail, None, "the torn tail was cut for good");
        let ack = wal.append_blocking(vec![record(1000)]).unwrap();
        assert_eq!(
            ack.lsns[0],
            expect.last().map_or(0, |(l, r)| l + r.framed_len())
        );
        let last = wal
            .iter_from(wal.first_lsn())
            .unwrap()
            .last()
            .unwrap()
            .unwrap();
        assert_eq!(last, (ack.lsns[0], record(1000)));
    }
}

#[test]
fn zeros_after_the_last_record_are_its_clean_end() {
    let dir = tempfile::tempdir().unwrap();
    let acked = write_log(dir.path(), 10);
    let (_, path) = segments(dir.path()).pop().unwrap();
    let mut bytes = fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0u8; 100]);
    fs::write(&path, bytes).unwrap();
    let (records, torn) = recovered(dir.path());
    assert_eq!(records.len(), acked.len());
    assert_eq!(torn, None);
    // Appends after the reopen overwrite the zeros and read back in order.
    let (wal, report) = open(dir.path()).unwrap();
    assert_eq!(report.end_lsn, acked[9].1);
    for i in 10..20 {
        wal.append_blocking(vec![record(i)]).unwrap();
    }
    drop(wal);
    let (records, torn) = recovered(dir.path());
    assert_eq!(torn, None);
    assert_eq!(
        records.into_iter().map(|(_, r)| r).collect::<Vec<_>>(),
        (0..20).map(record).collect::<Vec<_>>()
    );
}

#[test]
fn a_damaged_record_in_a_non_last_segment_is_corruption_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let acked = write_log(dir.path(), 80);
    let segs = segments(dir.path());
    // A non-last segment with a record in its middle (one before, one after).
    let (seg_start, seg_path, in_seg) = segs
        .windows(2)
        .map(|w| {
            let in_seg: Vec<_> = acked
                .iter()
                .filter(|(l, _)| *l >= w[0].0 && *l < w[1].0)
                .collect();
            (w[0].0, w[0].1.clone(), in_seg)
        })
        .find(|(_, _, in_seg)| in_seg.len() >= 3)
        .expect("the test needs a segment of three records");
    let lsn = in_seg[1].0;
    let offset = lsn - seg_start;
    let mut bytes = fs::read(&seg_path).unwrap();
    bytes[offset as usize + 4] ^= 0xff; // the CRC
    fs::write(&seg_path, bytes).unwrap();

    // Open validates only the last segment; the scan finds the damage.
    let (wal, _) = open(dir.path()).unwrap();
    let mut iter = wal.iter_from(wal.first_lsn()).unwrap();
    let good: Vec<_> = iter
        .by_ref()
        .take_while(Result::is_ok)
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        good.last().map(|(l, _)| *l),
        Some(in_seg[0].0),
        "records before the damage are read"
    );
    match wal.iter_from(0).unwrap().find_map(Result::err) {
        Some(WalError::Corruption {
            segment, offset: o, ..
        }) => assert_eq!((segment, o), (seg_path.clone(), offset)),
        other => panic!("expected corruption, got {other:?}"),
    }
    match wal.read_at(lsn) {
        Err(WalError::Corruption {
            segment, offset: o, ..
        }) => assert_eq!((segment, o), (seg_path, offset)),
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn a_damaged_record_of_the_last_segment_followed_by_valid_ones_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let acked = write_log(dir.path(), 80);
    let (seg_start, seg_path) = segments(dir.path()).pop().unwrap();
    let in_last: Vec<_> = acked.iter().filter(|(l, _)| *l >= seg_start).collect();
    assert!(
        in_last.len() >= 2,
        "the test needs two records in the last segment"
    );
    let offset = in_last[0].0 - seg_start;
    for byte in [4, 8, 9] {
        // CRC, kind, first payload byte (records here are non-empty).
        let mut bytes = fs::read(&seg_path).unwrap();
        if in_last[0].1 - in_last[0].0 <= byte {
            continue;
        }
        bytes[(offset + byte) as usize] ^= 0x01;
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        fs::write(copy.path().join(seg_path.file_name().unwrap()), bytes).unwrap();
        match open(copy.path()) {
            Err(WalError::Corruption {
                segment, offset: o, ..
            }) => {
                assert_eq!(segment.file_name(), seg_path.file_name());
                assert_eq!(o, offset);
            }
            other => panic!(
                "byte {byte}: expected corruption, got {:?}",
                other.map(|(_, r)| r)
            ),
        }
    }
}

#[test]
fn a_gap_in_the_segment_chain_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 80);
    let segs = segments(dir.path());
    fs::remove_file(&segs[2].1).unwrap();
    match open(dir.path()) {
        Err(WalError::Corruption {
            segment,
            offset: 0,
            reason,
        }) => {
            assert_eq!(segment, segs[3].1);
            assert!(reason.contains("chain"), "{reason}");
        }
        other => panic!("expected corruption, got {:?}", other.map(|(_, r)| r)),
    }
}

#[test]
fn a_damaged_length_in_the_last_record_before_the_zeros_ahead_is_corruption() {
    // Segments large enough for the writer's zeros ahead (1 MiB).
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig {
        dir: dir.path().to_path_buf(),
        segment_size: 4 << 20,
    };
    let (wal, _) = Wal::open(config.clone()).unwrap();
    let acked: Vec<_> = (1..=5)
        .map(|i| wal.append_blocking(vec![record(i)]).unwrap())
        .collect();
    drop(wal);
    let (_, path) = segments(dir.path()).pop().unwrap();
    let mut bytes = fs::read(&path).unwrap();
    let last = acked[4].lsns[0] as usize;
    assert!(bytes.len() > acked[4].end as usize + 1000, "zeros ahead");
    // Lengthen the last, acknowledged record by one byte: its declared end
    // falls in the zeros after it.
    let bit = (0..8).find(|b| bytes[last] & (1 << b) == 0).unwrap();
    bytes[last] ^= 1 << bit;
    fs::write(&path, &bytes).unwrap();
    match Wal::open(config) {
        Err(WalError::Corruption { offset, reason, .. }) => {
            assert_eq!(offset, acked[4].lsns[0]);
            assert!(reason.contains("length field"), "{reason}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn reopen_after_a_torn_tail_then_append_stays_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let acked = write_log(dir.path(), 30);
    let (lsn, end) = acked[29];
    cut_at(dir.path(), lsn + (end - lsn) / 2);
    let (wal, report) = open(dir.path()).unwrap();
    assert_eq!(report.end_lsn, lsn);
    assert!(report.torn_tail.is_some());
    for i in 100..140 {
        wal.append_blocking(vec![record(i)]).unwrap();
    }
    drop(wal);
    let (records, torn) = recovered(dir.path());
    assert_eq!(torn, None);
    let expect: Vec<Record> = (0..29).chain(100..140).map(record).collect();
    assert_eq!(
        records.into_iter().map(|(_, r)| r).collect::<Vec<_>>(),
        expect
    );
}

#[test]
fn an_empty_dir_is_a_new_log_at_lsn_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not/yet/there");
    let (wal, report) = open(&path).unwrap();
    assert_eq!(
        report,
        OpenReport {
            end_lsn: 0,
            torn_tail: None,
            segments: 1
        }
    );
    assert_eq!((wal.first_lsn(), wal.durable_lsn()), (0, 0));
    assert_eq!(
        segments(&path),
        vec![(0, path.join("00000000000000000000.wal"))]
    );
}
