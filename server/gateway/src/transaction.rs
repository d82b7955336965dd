//! Read-write transactions as a gateway runs them for its client. Under
//! 2PL reads go to the owning tablet's leader, which locks; under OCC, SSI
//! and SI they are lock-free snapshot reads, remembered here and validated
//! by the tablets at commit (`spanlite_txn::actions::validate`). Writes are buffered
//! here (the transaction reads its own writes) and sent with the commit.
//!
//! A transaction that touched one tablet commits with the one-phase fast
//! path; one that touched several commits with two-phase commit: every
//! other tablet prepares (in parallel), then the coordinator tablet (the
//! first one written) decides, commit-waits and answers; it tells the
//! participants after.
//!
//! Choosing between a read-write and a read-only transaction, and running
//! one with retries, is in `txn.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use spanlite_directory::wire::mutation_to_wire;
use spanlite_proto::common;
use spanlite_proto::tablet::{
    AbortRequest, CommitRequest, LockStrength, Mutation as WireMutation, PrepareRequest,
    PreparedParticipant, ReadRequest, TxnMeta,
};
use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::TxnId;
use spanlite_truetime::Timestamp;
use spanlite_txn::twopc::Decision;
use spanlite_txn::{AbortReason, Mutation};

mod scans;

use super::commit_once::{Sent, internal, once_only};
use super::txn::TxnMode;
use super::{Gateway, GatewayError};

/// The most rows of a locking range read kept as locked reads (answered
/// later without a call).
const REMEMBERED_SCAN_ROWS: usize = 32;

/// A read-write transaction (see the module docs). Finish it with
/// [`Transaction::commit`] or [`Transaction::rollback`]; dropping it leaves
/// its read locks to time out on the leaders.
#[derive(Debug)]
pub struct Transaction {
    gateway: Gateway,
    id: TxnId,
    priority: Timestamp,
    writes: BTreeMap<Vec<u8>, Mutation>,
    /// 2PL: tablets read under locks.
    read_tablets: BTreeSet<TabletId>,
    /// 2PL: what point reads found under a lock this transaction still
    /// holds (shared or exclusive), so no one can have changed it: read
    /// again, it is answered from here without a call. A read for update
    /// of a key held shared is answered here too: if the transaction
    /// writes the key, its commit's lock phase takes the exclusive lock
    /// (the upgrade happens at commit, still under wound-wait); if the
    /// leader lost the locks meanwhile, the commit is refused.
    locked_reads: HashMap<Vec<u8>, Option<Vec<u8>>>,
    mode: TxnMode,
    /// SSI/SI: the snapshot every read is at, chosen by the leader of the
    /// first tablet read (at least its `TT.now().latest`). RC: the current
    /// statement's snapshot (see [`Transaction::begin_statement`]).
    snapshot: Option<Timestamp>,
    /// OCC/SSI (SI: only `SELECT … FOR UPDATE` reads): lock-free reads,
    /// validated at commit by the tablets they were read from.
    spans: BTreeMap<TabletId, BTreeMap<SpanKey, Timestamp>>,
    /// Its commit timestamp must be below this, or it aborts
    /// (`SchemaChanged`): the end of the schema lease its SQL statements
    /// were bound under.
    commit_before: Option<Timestamp>,
}

/// Shapes a lock-free snapshot read: at a known timestamp `at` any
/// up-to-date replica will do (the leader is asked first; a follower serves
/// if it is down); without one, the leader chooses the timestamp.
pub(crate) fn at_snapshot(req: &mut ReadRequest, at: Option<Timestamp>) {
    req.read_ts = at.map(|t| common::Timestamp {
        nanos: t.as_nanos(),
    });
    req.choose_read_ts = at.is_none();
    req.any_replica = at.is_some();
}

/// One tablet's share of a two-phase commit.
#[derive(Clone, Debug)]
struct Share {
    writes: Vec<WireMutation>,
    has_reads: bool,
    reads: Vec<spanlite_proto::tablet::ReadSpan>,
    /// A 2PL participant that only read: its lock phase keeps the read
    /// locks for the decision (`PrepareRequest.read_only`); no prepare.
    read_only: bool,
}

/// For each key of [`Transaction::get_many_skip_locked`]: `None` when
/// another transaction holds it (skipped), else `Some` of its value.
pub type Locked = Vec<Option<Option<Vec<u8>>>>;

/// A read span's start, end and whether it is a point read.
type SpanKey = (Vec<u8>, Vec<u8>, bool);

impl Gateway {
    /// Starts a transaction. Its priority (wound-wait) is its begin time;
    /// `id` must be unique in the cluster (node id and a counter, say).
    pub fn begin(&self, id: TxnId, priority: Timestamp) -> Transaction {
        self.begin_mode(id, priority, TxnMode::TwoPhaseLocking)
    }

