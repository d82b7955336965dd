//! Arrays as the binder reads them: `ARRAY[…]` (its elements of one
//! type), subscripts and slices (`a[i]`, `t.a[i]`, `a[lo:hi]`),
//! `x op ANY/ALL (array)`, and the types of the array functions.

use sqlparser::ast::{self, Expr};

use super::Binder;
use super::operators::binop;
use crate::error::{Result, SqlError};
use crate::plan::{BExpr, Func};
use crate::value::{DataType, Value};

impl Binder<'_> {
    /// `e` bound when it is an array expression (`None` otherwise).
    pub(super) fn array_expr(&mut self, e: &Expr) -> Result<Option<BExpr>> {
        Ok(Some(match e {
            Expr::Array(a) => self.array_of(&a.elem)?,
            Expr::CompoundFieldAccess { root, access_chain } => {
                self.subscript(e, root, access_chain)?
            }
            Expr::AnyOp {
                left,
                compare_op,
                right,
                ..
            }
            | Expr::AllOp {
                left,
                compare_op,
                right,
            } if !matches!(strip_nested(right), Expr::Subquery(_)) => {
                let op = binop(compare_op)?;
                let x = self.expr(left)?;
                let array = self.expr(right)?;
                if let Some(t) = self.type_of(&x).and_then(|t| t.array().ok()) {
                    self.hint_type(right, t);
                }
                if let Some(t) = self.type_of(&array).and_then(DataType::element) {
                    self.hint_type(left, t);
                }
                let f = if matches!(e, Expr::AnyOp { .. }) {
                    Func::AnyOf(op)
                } else {
                    Func::AllOf(op)
                };
                BExpr::Func(f, vec![x, array])
            }
            _ => return Ok(None),
        }))
    }

    /// `ARRAY[…]`: every element of the first one's type (numbers of the
    /// widest), as PostgreSQL resolves them.
    fn array_of(&mut self, elems: &[Expr]) -> Result<BExpr> {
        let mut bound = Vec::with_capacity(elems.len());
        for e in elems {
            if matches!(strip_nested(e), Expr::Array(_)) {
                return Err(SqlError::not_supported("arrays of more than one dimension"));
            }
            bound.push(self.expr(e)?);
        }
        let types: Vec<Option<DataType>> = bound.iter().map(|b| self.type_of(b)).collect();
        let known = || types.iter().flatten();
        let elem = if known().any(|t| *t == DataType::Numeric) {
            Some(DataType::Numeric)
        } else if known().any(|t| *t == DataType::Float) {
            Some(DataType::Float)
        } else {
            known()
                .find(|t| **t != DataType::Text)
                .or_else(|| known().next())
                .copied()
        };
        if let Some(t) = elem {
            t.array()?;
            for (b, ty) in bound.iter_mut().zip(&types) {
                if *ty != Some(t) && !matches!(b, BExpr::Const(Value::Null)) {
                    let inner = std::mem::replace(b, BExpr::Const(Value::Null));
                    *b = self.cast(inner, t);
                }
            }
        }
        Ok(BExpr::Func(Func::ArrayCtor, bound))
    }

    /// `a[i]`, `t.a[i]`, `(expr)[i]`, `a[lo:hi]`: a name or an expression,
    /// then one subscript.
    fn subscript(
        &mut self,
        e: &Expr,
        root: &Expr,
        access_chain: &[ast::AccessExpr],
    ) -> Result<BExpr> {
        let mut name = match root {
            Expr::Identifier(i) => vec![i.clone()],
            Expr::CompoundIdentifier(parts) => parts.clone(),
            _ => Vec::new(),
        };
        let one_only = || SqlError::not_supported(format!("{e}: one subscript only"));
        let (subscript, dots) = match access_chain.split_last() {
            Some((ast::AccessExpr::Subscript(s), dots)) => (s, dots),
            _ => return Err(one_only()),
        };
        for d in dots {
            match d {
                ast::AccessExpr::Dot(Expr::Identifier(i)) => name.push(i.clone()),
                _ => return Err(one_only()),
            }
        }
        let array = match name.len() {
            0 if dots.is_empty() => self.expr(root)?,
            1 => self.expr(&Expr::Identifier(name.remove(0)))?,
            _ => self.expr(&Expr::CompoundIdentifier(name))?,
        };
        // A bound left out is the array's own: 1, or past its end.
        let mut bound = |b: &Option<Expr>, own: i64| match b {
            Some(e) => self.expr(e),
            None => Ok(BExpr::Const(Value::Int(own))),
        };
        Ok(match subscript {
            ast::Subscript::Index { index } => {
                BExpr::Func(Func::Subscript, vec![array, self.expr(index)?])
            }
            ast::Subscript::Slice {
                lower_bound,
                upper_bound,
                stride: None,
            } => {
                let lo = bound(lower_bound, 1)?;
                let hi = bound(upper_bound, i64::MAX)?;
                BExpr::Func(Func::ArraySlice, vec![array, lo, hi])
            }
            ast::Subscript::Slice { .. } => {
                return Err(SqlError::not_supported(format!("{e}: a slice with a step")));
            }
        })
    }

    /// The type of a call of array function `f`, when known.
    pub(super) fn array_call_type(&self, f: Func, args: &[BExpr]) -> Option<DataType> {
        let arg = |i: usize| args.get(i).and_then(|a| self.type_of(a));
        let array_arg = |i: usize| arg(i).filter(|t| t.element().is_some());
        match f {
            Func::ArrayCtor => Some(
                args.iter()
                    .find_map(|a| self.type_of(a))
                    .unwrap_or(DataType::Text)
                    .array()
                    .unwrap_or(DataType::Text),
            ),
            Func::Subscript => arg(0).and_then(DataType::element),
            Func::ArraySlice | Func::ArrayRemove | Func::ArrayReplace => array_arg(0),
            Func::ArrayAppend => array_arg(0).or_else(|| arg(1).and_then(|t| t.array().ok())),
            Func::ArrayPrepend => array_arg(1).or_else(|| arg(0).and_then(|t| t.array().ok())),
            Func::ArrayCat => array_arg(0).or_else(|| array_arg(1)),
            Func::ArrayPositions => DataType::Int.array().ok(),
            Func::Cardinality | Func::ArrayLower | Func::ArrayNdims => Some(DataType::Int),
            Func::ArrayDims => Some(DataType::Text),
            Func::AnyOf(_) | Func::AllOf(_) => Some(DataType::Bool),
            Func::StringToArray | Func::RegexpMatch | Func::RegexpSplitToArray => {
                DataType::Text.array().ok()
            }
            _ => None,
        }
    }

    /// The array type of `a` or else `b`, if either is an array (`a || b`).
    pub(super) fn array_side(&self, a: &BExpr, b: &BExpr) -> Option<DataType> {
        [a, b]
            .into_iter()
            .find_map(|x| self.type_of(x).filter(|t| t.element().is_some()))
    }
}

fn strip_nested(e: &Expr) -> &Expr {
    match e {
        Expr::Nested(inner) => strip_nested(inner),
        other => other,
    }
}
