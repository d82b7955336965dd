//! Reading the log: one record at a known LSN, or every record from an LSN to
//! the durable end, across segments.
//!
//! ```text
//!   segments:  [first ........)[.........)[........ durable end)
//!   read_at(lsn):      pread header, bound its length, pread, CRC
//!   iter_from(lsn): ──▶ record ──▶ record ──▶ … ──▶ None at the durable end
//! ```
//!
//! Reads use positioned reads on the segment handles, so they never disturb
//! the writer and never reopen files. An LSN that is not a record boundary
//! fails the CRC (or the length bound) and is reported as corruption naming
//! segment and offset.

use std::io;
use std::os::unix::fs::FileExt;

use super::record::{Parsed, declared_len, parse};
use super::segment::Segment;
use super::{HEADER_LEN, Lsn, Record, Wal, WalError};

/// Bytes read at a time by [`WalIter`].
const CHUNK: u64 = 1 << 20;

impl Wal {
    /// Reads the record that starts at `lsn` (CRC-checked).
    ///
    /// Errors: [`WalError::Truncated`] below [`Wal::first_lsn`],
    /// [`WalError::NotDurable`] at or past [`Wal::durable_lsn`],
    /// [`WalError::Corruption`] if no valid record starts at `lsn`.
    pub fn read_at(&self, lsn: Lsn) -> Result<Record, WalError> {
        let durable = self.durable_lsn();
        if lsn >= durable {
            return Err(WalError::NotDurable { lsn, durable });
        }
        let (segment, seg_end) = {
            let segments = self.shared.segments();
            let first = segments.first().map_or(0, |s| s.start);
            let Some(i) = segments
                .iter()
                .rposition(|s| s.start <= lsn)
                .filter(|_| lsn >= first)
            else {
                return Err(WalError::Truncated { lsn, first });
            };
            (
                segments[i].clone(),
                segments
                    .get(i + 1)
                    .map_or(durable, |s| s.start.min(durable)),
            )
        };
        let offset = lsn - segment.start;
        let corrupt = |reason: String| WalError::Corruption {
            segment: segment.path.clone(),
            offset,
            reason,
        };
        if lsn + HEADER_LEN as u64 > seg_end {
            return Err(corrupt(format!(
                "record header runs past the end of the segment at LSN {seg_end}"
            )));
        }
        let mut header = [0u8; HEADER_LEN];
        segment
            .file
            .read_exact_at(&mut header, offset)
            .map_err(read_error(&segment, offset))?;
        let len = declared_len(&header);
        if lsn + len > seg_end {
            return Err(corrupt(format!(
                "record of {len} bytes runs past the end of the segment at LSN {seg_end}"
            )));
        }
        // In range: bounded by the segment just above.
        let mut buf = vec![0u8; len as usize];
        segment
            .file
            .read_exact_at(&mut buf, offset)
            .map_err(read_error(&segment, offset))?;
        match parse(&buf) {
            Parsed::Ok(record, _) => Ok(record),
            Parsed::Short => Err(corrupt("record is short".into())),
            Parsed::Bad(reason) => Err(corrupt(reason)),
        }
    }

    /// Iterates records from `lsn` (a record boundary) to the durable end of
    /// the log as of this call, across segments.
    ///
    /// Errors: [`WalError::Truncated`] below [`Wal::first_lsn`],
    /// [`WalError::NotDurable`] past the durable end. Damage is yielded as an
    /// `Err` item, after which the iterator ends.
    pub fn iter_from(&self, lsn: Lsn) -> Result<WalIter, WalError> {
        let end = self.durable_lsn();
        let segments: Vec<Segment> = self.shared.segments().clone();
        let first = segments.first().map_or(0, |s| s.start);
        if lsn < first {
            return Err(WalError::Truncated { lsn, first });
        }
        if lsn > end {
            return Err(WalError::NotDurable { lsn, durable: end });
        }
        let idx = segments.iter().rposition(|s| s.start <= lsn).unwrap_or(0);
        Ok(WalIter {
            segments,
            idx,
            next: lsn,
            end,
            chunk: Vec::new(),
            chunk_at: 0,
            done: false,
        })
    }
}

