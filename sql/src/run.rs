//! Running bound plans: [`fetch`] reads what a plan needs through the
//! transaction, then [`query`] computes the result in memory (see
//! [`crate::plan`]).

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use crate::catalog::{self, prefix_end};
use crate::error::{Result, SqlError};
use crate::exec::{BoxFuture, KvTxn};
use crate::plan::{
    Access, AggCall, AggFunc, BExpr, BinOp, Body, Func, JoinKind, Query, Row, Scan, Select, SetOp,
    Source, Subquery,
};
use crate::value::{DataType, Value};

// ---------------------------------------------------------------------------
// Fetch: every read, before anything is computed.

/// Reads every table `q` names (its subqueries' too).
pub fn fetch<'a>(txn: &'a mut dyn KvTxn, q: &'a mut Query) -> BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        for e in q.limit.iter_mut().chain(q.offset.iter_mut()) {
            fetch_expr(txn, e).await?;
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
    for step in &mut s.steps {
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
    let mut exprs: Vec<&mut BExpr> = Vec::new();
    exprs.extend(s.filter.iter_mut());
    exprs.extend(s.having.iter_mut());
    exprs.extend(s.projection.iter_mut());
    exprs.extend(s.order.iter_mut());
    if let Some(g) = &mut s.grouping {
        exprs.extend(g.keys.iter_mut());
        exprs.extend(g.aggs.iter_mut().filter_map(|a| a.arg.as_mut()));
    }
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

fn children_mut(e: &mut BExpr) -> Vec<&mut BExpr> {
    match e {
        BExpr::Const(_)
        | BExpr::Column(_)
        | BExpr::Outer { .. }
        | BExpr::Output(_)
        | BExpr::Subquery(_)
        | BExpr::Exists(..) => vec![],
        BExpr::Not(a) | BExpr::Neg(a) | BExpr::IsNull(a, _) | BExpr::IsBool(a, ..) => vec![a],
        BExpr::Cast(a, _) | BExpr::InSubquery(a, ..) => vec![a],
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
enum Reads {
    Keys(Vec<Vec<u8>>),
    Range(Vec<u8>, Vec<u8>),
    IndexRange(Vec<u8>, Vec<u8>),
    Nothing,
}

fn plan_reads(scan: &Scan) -> Result<Reads> {
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

async fn read(txn: &mut dyn KvTxn, key: &[u8], for_update: bool) -> Result<Option<Vec<u8>>> {
    if for_update {
        txn.get_for_update(key).await
    } else {
        txn.get(key).await
    }
}

/// Reads the rows of one table the scan's access path covers.
pub async fn fetch_scan(txn: &mut dyn KvTxn, scan: &mut Scan) -> Result<()> {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    match plan_reads(scan)? {
        Reads::Nothing => {}
        Reads::Keys(keys) => {
            for k in keys {
                if let Some(v) = read(txn, &k, scan.for_update).await? {
                    pairs.push((k, v));
                }
            }
        }
        Reads::Range(start, end) => {
            pairs = txn.scan(&start, &end).await?;
            if scan.for_update {
                for (k, _) in &pairs {
                    txn.get_for_update(k).await?;
                }
            }
        }
        Reads::IndexRange(start, end) => {
            for (_, row_key) in txn.scan(&start, &end).await? {
                match read(txn, &row_key, scan.for_update).await? {
                    Some(v) => pairs.push((row_key, v)),
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
    let n = scan.table.columns.len();
    for (k, v) in pairs {
        let values: Vec<Value> = catalog::decode(&v, "row")?;
        if values.len() != n {
            return Err(SqlError::internal(format!(
                "a row of \"{}\" has {} values for {n} columns",
                scan.table.name,
                values.len()
            )));
        }
        let mut row = vec![Value::Null; scan.width.max(scan.offset + n)];
        for (slot, v) in row[scan.offset..scan.offset + n].iter_mut().zip(values) {
            *slot = v;
        }
        scan.rows.push(row);
        scan.keys.push(k);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Compute.

/// What an expression sees: the current row, the rows of the enclosing
/// queries (innermost last) and the result row (ORDER BY).
#[derive(Clone, Copy, Debug)]
pub struct Env<'a> {
    pub row: &'a [Value],
    pub outer: &'a [&'a [Value]],
    pub output: &'a [Value],
}

impl Env<'_> {
    /// No rows at all.
    pub const EMPTY: Env<'static> = Env {
        row: &[],
        outer: &[],
        output: &[],
    };
}

/// Runs a fetched query; `outer` holds the enclosing queries' rows.
pub fn query(q: &Query, outer: &[&[Value]]) -> Result<Vec<Row>> {
    let mut rows = body(&q.body, outer)?;
    if !q.order.is_empty() {
        rows.sort_by(|a, b| {
            for (i, key) in q.order.iter().enumerate() {
                let o = sort_cmp(&a.1[i], &b.1[i], key.nulls_first, key.descending);
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
    }
    let count = |e: &Option<BExpr>, what: &str| -> Result<Option<usize>> {
        let Some(e) = e else { return Ok(None) };
        match eval(
            e,
            &Env {
                outer,
                ..Env::EMPTY
            },
        )? {
            Value::Null => Ok(None),
            Value::Int(n) if n >= 0 => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
            other => Err(SqlError {
                code: if what == "LIMIT" { "2201W" } else { "2201X" },
                message: format!("{what} must not be negative or non-integer: {other}"),
            }),
        }
    };
    let offset = count(&q.offset, "OFFSET")?.unwrap_or(0);
    let limit = count(&q.limit, "LIMIT")?.unwrap_or(usize::MAX);
    Ok(rows
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|(r, _)| r)
        .collect())
}

/// The NULL-aware total order of ORDER BY: values in the direction asked,
/// NULLs first or last whatever the direction.
fn sort_cmp(a: &Value, b: &Value, nulls_first: bool, descending: bool) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => {
            if nulls_first {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (_, Value::Null) => {
            if nulls_first {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (a, b) => {
            let o = a.compare(b).ok().flatten().unwrap_or(Ordering::Equal);
            if descending { o.reverse() } else { o }
        }
    }
}

/// A value as a hash key: equal under `=` means equal keys (1 = 1.0).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum HKey {
    Null,
    Bool(bool),
    Int(i64),
    Float(u64),
    Text(String),
    Bytes(Vec<u8>),
    Timestamp(u64),
}

fn hkey(v: &Value) -> HKey {
    match v {
        Value::Null => HKey::Null,
        Value::Bool(b) => HKey::Bool(*b),
        Value::Int(i) => HKey::Int(*i),
        Value::Float(x) if x.fract() == 0.0 && x.abs() < 9.2e18 => HKey::Int(*x as i64),
        Value::Float(x) => HKey::Float(if *x == 0.0 { 0 } else { x.to_bits() }),
        Value::Text(s) => HKey::Text(s.clone()),
        Value::Bytes(b) => HKey::Bytes(b.clone()),
        Value::Timestamp(t) => HKey::Timestamp(t.as_nanos()),
    }
}

fn hrow(r: &[Value]) -> Vec<HKey> {
    r.iter().map(hkey).collect()
}

/// Rows with their sort keys.
type Keyed = Vec<(Row, Row)>;

fn body(b: &Body, outer: &[&[Value]]) -> Result<Keyed> {
    match b {
        Body::Select(s) => select(s, outer),
        Body::Values { rows, order } => {
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let env = Env {
                    outer,
                    ..Env::EMPTY
                };
                let row = r.iter().map(|e| eval(e, &env)).collect::<Result<Row>>()?;
                let keys = sort_keys(order, &row, outer)?;
                out.push((row, keys));
            }
            Ok(out)
        }
        Body::SetOp {
            op,
            all,
            left,
            right,
            order,
        } => {
            let l = body(left, outer)?;
            let r = body(right, outer)?;
            let rows: Vec<Row> = set_op(*op, *all, l, r);
            rows.into_iter()
                .map(|row| {
                    let keys = sort_keys(order, &row, outer)?;
                    Ok((row, keys))
                })
                .collect()
        }
    }
}

fn sort_keys(order: &[BExpr], row: &[Value], outer: &[&[Value]]) -> Result<Row> {
    order
        .iter()
        .map(|e| {
            eval(
                e,
                &Env {
                    row,
                    outer,
                    output: row,
                },
            )
        })
        .collect()
}

fn set_op(op: SetOp, all: bool, left: Keyed, right: Keyed) -> Vec<Row> {
    let left: Vec<Row> = left.into_iter().map(|(r, _)| r).collect();
    let right: Vec<Row> = right.into_iter().map(|(r, _)| r).collect();
    match (op, all) {
        (SetOp::Union, true) => left.into_iter().chain(right).collect(),
        (SetOp::Union, false) => {
            let mut seen = HashSet::new();
            left.into_iter()
                .chain(right)
                .filter(|r| seen.insert(hrow(r)))
                .collect()
        }
        (SetOp::Intersect | SetOp::Except, _) => {
            let mut counts: HashMap<Vec<HKey>, usize> = HashMap::new();
            for r in &right {
                *counts.entry(hrow(r)).or_default() += 1;
            }
            let mut seen = HashSet::new();
            let mut out = Vec::new();
            for r in left {
                let k = hrow(&r);
                let in_right = match counts.get_mut(&k) {
                    Some(n) if *n > 0 => {
                        if all {
                            *n -= 1;
                        }
                        true
                    }
                    _ => false,
                };
                let keep = if op == SetOp::Intersect {
                    in_right
                } else {
                    !in_right
                };
                if keep && (all || seen.insert(k)) {
                    out.push(r);
                }
            }
            out
        }
    }
}

/// True when `cond` (if any) holds for `env`.
pub fn passes(cond: &Option<BExpr>, env: &Env) -> Result<bool> {
    match cond {
        None => Ok(true),
        Some(c) => Ok(eval(c, env)?.truth()? == Some(true)),
    }
}

/// The rows of one source, filtered by its own conditions.
fn source_rows(source: &Source, width: usize, outer: &[&[Value]]) -> Result<Vec<Row>> {
    match source {
        Source::Unit => Ok(vec![vec![Value::Null; width]]),
        Source::Scan(scan) => {
            let mut out = Vec::with_capacity(scan.rows.len());
            for row in &scan.rows {
                let env = Env {
                    row,
                    outer,
                    output: &[],
                };
                if passes(&scan.filter, &env)? {
                    out.push(row.clone());
                }
            }
            Ok(out)
        }
        Source::Derived {
            query: q,
            offset,
            width: w,
            filter,
            ..
        } => {
            let mut out = Vec::new();
            for r in query(q, outer)? {
                let mut row = vec![Value::Null; width];
                for (slot, v) in row[*offset..*offset + *w].iter_mut().zip(r) {
                    *slot = v;
                }
                let env = Env {
                    row: &row,
                    outer,
                    output: &[],
                };
                if passes(filter, &env)? {
                    out.push(row);
                }
            }
            Ok(out)
        }
    }
}

/// The positions a source fills.
fn span(source: &Source) -> (usize, usize) {
    match source {
        Source::Unit => (0, 0),
        Source::Scan(s) => (s.offset, s.table.columns.len()),
        Source::Derived { offset, width, .. } => (*offset, *width),
    }
}

/// The joined, filtered rows of a SELECT block's FROM clause.
fn from_rows(s: &Select, outer: &[&[Value]]) -> Result<Vec<Row>> {
    let mut rows: Vec<Row> = Vec::new();
    for (i, step) in s.steps.iter().enumerate() {
        let right = source_rows(&step.source, s.width, outer)?;
        if i == 0 {
            rows = right;
        } else {
            let (offset, w) = span(&step.source);
            let merge = |left: &Row, r: &Row| {
                let mut m = left.clone();
                m[offset..offset + w].clone_from_slice(&r[offset..offset + w]);
                m
            };
            let mut joined = Vec::new();
            // Candidate right rows per left row: by hash on the keys, or all.
            let table: Option<HashMap<Vec<HKey>, Vec<usize>>> = if step.keys.is_empty() {
                None
            } else {
                let mut t: HashMap<Vec<HKey>, Vec<usize>> = HashMap::new();
                for (j, r) in right.iter().enumerate() {
                    let env = Env {
                        row: r,
                        outer,
                        output: &[],
                    };
                    let k = step
                        .keys
                        .iter()
                        .map(|(_, rk)| eval(rk, &env))
                        .collect::<Result<Row>>()?;
                    if !k.contains(&Value::Null) {
                        t.entry(hrow(&k)).or_default().push(j);
                    }
                }
                Some(t)
            };
            let all: Vec<usize> = (0..right.len()).collect();
            let outer_join = matches!(step.kind, JoinKind::Left | JoinKind::Full);
            let mut right_matched = vec![false; right.len()];
            for left in &rows {
                let env = Env {
                    row: left,
                    outer,
                    output: &[],
                };
                let candidates: &[usize] = match &table {
                    None => &all,
                    Some(t) => {
                        let k = step
                            .keys
                            .iter()
                            .map(|(lk, _)| eval(lk, &env))
                            .collect::<Result<Row>>()?;
                        if k.contains(&Value::Null) {
                            &[]
                        } else {
                            t.get(&hrow(&k)).map_or(&[], |v| v.as_slice())
                        }
                    }
                };
                let mut matched = false;
                for &j in candidates {
                    let m = merge(left, &right[j]);
                    let menv = Env {
                        row: &m,
                        outer,
                        output: &[],
                    };
                    if outer_join && !passes(&step.on, &menv)? {
                        continue;
                    }
                    matched = true;
                    right_matched[j] = true;
                    joined.push(m);
                }
                if outer_join && !matched {
                    joined.push(left.clone());
                }
            }
            if step.kind == JoinKind::Full {
                // Right rows nothing matched, with NULLs on the left.
                for (r, matched) in right.iter().zip(right_matched) {
                    if !matched {
                        joined.push(r.clone());
                    }
                }
            }
            rows = joined;
        }
        rows = keep_passing(rows, &step.after, outer)?;
    }
    keep_passing(rows, &s.filter, outer)
}

/// The rows for which `cond` (if any) holds.
fn keep_passing(rows: Vec<Row>, cond: &Option<BExpr>, outer: &[&[Value]]) -> Result<Vec<Row>> {
    if cond.is_none() {
        return Ok(rows);
    }
    let mut kept = Vec::with_capacity(rows.len());
    for r in rows {
        let env = Env {
            row: &r,
            outer,
            output: &[],
        };
        if passes(cond, &env)? {
            kept.push(r);
        }
    }
    Ok(kept)
}

fn select(s: &Select, outer: &[&[Value]]) -> Result<Keyed> {
    let rows = from_rows(s, outer)?;
    let rows = match &s.grouping {
        None => rows,
        Some(g) => {
            // Groups in first-seen order.
            let mut index: HashMap<Vec<HKey>, usize> = HashMap::new();
            let mut groups: Vec<(Row, Vec<Vec<Value>>)> = Vec::new();
            if g.keys.is_empty() {
                groups.push((Vec::new(), vec![Vec::new(); g.aggs.len()]));
            }
            for r in &rows {
                let env = Env {
                    row: r,
                    outer,
                    output: &[],
                };
                let key = g
                    .keys
                    .iter()
                    .map(|k| eval(k, &env))
                    .collect::<Result<Row>>()?;
                let i = if g.keys.is_empty() {
                    0
                } else {
                    *index.entry(hrow(&key)).or_insert_with(|| {
                        groups.push((key, vec![Vec::new(); g.aggs.len()]));
                        groups.len() - 1
                    })
                };
                for (a, acc) in g.aggs.iter().zip(groups[i].1.iter_mut()) {
                    let v = match &a.arg {
                        None => Value::Bool(true),
                        Some(e) => eval(e, &env)?,
                    };
                    if v != Value::Null {
                        acc.push(v);
                    }
                }
            }
            let mut out = Vec::with_capacity(groups.len());
            for (mut key, accs) in groups {
                for (a, values) in g.aggs.iter().zip(accs) {
                    key.push(aggregate(a, values)?);
                }
                let env = Env {
                    row: &key,
                    outer,
                    output: &[],
                };
                if passes(&s.having, &env)? {
                    out.push(key);
                }
            }
            out
        }
    };
    let mut out: Keyed = Vec::with_capacity(rows.len());
    let mut seen = HashSet::new();
    for r in &rows {
        let env = Env {
            row: r,
            outer,
            output: &[],
        };
        let projected = s
            .projection
            .iter()
            .map(|e| eval(e, &env))
            .collect::<Result<Row>>()?;
        if s.distinct && !seen.insert(hrow(&projected)) {
            continue;
        }
        let keys = s
            .order
            .iter()
            .map(|e| {
                eval(
                    e,
                    &Env {
                        row: r,
                        outer,
                        output: &projected,
                    },
                )
            })
            .collect::<Result<Row>>()?;
        out.push((projected, keys));
    }
    Ok(out)
}

fn aggregate(a: &AggCall, mut values: Vec<Value>) -> Result<Value> {
    if a.distinct {
        let mut seen = HashSet::new();
        values.retain(|v| seen.insert(hkey(v)));
    }
    match a.func {
        AggFunc::Count => Ok(Value::Int(values.len() as i64)),
        AggFunc::Min | AggFunc::Max => {
            let mut best: Option<Value> = None;
            for v in values {
                best = Some(match best {
                    None => v,
                    Some(b) => {
                        let o = v.compare(&b)?.unwrap_or(Ordering::Equal);
                        let better = if a.func == AggFunc::Min {
                            o.is_lt()
                        } else {
                            o.is_gt()
                        };
                        if better { v } else { b }
                    }
                });
            }
            Ok(best.unwrap_or(Value::Null))
        }
        AggFunc::Sum | AggFunc::Avg => {
            if values.is_empty() {
                return Ok(Value::Null);
            }
            let n = values.len();
            let mut sum = Value::Int(0);
            for v in values {
                if !matches!(v, Value::Int(_) | Value::Float(_)) {
                    return Err(SqlError::undefined_function(format!(
                        "function {}({}) does not exist",
                        if a.func == AggFunc::Sum { "sum" } else { "avg" },
                        v.data_type()
                            .map_or("unknown".to_string(), |t| t.to_string())
                    )));
                }
                sum = arithmetic(sum, BinOp::Plus, v)?;
            }
            if a.func == AggFunc::Sum {
                return Ok(sum);
            }
            let total = match sum {
                Value::Int(i) => i as f64,
                Value::Float(x) => x,
                _ => 0.0,
            };
            Ok(Value::Float(total / n as f64))
        }
    }
}

// ---------------------------------------------------------------------------
// Expressions.

/// Evaluates `e`.
pub fn eval(e: &BExpr, env: &Env) -> Result<Value> {
    match e {
        BExpr::Const(v) => Ok(v.clone()),
        BExpr::Column(i) => env
            .row
            .get(*i)
            .cloned()
            .ok_or_else(|| SqlError::internal(format!("column position {i} out of range"))),
        BExpr::Outer { depth, index } => env
            .outer
            .len()
            .checked_sub(*depth)
            .and_then(|d| env.outer[d].get(*index))
            .cloned()
            .ok_or_else(|| SqlError::internal("outer column out of range")),
        BExpr::Output(i) => env
            .output
            .get(*i)
            .cloned()
            .ok_or_else(|| SqlError::internal("output column out of range")),
        BExpr::Not(a) => Ok(match eval(a, env)?.truth()? {
            None => Value::Null,
            Some(b) => Value::Bool(!b),
        }),
        BExpr::Neg(a) => match eval(a, env)? {
            Value::Null => Ok(Value::Null),
            Value::Int(i) => i
                .checked_neg()
                .map(Value::Int)
                .ok_or_else(|| SqlError::numeric_out_of_range("integer out of range")),
            Value::Float(x) => Ok(Value::Float(-x)),
            v => Err(SqlError::undefined_function(format!(
                "operator does not exist: - {}",
                type_name(&v)
            ))),
        },
        BExpr::Binary(l, op, r) => {
            let lv = eval(l, env)?;
            // Short-circuit where the answer is known (and skip errors of
            // the other side, as PostgreSQL may).
            match (op, lv.truth()) {
                (BinOp::And, Ok(Some(false))) => return Ok(Value::Bool(false)),
                (BinOp::Or, Ok(Some(true))) => return Ok(Value::Bool(true)),
                _ => {}
            }
            binary(lv, *op, eval(r, env)?)
        }
        BExpr::IsNull(a, negated) => Ok(Value::Bool((eval(a, env)? == Value::Null) != *negated)),
        BExpr::IsBool(a, want, negated) => {
            let t = eval(a, env)?.truth()?;
            Ok(Value::Bool((t == Some(*want)) != *negated))
        }
        BExpr::IsDistinct(a, b, negated) => {
            let (x, y) = (eval(a, env)?, eval(b, env)?);
            let distinct = match (&x, &y) {
                (Value::Null, Value::Null) => false,
                (Value::Null, _) | (_, Value::Null) => true,
                _ => x.compare(&y)? != Some(Ordering::Equal),
            };
            Ok(Value::Bool(distinct != *negated))
        }
        BExpr::InList(a, list, negated) => {
            let v = eval(a, env)?;
            let mut items = Vec::with_capacity(list.len());
            for item in list {
                items.push(eval(item, env)?);
            }
            in_values(&v, items.iter(), *negated)
        }
        BExpr::Case {
            operand,
            whens,
            otherwise,
        } => {
            let subject = operand.as_ref().map(|o| eval(o, env)).transpose()?;
            for (w, t) in whens {
                let hit = match &subject {
                    Some(s) => s.compare(&eval(w, env)?)? == Some(Ordering::Equal),
                    None => eval(w, env)?.truth()? == Some(true),
                };
                if hit {
                    return eval(t, env);
                }
            }
            match otherwise {
                Some(o) => eval(o, env),
                None => Ok(Value::Null),
            }
        }
        BExpr::Cast(a, ty) => cast(eval(a, env)?, *ty),
        BExpr::Func(f, args) => {
            let values = args
                .iter()
                .map(|a| eval(a, env))
                .collect::<Result<Vec<_>>>()?;
            function(*f, values)
        }
        BExpr::Like {
            expr,
            pattern,
            negated,
            case_insensitive,
        } => match (eval(expr, env)?, eval(pattern, env)?) {
            (Value::Null, _) | (_, Value::Null) => Ok(Value::Null),
            (Value::Text(s), Value::Text(p)) => {
                let hit = if *case_insensitive {
                    like(&s.to_lowercase(), &p.to_lowercase())
                } else {
                    like(&s, &p)
                };
                Ok(Value::Bool(hit != *negated))
            }
            (a, b) => Err(SqlError::undefined_function(format!(
                "operator does not exist: {} LIKE {}",
                type_name(&a),
                type_name(&b)
            ))),
        },
        BExpr::Subquery(s) => {
            let rows = subquery_rows(s, env)?;
            match &*rows {
                [] => Ok(Value::Null),
                [row] => Ok(row.first().cloned().unwrap_or(Value::Null)),
                _ => Err(SqlError {
                    code: "21000",
                    message: "more than one row returned by a subquery used as an expression"
                        .into(),
                }),
            }
        }
        BExpr::Exists(s, negated) => {
            let rows = subquery_rows(s, env)?;
            Ok(Value::Bool(rows.is_empty() == *negated))
        }
        BExpr::InSubquery(a, s, negated) => {
            let v = eval(a, env)?;
            let rows = subquery_rows(s, env)?;
            in_values(
                &v,
                rows.iter().map(|r| r.first().unwrap_or(&Value::Null)),
                *negated,
            )
        }
    }
}

/// The rows of a subquery seen from `env` (computed once if uncorrelated).
fn subquery_rows<'a>(s: &'a Subquery, env: &Env) -> Result<std::borrow::Cow<'a, [Row]>> {
    let run = || {
        let mut outer: Vec<&[Value]> = env.outer.to_vec();
        outer.push(env.row);
        query(&s.query, &outer)
    };
    if s.correlated {
        return Ok(std::borrow::Cow::Owned(run()?));
    }
    if let Some(rows) = s.cache.0.get() {
        return Ok(std::borrow::Cow::Borrowed(rows));
    }
    let rows = run()?;
    Ok(std::borrow::Cow::Borrowed(s.cache.0.get_or_init(|| rows)))
}

/// `v [NOT] IN (items)` with three-valued logic.
fn in_values<'a>(
    v: &Value,
    items: impl Iterator<Item = &'a Value>,
    negated: bool,
) -> Result<Value> {
    let mut items = items.peekable();
    if items.peek().is_none() {
        // Nothing to be in: false (NOT IN: true), even for NULL.
        return Ok(Value::Bool(negated));
    }
    if *v == Value::Null {
        return Ok(Value::Null);
    }
    let mut saw_null = false;
    for item in items {
        match v.compare(item)? {
            Some(Ordering::Equal) => return Ok(Value::Bool(!negated)),
            None => saw_null = true,
            Some(_) => {}
        }
    }
    Ok(if saw_null {
        Value::Null
    } else {
        Value::Bool(negated)
    })
}

/// SQL LIKE: `%` any run, `_` any one character, `\` escapes.
fn like(s: &str, p: &str) -> bool {
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = p.chars().collect();
    // Iterative matching with backtracking to the last `%`.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if j < p.len() && p[j] == '\\' && j + 1 < p.len() {
            if s[i] == p[j + 1] {
                i += 1;
                j += 2;
                continue;
            }
        } else if j < p.len() && (p[j] == '_' || (p[j] != '%' && p[j] == s[i])) {
            i += 1;
            j += 1;
            continue;
        } else if j < p.len() && p[j] == '%' {
            star = Some((j, i));
            j += 1;
            continue;
        }
        match star {
            Some((sj, si)) => {
                j = sj + 1;
                i = si + 1;
                star = Some((sj, si + 1));
            }
            None => return false,
        }
    }
    while j < p.len() && p[j] == '%' {
        j += 1;
    }
    j == p.len()
}

fn type_name(v: &Value) -> String {
    v.data_type()
        .map_or("unknown".to_string(), |t| t.to_string())
}

/// An explicit CAST: like an assignment cast, plus anything to text and
/// floats to integers with rounding.
fn cast(v: Value, ty: DataType) -> Result<Value> {
    match (v, ty) {
        (Value::Null, _) => Ok(Value::Null),
        (Value::Text(s), DataType::Text) => Ok(Value::Text(s)),
        (v, DataType::Text) => Ok(Value::Text(v.to_string())),
        (Value::Float(x), DataType::Int) => {
            let r = x.round();
            if r.is_finite() && r.abs() < 9.2e18 {
                Ok(Value::Int(r as i64))
            } else {
                Err(SqlError::numeric_out_of_range("integer out of range"))
            }
        }
        (Value::Bool(b), DataType::Int) => Ok(Value::Int(i64::from(b))),
        (Value::Int(i), DataType::Bool) => Ok(Value::Bool(i != 0)),
        (v, ty) => v.cast_to(ty),
    }
}

fn function(f: Func, values: Vec<Value>) -> Result<Value> {
    let arity = |n: std::ops::RangeInclusive<usize>| -> Result<()> {
        if n.contains(&values.len()) {
            Ok(())
        } else {
            Err(SqlError::undefined_function(format!(
                "function {f:?}() takes {} arguments, not {}",
                if n.start() == n.end() {
                    n.start().to_string()
                } else {
                    format!("{} to {}", n.start(), n.end())
                },
                values.len()
            )))
        }
    };
    match f {
        Func::Coalesce => {
            return Ok(values
                .into_iter()
                .find(|v| *v != Value::Null)
                .unwrap_or(Value::Null));
        }
        Func::NullIf => {
            arity(2..=2)?;
            let equal = values[0].compare(&values[1])? == Some(Ordering::Equal);
            return Ok(if equal {
                Value::Null
            } else {
                values[0].clone()
            });
        }
        Func::Greatest | Func::Least => {
            let mut best: Option<Value> = None;
            for v in values.into_iter().filter(|v| *v != Value::Null) {
                best = Some(match best {
                    None => v,
                    Some(b) => {
                        let o = v.compare(&b)?.unwrap_or(Ordering::Equal);
                        if (f == Func::Greatest && o.is_gt()) || (f == Func::Least && o.is_lt()) {
                            v
                        } else {
                            b
                        }
                    }
                });
            }
            return Ok(best.unwrap_or(Value::Null));
        }
        Func::Concat => {
            return Ok(Value::Text(
                values
                    .iter()
                    .filter(|v| **v != Value::Null)
                    .map(ToString::to_string)
                    .collect(),
            ));
        }
        Func::Now => {
            arity(0..=0)?;
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            return Ok(Value::Timestamp(spanlite_truetime::Timestamp::from_nanos(
                nanos,
            )));
        }
        _ => {}
    }
    if values.contains(&Value::Null) {
        return Ok(Value::Null);
    }
    let bad = |values: &[Value]| {
        SqlError::undefined_function(format!(
            "function {}({}) does not exist",
            format!("{f:?}").to_lowercase(),
            values.iter().map(type_name).collect::<Vec<_>>().join(", ")
        ))
    };
    Ok(match (f, values.as_slice()) {
        (Func::Abs, [Value::Int(i)]) => Value::Int(
            i.checked_abs()
                .ok_or_else(|| SqlError::numeric_out_of_range("integer out of range"))?,
        ),
        (Func::Abs, [Value::Float(x)]) => Value::Float(x.abs()),
        (Func::Lower, [Value::Text(s)]) => Value::Text(s.to_lowercase()),
        (Func::Upper, [Value::Text(s)]) => Value::Text(s.to_uppercase()),
        (Func::Length, [Value::Text(s)]) => Value::Int(s.chars().count() as i64),
        (Func::Length, [Value::Bytes(b)]) => Value::Int(b.len() as i64),
        (Func::Substr, [Value::Text(s), Value::Int(start), rest @ ..]) => {
            // 1-based; a start before 1 eats into the length.
            let len = match rest {
                [] => None,
                [Value::Int(n)] if *n >= 0 => Some(*n),
                [Value::Int(_)] => {
                    return Err(SqlError {
                        code: "22011",
                        message: "negative substring length not allowed".into(),
                    });
                }
                _ => return Err(bad(&values)),
            };
            let from = (*start).max(1);
            let to = len.map(|n| start.saturating_add(n));
            let chars = s.chars().enumerate().filter(|(i, _)| {
                let pos = *i as i64 + 1;
                pos >= from && to.is_none_or(|t| pos < t)
            });
            Value::Text(chars.map(|(_, c)| c).collect())
        }
        (Func::Trim | Func::Ltrim | Func::Rtrim, [Value::Text(s), rest @ ..]) => {
            let set: Vec<char> = match rest {
                [] => vec![' '],
                [Value::Text(chars)] => chars.chars().collect(),
                _ => return Err(bad(&values)),
            };
            let t: &str = match f {
                Func::Ltrim => s.trim_start_matches(set.as_slice()),
                Func::Rtrim => s.trim_end_matches(set.as_slice()),
                _ => s.trim_matches(set.as_slice()),
            };
            Value::Text(t.to_string())
        }
        (Func::Replace, [Value::Text(s), Value::Text(from), Value::Text(to)]) => {
            if from.is_empty() {
                Value::Text(s.clone())
            } else {
                Value::Text(s.replace(from.as_str(), to))
            }
        }
        (Func::Round, [Value::Int(i)]) => Value::Int(*i),
        (Func::Round, [Value::Float(x)]) => Value::Float(x.round()),
        (Func::Round, [Value::Float(x), Value::Int(d)]) => {
            let p = 10f64.powi((*d).clamp(-300, 300) as i32);
            Value::Float((x * p).round() / p)
        }
        (Func::Round, [Value::Int(i), Value::Int(_)]) => Value::Int(*i),
        (Func::Ceil, [Value::Float(x)]) => Value::Float(x.ceil()),
        (Func::Floor, [Value::Float(x)]) => Value::Float(x.floor()),
        (Func::Ceil | Func::Floor, [Value::Int(i)]) => Value::Int(*i),
        (Func::Position, [Value::Text(s), Value::Text(sub)]) => Value::Int(
            s.find(sub.as_str())
                .map_or(0, |byte| s[..byte].chars().count() as i64 + 1),
        ),
        _ => return Err(bad(&values)),
    })
}

/// `l op r` with SQL semantics.
pub fn binary(l: Value, op: BinOp, r: Value) -> Result<Value> {
    let cmp = |want: &dyn Fn(Ordering) -> bool| -> Result<Value> {
        Ok(match l.compare(&r)? {
            None => Value::Null,
            Some(o) => Value::Bool(want(o)),
        })
    };
    match op {
        BinOp::And => Ok(match (l.truth()?, r.truth()?) {
            (Some(false), _) | (_, Some(false)) => Value::Bool(false),
            (Some(true), Some(true)) => Value::Bool(true),
            _ => Value::Null,
        }),
        BinOp::Or => Ok(match (l.truth()?, r.truth()?) {
            (Some(true), _) | (_, Some(true)) => Value::Bool(true),
            (Some(false), Some(false)) => Value::Bool(false),
            _ => Value::Null,
        }),
        BinOp::Eq => cmp(&|o| o == Ordering::Equal),
        BinOp::NotEq => cmp(&|o| o != Ordering::Equal),
        BinOp::Lt => cmp(&|o| o == Ordering::Less),
        BinOp::LtEq => cmp(&|o| o != Ordering::Greater),
        BinOp::Gt => cmp(&|o| o == Ordering::Greater),
        BinOp::GtEq => cmp(&|o| o != Ordering::Less),
        BinOp::Concat => Ok(match (l, r) {
            (Value::Null, _) | (_, Value::Null) => Value::Null,
            (a, b) => Value::Text(format!("{a}{b}")),
        }),
        BinOp::Plus | BinOp::Minus | BinOp::Multiply | BinOp::Divide | BinOp::Modulo => {
            arithmetic(l, op, r)
        }
    }
}

fn arithmetic(l: Value, op: BinOp, r: Value) -> Result<Value> {
    let overflow = || SqlError::numeric_out_of_range("integer out of range");
    Ok(match (l, r) {
        (Value::Null, _) | (_, Value::Null) => Value::Null,
        (Value::Int(a), Value::Int(b)) => Value::Int(match op {
            BinOp::Plus => a.checked_add(b).ok_or_else(overflow)?,
            BinOp::Minus => a.checked_sub(b).ok_or_else(overflow)?,
            BinOp::Multiply => a.checked_mul(b).ok_or_else(overflow)?,
            BinOp::Divide | BinOp::Modulo if b == 0 => {
                return Err(SqlError::division_by_zero("division by zero"));
            }
            BinOp::Divide => a.checked_div(b).ok_or_else(overflow)?,
            _ => a.checked_rem(b).unwrap_or(0),
        }),
        (a @ (Value::Int(_) | Value::Float(_)), b @ (Value::Int(_) | Value::Float(_))) => {
            let (Value::Float(x), Value::Float(y)) =
                (a.cast_to(DataType::Float)?, b.cast_to(DataType::Float)?)
            else {
                return Err(SqlError::internal("numeric cast"));
            };
            if matches!(op, BinOp::Divide | BinOp::Modulo) && y == 0.0 {
                return Err(SqlError::division_by_zero("division by zero"));
            }
            let z = match op {
                BinOp::Plus => x + y,
                BinOp::Minus => x - y,
                BinOp::Multiply => x * y,
                BinOp::Divide => x / y,
                _ => x % y,
            };
            if !z.is_finite() {
                return Err(SqlError::numeric_out_of_range(
                    "value out of range: overflow",
                ));
            }
            Value::Float(z)
        }
        (a, b) => {
            return Err(SqlError::undefined_function(format!(
                "operator does not exist: {} {op:?} {}",
                type_name(&a),
                type_name(&b)
            )));
        }
    })
}
