//! Arrays' functions and operators: `ARRAY[…]`, subscripts and slices,
//! `||`, `@>`, `<@`, `&&`, `x op ANY/ALL (array)`, `array_append` and its
//! kin, `cardinality`, `array_length`. Values of array types are
//! [`Value::Array`]; the system catalogs' arrays are still text in an
//! array's form (`{1,2}`), which these read too where they did before.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::expr::{binary, type_name};
use crate::error::{Result, SqlError};
use crate::plan::{BinOp, Func};
use crate::value::Value;

/// An array's elements: a [`Value::Array`]'s, or those of text in an
/// array's form (as text; a catalog's arrays), `None` for anything else.
fn items(v: &Value) -> Option<Cow<'_, [Value]>> {
    match v {
        Value::Array(items) => Some(Cow::Borrowed(items)),
        Value::Text(t) => Some(Cow::Owned(
            crate::compat::array_items(t)
                .into_iter()
                .map(|i| i.map_or(Value::Null, Value::Text))
                .collect(),
        )),
        _ => None,
    }
}

/// The 0-based position of 1-based subscript `i`, if it can be one.
fn index(i: i64) -> Option<usize> {
    i.checked_sub(1).and_then(|k| usize::try_from(k).ok())
}

/// Equal, or both NULL (`IS NOT DISTINCT FROM`).
fn same(a: &Value, b: &Value) -> Result<bool> {
    Ok(match (a.is_null(), b.is_null()) {
        (true, true) => true,
        (false, false) => a.compare(b)? == Some(Ordering::Equal),
        _ => false,
    })
}

/// `x` as an element of `array` (text written beside an array of numbers
/// is a number); an array is none (42883: arrays have one dimension here,
/// and PostgreSQL has no `array_append(int[], int[])`).
fn element_for(array: &[Value], x: Value) -> Result<Value> {
    if let Value::Array(_) = x {
        return Err(SqlError::undefined_function(
            "an array is not an element of an array: use array_cat or ||",
        ));
    }
    match (array.iter().find_map(Value::data_type), x) {
        (Some(t), x @ Value::Text(_)) => x.cast_to(t),
        (_, x) => Ok(x),
    }
}

fn not_an_array(f: &str, v: &Value) -> SqlError {
    SqlError::undefined_function(format!(
        "function {f}({}) does not exist: not an array",
        type_name(v)
    ))
}

