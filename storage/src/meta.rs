//! The `meta` column family: small per-node and per-tablet bookkeeping.
//!
//! Keys are the [`MetaKey`] enum in keycode order; values are fixed-width
//! big-endian integers, or structures encoded by [`encode_value`] (a format
//! byte, then postcard) — transaction records, tablet descriptors, the
//! replicas a node hosts, Raft votes and memberships.
//!
//! INVARIANT (pageLSN): a tablet's `AppliedIndex` is written in the same atomic
//! batch as the data of the Raft entry it names, so after a crash the flushed
//! RocksDB state says exactly which entries it contains. Redo re-applies the
//! entries after it.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use spanlite_truetime::Timestamp;

use std::ops::Bound;

use crate::engine::{Cf, Direction, Engine, ScanRange, WriteBatch};
use crate::error::{Result, StorageError};
use crate::keycode;

/// Format byte in front of every structure stored with [`encode_value`], so
/// a later build can read what an earlier one wrote.
const VALUE_FORMAT_V1: u8 = 1;

/// A structure as stored: the format byte, then postcard.
pub fn encode_versioned<T: Serialize>(value: &T) -> std::result::Result<Vec<u8>, postcard::Error> {
    let mut out = vec![VALUE_FORMAT_V1];
    out.extend(postcard::to_stdvec(value)?);
    Ok(out)
}

/// Decodes [`encode_versioned`]'s output; the error says what is wrong.
pub fn decode_versioned<T: DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, String> {
    match bytes.split_first() {
        Some((&VALUE_FORMAT_V1, body)) => postcard::from_bytes(body).map_err(|e| e.to_string()),
        Some((v, _)) => Err(format!("unknown format version {v}")),
        None => Err("empty value".to_string()),
    }
}

/// [`encode_versioned`] for a value of the meta family; `what` names it in
/// the error.
pub fn encode_value<T: Serialize>(value: &T, what: &'static str) -> Result<Vec<u8>> {
    encode_versioned(value).map_err(|e| StorageError::Corrupt {
        what,
        cf: Cf::Meta.name(),
        reason: format!("cannot encode: {e}"),
    })
}

/// Decodes [`encode_value`]'s output; `what` names it in the corruption
/// error.
pub fn decode_value<T: DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T> {
    decode_versioned(bytes).map_err(|reason| StorageError::Corrupt {
        what,
        cf: Cf::Meta.name(),
        reason,
    })
}

/// Identifies a tablet (and its Raft group) on this node.
pub type TabletId = u64;

/// The keyspace of the `meta` column family.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MetaKey {
    /// The last Raft index of the tablet applied to the engine (its pageLSN).
    AppliedIndex(TabletId),
    /// Versions older than this timestamp may have been garbage-collected.
    GcWatermark,
    /// The tablet's last applied Raft log id, opaque bytes owned by the Raft
    /// glue; written in the same batch as `AppliedIndex`.
    AppliedLogId(TabletId),
    /// The tablet's last applied Raft membership, opaque bytes owned by the
    /// Raft glue; written in the batch of the entry that changed it.
    Membership(TabletId),
    /// This node hosts a replica of the tablet: opaque bytes owned by the
    /// node (its range and generation). Written and flushed when the replica
    /// is created, deleted when it leaves.
    LocalReplica(TabletId),
    /// A transaction prepared on the tablet and not yet resolved (two-phase
    /// commit): opaque bytes owned by the Raft glue, written in the batch
    /// of the entry that prepared it, deleted with its resolution.
    PreparedTxn(TabletId, u128),
    /// A decision the tablet recorded as a 2PC coordinator, kept until
    /// every participant applied it.
    DecidedTxn(TabletId, u128),
    /// The tablet is frozen for a merge into its left neighbour: opaque
    /// bytes owned by the transaction layer (whom it merges into, its
    /// floor), written in the batch of the entry that froze it.
    Frozen(TabletId),
    /// The merges the tablet (as the left neighbour) applied or abandoned,
    /// by right neighbour: opaque bytes owned by the transaction layer.
    Merges(TabletId),
}

impl MetaKey {
    /// The encoded key.
    pub fn encode(&self) -> Result<Vec<u8>> {
        Ok(keycode::serialize(self)?)
    }
}

fn decode_u64(bytes: &[u8], what: &'static str) -> Result<u64> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| StorageError::Corrupt {
        what,
        cf: Cf::Meta.name(),
        reason: format!("expected 8 bytes, found {}", bytes.len()),
    })?;
    Ok(u64::from_be_bytes(arr))
}

/// The tablet's applied index as of the engine's current state (0 if none).
pub fn applied_index(engine: &dyn Engine, tablet: TabletId) -> Result<u64> {
    match engine.get(Cf::Meta, &MetaKey::AppliedIndex(tablet).encode()?)? {
        Some(bytes) => decode_u64(&bytes, "applied index"),
        None => Ok(0),
    }
}

/// The tablet's stored applied index, `None` when nothing was applied (an
/// entry at index 0 may have been).
pub fn stored_applied_index(engine: &dyn Engine, tablet: TabletId) -> Result<Option<u64>> {
    engine
        .get(Cf::Meta, &MetaKey::AppliedIndex(tablet).encode()?)?
        .map(|bytes| decode_u64(&bytes, "applied index"))
        .transpose()
}

