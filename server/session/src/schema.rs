//! A node's schema cache under leases (DESIGN.md §7, "Schema leases";
//! F1's online schema change, Spanner's schema changes at a timestamp).
//!
//! Statements bind against table definitions cached per node instead of
//! reading the catalog through their transaction, so the catalog's tablet
//! joins no DML transaction (no read, no lock, no 2PC participant).
//!
//! ```text
//!   refresh: strong read of the catalog at T ──▶ version v, tables,
//!            lease_end = min(T + lease, closing_at)
//!   bind:    a statement uses the cache while now.latest + lease/2 < lease_end
//!            (else refreshes); the transaction records v and lease_end
//!   commit:  with less than lease/2 left and v still current, the lease
//!            is renewed (lease_end of a fresh read of v);
//!            commit_before = lease_end (the tablet that picks the commit
//!            timestamp s refuses s ≥ lease_end: SchemaChanged, 40001)
//!            — or, with the lease nearly over, the transaction reads the
//!            version record itself (under its concurrency control) and
//!            commits only if it is still v
//!   DDL:     CREATE TABLE raises v (statements bound at v are still right);
//!            DROP / CREATE INDEX first close v (closing_at = now + lease,
//!            in a transaction of its own, committed at d1), wait until
//!            TT.after(max(closing_at, d1 + lease)), then run, and raise v
//!            only if v is still closed by them.
//! ```
//!
//! INVARIANT: a transaction bound against version v commits at s below
//! the commit timestamp of the destructive change that replaced v. Every
//! lease on v was granted by a read at T: before d1, it ends by
//! T + lease < d1 + lease; from d1 on, the read saw the marker and its
//! lease ends by closing_at. The change commits after both. A read of the
//! catalog at T sees every change committed at or below T, so a statement
//! that misses a table refreshes and never reports a table missing that a
//! finished CREATE TABLE made.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spanlite_gateway::{Gateway, Txn, TxnOptions};
use spanlite_sql::sequence::{Block, SequenceDef};
use spanlite_sql::{Access, RoleDef, SchemaVersion, SqlError, TableDef};
use spanlite_truetime::{TTInterval, Timestamp, TrueTime};

use super::session::sql_error;

/// Whether two table definitions are stored alike (byte for byte).
fn same_stored_form(a: &TableDef, b: &TableDef) -> bool {
    matches!(
        (spanlite_sql::encode_table(a), spanlite_sql::encode_table(b)),
        (Ok(x), Ok(y)) if x == y
    )
}

/// How long a schema lease lasts unless the node says otherwise
/// (`spanlite start --schema-lease`): a destructive DDL waits this long.
pub const DEFAULT_SCHEMA_LEASE: Duration = Duration::from_secs(1);

/// Transactions writing more keys than this check the schema version
/// record at commit instead of committing under the lease (a commit of
/// 100,000 rows took 1.7 s in a debug build, longer than a lease leaves).
const LEASE_COMMIT_WRITES: usize = 5_000;

/// The catalog as one read saw it.
#[derive(Debug)]
struct Snapshot {
    version: u64,
    tables: std::collections::BTreeMap<String, Arc<TableDef>>,
    /// The roles and privileges.
    access: Arc<Access>,
    /// The sequences.
    sequences: std::collections::BTreeMap<String, SequenceDef>,
    /// The enum types.
    enums: Vec<Arc<spanlite_sql::enums::EnumType>>,
    /// The lease's end: no transaction bound against this snapshot may
    /// commit at or after it.
    lease_end: Timestamp,
}

/// A node's schema cache (shared by its sessions).
#[derive(Debug)]
pub struct SchemaCache {
    gateway: Gateway,
    clock: Option<Arc<TrueTime>>,
    lease: Duration,
    current: Mutex<Option<Arc<Snapshot>>>,
    /// One refresh at a time.
    refreshing: tokio::sync::Mutex<()>,
    /// The node's blocks of sequence values, by sequence id: what is left.
    blocks: Mutex<std::collections::HashMap<u64, Block>>,
    /// One block allocation at a time.
    allocating: tokio::sync::Mutex<()>,
    /// What the node's sessions ran.
    stats: Arc<crate::StatementStats>,
    /// The advisory locks the node's sessions hold.
    advisory: Arc<crate::AdvisoryLocks>,
    /// The node's sessions (`pg_stat_activity`).
    backends: Arc<spanlite_sql::backends::Backends>,
}

