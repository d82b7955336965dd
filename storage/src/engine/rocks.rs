//! The RocksDB engine, with every option chosen on purpose.
//!
//! | option | value | why |
//! |---|---|---|
//! | RocksDB WAL | **off** for every write | the node WAL is the only log (DESIGN.md §4); memtables are the buffer pool |
//! | `atomic_flush` | on | a flush persists all column families at one sequence number, so a tablet's data and its applied index (pageLSN) never disagree on disk |
//! | `avoid_flush_during_shutdown` | on | closing == crashing; recovery is the one path back, and tests exercise it by dropping the engine |
//! | block cache | one LRU shared by all families (`RocksConfig::block_cache_bytes`) | one memory budget per node |
//! | index/filter blocks | in the block cache | bounded memory with many SST files |
//! | `versions` bloom | 10 bits/key on the *user key* prefix (key minus its 8-byte timestamp), plus a memtable prefix bloom | point reads look up one user key at an unknown version; whole-key filters would never match |
//! | `intents` bloom | 10 bits/key, whole key | intents are looked up by exact user key |
//! | compression | LZ4 | cheap to build (no other codecs compiled) and fast to decompress |
//! | read cache | each user key's newest version and each key's intent, in a hash map (`RocksConfig::read_cache_bytes`), kept exact by `write` | a strong point read then builds no iterator (`read_cache`) |

use std::fmt;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType,
    FlushOptions, IteratorMode, Options, ReadOptions, SliceTransform, WriteOptions,
    statistics::Ticker,
};

use super::kv_engine::first_version_by_scan;
use super::read_cache::{Lookup, ReadCache};
use super::{BatchOp, Cf, Direction, Engine, KvIter, ScanRange, WriteBatch};
use crate::error::{Result, StorageError};

/// Bytes of timestamp at the end of every `versions` key.
const VERSION_TS_LEN: usize = 8;

/// Settings for [`RocksEngine::open`].
#[derive(Clone, Debug)]
pub struct RocksConfig {
    /// Directory of the database (created if missing).
    pub path: PathBuf,
    /// Size of the block cache shared by all column families.
    pub block_cache_bytes: usize,
    /// Memtable size per column family before RocksDB flushes it on its own.
    pub write_buffer_bytes: usize,
    /// Collect RocksDB statistics (tickers); costs a few percent of throughput.
    pub statistics: bool,
    /// Memory for the read cache (newest versions and intents by key; see
    /// `read_cache`); 0 turns it off.
    pub read_cache_bytes: usize,
}

impl RocksConfig {
    /// Defaults for a node: 128 MiB block cache, 32 MiB memtables, no
    /// statistics, a 32 MiB read cache.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            block_cache_bytes: 128 << 20,
            write_buffer_bytes: 32 << 20,
            statistics: false,
            read_cache_bytes: 32 << 20,
        }
    }
}

/// RocksDB behind the [`Engine`] trait. See the module docs for its options.
pub struct RocksEngine {
    db: DB,
    options: Options,
    path: PathBuf,
    // Kept alive for as long as the DB uses it.
    _cache: Cache,
    /// Newest `versions` entry by escaped user key (`None`: no version).
    newest_versions: ReadCache<Option<(Vec<u8>, Vec<u8>)>>,
    /// `intents` values by key (`None`: no intent).
    intents: ReadCache<Option<Vec<u8>>>,
    /// Held across a write and its read-cache updates.
    write_order: Mutex<()>,
}

impl fmt::Debug for RocksEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksEngine")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Prefix of a `versions` key for bloom filters: the escaped user key.
fn version_prefix(key: &[u8]) -> &[u8] {
    &key[..key.len().saturating_sub(VERSION_TS_LEN)]
}

fn version_in_domain(key: &[u8]) -> bool {
    key.len() > VERSION_TS_LEN
}

