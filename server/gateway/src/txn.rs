//! A transaction of either kind ([`Txn`]: read-write or read-only) as
//! [`Gateway::begin_with`] starts it from [`TxnOptions`], its concurrency
//! control ([`TxnMode`]), and [`Gateway::run_txn`], which runs a
//! transaction body with retries (backoff, same priority, so a retried
//! transaction ages and wins wound-wait).

use std::sync::atomic::Ordering;

use spanlite_proto::common;
use spanlite_storage::mvcc::TxnId;
use spanlite_truetime::Timestamp;
use spanlite_txn::retry::Retry;

use super::read_only::ReadOnly;
use super::transaction::Transaction;
use super::{Gateway, GatewayError};

/// How a read-write transaction controls concurrency (DESIGN.md §6; the
/// optimistic modes' algorithm is in `spanlite_txn::actions::validate`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxnMode {
    /// Two-phase locking with wound-wait (the default): reads lock.
    #[default]
    TwoPhaseLocking,
    /// Optimistic: lock-free reads of the newest data, validated at commit.
    Optimistic,
    /// Serializable snapshot isolation: lock-free reads at one snapshot,
    /// validated at commit (read refresh), first committer wins.
    SerializableSnapshot,
    /// Snapshot isolation, weaker than serializable (write skew is
    /// possible): reads at one snapshot, first committer wins.
    Snapshot,
    /// Read committed, PostgreSQL's default level: each statement reads at
    /// a snapshot of its own, without locks; the rows it writes (UPDATE,
    /// DELETE, `SELECT … FOR UPDATE`) are read newest under exclusive locks
    /// held to the end, so nothing is lost between a read for update and
    /// the write, and nothing is validated at commit. Weaker than SI: a
    /// later statement sees what others committed since (non-repeatable
    /// reads, write skew).
    ReadCommitted,
}

impl TxnMode {
    /// Every mode, in the order tables print them.
    pub const ALL: [TxnMode; 5] = [
        TxnMode::TwoPhaseLocking,
        TxnMode::Optimistic,
        TxnMode::SerializableSnapshot,
        TxnMode::Snapshot,
        TxnMode::ReadCommitted,
    ];

    /// The name SQL uses (`SET TRANSACTION CONCURRENCY '2pl'`): `2pl`,
    /// `occ`, `ssi`, `si`, `rc`.
    pub fn name(self) -> &'static str {
        match self {
            TxnMode::TwoPhaseLocking => "2pl",
            TxnMode::Optimistic => "occ",
            TxnMode::SerializableSnapshot => "ssi",
            TxnMode::Snapshot => "si",
            TxnMode::ReadCommitted => "rc",
        }
    }

    /// The mode called `name` (case-insensitive).
    pub fn parse(name: &str) -> Option<TxnMode> {
        TxnMode::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name.trim()))
    }

    /// True for the serializable modes (all but SI and RC).
    pub fn is_serializable(self) -> bool {
        !matches!(self, TxnMode::Snapshot | TxnMode::ReadCommitted)
    }

    /// True for the modes whose locking reads (for update) take locks at
    /// the leader when they read: 2PL (every read) and RC (reads for
    /// update; its other reads are lock-free snapshot reads).
    pub fn locks_reads(self) -> bool {
        matches!(self, TxnMode::TwoPhaseLocking | TxnMode::ReadCommitted)
    }

    pub(crate) fn wire(self) -> common::ConcurrencyMode {
        match self {
            TxnMode::TwoPhaseLocking => common::ConcurrencyMode::ConcurrencyMode2pl,
            TxnMode::ReadCommitted => common::ConcurrencyMode::ReadCommitted,
            TxnMode::Optimistic => common::ConcurrencyMode::Occ,
            TxnMode::SerializableSnapshot => common::ConcurrencyMode::Ssi,
            TxnMode::Snapshot => common::ConcurrencyMode::Si,
        }
    }
}

