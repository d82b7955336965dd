//! Binding expressions: names, literals and parameters, operators,
//! CASE/LIKE/CAST, scalar functions, aggregates of grouped blocks,
//! subqueries; parameter type hints; static types.

use sqlparser::ast::{
    self, BinaryOperator as B, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    UnaryOperator as U,
};

use super::Binder;
use super::operators::{binop, refused_in_expression, regex_operator};
use super::walk::{function_name, references_outer};
use crate::error::{Result, SqlError};
use crate::plan::{AggFunc, BExpr, BinOp, Cache, Func, SortKey, Subquery};
use crate::syntax::ident;
use crate::value::{DataType, Value};

/// The parameter number of `$n` (0-based), if `e` is one.
pub(crate) fn placeholder(e: &Expr) -> Option<usize> {
    match e {
        Expr::Value(v) => match &v.value {
            ast::Value::Placeholder(p) => p
                .strip_prefix('$')
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| n.checked_sub(1)),
            _ => None,
        },
        Expr::Nested(inner) => placeholder(inner),
        _ => None,
    }
}

/// The deepest expression the binder takes: binding and evaluation recurse
/// on the expression tree, and a session's stack is not unlimited.
pub(super) const MAX_DEPTH: usize = 128;

/// The literal value of `v`.
pub(crate) fn literal(v: &ast::Value, params: &[Value]) -> Result<Value> {
    Ok(match v {
        ast::Value::Null => Value::Null,
        ast::Value::Boolean(b) => Value::Bool(*b),
        // As PostgreSQL types them: an integer when it fits, else a
        // numeric (`0.1 + 0.2` is exactly 0.3), a float only beyond
        // numeric's range.
        ast::Value::Number(n, _) => match n.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => match crate::numeric::Numeric::parse(n) {
                Ok(d) => Value::Numeric(d),
                Err(_) => {
                    Value::Float(n.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(
                        || SqlError::numeric_out_of_range(format!("number {n} is out of range")),
                    )?)
                }
            },
        },
        ast::Value::SingleQuotedString(s)
        | ast::Value::EscapedStringLiteral(s)
        | ast::Value::NationalStringLiteral(s) => Value::Text(s.clone()),
        ast::Value::DollarQuotedString(s) => Value::Text(s.value.clone()),
        ast::Value::HexStringLiteral(h) => Value::Bytes(decode_hex(h)?),
        ast::Value::Placeholder(p) => {
            let n = p
                .strip_prefix('$')
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|&n| n >= 1)
                .ok_or_else(|| {
                    SqlError::syntax(format!("parameter {p}: use $1, $2, … for parameters"))
                })?;
            params.get(n - 1).cloned().ok_or_else(|| {
                SqlError::undefined_parameter(format!(
                    "there is no parameter ${n} ({} given)",
                    params.len()
                ))
            })?
        }
        other => return Err(SqlError::not_supported(format!("literal {other}"))),
    })
}

pub(crate) fn decode_hex(h: &str) -> Result<Vec<u8>> {
    if !h.len().is_multiple_of(2) {
        return Err(SqlError::invalid_text(format!(
            "odd number of hex digits: {h}"
        )));
    }
    (0..h.len())
        .step_by(2)
        .map(|i| {
            h.get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| SqlError::invalid_text(format!("invalid hex digits: {h}")))
        })
        .collect()
}

/// True when `e` is a quoted string literal (of no type yet).
pub(super) fn string_literal(e: &Expr) -> bool {
    matches!(e, Expr::Value(v) if matches!(v.value, ast::Value::SingleQuotedString(_)))
}

pub(crate) fn numeric(t: Option<DataType>) -> bool {
    matches!(t, Some(DataType::Int | DataType::Float))
}

/// The output name of a select item without an alias.
pub(crate) fn column_name(e: &Expr) -> String {
    match e {
        Expr::Identifier(i) => ident(i),
        Expr::CompoundIdentifier(parts) => parts.last().map(ident).unwrap_or_default(),
        Expr::Function(f) => function_name(f),
        Expr::Nested(inner) => column_name(inner),
        Expr::CompoundFieldAccess { root, .. } => column_name(root),
        Expr::Cast { expr, .. } => column_name(expr),
        Expr::Case { .. } => "case".to_string(),
        Expr::Exists { .. } => "exists".to_string(),
        Expr::Substring { .. } => "substring".to_string(),
        Expr::Overlay { .. } => "overlay".to_string(),
        Expr::Trim { .. } => "btrim".to_string(),
        Expr::Ceil { .. } => "ceil".to_string(),
        Expr::Floor { .. } => "floor".to_string(),
        Expr::Extract { .. } => "extract".to_string(),
        Expr::AtTimeZone { .. } => "timezone".to_string(),
        Expr::Interval(_) => "interval".to_string(),
        Expr::TypedString(t) => match DataType::from_sql(&t.data_type) {
            Ok(DataType::TimestampTz) => "timestamptz".to_string(),
            Ok(ty) => ty.to_string().to_lowercase(),
            Err(_) => "?column?".to_string(),
        },
        _ => "?column?".to_string(),
    }
}

