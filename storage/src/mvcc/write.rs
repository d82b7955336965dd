//! MVCC writes: versions, tombstones and the intent life cycle.
//!
//! ```text
//!   write_intent ──▶ [intent k: txn, prepare_ts, value]
//!        │                         │
//!   commit_intent(ts)         abort_intent
//!        ▼                         ▼
//!   version (k, ts) = value     (gone)
//! ```
//!
//! Each step is idempotent: committing or aborting an intent that is no longer
//! there (already resolved) does nothing and returns `false`, so replaying a
//! Raft entry during recovery is harmless.

use spanlite_truetime::Timestamp;

use super::keys::{encode_intent_key, encode_version_key};
use super::read::VersionValue;
use super::{Intent, Mvcc, TxnId};
use crate::engine::{Cf, WriteBatch};
use crate::error::{Result, StorageError};

impl Mvcc {
    /// Queues a committed version `key = value` at `ts`.
    pub fn put(&self, batch: &mut WriteBatch, key: &[u8], ts: Timestamp, value: &[u8]) {
        batch.put(
            Cf::Versions,
            encode_version_key(key, ts),
            VersionValue::encode_put(value),
        );
    }

    /// Queues a committed delete (tombstone) of `key` at `ts`.
    pub fn delete(&self, batch: &mut WriteBatch, key: &[u8], ts: Timestamp) {
        batch.put(
            Cf::Versions,
            encode_version_key(key, ts),
            VersionValue::encode_tombstone(),
        );
    }

    /// Queues an intent on `key`. Replaces an intent of the same transaction
    /// (a re-prepare or a second write to the key); an intent of another
    /// transaction is [`StorageError::IntentConflict`].
    pub fn write_intent(&self, batch: &mut WriteBatch, key: &[u8], intent: &Intent) -> Result<()> {
        if let Some(existing) = self.intent(key)?
            && existing.txn != intent.txn
        {
            return Err(StorageError::IntentConflict {
                holder: existing.txn,
            });
        }
        batch.put(Cf::Intents, encode_intent_key(key), intent.encode()?);
        Ok(())
    }

    /// Queues turning `txn`'s intent on `key` into a version at `commit_ts`.
    /// Returns `false` (and queues nothing) when `key` holds no intent of
    /// `txn` — it was already committed or aborted.
    pub fn commit_intent(
        &self,
        batch: &mut WriteBatch,
        key: &[u8],
        txn: TxnId,
        commit_ts: Timestamp,
    ) -> Result<bool> {
        let Some(intent) = self.intent(key)?.filter(|i| i.txn == txn) else {
            return Ok(false);
        };
        match &intent.value {
            Some(value) => self.put(batch, key, commit_ts, value),
            None => self.delete(batch, key, commit_ts),
        }
        batch.delete(Cf::Intents, encode_intent_key(key));
        Ok(true)
    }

    /// Queues removal of `txn`'s intent on `key`. Returns `false` when there is
    /// none (already resolved).
    pub fn abort_intent(&self, batch: &mut WriteBatch, key: &[u8], txn: TxnId) -> Result<bool> {
        if self.intent(key)?.is_none_or(|i| i.txn != txn) {
            return Ok(false);
        }
        batch.delete(Cf::Intents, encode_intent_key(key));
        Ok(true)
    }

    /// Queues an intent on `key` without looking at what is stored: for
    /// callers that track intents themselves (a tablet's transaction
    /// records, applied in batches the engine has not seen yet).
    pub fn put_intent(&self, batch: &mut WriteBatch, key: &[u8], intent: &Intent) -> Result<()> {
        batch.put(Cf::Intents, encode_intent_key(key), intent.encode()?);
        Ok(())
    }

    /// Queues removal of whatever intent `key` has (see [`Mvcc::put_intent`]).
    pub fn remove_intent(&self, batch: &mut WriteBatch, key: &[u8]) {
        batch.delete(Cf::Intents, encode_intent_key(key));
    }

    /// The intent on `key`, if any.
    pub fn intent(&self, key: &[u8]) -> Result<Option<Intent>> {
        self.engine()
            .get(Cf::Intents, &encode_intent_key(key))?
            .map(|bytes| Intent::decode(&bytes))
            .transpose()
    }
}
