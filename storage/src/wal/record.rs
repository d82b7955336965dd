//! Record framing and the one table of record kinds.
//!
//! ```text
//!  0        4        8   9
//!  ┌────────┬────────┬───┬────────────── len bytes ──┐
//!  │len u32 │crc32c  │ k │ payload                   │
//!  │  LE    │ u32 LE │   │                           │
//!  └────────┴────────┴───┴───────────────────────────┘
//!  len = payload length; k = kind | 0x80; crc32c covers len, k and the
//!  payload, so a flipped bit in the length is caught like any other
//! ```
//!
//! Records written before the CRC covered the length have k = kind (high
//! bit clear) and a crc32c over k and the payload only; they are still read
//! (a log written by an older build opens), never written.
//!
//! INVARIANT: a record's LSN is the global byte position of its first header
//! byte, and the next record starts at `lsn + HEADER_LEN + len`.

use bytes::Bytes;

use super::WalError;

/// Log sequence number: the global byte position of a record's first byte in
/// the node's log. Contiguous across segments.
pub type Lsn = u64;

/// Bytes before the payload: length, CRC, kind.
pub const HEADER_LEN: usize = 9;

/// Every kind of record in the node WAL, with its owner. An unknown kind byte
/// on read is corruption.
///
/// NB: the byte values are the on-disk format: never renumber, only add.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum RecordKind {
    /// One entry of one Raft group (`raftlog`).
    RaftEntries = 1,
    /// A Raft group's vote (`raftlog`).
    RaftVote = 2,
    /// A Raft group's committed log id, lazily durable (`raftlog`).
    RaftCommitted = 3,
    /// A Raft group's log truncated from an index on (`raftlog`).
    RaftTruncate = 4,
    /// A Raft group's log purged up to a log id (`raftlog`).
    RaftPurge = 5,
    /// A Raft group removed from this node: tablet deleted or moved (`raftlog`).
    RaftRemoveGroup = 6,
    /// A fuzzy checkpoint starts (`recovery`).
    CheckpointBegin = 16,
    /// A checkpoint's tables, after the RocksDB flush (`recovery`).
    CheckpointEnd = 17,
}
// NB: bytes 32 and 33 held transaction records and CLRs of a node-local
// undo pass that a Raft-replicated design does not need (docs/wal.md,
// "Why there is no undo pass"); they are never reused.

impl RecordKind {
    /// Every kind, in byte order.
    pub const ALL: [RecordKind; 8] = [
        RecordKind::RaftEntries,
        RecordKind::RaftVote,
        RecordKind::RaftCommitted,
        RecordKind::RaftTruncate,
        RecordKind::RaftPurge,
        RecordKind::RaftRemoveGroup,
        RecordKind::CheckpointBegin,
        RecordKind::CheckpointEnd,
    ];

    /// The kind for a byte, or `None` for an unknown byte (corruption).
    pub fn from_byte(b: u8) -> Option<RecordKind> {
        RecordKind::ALL.into_iter().find(|k| *k as u8 == b)
    }
}

/// One WAL record: a kind and a payload owned by the module that wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// What the payload is.
    pub kind: RecordKind,
    /// The payload.
    pub payload: Bytes,
}

impl Record {
    /// A record of `kind` with `payload`.
    pub fn new(kind: RecordKind, payload: impl Into<Bytes>) -> Self {
        Self {
            kind,
            payload: payload.into(),
        }
    }

    /// Bytes this record takes in a segment (header + payload).
    pub fn framed_len(&self) -> u64 {
        (HEADER_LEN + self.payload.len()) as u64
    }

    /// The payload length as stored in the header, or `RecordTooLarge`.
    pub(crate) fn stored_len(&self) -> Result<u32, WalError> {
        u32::try_from(self.payload.len()).map_err(|_| WalError::RecordTooLarge {
            len: self.payload.len(),
        })
    }

