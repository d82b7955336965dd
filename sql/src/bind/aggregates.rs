//! Binding aggregate calls: their arguments, DISTINCT, FILTER, ORDER BY
//! and WITHIN GROUP, their result types, their place in the grouped row;
//! `grouping(…)`.

use sqlparser::ast::{self, Expr, FunctionArguments};

use super::Binder;
use super::walk::{function_name, has_aggregate, has_window};
use crate::error::{Result, SqlError};
use crate::plan::{AggCall, AggFunc, BExpr};
use crate::value::{DataType, Value};

impl Binder<'_> {
    /// An aggregate call's arguments (`None` for `*`), DISTINCT, FILTER
    /// and ORDER BY.
    #[allow(clippy::type_complexity)]
    fn agg_args(
        f: &ast::Function,
    ) -> Result<(Option<Vec<&Expr>>, bool, Option<&Expr>, &[ast::OrderByExpr])> {
        if f.null_treatment.is_some() {
            return Err(SqlError::not_supported(format!(
                "{} (IGNORE NULLS)",
                crate::syntax::first_words(&f.to_string())
            )));
        }
        // An ordered-set aggregate's WITHIN GROUP (ORDER BY …), else an
        // ORDER BY among the arguments.
        let mut order: &[ast::OrderByExpr] = &f.within_group;
        if let FunctionArguments::List(list) = &f.args {
            for c in &list.clauses {
                match c {
                    ast::FunctionArgumentClause::OrderBy(o) if f.within_group.is_empty() => {
                        order = o;
                    }
                    other => return Err(SqlError::not_supported(format!("{other}"))),
                }
            }
        }
        let (args, distinct) = Self::plain_args(f)?;
        Ok((args, distinct, f.filter.as_deref(), order))
    }

    /// Binds `e`, over the block's rows before grouping when `ungroup`.
    fn bind_ungrouped(&mut self, e: &Expr, ungroup: bool) -> Result<BExpr> {
        if !ungroup {
            return self.expr(e);
        }
        let scope = self.scope();
        let (grouped, windows) = (scope.grouped, scope.windows_allowed);
        scope.grouped = false;
        scope.windows_allowed = false;
        let b = self.expr(e);
        let scope = self.scope();
        scope.grouped = grouped;
        scope.windows_allowed = windows;
        b
    }

    /// An aggregate call and its type; its expressions bound over the rows
    /// before grouping when `ungroup` (a grouped block's aggregate), as
    /// they are otherwise (a window's aggregate).
    pub(super) fn agg_call(
        &mut self,
        func: AggFunc,
        f: &ast::Function,
        ungroup: bool,
    ) -> Result<(AggCall, Option<DataType>)> {
        let name = function_name(f);
        let (args, distinct, filter, order) = Self::agg_args(f)?;
        for a in args
            .iter()
            .flatten()
            .copied()
            .chain(filter)
            .chain(order.iter().map(|k| &k.expr))
        {
            if ungroup && has_aggregate(a) {
                return Err(SqlError::grouping(
                    "aggregate function calls cannot be nested",
                ));
            }
            if has_window(a) {
                return Err(SqlError::grouping(
                    "aggregate function calls cannot contain window function calls",
                ));
            }
        }
        if func.ordered_set() == f.within_group.is_empty() {
            // PostgreSQL finds no such function (42883) either way.
            return Err(SqlError::undefined_function(if func.ordered_set() {
                format!("WITHIN GROUP is required for ordered-set aggregate {name}")
            } else {
                format!("{name} is not an ordered-set aggregate, so it cannot have WITHIN GROUP")
            }));
        }
        if func.ordered_set() && distinct {
            return Err(SqlError::not_supported(
                "DISTINCT is not implemented for ordered-set aggregates",
            ));
        }
        let (arg, delimiter) = match (args, func) {
            (None, AggFunc::Count) => (None, None),
            // The value is the WITHIN GROUP key; a percentile's fraction
            // (its direct argument) goes as the delimiter.
            (Some(a), func) if func.ordered_set() => {
                let direct = usize::from(func != AggFunc::Mode);
                let [key] = order else {
                    return Err(SqlError::undefined_function(format!(
                        "function {name} takes one WITHIN GROUP (ORDER BY …) key"
                    )));
                };
                if a.len() != direct {
                    return Err(SqlError::undefined_function(format!(
                        "function {name} takes {direct} direct argument(s), not {}",
                        a.len()
                    )));
                }
                let delimiter = match a.first() {
                    Some(e) => Some(self.bind_ungrouped(e, ungroup)?),
                    None => None,
                };
                (Some(self.bind_ungrouped(&key.expr, ungroup)?), delimiter)
            }
            (None, _) => {
                return Err(SqlError::syntax(format!("{name}(*) is not defined")));
            }
            (Some(a), AggFunc::StringAgg | AggFunc::JsonObjectAgg) if a.len() == 2 => (
                Some(self.bind_ungrouped(a[0], ungroup)?),
                Some(self.bind_ungrouped(a[1], ungroup)?),
            ),
            (Some(a), func)
                if a.len() == 1 && !matches!(func, AggFunc::StringAgg | AggFunc::JsonObjectAgg) =>
            {
                // json_agg(t): the rows of FROM item t as objects.
                let row = (func == AggFunc::JsonAgg)
                    .then(|| self.whole_row(a[0]))
                    .flatten();
                let arg = row.as_ref().unwrap_or(a[0]);
                (Some(self.bind_ungrouped(arg, ungroup)?), None)
            }
            (Some(_), _) => {
                let n = if matches!(func, AggFunc::StringAgg | AggFunc::JsonObjectAgg) {
                    "two arguments"
                } else {
                    "exactly one argument"
                };
                return Err(SqlError::undefined_function(format!("{name} takes {n}")));
            }
        };
        let filter = match filter {
            Some(e) => Some(self.bind_ungrouped(e, ungroup)?),
            None => None,
        };
        let mut keys = Vec::new();
        for k in order {
            keys.push((self.bind_ungrouped(&k.expr, ungroup)?, Self::sort_key(k)));
        }
        // The argument's type over the rows it is bound to.
        let scope = self.scope();
        let grouped = scope.grouped;
        scope.grouped = grouped && !ungroup;
        let arg_ty = arg.as_ref().and_then(|a| self.type_of(a));
        let fractions = matches!(
            delimiter.as_ref().and_then(|d| self.type_of(d)),
            Some(DataType::Array(_))
        );
        self.scope().grouped = grouped;
        let ty = match func {
            AggFunc::Count => Some(DataType::Int),
            AggFunc::Avg => match arg_ty {
                Some(DataType::Numeric) => Some(DataType::Numeric),
                Some(DataType::Interval) => Some(DataType::Interval),
                _ => Some(DataType::Float),
            },
            AggFunc::StringAgg => Some(DataType::Text),
            AggFunc::ArrayAgg => Some(arg_ty.unwrap_or(DataType::Text).array()?),
            AggFunc::JsonAgg | AggFunc::JsonObjectAgg => Some(DataType::Jsonb),
            AggFunc::BoolAnd | AggFunc::BoolOr => Some(DataType::Bool),
            AggFunc::BitAnd | AggFunc::BitOr | AggFunc::BitXor => Some(DataType::Int),
            // Of floats a float, else (integers, numerics) a numeric.
            AggFunc::VarSamp | AggFunc::VarPop | AggFunc::StddevSamp | AggFunc::StddevPop => {
                Some(if arg_ty == Some(DataType::Float) {
                    DataType::Float
                } else {
                    DataType::Numeric
                })
            }
            AggFunc::PercentileCont | AggFunc::PercentileDisc => {
                let one = match (func, arg_ty) {
                    (AggFunc::PercentileCont, Some(DataType::Interval)) => DataType::Interval,
                    (AggFunc::PercentileCont, _) => DataType::Float,
                    (_, ty) => ty.unwrap_or(DataType::Text),
                };
                Some(if fractions { one.array()? } else { one })
            }
            _ => arg_ty,
        };
        Ok((
            AggCall {
                func,
                arg,
                delimiter,
                distinct,
                filter,
                order: keys,
            },
            ty,
        ))
    }

    pub(super) fn aggregate(&mut self, func: AggFunc, f: &ast::Function) -> Result<BExpr> {
        let (call, ty) = if func == AggFunc::Grouping {
            (self.grouping_call(f)?, Some(DataType::Int))
        } else {
            self.agg_call(func, f, true)?
        };
        let scope = self.scope();
        let Some(group) = scope.group.as_mut() else {
            return Err(SqlError::internal("aggregate outside a grouped block"));
        };
        let i = match group.aggs.iter().position(|a| *a == call) {
            Some(i) => i,
            None => {
                group.aggs.push(call);
                group.types.push(ty);
                group.aggs.len() - 1
            }
        };
        Ok(BExpr::Column(group.keys.len() + i))
    }

    /// `grouping(k, …)`: each argument one of the block's GROUP BY keys
    /// (42803 otherwise), at most 31 of them.
    fn grouping_call(&mut self, f: &ast::Function) -> Result<AggCall> {
        let (args, distinct) = Self::plain_args(f)?;
        let args = args
            .filter(|a| !a.is_empty() && a.len() <= 31 && !distinct && f.filter.is_none())
            .ok_or_else(|| {
                SqlError::undefined_function(
                    "GROUPING takes 1 to 31 grouping expressions (no *, DISTINCT or FILTER)",
                )
            })?;
        let mut positions = Vec::new();
        for a in args {
            let keys = self.scope().group.as_ref().map_or(0, |g| g.keys.len());
            match self.expr(a) {
                Ok(BExpr::Column(k)) if k < keys => positions.push(Value::Int(k as i64)),
                _ => {
                    return Err(SqlError::grouping(
                        "arguments to GROUPING must be grouping expressions of the associated query level",
                    ));
                }
            }
        }
        Ok(AggCall {
            func: AggFunc::Grouping,
            arg: None,
            delimiter: Some(BExpr::Const(Value::Array(positions))),
            distinct: false,
            filter: None,
            order: Vec::new(),
        })
    }
}

