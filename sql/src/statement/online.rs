//! Online schema changes (F1's schema-change states, DESIGN.md §7): what a
//! session runs, transaction by transaction, for a `CREATE INDEX` or a
//! one-operation `ALTER TABLE` that adds a constraint (`ADD CHECK`, `ADD
//! FOREIGN KEY`, `ADD UNIQUE`, `SET NOT NULL`) outside a transaction
//! block.
//!
//! ```text
//!   1. the statement (KvTxn::online_change = Some(owner)): the index is
//!      declared `building`, the constraint declared as it will be, each
//!      listed in the table's `pending` work under `owner` — a
//!      destructive schema change, so no transaction bound without them
//!      commits after it: every write from then on keeps the index's
//!      entries and obeys the constraint; no query reads the index
//!   2. process_rows, batch after batch of row keys (from a snapshot
//!      after 1): each batch in a short transaction of its own that reads
//!      the rows as they are now, writes their entries in the indexes
//!      being built and checks them against the constraints to validate
//!      (a row changed since the snapshot was checked by its writer too; a
//!      row deleted is skipped); a duplicate (23505), a row the constraint
//!      refuses (23514, 23502, 23503) ends the change
//!   3. finish: the indexes are readable, the constraints valid — another
//!      destructive schema change
//!   on failure: abandon drops what the change declared (the index's
//!   entries discarded, the constraint removed, NOT NULL dropped again)
//! ```
//!
//! Writers are never held for the change: each batch locks its rows for
//! one short transaction. Work of a change whose session vanished stays
//! declared and pending (an index unread, a constraint enforced but not
//! valid, as PostgreSQL's INVALID index and NOT VALID constraint): DROP
//! INDEX or DROP CONSTRAINT removes it.

use std::collections::{HashMap, HashSet};

use super::dml::unique_violation;
use super::load_table_owned;
use super::row_rules::{bind_checks, check_constraints};
use crate::catalog::{self, PendingItem, TableDef};
use crate::error::Result;
use crate::kv::KvTxn;
use crate::value::Value;

/// A fresh owner for an online schema change's pending work.
pub fn new_owner() -> u64 {
    rand::random::<u64>().max(1)
}

/// What `owner` left to do on `def`: the indexes it builds, and a copy of
/// `def` with only the constraints it validates (and the columns whose
/// NOT NULL it validates).
fn work_of(def: &TableDef, owner: u64) -> (Vec<catalog::IndexDef>, TableDef, Vec<usize>) {
    let mine: Vec<&PendingItem> = def
        .pending
        .iter()
        .filter(|p| p.owner == owner)
        .map(|p| &p.item)
        .collect();
    let indexes = def
        .indexes
        .iter()
        .filter(|i| i.building && mine.contains(&&PendingItem::Index(i.id)))
        .cloned()
        .collect();
    let only = TableDef {
        checks: def
            .checks
            .iter()
            .filter(|c| mine.contains(&&PendingItem::Check(c.name.clone())))
            .cloned()
            .collect(),
        foreign_keys: def
            .foreign_keys
            .iter()
            .filter(|f| mine.contains(&&PendingItem::ForeignKey(f.name.clone())))
            .cloned()
            .collect(),
        ..def.clone()
    };
    let not_null = def
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| mine.contains(&&PendingItem::NotNull(c.name.clone())))
        .map(|(i, _)| i)
        .collect();
    (indexes, only, not_null)
}

