//! The fetch phase: every read a plan needs, through the transaction,
//! before anything is computed. Access paths turn into keys and key ranges
//! here; the rows read are stored in the plan's scans.

use crate::catalog::prefix_end;
use crate::error::{Result, SqlError};
use crate::kv::{BoxFuture, KvTxn};
use crate::plan::{
    Access, AggCall, BExpr, Body, JoinKind, LockWait, Query, Scan, Select, Source, WindowCall,
};
use crate::value::{DataType, Value};

use super::{Env, eval};

/// Reads every table `q` names (its subqueries' too).
pub fn fetch<'a>(txn: &'a mut dyn KvTxn, q: &'a mut Query) -> BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        for e in q.limit.iter_mut().chain(q.offset.iter_mut()) {
            fetch_expr(txn, e).await?;
        }
        if let Body::Select(s) = &q.body
            && let [step] = s.steps.as_slice()
            && let Source::Scan(scan) = &step.source
            && scan.lock_wait != LockWait::Wait
        {
            return super::locking::fetch_locking(txn, q).await;
        }
        fetch_body(txn, &mut q.body).await
    })
}

fn fetch_body<'a>(txn: &'a mut dyn KvTxn, b: &'a mut Body) -> BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        match b {
            Body::Values { rows, order } => {
                for e in rows.iter_mut().flatten().chain(order.iter_mut()) {
                    fetch_expr(txn, e).await?;
                }
            }
            Body::Unnest { arrays, .. } => {
                for e in arrays {
                    fetch_expr(txn, e).await?;
                }
            }
            Body::SetOp {
                left, right, order, ..
            } => {
                fetch_body(txn, left).await?;
                fetch_body(txn, right).await?;
                for e in order {
                    fetch_expr(txn, e).await?;
                }
            }
            Body::Select(s) => fetch_select(txn, s).await?,
        }
        Ok(())
    })
}

async fn fetch_select(txn: &mut dyn KvTxn, s: &mut Select) -> Result<()> {
    for i in 0..s.steps.len() {
        let (done, rest) = s.steps.split_at_mut(i);
        let step = &mut rest[0];
        // Only where the table's unmatched rows drop out of the join: not
        // the preserved side of a RIGHT or FULL join.
        if matches!(step.kind, JoinKind::Inner | JoinKind::Left)
            && let Source::Scan(scan) = &mut step.source
        {
            lookup_keys(done, &step.keys, scan);
        }
        match &mut step.source {
            Source::Unit => {}
            Source::Scan(scan) => {
                fetch_scan(txn, scan).await?;
                if let Some(f) = &mut scan.filter {
                    fetch_expr(txn, f).await?;
                }
            }
            Source::Derived { query, filter, .. } => {
                fetch(txn, query).await?;
                if let Some(f) = filter {
                    fetch_expr(txn, f).await?;
                }
            }
        }
        for (l, r) in &mut step.keys {
            fetch_expr(txn, l).await?;
            fetch_expr(txn, r).await?;
        }
        for e in step.on.iter_mut().chain(step.after.iter_mut()) {
            fetch_expr(txn, e).await?;
        }
    }
    fetch_block_exprs(txn, s).await
}

/// The most keys a join turns into point reads of the table it joins
/// (more: the table is read whole), and the most work (`super::work`) of
/// the subquery in FROM they are computed from.
const LOOKUP_KEYS_MAX: usize = 1000;
const LOOKUP_WORK_MAX: usize = 10_000;

/// A table joined on its (one-column) primary key to a subquery in FROM
/// that comes before it — `FROM (SELECT id … FOR UPDATE SKIP LOCKED) AS
/// next, jobs WHERE jobs.id = next.id` — is read by the keys the subquery
/// gives instead of whole (the join still matches them). The subquery was
/// fetched already; one that cannot be computed on its own here (it names
/// an enclosing query's columns) leaves the table read whole.
fn lookup_keys(done: &[crate::plan::Step], keys: &[(BExpr, BExpr)], scan: &mut Scan) {
    let ([pk], Access::Full) = (scan.table.primary_key.as_slice(), &scan.access) else {
        return;
    };
    let own = BExpr::Column(scan.offset + pk);
    for (before, this) in keys {
        let BExpr::Column(at) = before else { continue };
        if *this != own {
            continue;
        }
        let found = done.iter().find_map(|step| match &step.source {
            Source::Derived {
                query,
                offset,
                width,
                lateral: false,
                ..
            } if (*offset..offset + width).contains(at) => Some((query, at - offset)),
            _ => None,
        });
        let Some((query, column)) = found else {
            continue;
        };
        if super::work(query) > LOOKUP_WORK_MAX {
            continue;
        }
        let Ok(rows) = super::query(query, &[]) else {
            continue;
        };
        if rows.len() <= LOOKUP_KEYS_MAX {
            scan.access = Access::Points(
                rows.into_iter()
                    .filter_map(|mut r| (column < r.len()).then(|| r.swap_remove(column)))
                    .map(|v| vec![BExpr::Const(v)])
                    .collect(),
            );
            return;
        }
    }
}

