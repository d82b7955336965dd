//! Advisory locks (`pg_advisory_lock` and kin), cluster-wide: what a
//! node's sessions hold, and the records that make one session's lock
//! exclude every other session on every node.
//!
//! A lock is a record at its key in the catalog's key space
//! (`[0x02, 'a', space, key]`): the holder (this process's random tag and
//! the session's number) and the time its lease ends. Taking a lock is a
//! transaction of its own, outside the session's (as PostgreSQL's
//! session-level locks ignore transactions): read the record for update;
//! free, expired or already ours → write ours. A node renews the leases
//! of everything its sessions hold every third of a lease, in one
//! transaction, so a lock outlives its session's transactions for as long
//! as the session does; a session that ends releases what it held, and a
//! node that dies leaves records that expire after one lease.
//!
//! A session holds a lock at session level (until `pg_advisory_unlock`, as
//! many times as it took it) and at transaction level (until its
//! transaction ends), and may hold both, as in PostgreSQL; the record goes
//! when both counts are zero.
//!
//! NB: unlike PostgreSQL's, a lease can run out under a live session: a
//! node cut off from the lock's tablet for a whole lease (10 s) loses its
//! sessions' locks, and another session may take them. It is logged.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use spanlite_gateway::{Gateway, TxnOptions};
use spanlite_sql::SqlError;
use spanlite_sql::advisory::{Key, Op, Request};
use spanlite_truetime::{Timestamp, TrueTime};

use crate::session::sql_error;

/// How long a lock's record stays valid without a renewal.
pub const ADVISORY_LEASE: Duration = Duration::from_secs(10);

/// The catalog prefix of advisory lock records.
const PREFIX: &[u8] = spanlite_sql::advisory::RECORDS;

/// The node's advisory locks: what its sessions hold.
#[derive(Debug)]
pub struct AdvisoryLocks {
    gateway: Gateway,
    clock: Option<Arc<TrueTime>>,
    lease: Duration,
    /// This process's holder tag: random, so no other node (or this node
    /// after a restart) writes the same.
    tag: u64,
    next_session: AtomicU64,
    held: Mutex<HashMap<Key, Holding>>,
    /// Woken when a lock of this node is released (local waiters retry
    /// at once instead of at their next poll).
    released: tokio::sync::Notify,
    /// Whether the renewal task runs.
    renewing: Mutex<bool>,
}

/// One lock a session of this node holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Holding {
    session: u64,
    /// Session-level holds (`pg_advisory_lock`, until unlocked).
    session_count: u32,
    /// Transaction-level holds (until the session's transaction ends).
    xact_count: u32,
}

/// A lock record: its holder and when its lease ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Record {
    tag: u64,
    session: u64,
    expires: Timestamp,
}

impl Record {
    fn encode(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24);
        out.extend_from_slice(&self.tag.to_be_bytes());
        out.extend_from_slice(&self.session.to_be_bytes());
        out.extend_from_slice(&self.expires.as_nanos().to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Result<Record, SqlError> {
        let Ok(words) = <[u8; 24]>::try_from(bytes) else {
            return Err(SqlError::internal(format!(
                "an advisory lock record of {} bytes (24 expected)",
                bytes.len()
            )));
        };
        let word = |i: usize| {
            let mut w = [0; 8];
            w.copy_from_slice(&words[i * 8..i * 8 + 8]);
            u64::from_be_bytes(w)
        };
        Ok(Record {
            tag: word(0),
            session: word(1),
            expires: Timestamp::from_nanos(word(2)),
        })
    }
}

/// The record key of lock `key`.
fn record_key(key: Key) -> Vec<u8> {
    let mut out = PREFIX.to_vec();
    out.push(key.space);
    out.extend_from_slice(&key.value.to_be_bytes());
    out
}

/// Attempts at one lock transaction that conflicts (40001) before its
/// error is the caller's.
const ATTEMPTS: u32 = 20;

impl AdvisoryLocks {
    /// The locks of the node whose sessions run on `gateway`; leases are
    /// timed by `clock` (the system clock without one).
    pub fn new(gateway: Gateway, clock: Option<Arc<TrueTime>>) -> Arc<Self> {
        Self::with_lease(gateway, clock, ADVISORY_LEASE)
    }

    /// As [`AdvisoryLocks::new`] with leases of `lease` (tests).
    pub fn with_lease(
        gateway: Gateway,
        clock: Option<Arc<TrueTime>>,
        lease: Duration,
    ) -> Arc<Self> {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        Arc::new(Self {
            gateway,
            clock,
            lease,
            tag: h.finish(),
            next_session: AtomicU64::new(1),
            held: Mutex::new(HashMap::new()),
            released: tokio::sync::Notify::new(),
            renewing: Mutex::new(false),
        })
    }

