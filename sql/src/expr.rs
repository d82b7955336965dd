//! Expression evaluation with SQL semantics: NULL propagation and
//! three-valued logic, checked integer arithmetic (22003), division by zero
//! (22012), and a few aggregates and scalar functions.

use sqlparser::ast::{self, BinaryOperator as B, Expr, UnaryOperator as U};

use crate::catalog::TableDef;
use crate::error::{Result, SqlError};
use crate::exec::ident;
use crate::value::{DataType, Value};

/// What names in an expression refer to: one row of one table, or nothing.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    def: Option<&'a TableDef>,
    row: &'a [Value],
}

impl<'a> Scope<'a> {
    /// A row of `def`.
    pub fn row(def: &'a TableDef, row: &'a [Value]) -> Self {
        Scope {
            def: Some(def),
            row,
        }
    }

    /// No table (constants only).
    pub fn empty() -> Self {
        Scope {
            def: None,
            row: &[],
        }
    }

    fn column(&self, name: &str) -> Result<Value> {
        match self.def {
            Some(d) => Ok(self.row[d.column(name)?].clone()),
            None => Err(SqlError::undefined_column(format!(
                "column \"{name}\" does not exist"
            ))),
        }
    }
}

/// The value of an expression that names no column (VALUES, DEFAULT,
/// LIMIT).
pub fn constant(e: &Expr) -> Result<Value> {
    eval(e, &Scope::empty())
}

/// The output name of a select item without an alias.
pub fn column_name(e: &Expr) -> String {
    match e {
        Expr::Identifier(i) => ident(i),
        Expr::CompoundIdentifier(parts) => parts.last().map(ident).unwrap_or_default(),
        Expr::Function(f) => f.name.to_string().to_lowercase(),
        Expr::Nested(inner) => column_name(inner),
        _ => "?column?".to_string(),
    }
}

const AGGREGATES: &[&str] = &["count", "sum", "min", "max", "avg"];

fn function_name(f: &ast::Function) -> String {
    f.name.to_string().to_lowercase()
}

/// True when `e` contains an aggregate call.
pub fn has_aggregate(e: &Expr) -> bool {
    match e {
        Expr::Function(f) => AGGREGATES.contains(&function_name(f).as_str()),
        Expr::BinaryOp { left, right, .. } => has_aggregate(left) || has_aggregate(right),
        Expr::UnaryOp { expr, .. }
        | Expr::Nested(expr)
        | Expr::Cast { expr, .. }
        | Expr::IsNull(expr)
        | Expr::IsNotNull(expr) => has_aggregate(expr),
        _ => false,
    }
}

/// The arguments of a call: plain expressions, or `*` (`None`).
fn args(f: &ast::Function) -> Result<Option<Vec<&Expr>>> {
    match &f.args {
        ast::FunctionArguments::None => Ok(Some(Vec::new())),
        ast::FunctionArguments::List(list) => {
            if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
                return Err(SqlError::not_supported(format!("{f}")));
            }
            let mut out = Vec::new();
            for a in &list.args {
                match a {
                    ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => out.push(e),
                    ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard) => return Ok(None),
                    other => return Err(SqlError::not_supported(format!("argument {other}"))),
                }
            }
            Ok(Some(out))
        }
        ast::FunctionArguments::Subquery(_) => Err(SqlError::not_supported("subqueries")),
    }
}

/// Evaluates an expression of a SELECT with aggregates over all `rows`.
pub fn eval_aggregate(e: &Expr, rows: &[Scope]) -> Result<Value> {
    match e {
        Expr::Function(f) if AGGREGATES.contains(&function_name(f).as_str()) => {
            let name = function_name(f);
            let values: Vec<Value> = match args(f)? {
                None if name == "count" => return Ok(Value::Int(rows.len() as i64)),
                None => return Err(SqlError::syntax(format!("{name}(*)"))),
                Some(a) if a.len() == 1 => rows
                    .iter()
                    .map(|s| eval(a[0], s))
                    .collect::<Result<Vec<_>>>()?
                    .into_iter()
                    .filter(|v| *v != Value::Null)
                    .collect(),
                Some(_) => {
                    return Err(SqlError::undefined_function(format!(
                        "{name} takes one argument"
                    )));
                }
            };
            aggregate(&name, values)
        }
        Expr::BinaryOp { left, op, right } => binary(
            eval_aggregate(left, rows)?,
            op,
            eval_aggregate(right, rows)?,
        ),
        Expr::Nested(inner) => eval_aggregate(inner, rows),
        e if !has_aggregate(e) => match rows.first() {
            // A constant next to aggregates is fine; a bare column is not.
            _ if constant(e).is_ok() => constant(e),
            _ => Err(SqlError::grouping(format!(
                "{e} must appear in the GROUP BY clause or be used in an aggregate function"
            ))),
        },
        other => Err(SqlError::not_supported(format!("{other} over aggregates"))),
    }
}

