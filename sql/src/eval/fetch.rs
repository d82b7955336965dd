//! The fetch phase: every read a plan needs, through the transaction,
//! before anything is computed. Access paths turn into keys and key ranges
//! here; the rows read are stored in the plan's scans.

use crate::catalog::prefix_end;
use crate::error::{Result, SqlError};
use crate::kv::{BoxFuture, KvTxn};
use crate::plan::{
    Access, AggCall, BExpr, Body, Func, JoinKind, LockWait, Query, Scan, Select, Source, WindowCall,
};
use crate::value::{DataType, Value};

use super::{Env, eval};

/// Reads every table `q` names (its subqueries' too).
pub fn fetch<'a>(txn: &'a mut dyn KvTxn, q: &'a mut Query) -> BoxFuture<'a, Result<()>> {
    fetch_query(txn, q, false)
}

/// [`fetch`]; `exists`: `q` is an EXISTS subquery, which needs one row
/// (past its OFFSET) when it has no LIMIT of its own.
fn fetch_query<'a>(
    txn: &'a mut dyn KvTxn,
    q: &'a mut Query,
    exists: bool,
) -> BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        for e in q.limit.iter_mut().chain(q.offset.iter_mut()) {
            fetch_expr(txn, e).await?;
        }
        if only_scan(q).is_some_and(|(_, _, scan)| scan.lock_wait != LockWait::Wait) {
            return super::locking::fetch_locking(txn, q).await;
        }
        if let Some(want) = rows_wanted(q, exists)
            && let Body::Select(s) = &mut q.body
        {
            return fetch_select(txn, s, Some(want)).await;
        }
        fetch_body(txn, &mut q.body).await
    })
}

/// How many rows of its one table `q` needs at most, when it can stop
/// reading there: a LIMIT (and OFFSET) over one table read in key order
/// (no ORDER BY, or one that order already follows, or its reverse when
/// every key is DESC: [`read_in_order`]),
/// not grouped, not DISTINCT, with conditions that
/// each row decides alone (no subquery, no enclosing query's column, no
/// `random()`). The rows are then read page by page until that many pass
/// the conditions (`fetch_prefix`).
fn rows_wanted(q: &Query, exists: bool) -> Option<Wanted> {
    let count = |e: &Option<BExpr>| -> Option<Option<usize>> {
        match e {
            None => Some(None),
            Some(e) => match eval(e, &Env::EMPTY).ok()? {
                Value::Null => Some(None),
                Value::Int(n) => usize::try_from(n).ok().map(Some),
                _ => None,
            },
        }
    };
    let limit = match &q.limit {
        None if exists => 1,
        limit => count(limit)??,
    };
    let want = limit.checked_add(count(&q.offset)?.unwrap_or(0))?;
    if want == 0 {
        return None;
    }
    let reverse = read_order(q)?;
    Some(Wanted {
        rows: want,
        reverse,
    })
}

/// The one table `q` reads, its block and join step.
fn only_scan(q: &Query) -> Option<(&Select, &crate::plan::Step, &Scan)> {
    let Body::Select(s) = &q.body else {
        return None;
    };
    let [step] = s.steps.as_slice() else {
        return None;
    };
    let Source::Scan(scan) = &step.source else {
        return None;
    };
    Some((s, step, scan))
}

/// A block's conditions on its first step's rows: its scan's filter, the
/// step's join and after-join conditions, and the block's WHERE.
fn conditions<'a>(s: &'a Select, step: &'a crate::plan::Step) -> impl Iterator<Item = &'a BExpr> {
    let scan_filter = match &step.source {
        Source::Scan(scan) => scan.filter.as_ref(),
        _ => None,
    };
    [
        scan_filter,
        step.on.as_ref(),
        step.after.as_ref(),
        s.filter.as_ref(),
    ]
    .into_iter()
    .flatten()
}

