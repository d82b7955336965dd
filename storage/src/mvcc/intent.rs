//! Transaction ids and intents (provisional writes of prepared transactions).

use std::fmt;

use serde::{Deserialize, Serialize};
use spanlite_truetime::Timestamp;

use crate::engine::Cf;
use crate::error::{Result, StorageError};

/// Identifies a transaction cluster-wide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TxnId(pub u128);

impl fmt::Display for TxnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "txn-{:032x}", self.0)
    }
}

/// A provisional write: what a prepared transaction will do to one key if it
/// commits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// The transaction that owns the intent (and the key's exclusive lock).
    pub txn: TxnId,
    /// The transaction's prepare timestamp on this tablet; its commit
    /// timestamp will be at least this.
    pub prepare_ts: Timestamp,
    /// The value to write, or `None` to delete the key.
    pub value: Option<Vec<u8>>,
}

/// An intent that stops a read: the reader must wait for `txn` to commit or
/// abort (or ask its coordinator) and retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockingIntent {
    /// The user key.
    pub key: Vec<u8>,
    /// The owner of the intent.
    pub txn: TxnId,
    /// Its prepare timestamp (≤ the read timestamp).
    pub prepare_ts: Timestamp,
}

/// Format byte in front of every stored intent, for future format changes.
const INTENT_FORMAT_V1: u8 = 1;

impl Intent {
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        let mut out = vec![INTENT_FORMAT_V1];
        let body = postcard::to_stdvec(self).map_err(|e| StorageError::Corrupt {
            what: "intent",
            cf: Cf::Intents.name(),
            reason: format!("cannot encode: {e}"),
        })?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self> {
        let corrupt = |reason: String| StorageError::Corrupt {
            what: "intent",
            cf: Cf::Intents.name(),
            reason,
        };
        match bytes.split_first() {
            Some((&INTENT_FORMAT_V1, body)) => {
                postcard::from_bytes(body).map_err(|e| corrupt(e.to_string()))
            }
            Some((v, _)) => Err(corrupt(format!("unknown intent format {v}"))),
            None => Err(corrupt("empty value".into())),
        }
    }
}
