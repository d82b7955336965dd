//! Window functions: each call's values over the rows of a SELECT block
//! (grouped rows when grouped), appended to every row in call order.
//!
//! ```text
//!   rows ──▶ partitions (PARTITION BY values, first-seen order)
//!        ──▶ each sorted by the window's ORDER BY (stably)
//!        ──▶ peers: neighbours equal in that ORDER BY
//!        ──▶ per row: its frame (ROWS by position, RANGE by peers) and
//!            the function's value over it
//! ```
//!
//! An aggregate whose frame starts at the partition's first row (the
//! default frame, a running total) is computed incrementally; other
//! frames are aggregated row by row.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::{Env, HKey, Taken, aggregate, eval, hrow, sort_cmp, take};
use crate::error::{Result, SqlError};
use crate::plan::{AggFunc, BinOp, FrameBound, Row, WindowCall, WindowFunc};
use crate::value::Value;

/// `rows`, each with the values of `windows` appended.
pub(super) fn apply(
    mut rows: Vec<Row>,
    windows: &[WindowCall],
    outer: &[&[Value]],
) -> Result<Vec<Row>> {
    let mut values: Vec<Vec<Value>> = Vec::with_capacity(windows.len());
    for w in windows {
        values.push(one(&rows, w, outer)?);
    }
    for (i, row) in rows.iter_mut().enumerate() {
        row.extend(values.iter().map(|v| v[i].clone()));
    }
    Ok(rows)
}