    /// Appends the framed record to `out`.
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), WalError> {
        let len = self.stored_len()?.to_le_bytes();
        let kind = self.kind as u8 | LEN_COVERED;
        let crc = crc32c::crc32c_append(
            crc32c::crc32c_append(crc32c::crc32c(&len), &[kind]),
            &self.payload,
        );
        out.extend_from_slice(&len);
        out.extend_from_slice(&crc.to_le_bytes());
        out.push(kind);
        out.extend_from_slice(&self.payload);
        Ok(())
    }
}

/// Result of parsing one record at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// A valid record and its framed length.
    Ok(Record, usize),
    /// The buffer ends inside the header or the payload.
    Short,
    /// The CRC or the kind byte is wrong.
    Bad(String),
}

/// Framed length (header + payload) declared by the header at the start of
/// `header`. NB: read from disk, so untrusted: bound it before allocating.
pub(crate) fn declared_len(header: &[u8; HEADER_LEN]) -> u64 {
    HEADER_LEN as u64
        + u64::from(u32::from_le_bytes([
            header[0], header[1], header[2], header[3],
        ]))
}

/// The kind byte's flag: the CRC covers the length too (every record this
/// build writes).
const LEN_COVERED: u8 = 0x80;

/// The kind of a framed record (`frame`: header and payload) whose CRC
/// matches, or why not.
fn check(frame: &[u8]) -> Result<RecordKind, String> {
    let Some(header) = frame.first_chunk::<HEADER_LEN>() else {
        return Err("record shorter than its header".into());
    };
    let k = header[8];
    let Some(kind) = RecordKind::from_byte(k & !LEN_COVERED) else {
        return Err(format!("unknown record kind {k}"));
    };
    let stored = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let crc = if k & LEN_COVERED != 0 {
        crc32c::crc32c_append(crc32c::crc32c(&header[..4]), &frame[8..])
    } else {
        // Written before the CRC covered the length.
        crc32c::crc32c(&frame[8..])
    };
    if crc == stored {
        Ok(kind)
    } else {
        Err("CRC mismatch".into())
    }
}

/// True when `frame` (header and payload) is a record this build wrote,
/// intact but for its length field: its CRC, which covers the length,
/// matches the frame's real length. A record that seems to run past the end
/// of the log but passes this was damaged after it was written, not torn.
pub(crate) fn intact_with_other_len(frame: &[u8]) -> bool {
    let Some(header) = frame.first_chunk::<HEADER_LEN>() else {
        return false;
    };
    let Ok(len) = u32::try_from(frame.len() - HEADER_LEN) else {
        return false;
    };
    if header[8] & LEN_COVERED == 0 || header[..4] == len.to_le_bytes() {
        return false;
    }
    let mut fixed = frame.to_vec();
    fixed[..4].copy_from_slice(&len.to_le_bytes());
    check(&fixed).is_ok()
}

/// Parses the record at the start of `buf` (which may hold more after it).
pub(crate) fn parse(buf: &[u8]) -> Parsed {
    let Some(header) = buf.first_chunk::<HEADER_LEN>() else {
        return Parsed::Short;
    };
    let total = declared_len(header);
    if (buf.len() as u64) < total {
        return Parsed::Short;
    }
    // In range: total <= buf.len().
    let total = total as usize;
    match check(&buf[..total]) {
        Ok(kind) => Parsed::Ok(
            Record::new(kind, Bytes::copy_from_slice(&buf[HEADER_LEN..total])),
            total,
        ),
        Err(reason) => Parsed::Bad(reason),
    }
}

/// True when a complete record with a valid CRC and kind starts at `buf[0]`.
/// Cheaper than [`parse`]: rejects on the kind byte before computing the CRC.
/// Returns the CRC work done (bytes hashed) alongside.
pub(crate) fn looks_valid(buf: &[u8]) -> (bool, usize) {
    let Some(header) = buf.first_chunk::<HEADER_LEN>() else {
        return (false, 0);
    };
    if RecordKind::from_byte(header[8] & !LEN_COVERED).is_none() {
        return (false, 0);
    }
    let total = declared_len(header);
    if (buf.len() as u64) < total {
        return (false, 0);
    }
    let total = total as usize;
    (check(&buf[..total]).is_ok(), total - 8)
}