/// Maps a positioned-read error: a file shorter than the log says is
/// corruption; anything else is an I/O error.
fn read_error(segment: &Segment, offset: u64) -> impl FnOnce(io::Error) -> WalError {
    let path = segment.path.clone();
    move |e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            WalError::Corruption {
                segment: path,
                offset,
                reason: "segment file ends inside the record".into(),
            }
        } else {
            WalError::io(format!("reading {} at offset {offset}", path.display()))(e)
        }
    }
}

/// Records from an LSN to the durable end (as of [`Wal::iter_from`]), in LSN
/// order, as `(lsn, record)`. Yields an error at the first damaged record and
/// then ends.
#[derive(Debug)]
pub struct WalIter {
    /// The segments as of the call; their handles stay readable even if
    /// retention deletes the files meanwhile.
    segments: Vec<Segment>,
    /// Segment holding `next`.
    idx: usize,
    next: Lsn,
    end: Lsn,
    /// Read-ahead buffer: bytes of one segment starting at LSN `chunk_at`.
    chunk: Vec<u8>,
    chunk_at: Lsn,
    done: bool,
}

impl WalIter {
    /// End of the segment `idx` (the next one's start, or the log end).
    fn seg_end(&self, idx: usize) -> Lsn {
        self.segments
            .get(idx + 1)
            .map_or(self.end, |s| s.start.min(self.end))
    }

    /// Makes `[lsn, lsn + len)` of segment `idx` available in `chunk`.
    fn fill(&mut self, lsn: Lsn, len: u64, seg_end: Lsn) -> Result<(), WalError> {
        let have = self.chunk_at..self.chunk_at + self.chunk.len() as u64;
        if have.contains(&lsn) && lsn + len <= have.end {
            return Ok(());
        }
        let segment = &self.segments[self.idx];
        let want = len.max(CHUNK).min(seg_end - lsn);
        // In range: `want` is bounded by CHUNK or by a length checked against
        // the segment's end.
        self.chunk.resize(want as usize, 0);
        let offset = lsn - segment.start;
        segment
            .file
            .read_exact_at(&mut self.chunk, offset)
            .map_err(read_error(segment, offset))?;
        self.chunk_at = lsn;
        Ok(())
    }

    fn step(&mut self) -> Result<Option<(Lsn, Record)>, WalError> {
        if self.next >= self.end {
            return Ok(None);
        }
        // A segment ends where the next begins: move on at its end.
        while self.next >= self.seg_end(self.idx) && self.idx + 1 < self.segments.len() {
            self.idx += 1;
        }
        let lsn = self.next;
        let seg_end = self.seg_end(self.idx);
        if lsn + HEADER_LEN as u64 > seg_end {
            return Err(self.corrupt_here(format!(
                "record header runs past the end of the segment at LSN {seg_end}"
            )));
        }
        self.fill(lsn, HEADER_LEN as u64, seg_end)?;
        let at = (lsn - self.chunk_at) as usize;
        let Some(header) = self.chunk[at..].first_chunk::<HEADER_LEN>() else {
            return Err(self.corrupt_here("cannot read the record header"));
        };
        let len = declared_len(header);
        if lsn + len > seg_end {
            return Err(self.corrupt_here(format!(
                "record of {len} bytes runs past the end of the segment"
            )));
        }
        self.fill(lsn, len, seg_end)?;
        let at = (lsn - self.chunk_at) as usize;
        match parse(&self.chunk[at..at + len as usize]) {
            Parsed::Ok(record, n) => {
                self.next = lsn + n as u64;
                Ok(Some((lsn, record)))
            }
            Parsed::Short => Err(self.corrupt_here("record is short")),
            Parsed::Bad(reason) => Err(self.corrupt_here(reason)),
        }
    }

    fn corrupt_here(&self, reason: impl Into<String>) -> WalError {
        let segment = &self.segments[self.idx];
        WalError::Corruption {
            segment: segment.path.clone(),
            offset: self.next - segment.start,
            reason: reason.into(),
        }
    }
}

impl Iterator for WalIter {
    type Item = Result<(Lsn, Record), WalError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
