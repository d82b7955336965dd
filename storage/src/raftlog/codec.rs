//! Payloads of the Raft record kinds and of the checkpoint snapshot.
//!
//! ```text
//!   payload = [format u8 = 1][postcard header][tail bytes, raw]
//!   RaftEntries      header { group, log_id }        tail = entry payload
//!   RaftVote         header { group }                tail = vote
//!   RaftCommitted    header { group, committed }     tail = empty
//!   RaftTruncate     header { group, since }         tail = empty
//!   RaftPurge        header { group, upto }          tail = empty
//!   RaftRemoveGroup  header { group }                tail = empty
//!   MetaSnapshot     [format u8 = 1][postcard MetaWire]
//! ```
//!
//! The tail is raw so that entry payloads and votes are neither copied nor
//! re-encoded: a decoded tail is a slice of the record's `Bytes`.
//! NB: the format byte is the on-disk version; a change of any header means a
//! new version and a decoder for the old one.

use bytes::{BufMut, Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{GroupId, GroupMeta, LogId, MetaSnapshot, RaftLogError};
use crate::wal::{Lsn, Record, RecordKind};

const FORMAT_V1: u8 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct EntryHeader {
    group: GroupId,
    log_id: LogId,
}

#[derive(Debug, Serialize, Deserialize)]
struct GroupHeader {
    group: GroupId,
}

#[derive(Debug, Serialize, Deserialize)]
struct CommittedHeader {
    group: GroupId,
    committed: Option<LogId>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TruncateHeader {
    group: GroupId,
    since: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct PurgeHeader {
    group: GroupId,
    upto: LogId,
}

#[derive(Debug, Serialize, Deserialize)]
struct MetaWire {
    covers_below: Lsn,
    groups: Vec<GroupMetaWire>,
}

#[derive(Debug, Serialize, Deserialize)]
struct GroupMetaWire {
    group: GroupId,
    vote: Option<Vec<u8>>,
    committed: Option<LogId>,
    last_purged: Option<LogId>,
    last: Option<LogId>,
}

/// A decoded Raft record.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RaftRecord {
    Entry {
        group: GroupId,
        log_id: LogId,
        payload: Bytes,
    },
    Vote {
        group: GroupId,
        vote: Bytes,
    },
    Committed {
        group: GroupId,
        committed: Option<LogId>,
    },
    Truncate {
        group: GroupId,
        since: u64,
    },
    Purge {
        group: GroupId,
        upto: LogId,
    },
    RemoveGroup {
        group: GroupId,
    },
}

impl RaftRecord {
    /// The WAL record for this Raft record.
    pub(super) fn encode(&self) -> Result<Record, RaftLogError> {
        let (kind, payload) = match self {
            RaftRecord::Entry {
                group,
                log_id,
                payload,
            } => (
                RecordKind::RaftEntries,
                frame(
                    &EntryHeader {
                        group: *group,
                        log_id: *log_id,
                    },
                    payload,
                )?,
            ),
            RaftRecord::Vote { group, vote } => (
                RecordKind::RaftVote,
                frame(&GroupHeader { group: *group }, vote)?,
            ),
            RaftRecord::Committed { group, committed } => (
                RecordKind::RaftCommitted,
                frame(
                    &CommittedHeader {
                        group: *group,
                        committed: *committed,
                    },
                    &[],
                )?,
            ),
            RaftRecord::Truncate { group, since } => (
                RecordKind::RaftTruncate,
                frame(
                    &TruncateHeader {
                        group: *group,
                        since: *since,
                    },
                    &[],
                )?,
            ),
            RaftRecord::Purge { group, upto } => (
                RecordKind::RaftPurge,
                frame(
                    &PurgeHeader {
                        group: *group,
                        upto: *upto,
                    },
                    &[],
                )?,
            ),
            RaftRecord::RemoveGroup { group } => (
                RecordKind::RaftRemoveGroup,
                frame(&GroupHeader { group: *group }, &[])?,
            ),
        };
        Ok(Record::new(kind, payload))
    }

    /// Decodes a WAL record at `lsn`; `None` for a kind this module does not own.
    pub(super) fn decode(lsn: Lsn, record: &Record) -> Result<Option<RaftRecord>, RaftLogError> {
        let p = &record.payload;
        Ok(Some(match record.kind {
            RecordKind::RaftEntries => {
                let (h, payload) = unframe::<EntryHeader>("Raft entries record", lsn, p)?;
                RaftRecord::Entry {
                    group: h.group,
                    log_id: h.log_id,
                    payload,
                }
            }
            RecordKind::RaftVote => {
                let (h, vote) = unframe::<GroupHeader>("Raft vote record", lsn, p)?;
                RaftRecord::Vote {
                    group: h.group,
                    vote,
                }
            }
            RecordKind::RaftCommitted => {
                let (h, _) = unframe::<CommittedHeader>("Raft committed record", lsn, p)?;
                RaftRecord::Committed {
                    group: h.group,
                    committed: h.committed,
                }
            }
            RecordKind::RaftTruncate => {
                let (h, _) = unframe::<TruncateHeader>("Raft truncate record", lsn, p)?;
                RaftRecord::Truncate {
                    group: h.group,
                    since: h.since,
                }
            }
            RecordKind::RaftPurge => {
                let (h, _) = unframe::<PurgeHeader>("Raft purge record", lsn, p)?;
                RaftRecord::Purge {
                    group: h.group,
                    upto: h.upto,
                }
            }
            RecordKind::RaftRemoveGroup => {
                let (h, _) = unframe::<GroupHeader>("Raft remove-group record", lsn, p)?;
                RaftRecord::RemoveGroup { group: h.group }
            }
            RecordKind::CheckpointBegin | RecordKind::CheckpointEnd => {
                return Ok(None);
            }
        }))
    }
}

/// `[format][postcard header][tail]`.
fn frame<H: Serialize>(header: &H, tail: &[u8]) -> Result<Bytes, RaftLogError> {
    let header = postcard::to_stdvec(header).map_err(|source| RaftLogError::Encode {
        what: "Raft record",
        source,
    })?;
    let mut out = BytesMut::with_capacity(1 + header.len() + tail.len());
    out.put_u8(FORMAT_V1);
    out.put_slice(&header);
    out.put_slice(tail);
    Ok(out.freeze())
}

/// Splits a framed payload into its header and its tail (a zero-copy slice).
fn unframe<H: DeserializeOwned>(
    what: &'static str,
    lsn: Lsn,
    payload: &Bytes,
) -> Result<(H, Bytes), RaftLogError> {
    match payload.first() {
        Some(&FORMAT_V1) => {}
        version => {
            return Err(RaftLogError::UnknownFormat {
                what,
                lsn: Some(lsn),
                version: version.copied(),
            });
        }
    }
    let body = &payload[1..];
    let (header, rest) =
        postcard::take_from_bytes::<H>(body).map_err(|source| RaftLogError::Decode {
            what,
            lsn: Some(lsn),
            source,
        })?;
    let tail_at = payload.len() - rest.len();
    Ok((header, payload.slice(tail_at..)))
}

impl MetaSnapshot {
    /// Encodes the snapshot for a checkpoint record: `[format][postcard]`.
    pub fn encode(&self) -> Result<Vec<u8>, RaftLogError> {
        let wire = MetaWire {
            covers_below: self.covers_below,
            groups: self
                .groups
                .iter()
                .map(|g| GroupMetaWire {
                    group: g.group,
                    vote: g.vote.as_ref().map(|v| v.to_vec()),
                    committed: g.committed,
                    last_purged: g.last_purged,
                    last: g.last,
                })
                .collect(),
        };
        let body = postcard::to_stdvec(&wire).map_err(|source| RaftLogError::Encode {
            what: "Raft metadata snapshot",
            source,
        })?;
        let mut out = Vec::with_capacity(1 + body.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decodes what [`MetaSnapshot::encode`] produced.
    pub fn decode(bytes: &[u8]) -> Result<MetaSnapshot, RaftLogError> {
        const WHAT: &str = "Raft metadata snapshot";
        let body = match bytes.split_first() {
            Some((&FORMAT_V1, body)) => body,
            other => {
                return Err(RaftLogError::UnknownFormat {
                    what: WHAT,
                    lsn: None,
                    version: other.map(|(v, _)| *v),
                });
            }
        };
        let wire: MetaWire = postcard::from_bytes(body).map_err(|source| RaftLogError::Decode {
            what: WHAT,
            lsn: None,
            source,
        })?;
        Ok(MetaSnapshot {
            covers_below: wire.covers_below,
            groups: wire
                .groups
                .into_iter()
                .map(|g| GroupMeta {
                    group: g.group,
                    vote: g.vote.map(Bytes::from),
                    committed: g.committed,
                    last_purged: g.last_purged,
                    last: g.last,
                })
                .collect(),
        })
    }
}