/// What one transaction's statements took from the cache.
#[derive(Clone, Debug, Default)]
pub(crate) struct SchemaUse {
    /// A DDL statement ran in it: its later statements read the catalog
    /// through the transaction (they must see its own change).
    pub(crate) changing: bool,
    /// Its first schema change was destructive and closed this version.
    pub(crate) closed: Option<u64>,
    /// The versions its statements were bound against from the cache.
    versions: std::collections::BTreeSet<u64>,
    /// The earliest lease end among them.
    lease_end: Option<Timestamp>,
    /// Key ranges nothing reads any more (a truncated table's old id),
    /// deleted once the transaction commits.
    pub(crate) garbage: Vec<(Vec<u8>, Vec<u8>)>,
    /// Tables this transaction created (no other transaction can have
    /// bound against them).
    pub(crate) created: Vec<String>,
    /// The version this transaction's schema change raised (its first
    /// DDL wrote the next one).
    pub(crate) raised_from: Option<u64>,
}

impl SchemaUse {
    fn note(&mut self, s: &Snapshot) {
        self.versions.insert(s.version);
        self.lease_end = Some(self.lease_end.map_or(s.lease_end, |t| t.min(s.lease_end)));
    }
}

impl SchemaCache {
    /// A cache over `gateway`'s cluster with leases of `lease`; without a
    /// clock no lease is ever granted and statements read the catalog
    /// through their transactions.
    pub fn new(gateway: Gateway, clock: Option<Arc<TrueTime>>, lease: Duration) -> Arc<Self> {
        Arc::new(Self {
            advisory: crate::AdvisoryLocks::new(gateway.clone(), clock.clone()),
            backends: Arc::default(),
            gateway,
            clock,
            lease,
            current: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            blocks: Mutex::new(std::collections::HashMap::new()),
            allocating: tokio::sync::Mutex::new(()),
            stats: Default::default(),
        })
    }

    /// The gateway the sessions run on.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// The advisory locks the node's sessions hold.
    pub fn advisory(&self) -> &Arc<crate::AdvisoryLocks> {
        &self.advisory
    }

    /// The node's sessions, by pid.
    pub fn backends(&self) -> &Arc<spanlite_sql::backends::Backends> {
        &self.backends
    }

    /// What the node's sessions ran (metrics, the console).
    pub fn stats(&self) -> &Arc<crate::StatementStats> {
        &self.stats
    }

    fn now(&self) -> Option<TTInterval> {
        self.clock.as_ref().and_then(|c| c.now().ok())
    }

