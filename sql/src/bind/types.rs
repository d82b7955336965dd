//! Types a statement names and the enum types' labels: a type named in a
//! cast, casts to enum types (checked against their labels), and quoted
//! literals and parameters read as labels where they meet an enum value.

use sqlparser::ast::{self, Expr};

use super::Binder;
use super::expr::{placeholder, string_literal};
use crate::error::Result;
use crate::plan::BExpr;
use crate::syntax::object_name;
use crate::value::DataType;

impl Binder<'_> {
    /// The type `t` names: a built-in type, or an enum type the statement
    /// loaded (`Tables::types`).
    pub(super) fn data_type(&self, t: &ast::DataType) -> Result<DataType> {
        if let ast::DataType::Custom(name, modifiers) = t
            && modifiers.is_empty()
        {
            let name = object_name(name)?;
            return match self.tables.types.get(&name) {
                Some(e) => Ok(DataType::Enum(e.oid)),
                None => Err(crate::enums::no_such_type(&name)),
            };
        }
        DataType::from_sql(t)
    }

    /// `e` cast to `t` (to an enum type: checked against its labels).
    pub(super) fn cast(&self, e: BExpr, t: DataType) -> BExpr {
        match t {
            DataType::Enum(oid) => match self.tables.enum_by_oid(oid) {
                Some(def) => BExpr::Enum(Box::new(e), def.clone()),
                None => BExpr::Cast(Box::new(e), t),
            },
            t => BExpr::Cast(Box::new(e), t),
        }
    }

    /// `bound` (bound from `e`) as a label of `other`'s enum type when
    /// `other` is of one and `e` is a quoted literal or a parameter: as
    /// PostgreSQL reads an untyped literal, so `mood > 'ok'` compares in
    /// the type's order (and a word that is no label is 22P02).
    pub(super) fn as_label(&self, other: &BExpr, e: &Expr, bound: BExpr) -> BExpr {
        match self.type_of(other) {
            Some(t @ DataType::Enum(_))
                if (string_literal(e) || placeholder(e).is_some())
                    && self.type_of(&bound) != Some(t) =>
            {
                self.cast(bound, t)
            }
            _ => bound,
        }
    }
}