impl RocksEngine {
    /// Opens (or creates) the database at `config.path` with all column families.
    pub fn open(config: RocksConfig) -> Result<Self> {
        let cache = Cache::new_lru_cache(config.block_cache_bytes);

        // Closing must not flush memtables (closing == crashing; see the
        // module docs). The crate has no setter for this option, so it goes
        // through RocksDB's option-string parser.
        let mut db_opts = Options::default()
            .get_options_from_string("avoid_flush_during_shutdown=true")
            .map_err(StorageError::rocks("parse options"))?;
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_atomic_flush(true);
        db_opts.set_max_background_jobs(2);
        if config.statistics {
            db_opts.enable_statistics();
        }

        let cfs = Cf::ALL.iter().map(|&cf| {
            let mut opts = Options::default();
            opts.set_compression_type(DBCompressionType::Lz4);
            opts.set_write_buffer_size(config.write_buffer_bytes);
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(&cache);
            table.set_cache_index_and_filter_blocks(true);
            match cf {
                Cf::Versions => {
                    table.set_bloom_filter(10.0, false);
                    table.set_whole_key_filtering(false);
                    opts.set_prefix_extractor(SliceTransform::create(
                        "spanlite.version_user_key",
                        version_prefix,
                        Some(version_in_domain),
                    ));
                    opts.set_memtable_prefix_bloom_ratio(0.1);
                }
                Cf::Intents => table.set_bloom_filter(10.0, false),
                Cf::Meta => {}
            }
            opts.set_block_based_table_factory(&table);
            ColumnFamilyDescriptor::new(cf.name(), opts)
        });

        let db = DB::open_cf_descriptors(&db_opts, &config.path, cfs)
            .map_err(StorageError::rocks("open"))?;
        Ok(Self {
            db,
            options: db_opts,
            path: config.path,
            _cache: cache,
            // Versions are read far more than intents are found.
            newest_versions: ReadCache::new(config.read_cache_bytes / 4 * 3),
            intents: ReadCache::new(config.read_cache_bytes / 4),
            write_order: Mutex::new(()),
        })
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn cf(&self, cf: Cf) -> Result<&ColumnFamily> {
        self.db
            .cf_handle(cf.name())
            .ok_or_else(|| StorageError::Corrupt {
                what: "column family",
                cf: cf.name(),
                reason: "missing from the open database".into(),
            })
    }

    /// A RocksDB statistics ticker (0 unless `RocksConfig::statistics`).
    pub fn ticker(&self, ticker: Ticker) -> u64 {
        self.options.get_ticker_count(ticker)
    }

    /// Bytes RocksDB has written to its own WAL since open (statistics must be
    /// on). INVARIANT: always 0 — the node WAL is the only log.
    pub fn rocksdb_wal_bytes(&self) -> u64 {
        self.ticker(Ticker::WalFileBytes)
    }

    /// Total size of RocksDB's `*.log` (WAL) files in the database directory.
    /// INVARIANT: always 0, for the same reason; this check needs no statistics.
    pub fn rocksdb_wal_file_bytes(&self) -> Result<u64> {
        let io = |source| StorageError::Io {
            context: format!("listing {}", self.path.display()),
            source,
        };
        let mut total = 0;
        for entry in std::fs::read_dir(&self.path).map_err(io)? {
            let entry = entry.map_err(io)?;
            if entry.path().extension().is_some_and(|e| e == "log") {
                total += entry.metadata().map_err(io)?.len();
            }
        }
        Ok(total)
    }
}

impl RocksEngine {
    fn get_uncached(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let handle = self.cf(cf)?;
        Ok(self
            .db
            .get_pinned_cf(handle, key)
            .map_err(StorageError::rocks("get"))?
            .map(|v| v.to_vec()))
    }

    /// Brings the read cache up to date with `op`, just applied (under
    /// `write_order`, see `write`).
    fn note_written(&self, op: &BatchOp) {
        match op {
            // Version keys sort newest first: a put at or before the cached
            // newest is the newest now (at: the same version written again).
            BatchOp::Put {
                cf: Cf::Versions,
                key,
                value,
            } => self.newest_versions.update(version_prefix(key), |newest| {
                if newest.as_ref().is_none_or(|(k, _)| key <= k) {
                    *newest = Some((key.clone(), value.clone()));
                }
                true
            }),
            // Removing an older version leaves the newest; the newest gone,
            // the next is unknown here.
            BatchOp::Delete {
                cf: Cf::Versions,
                key,
            } => self.newest_versions.update(version_prefix(key), |newest| {
                newest.as_ref().is_none_or(|(k, _)| k < key)
            }),
            BatchOp::Put {
                cf: Cf::Intents,
                key,
                value,
            } => self.intents.update(key, |intent| {
                *intent = Some(value.clone());
                true
            }),
            BatchOp::Delete {
                cf: Cf::Intents,
                key,
            } => self.intents.update(key, |intent| {
                *intent = None;
                true
            }),
            BatchOp::Put { cf: Cf::Meta, .. } | BatchOp::Delete { cf: Cf::Meta, .. } => {}
        }
    }

    /// Drops what the read cache holds for `op`'s key.
    fn forget(&self, op: &BatchOp) {
        let (BatchOp::Put { cf, key, .. } | BatchOp::Delete { cf, key }) = op;
        match cf {
            Cf::Versions => self.newest_versions.invalidate(version_prefix(key)),
            Cf::Intents => self.intents.invalidate(key),
            Cf::Meta => {}
        }
    }
}

impl Engine for RocksEngine {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if cf != Cf::Intents {
            return self.get_uncached(cf, key);
        }
        match self.intents.lookup(key) {
            Lookup::Hit(value) => Ok(value),
            Lookup::Miss(ticket) => {
                let value = self.get_uncached(cf, key)?;
                self.intents.fill(ticket, key, value.clone());
                Ok(value)
            }
        }
    }

    fn first_version(&self, prefix: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        match self.newest_versions.lookup(prefix) {
            Lookup::Hit(found) => Ok(found),
            Lookup::Miss(ticket) => {
                let found = first_version_by_scan(self, prefix)?;
                self.newest_versions.fill(ticket, prefix, found.clone());
                Ok(found)
            }
        }
    }