impl Binder<'_> {
    pub(super) fn subquery(&mut self, q: &ast::Query) -> Result<Subquery> {
        let query = self.query(q)?;
        // Correlated: it names a column of this block or one further out.
        let correlated = references_outer(&query, 1);
        Ok(Subquery {
            query,
            correlated,
            cache: Cache::default(),
        })
    }

    /// Binds an expression in the current block.
    pub fn expr(&mut self, e: &Expr) -> Result<BExpr> {
        if self.depth >= MAX_DEPTH {
            return Err(SqlError::too_complex(format!(
                "expressions nest deeper than {MAX_DEPTH} levels"
            )));
        }
        self.depth += 1;
        let r = self.expr_inner(e);
        self.depth -= 1;
        r
    }

    pub(super) fn expr_inner(&mut self, e: &Expr) -> Result<BExpr> {
        if let Expr::Function(f) = e
            && f.over.is_some()
        {
            return self.window(f);
        }
        // In a grouped block, aggregates and GROUP BY expressions become
        // positions of the grouped row.
        if self.scopes.last().is_some_and(|s| s.grouped) {
            if let Expr::Function(f) = e
                && let Some(func) = AggFunc::named(&function_name(f))
            {
                return self.aggregate(func, f);
            }
            if !matches!(
                e,
                Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Value(_)
            ) {
                let scope = self.scope();
                scope.grouped = false;
                let plain = self.expr(e);
                let scope = self.scope();
                scope.grouped = true;
                if let Ok(b) = plain
                    && let Some(k) = scope
                        .group
                        .as_ref()
                        .and_then(|g| g.keys.iter().position(|k| *k == b))
                {
                    return Ok(BExpr::Column(k));
                }
            }
        }
        if let Some(b) = self.array_expr(e)? {
            return Ok(b);
        }
        Ok(match e {
            Expr::Identifier(i) => self.resolve(None, &ident(i))?,
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [t, c] => self.resolve(Some(&ident(t)), &ident(c))?,
                _ => {
                    return Err(SqlError::not_supported(format!(
                        "name {e} (there are no schemas)"
                    )));
                }
            },
            Expr::Value(v) => match &v.value {
                // Kept as a parameter (its value checked now), so the plan
                // can run again with other values of the same types.
                ast::Value::Placeholder(_) => {
                    literal(&v.value, self.params)?;
                    BExpr::Param(placeholder(e).ok_or_else(|| {
                        SqlError::syntax(format!("parameter {e}: use $1, $2, … for parameters"))
                    })?)
                }
                other => BExpr::Const(literal(other, self.params)?),
            },
            Expr::TypedString(t) => self.cast(
                BExpr::Const(literal(&t.value.value, self.params)?),
                self.data_type(&t.data_type)?,
            ),
            Expr::Nested(inner) => self.expr(inner)?,
            // -9223372036854775808 is an INT, though its digits alone are not.
            Expr::UnaryOp { op: U::Minus, expr }
                if matches!(&**expr, Expr::Value(v) if matches!(&v.value, ast::Value::Number(n, _)
                    if format!("-{n}").parse::<i64>().is_ok() && n.parse::<i64>().is_err())) =>
            {
                BExpr::Const(Value::Int(i64::MIN))
            }
            Expr::UnaryOp { op, expr } => {
                let b = self.expr(expr)?;
                match op {
                    U::Not => BExpr::Not(Box::new(b)),
                    U::Minus => match b {
                        BExpr::Const(Value::Int(i)) => {
                            BExpr::Const(Value::Int(i.checked_neg().ok_or_else(|| {
                                SqlError::numeric_out_of_range("integer out of range")
                            })?))
                        }
                        BExpr::Const(Value::Float(x)) => BExpr::Const(Value::Float(-x)),
                        b => BExpr::Neg(Box::new(b)),
                    },
                    U::Plus => b,
                    // |/ x, ||/ x (of double precision), @ x, ~ x.
                    U::PGSquareRoot => {
                        BExpr::Func(Func::Sqrt, vec![BExpr::Cast(Box::new(b), DataType::Float)])
                    }
                    U::PGCubeRoot => {
                        BExpr::Func(Func::Cbrt, vec![BExpr::Cast(Box::new(b), DataType::Float)])
                    }
                    U::PGAbs => BExpr::Func(Func::Abs, vec![b]),
                    U::PGBitwiseNot => BExpr::Func(Func::BitNot, vec![b]),
                    other => return Err(SqlError::not_supported(format!("operator {other}"))),
                }
            }
            Expr::BinaryOp { left, op, right } if regex_operator(op).is_some() => {
                let (negated, insensitive) = regex_operator(op).unwrap_or_default();
                let call = BExpr::Func(
                    Func::RegexMatch,
                    vec![
                        self.expr(left)?,
                        self.expr(right)?,
                        BExpr::Const(Value::Text(if insensitive { "i" } else { "" }.into())),
                    ],
                );
                if negated {
                    BExpr::Not(Box::new(call))
                } else {
                    call
                }
            }
            // `x ^ y`: power(x, y); `doc #> path`, `doc #>> path`.
            Expr::BinaryOp {
                left,
                op: op @ (B::PGExp | B::HashArrow | B::HashLongArrow),
                right,
            } => BExpr::Func(
                match op {
                    B::PGExp => Func::Power,
                    B::HashArrow => Func::JsonPath,
                    _ => Func::JsonPathText,
                },
                vec![self.expr(left)?, self.expr(right)?],
            ),
            // `a <@ b`: `b @> a`.
            Expr::BinaryOp {
                left,
                op: B::ArrowAt,
                right,
            } => BExpr::Binary(
                Box::new(self.expr(right)?),
                BinOp::JsonContains,
                Box::new(self.expr(left)?),
            ),
            Expr::BinaryOp {
                left,
                op: op @ (B::PGLikeMatch | B::PGNotLikeMatch),
                right,
            } => BExpr::Like {
                expr: Box::new(self.expr(left)?),
                pattern: Box::new(self.expr(right)?),
                negated: *op == B::PGNotLikeMatch,
                case_insensitive: false,
            },
            Expr::BinaryOp { left, op, right } => {
                let op = binop(op)?;
                let (mut l, mut r) = (self.expr(left)?, self.expr(right)?);
                self.hint(left, &r);
                self.hint(right, &l);
                // A quoted literal compared with a value of another type
                // is of that type (PostgreSQL's untyped literal):
                // `oid = '16384'`, `d = '2024-01-02'`.
                if matches!(
                    op,
                    BinOp::Eq | BinOp::NotEq | BinOp::Lt | BinOp::LtEq | BinOp::Gt | BinOp::GtEq
                ) {
                    if string_literal(right)
                        && let Some(t) = self.type_of(&l).filter(|t| *t != DataType::Text)
                    {
                        r = self.cast(r, t);
                    } else if string_literal(left)
                        && let Some(t) = self.type_of(&r).filter(|t| *t != DataType::Text)
                    {
                        l = self.cast(l, t);
                    } else {
                        r = self.as_label(&l, right, r);
                        l = self.as_label(&r, left, l);
                    }
                }
                BExpr::Binary(Box::new(l), op, Box::new(r))
            }
            Expr::IsNull(a) => BExpr::IsNull(Box::new(self.expr(a)?), false),
            Expr::IsNotNull(a) => BExpr::IsNull(Box::new(self.expr(a)?), true),
            Expr::IsTrue(a) => BExpr::IsBool(Box::new(self.expr(a)?), true, false),
            Expr::IsNotTrue(a) => BExpr::IsBool(Box::new(self.expr(a)?), true, true),
            Expr::IsFalse(a) => BExpr::IsBool(Box::new(self.expr(a)?), false, false),
            Expr::IsNotFalse(a) => BExpr::IsBool(Box::new(self.expr(a)?), false, true),
            Expr::IsDistinctFrom(a, b) => {
                BExpr::IsDistinct(Box::new(self.expr(a)?), Box::new(self.expr(b)?), false)
            }
            Expr::IsNotDistinctFrom(a, b) => {
                BExpr::IsDistinct(Box::new(self.expr(a)?), Box::new(self.expr(b)?), true)
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let v = self.expr(expr)?;
                let items = list
                    .iter()
                    .map(|x| {
                        let bound = self.expr(x)?;
                        Ok(self.as_label(&v, x, bound))
                    })
                    .collect::<Result<Vec<_>>>()?;
                for x in list {
                    self.hint(x, &v);
                }
                BExpr::InList(Box::new(v), items, *negated)
            }
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let v = self.expr(expr)?;
                let (lo, hi) = (self.expr(low)?, self.expr(high)?);
                let (lo, hi) = (self.as_label(&v, low, lo), self.as_label(&v, high, hi));
                let both = BExpr::Binary(
                    Box::new(BExpr::Binary(
                        Box::new(v.clone()),
                        BinOp::GtEq,
                        Box::new(lo),
                    )),
                    BinOp::And,
                    Box::new(BExpr::Binary(Box::new(v), BinOp::LtEq, Box::new(hi))),
                );
                if *negated {
                    BExpr::Not(Box::new(both))
                } else {
                    both
                }
            }
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => BExpr::Case {
                operand: operand
                    .as_ref()
                    .map(|o| self.expr(o).map(Box::new))
                    .transpose()?,
                whens: conditions
                    .iter()
                    .map(|c| Ok((self.expr(&c.condition)?, self.expr(&c.result)?)))
                    .collect::<Result<_>>()?,
                otherwise: else_result
                    .as_ref()
                    .map(|o| self.expr(o).map(Box::new))
                    .transpose()?,
            },
            Expr::Cast {
                expr, data_type, ..
            } => {
                let e = self.expr(expr)?;
                self.cast(e, self.data_type(data_type)?)
            }
            Expr::Like {
                negated,
                any: false,
                expr,
                pattern,
                escape_char: None,
            }
            | Expr::ILike {
                negated,
                any: false,
                expr,
                pattern,
                escape_char: None,
            } => BExpr::Like {
                expr: Box::new(self.expr(expr)?),
                pattern: Box::new(self.expr(pattern)?),
                negated: *negated,
                case_insensitive: matches!(e, Expr::ILike { .. }),
            },
            Expr::SimilarTo {
                negated,
                expr,
                pattern,
                escape_char,
            } => self.similar_to(*negated, expr, pattern, escape_char.as_ref())?,
            Expr::Subquery(q) => {
                let sub = self.subquery(q)?;
                if sub.query.columns.len() != 1 {
                    return Err(SqlError::syntax("subquery must return only one column"));
                }
                BExpr::Subquery(Box::new(sub))
            }
            Expr::Exists { subquery, negated } => {
                BExpr::Exists(Box::new(self.subquery(subquery)?), *negated)
            }
            Expr::InSubquery {
                expr,
                subquery,
                negated,
            } => {
                let v = self.expr(expr)?;
                let sub = self.subquery(subquery)?;
                if sub.query.columns.len() != 1 {
                    return Err(SqlError::syntax("subquery has too many columns"));
                }
                BExpr::InSubquery(Box::new(v), Box::new(sub), *negated)
            }
            Expr::Function(f) => self.function(f)?,
            Expr::Overlay {
                expr,
                overlay_what,
                overlay_from,
                overlay_for,
            } => {
                let mut args = vec![
                    self.expr(expr)?,
                    self.expr(overlay_what)?,
                    self.expr(overlay_from)?,
                ];
                if let Some(n) = overlay_for {
                    args.push(self.expr(n)?);
                }
                BExpr::Func(Func::Overlay, args)
            }
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![self.expr(expr)?];
                args.push(match substring_from {
                    Some(f) => self.expr(f)?,
                    None => BExpr::Const(Value::Int(1)),
                });
                if let Some(f) = substring_for {
                    args.push(self.expr(f)?);
                }
                BExpr::Func(Func::Substr, args)
            }
            Expr::Trim {
                expr,
                trim_where,
                trim_what,
                trim_characters: None,
            } => {
                let func = match trim_where {
                    None | Some(ast::TrimWhereField::Both) => Func::Trim,
                    Some(ast::TrimWhereField::Leading) => Func::Ltrim,
                    Some(ast::TrimWhereField::Trailing) => Func::Rtrim,
                };
                let mut args = vec![self.expr(expr)?];
                if let Some(w) = trim_what {
                    args.push(self.expr(w)?);
                }
                BExpr::Func(func, args)
            }
            Expr::Ceil {
                expr,
                field: ast::CeilFloorKind::DateTimeField(ast::DateTimeField::NoDateTime),
            } => BExpr::Func(Func::Ceil, vec![self.expr(expr)?]),
            Expr::Floor {
                expr,
                field: ast::CeilFloorKind::DateTimeField(ast::DateTimeField::NoDateTime),
            } => BExpr::Func(Func::Floor, vec![self.expr(expr)?]),
            Expr::Extract { field, expr, .. } => {
                let name = match field {
                    ast::DateTimeField::Custom(i) => i.value.to_lowercase(),
                    f => f.to_string().to_lowercase(),
                };
                BExpr::Func(
                    Func::Extract,
                    vec![BExpr::Const(Value::Text(name)), self.expr(expr)?],
                )
            }
            // `ts AT TIME ZONE zone` is `timezone(zone, ts)`.
            Expr::AtTimeZone {
                timestamp,
                time_zone,
            } => BExpr::Func(
                Func::Timezone,
                vec![self.expr(time_zone)?, self.expr(timestamp)?],
            ),
            Expr::Interval(iv) => self.interval(iv)?,
            Expr::Position { expr, r#in } => {
                BExpr::Func(Func::Position, vec![self.expr(r#in)?, self.expr(expr)?])
            }
            other => {
                return Err(SqlError::not_supported(format!(
                    "expression {}",
                    crate::syntax::first_words(&other.to_string())
                )));
            }
        })
    }

    /// `INTERVAL '…' [unit [TO unit]]`: a constant when its text is one,
    /// a bare number counted in the leading unit (`INTERVAL '3' DAY`).
    fn interval(&mut self, iv: &ast::Interval) -> Result<BExpr> {
        use crate::interval::{Interval, Unit};
        let unit = match (&iv.leading_field, &iv.last_field) {
            (Some(f), None) => {
                let name = f.to_string().to_lowercase();
                Some(Unit::named(&name).ok_or_else(|| {
                    SqlError::syntax(format!("interval unit {f} is not one of YEAR … SECOND"))
                })?)
            }
            _ => None,
        };
        let value = self.expr(&iv.value)?;
        Ok(match value {
            BExpr::Const(Value::Text(s)) => {
                BExpr::Const(Value::Interval(Interval::parse_in(&s, unit)?))
            }
            BExpr::Const(Value::Int(n)) => {
                BExpr::Const(Value::Interval(Interval::parse_in(&n.to_string(), unit)?))
            }
            other => BExpr::Cast(Box::new(other), DataType::Interval),
        })
    }

    /// The arguments of a scalar call: plain expressions, or `*` (`None`).
    pub(super) fn call_args(f: &ast::Function) -> Result<(Option<Vec<&Expr>>, bool)> {
        if f.over.is_some()
            || f.filter.is_some()
            || !f.within_group.is_empty()
            || f.null_treatment.is_some()
        {
            return Err(SqlError::not_supported(format!(
                "{} (FILTER, WITHIN GROUP, IGNORE NULLS on a function that is not an aggregate)",
                crate::syntax::first_words(&f.to_string())
            )));
        }
        if let FunctionArguments::List(list) = &f.args
            && !list.clauses.is_empty()
        {
            return Err(SqlError::not_supported(format!("{f}")));
        }
        Self::plain_args(f)
    }

    /// A call's arguments (clauses aside): plain expressions, or `*`
    /// (`None`), and DISTINCT.
    pub(super) fn plain_args(f: &ast::Function) -> Result<(Option<Vec<&Expr>>, bool)> {
        match &f.args {
            FunctionArguments::None => Ok((Some(Vec::new()), false)),
            FunctionArguments::List(list) => {
                let distinct = matches!(
                    list.duplicate_treatment,
                    Some(ast::DuplicateTreatment::Distinct)
                );
                let mut out = Vec::new();
                for a in &list.args {
                    match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => out.push(e),
                        FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => {
                            return Ok((None, distinct));
                        }
                        other => return Err(SqlError::not_supported(format!("argument {other}"))),
                    }
                }
                Ok((Some(out), distinct))
            }
            FunctionArguments::Subquery(_) => Err(SqlError::not_supported(format!("{f}"))),
        }
    }

    /// An ORDER BY key's direction.
    pub(super) fn sort_key(k: &ast::OrderByExpr) -> SortKey {
        let descending = k.options.asc == Some(false);
        SortKey {
            descending,
            nulls_first: k.options.nulls_first.unwrap_or(descending),
        }
    }

    pub(super) fn function(&mut self, f: &ast::Function) -> Result<BExpr> {
        let name = function_name(f);
        if AggFunc::named(&name).is_some() {
            return Err(SqlError::grouping(format!(
                "aggregate function {name} is not allowed here"
            )));
        }
        if let Some(refused) = refused_in_expression(&name) {
            return Err(refused);
        }
        let func = Func::named(&name).ok_or_else(|| {
            SqlError::undefined_function(format!("function {name} does not exist"))
        })?;
        if func == Func::MakeInterval {
            return self.make_interval(f);
        }
        let (args, distinct) = Self::call_args(f)?;
        let Some(args) = args.filter(|_| !distinct) else {
            return Err(SqlError::syntax(format!(
                "{name}(*) or DISTINCT is not allowed here"
            )));
        };
        let row = match (func, args.as_slice()) {
            (Func::ToJsonb, [a]) => self.whole_row(a),
            _ => None,
        };
        let args = match &row {
            Some(object) => vec![self.expr(object)?],
            None => args
                .iter()
                .map(|a| self.expr(a))
                .collect::<Result<Vec<_>>>()?,
        };
        Ok(BExpr::Func(func, args))
    }

    /// `make_interval(years, months, weeks, days, hours, mins, secs)`,
    /// its arguments by position or by name (`days => 3`), each 0 when
    /// left out.
    fn make_interval(&mut self, f: &ast::Function) -> Result<BExpr> {
        const NAMES: [&str; 7] = ["years", "months", "weeks", "days", "hours", "mins", "secs"];
        let mut slots: [Option<BExpr>; 7] = Default::default();
        if let FunctionArguments::List(list) = &f.args {
            if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
                return Err(SqlError::syntax("make_interval takes plain arguments"));
            }
            for (i, a) in list.args.iter().enumerate() {
                let (slot, e) = match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => (i, e),
                    FunctionArg::Named {
                        name,
                        arg: FunctionArgExpr::Expr(e),
                        ..
                    }
                    | FunctionArg::ExprNamed {
                        name: Expr::Identifier(name),
                        arg: FunctionArgExpr::Expr(e),
                        ..
                    } => {
                        let n = ident(name);
                        let slot = NAMES.iter().position(|x| *x == n).ok_or_else(|| {
                            SqlError::undefined_function(format!(
                                "function make_interval has no argument named {n}"
                            ))
                        })?;
                        (slot, e)
                    }
                    other => {
                        return Err(SqlError::not_supported(format!("argument {other}")));
                    }
                };
                let Some(place) = slots.get_mut(slot) else {
                    return Err(SqlError::undefined_function(
                        "function make_interval takes at most 7 arguments",
                    ));
                };
                if place.is_some() {
                    return Err(SqlError::syntax(format!(
                        "argument {} of make_interval is given twice",
                        NAMES[slot]
                    )));
                }
                *place = Some(self.expr(e)?);
            }
        }
        let args = slots
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                s.unwrap_or(BExpr::Const(if i == 6 {
                    Value::Float(0.0)
                } else {
                    Value::Int(0)
                }))
            })
            .collect();
        Ok(BExpr::Func(Func::MakeInterval, args))
    }

    /// Notes that parameter `param` (if it is one) is compared with, or
    /// stored into, something of `other`'s type.
    pub(super) fn hint(&mut self, param: &Expr, other: &BExpr) {
        if let Some(k) = placeholder(param)
            && let Some(ty) = self.type_of(other)
            && let Some(slot) = self.param_hints.get_mut(k)
        {
            slot.get_or_insert(ty);
        }
    }

    /// Notes that parameter `param` (if it is one) is stored into a column
    /// of type `ty`.
    pub fn hint_type(&mut self, param: &Expr, ty: DataType) {
        if let Some(slot) = placeholder(param).and_then(|k| self.param_hints.get_mut(k)) {
            slot.get_or_insert(ty);
        }
    }

    /// The parameters' types as their uses showed them.
    pub fn param_hints(&self) -> &[Option<DataType>] {
        &self.param_hints
    }

    /// The static type of `e` in the current block, when known.
    pub fn type_of(&self, e: &BExpr) -> Option<DataType> {
        // Constants have types outside any block too (a VALUES list in a
        // FROM is bound with no block around it).
        let scope = self.scopes.last();
        Some(match e {
            BExpr::Const(v) => return v.data_type(),
            BExpr::Param(i) => return self.params.get(*i).and_then(Value::data_type),
            BExpr::Column(i) if *i >= super::WINDOW_SLOT => {
                return scope?
                    .window_types
                    .get(*i - super::WINDOW_SLOT)
                    .copied()
                    .flatten();
            }
            BExpr::Column(i) => {
                let scope = scope?;
                return if scope.grouped {
                    scope
                        .group
                        .as_ref()
                        .and_then(|g| g.types.get(*i).copied().flatten())
                } else {
                    scope.types.get(*i).copied().flatten()
                };
            }
            BExpr::Outer { .. } | BExpr::Output(_) => return None,
            BExpr::Neg(a) => return self.type_of(a),
            BExpr::Binary(a, op, b) => match op {
                BinOp::Plus | BinOp::Minus | BinOp::Multiply | BinOp::Divide | BinOp::Modulo => {
                    match (self.type_of(a), self.type_of(b)) {
                        (Some(DataType::Jsonb), _) if *op == BinOp::Minus => DataType::Jsonb,
                        (Some(DataType::Int), Some(DataType::Int)) => DataType::Int,
                        (Some(DataType::Date), Some(DataType::Date)) => DataType::Int,
                        (Some(DataType::Numeric), Some(DataType::Numeric | DataType::Int))
                        | (Some(DataType::Int), Some(DataType::Numeric)) => DataType::Numeric,
                        (Some(DataType::Numeric), Some(DataType::Float))
                        | (Some(DataType::Float), Some(DataType::Numeric)) => DataType::Float,
                        (Some(DataType::Date), Some(DataType::Int))
                        | (Some(DataType::Int), Some(DataType::Date)) => DataType::Date,
                        (Some(x), Some(y)) if datetime_result(x, *op, y).is_some() => {
                            return datetime_result(x, *op, y);
                        }
                        (x, y) if numeric(x) && numeric(y) => DataType::Float,
                        _ => return None,
                    }
                }
                BinOp::Concat if self.array_side(a, b).is_some() => {
                    return self.array_side(a, b);
                }
                BinOp::Concat
                    if self.type_of(a) == Some(DataType::Jsonb)
                        || self.type_of(b) == Some(DataType::Jsonb) =>
                {
                    DataType::Jsonb
                }
                BinOp::Concat | BinOp::JsonGetText => DataType::Text,
                BinOp::BitAnd
                | BinOp::BitOr
                | BinOp::BitXor
                | BinOp::ShiftLeft
                | BinOp::ShiftRight => DataType::Int,
                BinOp::JsonGet => DataType::Jsonb,
                _ => DataType::Bool,
            },
            BExpr::Not(_)
            | BExpr::IsNull(..)
            | BExpr::IsBool(..)
            | BExpr::IsDistinct(..)
            | BExpr::InList(..)
            | BExpr::Like { .. }
            | BExpr::Exists(..)
            | BExpr::InSubquery(..) => DataType::Bool,
            BExpr::Case {
                whens, otherwise, ..
            } => {
                return whens
                    .iter()
                    .map(|(_, t)| t)
                    .chain(otherwise.iter().map(|b| &**b))
                    .find_map(|t| self.type_of(t));
            }
            BExpr::Cast(_, t) => *t,
            BExpr::Enum(_, t) => DataType::Enum(t.oid),
            BExpr::Subquery(s) => return s.query.columns.first().and_then(|c| c.1),
            BExpr::Func(f, args) => match f {
                Func::Abs | Func::Round | Func::Ceil | Func::Floor => {
                    return args.first().and_then(|a| self.type_of(a));
                }
                Func::Substr
                    if args
                        .first()
                        .is_some_and(|a| self.type_of(a) == Some(DataType::Bytes)) =>
                {
                    DataType::Bytes
                }
                Func::Lower
                | Func::Upper
                | Func::Substr
                | Func::Trim
                | Func::Ltrim
                | Func::Rtrim
                | Func::Replace
                | Func::Concat => DataType::Text,
                Func::Length
                | Func::Position
                | Func::BitNot
                | Func::NumNulls
                | Func::NumNonnulls
                | Func::WidthBucket
                | Func::Scale
                | Func::MinScale => DataType::Int,
                Func::Gcd | Func::Lcm => return args.first().and_then(|a| self.type_of(a)),
                Func::Overlay => DataType::Text,
                Func::IsFinite => DataType::Bool,
                Func::DateBin => return args.get(1).and_then(|a| self.type_of(a)),
                Func::MakeInterval => DataType::Interval,
                Func::MakeTimestamp => DataType::Timestamp,
                Func::MakeTimestampTz => DataType::TimestampTz,
                Func::MakeTime => DataType::Time,
                Func::TrimScale => DataType::Numeric,
                Func::Coalesce | Func::NullIf | Func::Greatest | Func::Least => {
                    return args.iter().find_map(|a| self.type_of(a));
                }
                Func::Sqrt
                    if args
                        .first()
                        .is_some_and(|a| self.type_of(a) == Some(DataType::Numeric)) =>
                {
                    DataType::Numeric
                }
                Func::Now => DataType::TimestampTz,
                Func::LocalTimestamp => DataType::Timestamp,
                Func::LocalTime => DataType::Time,
                Func::CurrentDate => DataType::Date,
                Func::GenRandomUuid
                | Func::UuidGenerateV1
                | Func::UuidGenerateV1mc
                | Func::UuidGenerateV3
                | Func::UuidGenerateV5
                | Func::UuidNil
                | Func::UuidNsDns
                | Func::UuidNsUrl
                | Func::UuidNsOid
                | Func::UuidNsX500 => DataType::Uuid,
                Func::Digest | Func::Hmac | Func::GenRandomBytes => DataType::Bytes,
                Func::GenSalt | Func::Crypt => DataType::Text,
                Func::Extract => DataType::Numeric,
                Func::DatePart => DataType::Float,
                Func::ToChar => DataType::Text,
                Func::JustifyDays | Func::JustifyHours => DataType::Interval,
                Func::FormatType | Func::QuoteIdent | Func::ArrayToString | Func::SizePretty => {
                    DataType::Text
                }
                Func::RegexMatch | Func::CancelBackend | Func::TerminateBackend => DataType::Bool,
                Func::ArrayPosition => DataType::Int,
                Func::JsonBuildObject => DataType::Jsonb,
                Func::ArrayLength => DataType::Int,
                Func::Power
                | Func::Sqrt
                | Func::Cbrt
                | Func::Exp
                | Func::Ln
                | Func::Log
                | Func::Log10
                | Func::Pi
                | Func::Random
                | Func::Sign => DataType::Float,
                Func::Trunc => return args.first().and_then(|a| self.type_of(a)),
                Func::Div => DataType::Numeric,
                Func::Mod => {
                    let types: Vec<Option<DataType>> =
                        args.iter().map(|a| self.type_of(a)).collect();
                    // As evaluated: a float makes it float, else a numeric
                    // numeric.
                    if types.contains(&Some(DataType::Float)) {
                        DataType::Float
                    } else if types.contains(&Some(DataType::Numeric)) {
                        DataType::Numeric
                    } else {
                        DataType::Int
                    }
                }
                Func::Lpad
                | Func::Rpad
                | Func::Left
                | Func::Right
                | Func::SplitPart
                | Func::Repeat
                | Func::Reverse
                | Func::Initcap
                | Func::Md5
                | Func::Encode
                | Func::ToHex
                | Func::ConvertFrom
                | Func::ConcatWs
                | Func::Chr
                | Func::Translate
                | Func::JsonbTypeof
                | Func::RegexpReplace => DataType::Text,
                Func::Ascii | Func::OctetLength | Func::BitLength | Func::JsonbArrayLength => {
                    DataType::Int
                }
                Func::StartsWith => DataType::Bool,
                Func::Decode
                | Func::Sha224
                | Func::Sha256
                | Func::Sha384
                | Func::Sha512
                | Func::ConvertTo => DataType::Bytes,
                Func::ToJsonb
                | Func::JsonBuildArray
                | Func::JsonExtractPath
                | Func::JsonPath
                | Func::JsonbSet
                | Func::JsonbStripNulls => DataType::Jsonb,
                Func::JsonExtractPathText
                | Func::JsonPathText
                | Func::JsonbPretty
                | Func::RegexpSubstr
                | Func::SimilarToEscape => DataType::Text,
                Func::RegexpLike => DataType::Bool,
                Func::RegexpCount => DataType::Int,
                Func::ToNumber => DataType::Numeric,
                Func::MakeDate | Func::ToDate => DataType::Date,
                Func::Age => DataType::Interval,
                Func::Format | Func::QuoteLiteral | Func::QuoteNullable => DataType::Text,
                Func::ToTimestamp => DataType::TimestampTz,
                Func::Subscript
                | Func::StringToArray
                | Func::RegexpMatch
                | Func::RegexpSplitToArray
                | Func::ArrayCtor
                | Func::ArraySlice
                | Func::ArrayAppend
                | Func::ArrayPrepend
                | Func::ArrayCat
                | Func::ArrayRemove
                | Func::ArrayReplace
                | Func::ArrayPositions
                | Func::Cardinality
                | Func::ArrayLower
                | Func::ArrayNdims
                | Func::ArrayDims
                | Func::AnyOf(_)
                | Func::AllOf(_) => return self.array_call_type(*f, args),
                // A timestamp's local time there is a timestamp; a
                // timestamp (local there) is an instant.
                Func::Timezone => match args.get(1).and_then(|a| self.type_of(a)) {
                    Some(DataType::Timestamp) => DataType::TimestampTz,
                    _ => DataType::Timestamp,
                },
                // Its value is an array of text arrays, unnested where it
                // is called (see `add_set_function`).
                Func::RegexpMatchesAll => return DataType::Text.array().ok(),
                // generate_series' values (`rewrite::series_type`).
                Func::SeriesArray => {
                    let ty = |i: usize| args.get(i).and_then(|a| self.type_of(a));
                    let element = match (ty(0), ty(2)) {
                        (Some(DataType::Timestamp), _) => DataType::Timestamp,
                        (Some(DataType::TimestampTz | DataType::Date), _)
                        | (_, Some(DataType::Interval)) => DataType::TimestampTz,
                        _ => DataType::Int,
                    };
                    return element.array().ok();
                }
                Func::DateTrunc => match args.get(1).and_then(|a| self.type_of(a)) {
                    Some(DataType::Date) => DataType::TimestampTz,
                    other => return other,
                },
            },
        })
    }
}