/// Whether `q` (one table, not grouped, not DISTINCT, conditions each
/// row decides alone) can stop reading once it has enough rows: `Some`
/// of the direction (true: backwards) its read gives the order asked
/// for in, `None` if it cannot ([`rows_wanted`]).
fn read_order(q: &Query) -> Option<bool> {
    let (s, step, scan) = only_scan(q)?;
    let plain = q.distinct_on == 0
        && step.kind == JoinKind::First
        && step.keys.is_empty()
        && s.grouping.is_none()
        && s.having.is_none()
        && s.windows.is_empty()
        && !s.distinct
        && conditions(s, step).all(row_only);
    if !plain || matches!(scan.access, Access::Points(_)) {
        return None;
    }
    if s.order.is_empty() {
        return Some(false);
    }
    // Sorted: only by columns the read already gives in that order, or in
    // the reverse order (every key DESC: read from the end).
    let reverse = q.order.first().is_some_and(|k| k.descending);
    if q.order.iter().any(|k| k.descending != reverse) {
        return None;
    }
    let columns: Option<Vec<usize>> = s
        .order
        .iter()
        .map(|e| {
            let e = match e {
                BExpr::Output(i) => s.projection.get(*i)?,
                e => e,
            };
            match e {
                BExpr::Column(c) => c.checked_sub(scan.offset),
                _ => None,
            }
        })
        .collect();
    let columns = columns.filter(|c| c.len() == q.order.len())?;
    read_in_order(scan, &columns).then_some(reverse)
}

/// A LIMIT over one table with no conditions at all, which would read
/// the whole table (`Access::Full`) because it is sorted by columns the
/// table's key does not give: read through an index whose leading
/// columns give that order (ascending, or backwards for all DESC; NOT
/// NULL, [`read_in_order`]) instead, so the read stops at the limit —
/// `SELECT * FROM events ORDER BY created_at DESC LIMIT 10` reads ten
/// index entries and their rows. Chosen when the query is bound, so
/// EXPLAIN shows it; the limit may be a parameter. (With conditions the
/// index could be read to its end for a few rows that pass them, row by
/// row: the table is read whole as before.)
pub(crate) fn index_for_order(q: &mut Query) {
    let Some((s, step, scan)) = only_scan(q) else {
        return;
    };
    if q.limit.is_none()
        || conditions(s, step).next().is_some()
        || !matches!(scan.access, Access::Full)
        || read_order(q).is_some()
    {
        return;
    }
    let ids: Vec<u32> = scan.table.readable_indexes().map(|i| i.id).collect();
    for id in ids {
        set_access(
            q,
            Access::Range {
                index: Some(id),
                eq: Vec::new(),
                lower: None,
                upper: None,
            },
        );
        if read_order(q).is_some() {
            return;
        }
    }
    set_access(q, Access::Full);
}

/// Sets the access path of `q`'s one table ([`only_scan`]).
fn set_access(q: &mut Query, access: Access) {
    if let Body::Select(s) = &mut q.body
        && let [step] = s.steps.as_mut_slice()
        && let Source::Scan(scan) = &mut step.source
    {
        scan.access = access;
    }
}

/// How much of its one table a query reads ([`rows_wanted`]): about
/// `rows` rows, from the start of its range or, `reverse`, from the end.
#[derive(Clone, Copy, Debug)]
struct Wanted {
    rows: usize,
    reverse: bool,
}