    fn cached(&self) -> Option<Arc<Snapshot>> {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A snapshot with at least half a lease left, refreshed if needed
    /// (`force`: refreshed unless one newer than `since` is there). `None`
    /// when no lease can be had (no clock, or a schema change is closing
    /// the current version): read the catalog through the transaction.
    async fn snapshot(&self, force: Option<Timestamp>) -> Result<Option<Arc<Snapshot>>, SqlError> {
        let fresh = |s: &Snapshot| {
            self.now().is_some_and(|now| {
                now.latest.saturating_add(self.lease / 2) < s.lease_end
                    && force.is_none_or(|since| s.lease_end > since.saturating_add(self.lease))
            })
        };
        if let Some(s) = self.cached()
            && fresh(&s)
        {
            return Ok(Some(s));
        }
        let _one = self.refreshing.lock().await;
        if let Some(s) = self.cached()
            && fresh(&s)
        {
            return Ok(Some(s));
        }
        let Some(_) = self.now() else {
            return Ok(None);
        };
        let mut read = self.gateway.read_only();
        let (start, end) = spanlite_sql::schema_span();
        let pairs = read.scan(&start, &end, 0).await.map_err(sql_error)?;
        let Some(t) = read.timestamp() else {
            return Ok(None);
        };
        let (version, tables) = spanlite_sql::decode_schema(&pairs)?;
        let access = Arc::new(Access::decode(&pairs)?);
        let sequences = spanlite_sql::sequence::decode_sequences(&pairs)?;
        let enums = spanlite_sql::enums::decode_enums(&pairs)?;
        if let (Some(c), Some(now)) = (version.closing_at, self.now())
            && Timestamp::from_nanos(c).saturating_add(self.lease * STALE_MARKER_LEASES)
                < now.earliest
        {
            self.clear_marker(version).await;
        }
        let mut lease_end = t.saturating_add(self.lease);
        if let Some(c) = version.closing_at {
            lease_end = lease_end.min(Timestamp::from_nanos(c));
        }
        // A definition unchanged since the last read keeps its allocation:
        // plans kept by prepared statements check theirs by pointer
        // (`PlanCache`), so a refresh makes them bind again only if their
        // tables changed. Unchanged means the same stored form: `==` on
        // values is looser (0.0 == -0.0), and a default changed from 0.0
        // to -0.0 must reach this node's statements.
        let previous = self.cached();
        let keep = |name: &str, def: TableDef| -> Arc<TableDef> {
            match previous.as_ref().and_then(|p| p.tables.get(name)) {
                Some(old) if same_stored_form(old, &def) => old.clone(),
                _ => Arc::new(def),
            }
        };
        let snapshot = Arc::new(Snapshot {
            version: version.version,
            tables: tables
                .into_iter()
                .map(|(n, t)| {
                    let def = keep(&n, t);
                    (n, def)
                })
                .collect(),
            access,
            sequences,
            enums,
            lease_end,
        });
        *self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(snapshot.clone());
        Ok(fresh(&snapshot).then_some(snapshot))
    }

    /// Table `name` from the cache, recorded in `used`; `Err(None)` when
    /// the cache cannot answer (read the catalog through the transaction).
    /// A name the cache lacks is looked up again in a fresh read first.
    pub(crate) async fn table(
        &self,
        name: &str,
        used: &mut SchemaUse,
    ) -> Result<Option<Arc<TableDef>>, Option<SqlError>> {
        let Some(mut s) = self.snapshot(None).await.map_err(Some)? else {
            return Err(None);
        };
        if !s.tables.contains_key(name) {
            let since = s.lease_end.saturating_sub(self.lease);
            match self.snapshot(Some(since)).await.map_err(Some)? {
                Some(newer) => s = newer,
                None => return Err(None),
            }
        }
        used.note(&s);
        Ok(s.tables.get(name).cloned())
    }

    /// The roles and privileges from the cache, recorded in `used`;
    /// `Err(None)` when the cache cannot answer (read them through the
    /// transaction).
    pub(crate) async fn access(
        &self,
        used: &mut SchemaUse,
    ) -> Result<Arc<Access>, Option<SqlError>> {
        let Some(s) = self.snapshot(None).await.map_err(Some)? else {
            return Err(None);
        };
        used.note(&s);
        Ok(s.access.clone())
    }

    /// [`SchemaCache::access`] from a snapshot read after now (a refresh
    /// unless one newer than the current copy is there).
    pub(crate) async fn access_now(
        &self,
        used: &mut SchemaUse,
    ) -> Result<Arc<Access>, Option<SqlError>> {
        let since = self.now().map(|n| n.latest);
        let Some(s) = self.snapshot(since).await.map_err(Some)? else {
            return Err(None);
        };
        used.note(&s);
        Ok(s.access.clone())
    }

    /// The tables whose foreign keys refer to `parent`, from the cache,
    /// recorded in `used`; `Err(None)` when the cache cannot answer.
    pub(crate) async fn referencing(
        &self,
        parent: &str,
        used: &mut SchemaUse,
    ) -> Result<Vec<TableDef>, Option<SqlError>> {
        let Some(s) = self.snapshot(None).await.map_err(Some)? else {
            return Err(None);
        };
        used.note(&s);
        Ok(s.tables
            .values()
            .filter(|t| t.foreign_keys.iter().any(|f| f.parent == parent))
            .map(|t| TableDef::clone(t))
            .collect())
    }

    /// Every enum type from the cache, recorded in `used`; `Err(None)` when
    /// the cache cannot answer. (NB: a type created on another node is
    /// seen here within a lease; one created here, at once.)
    pub(crate) async fn enums(
        &self,
        used: &mut SchemaUse,
    ) -> Result<Vec<Arc<spanlite_sql::enums::EnumType>>, Option<SqlError>> {
        let Some(s) = self.snapshot(None).await.map_err(Some)? else {
            return Err(None);
        };
        used.note(&s);
        Ok(s.enums.clone())
    }

    /// Sequence `name` from the cache, recorded in `used`; `Err(None)` when
    /// the cache cannot answer. A name the cache lacks is looked up again
    /// in a fresh read first.
    pub(crate) async fn sequence(
        &self,
        name: &str,
        used: &mut SchemaUse,
    ) -> Result<Option<SequenceDef>, Option<SqlError>> {
        let Some(mut s) = self.snapshot(None).await.map_err(Some)? else {
            return Err(None);
        };
        if !s.sequences.contains_key(name) {
            let since = s.lease_end.saturating_sub(self.lease);
            match self.snapshot(Some(since)).await.map_err(Some)? {
                Some(newer) => s = newer,
                None => return Err(None),
            }
        }
        used.note(&s);
        Ok(s.sequences.get(name).cloned())
    }

    /// The next value of `seq` from this node's block, taking a new block
    /// (in a transaction of its own) when it is used up.
    pub(crate) async fn next_value(&self, seq: &SequenceDef) -> Result<i64, SqlError> {
        if let Some(v) = self.take_local(seq) {
            return Ok(v);
        }
        let _one = self.allocating.lock().await;
        if let Some(v) = self.take_local(seq) {
            return Ok(v);
        }
        let mut attempts = 0;
        let block = loop {
            match self.allocate(seq).await {
                Ok(b) => break b,
                Err(e) if e.is_retryable() && attempts < 20 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(2 << attempts.min(6))).await;
                }
                Err(e) => return Err(e),
            }
        };
        let mut blocks = self
            .blocks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if block.count > 1 {
            blocks.insert(
                seq.id,
                Block {
                    first: block.first.saturating_add(seq.increment),
                    count: block.count - 1,
                },
            );
        } else {
            blocks.remove(&seq.id);
        }
        Ok(block.first)
    }

    fn take_local(&self, seq: &SequenceDef) -> Option<i64> {
        let mut blocks = self
            .blocks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let b = blocks.get_mut(&seq.id)?;
        let v = b.first;
        if b.count <= 1 {
            blocks.remove(&seq.id);
        } else {
            b.first = b.first.saturating_add(seq.increment);
            b.count -= 1;
        }
        Some(v)
    }

    /// Moves `seq`'s counter past a block of `cache` values.
    async fn allocate(&self, seq: &SequenceDef) -> Result<Block, SqlError> {
        let key = spanlite_sql::sequence::counter_key(&seq.name);
        let mut txn = self
            .gateway
            .begin_with(&TxnOptions::default())
            .map_err(sql_error)?;
        let counter = match txn.get_for_update(&key).await {
            Ok(Some(b)) => Some(spanlite_sql::sequence::decode_counter(&b)?),
            Ok(None) => None,
            Err(e) => {
                txn.rollback().await;
                return Err(sql_error(e));
            }
        };
        let (block, next) = match seq.take(counter, seq.cache) {
            Ok(t) => t,
            Err(e) => {
                txn.rollback().await;
                return Err(e);
            }
        };
        if let Err(e) = spanlite_sql::encode(&next).and_then(|v| txn.put(key, v).map_err(sql_error))
        {
            txn.rollback().await;
            return Err(e);
        }
        txn.commit().await.map_err(sql_error)?;
        Ok(block)
    }

    /// Sets `seq`'s counter (setval) in a transaction of its own; this
    /// node's block is dropped (other nodes use theirs up first, as other
    /// sessions' cached values are in PostgreSQL).
    pub(crate) async fn set_counter(
        &self,
        seq: &SequenceDef,
        counter: i128,
    ) -> Result<(), SqlError> {
        let key = spanlite_sql::sequence::counter_key(&seq.name);
        let mut txn = self
            .gateway
            .begin_with(&TxnOptions::default())
            .map_err(sql_error)?;
        if let Err(e) =
            spanlite_sql::encode(&counter).and_then(|v| txn.put(key, v).map_err(sql_error))
        {
            txn.rollback().await;
            return Err(e);
        }
        txn.commit().await.map_err(sql_error)?;
        self.blocks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&seq.id);
        Ok(())
    }

    /// Role `name` as a strong read sees it now (a login: a role just
    /// created may log in, one just dropped may not — no cache). Without
    /// `password` (the role's password is not needed), `root` is answered
    /// without a read: it always exists and may log in, so a session of
    /// the administrator opens even while the catalog's tablet elects a
    /// leader.
    pub async fn login_role(
        &self,
        name: &str,
        password: bool,
    ) -> Result<Option<RoleDef>, SqlError> {
        if !password && name == spanlite_sql::access::ADMIN {
            return Ok(Access::default().role(name).cloned());
        }
        let mut read = self.gateway.read_only();
        let key = spanlite_sql::access::role_key(name);
        let found = match read.get(&key).await {
            Ok(found) => found,
            // Before `init` there are no roles but the built-in root.
            Err(spanlite_gateway::GatewayError::NotInitialized(_)) => None,
            Err(e) => return Err(sql_error(e)),
        };
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = found.into_iter().map(|v| (key.clone(), v)).collect();
        Ok(Access::decode(&pairs)?.role(name).cloned())
    }

    /// Commits `txn` (whose statements used the cache as `used` says) so
    /// that it is serialized where its schema was current.
    pub(crate) async fn commit(&self, txn: Txn, used: &SchemaUse) -> Result<(), SqlError> {
        let result = self.commit_in_lease(txn, used).await;
        if result.is_ok() {
            for (start, end) in &used.garbage {
                tokio::spawn(discard(self.gateway.clone(), start.clone(), end.clone()));
            }
        }
        if used.changing && result.is_ok() {
            // This node's next statements see the change at once (others
            // within a lease): a role granted here is usable here next.
            *self
                .current
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        }
        result
    }

    async fn commit_in_lease(&self, mut txn: Txn, used: &SchemaUse) -> Result<(), SqlError> {
        let Some(mut lease_end) = used.lease_end else {
            return txn.commit().await.map(drop).map_err(sql_error);
        };
        if let Some(renewed) = self.renew(used, lease_end).await {
            lease_end = renewed;
        }
        let margin = self.lease / 4;
        let in_lease = || {
            self.now()
                .is_some_and(|now| now.latest.saturating_add(margin) < lease_end)
        };
        match txn.read_write() {
            None => {
                // Read-only: serialized at its snapshot.
                let ts = txn.commit().await.map_err(sql_error)?;
                if ts >= lease_end {
                    return Err(SqlError::serialization_failure(format!(
                        "restart transaction: its snapshot {ts} is past its schema lease"
                    )));
                }
                Ok(())
            }
            // A large write set may take longer to commit than the lease
            // has left (its Raft entry replicated, its locks taken):
            // checked against the version record instead, whatever the
            // commit takes.
            Some(t) if t.write_count() <= LEASE_COMMIT_WRITES && in_lease() => {
                t.commit_before(lease_end);
                txn.commit().await.map(drop).map_err(sql_error)
            }
            Some(t) => {
                // The lease is (nearly) over: check the version itself,
                // under the transaction's concurrency control.
                let current = match t.get(spanlite_sql::schema_version_key(), false).await {
                    Ok(v) => v,
                    Err(e) => {
                        txn.rollback().await;
                        return Err(sql_error(e));
                    }
                };
                let version = match current {
                    Some(b) => spanlite_sql::decode::<SchemaVersion>(&b, "schema version")?,
                    None => SchemaVersion::default(),
                };
                // A transaction that changed the schema reads its own
                // version record: the one after the version it raised,
                // which its earlier statements must have been bound at.
                let same = match used.raised_from {
                    Some(from) => {
                        version.version == from.saturating_add(1)
                            && used.versions.iter().all(|v| *v == from)
                    }
                    None => used.versions.len() == 1 && used.versions.contains(&version.version),
                };
                if !same {
                    txn.rollback().await;
                    return Err(SqlError::serialization_failure(
                        "restart transaction: the schema changed while it ran",
                    ));
                }
                txn.commit().await.map(drop).map_err(sql_error)
            }
        }
    }

    /// A later lease end for a transaction whose lease has less than half
    /// a lease left, if the schema it was bound against is still current:
    /// a lease granted by any read of version v holds for every statement
    /// bound at v (see the INVARIANT above: a destructive change replacing
    /// v commits after every lease on v ends). `None` when the lease is
    /// long enough, the version changed or is closing, or the transaction
    /// changed the schema itself: it commits under what it has (or checks
    /// the version record).
    async fn renew(&self, used: &SchemaUse, lease_end: Timestamp) -> Option<Timestamp> {
        if used.changing || used.raised_from.is_some() || used.versions.len() != 1 {
            return None;
        }
        let now = self.now()?;
        if now.latest.saturating_add(self.lease / 2) < lease_end {
            return None;
        }
        let s = self.snapshot(None).await.ok().flatten()?;
        (used.versions.contains(&s.version) && s.lease_end > lease_end).then_some(s.lease_end)
    }

    /// Closes the current schema version before a destructive change:
    /// commits the marker in a transaction of its own, then waits until
    /// every lease on the version has ended. Returns the closed version
    /// (the change must find it still current and closed).
    pub(crate) async fn close_version(&self) -> Result<u64, SqlError> {
        let Some(clock) = self.clock.clone() else {
            return Err(SqlError::unavailable(
                "a schema change needs the node's clock",
            ));
        };
        let key = spanlite_sql::schema_version_key();
        let now = clock
            .now()
            .map_err(|e| SqlError::unavailable(e.to_string()))?;
        let deadline = now.latest.saturating_add(self.lease);
        let mut txn = self
            .gateway
            .begin_with(&TxnOptions::default())
            .map_err(sql_error)?;
        let current = match txn.get_for_update(key).await {
            Ok(Some(b)) => spanlite_sql::decode::<SchemaVersion>(&b, "schema version")?,
            Ok(None) => SchemaVersion::default(),
            Err(e) => {
                txn.rollback().await;
                return Err(sql_error(e));
            }
        };
        // Never later than a marker already there: the change that wrote
        // it relies on leases ending by then.
        let closing_at = current
            .closing_at
            .map_or(deadline.as_nanos(), |c| c.min(deadline.as_nanos()));
        let marker = SchemaVersion {
            version: current.version,
            closing_at: Some(closing_at),
        };
        if let Err(e) = txn.put(key.to_vec(), spanlite_sql::encode(&marker)?) {
            txn.rollback().await;
            return Err(sql_error(e));
        }
        let d1 = txn.commit().await.map_err(sql_error)?;
        let until = Timestamp::from_nanos(closing_at).max(d1.saturating_add(self.lease));
        wait_until_after(&clock, until).await?;
        Ok(current.version)
    }

    /// Raises the version in `txn` (a DDL statement's transaction): the
    /// change is committed with it. A destructive change (`closed`) must
    /// find the version it closed still current and still closed.
    pub(crate) async fn raise_version(
        &self,
        txn: &mut Txn,
        closed: Option<u64>,
    ) -> Result<u64, SqlError> {
        let key = spanlite_sql::schema_version_key();
        let current = match txn.get_for_update(key).await.map_err(sql_error)? {
            Some(b) => spanlite_sql::decode::<SchemaVersion>(&b, "schema version")?,
            None => SchemaVersion::default(),
        };
        if let Some(v) = closed
            && (current.version != v || current.closing_at.is_none())
        {
            return Err(SqlError::serialization_failure(
                "restart transaction: another schema change committed first",
            ));
        }
        let next = SchemaVersion {
            version: current.version.saturating_add(1),
            closing_at: None,
        };
        txn.put(key.to_vec(), spanlite_sql::encode(&next)?)
            .map_err(sql_error)?;
        Ok(current.version)
    }
}