    /// A number for a new session (its locks' holder).
    pub fn new_session(&self) -> u64 {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Holding>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The time now: (earliest, latest) it may be.
    fn now(&self) -> (Timestamp, Timestamp) {
        if let Some(t) = self.clock.as_ref().and_then(|c| c.now().ok()) {
            return (t.earliest, t.latest);
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        (Timestamp::from_nanos(nanos), Timestamp::from_nanos(nanos))
    }

    fn lease_end(&self) -> Timestamp {
        let (_, latest) = self.now();
        let lease = u64::try_from(self.lease.as_nanos()).unwrap_or(u64::MAX);
        Timestamp::from_nanos(latest.as_nanos().saturating_add(lease))
    }

    /// Runs `request` for `session`: whether the lock was taken (or
    /// released). A waiting lock polls until it is free; the caller's
    /// cancel or statement timeout ends the wait (the future is dropped).
    pub async fn run(self: &Arc<Self>, session: u64, request: &Request) -> Result<bool, SqlError> {
        match (request.op, request.key) {
            (Op::Lock { xact, wait }, Some(key)) => self.lock(session, key, xact, wait).await,
            (Op::Unlock, Some(key)) => self.unlock(session, key).await,
            (Op::UnlockAll, _) => {
                self.release_where(session, |h| h.session_count = 0).await;
                Ok(true)
            }
            (_, None) => Err(SqlError::internal("an advisory lock call without a key")),
        }
    }

    async fn lock(
        self: &Arc<Self>,
        session: u64,
        key: Key,
        xact: bool,
        wait: bool,
    ) -> Result<bool, SqlError> {
        let mut pause = Duration::from_millis(5);
        loop {
            // Registered before looking, so a release between the look and
            // the wait is not missed.
            let released = self.released.notified();
            let mine = {
                let mut held = self.held();
                match held.get_mut(&key) {
                    Some(h) if h.session == session => {
                        if xact {
                            h.xact_count += 1;
                        } else {
                            h.session_count += 1;
                        }
                        return Ok(true);
                    }
                    Some(_) => false,
                    None => true,
                }
            };
            if mine && self.take(session, key).await? {
                let mut held = self.held();
                let h = held.entry(key).or_insert(Holding {
                    session,
                    session_count: 0,
                    xact_count: 0,
                });
                if xact {
                    h.xact_count += 1;
                } else {
                    h.session_count += 1;
                }
                drop(held);
                self.start_renewing();
                return Ok(true);
            }
            if !wait {
                return Ok(false);
            }
            let _ = tokio::time::timeout(pause, released).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// Writes this session's record at `key` unless another live holder
    /// has one: whether it did.
    async fn take(&self, session: u64, key: Key) -> Result<bool, SqlError> {
        let rkey = record_key(key);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut txn = self
                .gateway
                .begin_with(&TxnOptions::default())
                .map_err(sql_error)?;
            let outcome = async {
                if let Some(bytes) = txn.get_for_update(&rkey).await.map_err(sql_error)? {
                    let r = Record::decode(&bytes)?;
                    let (earliest, _) = self.now();
                    let ours = r.tag == self.tag && r.session == session;
                    if !ours && r.expires >= earliest {
                        return Ok(false);
                    }
                }
                let record = Record {
                    tag: self.tag,
                    session,
                    expires: self.lease_end(),
                };
                txn.put(rkey.clone(), record.encode()).map_err(sql_error)?;
                Ok(true)
            }
            .await;
            let result = match outcome {
                Ok(true) => txn.commit().await.map(|_| true).map_err(sql_error),
                other => {
                    txn.rollback().await;
                    other
                }
            };
            match result {
                // An unknown outcome is asked again: a record that turns
                // out to be ours is written once more, the same.
                Err(e)
                    if attempt < ATTEMPTS
                        && (e.is_retryable()
                            || e.code == spanlite_sql::sqlstate::STATEMENT_COMPLETION_UNKNOWN) =>
                {
                    tokio::time::sleep(Duration::from_millis(2 << attempt.min(6))).await;
                }
                other => return other,
            }
        }
    }

    /// Releases one session-level hold of `key`: whether `session` had one.
    async fn unlock(&self, session: u64, key: Key) -> Result<bool, SqlError> {
        let free = {
            let mut held = self.held();
            match held.get_mut(&key) {
                Some(h) if h.session == session && h.session_count > 0 => {
                    h.session_count -= 1;
                    if h.session_count == 0 && h.xact_count == 0 {
                        held.remove(&key);
                        true
                    } else {
                        false
                    }
                }
                _ => return Ok(false),
            }
        };
        if free {
            self.forget(session, &[key]).await;
        }
        Ok(true)
    }

    /// Whether `session` holds any lock.
    pub fn holds_any(&self, session: u64) -> bool {
        self.held().values().any(|h| h.session == session)
    }

    /// The transaction of `session` ended: its transaction-level holds go.
    pub async fn transaction_ended(&self, session: u64) {
        self.release_where(session, |h| h.xact_count = 0).await;
    }

    /// `session` ended: everything it held goes.
    pub async fn session_ended(&self, session: u64) {
        self.release_where(session, |h| {
            h.session_count = 0;
            h.xact_count = 0;
        })
        .await;
    }

    /// Applies `change` to each of `session`'s holdings and releases those
    /// left with no hold.
    async fn release_where(&self, session: u64, change: impl Fn(&mut Holding)) {
        let freed: Vec<Key> = {
            let mut held = self.held();
            let mut freed = Vec::new();
            held.retain(|key, h| {
                if h.session != session {
                    return true;
                }
                change(h);
                let keep = h.session_count > 0 || h.xact_count > 0;
                if !keep {
                    freed.push(*key);
                }
                keep
            });
            freed
        };
        if !freed.is_empty() {
            self.forget(session, &freed).await;
        }
    }

    /// Deletes `session`'s records at `keys` (one transaction) and wakes
    /// local waiters. A failure is logged: the records expire after one
    /// lease, as a dead node's do.
    async fn forget(&self, session: u64, keys: &[Key]) {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.delete_records(session, keys).await {
                Ok(()) => break,
                Err(e) if attempt < ATTEMPTS && e.is_retryable() => {
                    tokio::time::sleep(Duration::from_millis(2 << attempt.min(6))).await;
                }
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        "advisory locks not released; they expire within {:?}",
                        self.lease
                    );
                    break;
                }
            }
        }
        self.released.notify_waiters();
    }

