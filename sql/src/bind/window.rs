//! Binding window function calls: `f(…) OVER (…)`, the block's named
//! windows (`WINDOW w AS (…)`, `OVER w`, `OVER (w ORDER BY …)`), frames.

use std::collections::HashMap;

use sqlparser::ast;

use super::Binder;
use super::walk::{function_name, has_window};
use crate::error::{Result, SqlError};
use crate::plan::{AggFunc, BExpr, Frame, FrameBound, Func, WindowCall, WindowFunc};
use crate::syntax::ident;
use crate::value::{DataType, Value};

/// A block's named windows (`WINDOW w AS (…)`), by name, each as the
/// whole specification it stands for (one defined on another copied
/// into it).
pub(super) type NamedWindows = HashMap<String, ast::WindowSpec>;

/// `WINDOW w1 AS (…), w2 AS (w1 …)`: each definition resolved against
/// those before it, as PostgreSQL does.
pub(super) fn named_windows(defs: &[ast::NamedWindowDefinition]) -> Result<NamedWindows> {
    let mut named = NamedWindows::new();
    for ast::NamedWindowDefinition(name, expr) in defs {
        let spec = match expr {
            ast::NamedWindowExpr::WindowSpec(spec) => refine(&named, spec)?,
            ast::NamedWindowExpr::NamedWindow(base) => lookup(&named, base)?.clone(),
        };
        let name = ident(name);
        if named.contains_key(&name) {
            return Err(SqlError::windowing(format!(
                "window \"{name}\" is already defined"
            )));
        }
        named.insert(name, spec);
    }
    Ok(named)
}

fn lookup<'a>(named: &'a NamedWindows, name: &ast::Ident) -> Result<&'a ast::WindowSpec> {
    let name = ident(name);
    named
        .get(&name)
        .ok_or_else(|| SqlError::undefined_object(format!("window \"{name}\" does not exist")))
}

/// `spec`, or when it names a window (`(w ORDER BY …)`), that window with
/// `spec`'s ORDER BY and frame added: a copy may not set PARTITION BY
/// again, nor an ORDER BY the window has, and a window with a frame
/// cannot be copied (PostgreSQL's rules).
fn refine(named: &NamedWindows, spec: &ast::WindowSpec) -> Result<ast::WindowSpec> {
    let Some(base_name) = &spec.window_name else {
        return Ok(spec.clone());
    };
    let base = lookup(named, base_name)?;
    let shown = ident(base_name);
    if !spec.partition_by.is_empty() {
        return Err(SqlError::windowing(format!(
            "cannot override PARTITION BY clause of window \"{shown}\""
        )));
    }
    if !spec.order_by.is_empty() && !base.order_by.is_empty() {
        return Err(SqlError::windowing(format!(
            "cannot override ORDER BY clause of window \"{shown}\""
        )));
    }
    if base.window_frame.is_some() {
        return Err(SqlError::windowing(format!(
            "cannot copy window \"{shown}\" because it has a frame clause"
        )));
    }
    Ok(ast::WindowSpec {
        window_name: None,
        partition_by: base.partition_by.clone(),
        order_by: if spec.order_by.is_empty() {
            base.order_by.clone()
        } else {
            spec.order_by.clone()
        },
        window_frame: spec.window_frame.clone(),
    })
}