impl std::fmt::Display for TxnMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Options of [`Gateway::begin_with`] and [`Gateway::run_txn`].
#[derive(Clone, Debug, Default)]
pub struct TxnOptions {
    /// Concurrency control of a read-write transaction.
    pub mode: TxnMode,
    /// A read-only transaction: lock-free reads at one snapshot.
    pub read_only: bool,
    /// Read-only at exactly this timestamp (`AS OF SYSTEM TIME`).
    pub as_of: Option<Timestamp>,
    /// Read-only at exactly this long ago by the gateway's clock (exact
    /// staleness): any up-to-date replica may serve it, followers too.
    pub staleness: Option<std::time::Duration>,
    /// Read-only, one statement (a lone SELECT): its first point read may
    /// be served at its tablet's last commit timestamp (LastTS), without
    /// waiting for writes in flight; a later read of a tablet with a newer
    /// commit then fails with `SnapshotBehind` (retry without it).
    pub last_ts: bool,
}

/// A transaction of either kind, as [`Gateway::begin_with`] starts it.
#[derive(Debug)]
pub enum Txn {
    /// Read-write (2PL, OCC, SSI or SI).
    ReadWrite(Transaction),
    /// Read-only (lock-free snapshot).
    ReadOnly(ReadOnly),
}

fn read_only_refuses(what: &str) -> GatewayError {
    GatewayError::ReadOnly(what.to_string())
}

impl Txn {
    /// The values of `keys` (locked for writing if `for_update`), with
    /// one Read call per tablet.
    pub async fn get_many(
        &mut self,
        keys: &[Vec<u8>],
        for_update: bool,
    ) -> Result<Vec<Option<Vec<u8>>>, GatewayError> {
        match self {
            Txn::ReadWrite(t) => t.get_many(keys, for_update).await,
            Txn::ReadOnly(_) if for_update => Err(read_only_refuses("a locking read")),
            Txn::ReadOnly(r) => r.get_many(keys).await,
        }
    }

    /// A statement begins (RC reads each at a snapshot of its own).
    pub fn begin_statement(&mut self) {
        if let Txn::ReadWrite(t) = self {
            t.begin_statement();
        }
    }

    /// The read-write transaction, if it is one.
    pub fn read_write(&mut self) -> Option<&mut Transaction> {
        match self {
            Txn::ReadWrite(t) => Some(t),
            Txn::ReadOnly(_) => None,
        }
    }

    /// The value of `key` as the transaction sees it.
    pub async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, GatewayError> {
        match self {
            Txn::ReadWrite(t) => t.get(key, false).await,
            Txn::ReadOnly(r) => r.get(key).await,
        }
    }

