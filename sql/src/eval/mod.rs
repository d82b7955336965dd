//! Running bound plans: [`fetch`] reads what a plan needs through the
//! transaction, then [`query`] computes the result in memory (see
//! [`crate::plan`]): filters, joins, grouping, sorting, set operations.
//! Expressions are evaluated by [`eval`].

mod arrays;
mod budget;
mod bytes;
mod crypto;
mod datetimes;
mod expr;
pub(crate) mod fetch;
mod functions;
mod locking;
mod numbers;
pub(crate) mod series;
mod stats;
mod window;
mod zone;

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use crate::error::{Result, SqlError};
use crate::plan::{
    AggCall, AggFunc, BExpr, BinOp, Body, JoinKind, Query, Row, Select, SetOp, Source,
};
use crate::value::{DataType, Value};

use budget::charge_row;
pub use budget::{DEFAULT_MEMORY_BUDGET, budgeted, memory_budget, set_memory_budget};

/// The work a fetched query's computation will do, roughly: the rows its
/// joins combine (the product of their inputs), summed over set operations.
pub fn work(q: &Query) -> usize {
    fn body_work(b: &Body) -> usize {
        match b {
            Body::Select(s) => s
                .steps
                .iter()
                .map(|step| match &step.source {
                    Source::Unit => 1,
                    Source::Scan(scan) => scan.rows.len().max(1),
                    Source::Derived { query, .. } => work(query).max(1),
                })
                .fold(1usize, usize::saturating_mul),
            Body::Values { rows, .. } => rows.len(),
            Body::Unnest { .. } => 1,
            Body::SetOp { left, right, .. } => body_work(left).saturating_add(body_work(right)),
        }
    }
    body_work(&q.body)
}
pub(crate) use expr::arithmetic;
pub use expr::eval;
pub use fetch::{fetch, fetch_expr, fetch_scan};

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
    if q.distinct_on > 0 {
        // The first row of each DISTINCT ON value, in the sorted order.
        let mut seen = HashSet::new();
        rows.retain(|(_, keys)| seen.insert(hrow(&keys[keys.len() - q.distinct_on..])));
    }
    let (offset, limit) = offset_and_limit(q, outer)?;
    Ok(rows
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|(r, _)| r)
        .collect())
}