    /// Starts a read-write transaction of `mode`.
    pub fn begin_mode(&self, id: TxnId, priority: Timestamp, mode: TxnMode) -> Transaction {
        Transaction {
            gateway: self.clone(),
            id,
            priority,
            writes: BTreeMap::new(),
            read_tablets: BTreeSet::new(),
            locked_reads: HashMap::new(),
            mode,
            snapshot: None,
            spans: BTreeMap::new(),
            commit_before: None,
        }
    }
}

impl Transaction {
    /// The transaction's id.
    pub fn id(&self) -> TxnId {
        self.id
    }

    fn meta(&self) -> TxnMeta {
        TxnMeta {
            txn_id: Some(common::TxnId {
                id: self.id.0.to_be_bytes().to_vec(),
            }),
            priority: Some(common::Timestamp {
                nanos: self.priority.as_nanos(),
            }),
            read_tablets: self.read_tablets.iter().copied().collect(),
            mode: self.mode.wire() as i32,
            snapshot_ts: match self.mode {
                TxnMode::SerializableSnapshot | TxnMode::Snapshot => {
                    self.snapshot.map(|t| common::Timestamp {
                        nanos: t.as_nanos(),
                    })
                }
                TxnMode::TwoPhaseLocking | TxnMode::Optimistic | TxnMode::ReadCommitted => None,
            },
            commit_before: self.commit_before.map(|t| common::Timestamp {
                nanos: t.as_nanos(),
            }),
            ..Default::default()
        }
    }

    /// The commit must get a timestamp below `ts` or abort
    /// (`AbortReason::SchemaChanged`); the earliest of several limits holds.
    pub fn commit_before(&mut self, ts: Timestamp) {
        self.commit_before = Some(self.commit_before.map_or(ts, |t| t.min(ts)));
    }

    /// The transaction's concurrency control.
    pub fn mode(&self) -> TxnMode {
        self.mode
    }

    /// A new statement begins: under RC it reads at a snapshot of its own
    /// (its first read's), so it sees what others committed before it;
    /// the other modes keep one snapshot (or lock) for the whole
    /// transaction.
    pub fn begin_statement(&mut self) {
        if self.mode == TxnMode::ReadCommitted {
            self.snapshot = None;
        }
    }

    /// Remembers a lock-free read of `[start, end)` (a point read of
    /// `start` if `point`) from `tablet` at `ts`, to validate at commit.
    /// A span read twice keeps its earlier timestamp (the stricter check).
    fn note_span(
        &mut self,
        tablet: TabletId,
        start: &[u8],
        end: &[u8],
        point: bool,
        ts: Timestamp,
    ) {
        self.spans
            .entry(tablet)
            .or_default()
            .entry((start.to_vec(), end.to_vec(), point))
            .and_modify(|t| *t = (*t).min(ts))
            .or_insert(ts);
    }

    /// Whether a lock-free read is validated at commit: always under OCC
    /// and SSI; under SI only a locking read (`SELECT … FOR UPDATE`).
    fn validates(&self, for_update: bool) -> bool {
        match self.mode {
            TxnMode::Optimistic | TxnMode::SerializableSnapshot => true,
            TxnMode::Snapshot => for_update,
            TxnMode::TwoPhaseLocking | TxnMode::ReadCommitted => false,
        }
    }

    /// Whether a read (`for_update`: a locking one) takes locks at the
    /// leader: every read under 2PL, reads for update under RC.
    fn locks(&self, for_update: bool) -> bool {
        match self.mode {
            TxnMode::TwoPhaseLocking => true,
            TxnMode::ReadCommitted => for_update,
            TxnMode::Optimistic | TxnMode::SerializableSnapshot | TxnMode::Snapshot => false,
        }
    }

    /// Whether lock-free reads share one snapshot: SSI's and SI's all
    /// transaction long, RC's within a statement.
    fn one_snapshot(&self) -> bool {
        matches!(
            self.mode,
            TxnMode::SerializableSnapshot | TxnMode::Snapshot | TxnMode::ReadCommitted
        )
    }

    /// The read spans to validate on `tablet`, as the wire carries them.
    fn spans_on(&self, tablet: TabletId) -> Vec<spanlite_proto::tablet::ReadSpan> {
        self.spans
            .get(&tablet)
            .map(|spans| {
                spans
                    .iter()
                    .map(
                        |((start, end, point), ts)| spanlite_proto::tablet::ReadSpan {
                            start: start.clone(),
                            end: end.clone(),
                            point: *point,
                            read_ts: Some(common::Timestamp {
                                nanos: ts.as_nanos(),
                            }),
                        },
                    )
                    .collect()
            })
            .unwrap_or_default()
    }