/// True when the scan reads its rows sorted by `columns` ascending (as
/// ORDER BY sorts them; ties in any order; read backwards, descending):
/// the primary key's first
/// columns (or those after the ones a key range fixes) over the table's
/// key order, or over an index range whose
/// every column is fixed (its entries follow the key there); an index's
/// columns after those its range fixes, over that range — each of a type
/// whose stored order is its sort order, none NULL where that would
/// place it otherwise than ORDER BY does.
fn read_in_order(scan: &Scan, columns: &[usize]) -> bool {
    let def = &scan.table;
    let key_ordered = |c: usize| {
        !matches!(
            def.columns[c].ty,
            DataType::Float | DataType::Interval | DataType::Jsonb | DataType::Array(_)
        )
    };
    if !columns.iter().all(|&c| key_ordered(c)) {
        return false;
    }
    let by_key = columns.len() <= def.primary_key.len() && def.primary_key.starts_with(columns);
    match &scan.access {
        Access::Full => by_key,
        // Past the columns the range fixes, too (`WHERE a = 1 ORDER BY b`).
        Access::Range {
            index: None, eq, ..
        } => {
            by_key
                || def
                    .primary_key
                    .get(eq.len()..)
                    .is_some_and(|rest| rest.starts_with(columns))
        }
        Access::Points(_) => false,
        Access::Range {
            index: Some(id),
            eq,
            lower,
            upper,
        } => {
            let Some(index) = def.indexes.iter().find(|i| i.id == *id) else {
                return false;
            };
            if eq.len() >= index.columns.len() {
                return by_key;
            }
            // The index's next columns: the first not NULL where the range
            // is bounded on it, the others declared NOT NULL.
            let next = &index.columns[eq.len()..];
            columns.len() <= next.len()
                && next.starts_with(columns)
                && columns.iter().enumerate().all(|(j, &c)| {
                    !def.columns[c].nullable || (j == 0 && (lower.is_some() || upper.is_some()))
                })
        }
    }
}

/// True when each row decides `e` alone, the same way every time: no
/// subquery, no enclosing query's column, nothing random.
fn row_only(e: &BExpr) -> bool {
    match e {
        BExpr::Const(_) | BExpr::Column(_) => true,
        BExpr::Param(_)
        | BExpr::Outer { .. }
        | BExpr::Output(_)
        | BExpr::Subquery(_)
        | BExpr::Exists(..)
        | BExpr::InSubquery(..)
        | BExpr::Func(
            Func::Random
            | Func::GenRandomUuid
            | Func::UuidGenerateV1
            | Func::UuidGenerateV1mc
            | Func::GenRandomBytes
            | Func::GenSalt,
            _,
        ) => false,
        BExpr::Func(_, args) => args.iter().all(row_only),
        BExpr::Not(a)
        | BExpr::Neg(a)
        | BExpr::IsNull(a, _)
        | BExpr::IsBool(a, ..)
        | BExpr::Cast(a, _)
        | BExpr::Enum(a, _) => row_only(a),
        BExpr::Binary(a, _, b) | BExpr::IsDistinct(a, b, _) => row_only(a) && row_only(b),
        BExpr::InList(a, list, _) => row_only(a) && list.iter().all(row_only),
        BExpr::Case {
            operand,
            whens,
            otherwise,
        } => {
            operand.as_deref().is_none_or(row_only)
                && whens.iter().all(|(w, t)| row_only(w) && row_only(t))
                && otherwise.as_deref().is_none_or(row_only)
        }
        BExpr::Like { expr, pattern, .. } => row_only(expr) && row_only(pattern),
    }
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
            Body::Select(s) => fetch_select(txn, s, None).await?,
        }
        Ok(())
    })
}

/// Reads a block's tables; with `want`, its one table only until that
/// many rows pass the block's conditions (see [`rows_wanted`]).
async fn fetch_select(txn: &mut dyn KvTxn, s: &mut Select, want: Option<Wanted>) -> Result<()> {
    let conds: Vec<BExpr> = match (want, s.steps.first()) {
        (Some(_), Some(step)) => conditions(s, step).cloned().collect(),
        _ => Vec::new(),
    };
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
                match want {
                    Some(want) if i == 0 => fetch_prefix(txn, scan, &conds, want).await?,
                    _ => fetch_scan(txn, scan).await?,
                }
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
            BExpr::Subquery(s) => fetch(txn, &mut s.query).await,
            BExpr::Exists(s, _) => fetch_query(txn, &mut s.query, true).await,
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
    let pairs = match plan_reads(scan)? {
        Reads::Nothing => Vec::new(),
        Reads::Keys(keys) => {
            let values = txn.get_many(&keys, scan.for_update).await?;
            keys.into_iter()
                .zip(values)
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect()
        }
        Reads::Range(start, end) => {
            if scan.for_update {
                txn.scan_for_update(&start, &end).await?
            } else {
                txn.scan(&start, &end).await?
            }
        }
        Reads::IndexRange(start, end) => {
            let entries = txn.scan(&start, &end).await?;
            indexed_rows(txn, scan, entries).await?
        }
    };
    scan.rows.clear();
    scan.keys.clear();
    for (k, v) in pairs {
        let row = scan_row(scan, &v)?;
        scan.rows.push(row);
        scan.keys.push(k);
    }
    Ok(())
}

