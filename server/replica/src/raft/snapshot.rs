//! Tablet snapshots: every MVCC version and intent of the tablet's key range,
//! for a new or lagging replica (DESIGN.md §3).
//!
//! ```text
//!   [format u8][postcard SnapshotBody { tablet, range, max_ts, versions, intents,
//!                                       prepared, decided, gc_watermark }]
//! ```
//!
//! Built on the state-machine task (no entry is applied meanwhile, so the
//! scan is a consistent view at the applied log id), then the engine is
//! flushed: openraft purges the log up to a snapshot, and purged entries must
//! already be in flushed data (the purge-after-flush rule of the Raft log
//! store). Installing replaces the range's data, the applied mark and the
//! membership in one batch, then flushes for the same reason.
//!
//! HAZARD: the snapshot is materialised in memory (openraft 0.9 hands
//! snapshots around as `Cursor<Vec<u8>>`), so a tablet must stay well below
//! memory size; splitting keeps tablets small.

use serde::{Deserialize, Serialize};
use spanlite_storage::engine::{Cf, Direction, WriteBatch};
use spanlite_storage::meta::{self, MetaKey, TabletId};
use spanlite_storage::mvcc::Mvcc;
use spanlite_storage::{Result as StorageResult, StorageError};

use spanlite_truetime::Timestamp;

use super::apply::{AppliedMark, LocalReplica, write_local_replica, write_mark, write_membership};
use super::types::{RaftLogId, StoredMembership};
use spanlite_directory::KeyRange;

/// Everything a snapshot carries.
#[derive(Debug, Serialize, Deserialize)]
struct SnapshotBody {
    tablet: TabletId,
    range: KeyRange,
    /// The range's descriptor generation.
    generation: u64,
    /// The highest timestamp applied (the receiver's `s_max` floor).
    max_ts: Timestamp,
    versions: Vec<(Vec<u8>, Vec<u8>)>,
    intents: Vec<(Vec<u8>, Vec<u8>)>,
    /// The tablet's 2PC records (stored bytes), by transaction id.
    prepared: Vec<(u128, Vec<u8>)>,
    decided: Vec<(u128, Vec<u8>)>,
    /// The sender's GC watermark: versions below it may be missing, so the
    /// receiver refuses reads below it from then on.
    gc_watermark: Timestamp,
    /// Frozen for a merge (it then never changes again).
    frozen: Option<spanlite_txn::apply::Frozen>,
    /// The merges it applied or abandoned as a left neighbour.
    merges: std::collections::BTreeMap<TabletId, spanlite_txn::apply::MergeRecord>,
}

fn scan_cf(mvcc: &Mvcc, cf: Cf, range: &KeyRange) -> StorageResult<Vec<(Vec<u8>, Vec<u8>)>> {
    mvcc.engine()
        .scan(cf, range.storage_range(), Direction::Forward)?
        .map(|kv| kv.map(|(k, v)| (k.into_vec(), v.into_vec())))
        .collect()
}

/// The snapshot bytes of `tablet`'s data in `range`, as of now, with the
/// highest timestamp applied so far.
pub fn build(
    mvcc: &Mvcc,
    tablet: TabletId,
    state: &spanlite_txn::apply::TabletState,
) -> StorageResult<Vec<u8>> {
    let range = &state.range;
    let body = SnapshotBody {
        tablet,
        range: range.clone(),
        generation: state.generation,
        max_ts: state.max_ts,
        versions: scan_cf(mvcc, Cf::Versions, range)?,
        intents: scan_cf(mvcc, Cf::Intents, range)?,
        prepared: meta::txn_records(mvcc.engine().as_ref(), tablet, false)?,
        decided: meta::txn_records(mvcc.engine().as_ref(), tablet, true)?,
        gc_watermark: mvcc.gc_watermark(),
        frozen: state.frozen,
        merges: state.merges.clone(),
    };
    meta::encode_value(&body, "snapshot")
}

/// What [`install`] found in a snapshot.
#[derive(Debug)]
pub struct Installed {
    /// The key range the snapshot covered.
    pub range: KeyRange,
    /// Its descriptor generation.
    pub generation: u64,
    /// Versions and intents written.
    pub keys: usize,
    /// The applied mark written: the snapshot's log id, and the higher of
    /// the receiver's and the snapshot's `max_ts`.
    pub mark: AppliedMark,
    /// The 2PC records installed.
    pub txns: spanlite_txn::twopc::TxnRecords,
    /// Its freeze for a merge, if frozen.
    pub frozen: Option<spanlite_txn::apply::Frozen>,
    /// The merges it applied or abandoned as a left neighbour.
    pub merges: std::collections::BTreeMap<TabletId, spanlite_txn::apply::MergeRecord>,
}