    /// OCC/SSI/SI: a lock-free read of `key` at the snapshot (OCC: at the
    /// leader's newest one, every time).
    async fn read_optimistic(
        &mut self,
        key: &[u8],
        for_update: bool,
    ) -> Result<Option<Vec<u8>>, GatewayError> {
        let at = self.snapshot;
        let (read, d) = self
            .gateway
            .read_key(key, |req| at_snapshot(req, at))
            .await?;
        let ts = read
            .read_ts
            .ok_or_else(|| GatewayError::Failed("snapshot read without a timestamp".to_string()))?;
        self.after_read(ts);
        if self.validates(for_update) {
            self.note_span(d.id, key, &[], true, ts);
        }
        Ok(read.value)
    }

    /// SSI/SI (RC: each statement's): the first read fixes the snapshot.
    fn after_read(&mut self, ts: Timestamp) {
        if self.one_snapshot() && self.snapshot.is_none() {
            self.snapshot = Some(ts);
        }
    }

    /// What this transaction knows of `key` without a call: its own
    /// buffered write, or a value it read under a lock it still holds (2PL,
    /// or RC's reads for update: no one can have changed it).
    fn known(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        if let Some(w) = self.writes.get(key) {
            return Some(w.value().map(<[u8]>::to_vec));
        }
        if self.mode.locks_reads() {
            return self.locked_reads.get(key).cloned();
        }
        None
    }

    /// The value of `key` as this transaction sees it: its own buffered
    /// write, or the latest committed value read under a shared lock
    /// (`for_update`: an exclusive lock).
    pub async fn get(
        &mut self,
        key: &[u8],
        for_update: bool,
    ) -> Result<Option<Vec<u8>>, GatewayError> {
        if let Some(v) = self.known(key) {
            return Ok(v);
        }
        if !self.locks(for_update) {
            return self.read_optimistic(key, for_update).await;
        }
        let meta = self.meta();
        let lock = if for_update {
            LockStrength::Exclusive
        } else {
            LockStrength::Shared
        };
        let (read, d) = self
            .gateway
            .read_key(key, |req| {
                req.txn = Some(meta.clone());
                req.lock = lock as i32;
            })
            .await?;
        self.read_tablets.insert(d.id);
        self.locked_reads.insert(key.to_vec(), read.value.clone());
        Ok(read.value)
    }

    /// The values of `keys` as this transaction sees them, as
    /// [`Transaction::get`] would give them one by one, with one Read call
    /// per tablet (in parallel) instead of one per key.
    pub async fn get_many(
        &mut self,
        keys: &[Vec<u8>],
        for_update: bool,
    ) -> Result<Vec<Option<Vec<u8>>>, GatewayError> {
        let mut out: Vec<Option<Vec<u8>>> = vec![None; keys.len()];
        let mut need: Vec<usize> = Vec::new();
        let locking = self.locks(for_update);
        for (i, k) in keys.iter().enumerate() {
            match self.known(k) {
                Some(v) => out[i] = v,
                None => need.push(i),
            }
        }
        // SSI and SI (RC: in each statement): the first read fixes the
        // snapshot every other read is at, so it goes alone.
        if !locking
            && self.snapshot.is_none()
            && self.one_snapshot()
            && let Some(first) = need.first().copied()
        {
            out[first] = self.read_optimistic(&keys[first], for_update).await?;
            need.remove(0);
        }
        if need.is_empty() {
            return Ok(out);
        }
        let shape: Arc<dyn Fn(&mut ReadRequest) + Send + Sync> = if locking {
            let meta = self.meta();
            let lock = if for_update {
                LockStrength::Exclusive
            } else {
                LockStrength::Shared
            };
            Arc::new(move |req: &mut ReadRequest| {
                req.txn = Some(meta.clone());
                req.lock = lock as i32;
            })
        } else {
            let at = self.snapshot;
            Arc::new(move |req: &mut ReadRequest| at_snapshot(req, at))
        };
        let wanted: Vec<Vec<u8>> = need.iter().map(|&i| keys[i].clone()).collect();
        let reads = match self.gateway.read_many(wanted, shape).await {
            Ok(r) => r,
            Err((e, asked)) => {
                if locking {
                    // Locks may have been taken there: rollback must go.
                    self.read_tablets.extend(asked);
                }
                return Err(e);
            }
        };
        let mut found: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for r in reads {
            if locking {
                self.read_tablets.insert(r.tablet);
            } else {
                let ts = r.read_ts.ok_or_else(|| {
                    GatewayError::Failed("snapshot read without a timestamp".to_string())
                })?;
                self.after_read(ts);
                if self.validates(for_update) {
                    for k in &r.keys {
                        self.note_span(r.tablet, k, &[], true, ts);
                    }
                }
            }
            found.extend(r.values);
        }
        for i in need {
            out[i] = found.remove(&keys[i]);
            if locking {
                self.locked_reads.insert(keys[i].clone(), out[i].clone());
            }
        }
        Ok(out)
    }