/// The rows index entries name (an entry's value is its row's key), in
/// the entries' order.
async fn indexed_rows(
    txn: &mut dyn KvTxn,
    scan: &Scan,
    entries: crate::kv::Pairs,
) -> Result<crate::kv::Pairs> {
    let row_keys: Vec<Vec<u8>> = entries.into_iter().map(|(_, row_key)| row_key).collect();
    let values = txn.get_many(&row_keys, scan.for_update).await?;
    let mut pairs = Vec::with_capacity(row_keys.len());
    for (row_key, v) in row_keys.into_iter().zip(values) {
        match v {
            Some(v) => pairs.push((row_key, v)),
            // Read committed reads the rows it locks newest, after the
            // index at the statement's snapshot: a row deleted in between
            // is gone (PostgreSQL skips it too). Other modes read both at
            // one snapshot or under one lock.
            None if scan.for_update => {}
            None => {
                return Err(SqlError::internal(format!(
                    "index of table \"{}\" names a missing row",
                    scan.table.name
                )));
            }
        }
    }
    Ok(pairs)
}

/// The first page of a read that stops early, and the most any page asks
/// for.
const FIRST_PAGE: usize = 64;
const PAGE_MAX: usize = 4096;

/// Reads the scan's rows in key order (`want.reverse`: from the end
/// backwards), page by page, until `want.rows` of them
/// pass `conds` (or the range ends); keeps only those (the others would
/// be dropped by the same conditions later). Only what was read is held:
/// under 2PL the shared range lock ends where the read stopped, under OCC
/// and SSI only that is validated at commit, and `FOR UPDATE` locks the
/// rows of the pages read (every row of them, as a whole read locks every
/// row it passes).
async fn fetch_prefix(
    txn: &mut dyn KvTxn,
    scan: &mut Scan,
    conds: &[BExpr],
    Wanted {
        rows: want,
        reverse,
    }: Wanted,
) -> Result<()> {
    let (mut from, mut end, index) = match plan_reads(scan)? {
        Reads::Range(start, end) => (start, end, false),
        Reads::IndexRange(start, end) => (start, end, true),
        Reads::Nothing | Reads::Keys(_) => return fetch_scan(txn, scan).await,
    };
    scan.rows.clear();
    scan.keys.clear();
    let mut page = if conds.is_empty() {
        want
    } else {
        want.max(FIRST_PAGE)
    };
    loop {
        // An index's entries are read as a plain scan; the rows they name
        // are locked (`indexed_rows`).
        let lock = scan.for_update && !index;
        let (pairs, resume) = txn.scan_prefix(&from, &end, page, lock, reverse).await?;
        let pairs = if index {
            indexed_rows(txn, scan, pairs).await?
        } else {
            pairs
        };
        for (k, v) in pairs {
            let row = scan_row(scan, &v)?;
            let env = Env {
                row: &row,
                ..Env::EMPTY
            };
            let mut pass = true;
            for c in conds {
                if eval(c, &env)?.truth()? != Some(true) {
                    pass = false;
                    break;
                }
            }
            if pass {
                scan.rows.push(row);
                scan.keys.push(k);
            }
        }
        match resume {
            Some(next) if scan.rows.len() < want => {
                if reverse {
                    end = next;
                } else {
                    from = next;
                }
                page = page.saturating_mul(2).min(PAGE_MAX.max(want));
            }
            _ => return Ok(()),
        }
    }
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