/// A query's OFFSET (0 if none) and LIMIT (`usize::MAX` if none).
fn offset_and_limit(q: &Query, outer: &[&[Value]]) -> Result<(usize, usize)> {
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
            other => {
                let message = format!("{what} must not be negative or non-integer: {other}");
                Err(if what == "LIMIT" {
                    SqlError::invalid_limit(message)
                } else {
                    SqlError::invalid_offset(message)
                })
            }
        }
    };
    let offset = count(&q.offset, "OFFSET")?.unwrap_or(0);
    let limit = count(&q.limit, "LIMIT")?.unwrap_or(usize::MAX);
    Ok((offset, limit))
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
    Date(i32),
    /// A non-integral numeric, normalized.
    Numeric(String),
    Time(i64),
    /// An interval's span (`'1 day' = '24 hours'`).
    Interval(i128),
    Array(Vec<HKey>),
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
        Value::Timestamp(t) | Value::TimestampTz(t) => HKey::Timestamp(t.as_nanos()),
        Value::Date(d) => HKey::Date(*d),
        Value::Time(t) => HKey::Time(*t),
        Value::Interval(iv) => HKey::Interval(iv.span()),
        Value::Uuid(u) => HKey::Bytes(u.to_vec()),
        Value::Jsonb(j) => HKey::Text(j.clone()),
        Value::Enum(e) => HKey::Text(e.label.clone()),
        Value::Array(items) => HKey::Array(items.iter().map(hkey).collect()),
        Value::Numeric(n) => match n.0.normalize() {
            d if d.scale() == 0 => n
                .to_int()
                .map_or_else(|_| HKey::Numeric(d.to_string()), HKey::Int),
            d => HKey::Numeric(d.to_string()),
        },
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
        Body::Unnest {
            arrays,
            ordinality,
            json: Some(rows),
            record,
        } => {
            let env = Env {
                outer,
                ..Env::EMPTY
            };
            let [doc] = arrays.as_slice() else {
                return Err(SqlError::internal(
                    "a JSON set-returning function takes one document",
                ));
            };
            let found = json_rows(*rows, record, eval(doc, &env)?)?;
            Ok(found
                .into_iter()
                .enumerate()
                .map(|(i, mut row)| {
                    if *ordinality {
                        row.push(Value::Int(i as i64 + 1));
                    }
                    (row, Vec::new())
                })
                .collect())
        }
        Body::Unnest {
            arrays,
            ordinality,
            json: None,
            ..
        } => {
            let env = Env {
                outer,
                ..Env::EMPTY
            };
            let mut columns = Vec::with_capacity(arrays.len());
            for a in arrays {
                columns.push(match eval(a, &env)? {
                    Value::Null => Vec::new(),
                    Value::Array(items) => items,
                    // A catalog's array in its text form: an element that
                    // reads as an integer is one.
                    v => crate::compat::array_items(&v.to_string())
                        .into_iter()
                        .map(|i| match i {
                            None => Value::Null,
                            Some(t) => t.parse::<i64>().map_or(Value::Text(t), Value::Int),
                        })
                        .collect(),
                });
            }
            let n = columns.iter().map(Vec::len).max().unwrap_or(0);
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let mut row: Row = columns
                    .iter()
                    .map(|c| c.get(i).cloned().unwrap_or(Value::Null))
                    .collect();
                if *ordinality {
                    row.push(Value::Int(i as i64 + 1));
                }
                out.push((row, Vec::new()));
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
        if i > 0
            && let Source::Derived {
                query: q,
                offset,
                width: w,
                filter,
                lateral: true,
                ..
            } = &step.source
        {
            rows = lateral_join(rows, step, q, (*offset, *w), filter, outer)?;
            rows = keep_passing(rows, &step.after, outer)?;
            continue;
        }
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
                    charge_row(&m)?;
                    joined.push(m);
                }
                if outer_join && !matched {
                    charge_row(left)?;
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

/// Joins a LATERAL subquery (filling `span` of each row) to `rows`: run
/// once per row, with the row as its enclosing query's (depth 1).
fn lateral_join(
    rows: Vec<Row>,
    step: &crate::plan::Step,
    q: &Query,
    (offset, w): (usize, usize),
    filter: &Option<BExpr>,
    outer: &[&[Value]],
) -> Result<Vec<Row>> {
    let left_join = step.kind == JoinKind::Left;
    let mut joined = Vec::new();
    for left in &rows {
        let inner: Vec<&[Value]> = std::iter::once(left.as_slice())
            .chain(outer.iter().copied())
            .collect();
        let mut matched = false;
        for r in query(q, &inner)? {
            let mut m = left.clone();
            for (slot, v) in m[offset..offset + w].iter_mut().zip(r) {
                *slot = v;
            }
            let env = Env {
                row: &m,
                outer,
                output: &[],
            };
            if !passes(filter, &env)? || (left_join && !passes(&step.on, &env)?) {
                continue;
            }
            matched = true;
            charge_row(&m)?;
            joined.push(m);
        }
        if left_join && !matched {
            charge_row(left)?;
            joined.push(left.clone());
        }
    }
    Ok(joined)
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
            let every: Vec<usize> = (0..g.keys.len()).collect();
            let sets = if g.sets.is_empty() {
                std::slice::from_ref(&every)
            } else {
                g.sets.as_slice()
            };
            let mut out = Vec::new();
            for set in sets {
                out.extend(group_rows(s, g, set, &rows, outer)?);
            }
            out
        }
    };
    let rows = if s.windows.is_empty() {
        rows
    } else {
        window::apply(rows, &s.windows, outer)?
    };
    let mut out: Keyed = Vec::with_capacity(rows.len());
    let mut seen = HashSet::new();
    for r in &rows {
        let (projected, keys) = output_and_keys(s, r, outer)?;
        if s.distinct && !seen.insert(hrow(&projected)) {
            continue;
        }
        // DISTINCT's set holds a key per row kept, the result the row.
        charge_row(&projected)?;
        if s.distinct {
            charge_row(&projected)?;
        }
        out.push((projected, keys));
    }
    Ok(out)
}