/// Replaces `tablet`'s data with the snapshot `data`, and sets its applied
/// mark (at `log_id`) and membership, in one batch; then flushes the engine.
pub fn install(
    mvcc: &Mvcc,
    tablet: TabletId,
    data: &[u8],
    log_id: Option<RaftLogId>,
    prior_max_ts: Timestamp,
    membership: &StoredMembership,
) -> StorageResult<Installed> {
    let body: SnapshotBody = meta::decode_value(data, "snapshot")?;
    if body.tablet != tablet {
        return Err(StorageError::Corrupt {
            what: "snapshot",
            cf: "-",
            reason: format!(
                "snapshot of tablet {} offered to tablet {tablet}",
                body.tablet
            ),
        });
    }
    // Before the data: no read below it may start once it is there.
    mvcc.raise_watermark(body.gc_watermark)?;
    let mut batch = WriteBatch::new();
    for cf in [Cf::Versions, Cf::Intents] {
        for (key, _) in scan_cf(mvcc, cf, &body.range)? {
            batch.delete(cf, key);
        }
    }
    meta::clear_txn_records(mvcc.engine().as_ref(), &mut batch, tablet)?;
    for (txn, bytes) in body.prepared {
        batch.put(Cf::Meta, MetaKey::PreparedTxn(tablet, txn).encode()?, bytes);
    }
    for (txn, bytes) in body.decided {
        batch.put(Cf::Meta, MetaKey::DecidedTxn(tablet, txn).encode()?, bytes);
    }
    let keys = body.versions.len() + body.intents.len();
    for (k, v) in body.versions {
        batch.put(Cf::Versions, k, v);
    }
    for (k, v) in body.intents {
        batch.put(Cf::Intents, k, v);
    }
    let mark = AppliedMark {
        log_id,
        max_ts: prior_max_ts.max(body.max_ts),
    };
    write_mark(&mut batch, tablet, &mark)?;
    write_membership(&mut batch, tablet, membership)?;
    write_local_replica(
        &mut batch,
        tablet,
        &LocalReplica {
            range: body.range.clone(),
            generation: body.generation,
            floor: Timestamp::MIN,
            initial_members: None,
        },
    )?;
    match &body.frozen {
        Some(frozen) => meta::put_bytes(
            &mut batch,
            &MetaKey::Frozen(tablet),
            meta::encode_value(frozen, "freeze record")?,
        )?,
        None => batch.delete(Cf::Meta, MetaKey::Frozen(tablet).encode()?),
    }
    meta::put_bytes(
        &mut batch,
        &MetaKey::Merges(tablet),
        meta::encode_value(&body.merges, "merge records")?,
    )?;
    mvcc.apply(batch)?;
    mvcc.engine().flush()?;
    Ok(Installed {
        range: body.range,
        generation: body.generation,
        keys,
        mark,
        txns: spanlite_txn::apply::load_txn_records(mvcc, tablet)?,
        frozen: body.frozen,
        merges: body.merges,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use spanlite_storage::engine::MemoryEngine;
    use spanlite_truetime::Timestamp;

    use super::*;

    fn mvcc() -> Mvcc {
        Mvcc::open(Arc::new(MemoryEngine::new())).unwrap()
    }

    fn put(m: &Mvcc, key: &[u8], ts: u64, value: &[u8]) {
        let mut b = WriteBatch::new();
        m.put(&mut b, key, Timestamp::from_nanos(ts), value);
        m.apply(b).unwrap();
    }

    fn state(range: KeyRange, max_ts: u64) -> spanlite_txn::apply::TabletState {
        spanlite_txn::apply::TabletState {
            max_ts: Timestamp::from_nanos(max_ts),
            range,
            generation: 3,
            txns: Default::default(),
            frozen: None,
            merges: Default::default(),
        }
    }

    fn get(m: &Mvcc, key: &[u8]) -> Option<Vec<u8>> {
        m.get(key, Timestamp::MAX).unwrap().ready().unwrap()
    }

    #[test]
    fn install_replaces_the_range_and_leaves_other_tablets_alone() {
        let src = mvcc();
        put(&src, b"b1", 5, b"old");
        put(&src, b"b1", 9, b"new");
        put(&src, b"c", 5, b"x");
        put(&src, b"z", 5, b"other tablet");
        let range = KeyRange::new(b"b".to_vec(), b"d".to_vec());
        let data = build(&src, 7, &state(range.clone(), 9)).unwrap();

        let dst = mvcc();
        put(&dst, b"b2", 3, b"stale, not in the snapshot");
        put(&dst, b"y", 3, b"outside the range");
        let installed = install(
            &dst,
            7,
            &data,
            None,
            Timestamp::from_nanos(4),
            &StoredMembership::default(),
        )
        .unwrap();
        assert_eq!(installed.range, range);
        assert_eq!(installed.generation, 3);
        assert_eq!(installed.mark.max_ts, Timestamp::from_nanos(9));
        assert_eq!(installed.keys, 3);
        assert_eq!(get(&dst, b"b1"), Some(b"new".to_vec()));
        assert_eq!(
            dst.get(b"b1", Timestamp::from_nanos(6))
                .unwrap()
                .ready()
                .unwrap(),
            Some(b"old".to_vec()),
            "history travels with the snapshot"
        );
        assert_eq!(get(&dst, b"c"), Some(b"x".to_vec()));
        assert_eq!(get(&dst, b"b2"), None);
        assert_eq!(get(&dst, b"z"), None);
        assert_eq!(get(&dst, b"y"), Some(b"outside the range".to_vec()));
    }

    #[test]
    fn snapshot_of_another_tablet_is_refused() {
        let src = mvcc();
        let data = build(&src, 7, &state(KeyRange::all(), 0)).unwrap();
        let err = install(
            &mvcc(),
            8,
            &data,
            None,
            Timestamp::MIN,
            &StoredMembership::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("tablet 7 offered to tablet 8"),
            "{err}"
        );
    }
}
