//! Online index builds (F1's schema-change states, DESIGN.md §7): what a
//! session runs, transaction by transaction, for a `CREATE INDEX` outside
//! a transaction block.
//!
//! ```text
//!   1. CREATE INDEX (KvTxn::builds_indexes_later): the index is declared
//!      `building` — a destructive schema change, so no transaction bound
//!      without it commits after it: every write from then on keeps its
//!      entries; no query reads it
//!   2. backfill_rows, batch after batch of row keys (from a snapshot
//!      after 1): each batch in a short transaction of its own that reads
//!      the rows as they are now and writes their entries (a row changed
//!      since the snapshot gets the entry its writer also wrote; a row
//!      deleted gets none); a unique index finds a duplicate here (23505)
//!   3. finish_index_builds: the index is readable — another destructive
//!      schema change
//!   on failure: abandon_index_builds drops it (its entries discarded)
//! ```
//!
//! Writers are never held for the build: each batch locks its rows for
//! one short transaction.

use super::dml::put_index_entry;
use super::load_table;
use crate::catalog;
use crate::error::Result;
use crate::kv::KvTxn;

/// Writes the entries, in every index of `table` being built, of the rows
/// whose keys are `keys` (as they are now; a key with no row is skipped).
/// Returns false when there is nothing to build any more (the table or
/// its building indexes are gone).
pub async fn backfill_rows(txn: &mut dyn KvTxn, table: &str, keys: &[Vec<u8>]) -> Result<bool> {
    let Some(def) = txn.table_def(table).await? else {
        return Ok(false);
    };
    let building: Vec<_> = def.indexes.iter().filter(|i| i.building).cloned().collect();
    if building.is_empty() {
        return Ok(false);
    }
    let rows = txn.get_many(keys, false).await?;
    for (key, bytes) in keys.iter().zip(rows) {
        let Some(bytes) = bytes else {
            continue;
        };
        let row = def.decode_row(&bytes)?;
        for index in &building {
            put_index_entry(txn, &def, index, &row, key).await?;
        }
    }
    Ok(true)
}

/// Makes the indexes of `table` being built readable. Run it as a schema
/// change, after every row there was has its entries.
pub async fn finish_index_builds(txn: &mut dyn KvTxn, table: &str) -> Result<()> {
    let Some(mut def) = load_table(txn, table).await? else {
        return Ok(());
    };
    if !def.indexes.iter().any(|i| i.building) {
        return Ok(());
    }
    for index in def.indexes.iter_mut() {
        index.building = false;
    }
    txn.put(catalog::table_key(&def.name), catalog::encode_table(&def)?)
}

/// Drops the indexes of `table` being built (a build that failed or was
/// cancelled), their entries discarded. Run it as a schema change.
pub async fn abandon_index_builds(txn: &mut dyn KvTxn, table: &str) -> Result<()> {
    let Some(mut def) = load_table(txn, table).await? else {
        return Ok(());
    };
    let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut def.indexes)
        .into_iter()
        .partition(|i| i.building);
    def.indexes = kept;
    if gone.is_empty() {
        return Ok(());
    }
    txn.put(catalog::table_key(&def.name), catalog::encode_table(&def)?)?;
    for index in &gone {
        let (start, end) = def.index_range(index);
        txn.discard_range(start, end).await?;
    }
    Ok(())
}
