//! The session's side of the SQL executor's key-value interface: a
//! gateway transaction, the read in flight (for a cancel), the schema
//! cache its statements bind tables from, the session's user and sequence
//! values.

use std::collections::HashMap;
use std::sync::Arc;

use spanlite_gateway::Txn;
use spanlite_sql::compat::SessionInfo;
use spanlite_sql::sequence::SequenceDef;
use spanlite_sql::{BoxFuture, KvTxn, Locked, Pairs, SqlError, TableDef};

use super::sql_error;
use crate::schema::{SchemaCache, SchemaUse};

/// A gateway transaction as the SQL executor sees it; with a slot, the
/// key range of the read in flight is kept there while it is (so a
/// cancelled statement can release what that read may have locked); with
/// a schema cache, tables are bound from it (DESIGN.md §7, "Schema
/// leases") and what was used is recorded for the commit.
pub(super) struct Kv<'a> {
    pub(super) txn: &'a mut Txn,
    pub(super) reading: Option<&'a mut Reading>,
    pub(super) schema: Option<(&'a SchemaCache, &'a mut SchemaUse)>,
    /// The session's user (privileges are checked against it).
    pub(super) user: Option<&'a str>,
    /// The session (its database and settings), for the session functions.
    pub(super) session: Option<&'a SessionInfo>,
    /// The values `nextval` last gave in the session, by sequence.
    pub(super) last_values: Option<&'a mut HashMap<String, i64>>,
    /// The node's advisory locks and the session's number there.
    pub(super) advisory: Option<(&'a Arc<crate::AdvisoryLocks>, u64)>,
    /// The online schema change this transaction starts, if it is one
    /// (`KvTxn::online_change`): the session builds and checks what it
    /// declares after the commit.
    pub(super) online: Option<u64>,
}

/// The key range `[start, end)` of a read in flight.
pub(super) type Reading = Option<(Vec<u8>, Vec<u8>)>;

pub(super) fn kv(txn: &mut Txn) -> Kv<'_> {
    Kv {
        txn,
        reading: None,
        schema: None,
        user: None,
        session: None,
        last_values: None,
        advisory: None,
        online: None,
    }
}

impl<'a> Kv<'a> {
    /// Statements over `txn` that bind tables from `schema` (recorded in
    /// `used`), with no session user or sequence state.
    pub(super) fn bound(
        txn: &'a mut Txn,
        schema: &'a SchemaCache,
        used: &'a mut SchemaUse,
    ) -> Self {
        Kv {
            txn,
            reading: None,
            schema: Some((schema, used)),
            user: None,
            session: None,
            last_values: None,
            advisory: None,
            online: None,
        }
    }

    fn note(&mut self, reading: Reading) {
        if let Some(slot) = &mut self.reading {
            **slot = reading;
        }
    }
}

/// `key`'s successor: `[key, after(key))` holds `key` alone.
pub(super) use spanlite_sql::key_after as after;

/// The key range `keys` lie in, for the read-in-flight slot.
fn span_of(keys: &[Vec<u8>]) -> Reading {
    keys.iter()
        .min()
        .zip(keys.iter().max())
        .map(|(lo, hi)| (lo.clone(), after(hi)))
}

