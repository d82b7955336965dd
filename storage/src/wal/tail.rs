//! Finding the end of the log: validating the last segment and telling a torn
//! tail from corruption.
//!
//! ```text
//!   last segment:  [rec][rec][rec][rec]000000000 EOF      clean end (zeros
//!                                                          written ahead)
//!                  [rec][rec][rec][rec][re▒▒▒▒ EOF        torn: cut at ▒
//!                  [rec][rec][rec][▒▒▒]000000000 EOF      torn: cut at ▒
//!                  [rec][rec][▒▒▒][rec][rec] EOF          corruption at ▒
//! ```
//!
//! Nothing but zeros after the last valid record is the log's end: the
//! writer fills the active segment with zeros ahead of its records
//! (segment.rs), and a crash can also leave a file's new size with its
//! data not yet written, which reads as zeros. Either way nothing there was
//! acknowledged, and nothing is cut (the zeros stay for the writer).
//!
//! Rule: a bad record (short, CRC mismatch, unknown kind) is a **torn tail**
//! when nothing but EOF or zero bytes follows it and no valid record starts
//! anywhere after its first byte. The crash cut the last group write short;
//! that group was never acknowledged, so dropping it loses nothing.
//! Anything else is [`WalError::Corruption`].
//!
//! NB: "no valid record after it" also guards against a flipped bit in a
//! length field, which makes a record look short and would otherwise cut off
//! acknowledged records behind it. For the last record, whose damaged length
//! makes it run into the zeros after it or past the end of the file, the
//! CRC decides: it covers the length, so a record that checks with its real
//! length was written whole and damaged since (corruption), while a torn one
//! does not check at all.
//!
//! HAZARD: if the disk wrote back the pages of the last, unacknowledged group
//! out of order before power failed, a valid record can follow a hole of
//! zeros. That is reported as corruption (the WAL cannot prove those records
//! were never acknowledged); an operator may truncate the segment at the
//! reported offset after checking that the node did not acknowledge them.

use std::os::unix::fs::FileExt;

use super::record::{Parsed, declared_len, intact_with_other_len, looks_valid, parse};
use super::segment::{Segment, file_len};
use super::{HEADER_LEN, WalError};

/// Hashing done while looking for a valid record after a damaged one, before
/// giving up and calling the damage a torn tail. Bounds open time on a huge,
/// torn record whose payload bytes happen to look like plausible headers.
const SEARCH_BUDGET: usize = 256 << 20;

/// What validating the last segment found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TailScan {
    /// Offset just past the last valid record: where the log ends.
    pub valid_len: u64,
    /// A torn tail at `valid_len`: bytes to drop.
    pub torn_bytes: Option<u64>,
}

/// Validates every record of `segment` (the last one).
pub(crate) fn scan_last_segment(segment: &Segment) -> Result<TailScan, WalError> {
    let len = file_len(segment)?;
    let len = usize::try_from(len).map_err(|_| WalError::Corruption {
        segment: segment.path.clone(),
        offset: 0,
        reason: format!("segment of {len} bytes does not fit in memory"),
    })?;
    let mut buf = vec![0u8; len];
    segment
        .file
        .read_exact_at(&mut buf, 0)
        .map_err(WalError::io(format!("reading {}", segment.path.display())))?;
    scan(&buf).map_err(|(offset, reason)| WalError::Corruption {
        segment: segment.path.clone(),
        offset: offset as u64,
        reason,
    })
}

/// The rule, over the bytes of a segment. `Err((offset, reason))` is
/// corruption at `offset`.
pub(crate) fn scan(buf: &[u8]) -> Result<TailScan, (usize, String)> {
    let mut pos = 0usize;
    while pos < buf.len() {
        if buf[pos] == 0 && buf[pos..].iter().all(|&b| b == 0) {
            break;
        }
        let reason = match parse(&buf[pos..]) {
            Parsed::Ok(_, len) => {
                pos += len;
                continue;
            }
            Parsed::Short => "record runs past the end of the file".to_string(),
            Parsed::Bad(reason) => reason,
        };
        // Where the damaged record claims to end (EOF if it is short).
        let declared = buf[pos..].first_chunk::<HEADER_LEN>().map(declared_len);
        let frame_end = declared
            .and_then(|l| usize::try_from(l).ok())
            .map_or(buf.len(), |l| pos.saturating_add(l).min(buf.len()));
        if let Some(nonzero) = buf[frame_end..].iter().position(|&b| b != 0) {
            return Err((
                pos,
                format!(
                    "{reason}; non-zero bytes follow at offset {}",
                    frame_end + nonzero
                ),
            ));
        }
        if let Some(end) = intact_end(buf, pos) {
            return Err((
                pos,
                format!(
                    "the length field of an intact record is damaged (it declares {} bytes; \
                     the record has {})",
                    declared.map_or_else(|| "?".to_string(), |l| l.to_string()),
                    end - pos
                ),
            ));
        }
        if let Some(next) = find_valid_record(buf, pos + 1) {
            return Err((
                pos,
                format!("{reason}; a valid record follows at offset {next}"),
            ));
        }
        return Ok(TailScan {
            valid_len: pos as u64,
            torn_bytes: Some((buf.len() - pos) as u64),
        });
    }
    Ok(TailScan {
        valid_len: pos as u64,
        torn_bytes: None,
    })
}

/// Zero bytes a record's payload may end with that [`intact_end`] looks
/// past its last non-zero byte for.
const TRAILING_ZEROS: usize = 64;

/// Where the damaged record at `pos` (the last non-zero bytes of the
/// segment) really ends if it is intact but for its length field — a bit
/// flipped in a record written whole, not a torn write. Its CRC covers the
/// length, so the bytes up to its real end check with that length: the end
/// of the file (nothing after it), or its last non-zero byte, or a few
/// bytes past it (a payload ending in zeros, then the zeros written ahead).
fn intact_end(buf: &[u8], pos: usize) -> Option<usize> {
    let data_end = buf
        .iter()
        .rposition(|&b| b != 0)
        .map_or(pos, |i| i + 1)
        .max(pos + HEADER_LEN.min(buf.len() - pos));
    let last = buf.len().min(data_end.saturating_add(TRAILING_ZEROS));
    (data_end..=last)
        .chain([buf.len()])
        .find(|&end| end >= pos + HEADER_LEN && intact_with_other_len(&buf[pos..end]))
}

/// The first offset at or after `from` where a complete, valid record starts,
/// within [`SEARCH_BUDGET`] bytes of hashing. Only used on the damage path.
fn find_valid_record(buf: &[u8], from: usize) -> Option<usize> {
    let mut budget = SEARCH_BUDGET;
    for p in from..buf.len() {
        let (valid, hashed) = looks_valid(&buf[p..]);
        if valid {
            return Some(p);
        }
        budget = budget.checked_sub(hashed)?;
    }
    None
}
