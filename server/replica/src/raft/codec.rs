//! Conversions between openraft's types and the storage crate's Raft log
//! types, and the byte encoding (postcard) of everything the Raft glue stores
//! or sends.
//!
//! Stored formats start with a version byte so a later build can read them.

use bytes::Bytes;
use openraft::{CommittedLeaderId, ErrorSubject, ErrorVerb, LogId};
use spanlite_storage::raftlog;

use super::types::{Entry, NodeId, RaftLogId, RaftStorageError};

/// Entries and votes are stored as the meta family's values are: a format
/// byte, then postcard.
pub use spanlite_storage::meta::{
    decode_versioned as decode_stored, encode_versioned as encode_stored,
};

/// openraft log id → storage log id.
pub fn to_store_log_id(id: &RaftLogId) -> raftlog::LogId {
    raftlog::LogId {
        term: id.leader_id.term,
        node: id.leader_id.node_id,
        index: id.index,
    }
}

/// Storage log id → openraft log id.
pub fn to_raft_log_id(id: &raftlog::LogId) -> RaftLogId {
    LogId::new(CommittedLeaderId::new(id.term, id.node), id.index)
}

/// An openraft entry as a storage log entry.
pub fn encode_entry(entry: &Entry) -> Result<raftlog::LogEntry, RaftStorageError> {
    let payload = encode_stored(entry)
        .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Write, e.to_string()))?;
    Ok(raftlog::LogEntry {
        log_id: to_store_log_id(&entry.log_id),
        payload: Bytes::from(payload),
    })
}

/// A storage log entry back as an openraft entry.
pub fn decode_entry(entry: &raftlog::LogEntry) -> Result<Entry, RaftStorageError> {
    decode_stored(&entry.payload).map_err(|e| {
        io_error(
            ErrorSubject::Log(to_raft_log_id(&entry.log_id)),
            ErrorVerb::Read,
            format!("entry does not decode: {e}"),
        )
    })
}

/// A storage error for openraft, keeping the message.
pub fn io_error(
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
    message: impl Into<String>,
) -> RaftStorageError {
    let err = std::io::Error::other(message.into());
    RaftStorageError::from_io_error(subject, verb, err)
}

#[cfg(test)]
mod tests {
    use openraft::EntryPayload;

    use super::*;
    use crate::raft::types::Command;
    use spanlite_txn::Mutation;

    #[test]
    fn entry_round_trips_through_store_format() {
        let entry = Entry {
            log_id: LogId::new(CommittedLeaderId::new(3, 2), 17),
            payload: EntryPayload::Normal(Command::Write {
                ts: spanlite_truetime::Timestamp::from_nanos(42),
                mutations: vec![Mutation::Put {
                    key: b"k".to_vec(),
                    value: b"v".to_vec(),
                }],
            }),
        };
        let stored = encode_entry(&entry).unwrap();
        assert_eq!(stored.log_id.index, 17);
        assert_eq!(stored.log_id.term, 3);
        assert_eq!(stored.log_id.node, 2);
        let back = decode_entry(&stored).unwrap();
        assert_eq!(back.log_id, entry.log_id);
        assert_eq!(format!("{back:?}"), format!("{entry:?}"));
    }

    #[test]
    fn unknown_format_is_an_error_not_a_panic() {
        let bad = raftlog::LogEntry {
            log_id: raftlog::LogId {
                term: 1,
                node: 1,
                index: 1,
            },
            payload: Bytes::from_static(&[9, 1, 2]),
        };
        let err = decode_entry(&bad).unwrap_err();
        assert!(
            err.to_string().contains("unknown format version 9"),
            "{err}"
        );
    }
}
