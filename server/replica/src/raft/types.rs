//! The openraft type configuration. The tablet commands (log entry
//! payloads) and their responses are `spanlite_txn::command`'s.

pub use spanlite_txn::{Command, CommandResponse, NodeId};

/// Where a Raft peer listens (its advertised gRPC address).
pub type Node = openraft::BasicNode;

openraft::declare_raft_types!(
    /// openraft's type configuration for every tablet's Raft group.
    pub TypeConfig:
        D = Command,
        R = CommandResponse,
        NodeId = NodeId,
        Node = Node,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = std::io::Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
        Responder = openraft::impls::OneshotResponder<TypeConfig>,
);

/// A Raft handle of one tablet replica.
pub type Raft = openraft::Raft<TypeConfig>;
/// A log entry of a tablet's Raft group.
pub type Entry = openraft::Entry<TypeConfig>;
/// openraft's log id with our node id type.
pub type RaftLogId = openraft::LogId<NodeId>;
/// openraft's vote with our node id type.
pub type RaftVote = openraft::Vote<NodeId>;
/// openraft's storage error with our node id type.
pub type RaftStorageError = openraft::StorageError<NodeId>;
/// A membership with its log id, as the state machine stores it.
pub type StoredMembership = openraft::StoredMembership<NodeId, Node>;