/// A closing marker this many leases old belongs to a schema change that
/// failed or was abandoned (a change waits one lease, then commits): it is
/// cleared, so that leases are granted again.
const STALE_MARKER_LEASES: u32 = 10;

impl SchemaCache {
    /// Clears `seen`'s closing marker if it is still there. Safe even if
    /// its change is still running: the change reads the version record
    /// in its own transaction and requires the marker, so under every
    /// concurrency mode it either commits before this write or aborts.
    async fn clear_marker(&self, seen: SchemaVersion) {
        let key = spanlite_sql::schema_version_key();
        let Ok(mut txn) = self.gateway.begin_with(&TxnOptions::default()) else {
            return;
        };
        let still = match txn.get_for_update(key).await {
            Ok(Some(b)) => spanlite_sql::decode::<SchemaVersion>(&b, "schema version").ok(),
            _ => None,
        };
        if still != Some(seen) {
            txn.rollback().await;
            return;
        }
        let cleared = SchemaVersion {
            version: seen.version,
            closing_at: None,
        };
        let put = spanlite_sql::encode(&cleared)
            .ok()
            .map(|v| txn.put(key.to_vec(), v));
        match put {
            Some(Ok(())) => {
                if let Err(e) = txn.commit().await {
                    tracing::info!("clearing a stale schema-change marker: {e}");
                }
            }
            _ => txn.rollback().await,
        }
    }
}