    /// The values of `keys` as [`Transaction::get_many`] reads them but,
    /// under 2PL, by strong snapshot reads that take no locks and wait for
    /// none (the candidates of `SKIP LOCKED` and `NOWAIT`, as
    /// [`Transaction::scan_unlocked`]).
    pub async fn get_many_unlocked(
        &mut self,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Vec<u8>>>, GatewayError> {
        if self.mode != TxnMode::TwoPhaseLocking {
            return self.get_many(keys, false).await;
        }
        let mut out: Vec<Option<Vec<u8>>> = vec![None; keys.len()];
        let mut need: Vec<usize> = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            match self.known(k) {
                Some(v) => out[i] = v,
                None => need.push(i),
            }
        }
        if need.is_empty() {
            return Ok(out);
        }
        let shape: Arc<dyn Fn(&mut ReadRequest) + Send + Sync> =
            Arc::new(|req: &mut ReadRequest| at_snapshot(req, None));
        let wanted: Vec<Vec<u8>> = need.iter().map(|&i| keys[i].clone()).collect();
        let reads = self
            .gateway
            .read_many(wanted, shape)
            .await
            .map_err(|(e, _)| e)?;
        let mut found: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for r in reads {
            found.extend(r.values);
        }
        for i in need {
            out[i] = found.remove(&keys[i]);
        }
        Ok(out)
    }