/// A block's output row for `row`, and its sort keys (which may name the
/// outputs).
fn output_and_keys(s: &Select, row: &[Value], outer: &[&[Value]]) -> Result<(Row, Row)> {
    let env = Env {
        row,
        outer,
        output: &[],
    };
    let projected = s
        .projection
        .iter()
        .map(|e| eval(e, &env))
        .collect::<Result<Row>>()?;
    let keys = s
        .order
        .iter()
        .map(|e| {
            eval(
                e,
                &Env {
                    output: &projected,
                    ..env
                },
            )
        })
        .collect::<Result<Row>>()?;
    Ok((projected, keys))
}

/// What an aggregate takes from one row: its value, `string_agg`'s
/// delimiter, and the row's keys of the aggregate's ORDER BY.
#[derive(Clone, Debug)]
pub(crate) struct Taken {
    value: Value,
    delimiter: Value,
    keys: Row,
}

/// What aggregate `a` takes from the row of `env`: nothing when its
/// FILTER is not true or its value is NULL (except for `array_agg` and
/// the JSON aggregates, which keep NULLs).
pub(crate) fn take(a: &AggCall, env: &Env) -> Result<Option<Taken>> {
    if let Some(f) = &a.filter
        && eval(f, env)? != Value::Bool(true)
    {
        return Ok(None);
    }
    let value = match &a.arg {
        None => Value::Bool(true),
        Some(e) => eval(e, env)?,
    };
    if value == Value::Null
        && !matches!(
            a.func,
            AggFunc::ArrayAgg | AggFunc::JsonAgg | AggFunc::JsonObjectAgg
        )
    {
        return Ok(None);
    }
    let delimiter = match &a.delimiter {
        None => Value::Null,
        Some(e) => eval(e, env)?,
    };
    let keys = a
        .order
        .iter()
        .map(|(e, _)| eval(e, env))
        .collect::<Result<Row>>()?;
    charge_row(std::slice::from_ref(&value))?;
    Ok(Some(Taken {
        value,
        delimiter,
        keys,
    }))
}