    /// The value of `key` under an exclusive lock (`SELECT … FOR UPDATE`).
    pub async fn get_for_update(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, GatewayError> {
        match self {
            Txn::ReadWrite(t) => t.get(key, true).await,
            Txn::ReadOnly(_) => Err(read_only_refuses("a locking read")),
        }
    }

    /// The pairs in `[start, end)` (empty `end`: to the end of the
    /// keyspace), across tablets.
    pub async fn scan(
        &mut self,
        start: &[u8],
        end: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, GatewayError> {
        match self {
            Txn::ReadWrite(t) => t.scan(start, end).await,
            Txn::ReadOnly(r) => r.scan(start, end, 0).await,
        }
    }

    /// The first pairs of `[start, end)`, about `limit`, and where the rest
    /// begins if that cut the read short; `reverse`: the last ones, in
    /// descending key order, and where the rest ends (see
    /// [`Transaction::scan_prefix`]).
    pub async fn scan_prefix(
        &mut self,
        start: &[u8],
        end: &[u8],
        limit: usize,
        for_update: bool,
        reverse: bool,
    ) -> Result<(Vec<(Vec<u8>, Vec<u8>)>, Option<Vec<u8>>), GatewayError> {
        match self {
            Txn::ReadWrite(t) => t.scan_prefix(start, end, limit, for_update, reverse).await,
            Txn::ReadOnly(_) if for_update => Err(read_only_refuses("a locking read")),
            Txn::ReadOnly(r) => r.scan_prefix(start, end, limit.max(1), reverse).await,
        }
    }

    /// The pairs in `[start, end)` with the rows found locked for update
    /// (see [`Transaction::scan_for_update`]).
    pub async fn scan_for_update(
        &mut self,
        start: &[u8],
        end: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, GatewayError> {
        match self {
            Txn::ReadWrite(t) => Ok(t.scan_for_update(start, end, 0).await?.0),
            Txn::ReadOnly(_) => Err(read_only_refuses("a locking read")),
        }
    }

    /// See [`Transaction::scan_unlocked`].
    pub async fn scan_unlocked(
        &mut self,
        start: &[u8],
        end: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, GatewayError> {
        match self {
            Txn::ReadWrite(t) => t.scan_unlocked(start, end).await,
            Txn::ReadOnly(_) => Err(read_only_refuses("a locking read")),
        }
    }

    /// See [`Transaction::get_many_unlocked`].
    pub async fn get_many_unlocked(
        &mut self,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Vec<u8>>>, GatewayError> {
        match self {
            Txn::ReadWrite(t) => t.get_many_unlocked(keys).await,
            Txn::ReadOnly(_) => Err(read_only_refuses("a locking read")),
        }
    }

    /// See [`Transaction::get_many_skip_locked`].
    pub async fn get_many_skip_locked(
        &mut self,
        keys: &[Vec<u8>],
    ) -> Result<crate::transaction::Locked, GatewayError> {
        match self {
            Txn::ReadWrite(t) => t.get_many_skip_locked(keys).await,
            Txn::ReadOnly(_) => Err(read_only_refuses("a locking read")),
        }
    }

    /// Buffers `key = value`.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), GatewayError> {
        match self {
            Txn::ReadWrite(t) => {
                t.put(key, value);
                Ok(())
            }
            Txn::ReadOnly(_) => Err(read_only_refuses("a write")),
        }
    }

    /// Buffers a delete of `key`.
    pub fn delete(&mut self, key: Vec<u8>) -> Result<(), GatewayError> {
        match self {
            Txn::ReadWrite(t) => {
                t.delete(key);
                Ok(())
            }
            Txn::ReadOnly(_) => Err(read_only_refuses("a delete")),
        }
    }

    /// Commits; returns the commit timestamp (a read-only transaction: its
    /// snapshot timestamp, `Timestamp::MIN` if it read nothing).
    pub async fn commit(self) -> Result<Timestamp, GatewayError> {
        match self {
            Txn::ReadWrite(t) => t.commit().await,
            Txn::ReadOnly(r) => Ok(r.timestamp().unwrap_or(Timestamp::MIN)),
        }
    }

    /// Gives up, releasing whatever the transaction holds.
    pub async fn rollback(self) {
        if let Txn::ReadWrite(t) = self {
            t.rollback().await;
        }
    }

    /// Gives up after abandoning a read of `[start, end)` mid-flight; see
    /// [`Transaction::rollback_abandoning`].
    pub async fn rollback_abandoning(self, start: &[u8], end: &[u8]) {
        if let Txn::ReadWrite(t) = self {
            t.rollback_abandoning(start, end).await;
        }
    }
}

/// A cluster-unique transaction id: a per-process random-ish prefix and a
/// counter.
fn next_txn_id() -> TxnId {
    use std::sync::OnceLock;
    use std::sync::atomic::AtomicU64;
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let prefix = *PREFIX.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos ^ (u64::from(std::process::id()) << 40) ^ 0x9e37_79b9_7f4a_7c15
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    TxnId((u128::from(prefix) << 64) | u128::from(n))
}

/// Now by the local clock, as a wound-wait priority.
fn priority_now() -> Timestamp {
    Timestamp::from_nanos(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
    )
}

/// How long [`Gateway::run_txn`] keeps retrying.
const RUN_TXN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// Jitter for retry pauses (`spanlite_truetime::Backoff`): retries of
/// clashing transactions spread out.
pub fn jitter() -> u32 {
    spanlite_truetime::random_jitter()
}

impl Gateway {
    /// The wound-wait priority of a transaction beginning now (the local
    /// clock's reading): younger than every transaction begun before.
    pub fn priority_now(&self) -> Timestamp {
        priority_now()
    }

    /// Retries of a transaction beginning now: every attempt keeps this
    /// first attempt's priority (`spanlite_txn::retry`).
    pub fn retry(&self) -> Retry {
        Retry::new(priority_now(), RUN_TXN_DEADLINE)
    }

    /// Starts a transaction as `options` say; read-write transactions get a
    /// fresh id and their begin time as priority.
    pub fn begin_with(&self, options: &TxnOptions) -> Result<Txn, GatewayError> {
        self.begin_at_priority(options, priority_now())
    }

    /// Starts a transaction as `options` say at wound-wait `priority` (a
    /// retried transaction's first attempt's, see [`Gateway::retry`]).
    pub fn begin_at_priority(
        &self,
        options: &TxnOptions,
        priority: Timestamp,
    ) -> Result<Txn, GatewayError> {
        let as_of = match (options.as_of, options.staleness) {
            (Some(_), Some(_)) => {
                return Err(GatewayError::Invalid(
                    "a read-only transaction takes a timestamp or a staleness, not both"
                        .to_string(),
                ));
            }
            (Some(ts), None) => Some(ts),
            (None, Some(ago)) => Some(priority_now().saturating_sub(ago)),
            (None, None) => None,
        };
        if options.read_only || as_of.is_some() {
            return Ok(Txn::ReadOnly(match as_of {
                Some(ts) => self.read_only_at(ts),
                None if options.last_ts => self.read_only_last_ts(),
                None => self.read_only(),
            }));
        }
        Ok(Txn::ReadWrite(self.begin_mode(
            next_txn_id(),
            priority,
            options.mode,
        )))
    }

    /// Runs `body` in a transaction and commits it, retrying the whole
    /// transaction (with backoff, for up to 30 s) while it fails with a
    /// retryable error: aborted (wounded, lock timeout, prepare failed) or
    /// unavailable. Retries keep the first attempt's priority. Returns the
    /// body's result and the commit timestamp.
    ///
    /// ```ignore
    /// let (balance, ts) = gateway
    ///     .run_txn(&TxnOptions::default(), |txn| Box::pin(async move {
    ///         let v = txn.get(b"k").await?;
    ///         txn.put(b"k".to_vec(), b"v".to_vec())?;
    ///         Ok(v)
    ///     }))
    ///     .await?;
    /// ```
    pub async fn run_txn<T, F>(
        &self,
        options: &TxnOptions,
        mut body: F,
    ) -> Result<(T, Timestamp), GatewayError>
    where
        F: for<'t> FnMut(
            &'t mut Txn,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, GatewayError>> + Send + 't>,
        >,
    {
        let mut retry = self.retry();
        let start = std::time::Instant::now();
        loop {
            let mut txn = self.begin_at_priority(options, retry.priority())?;
            let outcome = match body(&mut txn).await {
                Ok(v) => txn.commit().await.map(|ts| (v, ts)),
                Err(e) => {
                    txn.rollback().await;
                    Err(e)
                }
            };
            match outcome {
                Err(e) if e.is_retryable() => match retry.next(start.elapsed(), jitter()) {
                    Some(pause) => tokio::time::sleep(pause).await,
                    None => return Err(e),
                },
                other => return other,
            }
        }
    }
}