fn aggregate(name: &str, values: Vec<Value>) -> Result<Value> {
    match name {
        "count" => Ok(Value::Int(values.len() as i64)),
        "min" | "max" => {
            let mut best: Option<Value> = None;
            for v in values {
                best = Some(match best {
                    None => v,
                    Some(b) => {
                        let o = v.compare(&b)?.unwrap_or(std::cmp::Ordering::Equal);
                        let better = if name == "min" { o.is_lt() } else { o.is_gt() };
                        if better { v } else { b }
                    }
                });
            }
            Ok(best.unwrap_or(Value::Null))
        }
        "sum" | "avg" => {
            if values.is_empty() {
                return Ok(Value::Null);
            }
            let n = values.len();
            let mut sum = Value::Int(0);
            for v in values {
                if !matches!(v, Value::Int(_) | Value::Float(_)) {
                    return Err(SqlError::undefined_function(format!(
                        "{name}({}) is not defined",
                        v.data_type().map_or("NULL".to_string(), |t| t.to_string())
                    )));
                }
                sum = binary(sum, &B::Plus, v)?;
            }
            if name == "sum" {
                return Ok(sum);
            }
            let total = match sum {
                Value::Int(i) => i as f64,
                Value::Float(x) => x,
                _ => 0.0,
            };
            Ok(Value::Float(total / n as f64))
        }
        _ => Err(SqlError::undefined_function(name.to_string())),
    }
}

/// Evaluates `e` against `scope`.
pub fn eval(e: &Expr, scope: &Scope) -> Result<Value> {
    match e {
        Expr::Identifier(i) => scope.column(&ident(i)),
        Expr::CompoundIdentifier(parts) => match parts.as_slice() {
            [t, c] => {
                let table = ident(t);
                match scope.def {
                    Some(d) if d.name == table => scope.column(&ident(c)),
                    _ => Err(SqlError::undefined_table(format!(
                        "missing FROM-clause entry for table \"{table}\""
                    ))),
                }
            }
            _ => Err(SqlError::not_supported(format!("name {e}"))),
        },
        Expr::Value(v) => literal(&v.value),
        Expr::Nested(inner) => eval(inner, scope),
        Expr::UnaryOp { op, expr } => {
            let v = eval(expr, scope)?;
            match (op, v) {
                (_, Value::Null) => Ok(Value::Null),
                (U::Not, v) => Ok(Value::Bool(!v.truth()?.unwrap_or(false))),
                (U::Minus, Value::Int(i)) => i
                    .checked_neg()
                    .map(Value::Int)
                    .ok_or_else(|| SqlError::numeric_out_of_range("integer out of range")),
                (U::Minus, Value::Float(x)) => Ok(Value::Float(-x)),
                (U::Plus, v @ (Value::Int(_) | Value::Float(_))) => Ok(v),
                (op, v) => Err(SqlError::undefined_function(format!(
                    "operator does not exist: {op} {v}"
                ))),
            }
        }
        Expr::BinaryOp { left, op, right } => {
            let l = eval(left, scope)?;
            // AND/OR: three-valued logic, evaluated on both sides.
            let r = eval(right, scope)?;
            binary(l, op, r)
        }
        Expr::IsNull(inner) => Ok(Value::Bool(eval(inner, scope)? == Value::Null)),
        Expr::IsNotNull(inner) => Ok(Value::Bool(eval(inner, scope)? != Value::Null)),
        Expr::Cast {
            expr, data_type, ..
        } => eval(expr, scope)?.cast_to(DataType::from_sql(data_type)?),
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let v = eval(expr, scope)?;
            let mut saw_null = v == Value::Null;
            let mut found = false;
            for item in list {
                match v.compare(&eval(item, scope)?)? {
                    Some(std::cmp::Ordering::Equal) => found = true,
                    None => saw_null = true,
                    Some(_) => {}
                }
            }
            Ok(match (found, saw_null) {
                (true, _) => Value::Bool(!negated),
                (false, true) => Value::Null,
                (false, false) => Value::Bool(*negated),
            })
        }
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let v = eval(expr, scope)?;
            let ge = binary(v.clone(), &B::GtEq, eval(low, scope)?)?;
            let le = binary(v, &B::LtEq, eval(high, scope)?)?;
            let both = binary(ge, &B::And, le)?;
            Ok(match (both, negated) {
                (Value::Bool(b), true) => Value::Bool(!b),
                (v, _) => v,
            })
        }
        Expr::Function(f) => function(f, scope),
        other => Err(SqlError::not_supported(format!("expression {other}"))),
    }
}

fn literal(v: &ast::Value) -> Result<Value> {
    Ok(match v {
        ast::Value::Null => Value::Null,
        ast::Value::Boolean(b) => Value::Bool(*b),
        ast::Value::Number(n, _) => match n.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(n.parse::<f64>().map_err(|_| {
                SqlError::numeric_out_of_range(format!("number {n} is out of range"))
            })?),
        },
        ast::Value::SingleQuotedString(s) | ast::Value::EscapedStringLiteral(s) => {
            Value::Text(s.clone())
        }
        other => return Err(SqlError::not_supported(format!("literal {other}"))),
    })
}