/// The array functions, NULL arguments included (`None` for other
/// functions).
pub(super) fn function(f: Func, values: &[Value]) -> Result<Option<Value>> {
    let array = |v: &Value, name: &str| -> Result<Option<Vec<Value>>> {
        match v {
            Value::Null => Ok(None),
            Value::Array(items) => Ok(Some(items.clone())),
            other => Err(not_an_array(name, other)),
        }
    };
    let int = |v: Option<&Value>| match v {
        Some(Value::Int(i)) => Some(*i),
        _ => None,
    };
    Ok(Some(match (f, values) {
        (Func::ArrayCtor, items) => Value::Array(items.to_vec()),
        (Func::AnyOf(op), [x, a]) => any_all(x, op, a, false)?,
        (Func::AllOf(op), [x, a]) => any_all(x, op, a, true)?,
        (Func::ArraySlice, [a, lo, hi]) => match a {
            Value::Null => Value::Null,
            a => {
                let items = items(a).ok_or_else(|| not_an_array("slice", a))?;
                let n = items.len() as i64;
                // A bound left out is the array's own (the binder's 1 and
                // i64::MAX); one given as NULL makes the slice NULL.
                let (Some(lo), Some(hi)) = (int(Some(lo)), int(Some(hi))) else {
                    return Ok(Some(Value::Null));
                };
                let (lo, hi) = (lo.max(1), hi.min(n));
                Value::Array(if lo > hi {
                    Vec::new()
                } else {
                    items[(lo - 1) as usize..hi as usize].to_vec()
                })
            }
        },
        (Func::ArrayAppend, [a, x]) => {
            let mut items = array(a, "array_append")?.unwrap_or_default();
            let x = element_for(&items, x.clone())?;
            items.push(x);
            Value::Array(items)
        }
        (Func::ArrayPrepend, [x, a]) => {
            let items = array(a, "array_prepend")?.unwrap_or_default();
            let x = element_for(&items, x.clone())?;
            Value::Array(std::iter::once(x).chain(items).collect())
        }
        (Func::ArrayCat, [a, b]) => match (array(a, "array_cat")?, array(b, "array_cat")?) {
            (None, None) => Value::Null,
            (Some(a), None) => Value::Array(a),
            (None, Some(b)) => Value::Array(b),
            (Some(a), Some(b)) => Value::Array(a.into_iter().chain(b).collect()),
        },
        (Func::ArrayRemove, [a, x]) => match array(a, "array_remove")? {
            None => Value::Null,
            Some(items) => {
                let x = element_for(&items, x.clone())?;
                let mut kept = Vec::with_capacity(items.len());
                for v in items {
                    if !same(&v, &x)? {
                        kept.push(v);
                    }
                }
                Value::Array(kept)
            }
        },
        (Func::ArrayReplace, [a, x, y]) => match array(a, "array_replace")? {
            None => Value::Null,
            Some(items) => {
                let x = element_for(&items, x.clone())?;
                let y = element_for(&items, y.clone())?;
                let mut out = Vec::with_capacity(items.len());
                for v in items {
                    out.push(if same(&v, &x)? { y.clone() } else { v });
                }
                Value::Array(out)
            }
        },
        (Func::ArrayPosition | Func::ArrayPositions, [a, x, rest @ ..]) if rest.len() <= 1 => {
            let items = match a {
                Value::Null => return Ok(Some(Value::Null)),
                // A catalog's array: the element's text.
                Value::Text(t) if f == Func::ArrayPosition && rest.is_empty() => {
                    let want = x.to_string();
                    return Ok(Some(
                        match crate::compat::array_elements(t)
                            .iter()
                            .position(|e| *e == want)
                        {
                            Some(p) => Value::Int(p as i64 + 1),
                            None => Value::Null,
                        },
                    ));
                }
                a => array(a, "array_position")?.unwrap_or_default(),
            };
            let x = element_for(&items, x.clone())?;
            let start = match rest.first() {
                None => 1,
                Some(Value::Int(s)) => *s,
                Some(Value::Null) => {
                    return Err(SqlError::null_value_not_allowed(
                        "initial position must not be null",
                    ));
                }
                Some(other) => return Err(not_an_array("array_position", other)),
            };
            let mut found = Vec::new();
            for (i, v) in items.iter().enumerate() {
                if (i as i64) + 1 >= start && same(v, &x)? {
                    found.push(Value::Int(i as i64 + 1));
                    if f == Func::ArrayPosition {
                        break;
                    }
                }
            }
            match f {
                Func::ArrayPositions => Value::Array(found),
                _ => found.into_iter().next().unwrap_or(Value::Null),
            }
        }
        (Func::Subscript, [a, i]) => match (a, i) {
            (Value::Null, _) | (_, Value::Null) => Value::Null,
            // Subscripts are int4 in PostgreSQL.
            (_, Value::Int(i)) if i32::try_from(*i).is_err() => {
                return Err(SqlError::numeric_out_of_range("integer out of range"));
            }
            (Value::Array(items), Value::Int(i)) => index(*i)
                .and_then(|k| items.get(k))
                .cloned()
                .unwrap_or(Value::Null),
            // A catalog's array: an element that reads as an integer is one.
            (a, Value::Int(i)) => {
                let items = crate::compat::array_items(&a.to_string());
                match index(*i).and_then(|k| items.get(k)) {
                    Some(Some(t)) => t
                        .parse::<i64>()
                        .map_or_else(|_| Value::Text(t.clone()), Value::Int),
                    _ => Value::Null,
                }
            }
            (_, i) => {
                return Err(SqlError::datatype_mismatch(format!(
                    "array subscript must have type integer, not {}",
                    type_name(i)
                )));
            }
        },
        (
            Func::ArrayLength | Func::ArrayLower | Func::ArrayNdims | Func::ArrayDims,
            [a, rest @ ..],
        ) if rest.len() <= 1 => {
            let n = match a {
                Value::Null => return Ok(Some(Value::Null)),
                a => items(a)
                    .ok_or_else(|| not_an_array("array_length", a))?
                    .len(),
            };
            // One dimension: the first; an empty array has none.
            let dim = rest.first();
            if n == 0 || dim.is_some_and(|d| *d != Value::Int(1)) {
                return Ok(Some(Value::Null));
            }
            match f {
                Func::ArrayLength => Value::Int(n as i64),
                Func::ArrayLower | Func::ArrayNdims => Value::Int(1),
                _ => Value::Text(format!("[1:{n}]")),
            }
        }
        (Func::Cardinality, [a]) => match a {
            Value::Null => Value::Null,
            a => Value::Int(
                items(a)
                    .ok_or_else(|| not_an_array("cardinality", a))?
                    .len() as i64,
            ),
        },
        (Func::ArrayToString, [a, sep, rest @ ..]) if rest.len() <= 1 => {
            let (Some(items), Value::Text(sep)) = (items(a), sep) else {
                return Ok(Some(Value::Null));
            };
            let null = rest.first().filter(|v| !v.is_null()).map(Value::to_string);
            let parts: Vec<String> = items
                .iter()
                .filter_map(|v| match v {
                    Value::Null => null.clone(),
                    v => Some(v.to_string()),
                })
                .collect();
            Value::Text(parts.join(sep))
        }
        _ => return Ok(None),
    }))
}