/// Writes the entries, in the indexes `owner` builds on `table`, of the
/// rows whose keys are `keys` (as they are now; a key with no row is
/// skipped), and checks those rows against the constraints `owner`
/// validates. Returns false when `owner` has nothing left there (the
/// table or its pending work is gone).
pub async fn process_rows(
    txn: &mut dyn KvTxn,
    table: &str,
    owner: u64,
    keys: &[Vec<u8>],
) -> Result<bool> {
    let Some(def) = txn.table_def(table).await? else {
        return Ok(false);
    };
    let (building, only, not_null) = work_of(&def, owner);
    if building.is_empty()
        && only.checks.is_empty()
        && only.foreign_keys.is_empty()
        && not_null.is_empty()
    {
        return Ok(false);
    }
    let checks = bind_checks(&only)?;
    let single: Vec<TableDef> = only
        .foreign_keys
        .iter()
        .map(|f| TableDef {
            foreign_keys: vec![f.clone()],
            ..(*def).clone()
        })
        .collect();
    let mut found: HashSet<(usize, String)> = HashSet::new();
    let rows = txn.get_many(keys, false).await?;
    let mut present = Vec::new();
    for (key, bytes) in keys.iter().zip(rows) {
        let Some(bytes) = bytes else {
            continue;
        };
        let row = def.decode_row(&bytes)?;
        if let Some(&c) = not_null.iter().find(|&&c| row[c] == Value::Null) {
            return Err(super::alter::contains_nulls(&def, c));
        }
        check_constraints(&def, &checks, &row)
            .map_err(|e| super::alter::violated_by_some_row(&def, &only.checks, e))?;
        for (i, one) in single.iter().enumerate() {
            // Each parent key is looked up once per batch.
            let fk = &one.foreign_keys[0];
            let key = format!(
                "{:?}",
                fk.columns.iter().map(|&c| &row[c]).collect::<Vec<_>>()
            );
            if !found.contains(&(i, key.clone())) {
                super::foreign_keys::check_parents(txn, one, &row, None).await?;
                found.insert((i, key));
            }
        }
        present.push((key, row));
    }
    for index in &building {
        let entries = present
            .iter()
            .map(|(key, row)| Ok((def.index_key(index, row, key)?, key.to_vec())))
            .collect::<Result<Vec<(Vec<u8>, Vec<u8>)>>>()?;
        if index.unique {
            // Every entry's key read in one call: another row's entry
            // there (or another row of the batch with it) is a duplicate.
            let keys: Vec<Vec<u8>> = entries.iter().map(|(k, _)| k.clone()).collect();
            let existing = txn.get_many(&keys, false).await?;
            let mut batch: HashMap<&[u8], &[u8]> = HashMap::new();
            for ((entry, row_key), there) in entries.iter().zip(existing) {
                let taken = there.is_some_and(|t| t != *row_key)
                    || batch
                        .insert(entry, row_key)
                        .is_some_and(|other| other != row_key.as_slice());
                if taken {
                    return Err(unique_violation(&index.name));
                }
            }
        }
        for (entry, row_key) in entries {
            txn.put(entry, row_key)?;
        }
    }
    Ok(true)
}

/// Makes what `owner` built readable and what it validated valid. Run it
/// as a schema change, after every row there was was processed.
pub async fn finish(txn: &mut dyn KvTxn, table: &str, owner: u64) -> Result<()> {
    let Some(mut def) = load_table_owned(txn, table).await? else {
        return Ok(());
    };
    let (building, _, _) = work_of(&def, owner);
    if !def.pending.iter().any(|p| p.owner == owner) {
        return Ok(());
    }
    for index in def.indexes.iter_mut() {
        if building.iter().any(|b| b.id == index.id) {
            index.building = false;
        }
    }
    def.pending.retain(|p| p.owner != owner);
    txn.put(catalog::table_key(&def.name), catalog::encode_table(&def)?)
}

/// Drops what `owner` declared on `table` (a change that failed or was
/// cancelled): the indexes being built (their entries discarded), the
/// constraints not validated, NOT NULL again allowing NULL. Run it as a
/// schema change.
pub async fn abandon(txn: &mut dyn KvTxn, table: &str, owner: u64) -> Result<()> {
    let Some(mut def) = load_table_owned(txn, table).await? else {
        return Ok(());
    };
    if !def.pending.iter().any(|p| p.owner == owner) {
        return Ok(());
    }
    let (building, only, not_null) = work_of(&def, owner);
    def.indexes
        .retain(|i| !building.iter().any(|b| b.id == i.id));
    def.checks
        .retain(|c| !only.checks.iter().any(|x| x.name == c.name));
    def.foreign_keys
        .retain(|f| !only.foreign_keys.iter().any(|x| x.name == f.name));
    for c in not_null {
        def.columns[c].nullable = true;
    }
    def.pending.retain(|p| p.owner != owner);
    def.retain_pending();
    txn.put(catalog::table_key(&def.name), catalog::encode_table(&def)?)?;
    for index in &building {
        let (start, end) = def.index_range(index);
        txn.discard_range(start, end).await?;
    }
    Ok(())
}