/// Aggregate `a` of the values it took (see [`take`]).
pub(crate) fn aggregate(a: &AggCall, mut taken: Vec<Taken>) -> Result<Value> {
    if !a.order.is_empty() {
        taken.sort_by(|x, y| {
            for (i, (_, key)) in a.order.iter().enumerate() {
                let o = sort_cmp(&x.keys[i], &y.keys[i], key.nulls_first, key.descending);
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
    }
    if a.distinct {
        let mut seen = HashSet::new();
        taken.retain(|t| seen.insert(hkey(&t.value)));
    }
    if a.func.ordered_set() {
        return stats::ordered_set(a.func, &taken);
    }
    match a.func {
        AggFunc::StringAgg => {
            let mut out: Option<String> = None;
            for t in taken {
                let Value::Text(v) = t.value else {
                    return Err(SqlError::undefined_function(
                        "function string_agg takes text values and a text delimiter",
                    ));
                };
                out = Some(match out {
                    None => v,
                    Some(mut acc) => {
                        if let Value::Text(d) = &t.delimiter {
                            acc.push_str(d);
                        }
                        acc.push_str(&v);
                        acc
                    }
                });
            }
            return Ok(out.map_or(Value::Null, Value::Text));
        }
        AggFunc::ArrayAgg => {
            if taken.is_empty() {
                return Ok(Value::Null);
            }
            return Ok(Value::Array(
                taken.iter().map(|t| t.value.clone()).collect(),
            ));
        }
        AggFunc::JsonAgg => {
            if taken.is_empty() {
                return Ok(Value::Null);
            }
            let items = taken
                .iter()
                .map(|t| functions::json_of(&t.value))
                .collect::<Result<Vec<_>>>()?;
            return Ok(Value::Jsonb(crate::json::render(
                &serde_json::Value::Array(items),
            )));
        }
        AggFunc::JsonObjectAgg => {
            if taken.is_empty() {
                return Ok(Value::Null);
            }
            let mut map = serde_json::Map::new();
            for t in &taken {
                if t.value == Value::Null {
                    return Err(SqlError::invalid_parameter("field name must not be null"));
                }
                map.insert(t.value.to_string(), functions::json_of(&t.delimiter)?);
            }
            return Ok(Value::Jsonb(crate::json::render(
                &serde_json::Value::Object(map),
            )));
        }
        AggFunc::BoolAnd | AggFunc::BoolOr => {
            let mut out: Option<bool> = None;
            for t in taken {
                let Value::Bool(b) = t.value else {
                    return Err(SqlError::undefined_function(
                        "functions bool_and and bool_or take booleans",
                    ));
                };
                out = Some(match (out, a.func) {
                    (None, _) => b,
                    (Some(x), AggFunc::BoolAnd) => x && b,
                    (Some(x), _) => x || b,
                });
            }
            return Ok(out.map_or(Value::Null, Value::Bool));
        }
        _ => {}
    }
    let values: Vec<Value> = taken.into_iter().map(|t| t.value).collect();
    match a.func {
        AggFunc::Count => Ok(Value::Int(values.len() as i64)),
        AggFunc::VarSamp | AggFunc::VarPop | AggFunc::StddevSamp | AggFunc::StddevPop => {
            stats::statistic(a.func, &values)
        }
        AggFunc::BitAnd | AggFunc::BitOr | AggFunc::BitXor => {
            let mut out: Option<i64> = None;
            for v in values {
                let Value::Int(i) = v else {
                    return Err(SqlError::undefined_function(format!(
                        "function {}({}) does not exist",
                        match a.func {
                            AggFunc::BitAnd => "bit_and",
                            AggFunc::BitOr => "bit_or",
                            _ => "bit_xor",
                        },
                        v.data_type()
                            .map_or("unknown".to_string(), |t| t.to_string())
                    )));
                };
                out = Some(match (out, a.func) {
                    (None, _) => i,
                    (Some(x), AggFunc::BitAnd) => x & i,
                    (Some(x), AggFunc::BitOr) => x | i,
                    (Some(x), _) => x ^ i,
                });
            }
            Ok(out.map_or(Value::Null, Value::Int))
        }
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
        // Sum and Avg (the others returned above).
        _ => {
            if values.is_empty() {
                return Ok(Value::Null);
            }
            let n = values.len();
            let mut sum: Option<Value> = None;
            for v in values {
                if !matches!(
                    v,
                    Value::Int(_) | Value::Float(_) | Value::Numeric(_) | Value::Interval(_)
                ) {
                    return Err(SqlError::undefined_function(format!(
                        "function {}({}) does not exist",
                        if a.func == AggFunc::Sum { "sum" } else { "avg" },
                        v.data_type()
                            .map_or("unknown".to_string(), |t| t.to_string())
                    )));
                }
                sum = Some(match sum {
                    None => v,
                    Some(s) => arithmetic(s, BinOp::Plus, v)?,
                });
            }
            let sum = sum.unwrap_or(Value::Null);
            if a.func == AggFunc::Sum {
                return Ok(sum);
            }
            average(sum, n as i64)
        }
    }
}

/// The grouped rows of grouping set `set` (positions of `g.keys`; the
/// others NULL) over `rows`, in first-seen order, that pass HAVING.
fn group_rows(
    s: &Select,
    g: &crate::plan::Grouping,
    set: &[usize],
    rows: &[Row],
    outer: &[&[Value]],
) -> Result<Vec<Row>> {
    let mut index: HashMap<Vec<HKey>, usize> = HashMap::new();
    let mut groups: Vec<(Row, Vec<Vec<Taken>>)> = Vec::new();
    // No key: one group, rows or none.
    if set.is_empty() {
        groups.push((
            vec![Value::Null; g.keys.len()],
            vec![Vec::new(); g.aggs.len()],
        ));
    }
    for r in rows {
        let env = Env {
            row: r,
            outer,
            output: &[],
        };
        let i = if set.is_empty() {
            0
        } else {
            let mut key = vec![Value::Null; g.keys.len()];
            for &k in set {
                key[k] = eval(&g.keys[k], &env)?;
            }
            *index.entry(hrow(&key)).or_insert_with(|| {
                groups.push((key, vec![Vec::new(); g.aggs.len()]));
                groups.len() - 1
            })
        };
        for (a, acc) in g.aggs.iter().zip(groups[i].1.iter_mut()) {
            if a.func != AggFunc::Grouping
                && let Some(t) = take(a, &env)?
            {
                acc.push(t);
            }
        }
    }
    let mut out = Vec::with_capacity(groups.len());
    for (mut key, accs) in groups {
        for (a, taken) in g.aggs.iter().zip(accs) {
            key.push(if a.func == AggFunc::Grouping {
                grouping_bits(a, set)
            } else {
                aggregate(a, taken)?
            });
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
    Ok(out)
}

/// `grouping(k, …)` in the rows of grouping set `set`: a bit per key, the
/// first the highest, set when `set` leaves the key out.
fn grouping_bits(a: &AggCall, set: &[usize]) -> Value {
    let Some(BExpr::Const(Value::Array(keys))) = &a.delimiter else {
        return Value::Null;
    };
    let mut bits = 0i64;
    for k in keys {
        bits <<= 1;
        if let Value::Int(k) = k
            && !set.iter().any(|s| *s as i64 == *k)
        {
            bits |= 1;
        }
    }
    Value::Int(bits)
}

/// The rows of JSON set-returning function `rows` over `doc` (none for
/// NULL); `record`: `jsonb_to_record(set)`'s columns.
fn json_rows(
    rows: crate::json::Rows,
    record: &[(String, DataType)],
    doc: Value,
) -> Result<Vec<Row>> {
    use crate::json::Rows;
    let doc = match doc {
        Value::Null => return Ok(Vec::new()),
        Value::Jsonb(j) | Value::Text(j) => j,
        other => return Err(json_argument_error(rows, &other)),
    };
    if let Rows::Records { .. } = rows {
        let names: Vec<String> = record.iter().map(|(n, _)| n.clone()).collect();
        return rows
            .records(&doc, &names)?
            .into_iter()
            .map(|fields| {
                fields
                    .into_iter()
                    .zip(record)
                    .map(|(field, (_, ty))| match field {
                        None => Ok(Value::Null),
                        Some((_, json)) if *ty == DataType::Jsonb => Ok(Value::Jsonb(json)),
                        Some((text, _)) => Value::Text(text).cast_to(*ty),
                    })
                    .collect()
            })
            .collect();
    }
    let value = |v: Option<String>| match v {
        None => Value::Null,
        Some(t) if rows.text() => Value::Text(t),
        Some(j) => Value::Jsonb(j),
    };
    let text = |k: Option<String>| k.map_or(Value::Null, Value::Text);
    Ok(rows
        .over(&doc)?
        .into_iter()
        .map(|(key, v)| match rows {
            Rows::Elements { .. } => vec![value(v)],
            Rows::Each { .. } => vec![text(key), value(v)],
            Rows::Keys | Rows::Records { .. } => vec![text(key)],
        })
        .collect())
}

/// 42883 for a JSON set-returning function called on a value of
/// another type.
fn json_argument_error(rows: crate::json::Rows, other: &Value) -> SqlError {
    SqlError::undefined_function(format!(
        "function {}({}) does not exist",
        rows.name(),
        other
            .data_type()
            .map_or_else(|| "unknown".to_string(), |t| t.to_string().to_lowercase())
    ))
}

/// `sum / n` as avg gives it: a numeric for numerics (PostgreSQL's avg of
/// a numeric is exact), else a float.
pub(crate) fn average(sum: Value, n: i64) -> Result<Value> {
    Ok(match sum {
        Value::Numeric(s) => Value::Numeric(s.arith('/', crate::numeric::Numeric::from_int(n))?),
        Value::Int(i) => Value::Float(i as f64 / n as f64),
        Value::Float(x) => Value::Float(x / n as f64),
        Value::Interval(iv) => Value::Interval(iv.divided_by(n as f64)?),
        _ => Value::Null,
    })
}
