//! Column families: one per keyspace, named by constants.

/// A RocksDB column family (and the matching map in the memory engine).
///
/// | family     | key                                   | value                        |
/// |------------|---------------------------------------|------------------------------|
/// | `versions` | escaped user key ++ `!commit_ts` (BE) | put(bytes) or tombstone      |
/// | `intents`  | escaped user key                      | txn id, prepare ts, write    |
/// | `meta`     | `MetaKey` (keycode)                   | per-tablet applied index, GC |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cf {
    /// Committed MVCC versions, newest first within a key.
    Versions,
    /// Provisional writes of prepared transactions, at most one per key.
    Intents,
    /// Small bookkeeping: each tablet's applied Raft index (its pageLSN), the
    /// GC watermark.
    Meta,
}

impl Cf {
    /// Every column family, in a fixed order.
    pub const ALL: [Cf; 3] = [Cf::Versions, Cf::Intents, Cf::Meta];

    /// The column family's on-disk name.
    pub const fn name(self) -> &'static str {
        match self {
            Cf::Versions => "versions",
            Cf::Intents => "intents",
            Cf::Meta => "meta",
        }
    }
}