/// The type of `x op y` for PostgreSQL's date, time and interval
/// operators.
fn datetime_result(x: DataType, op: BinOp, y: DataType) -> Option<DataType> {
    use DataType as T;
    let number = |t: T| matches!(t, T::Int | T::Float | T::Numeric);
    let add_or_sub = matches!(op, BinOp::Plus | BinOp::Minus);
    Some(match (x, y) {
        (T::Interval, T::Interval) if add_or_sub => T::Interval,
        (T::Interval, n) if number(n) && matches!(op, BinOp::Multiply | BinOp::Divide) => {
            T::Interval
        }
        (n, T::Interval) if number(n) && op == BinOp::Multiply => T::Interval,
        (T::Timestamp, T::Interval) if add_or_sub => T::Timestamp,
        (T::TimestampTz, T::Interval) if add_or_sub => T::TimestampTz,
        (T::Interval, t @ (T::Timestamp | T::TimestampTz)) if op == BinOp::Plus => t,
        (T::Date, T::Interval) if add_or_sub => T::Timestamp,
        (T::Interval, T::Date) | (T::Date, T::Time) | (T::Time, T::Date) if op == BinOp::Plus => {
            T::Timestamp
        }
        (T::Time, T::Interval) if add_or_sub => T::Time,
        (T::Interval, T::Time) if op == BinOp::Plus => T::Time,
        (T::Time, T::Time) | (T::Timestamp | T::TimestampTz, T::Timestamp | T::TimestampTz)
            if op == BinOp::Minus =>
        {
            T::Interval
        }
        _ => return None,
    })
}
