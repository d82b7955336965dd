//! What the executor needs of a transaction ([`KvTxn`]); the server's
//! sessions implement it over the gateway, the tests over a map.

use std::future::Future;
use std::pin::Pin;

use std::sync::Arc;

use crate::access::{self, Access};
use crate::catalog::{self, TableDef};
use crate::error::Result;
use crate::error::SqlError;
use crate::sequence::{self, SequenceDef};

/// A future the [`KvTxn`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Key-value pairs in key order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// What [`KvTxn::get_many_skip_locked`] gives for each key: `None` when
/// another transaction holds it (skipped), else `Some` of its value.
pub type Locked = Vec<Option<Option<Vec<u8>>>>;

/// What the executor needs of a transaction: key-value reads (under the
/// transaction's concurrency control) and buffered writes, which later
/// reads of the same transaction see.
pub trait KvTxn: Send {
    /// The value of `key`.
    fn get<'a>(&'a mut self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>>>;
    /// The value of `key`, locked for writing (SELECT … FOR UPDATE, and the
    /// rows UPDATE and DELETE read). Plain [`KvTxn::get`] unless the
    /// transaction can lock.
    fn get_for_update<'a>(&'a mut self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        self.get(key)
    }
    /// The values of `keys`, in their order (`for_update`: locked for
    /// writing, as [`KvTxn::get_for_update`]). One at a time by default; a
    /// server session reads every key of one tablet in one call.
    fn get_many<'a>(
        &'a mut self,
        keys: &'a [Vec<u8>],
        for_update: bool,
    ) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(keys.len());
            for k in keys {
                out.push(if for_update {
                    self.get_for_update(k).await?
                } else {
                    self.get(k).await?
                });
            }
            Ok(out)
        })
    }
    /// The pairs in `[start, end)`, in key order.
    fn scan<'a>(&'a mut self, start: &'a [u8], end: &'a [u8]) -> BoxFuture<'a, Result<Pairs>>;
    /// The first pairs of `[start, end)` as [`KvTxn::scan`] gives them: at
    /// least all of `[start, resume)`, where `resume` (the second value) is
    /// `None` when the whole range was read, else the key the rest begins
    /// at — a read cut short after about `limit` pairs (`limit` > 0; this
    /// transaction's own writes may make it more or fewer); `for_update`:
    /// the rows read locked, as [`KvTxn::scan_for_update`]. `reverse`: the
    /// last pairs instead, in descending key order, and `resume` the key
    /// the rest ends at (`[start, resume)` is left). A query that wants
    /// only the first rows (`LIMIT`) reads page by page with it. By
    /// default a scan whose pairs past `limit` are left out.
    fn scan_prefix<'a>(
        &'a mut self,
        start: &'a [u8],
        end: &'a [u8],
        limit: usize,
        for_update: bool,
        reverse: bool,
    ) -> BoxFuture<'a, Result<(Pairs, Option<Vec<u8>>)>> {
        Box::pin(async move {
            let mut pairs = if for_update {
                self.scan_for_update(start, end).await?
            } else {
                self.scan(start, end).await?
            };
            if reverse {
                pairs.reverse();
            }
            if limit == 0 || pairs.len() <= limit {
                return Ok((pairs, None));
            }
            pairs.truncate(limit);
            let resume = pairs
                .last()
                .map(|(k, _)| spanlite_storage::keycode::resume_after(k, reverse));
            Ok((pairs, resume))
        })
    }
    /// The pairs in `[start, end)` with the rows found locked for writing
    /// (a ranged `SELECT … FOR UPDATE`). By default a scan, then the keys
    /// found read for update; a server session does both in one call per
    /// tablet under 2PL.
    fn scan_for_update<'a>(
        &'a mut self,
        start: &'a [u8],
        end: &'a [u8],
    ) -> BoxFuture<'a, Result<Pairs>> {
        Box::pin(async move {
            let pairs = self.scan(start, end).await?;
            let keys: Vec<Vec<u8>> = pairs.iter().map(|(k, _)| k.clone()).collect();
            self.get_many(&keys, true).await?;
            Ok(pairs)
        })
    }
    /// The pairs in `[start, end)` as [`KvTxn::scan`] gives them, read
    /// without taking or waiting for locks where the transaction's reads
    /// would (the candidates of `SELECT … FOR UPDATE SKIP LOCKED` and
    /// `NOWAIT`, which [`KvTxn::get_many_skip_locked`] then locks and reads
    /// again). By default a scan.
    fn scan_unlocked<'a>(
        &'a mut self,
        start: &'a [u8],
        end: &'a [u8],
    ) -> BoxFuture<'a, Result<Pairs>> {
        self.scan(start, end)
    }
    /// The values of `keys` read without taking or waiting for locks, as
    /// [`KvTxn::scan_unlocked`]. By default [`KvTxn::get_many`].
    fn get_many_unlocked<'a>(
        &'a mut self,
        keys: &'a [Vec<u8>],
    ) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>>> {
        self.get_many(keys, false)
    }
    /// `keys` locked for writing where that can be done at once, never
    /// waiting: for each key `None` if another transaction holds it
    /// (skipped: not locked, not read), else `Some` of its value as
    /// [`KvTxn::get_many`] reads it for update. By default nothing is held
    /// by anyone else.
    fn get_many_skip_locked<'a>(
        &'a mut self,
        keys: &'a [Vec<u8>],
    ) -> BoxFuture<'a, Result<Locked>> {
        Box::pin(async move {
            let values = self.get_many(keys, true).await?;
            Ok(values.into_iter().map(Some).collect())
        })
    }
    /// Buffers `key = value`.
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<()>;
    /// Buffers a delete of `key`.
    fn delete(&mut self, key: Vec<u8>) -> Result<()>;
    /// The definition of table `name` as this transaction's statements
    /// bind it. By default read through the transaction (the catalog key
    /// joins its reads); a server session answers from its node's schema
    /// cache under a lease instead (DESIGN.md §7, "Schema leases").
    /// Shared (`Arc`): a statement binds against it without copying it.
    fn table_def<'a>(
        &'a mut self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<std::sync::Arc<TableDef>>>> {
        Box::pin(async move {
            match self.get(&catalog::table_key(name)).await? {
                Some(bytes) => Ok(Some(std::sync::Arc::new(catalog::decode_table(&bytes)?))),
                None => Ok(None),
            }
        })
    }

    /// The user the statements run as, whose privileges they are checked
    /// against; `None`: an internal caller that may do everything.
    fn user(&self) -> Option<&str> {
        None
    }
    /// The session the statements run in (its database, settings), for
    /// the session functions and `pg_settings`; `None` outside a session.
    fn session(&self) -> Option<&crate::compat::SessionInfo> {
        None
    }
    /// The roles and privileges as this transaction's statements see them.
    /// By default read through the transaction; a server session answers
    /// from its node's schema cache, as for [`KvTxn::table_def`].
    fn access(&mut self) -> BoxFuture<'_, Result<Arc<Access>>> {
        Box::pin(async move {
            let (start, end) = access::roles_range();
            let mut pairs = self.scan(&start, &end).await?;
            let (start, end) = access::grants_range();
            pairs.extend(self.scan(&start, &end).await?);
            Ok(Arc::new(Access::decode(&pairs)?))
        })
    }
    /// Sequence `name`'s definition as statements bind it: by default read
    /// through the transaction; a server session answers from its node's
    /// schema cache, as for [`KvTxn::table_def`].
    fn sequence_def<'a>(&'a mut self, name: &'a str) -> BoxFuture<'a, Result<Option<SequenceDef>>> {
        Box::pin(async move {
            match self.get(&sequence::sequence_key(name)).await? {
                Some(bytes) => Ok(Some(catalog::decode(&bytes, "sequence")?)),
                None => Ok(None),
            }
        })
    }
    /// Enum type `name` (`CREATE TYPE … AS ENUM`). By default read through
    /// the transaction; a server session answers from its node's schema
    /// cache, as for tables.
    fn enum_def<'a>(
        &'a mut self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<crate::enums::EnumType>>> {
        Box::pin(async move {
            match self.get(&crate::enums::enum_key(name)).await? {
                Some(bytes) => Ok(Some(catalog::decode(&bytes, "enum type")?)),
                None => Ok(None),
            }
        })
    }
    /// Every enum type (what a statement's casts may name). By default read
    /// through the transaction; a server session answers from its node's
    /// schema cache.
    fn enum_defs(&mut self) -> BoxFuture<'_, Result<Vec<std::sync::Arc<crate::enums::EnumType>>>> {
        Box::pin(async move {
            let (start, end) = crate::enums::enums_range();
            crate::enums::decode_enums(&self.scan(&start, &end).await?)
        })
    }
    /// Takes, tries or releases an advisory lock (`pg_advisory_lock` and
    /// kin): whether it was taken (or released). A server session keeps
    /// them cluster-wide; elsewhere there are none.
    fn advisory<'a>(
        &'a mut self,
        request: &'a crate::advisory::Request,
    ) -> BoxFuture<'a, Result<bool>> {
        let _ = request;
        Box::pin(async {
            Err(SqlError::not_supported(
                "advisory locks outside a server session",
            ))
        })
    }
    /// The next value of `seq` (`nextval`). By default through the
    /// transaction (its counter read for update and moved by one, so it
    /// rolls back with it); a server session takes values from its node's
    /// block, outside the transaction, as PostgreSQL's `nextval` does.
    fn next_value<'a>(&'a mut self, seq: &'a SequenceDef) -> BoxFuture<'a, Result<i64>> {
        Box::pin(async move {
            let key = sequence::counter_key(&seq.name);
            let counter = match self.get_for_update(&key).await? {
                Some(b) => Some(sequence::decode_counter(&b)?),
                None => None,
            };
            let (block, next) = seq.take(counter, 1)?;
            self.put(key, catalog::encode(&next)?)?;
            Ok(block.first)
        })
    }
    /// The value `nextval` last gave for sequence `name` in this session
    /// (`currval`); 55000 when it gave none.
    fn current_value(&mut self, name: &str) -> Result<i64> {
        Err(SqlError::not_in_prerequisite_state(format!(
            "currval of sequence \"{name}\" is not yet defined in this session"
        )))
    }
    /// Sets `seq`'s counter (`setval`): through the transaction by default;
    /// a server session writes it in a transaction of its own.
    fn set_counter<'a>(
        &'a mut self,
        seq: &'a SequenceDef,
        counter: i128,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(
            async move { self.put(sequence::counter_key(&seq.name), catalog::encode(&counter)?) },
        )
    }
    /// The tables with a FOREIGN KEY that refers to table `parent` (what a
    /// change to its rows must look at): by default from the catalog read
    /// through the transaction; a server session answers from its node's
    /// schema cache.
    fn referencing<'a>(&'a mut self, parent: &'a str) -> BoxFuture<'a, Result<Vec<TableDef>>> {
        Box::pin(async move {
            let (start, end) = catalog::catalog_range();
            let mut out = Vec::new();
            for (_, v) in self.scan(&start, &end).await? {
                let def = catalog::decode_table(&v)?;
                if def.foreign_keys.iter().any(|f| f.parent == parent) {
                    out.push(def);
                }
            }
            Ok(out)
        })
    }
    /// Drops every key in `[start, end)`, which no statement reads any more
    /// (TRUNCATE gave the table a new id). By default deleted through the
    /// transaction, key by key; a server session deletes them after the
    /// transaction commits, in batches of their own, so TRUNCATE costs its
    /// transaction one catalog write whatever the table's size.
    fn discard_range(&mut self, start: Vec<u8>, end: Vec<u8>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            for (k, _) in self.scan(&start, &end).await? {
                self.delete(k)?;
            }
            Ok(())
        })
    }
    /// `Some(owner)` when this transaction is the first step of an online
    /// schema change ([`crate::online`]; a session outside a transaction
    /// block): a CREATE INDEX here only declares the index (`building`),
    /// and an ALTER TABLE that adds a constraint only declares it; the
    /// caller builds and checks them after the commit, batch by batch,
    /// then finishes (or abandons) the work `owner` names. By default
    /// `None`: indexes are built and rows checked in this transaction.
    fn online_change(&self) -> Option<u64> {
        None
    }
    /// [`KvTxn::access`] as of now: what a privilege check that failed
    /// against a cached copy asks before it reports 42501 (a grant just
    /// committed elsewhere counts). By default the same as `access`.
    fn access_now(&mut self) -> BoxFuture<'_, Result<Arc<Access>>> {
        self.access()
    }
}

pub use spanlite_storage::keycode::key_after;
