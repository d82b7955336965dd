//! Participant action: reads under locks (2PL). Idempotent: a lock already
//! held is granted again, and the values are the latest committed ones.

use std::time::Duration;

use spanlite_storage::mvcc::{Row, TxnId};
use spanlite_truetime::Timestamp;
use spanlite_txn::lock::{LockMode, LockTarget};

use crate::directory::KeyRange;
use crate::tablet::TabletError;
use crate::tablet::replica::Replica;

impl Replica {
    /// Reads `keys` for `txn` under locks of `mode` (shared, or exclusive for
    /// `SELECT … FOR UPDATE`), waiting at most `wait` for each.
    /// `read_before`: the transaction already read from this tablet (the
    /// gateway says so); if this leader does not know it, the leadership
    /// changed since and those reads' locks are gone — it aborts.
    pub async fn txn_read(
        &self,
        txn: TxnId,
        priority: Timestamp,
        keys: Vec<Vec<u8>>,
        mode: LockMode,
        read_before: bool,
        wait: Duration,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, TabletError> {
        self.check_not_aborted(txn)?;
        for k in &keys {
            self.check_key(k)?;
        }
        self.check_serving()?;
        self.check_reads_still_locked(txn, read_before)?;
        for k in &keys {
            self.take_lock(txn, priority, LockTarget::key(k.clone()), mode, wait)
                .await?;
        }
        let until = tokio::time::Instant::now() + wait;
        let mut out = Vec::new();
        for k in keys {
            if let Some(v) = self.until_resolved(until, || self.get(&k)).await? {
                out.push((k, v));
            }
        }
        Ok(out)
    }

    /// Runs `read` again each time an undecided transaction's intent blocks
    /// it (`Locked`: an intent this leader's locks do not cover, e.g. of a
    /// prepare that an abort overtook, resolving now), until `until`.
    async fn until_resolved<T>(
        &self,
        until: tokio::time::Instant,
        read: impl Fn() -> Result<T, TabletError>,
    ) -> Result<T, TabletError> {
        let mut applied = self.applied_watch();
        loop {
            match read() {
                Err(TabletError::Locked { .. }) => {
                    if !matches!(
                        tokio::time::timeout_at(until, applied.changed()).await,
                        Ok(Ok(()))
                    ) {
                        return read();
                    }
                }
                other => return other,
            }
        }
    }

    /// Scans `range` for `txn` under a shared range lock (no phantoms);
    /// `read_before` as for [`Replica::txn_read`].
    pub async fn txn_scan(
        &self,
        txn: TxnId,
        priority: Timestamp,
        range: &KeyRange,
        limit: usize,
        read_before: bool,
        wait: Duration,
    ) -> Result<Vec<Row>, TabletError> {
        self.check_not_aborted(txn)?;
        self.check_serving()?;
        self.check_reads_still_locked(txn, read_before)?;
        // Refused before locking if the range is not (any more) all here.
        self.clip(range)?;
        let target = LockTarget::range(range.start.clone(), range.end.clone());
        self.take_lock(txn, priority, target, LockMode::Shared, wait)
            .await?;
        let until = tokio::time::Instant::now() + wait;
        self.until_resolved(until, || self.scan(range, limit)).await
    }
}