/// The values of `w` for each of `rows`, in their order.
fn one<'a>(rows: &'a [Row], w: &WindowCall, outer: &'a [&'a [Value]]) -> Result<Vec<Value>> {
    let env = |row: &'a Row| Env {
        row,
        outer,
        output: &[],
    };
    // Partitions, in first-seen order.
    let mut index: HashMap<Vec<HKey>, usize> = HashMap::new();
    let mut partitions: Vec<Vec<usize>> = Vec::new();
    let mut keys: Vec<Row> = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let e = env(row);
        let part = w
            .partition
            .iter()
            .map(|p| eval(p, &e))
            .collect::<Result<Row>>()?;
        let p = *index.entry(hrow(&part)).or_insert_with(|| {
            partitions.push(Vec::new());
            partitions.len() - 1
        });
        partitions[p].push(i);
        keys.push(
            w.order
                .iter()
                .map(|(o, _)| eval(o, &e))
                .collect::<Result<Row>>()?,
        );
    }
    let compare = |a: usize, b: usize| {
        for (k, (_, dir)) in w.order.iter().enumerate() {
            let o = sort_cmp(&keys[a][k], &keys[b][k], dir.nulls_first, dir.descending);
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    };
    let mut out = vec![Value::Null; rows.len()];
    for mut part in partitions {
        part.sort_by(|&a, &b| compare(a, b));
        let n = part.len();
        // peer_start[p], peer_end[p]: the first and last position of p's
        // peers.
        let mut peer_start = vec![0; n];
        let mut peer_end = vec![0; n];
        let mut p = 0;
        while p < n {
            let mut q = p;
            while q + 1 < n && compare(part[q + 1], part[p]) == Ordering::Equal {
                q += 1;
            }
            for r in p..=q {
                peer_start[r] = p;
                peer_end[r] = q;
            }
            p = q + 1;
        }
        let frame = |p: usize| -> (usize, usize) {
            let bound = |b: FrameBound, start: bool| -> i64 {
                let p = p as i64;
                match b {
                    FrameBound::UnboundedPreceding => 0,
                    FrameBound::UnboundedFollowing => n as i64 - 1,
                    FrameBound::Preceding(k) => p - k as i64,
                    FrameBound::Following(k) => p + k as i64,
                    FrameBound::CurrentRow if w.frame.rows => p,
                    FrameBound::CurrentRow if start => peer_start[p as usize] as i64,
                    FrameBound::CurrentRow => peer_end[p as usize] as i64,
                }
            };
            let s = bound(w.frame.start, true).max(0);
            let e = bound(w.frame.end, false).min(n as i64 - 1);
            // An empty frame: start past its end.
            if s > e {
                (1, 0)
            } else {
                (s as usize, e as usize)
            }
        };
        let arg = |i: usize, k: usize| -> Result<Value> {
            match w.args.get(k) {
                Some(e) => eval(e, &env(&rows[i])),
                None => Ok(Value::Null),
            }
        };
        match w.func {
            WindowFunc::RowNumber => {
                for (p, &i) in part.iter().enumerate() {
                    out[i] = Value::Int(p as i64 + 1);
                }
            }
            WindowFunc::Rank => {
                for (p, &i) in part.iter().enumerate() {
                    out[i] = Value::Int(peer_start[p] as i64 + 1);
                }
            }
            WindowFunc::DenseRank => {
                let mut rank = 0;
                for (p, &i) in part.iter().enumerate() {
                    if peer_start[p] == p {
                        rank += 1;
                    }
                    out[i] = Value::Int(rank);
                }
            }
            WindowFunc::Lag | WindowFunc::Lead => {
                for (p, &i) in part.iter().enumerate() {
                    let offset = match arg(i, 1)? {
                        Value::Null if w.args.len() < 2 => 1,
                        Value::Int(k) => k,
                        Value::Null => {
                            out[i] = Value::Null;
                            continue;
                        }
                        other => {
                            return Err(SqlError::datatype_mismatch(format!(
                                "the offset of lag/lead must be an integer, not {other}"
                            )));
                        }
                    };
                    let at = if w.func == WindowFunc::Lag {
                        p as i64 - offset
                    } else {
                        p as i64 + offset
                    };
                    out[i] = if (0..n as i64).contains(&at) {
                        arg(part[at as usize], 0)?
                    } else {
                        arg(i, 2)?
                    };
                }
            }
            WindowFunc::FirstValue | WindowFunc::LastValue => {
                for (p, &i) in part.iter().enumerate() {
                    let (s, e) = frame(p);
                    out[i] = if s > e {
                        Value::Null
                    } else if w.func == WindowFunc::FirstValue {
                        arg(part[s], 0)?
                    } else {
                        arg(part[e], 0)?
                    };
                }
            }
            WindowFunc::NthValue => {
                for (p, &i) in part.iter().enumerate() {
                    let Some(nth) = positive(arg(i, 1)?, "nth_value")? else {
                        out[i] = Value::Null;
                        continue;
                    };
                    let (s, e) = frame(p);
                    out[i] = match s.checked_add(nth - 1) {
                        Some(at) if s <= e && at <= e => arg(part[at], 0)?,
                        _ => Value::Null,
                    };
                }
            }
            WindowFunc::Ntile => {
                // The bucket count is read at the partition's first row,
                // as PostgreSQL does.
                let Some(&first) = part.first() else {
                    continue;
                };
                let Some(buckets) = positive(arg(first, 0)?, "ntile")? else {
                    continue;
                };
                // n rows in k buckets: n / k each, the first n % k one
                // more.
                let (size, extra) = (n / buckets, n % buckets);
                for (p, &i) in part.iter().enumerate() {
                    let big = extra * (size + 1);
                    let bucket = if p < big {
                        p / (size + 1)
                    } else {
                        extra + (p - big) / size.max(1)
                    };
                    out[i] = Value::Int(bucket as i64 + 1);
                }
            }
            WindowFunc::PercentRank | WindowFunc::CumeDist => {
                for (p, &i) in part.iter().enumerate() {
                    out[i] = Value::Float(if w.func == WindowFunc::PercentRank {
                        if n > 1 {
                            peer_start[p] as f64 / (n - 1) as f64
                        } else {
                            0.0
                        }
                    } else {
                        (peer_end[p] + 1) as f64 / n as f64
                    });
                }
            }
            WindowFunc::Agg(_) => {
                let Some(agg) = &w.agg else {
                    return Err(SqlError::internal("a window aggregate without its call"));
                };
                let taken: Vec<Option<Taken>> = part
                    .iter()
                    .map(|&i| take(agg, &env(&rows[i])))
                    .collect::<Result<_>>()?;
                let running = w.frame.start == FrameBound::UnboundedPreceding
                    && agg.order.is_empty()
                    && !agg.distinct
                    && matches!(
                        agg.func,
                        AggFunc::Count | AggFunc::Sum | AggFunc::Avg | AggFunc::Min | AggFunc::Max
                    );
                // The frame only grows from row to row: the aggregate of
                // what it held (as one value, or a count and a sum), and
                // how far it reached.
                let mut state = Running::default();
                let mut upto = 0;
                for (p, &i) in part.iter().enumerate() {
                    let (s, e) = frame(p);
                    if s > e {
                        out[i] = aggregate(agg, Vec::new())?;
                        continue;
                    }
                    if running {
                        while upto <= e {
                            if let Some(t) = &taken[upto] {
                                state.add(agg.func, t)?;
                            }
                            upto += 1;
                        }
                        out[i] = state.value(agg.func)?;
                    } else {
                        let inside: Vec<Taken> = taken[s..=e].iter().flatten().cloned().collect();
                        out[i] = aggregate(agg, inside)?;
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The count argument of `ntile` or `nth_value`: `None` for NULL, 22014
/// or 22016 unless a positive integer.
fn positive(v: Value, function: &str) -> Result<Option<usize>> {
    match v {
        Value::Null => Ok(None),
        Value::Int(k) if k > 0 => Ok(Some(usize::try_from(k).unwrap_or(usize::MAX))),
        Value::Int(_) => {
            let message = format!("argument of {function} must be greater than zero");
            Err(if function == "ntile" {
                SqlError::invalid_argument_for_ntile(message)
            } else {
                SqlError::invalid_argument_for_nth_value(message)
            })
        }
        other => Err(SqlError::datatype_mismatch(format!(
            "the argument of {function} must be an integer, not {other}"
        ))),
    }
}

/// A running count, sum, minimum or maximum (an aggregate over a frame
/// that only grows), with the results `aggregate` gives.
#[derive(Default)]
struct Running {
    count: i64,
    sum: Option<Value>,
    best: Option<Value>,
}

impl Running {
    fn add(&mut self, func: AggFunc, t: &Taken) -> Result<()> {
        self.count += 1;
        match func {
            AggFunc::Sum | AggFunc::Avg => {
                if !matches!(
                    t.value,
                    Value::Int(_) | Value::Float(_) | Value::Numeric(_) | Value::Interval(_)
                ) {
                    // The error aggregate gives for it.
                    aggregate_of(func, &t.value)?;
                }
                self.sum = Some(match self.sum.take() {
                    None => t.value.clone(),
                    Some(s) => super::expr::arithmetic(s, BinOp::Plus, t.value.clone())?,
                });
            }
            AggFunc::Min | AggFunc::Max => {
                let better = match &self.best {
                    None => true,
                    Some(b) => {
                        let o = t.value.compare(b)?.unwrap_or(Ordering::Equal);
                        if func == AggFunc::Min {
                            o.is_lt()
                        } else {
                            o.is_gt()
                        }
                    }
                };
                if better {
                    self.best = Some(t.value.clone());
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn value(&self, func: AggFunc) -> Result<Value> {
        Ok(match func {
            AggFunc::Count => Value::Int(self.count),
            AggFunc::Sum => self.sum.clone().unwrap_or(Value::Null),
            AggFunc::Avg => match &self.sum {
                None => Value::Null,
                Some(s) => super::average(s.clone(), self.count)?,
            },
            _ => self.best.clone().unwrap_or(Value::Null),
        })
    }
}

/// `func` of the one value `v` (for its error on a value of a wrong type).
fn aggregate_of(func: AggFunc, v: &Value) -> Result<Value> {
    let call = crate::plan::AggCall {
        func,
        arg: None,
        delimiter: None,
        distinct: false,
        filter: None,
        order: Vec::new(),
    };
    aggregate(
        &call,
        vec![Taken {
            value: v.clone(),
            delimiter: Value::Null,
            keys: Vec::new(),
        }],
    )
}