    /// `keys` locked for update where that can be done at once (`SELECT …
    /// FOR UPDATE SKIP LOCKED`, and `NOWAIT`): for each key, `None` if
    /// another transaction holds it or waits for it first (skipped: not
    /// locked, not read), else `Some` of its value as
    /// [`Transaction::get_many`] reads it for update. Nothing waits and
    /// nothing is wounded. Under OCC, SSI and SI reads take no locks, so
    /// nothing is skipped: a conflict shows at commit, as for any write.
    pub async fn get_many_skip_locked(&mut self, keys: &[Vec<u8>]) -> Result<Locked, GatewayError> {
        if !self.locks(true) {
            let values = self.get_many(keys, true).await?;
            return Ok(values.into_iter().map(Some).collect());
        }
        let mut out: Vec<Option<Option<Vec<u8>>>> = vec![None; keys.len()];
        let mut need: Vec<usize> = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            match self.known(k) {
                Some(v) => out[i] = Some(v),
                None => need.push(i),
            }
        }
        if need.is_empty() {
            return Ok(out);
        }
        let meta = self.meta();
        let shape: Arc<dyn Fn(&mut ReadRequest) + Send + Sync> =
            Arc::new(move |req: &mut ReadRequest| {
                req.txn = Some(meta.clone());
                req.lock = LockStrength::Exclusive as i32;
                req.skip_locked = true;
            });
        let wanted: Vec<Vec<u8>> = need.iter().map(|&i| keys[i].clone()).collect();
        let reads = match self.gateway.read_many(wanted, shape).await {
            Ok(r) => r,
            Err((e, asked)) => {
                // Locks may have been taken there: rollback must go.
                self.read_tablets.extend(asked);
                return Err(e);
            }
        };
        let mut found: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut skipped: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
        for r in reads {
            self.read_tablets.insert(r.tablet);
            found.extend(r.values);
            skipped.extend(r.skipped);
        }
        for i in need {
            if skipped.contains(&keys[i]) {
                continue;
            }
            let value = found.remove(&keys[i]);
            self.locked_reads.insert(keys[i].clone(), value.clone());
            out[i] = Some(value);
        }
        Ok(out)
    }

    /// The writes buffered so far (what a SQL savepoint keeps).
    pub fn write_mark(&self) -> WriteMark {
        WriteMark(self.writes.clone())
    }

    /// Puts the buffered writes back as they were at `mark` (ROLLBACK TO
    /// SAVEPOINT). Locks taken and reads recorded since stay: holding them
    /// to the end is what two-phase locking and validation require anyway.
    pub fn rollback_writes(&mut self, mark: &WriteMark) {
        self.writes = mark.0.clone();
    }

    /// How many keys the transaction writes (so far).
    pub fn write_count(&self) -> usize {
        self.writes.len()
    }

    /// Buffers `key = value`.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes
            .insert(key.clone(), Mutation::Put { key, value });
    }

    /// Buffers a delete of `key`.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.writes.insert(key.clone(), Mutation::Delete { key });
    }

    /// Commits; returns the commit timestamp (after commit wait). A
    /// transaction without writes just releases its read locks; under SSI
    /// it commits at its snapshot without validation (see `read_only_at`).
    ///
    /// Errors: `Aborted` (retry the transaction; it was rolled back),
    /// `Ambiguous` when the outcome is unknown (not retried automatically).
    pub async fn commit(self) -> Result<Timestamp, GatewayError> {
        if let Some(ts) = self.read_only_at() {
            // Serialized at its snapshot (a 2PL one at "now", which the
            // caller checks against its own limit before committing).
            if let Some(limit) = self.commit_before
                && ts != Timestamp::MIN
                && ts >= limit
            {
                self.rollback().await;
                return Err(GatewayError::aborted(
                    AbortReason::SchemaChanged,
                    format!("its snapshot {ts} is past its schema lease ({limit})"),
                ));
            }
            if let Err(e) = self.confirm_read_locks().await {
                self.abort_all(self.read_tablets.iter().copied()).await;
                return Err(e);
            }
            self.rollback().await;
            return Ok(ts);
        }
        let mut by_tablet: BTreeMap<TabletId, Vec<WireMutation>> = BTreeMap::new();
        for (key, m) in &self.writes {
            let d = self.gateway.route(key).await?;
            by_tablet
                .entry(d.id)
                .or_default()
                .push(mutation_to_wire(m.clone()));
        }
        let mut tablets: BTreeSet<TabletId> = by_tablet.keys().copied().collect();
        tablets.extend(self.read_tablets.iter().copied());
        tablets.extend(self.spans.keys().copied());
        if tablets.len() > 1 {
            return self.commit_two_phase(by_tablet, tablets).await;
        }
        let Some(tablet) = tablets.first().copied() else {
            return Ok(Timestamp::MIN);
        };
        let writes: Vec<WireMutation> = by_tablet.into_values().flatten().collect();
        let timeout = self.gateway.timeout_for(wire_bytes(&writes));
        let meta = self.meta();
        let read_tablets = self.read_tablets.clone();
        let reads = self.spans_on(tablet);
        let sent = Sent::default();
        let commit = once_only(&sent, move |d| CommitRequest {
            tablet_id: d.id,
            generation: d.generation,
            txn: Some(meta.clone()),
            writes: writes.clone(),
            has_reads: read_tablets.contains(&d.id),
            reads: reads.clone(),
            ..Default::default()
        });
        // Routed by key while a write says where (the tablet may have moved
        // and split: the key finds its new home), by tablet id otherwise.
        let called = match self.writes.keys().next() {
            Some(first) => self.gateway.call_within(first, timeout, commit).await,
            None => {
                self.gateway
                    .call_tablet_within(tablet, timeout, commit)
                    .await
            }
        };
        let (ts, _) = sent.outcome(called)?;
        Ok(ts)
    }

    /// The timestamp a transaction that wrote nothing is serialized at,
    /// if it needs no validation:
    /// - 2PL: its reads are locked until now (once `confirm_read_locks`
    ///   says so); it commits at any time before the locks go
    ///   (`Timestamp::MIN` stands for "now").
    /// - SSI and SI with no read to validate: every read was at the one
    ///   snapshot. The leaders that served it raised their clocks to it
    ///   and waited for every write at or below it, so no write can
    ///   commit at or below the snapshot afterwards, and every writer is
    ///   serialized at its commit timestamp (its own reads were validated
    ///   up to it). The reads are therefore exactly the state after the
    ///   writers before the snapshot: serializable at the snapshot, and
    ///   no later change can make them wrong. Validating them would only
    ///   abort reporting queries under a steady write load.
    ///
    /// SI keeps validating `SELECT … FOR UPDATE` reads even then, as
    /// PostgreSQL's repeatable read does; OCC read each key at its own
    /// time, so it must validate.
    fn read_only_at(&self) -> Option<Timestamp> {
        if !self.writes.is_empty() {
            return None;
        }
        let one_snapshot = self.mode == TxnMode::SerializableSnapshot;
        (self.spans.is_empty() || one_snapshot).then(|| self.snapshot.unwrap_or(Timestamp::MIN))
    }

    /// A 2PL transaction that wrote nothing is serializable at any moment
    /// all its read locks are held together. On one tablet they are until
    /// now (a wound would have refused its later reads there). On several,
    /// a wound on one tablet releases that lock while the others know
    /// nothing of it, and a later read elsewhere could see what the wounder
    /// wrote: every read tablet confirms it still holds the transaction's
    /// locks (the lock phase, `has_reads`), or the commit aborts.
    async fn confirm_read_locks(&self) -> Result<(), GatewayError> {
        if self.mode != TxnMode::TwoPhaseLocking || self.read_tablets.len() < 2 {
            return Ok(());
        }
        let meta = self.meta();
        let none = BTreeMap::new();
        let share = |_: TabletId, _: &BTreeMap<TabletId, Vec<WireMutation>>| Share {
            writes: Vec::new(),
            has_reads: true,
            reads: Vec::new(),
            read_only: false,
        };
        self.each_tablet(&self.read_tablets, &meta, &none, share, true)
            .await
            .map(drop)
            .map_err(|(t, e)| match e {
                GatewayError::Aborted { reason, message } => GatewayError::aborted(
                    reason,
                    format!("its read locks on tablet {t} are gone: {message}"),
                ),
                GatewayError::Unavailable(m) => GatewayError::aborted(
                    AbortReason::PrepareFailed,
                    format!("tablet {t} could not confirm its read locks: {m}"),
                ),
                other => other,
            })
    }

    /// Two-phase commit (DESIGN.md §6):
    ///
    /// 1. the lock phase on every tablet it wrote or validates on, the
    ///    coordinator (the first one written) included, in parallel: locks
    ///    taken and reads validated, nothing prepared, the transaction
    ///    still woundable (a 2PL tablet it only read holds its locks from
    ///    the reads already);
    /// 2. every tablet but the coordinator prepares, in parallel (their
    ///    locks are held: a prepared transaction never waits for a lock,
    ///    so wound-wait stays deadlock-free) — except a 2PL tablet it only
    ///    read, which keeps its read locks for the decision from then on,
    ///    unwoundable, and says until when (the end of its leader's
    ///    lease): no Raft entry there, ever;
    /// 3. the coordinator decides below every read-only tablet's lease
    ///    end, commit-waits, answers, and tells the prepared participants
    ///    after; with none (only read-only ones), it commits in one phase:
    ///    one Raft entry in all;
    /// 4. the read-only tablets are told the commit timestamp (they raise
    ///    their clocks to it and release), in the background: one that
    ///    misses it releases at its lease end.
    ///
    /// Any failure before the decision aborts every tablet (fenced).
    async fn commit_two_phase(
        self,
        mut by_tablet: BTreeMap<TabletId, Vec<WireMutation>>,
        tablets: BTreeSet<TabletId>,
    ) -> Result<Timestamp, GatewayError> {
        // The first tablet written, or (an OCC transaction that only read)
        // the first one read.
        let Some(coordinator) = by_tablet.keys().next().or_else(|| tablets.first()).copied() else {
            return Err(GatewayError::Failed(
                "two-phase commit without participants".to_string(),
            ));
        };
        let mut meta = self.meta();
        meta.coordinator_tablet_id = coordinator;
        let read_only: BTreeSet<TabletId> = if self.mode.locks_reads() {
            tablets
                .iter()
                .copied()
                .filter(|t| {
                    *t != coordinator
                        && !by_tablet.contains_key(t)
                        && self.read_tablets.contains(t)
                        && self.spans_on(*t).is_empty()
                })
                .collect()
        } else {
            BTreeSet::new()
        };
        let share = |t: TabletId, by_tablet: &BTreeMap<TabletId, Vec<WireMutation>>| Share {
            writes: by_tablet.get(&t).cloned().unwrap_or_default(),
            has_reads: self.read_tablets.contains(&t),
            reads: self.spans_on(t),
            read_only: read_only.contains(&t),
        };
        // The read-only tablets hold their locks from the reads already.
        let to_lock: BTreeSet<TabletId> = tablets.difference(&read_only).copied().collect();
        if let Err((p, e)) = self
            .each_tablet(&to_lock, &meta, &by_tablet, share, true)
            .await
        {
            return Err(self.abandon_two_phase(&tablets, p, e).await);
        }
        let participants: BTreeSet<TabletId> = tablets
            .iter()
            .copied()
            .filter(|t| *t != coordinator)
            .collect();
        let answers = match self
            .each_tablet(&participants, &meta, &by_tablet, share, false)
            .await
        {
            Ok(answers) => answers,
            Err((p, e)) => return Err(self.abandon_two_phase(&tablets, p, e).await),
        };
        let (read_locked, votes): (Vec<_>, Vec<_>) = answers
            .into_iter()
            .partition(|(t, _)| read_only.contains(t));
        // The commit must fall before every read-only tablet's lease end.
        meta.read_locks_until =
            read_locked
                .iter()
                .map(|(_, until)| *until)
                .min()
                .map(|t| common::Timestamp {
                    nanos: t.as_nanos(),
                });
        let votes: Vec<PreparedParticipant> = votes
            .into_iter()
            .map(|(tablet_id, ts)| PreparedParticipant {
                tablet_id,
                prepare_ts: Some(common::Timestamp {
                    nanos: ts.as_nanos(),
                }),
            })
            .collect();
        let coordinator_writes = by_tablet.remove(&coordinator).unwrap_or_default();
        let has_reads = self.read_tablets.contains(&coordinator);
        let reads = self.spans_on(coordinator);
        let sent = Sent::default();
        let timeout = self.gateway.timeout_for(wire_bytes(&coordinator_writes));
        let decided = self
            .gateway
            .call_tablet_within(
                coordinator,
                timeout,
                once_only(&sent, move |d| CommitRequest {
                    tablet_id: d.id,
                    generation: d.generation,
                    txn: Some(meta.clone()),
                    writes: coordinator_writes.clone(),
                    participants: votes.clone(),
                    has_reads,
                    reads: reads.clone(),
                    ..Default::default()
                }),
            )
            .await;
        match sent.outcome(decided) {
            Ok((ts, _)) => {
                self.release_read_locks(&read_only, ts);
                Ok(ts)
            }
            Err(e) if !sent.maybe() || e.abort_reason().is_some() => {
                // Nothing was decided: presumed abort.
                self.abort_all(tablets.iter().copied()).await;
                Err(e)
            }
            // The outcome may be unknown: the participants learn it from
            // the coordinator tablet (termination protocol); the read-only
            // ones release at their lease end.
            Err(e) => Err(e),
        }
    }

    /// Tells the read-only tablets of a transaction committed at `ts`
    /// (in the background; one that misses it releases at its lease end).
    fn release_read_locks(&self, tablets: &BTreeSet<TabletId>, ts: Timestamp) {
        let meta = self.meta();
        for &t in tablets {
            let gateway = self.gateway.clone();
            let txn = meta.clone();
            tokio::spawn(async move {
                let told = gateway
                    .call_tablet(t, |mut client, d| {
                        let req = CommitRequest {
                            tablet_id: d.id,
                            generation: d.generation,
                            txn: Some(txn.clone()),
                            commit_ts: Some(common::Timestamp {
                                nanos: ts.as_nanos(),
                            }),
                            ..Default::default()
                        };
                        async move {
                            let resp = client.commit(req).await?.into_inner();
                            Ok(match resp.error {
                                Some(e) => Err(e),
                                None => Ok(()),
                            })
                        }
                    })
                    .await;
                if let Err(e) = told {
                    tracing::debug!(tablet = t, "telling a read-only participant: {e}");
                }
            });
        }
    }

    /// Sends the lock phase (`lock_only`) or the prepare of this
    /// transaction to each of `tablets` in parallel; their prepare
    /// timestamps (for a read-only lock phase: its lease end), or the first
    /// failure.
    async fn each_tablet(
        &self,
        tablets: &BTreeSet<TabletId>,
        meta: &TxnMeta,
        by_tablet: &BTreeMap<TabletId, Vec<WireMutation>>,
        share: impl Fn(TabletId, &BTreeMap<TabletId, Vec<WireMutation>>) -> Share,
        lock_only: bool,
    ) -> Result<Vec<(TabletId, Timestamp)>, (TabletId, GatewayError)> {
        let mut calls = tokio::task::JoinSet::new();
        for &t in tablets {
            let gateway = self.gateway.clone();
            let meta = meta.clone();
            let share = share(t, by_tablet);
            let timeout = gateway.timeout_for(wire_bytes(&share.writes));
            calls.spawn(async move {
                let voted = gateway
                    .call_tablet_within(t, timeout, |mut client, d| {
                        let req = PrepareRequest {
                            tablet_id: d.id,
                            generation: d.generation,
                            txn: Some(meta.clone()),
                            writes: share.writes.clone(),
                            has_reads: share.has_reads,
                            reads: share.reads.clone(),
                            lock_only: lock_only || share.read_only,
                            read_only: share.read_only,
                        };
                        let read_only = req.read_only;
                        async move {
                            let resp = client.prepare(req).await?.into_inner();
                            Ok(match (resp.error, resp.prepare_ts) {
                                (Some(e), _) => Err(e),
                                (None, _) if read_only => match resp.read_locked_until {
                                    Some(until) => Ok(Timestamp::from_nanos(until.nanos)),
                                    None => Err(internal(
                                        "a read-only lock phase without its lease end".into(),
                                    )),
                                },
                                (None, Some(ts)) if resp.prepared => {
                                    Ok(Timestamp::from_nanos(ts.nanos))
                                }
                                (None, _) => {
                                    Err(internal(format!("prepare voted no: {}", resp.no_reason)))
                                }
                            })
                        }
                    })
                    .await;
                (t, voted.map(|(ts, _)| ts))
            });
        }
        let mut out = Vec::new();
        let mut failure = None;
        while let Some(joined) = calls.join_next().await {
            match joined {
                Ok((t, Ok(ts))) => out.push((t, ts)),
                Ok((t, Err(e))) => {
                    failure.get_or_insert((t, e));
                }
                Err(e) => {
                    failure.get_or_insert((0, GatewayError::Failed(e.to_string())));
                }
            }
        }
        match failure {
            Some(f) => Err(f),
            None => Ok(out),
        }
    }

    /// A 2PC that failed before its decision: every tablet aborts it
    /// (presumed abort: nothing was decided), and the client hears an
    /// abort it may retry.
    async fn abandon_two_phase(
        &self,
        tablets: &BTreeSet<TabletId>,
        failed: TabletId,
        e: GatewayError,
    ) -> GatewayError {
        self.abort_all(tablets.iter().copied()).await;
        match e {
            GatewayError::Aborted { reason, message } => GatewayError::aborted(
                reason,
                format!("prepare failed on tablet {failed}: {message}"),
            ),
            GatewayError::Unavailable(m) => GatewayError::aborted(
                AbortReason::PrepareFailed,
                format!("prepare failed on tablet {failed}: {m}"),
            ),
            other => other,
        }
    }

    /// Aborts the transaction on `tablets` (best effort: a participant
    /// that misses it asks the coordinator and hears abort).
    async fn abort_all(&self, tablets: impl Iterator<Item = TabletId>) {
        let mut set = tokio::task::JoinSet::new();
        for t in tablets {
            let gateway = self.gateway.clone();
            let txn = self.id;
            set.spawn(async move {
                let _ = gateway.resolve_at(t, txn, Decision::Abort).await;
            });
        }
        while set.join_next().await.is_some() {}
    }

    /// Rolls back like [`Transaction::rollback`], and also on every tablet
    /// the route cache places in `[start, end)` (empty `end`: to the end):
    /// for a caller that gave up on a read of that range mid-flight
    /// (dropped its future, e.g. to cancel a statement blocked on a lock),
    /// whose lock the leader may have queued or granted without the
    /// transaction learning of the tablet. The aborts are fenced
    /// (`AbortRequest.fence`): a read still on its way when its abort
    /// arrives is refused rather than granted.
    ///
    /// HAZARD: a read that reaches a different leader (the leadership
    /// moved meanwhile) is not refused there; its lock stays until that
    /// leader's idle-transaction timeout.
    pub async fn rollback_abandoning(mut self, start: &[u8], end: &[u8]) {
        for d in self.gateway.cache().tablets() {
            let after_start = d.range.end.is_empty() || d.range.end.as_slice() > start;
            let before_end = end.is_empty() || d.range.start.as_slice() < end;
            if after_start && before_end {
                self.read_tablets.insert(d.id);
            }
        }
        self.abort_everywhere(true).await;
    }

    /// Releases whatever the transaction holds on every tablet it read from
    /// (best effort: locks of a vanished leader died with its term).
    pub async fn rollback(self) {
        self.abort_everywhere(false).await;
    }

    /// Sends an abort to every tablet read from; `fence`: see
    /// [`Transaction::rollback_abandoning`].
    async fn abort_everywhere(self, fence: bool) {
        let meta_id = self.meta().txn_id;
        for &tablet in &self.read_tablets {
            let Some(d) = self.gateway.cache().tablet(tablet) else {
                continue;
            };
            let txn_id = meta_id.clone();
            let _ = self
                .gateway
                .call(&d.range.start, |mut client, d| {
                    let req = AbortRequest {
                        tablet_id: d.id,
                        txn_id: txn_id.clone(),
                        reason: "rolled back".to_string(),
                        fence,
                    };
                    async move {
                        let resp = client.abort(req).await?.into_inner();
                        Ok(match resp.error {
                            Some(e) => Err(e),
                            None => Ok(()),
                        })
                    }
                })
                .await;
        }
    }
}

/// The buffered writes of a transaction at some point
/// ([`Transaction::write_mark`]).
#[derive(Clone, Debug)]
pub struct WriteMark(BTreeMap<Vec<u8>, Mutation>);

/// About the size of `writes` on the wire (keys and values).
fn wire_bytes(writes: &[WireMutation]) -> usize {
    use spanlite_proto::tablet::mutation::Op;
    writes
        .iter()
        .map(|m| {
            m.key.len()
                + match &m.op {
                    Some(Op::Put(v)) => v.len(),
                    _ => 1,
                }
        })
        .sum()
}
