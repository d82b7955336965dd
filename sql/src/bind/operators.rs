//! Operators as the binder reads them: sqlparser's binary operators as
//! the plan's, `OPERATOR(pg_catalog.op)`, and the regular-expression
//! operators (calls of `Func::RegexMatch`, `SIMILAR TO` among them); the
//! functions no expression may call row by row.

use sqlparser::ast::{self, BinaryOperator as B};

use crate::error::{Result, SqlError};
use crate::plan::{BExpr, BinOp, Func};
use crate::value::Value;

pub(super) fn binop(op: &B) -> Result<BinOp> {
    Ok(match op {
        B::And => BinOp::And,
        B::Or => BinOp::Or,
        B::Eq => BinOp::Eq,
        B::NotEq => BinOp::NotEq,
        B::Lt => BinOp::Lt,
        B::LtEq => BinOp::LtEq,
        B::Gt => BinOp::Gt,
        B::GtEq => BinOp::GtEq,
        B::Plus => BinOp::Plus,
        B::Minus => BinOp::Minus,
        B::Multiply => BinOp::Multiply,
        B::Divide => BinOp::Divide,
        B::Modulo => BinOp::Modulo,
        B::BitwiseAnd => BinOp::BitAnd,
        B::BitwiseOr => BinOp::BitOr,
        B::PGBitwiseXor => BinOp::BitXor,
        B::PGBitwiseShiftLeft => BinOp::ShiftLeft,
        B::PGBitwiseShiftRight => BinOp::ShiftRight,
        B::StringConcat => BinOp::Concat,
        B::Arrow => BinOp::JsonGet,
        B::LongArrow => BinOp::JsonGetText,
        B::AtArrow => BinOp::JsonContains,
        B::PGOverlap => BinOp::Overlap,
        B::Question => BinOp::JsonHasKey,
        B::PGCustomBinaryOperator(parts) => match parts.as_slice() {
            [schema, op] if schema.eq_ignore_ascii_case("pg_catalog") => {
                return binop(&custom_operator(op)?);
            }
            [op] => return binop(&custom_operator(op)?),
            _ => return Err(SqlError::not_supported(format!("operator {op}"))),
        },
        other => return Err(SqlError::not_supported(format!("operator {other}"))),
    })
}

/// The operator `OPERATOR(pg_catalog.op)` names.
fn custom_operator(op: &str) -> Result<B> {
    Ok(match op {
        "=" => B::Eq,
        "<>" | "!=" => B::NotEq,
        "<" => B::Lt,
        "<=" => B::LtEq,
        ">" => B::Gt,
        ">=" => B::GtEq,
        "+" => B::Plus,
        "-" => B::Minus,
        "*" => B::Multiply,
        "/" => B::Divide,
        "%" => B::Modulo,
        "||" => B::StringConcat,
        "~" => B::PGRegexMatch,
        "~*" => B::PGRegexIMatch,
        "!~" => B::PGRegexNotMatch,
        "!~*" => B::PGRegexNotIMatch,
        "~~" => B::PGLikeMatch,
        "!~~" => B::PGNotLikeMatch,
        other => {
            return Err(SqlError::undefined_function(format!(
                "operator does not exist: {other}"
            )));
        }
    })
}

/// `text ~ pattern` and its kin as a call of [`Func::RegexMatch`]
/// (negated: wrapped in NOT by the caller), or `None` for other operators.
pub(super) fn regex_operator(op: &B) -> Option<(bool, bool)> {
    let op = match op {
        B::PGCustomBinaryOperator(parts) => custom_operator(parts.last()?).ok()?,
        other => other.clone(),
    };
    Some(match op {
        B::PGRegexMatch => (false, false),
        B::PGRegexIMatch => (false, true),
        B::PGRegexNotMatch => (true, false),
        B::PGRegexNotIMatch => (true, true),
        _ => return None,
    })
}

impl super::Binder<'_> {
    /// `x [NOT] SIMILAR TO p [ESCAPE e]`: `x ~ similar_to_escape(p [, e])`,
    /// as PostgreSQL rewrites it.
    pub(super) fn similar_to(
        &mut self,
        negated: bool,
        expr: &ast::Expr,
        pattern: &ast::Expr,
        escape: Option<&ast::Value>,
    ) -> Result<BExpr> {
        let mut args = vec![self.expr(pattern)?];
        if let Some(escape) = escape {
            args.push(BExpr::Const(Value::Text(similar_escape(escape)?)));
        }
        let call = BExpr::Func(
            Func::RegexMatch,
            vec![
                self.expr(expr)?,
                BExpr::Func(Func::SimilarToEscape, args),
                BExpr::Const(Value::Text(String::new())),
            ],
        );
        Ok(if negated {
            BExpr::Not(Box::new(call))
        } else {
            call
        })
    }
}

/// The escape character of `SIMILAR TO … ESCAPE 'c'` (a string; NULL
/// is not supported).
fn similar_escape(escape: &ast::Value) -> Result<String> {
    match escape {
        ast::Value::SingleQuotedString(s) => Ok(s.clone()),
        other => Err(SqlError::not_supported(format!(
            "SIMILAR TO … ESCAPE {other}: the escape must be a string"
        ))),
    }
}

/// Why a function that a statement answers before it is bound, or that
/// gives rows, cannot be called where expressions are evaluated row by
/// row (0A000); `None` for other functions.
pub(super) fn refused_in_expression(name: &str) -> Option<SqlError> {
    let place = if matches!(name, "nextval" | "currval" | "setval") {
        "call it in a SELECT without FROM, in INSERT … VALUES, or as a column default"
    } else if crate::advisory::Op::of(name).is_some() {
        "call it in a SELECT without FROM"
    } else if crate::json::Rows::of(name).is_some() {
        "call it in FROM, or as the one set-returning function of a select list (jsonb_each, jsonb_each_text and jsonb_to_record(set) in FROM only)"
    } else {
        return None;
    };
    Some(SqlError::not_supported(format!("{name}() here: {place}")))
}