/// The grouping sets of GROUP BY items that use GROUPING SETS, ROLLUP or
/// CUBE (each set as its expressions; the sets of several items crossed,
/// as PostgreSQL does): `None` for a plain GROUP BY.
pub(super) fn grouping_sets(items: &[Expr]) -> Result<Option<Vec<Vec<&Expr>>>> {
    if !items
        .iter()
        .any(|e| matches!(e, Expr::Rollup(_) | Expr::Cube(_) | Expr::GroupingSets(_)))
    {
        return Ok(None);
    }
    let mut sets: Vec<Vec<&Expr>> = vec![Vec::new()];
    for item in items {
        let of_item: Vec<Vec<&Expr>> = match item {
            // ROLLUP (a, b): (a, b), (a), ().
            Expr::Rollup(elements) => (0..=elements.len())
                .rev()
                .map(|n| elements[..n].iter().flatten().collect())
                .collect(),
            // CUBE (a, b): every subset, the larger first.
            Expr::Cube(elements) => {
                let n = elements.len();
                if n > 12 {
                    return Err(SqlError::too_complex("CUBE is limited to 12 elements"));
                }
                let mut subsets: Vec<u32> = (0..1u32 << n).collect();
                subsets.sort_by_key(|m| std::cmp::Reverse(m.count_ones()));
                subsets
                    .into_iter()
                    .map(|m| {
                        (0..n)
                            .filter(|i| m & (1 << (n - 1 - i)) != 0)
                            .flat_map(|i| elements[i].iter())
                            .collect()
                    })
                    .collect()
            }
            Expr::GroupingSets(listed) => {
                for e in listed.iter().flatten() {
                    if matches!(e, Expr::Rollup(_) | Expr::Cube(_) | Expr::GroupingSets(_)) {
                        return Err(SqlError::not_supported(
                            "ROLLUP, CUBE or GROUPING SETS inside GROUPING SETS",
                        ));
                    }
                }
                listed.iter().map(|set| set.iter().collect()).collect()
            }
            e => vec![vec![e]],
        };
        let mut crossed = Vec::with_capacity(sets.len() * of_item.len());
        for s in &sets {
            for t in &of_item {
                crossed.push(s.iter().chain(t.iter()).copied().collect());
            }
        }
        if crossed.len() > 4096 {
            return Err(SqlError::too_complex("more than 4096 grouping sets"));
        }
        sets = crossed;
    }
    Ok(Some(sets))
}