/// Keys deleted per transaction when a discarded range is cleaned up.
const DISCARD_BATCH: usize = 1000;

/// Deletes every key in `[start, end)` (a range no statement reads any
/// more), a batch per transaction, so no transaction grows with the range.
/// Gives up (and says so) after repeated failures: the keys are unreachable
/// garbage, not data.
async fn discard(gateway: Gateway, start: Vec<u8>, end: Vec<u8>) {
    let mut failures = 0;
    loop {
        let batch = async {
            let keys = gateway
                .read_only()
                .scan(&start, &end, DISCARD_BATCH)
                .await?;
            if keys.is_empty() {
                return Ok(true);
            }
            let mut txn = gateway.begin_with(&TxnOptions::default())?;
            for (k, _) in keys {
                txn.delete(k)?;
            }
            txn.commit().await.map(|_| false)
        };
        match batch.await {
            Ok(true) => return,
            Ok(false) => failures = 0,
            Err(e) => {
                failures += 1;
                if failures >= 10 {
                    tracing::warn!("discarding a truncated table's old rows: giving up: {e}");
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100 * failures)).await;
            }
        }
    }
}

/// Waits until `TT.after(t)` on `clock`.
async fn wait_until_after(clock: &TrueTime, t: Timestamp) -> Result<(), SqlError> {
    loop {
        let now = clock
            .now()
            .map_err(|e| SqlError::unavailable(e.to_string()))?;
        if now.earliest > t {
            return Ok(());
        }
        let left = t.saturating_duration_since(now.earliest);
        tokio::time::sleep(left.max(Duration::from_millis(1))).await;
    }
}