    async fn delete_records(&self, session: u64, keys: &[Key]) -> Result<(), SqlError> {
        let mut txn = self
            .gateway
            .begin_with(&TxnOptions::default())
            .map_err(sql_error)?;
        let outcome = async {
            for &key in keys {
                let rkey = record_key(key);
                if let Some(bytes) = txn.get_for_update(&rkey).await.map_err(sql_error)?
                    && let Ok(r) = Record::decode(&bytes)
                    && r.tag == self.tag
                    && r.session == session
                {
                    txn.delete(rkey).map_err(sql_error)?;
                }
            }
            Ok::<(), SqlError>(())
        }
        .await;
        match outcome {
            Ok(()) => txn.commit().await.map(|_| ()).map_err(sql_error),
            Err(e) => {
                txn.rollback().await;
                Err(e)
            }
        }
    }

    /// Starts the renewal task unless it runs.
    fn start_renewing(self: &Arc<Self>) {
        let mut renewing = self
            .renewing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *renewing || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        *renewing = true;
        let weak = Arc::downgrade(self);
        let every = self.lease / 3;
        tokio::spawn(renew(weak, every));
    }

    /// Renews the lease of every lock this node's sessions hold; a lock
    /// whose record is no longer ours (its lease ran out and another
    /// session took it) is dropped and logged. Whether any are left.
    async fn renew_once(&self) -> bool {
        let held: Vec<(Key, Holding)> = self.held().iter().map(|(k, h)| (*k, *h)).collect();
        if held.is_empty() {
            return false;
        }
        let Ok(mut txn) = self.gateway.begin_with(&TxnOptions::default()) else {
            return true;
        };
        let mut lost = Vec::new();
        let outcome = async {
            for (key, h) in &held {
                let rkey = record_key(*key);
                let ours = match txn.get_for_update(&rkey).await.map_err(sql_error)? {
                    Some(bytes) => Record::decode(&bytes)
                        .is_ok_and(|r| r.tag == self.tag && r.session == h.session),
                    None => false,
                };
                if ours {
                    let record = Record {
                        tag: self.tag,
                        session: h.session,
                        expires: self.lease_end(),
                    };
                    txn.put(rkey, record.encode()).map_err(sql_error)?;
                } else {
                    lost.push(*key);
                }
            }
            Ok::<(), SqlError>(())
        }
        .await;
        let result = match outcome {
            Ok(()) => txn.commit().await.map(|_| ()).map_err(sql_error),
            Err(e) => {
                txn.rollback().await;
                Err(e)
            }
        };
        match result {
            Ok(()) if !lost.is_empty() => {
                let mut map = self.held();
                for key in &lost {
                    // Only the holding that was checked: a new one taken
                    // since has a record of its own.
                    if let Some((_, h)) = held.iter().find(|(k, _)| k == key)
                        && map.get(key) == Some(h)
                    {
                        map.remove(key);
                        tracing::warn!(
                            ?key,
                            session = h.session,
                            "an advisory lock's lease ran out before it was renewed; the lock is lost"
                        );
                    }
                }
            }
            Ok(()) => {}
            Err(e) => tracing::warn!(error = %e, "renewing advisory locks failed; trying again"),
        }
        !self.held().is_empty()
    }
}

/// Renews the node's advisory locks every `every` while any are held.
async fn renew(locks: Weak<AdvisoryLocks>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(locks) = locks.upgrade() else {
            return;
        };
        if !locks.renew_once().await {
            let mut renewing = locks
                .renewing
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Taken again while this round ran: go on.
            if locks.held().is_empty() {
                *renewing = false;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_and_refuse_the_wrong_length() {
        let r = Record {
            tag: 7,
            session: 9,
            expires: Timestamp::from_nanos(123),
        };
        assert_eq!(Record::decode(&r.encode()).unwrap(), r);
        assert!(Record::decode(&[1, 2, 3]).is_err());
        assert!(Record::decode(&[0; 25]).is_err());
    }

    #[test]
    fn keys_of_the_two_spaces_differ() {
        let a = record_key(Key { space: 1, value: 5 });
        let b = record_key(Key { space: 2, value: 5 });
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX));
    }
}