impl KvTxn for Kv<'_> {
    fn get<'a>(&'a mut self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>, SqlError>> {
        Box::pin(async move {
            self.note(Some((key.to_vec(), after(key))));
            let r = self.txn.get(key).await.map_err(sql_error);
            self.note(None);
            r
        })
    }

    fn get_for_update<'a>(
        &'a mut self,
        key: &'a [u8],
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, SqlError>> {
        Box::pin(async move {
            self.note(Some((key.to_vec(), after(key))));
            let r = self.txn.get_for_update(key).await.map_err(sql_error);
            self.note(None);
            r
        })
    }

    fn get_many<'a>(
        &'a mut self,
        keys: &'a [Vec<u8>],
        for_update: bool,
    ) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>, SqlError>> {
        Box::pin(async move {
            self.note(span_of(keys));
            let r = self.txn.get_many(keys, for_update).await.map_err(sql_error);
            self.note(None);
            r
        })
    }

    fn scan<'a>(
        &'a mut self,
        start: &'a [u8],
        end: &'a [u8],
    ) -> BoxFuture<'a, Result<Pairs, SqlError>> {
        Box::pin(async move {
            self.note(Some((start.to_vec(), end.to_vec())));
            let r = self.txn.scan(start, end).await.map_err(sql_error);
            self.note(None);
            r
        })
    }

    fn scan_prefix<'a>(
        &'a mut self,
        start: &'a [u8],
        end: &'a [u8],
        limit: usize,
        for_update: bool,
        reverse: bool,
    ) -> BoxFuture<'a, Result<(Pairs, Option<Vec<u8>>), SqlError>> {
        Box::pin(async move {
            self.note(Some((start.to_vec(), end.to_vec())));
            let r = self
                .txn
                .scan_prefix(start, end, limit, for_update, reverse)
                .await
                .map_err(sql_error);
            self.note(None);
            r
        })
    }

    fn scan_for_update<'a>(
        &'a mut self,
        start: &'a [u8],
        end: &'a [u8],
    ) -> BoxFuture<'a, Result<Pairs, SqlError>> {
        Box::pin(async move {
            self.note(Some((start.to_vec(), end.to_vec())));
            let r = self
                .txn
                .scan_for_update(start, end)
                .await
                .map_err(sql_error);
            self.note(None);
            r
        })
    }

    fn scan_unlocked<'a>(
        &'a mut self,
        start: &'a [u8],
        end: &'a [u8],
    ) -> BoxFuture<'a, Result<Pairs, SqlError>> {
        Box::pin(async move {
            self.note(Some((start.to_vec(), end.to_vec())));
            let r = self.txn.scan_unlocked(start, end).await.map_err(sql_error);
            self.note(None);
            r
        })
    }

    fn get_many_unlocked<'a>(
        &'a mut self,
        keys: &'a [Vec<u8>],
    ) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>, SqlError>> {
        Box::pin(async move { self.txn.get_many_unlocked(keys).await.map_err(sql_error) })
    }

    fn get_many_skip_locked<'a>(
        &'a mut self,
        keys: &'a [Vec<u8>],
    ) -> BoxFuture<'a, Result<Locked, SqlError>> {
        Box::pin(async move {
            self.note(span_of(keys));
            let r = self.txn.get_many_skip_locked(keys).await.map_err(sql_error);
            self.note(None);
            r
        })
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), SqlError> {
        self.txn.put(key, value).map_err(sql_error)
    }

    fn online_change(&self) -> Option<u64> {
        self.online
    }

    fn delete(&mut self, key: Vec<u8>) -> Result<(), SqlError> {
        self.txn.delete(key).map_err(sql_error)
    }

    fn table_def<'a>(
        &'a mut self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<std::sync::Arc<TableDef>>, SqlError>> {
        Box::pin(async move {
            if let Some((cache, used)) = &mut self.schema
                && !used.changing
            {
                match cache.table(name, used).await {
                    Ok(def) => return Ok(def),
                    Err(Some(e)) => return Err(e),
                    // No lease to be had: through the transaction.
                    Err(None) => {}
                }
            }
            match self.get(&spanlite_sql::table_key(name)).await? {
                Some(bytes) => Ok(Some(std::sync::Arc::new(spanlite_sql::decode_table(
                    &bytes,
                )?))),
                None => Ok(None),
            }
        })
    }

    fn user(&self) -> Option<&str> {
        self.user
    }

    fn session(&self) -> Option<&SessionInfo> {
        self.session
    }

    fn enum_defs(
        &mut self,
    ) -> BoxFuture<'_, Result<Vec<Arc<spanlite_sql::enums::EnumType>>, SqlError>> {
        Box::pin(async move {
            if let Some((cache, used)) = &mut self.schema
                && !used.changing
            {
                match cache.enums(used).await {
                    Ok(all) => return Ok(all),
                    Err(Some(e)) => return Err(e),
                    Err(None) => {}
                }
            }
            let (start, end) = spanlite_sql::enums::enums_range();
            spanlite_sql::enums::decode_enums(&self.scan(&start, &end).await?)
        })
    }

    fn sequence_def<'a>(
        &'a mut self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<SequenceDef>, SqlError>> {
        Box::pin(async move {
            if let Some((cache, used)) = &mut self.schema
                && !used.changing
            {
                match cache.sequence(name, used).await {
                    Ok(def) => return Ok(def),
                    Err(Some(e)) => return Err(e),
                    Err(None) => {}
                }
            }
            match self
                .get(&spanlite_sql::sequence::sequence_key(name))
                .await?
            {
                Some(bytes) => Ok(Some(spanlite_sql::decode(&bytes, "sequence")?)),
                None => Ok(None),
            }
        })
    }

    fn next_value<'a>(&'a mut self, seq: &'a SequenceDef) -> BoxFuture<'a, Result<i64, SqlError>> {
        Box::pin(async move {
            let Some((cache, _)) = &self.schema else {
                return Err(SqlError::not_supported(
                    "nextval() in a transaction at a fixed time (AS OF SYSTEM TIME)",
                ));
            };
            let v = cache.next_value(seq).await?;
            if let Some(last) = &mut self.last_values {
                last.insert(seq.name.clone(), v);
            }
            Ok(v)
        })
    }

    fn advisory<'b>(
        &'b mut self,
        request: &'b spanlite_sql::advisory::Request,
    ) -> BoxFuture<'b, Result<bool, SqlError>> {
        Box::pin(async move {
            match self.advisory {
                Some((locks, session)) => locks.run(session, request).await,
                None => Err(SqlError::not_supported(
                    "advisory locks in a statement a session does not run",
                )),
            }
        })
    }

    fn current_value(&mut self, name: &str) -> Result<i64, SqlError> {
        self.last_values
            .as_ref()
            .and_then(|l| l.get(name).copied())
            .ok_or_else(|| {
                SqlError::not_in_prerequisite_state(format!(
                    "currval of sequence \"{name}\" is not yet defined in this session"
                ))
            })
    }

    fn set_counter<'a>(
        &'a mut self,
        seq: &'a SequenceDef,
        counter: i128,
    ) -> BoxFuture<'a, Result<(), SqlError>> {
        Box::pin(async move {
            let Some((cache, _)) = &self.schema else {
                return Err(SqlError::not_supported(
                    "setval() in a transaction at a fixed time (AS OF SYSTEM TIME)",
                ));
            };
            cache.set_counter(seq, counter).await
        })
    }

    fn referencing<'a>(
        &'a mut self,
        parent: &'a str,
    ) -> BoxFuture<'a, Result<Vec<spanlite_sql::TableDef>, SqlError>> {
        Box::pin(async move {
            if let Some((cache, used)) = &mut self.schema
                && !used.changing
            {
                match cache.referencing(parent, used).await {
                    Ok(t) => return Ok(t),
                    Err(Some(e)) => return Err(e),
                    Err(None) => {}
                }
            }
            let mut out = Vec::new();
            for t in spanlite_sql::tables(self).await? {
                if t.foreign_keys.iter().any(|f| f.parent == parent) {
                    out.push(t);
                }
            }
            Ok(out)
        })
    }

    fn discard_range(
        &mut self,
        start: Vec<u8>,
        end: Vec<u8>,
    ) -> BoxFuture<'_, Result<(), SqlError>> {
        Box::pin(async move {
            match &mut self.schema {
                Some((_, used)) => {
                    used.garbage.push((start, end));
                    Ok(())
                }
                None => {
                    for (k, _) in self.scan(&start, &end).await? {
                        self.delete(k)?;
                    }
                    Ok(())
                }
            }
        })
    }

    fn access(&mut self) -> BoxFuture<'_, Result<Arc<spanlite_sql::Access>, SqlError>> {
        Box::pin(async move {
            if let Some((cache, used)) = &mut self.schema
                && !used.changing
            {
                match cache.access(used).await {
                    Ok(access) => return Ok(access),
                    Err(Some(e)) => return Err(e),
                    Err(None) => {}
                }
            }
            let mut pairs = Vec::new();
            for (start, end) in [
                spanlite_sql::access::roles_range(),
                spanlite_sql::access::grants_range(),
            ] {
                pairs.extend(self.scan(&start, &end).await?);
            }
            Ok(Arc::new(spanlite_sql::Access::decode(&pairs)?))
        })
    }

    fn access_now(&mut self) -> BoxFuture<'_, Result<Arc<spanlite_sql::Access>, SqlError>> {
        Box::pin(async move {
            if let Some((cache, used)) = &mut self.schema
                && !used.changing
            {
                match cache.access_now(used).await {
                    Ok(access) => return Ok(access),
                    Err(Some(e)) => return Err(e),
                    Err(None) => {}
                }
            }
            self.access().await
        })
    }
}
