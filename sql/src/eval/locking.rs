//! `SELECT … FOR UPDATE SKIP LOCKED` and `FOR UPDATE NOWAIT`: the fetch
//! of a block that locks the rows it returns, and only those.
//!
//! ```text
//!   candidates  ── read without taking or waiting for locks
//!       │          (the access path's rows; conditions; ORDER BY)
//!       ▼
//!   lock as many as the query still needs (OFFSET + LIMIT), in order,
//!   each only if it can be had at once ── held by another: skip it
//!       │                                  (NOWAIT: 55P03)
//!       ▼
//!   the rows locked, read again under their locks: those that still
//!   pass the conditions are the block's rows; more candidates if short
//! ```
//!
//! Why not lock while scanning, as a plain `FOR UPDATE` does: a job queue
//! asks `… WHERE state = 'ready' ORDER BY id LIMIT 1 FOR UPDATE SKIP
//! LOCKED` from many workers at once; locking every row the scan passes
//! (or a range lock over them) would have each worker take, or wait for,
//! every ready job, and the others skip them all. PostgreSQL locks rows
//! as they leave the plan towards its LIMIT and checks a row again once
//! locked; so does this.
//!
//! INVARIANT: every row the block returns was locked exclusively by this
//! transaction at once (never waited for, never wounding its holder) and
//! read after its lock was granted, and passes the block's conditions as
//! read then. Unlike a plain `FOR UPDATE` under 2PL, no range lock is
//! taken: a row inserted meanwhile is not seen (as in PostgreSQL, these
//! clauses give up a consistent view for not waiting).

use std::cmp::Ordering;

use crate::error::{Result, SqlError};
use crate::kv::KvTxn;
use crate::plan::{Body, LockWait, Query, Row, Scan, Select, Source};
use crate::value::Value;

use super::fetch::{Reads, fetch_block_exprs, fetch_expr, plan_reads, scan_row};
use super::{Env, offset_and_limit, output_and_keys, passes, sort_cmp};

/// Fetches `q`, a block over one table marked `NOWAIT` or `SKIP LOCKED`
/// (the binder allows no other shape): its table's rows are the rows it
/// locked (see the module's doc).
pub(super) async fn fetch_locking(txn: &mut dyn KvTxn, q: &mut Query) -> Result<()> {
    let (offset, limit) = offset_and_limit(q, &[])?;
    let wanted = offset.saturating_add(limit);
    let order = q.order.clone();
    let Body::Select(s) = &mut q.body else {
        return Err(SqlError::internal(
            "a locking fetch of a block that is not a SELECT",
        ));
    };
    // The conditions' subqueries first: they decide which rows to lock.
    fetch_block_exprs(txn, s).await?;
    let Some(step) = s.steps.first_mut() else {
        return Err(SqlError::internal(
            "a locking fetch of a block without a table",
        ));
    };
    if let Source::Scan(scan) = &mut step.source
        && let Some(f) = &mut scan.filter
    {
        fetch_expr(txn, f).await?;
    }
    let candidates = candidates(txn, s, &order).await?;
    let (rows, keys) = lock_rows(txn, s, candidates, wanted).await?;
    if let Some(Source::Scan(scan)) = s.steps.first_mut().map(|step| &mut step.source) {
        scan.rows = rows;
        scan.keys = keys;
    }
    Ok(())
}

/// The block's one table.
fn the_scan(s: &Select) -> Result<&Scan> {
    match s.steps.first().map(|step| &step.source) {
        Some(Source::Scan(scan)) => Ok(scan),
        _ => Err(SqlError::internal(
            "a locking fetch of a block without a table",
        )),
    }
}

/// Whether `row` passes the block's conditions (its table's own, and those
/// left for after the joins, which hold the ones with subqueries).
fn passes_block(s: &Select, scan: &Scan, row: &[Value]) -> Result<bool> {
    let env = Env {
        row,
        outer: &[],
        output: &[],
    };
    Ok(passes(&scan.filter, &env)? && passes(&s.filter, &env)?)
}

/// The rows the block could return, read without locks, as (key, row) in
/// the order the query returns them.
async fn candidates(
    txn: &mut dyn KvTxn,
    s: &Select,
    order: &[crate::plan::SortKey],
) -> Result<Vec<(Vec<u8>, Row)>> {
    let scan = the_scan(s)?;
    let pairs: Vec<(Vec<u8>, Option<Vec<u8>>)> = match plan_reads(scan)? {
        Reads::Nothing => Vec::new(),
        Reads::Keys(keys) => {
            let values = txn.get_many_unlocked(&keys).await?;
            keys.into_iter().zip(values).collect()
        }
        Reads::Range(start, end) => txn
            .scan_unlocked(&start, &end)
            .await?
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect(),
        Reads::IndexRange(start, end) => {
            let row_keys: Vec<Vec<u8>> = txn
                .scan_unlocked(&start, &end)
                .await?
                .into_iter()
                .map(|(_, row_key)| row_key)
                .collect();
            let values = txn.get_many_unlocked(&row_keys).await?;
            row_keys.into_iter().zip(values).collect()
        }
    };
    let mut keyed: Vec<(Vec<u8>, Row, Row)> = Vec::new();
    for (k, v) in pairs {
        // A row deleted since its index entry was read: not a candidate.
        let Some(v) = v else { continue };
        let row = scan_row(scan, &v)?;
        if !passes_block(s, scan, &row)? {
            continue;
        }
        let sort_keys = if s.order.is_empty() {
            Row::new()
        } else {
            output_and_keys(s, &row, &[])?.1
        };
        keyed.push((k, row, sort_keys));
    }
    // Stable: rows equal on the sort keys stay in key order.
    keyed.sort_by(|a, b| {
        for (i, key) in order.iter().enumerate() {
            let o = sort_cmp(&a.2[i], &b.2[i], key.nulls_first, key.descending);
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    Ok(keyed.into_iter().map(|(k, row, _)| (k, row)).collect())
}

/// Locks `candidates` in order until `wanted` rows are held (or none is
/// left), each only if it can be had at once; returns the rows locked that
/// still pass the block's conditions as read under their locks, and their
/// keys. Under `NOWAIT` a row held by another transaction is 55P03.
async fn lock_rows(
    txn: &mut dyn KvTxn,
    s: &Select,
    candidates: Vec<(Vec<u8>, Row)>,
    wanted: usize,
) -> Result<(Vec<Row>, Vec<Vec<u8>>)> {
    let scan = the_scan(s)?;
    let mut rows = Vec::new();
    let mut keys = Vec::new();
    let mut rest = candidates.into_iter().map(|(k, _)| k).peekable();
    while rows.len() < wanted && rest.peek().is_some() {
        // As many as are still wanted: a row that fails its check again
        // (changed since it was read) makes another round.
        let batch: Vec<Vec<u8>> = rest.by_ref().take(wanted - rows.len()).collect();
        let locked = txn.get_many_skip_locked(&batch).await?;
        for (k, v) in batch.into_iter().zip(locked) {
            match v {
                None if scan.lock_wait == LockWait::NoWait => {
                    return Err(SqlError::lock_not_available(format!(
                        "could not obtain lock on row in relation \"{}\"",
                        scan.table.name
                    )));
                }
                // Held by another transaction: skipped.
                None => {}
                // Deleted since it was read.
                Some(None) => {}
                Some(Some(v)) => {
                    let row = scan_row(scan, &v)?;
                    if passes_block(s, scan, &row)? {
                        rows.push(row);
                        keys.push(k);
                    }
                }
            }
        }
    }
    Ok((rows, keys))
}