/// `l op r` when `op` is an array operator and a side is an array
/// (`None` otherwise): `||`, `@>` (and `<@`, bound reversed), `&&`.
pub(super) fn operator(l: &Value, op: BinOp, r: &Value) -> Result<Option<Value>> {
    if !matches!(l, Value::Array(_)) && !matches!(r, Value::Array(_)) {
        return Ok(None);
    }
    // Text beside an array is one of its type (`tags @> '{a}'`).
    let as_array = |v: &Value, like: &Value| -> Result<Value> {
        match v {
            Value::Text(_) => v
                .clone()
                .cast_to(like.data_type().unwrap_or(crate::value::DataType::Text)),
            v => Ok(v.clone()),
        }
    };
    Ok(Some(match op {
        BinOp::Concat => match (l, r) {
            (Value::Array(a), Value::Array(b)) => {
                Value::Array(a.iter().chain(b).cloned().collect())
            }
            (Value::Array(a), Value::Null) => Value::Array(a.clone()),
            (Value::Null, Value::Array(b)) => Value::Array(b.clone()),
            (Value::Array(a), x) => {
                let x = element_for(a, x.clone())?;
                Value::Array(a.iter().cloned().chain(std::iter::once(x)).collect())
            }
            (x, Value::Array(b)) => {
                let x = element_for(b, x.clone())?;
                Value::Array(std::iter::once(x).chain(b.iter().cloned()).collect())
            }
            _ => return Ok(None),
        },
        BinOp::JsonContains | BinOp::Overlap => {
            let (a, b) = (as_array(l, r)?, as_array(r, l)?);
            let (Value::Array(a), Value::Array(b)) = (&a, &b) else {
                return Ok(Some(Value::Null));
            };
            let mut found = 0;
            for x in b.iter().filter(|x| !x.is_null()) {
                let mut hit = false;
                for y in a {
                    if !y.is_null() && x.compare(y)? == Some(Ordering::Equal) {
                        hit = true;
                        break;
                    }
                }
                if hit && op == BinOp::Overlap {
                    return Ok(Some(Value::Bool(true)));
                }
                found += usize::from(hit);
            }
            Value::Bool(op == BinOp::JsonContains && found == b.len())
        }
        _ => return Ok(None),
    }))
}

/// `x op ANY (array)` (`all`: `op ALL`): true if the comparison is true
/// for some (every) element, false if for none (not every), NULL when
/// that depends on NULLs. A catalog's array in text form compares its
/// elements' text with `=` and `<>`.
pub(super) fn any_all(x: &Value, op: BinOp, array: &Value, all: bool) -> Result<Value> {
    let items = match array {
        Value::Null => return Ok(Value::Null),
        Value::Text(t) => crate::compat::array_items(t)
            .into_iter()
            .map(|i| match (i, op, x) {
                (None, ..) => Ok(Value::Null),
                (Some(t), BinOp::Eq | BinOp::NotEq, _) | (Some(t), _, Value::Text(_)) => {
                    Ok(Value::Text(t))
                }
                (Some(t), ..) => {
                    Value::Text(t).cast_to(x.data_type().unwrap_or(crate::value::DataType::Text))
                }
            })
            .collect::<Result<Vec<_>>>()?,
        Value::Array(items) => items.clone(),
        other => return Err(not_an_array("ANY/ALL", other)),
    };
    let x_text = matches!(array, Value::Text(_)) && matches!(op, BinOp::Eq | BinOp::NotEq);
    let mut unknown = false;
    for item in items {
        let truth = if x_text && !x.is_null() && !item.is_null() {
            let eq = x.to_string() == item.to_string();
            Some(eq == (op == BinOp::Eq))
        } else {
            binary(x.clone(), op, item)?.truth()?
        };
        match truth {
            Some(t) if t != all => return Ok(Value::Bool(!all)),
            None => unknown = true,
            Some(_) => {}
        }
    }
    Ok(if unknown {
        Value::Null
    } else {
        Value::Bool(all)
    })
}