/// Reads the tables of the subqueries in a block's expressions (its
/// conditions after the joins, HAVING, outputs, sort keys, grouping and
/// windows).
pub(super) async fn fetch_block_exprs(txn: &mut dyn KvTxn, s: &mut Select) -> Result<()> {
    let mut exprs: Vec<&mut BExpr> = Vec::new();
    exprs.extend(s.filter.iter_mut());
    exprs.extend(s.having.iter_mut());
    exprs.extend(s.projection.iter_mut());
    exprs.extend(s.order.iter_mut());
    if let Some(g) = &mut s.grouping {
        exprs.extend(g.keys.iter_mut());
        exprs.extend(g.aggs.iter_mut().flat_map(AggCall::exprs_mut));
    }
    exprs.extend(s.windows.iter_mut().flat_map(WindowCall::exprs_mut));
    for e in exprs {
        fetch_expr(txn, e).await?;
    }
    Ok(())
}

/// Reads the tables of the subqueries in `e`.
pub fn fetch_expr<'a>(txn: &'a mut dyn KvTxn, e: &'a mut BExpr) -> BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        match e {
            BExpr::Subquery(s) | BExpr::Exists(s, _) => fetch(txn, &mut s.query).await,
            BExpr::InSubquery(v, s, _) => {
                fetch_expr(txn, v).await?;
                fetch(txn, &mut s.query).await
            }
            other => {
                for c in children_mut(other) {
                    fetch_expr(txn, c).await?;
                }
                Ok(())
            }
        }
    })
}

pub(crate) fn children_mut(e: &mut BExpr) -> Vec<&mut BExpr> {
    match e {
        BExpr::Const(_)
        | BExpr::Param(_)
        | BExpr::Column(_)
        | BExpr::Outer { .. }
        | BExpr::Output(_)
        | BExpr::Subquery(_)
        | BExpr::Exists(..) => vec![],
        BExpr::Not(a) | BExpr::Neg(a) | BExpr::IsNull(a, _) | BExpr::IsBool(a, ..) => vec![a],
        BExpr::Cast(a, _) | BExpr::Enum(a, _) | BExpr::InSubquery(a, ..) => vec![a],
        BExpr::Binary(a, _, b) | BExpr::IsDistinct(a, b, _) => vec![a, b],
        BExpr::InList(a, list, _) => std::iter::once(&mut **a).chain(list.iter_mut()).collect(),
        BExpr::Case {
            operand,
            whens,
            otherwise,
        } => {
            let mut v: Vec<&mut BExpr> = operand.iter_mut().map(|b| &mut **b).collect();
            for (w, t) in whens {
                v.push(w);
                v.push(t);
            }
            v.extend(otherwise.iter_mut().map(|b| &mut **b));
            v
        }
        BExpr::Func(_, args) => args.iter_mut().collect(),
        BExpr::Like { expr, pattern, .. } => vec![expr, pattern],
    }
}

/// A constant of an access path, cast to the column's type. `None` when it
/// does not convert (the scan then reads the whole table and the filter
/// decides, with the error the comparison gives, if any).
fn key_value(e: &BExpr, ty: DataType) -> Result<Option<Value>> {
    let v = eval(e, &Env::EMPTY)?;
    Ok(v.cast_to(ty).ok())
}

/// What an access path reads: keys, or key ranges (of the table or of an
/// index), or `None` for "no row can match".
pub(super) enum Reads {
    Keys(Vec<Vec<u8>>),
    Range(Vec<u8>, Vec<u8>),
    IndexRange(Vec<u8>, Vec<u8>),
    Nothing,
}

