//! Spanlite's objects as PostgreSQL's catalogs show them: OIDs, column
//! types and defaults, owners, indexes (a primary key is `<table>_pkey`),
//! constraints and their definitions.

use super::relations::Snapshot;
use crate::access::{ADMIN, privilege};
use crate::catalog::{Column, RefAction, TableDef, Width};
use crate::compat::{default_text, format_type, oid_of};
use crate::value::{DataType, Value};

// ---------------------------------------------------------------------------
// Values

pub(super) fn i(n: i64) -> Value {
    Value::Int(n)
}

pub(super) fn t(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

pub(super) fn b(x: bool) -> Value {
    Value::Bool(x)
}

pub(super) fn null() -> Value {
    Value::Null
}

pub(super) fn yes_no(x: bool) -> Value {
    t(if x { "YES" } else { "NO" })
}

/// The OID of role `name` (the bootstrap superuser's is 10, as in
/// PostgreSQL).
pub(crate) fn role_oid(name: &str) -> i64 {
    if name == ADMIN {
        10
    } else {
        oid_of("role", name)
    }
}

/// Objects' OIDs.
pub(crate) fn table_oid(name: &str) -> i64 {
    oid_of("relation", name)
}

pub(crate) fn index_oid(name: &str) -> i64 {
    oid_of("relation", name)
}

pub(crate) fn constraint_oid(table: &str, name: &str) -> i64 {
    oid_of("constraint", &format!("{table}.{name}"))
}

pub(super) fn type_oid_of(name: &str) -> i64 {
    oid_of("type", name)
}

/// The column's type as PostgreSQL's catalogs show it: (type oid,
/// typmod).
pub(crate) fn column_type(c: &Column) -> (i64, i64) {
    let oid = type_oid(c.ty, c.width);
    let typmod = match c.width {
        Some(Width::Varchar(n) | Width::Char(n)) => n as i64 + 4,
        Some(Width::Numeric { precision, scale }) => {
            ((i64::from(precision) << 16) | i64::from(scale)) + 4
        }
        _ => -1,
    };
    (oid, typmod)
}

/// The oid of type `ty` declared with `width` (of an array type: its
/// elements' width).
fn type_oid(ty: DataType, width: Option<Width>) -> i64 {
    match (ty, width) {
        (DataType::Bool, _) => 16,
        (DataType::Int, Some(Width::Int2)) => 21,
        (DataType::Int, Some(Width::Int4)) => 23,
        (DataType::Int, _) => 20,
        (DataType::Float, _) => 701,
        (DataType::Text, Some(Width::Varchar(_))) => 1043,
        (DataType::Text, Some(Width::Char(_))) => 1042,
        (DataType::Text, _) => 25,
        (DataType::Bytes, _) => 17,
        (DataType::Timestamp, _) => 1114,
        (DataType::Date, _) => 1082,
        (DataType::TimestampTz, _) => 1184,
        (DataType::Numeric, _) => 1700,
        (DataType::Uuid, _) => 2950,
        (DataType::Jsonb, _) => 3802,
        (DataType::Time, _) => 1083,
        (DataType::Interval, _) => 1186,
        (DataType::Enum(oid), _) => i64::from(oid),
        (DataType::Array(e), w) => {
            crate::compat::array_type_oid(type_oid(e.ty(), w)).unwrap_or(1009)
        }
    }
}

/// The type of a system relation's column.
pub(super) fn system_type(ty: DataType) -> i64 {
    match ty {
        DataType::Int => 20,
        DataType::Bool => 16,
        DataType::Float => 701,
        _ => 25,
    }
}

/// The text a column's default shows as (`pg_get_expr(adbin)`,
/// `information_schema.columns.column_default`), if it has one.
pub(crate) fn column_default(c: &Column) -> Option<String> {
    if let Some(g) = &c.generated {
        return (!g.always).then(|| format!("nextval('{}'::regclass)", g.sequence));
    }
    if let Some(text) = &c.default_expr {
        return Some(text.clone());
    }
    let (oid, typmod) = column_type(c);
    c.default
        .as_ref()
        .filter(|v| **v != Value::Null)
        .map(|v| match (v, c.width) {
            // As a row stores it: with the column's scale.
            (Value::Numeric(n), Some(Width::Numeric { scale, .. })) if !n.0.is_sign_negative() => {
                let mut d = n.0;
                d.rescale(scale);
                d.to_string()
            }
            (Value::Enum(_), _) => format!(
                "'{}'::{}",
                v.to_string().replace('\'', "''"),
                c.enum_type.as_ref().map_or("text", |e| e.name.as_str())
            ),
            _ => default_text(v, &format_type(oid, Some(typmod))),
        })
}

/// The owner of table `def`: the role holding its OWNER privilege, or
/// the bootstrap superuser.
pub(super) fn owner_of(s: &Snapshot, def: &TableDef) -> String {
    s.access
        .grants_on(def.id)
        .find(|(_, bits)| bits & privilege::OWNER != 0)
        .map_or_else(|| ADMIN.to_string(), |(r, _)| r.to_string())
}

/// True when the session's user has some privilege on `def` (what
/// `information_schema` shows a user).
pub(super) fn visible(s: &Snapshot, def: &TableDef) -> bool {
    s.access.privileges(&s.user, def.id) != 0
}

/// The indexes of `def` as PostgreSQL has them: name, columns (attnums
/// from 1), unique, primary, valid. A primary key is the index
/// `<table>_pkey`.
pub(crate) struct IndexRow {
    pub name: String,
    pub columns: Vec<usize>,
    pub unique: bool,
    pub primary: bool,
    pub valid: bool,
}

pub(crate) fn indexes_of(def: &TableDef) -> Vec<IndexRow> {
    let mut out = Vec::new();
    if def.has_primary_key() {
        out.push(IndexRow {
            name: format!("{}_pkey", def.name),
            columns: def.primary_key.clone(),
            unique: true,
            primary: true,
            valid: true,
        });
    }
    for ix in &def.indexes {
        out.push(IndexRow {
            name: ix.name.clone(),
            columns: ix.columns.clone(),
            unique: ix.unique,
            primary: def.primary_index == Some(ix.id),
            valid: !ix.building,
        });
    }
    out
}

/// `CREATE [UNIQUE] INDEX …` as `pg_get_indexdef` gives it.
pub(crate) fn index_def(def: &TableDef, ix: &IndexRow) -> String {
    format!(
        "CREATE {}INDEX {} ON public.{} USING btree ({})",
        if ix.unique { "UNIQUE " } else { "" },
        crate::compat::quote_ident(&ix.name),
        crate::compat::quote_ident(&def.name),
        column_list(def, &ix.columns)
    )
}

pub(super) fn column_list(def: &TableDef, columns: &[usize]) -> String {
    columns
        .iter()
        .filter_map(|c| def.columns.get(*c))
        .map(|c| crate::compat::quote_ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A constraint as PostgreSQL's catalog has it.
pub(crate) struct ConstraintRow {
    pub name: String,
    /// `p`, `u`, `f`, `c`.
    pub kind: &'static str,
    pub columns: Vec<usize>,
    /// Its index (`p`, `u`), by name.
    pub index: Option<String>,
    /// A foreign key's parent table and columns, and ON UPDATE / ON
    /// DELETE.
    pub parent: Option<(String, Vec<usize>, RefAction, RefAction)>,
    /// A CHECK's condition.
    pub check: Option<String>,
    pub validated: bool,
    /// `pg_get_constraintdef`.
    pub definition: String,
}

pub(crate) fn constraints_of(def: &TableDef, tables: &[TableDef]) -> Vec<ConstraintRow> {
    let mut out = Vec::new();
    for ix in indexes_of(def) {
        if !ix.unique || !ix.valid {
            continue;
        }
        let kind = if ix.primary { "p" } else { "u" };
        out.push(ConstraintRow {
            definition: format!(
                "{} ({})",
                if ix.primary { "PRIMARY KEY" } else { "UNIQUE" },
                column_list(def, &ix.columns)
            ),
            name: ix.name.clone(),
            kind,
            columns: ix.columns.clone(),
            index: Some(ix.name),
            parent: None,
            check: None,
            validated: true,
        });
    }
    let pending = |name: &str| {
        def.pending.iter().any(|p| match &p.item {
            crate::catalog::PendingItem::Check(n) | crate::catalog::PendingItem::ForeignKey(n) => {
                n == name
            }
            _ => false,
        })
    };
    for fk in &def.foreign_keys {
        let parent = tables.iter().find(|p| p.name == fk.parent);
        let parent_cols = parent.map_or_else(String::new, |p| column_list(p, &fk.parent_columns));
        let action = |a: RefAction| match a {
            RefAction::Refuse => "",
            RefAction::Cascade => "CASCADE",
            RefAction::SetNull => "SET NULL",
        };
        let mut definition = format!(
            "FOREIGN KEY ({}) REFERENCES {}({})",
            column_list(def, &fk.columns),
            crate::compat::quote_ident(&fk.parent),
            parent_cols
        );
        for (what, a) in [("UPDATE", fk.on_update), ("DELETE", fk.on_delete)] {
            if a != RefAction::Refuse {
                definition.push_str(&format!(" ON {what} {}", action(a)));
            }
        }
        out.push(ConstraintRow {
            name: fk.name.clone(),
            kind: "f",
            columns: fk.columns.clone(),
            index: None,
            parent: Some((
                fk.parent.clone(),
                fk.parent_columns.clone(),
                fk.on_update,
                fk.on_delete,
            )),
            check: None,
            validated: !pending(&fk.name),
            definition,
        });
    }
    for c in &def.checks {
        out.push(ConstraintRow {
            name: c.name.clone(),
            kind: "c",
            columns: Vec::new(),
            index: None,
            parent: None,
            check: Some(c.expr.clone()),
            validated: !pending(&c.name),
            definition: format!("CHECK (({}))", c.expr),
        });
    }
    out
}

pub(super) fn attnums(columns: &[usize]) -> Vec<String> {
    columns.iter().map(|c| (c + 1).to_string()).collect()
}