/// Queues `tablet`'s applied index; put it in the same batch as the entry's data.
pub fn set_applied_index(batch: &mut WriteBatch, tablet: TabletId, index: u64) -> Result<()> {
    batch.put(
        Cf::Meta,
        MetaKey::AppliedIndex(tablet).encode()?,
        index.to_be_bytes().to_vec(),
    );
    Ok(())
}

/// Queues removal of a tablet's applied index (the tablet left this node).
pub fn clear_applied_index(batch: &mut WriteBatch, tablet: TabletId) -> Result<()> {
    batch.delete(Cf::Meta, MetaKey::AppliedIndex(tablet).encode()?);
    Ok(())
}

/// Reads an opaque per-tablet value (`AppliedLogId`, `Membership`).
pub fn get_bytes(engine: &dyn Engine, key: &MetaKey) -> Result<Option<Vec<u8>>> {
    engine.get(Cf::Meta, &key.encode()?)
}

/// Queues an opaque per-tablet value; put it in the batch it belongs with.
pub fn put_bytes(batch: &mut WriteBatch, key: &MetaKey, value: Vec<u8>) -> Result<()> {
    batch.put(Cf::Meta, key.encode()?, value);
    Ok(())
}

/// Every `LocalReplica` entry: the tablets this node hosts, with their bytes.
pub fn local_replicas(engine: &dyn Engine) -> Result<Vec<(TabletId, Vec<u8>)>> {
    let range = ScanRange::new(
        Bound::Included(MetaKey::LocalReplica(0).encode()?),
        Bound::Included(MetaKey::LocalReplica(TabletId::MAX).encode()?),
    );
    let mut out = Vec::new();
    for item in engine.scan(Cf::Meta, range, Direction::Forward)? {
        let (key, value) = item?;
        match keycode::deserialize::<MetaKey>(&key)? {
            MetaKey::LocalReplica(tablet) => out.push((tablet, value.into_vec())),
            other => {
                return Err(StorageError::Corrupt {
                    what: "meta key",
                    cf: Cf::Meta.name(),
                    reason: format!("{other:?} inside the LocalReplica range"),
                });
            }
        }
    }
    Ok(out)
}

/// Every `PreparedTxn` (`decided == false`) or `DecidedTxn` entry of
/// `tablet`: transaction id and bytes.
pub fn txn_records(
    engine: &dyn Engine,
    tablet: TabletId,
    decided: bool,
) -> Result<Vec<(u128, Vec<u8>)>> {
    let key = |t: u128| {
        if decided {
            MetaKey::DecidedTxn(tablet, t)
        } else {
            MetaKey::PreparedTxn(tablet, t)
        }
    };
    let range = ScanRange::new(
        Bound::Included(key(0).encode()?),
        Bound::Included(key(u128::MAX).encode()?),
    );
    let mut out = Vec::new();
    for item in engine.scan(Cf::Meta, range, Direction::Forward)? {
        let (k, value) = item?;
        match keycode::deserialize::<MetaKey>(&k)? {
            MetaKey::PreparedTxn(t, txn) | MetaKey::DecidedTxn(t, txn) if t == tablet => {
                out.push((txn, value.into_vec()))
            }
            other => {
                return Err(StorageError::Corrupt {
                    what: "meta key",
                    cf: Cf::Meta.name(),
                    reason: format!("{other:?} inside tablet {tablet}'s transaction records"),
                });
            }
        }
    }
    Ok(out)
}

/// Queues removal of every transaction record of `tablet`.
pub fn clear_txn_records(
    engine: &dyn Engine,
    batch: &mut WriteBatch,
    tablet: TabletId,
) -> Result<()> {
    for (txn, _) in txn_records(engine, tablet, false)? {
        batch.delete(Cf::Meta, MetaKey::PreparedTxn(tablet, txn).encode()?);
    }
    for (txn, _) in txn_records(engine, tablet, true)? {
        batch.delete(Cf::Meta, MetaKey::DecidedTxn(tablet, txn).encode()?);
    }
    Ok(())
}

/// Queues removal of every meta key of a tablet (the tablet left this node)
/// but its transaction records ([`clear_txn_records`]).
pub fn clear_tablet(batch: &mut WriteBatch, tablet: TabletId) -> Result<()> {
    for key in [
        MetaKey::AppliedIndex(tablet),
        MetaKey::AppliedLogId(tablet),
        MetaKey::Membership(tablet),
        MetaKey::LocalReplica(tablet),
        MetaKey::Frozen(tablet),
        MetaKey::Merges(tablet),
    ] {
        batch.delete(Cf::Meta, key.encode()?);
    }
    Ok(())
}

/// The stored GC watermark (`Timestamp::MIN` if GC never ran).
pub fn gc_watermark(engine: &dyn Engine) -> Result<Timestamp> {
    match engine.get(Cf::Meta, &MetaKey::GcWatermark.encode()?)? {
        Some(bytes) => Ok(Timestamp::from_nanos(decode_u64(&bytes, "GC watermark")?)),
        None => Ok(Timestamp::MIN),
    }
}

/// Queues a new GC watermark.
pub fn set_gc_watermark(batch: &mut WriteBatch, watermark: Timestamp) -> Result<()> {
    batch.put(
        Cf::Meta,
        MetaKey::GcWatermark.encode()?,
        watermark.as_nanos().to_be_bytes().to_vec(),
    );
    Ok(())
}