fn function(f: &ast::Function, scope: &Scope) -> Result<Value> {
    let name = function_name(f);
    if AGGREGATES.contains(&name.as_str()) {
        return Err(SqlError::grouping(format!(
            "aggregate {name} is not allowed here"
        )));
    }
    let Some(args) = args(f)? else {
        return Err(SqlError::syntax(format!("{name}(*)")));
    };
    let values = args
        .iter()
        .map(|a| eval(a, scope))
        .collect::<Result<Vec<_>>>()?;
    match (name.as_str(), values.as_slice()) {
        ("coalesce", vs) => Ok(vs
            .iter()
            .find(|v| **v != Value::Null)
            .cloned()
            .unwrap_or(Value::Null)),
        (_, [Value::Null]) => Ok(Value::Null),
        ("lower", [Value::Text(s)]) => Ok(Value::Text(s.to_lowercase())),
        ("upper", [Value::Text(s)]) => Ok(Value::Text(s.to_uppercase())),
        ("length", [Value::Text(s)]) => Ok(Value::Int(s.chars().count() as i64)),
        ("abs", [Value::Int(i)]) => i
            .checked_abs()
            .map(Value::Int)
            .ok_or_else(|| SqlError::numeric_out_of_range("integer out of range")),
        ("abs", [Value::Float(x)]) => Ok(Value::Float(x.abs())),
        _ => Err(SqlError::undefined_function(format!(
            "function {name}({}) does not exist",
            values
                .iter()
                .map(|v| v
                    .data_type()
                    .map_or("unknown".to_string(), |t| t.to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// `l op r` with SQL semantics.
fn binary(l: Value, op: &B, r: Value) -> Result<Value> {
    use std::cmp::Ordering as O;
    let cmp = |want: &dyn Fn(O) -> bool| -> Result<Value> {
        Ok(match l.compare(&r)? {
            None => Value::Null,
            Some(o) => Value::Bool(want(o)),
        })
    };
    match op {
        B::And => Ok(match (l.truth()?, r.truth()?) {
            (Some(false), _) | (_, Some(false)) => Value::Bool(false),
            (Some(true), Some(true)) => Value::Bool(true),
            _ => Value::Null,
        }),
        B::Or => Ok(match (l.truth()?, r.truth()?) {
            (Some(true), _) | (_, Some(true)) => Value::Bool(true),
            (Some(false), Some(false)) => Value::Bool(false),
            _ => Value::Null,
        }),
        B::Eq => cmp(&|o| o == O::Equal),
        B::NotEq => cmp(&|o| o != O::Equal),
        B::Lt => cmp(&|o| o == O::Less),
        B::LtEq => cmp(&|o| o != O::Greater),
        B::Gt => cmp(&|o| o == O::Greater),
        B::GtEq => cmp(&|o| o != O::Less),
        B::StringConcat => Ok(match (l, r) {
            (Value::Null, _) | (_, Value::Null) => Value::Null,
            (a, b) => Value::Text(format!("{a}{b}")),
        }),
        B::Plus | B::Minus | B::Multiply | B::Divide | B::Modulo => arithmetic(l, op, r),
        other => Err(SqlError::not_supported(format!("operator {other}"))),
    }
}

fn arithmetic(l: Value, op: &B, r: Value) -> Result<Value> {
    let overflow = || SqlError::numeric_out_of_range("integer out of range");
    Ok(match (l, r) {
        (Value::Null, _) | (_, Value::Null) => Value::Null,
        (Value::Int(a), Value::Int(b)) => Value::Int(match op {
            B::Plus => a.checked_add(b).ok_or_else(overflow)?,
            B::Minus => a.checked_sub(b).ok_or_else(overflow)?,
            B::Multiply => a.checked_mul(b).ok_or_else(overflow)?,
            B::Divide | B::Modulo if b == 0 => {
                return Err(SqlError::division_by_zero("division by zero"));
            }
            B::Divide => a.checked_div(b).ok_or_else(overflow)?,
            _ => a.checked_rem(b).ok_or_else(overflow)?,
        }),
        (a @ (Value::Int(_) | Value::Float(_)), b @ (Value::Int(_) | Value::Float(_))) => {
            let (Value::Float(x), Value::Float(y)) =
                (a.cast_to(DataType::Float)?, b.cast_to(DataType::Float)?)
            else {
                return Err(SqlError::internal("numeric cast"));
            };
            if matches!(op, B::Divide | B::Modulo) && y == 0.0 {
                return Err(SqlError::division_by_zero("division by zero"));
            }
            Value::Float(match op {
                B::Plus => x + y,
                B::Minus => x - y,
                B::Multiply => x * y,
                B::Divide => x / y,
                _ => x % y,
            })
        }
        (a, b) => {
            return Err(SqlError::undefined_function(format!(
                "operator does not exist: {a} {op} {b}"
            )));
        }
    })
}