pub(super) fn plan_reads(scan: &Scan) -> Result<Reads> {
    let def = &scan.table;
    let full = || {
        let (s, e) = def.key_range();
        Reads::Range(s, e)
    };
    let typed = |values: &[BExpr], columns: &[usize]| -> Result<Option<Option<Vec<Value>>>> {
        // Some(Some(values)), Some(None) = a NULL (nothing matches), None =
        // does not convert.
        let mut out = Vec::new();
        for (e, &c) in values.iter().zip(columns) {
            match key_value(e, def.columns[c].ty)? {
                None => return Ok(None),
                Some(Value::Null) => return Ok(Some(None)),
                Some(v) => out.push(v),
            }
        }
        Ok(Some(Some(out)))
    };
    Ok(match &scan.access {
        Access::Full => full(),
        Access::Points(tuples) => {
            let mut keys = Vec::new();
            for t in tuples {
                match typed(t, &def.primary_key)? {
                    None => return Ok(full()),
                    Some(None) => {}
                    Some(Some(values)) => {
                        let k = def.row_key(&values)?;
                        if !keys.contains(&k) {
                            keys.push(k);
                        }
                    }
                }
            }
            Reads::Keys(keys)
        }
        Access::Range {
            index,
            eq,
            lower,
            upper,
        } => {
            let index_def = match index {
                None => None,
                Some(id) => Some(
                    def.indexes
                        .iter()
                        .find(|i| i.id == *id)
                        .ok_or_else(|| SqlError::internal("the plan names a dropped index"))?,
                ),
            };
            let columns: &[usize] = index_def.map_or(&def.primary_key, |i| &i.columns);
            let Some(prefix_values) = typed(eq, columns)? else {
                return Ok(full());
            };
            let Some(prefix_values) = prefix_values else {
                return Ok(Reads::Nothing);
            };
            let key = |values: &[Value]| match index_def {
                None => def.row_key(values),
                Some(i) => def.index_prefix(i, values),
            };
            let next = columns.get(eq.len()).map(|&c| def.columns[c].ty);
            let bound = |e: &BExpr| -> Result<Option<Option<Vec<Value>>>> {
                let Some(ty) = next else { return Ok(None) };
                Ok(match key_value(e, ty)? {
                    None => None,
                    Some(Value::Null) => Some(None),
                    Some(v) => {
                        let mut vs = prefix_values.clone();
                        vs.push(v);
                        Some(Some(vs))
                    }
                })
            };
            let start = match lower {
                None => key(&prefix_values)?,
                Some(l) => match bound(l)? {
                    None => return Ok(full()),
                    Some(None) => return Ok(Reads::Nothing),
                    Some(Some(vs)) => key(&vs)?,
                },
            };
            let end = match upper {
                None => prefix_end(&key(&prefix_values)?),
                Some((u, inclusive)) => match bound(u)? {
                    None => return Ok(full()),
                    Some(None) => return Ok(Reads::Nothing),
                    Some(Some(vs)) if *inclusive => prefix_end(&key(&vs)?),
                    Some(Some(vs)) => key(&vs)?,
                },
            };
            if start >= end {
                Reads::Nothing
            } else if index_def.is_some() {
                Reads::IndexRange(start, end)
            } else {
                Reads::Range(start, end)
            }
        }
    })
}

/// Reads the rows of one table the scan's access path covers.
pub async fn fetch_scan(txn: &mut dyn KvTxn, scan: &mut Scan) -> Result<()> {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    match plan_reads(scan)? {
        Reads::Nothing => {}
        Reads::Keys(keys) => {
            let values = txn.get_many(&keys, scan.for_update).await?;
            for (k, v) in keys.into_iter().zip(values) {
                if let Some(v) = v {
                    pairs.push((k, v));
                }
            }
        }
        Reads::Range(start, end) => {
            pairs = if scan.for_update {
                txn.scan_for_update(&start, &end).await?
            } else {
                txn.scan(&start, &end).await?
            };
        }
        Reads::IndexRange(start, end) => {
            let row_keys: Vec<Vec<u8>> = txn
                .scan(&start, &end)
                .await?
                .into_iter()
                .map(|(_, row_key)| row_key)
                .collect();
            let values = txn.get_many(&row_keys, scan.for_update).await?;
            for (row_key, v) in row_keys.into_iter().zip(values) {
                match v {
                    Some(v) => pairs.push((row_key, v)),
                    // Read committed reads the rows it locks newest, after
                    // the index at the statement's snapshot: a row deleted
                    // in between is gone (PostgreSQL skips it too). Other
                    // modes read both at one snapshot or under one lock.
                    None if scan.for_update => {}
                    None => {
                        return Err(SqlError::internal(format!(
                            "index of table \"{}\" names a missing row",
                            scan.table.name
                        )));
                    }
                }
            }
        }
    }
    scan.rows.clear();
    scan.keys.clear();
    for (k, v) in pairs {
        let row = scan_row(scan, &v)?;
        scan.rows.push(row);
        scan.keys.push(k);
    }
    Ok(())
}

/// A stored row of the scan's table as a row of its block (its columns
/// in their place, NULL elsewhere).
pub(super) fn scan_row(scan: &Scan, stored: &[u8]) -> Result<Vec<Value>> {
    let n = scan.table.columns.len();
    let values = scan.table.decode_row(stored)?;
    let mut row = vec![Value::Null; scan.width.max(scan.offset + n)];
    for (slot, v) in row[scan.offset..scan.offset + n].iter_mut().zip(values) {
        *slot = v;
    }
    Ok(row)
}
