//! The one type for a write: what a transaction buffers, what a prepare
//! record keeps as intents, what a Raft command applies.

use serde::{Deserialize, Serialize};

/// One write to one key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Mutation {
    /// Store `value` under `key`.
    Put {
        /// The key (order-preserving encoding; inside the tablet's range).
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Delete `key` (a tombstone version).
    Delete {
        /// The key.
        key: Vec<u8>,
    },
}

impl Mutation {
    /// The key written.
    pub fn key(&self) -> &[u8] {
        match self {
            Mutation::Put { key, .. } | Mutation::Delete { key } => key,
        }
    }

    /// The value written (`None`: a delete).
    pub fn value(&self) -> Option<&[u8]> {
        match self {
            Mutation::Put { value, .. } => Some(value),
            Mutation::Delete { .. } => None,
        }
    }

    /// A put of `value`, or a delete for `None`.
    pub fn new(key: Vec<u8>, value: Option<Vec<u8>>) -> Self {
        match value {
            Some(value) => Mutation::Put { key, value },
            None => Mutation::Delete { key },
        }
    }
}