    fn scan(&self, cf: Cf, range: ScanRange, direction: Direction) -> Result<KvIter<'_>> {
        if range.is_empty() {
            return Ok(Box::new(std::iter::empty()));
        }
        let handle = self.cf(cf)?;
        let mut opts = ReadOptions::default();
        if range.single_prefix {
            opts.set_prefix_same_as_start(true);
        } else {
            opts.set_total_order_seek(true);
        }
        let mut skip_first = None;
        match &range.start {
            Bound::Included(s) => opts.set_iterate_lower_bound(s.clone()),
            Bound::Excluded(s) => {
                opts.set_iterate_lower_bound(s.clone());
                skip_first = Some(s.clone());
            }
            Bound::Unbounded => {}
        }
        match &range.end {
            // The smallest key above `e` is `e ++ [0]`.
            Bound::Included(e) => {
                let mut upper = e.clone();
                upper.push(0);
                opts.set_iterate_upper_bound(upper);
            }
            Bound::Excluded(e) => opts.set_iterate_upper_bound(e.clone()),
            Bound::Unbounded => {}
        }
        let mode = match direction {
            Direction::Forward => IteratorMode::Start,
            Direction::Reverse => IteratorMode::End,
        };
        let iter = self
            .db
            .iterator_cf_opt(handle, opts, mode)
            .map(|item| item.map_err(StorageError::rocks("iterate")))
            .filter(move |item| match (item, &skip_first) {
                (Ok((k, _)), Some(s)) => k.as_ref() != s.as_slice(),
                _ => true,
            });
        Ok(Box::new(iter))
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        let mut wb = rocksdb::WriteBatch::default();
        for op in batch.ops() {
            match op {
                BatchOp::Put { cf, key, value } => wb.put_cf(self.cf(*cf)?, key, value),
                BatchOp::Delete { cf, key } => wb.delete_cf(self.cf(*cf)?, key),
            }
        }
        let mut opts = WriteOptions::default();
        // INVARIANT: RocksDB's WAL is never used (see the module docs).
        opts.disable_wal(true);
        // INVARIANT: the read cache learns of batches in the order the
        // database applied them, each after it is in (`read_cache`): a
        // write and its cache updates are one step under this lock.
        let _in_order = self
            .write_order
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let written = self
            .db
            .write_opt(wb, &opts)
            .map_err(StorageError::rocks("write"));
        for op in batch.ops() {
            if written.is_ok() {
                self.note_written(op);
            } else {
                // A failed batch may have been partly applied: forget.
                self.forget(op);
            }
        }
        written
    }

    fn flush(&self) -> Result<()> {
        let handles = Cf::ALL
            .iter()
            .map(|&cf| self.cf(cf))
            .collect::<Result<Vec<_>>>()?;
        let mut opts = FlushOptions::default();
        opts.set_wait(true);
        self.db
            .flush_cfs_opt(&handles, &opts)
            .map_err(StorageError::rocks("atomic flush"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(prefix: &[u8], ts: u64) -> Vec<u8> {
        let mut k = prefix.to_vec();
        k.extend_from_slice(&(!ts).to_be_bytes());
        k
    }

    fn cached(engine: &RocksEngine, prefix: &[u8]) -> Option<Option<(Vec<u8>, Vec<u8>)>> {
        match engine.newest_versions.lookup(prefix) {
            Lookup::Hit(v) => Some(v),
            Lookup::Miss(_) => None,
        }
    }

    fn write(engine: &RocksEngine, ops: &[(bool, Vec<u8>)]) {
        let mut b = WriteBatch::new();
        for (put, key) in ops {
            if *put {
                b.put(Cf::Versions, key.clone(), key.clone());
            } else {
                b.delete(Cf::Versions, key.clone());
            }
        }
        engine.write(b).unwrap();
    }

    /// Writes keep a cached newest version exact without dropping it: a
    /// newer version replaces it, an older one or the removal of an older
    /// one leaves it; removing the newest itself forgets it.
    #[test]
    fn writes_keep_the_cached_newest_version_exact() {
        let dir = tempfile::tempdir().unwrap();
        let engine = RocksEngine::open(RocksConfig::new(dir.path())).unwrap();
        let p = b"k\x00\x01".to_vec();
        assert_eq!(engine.first_version(&p).unwrap(), None);
        assert_eq!(cached(&engine, &p), Some(None), "a miss is filled");
        write(&engine, &[(true, version(&p, 5))]);
        let v5 = Some((version(&p, 5), version(&p, 5)));
        assert_eq!(cached(&engine, &p), Some(v5.clone()), "the first version");
        write(&engine, &[(true, version(&p, 3)), (true, version(&p, 9))]);
        let v9 = Some((version(&p, 9), version(&p, 9)));
        assert_eq!(cached(&engine, &p), Some(v9.clone()), "the newer one");
        write(&engine, &[(false, version(&p, 3)), (false, version(&p, 5))]);
        assert_eq!(cached(&engine, &p), Some(v9.clone()), "older ones removed");
        assert_eq!(engine.first_version(&p).unwrap(), v9);
        write(&engine, &[(false, version(&p, 9))]);
        assert_eq!(cached(&engine, &p), None, "the newest removed: unknown");
        assert_eq!(engine.first_version(&p).unwrap(), None);
    }
}