impl Binder<'_> {
    /// `OVER w`: the block's window `w` as defined.
    fn named_window(&mut self, name: &ast::Ident) -> Result<ast::WindowSpec> {
        let scope = self.scope();
        lookup(&scope.named_windows, name).cloned()
    }

    /// `OVER (…)`, refining a named window if it names one.
    fn refine_window(&mut self, spec: &ast::WindowSpec) -> Result<ast::WindowSpec> {
        let scope = self.scope();
        refine(&scope.named_windows, spec)
    }

    /// A window function call (`f(…) OVER (…)`, `OVER w`, `OVER (w …)`):
    /// its value is a position after the block's row (placed when the
    /// block is bound).
    pub(super) fn window(&mut self, f: &ast::Function) -> Result<BExpr> {
        let name = function_name(f);
        if !self.scopes.last().is_some_and(|s| s.windows_allowed) {
            return Err(SqlError::windowing(format!(
                "window functions are not allowed here ({name})"
            )));
        }
        let spec = match &f.over {
            Some(ast::WindowType::WindowSpec(spec)) => self.refine_window(spec)?,
            Some(ast::WindowType::NamedWindow(w)) => self.named_window(w)?,
            None => return Err(SqlError::internal("a window call without OVER")),
        };
        let spec = &spec;
        let func = WindowFunc::named(&name).ok_or_else(|| {
            let message = format!(
                "OVER specified, but {name} is not a window function nor an aggregate function"
            );
            if Func::named(&name).is_some() {
                SqlError::wrong_object_type(message)
            } else {
                SqlError::undefined_function(format!("function {name} does not exist"))
            }
        })?;
        if let WindowFunc::Agg(a) = func
            && (a.ordered_set() || a == AggFunc::Grouping)
        {
            return Err(SqlError::not_supported(format!(
                "OVER is not supported for {name}"
            )));
        }
        let (args, agg, ty) = match func {
            WindowFunc::Agg(a) => {
                let (call, ty) = self.agg_call(a, f, false)?;
                (call.arg.iter().cloned().collect(), Some(call), ty)
            }
            _ => {
                if f.filter.is_some() {
                    return Err(SqlError::not_supported(
                        "FILTER is not implemented for non-aggregate window functions",
                    ));
                }
                let (args, distinct) = Self::plain_args(f)?;
                let args = args.filter(|_| !distinct).ok_or_else(|| {
                    SqlError::syntax(format!("{name}(*) or DISTINCT is not allowed here"))
                })?;
                let arity = match func {
                    WindowFunc::RowNumber
                    | WindowFunc::Rank
                    | WindowFunc::DenseRank
                    | WindowFunc::PercentRank
                    | WindowFunc::CumeDist => 0..=0,
                    WindowFunc::Lag | WindowFunc::Lead => 1..=3,
                    WindowFunc::NthValue => 2..=2,
                    _ => 1..=1,
                };
                if !arity.contains(&args.len()) {
                    return Err(SqlError::undefined_function(format!(
                        "function {name} does not take {} arguments",
                        args.len()
                    )));
                }
                let mut bound = Vec::new();
                for a in args {
                    if has_window(a) {
                        return Err(SqlError::windowing(
                            "window function calls cannot be nested",
                        ));
                    }
                    bound.push(self.expr(a)?);
                }
                let ty = match func {
                    WindowFunc::RowNumber
                    | WindowFunc::Rank
                    | WindowFunc::DenseRank
                    | WindowFunc::Ntile => Some(DataType::Int),
                    WindowFunc::PercentRank | WindowFunc::CumeDist => Some(DataType::Float),
                    _ => bound.first().and_then(|a| self.type_of(a)),
                };
                (bound, None, ty)
            }
        };
        let mut partition = Vec::new();
        for p in &spec.partition_by {
            if has_window(p) {
                return Err(SqlError::windowing(
                    "window function calls cannot be nested",
                ));
            }
            partition.push(self.expr(p)?);
        }
        let mut order = Vec::new();
        for k in &spec.order_by {
            if has_window(&k.expr) {
                return Err(SqlError::windowing(
                    "window function calls cannot be nested",
                ));
            }
            order.push((self.expr(&k.expr)?, Self::sort_key(k)));
        }
        let frame = match &spec.window_frame {
            None => Frame::DEFAULT,
            Some(w) => self.frame(w)?,
        };
        let scope = self.scope();
        scope.windows.push(WindowCall {
            func,
            args,
            agg,
            partition,
            order,
            frame,
        });
        scope.window_types.push(ty);
        Ok(BExpr::Column(super::WINDOW_SLOT + scope.windows.len() - 1))
    }

    fn frame(&mut self, w: &ast::WindowFrame) -> Result<Frame> {
        let rows = match w.units {
            ast::WindowFrameUnits::Rows => true,
            ast::WindowFrameUnits::Range => false,
            ast::WindowFrameUnits::Groups => {
                return Err(SqlError::not_supported("GROUPS frames"));
            }
        };
        let mut bound = |b: &ast::WindowFrameBound| -> Result<FrameBound> {
            let offset = |e: &ast::Expr, this: &mut Self| -> Result<u64> {
                if !rows {
                    return Err(SqlError::not_supported(
                        "RANGE frames with an offset (use ROWS, or UNBOUNDED / CURRENT ROW)",
                    ));
                }
                match crate::eval::eval(&this.constant(e)?, &crate::eval::Env::EMPTY)? {
                    Value::Int(n) if n >= 0 => Ok(n as u64),
                    other => Err(SqlError::windowing(format!(
                        "frame offset must be a non-negative integer, not {other}"
                    ))),
                }
            };
            Ok(match b {
                ast::WindowFrameBound::CurrentRow => FrameBound::CurrentRow,
                ast::WindowFrameBound::Preceding(None) => FrameBound::UnboundedPreceding,
                ast::WindowFrameBound::Following(None) => FrameBound::UnboundedFollowing,
                ast::WindowFrameBound::Preceding(Some(e)) => {
                    FrameBound::Preceding(offset(e, self)?)
                }
                ast::WindowFrameBound::Following(Some(e)) => {
                    FrameBound::Following(offset(e, self)?)
                }
            })
        };
        let start = bound(&w.start_bound)?;
        let end = match &w.end_bound {
            Some(b) => bound(b)?,
            None => FrameBound::CurrentRow,
        };
        if start == FrameBound::UnboundedFollowing {
            return Err(SqlError::windowing(
                "frame start cannot be UNBOUNDED FOLLOWING",
            ));
        }
        if end == FrameBound::UnboundedPreceding {
            return Err(SqlError::windowing(
                "frame end cannot be UNBOUNDED PRECEDING",
            ));
        }
        Ok(Frame { rows, start, end })
    }
}
