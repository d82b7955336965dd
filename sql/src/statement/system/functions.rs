//! The catalog and session functions and the catalog casts of a
//! statement (`pg_get_indexdef(…)`, `'t'::regclass`, `current_user`, …),
//! replaced by what they are at the statement: constants, or scalar
//! subqueries over VALUES lists of the catalog's rows.

use std::ops::ControlFlow;

use sqlparser::ast::{self, DataType as SqlType, Expr, ObjectName, ObjectNamePart};

use super::objects::{
    constraint_oid, constraints_of, index_def, index_oid, indexes_of, role_oid, table_oid,
};
use super::relations::{RELATIONS, Snapshot};
use super::rewrite::*;
use crate::compat::{INFORMATION_SCHEMA, PG_CATALOG, PUBLIC, TYPES, VERSION};
use crate::error::{Result, SqlError};
use crate::value::{DataType, Value};

impl Rewriter<'_> {
    pub(super) fn fail(&mut self, e: SqlError) -> ControlFlow<()> {
        self.error.get_or_insert(e);
        ControlFlow::Break(())
    }

    /// The catalog (read when the statement needs it).
    pub(super) fn snap(&self) -> Result<&Snapshot> {
        self.snapshot
            .ok_or_else(|| SqlError::internal("the system catalogs were not read"))
    }

    /// The constant text `e` is (a literal, or a parameter's value).
    pub(super) fn constant_text(&self, e: &Expr) -> Option<String> {
        match strip_nested(e) {
            Expr::Value(v) => match &v.value {
                ast::Value::SingleQuotedString(s) => Some(s.clone()),
                ast::Value::Number(n, _) => Some(n.clone()),
                ast::Value::Placeholder(p) => {
                    let i: usize = p.strip_prefix('$')?.parse().ok()?;
                    match self.params.get(i.checked_sub(1)?)? {
                        Value::Null => None,
                        v => Some(v.to_string()),
                    }
                }
                _ => None,
            },
            Expr::Cast {
                expr, data_type, ..
            } if matches!(data_type, SqlType::Text | SqlType::Varchar(_))
                || catalog_type(data_type).as_deref() == Some("text") =>
            {
                self.constant_text(expr)
            }
            _ => None,
        }
    }

    /// Every relation with its OID: (oid, name, namespace).
    pub(super) fn relations(&self) -> Result<Vec<(i64, String, i64)>> {
        let s = self.snap()?;
        let mut out = Vec::new();
        for def in &s.tables {
            out.push((table_oid(&def.name), def.name.clone(), PUBLIC));
            for ix in indexes_of(def) {
                out.push((index_oid(&ix.name), ix.name, PUBLIC));
            }
        }
        for v in &s.views {
            out.push((table_oid(&v.name), v.name.clone(), PUBLIC));
        }
        for q in &s.sequences {
            out.push((table_oid(&q.name), q.name.clone(), PUBLIC));
        }
        for r in RELATIONS {
            let ns = if r.schema == "pg_catalog" {
                PG_CATALOG
            } else {
                INFORMATION_SCHEMA
            };
            out.push((r.oid(), r.name.to_string(), ns));
        }
        Ok(out)
    }

    /// `'name'::regclass`: the OID of the relation named, or 42P01.
    pub(super) fn regclass_of(&self, name: &str) -> Result<i64> {
        if let Ok(n) = name.trim().parse::<i64>() {
            return Ok(n);
        }
        let parts = split_qualified(name);
        let (schema, rel) = match parts.as_slice() {
            [rel] => (None, rel.clone()),
            [schema, rel] => (Some(schema.clone()), rel.clone()),
            _ => {
                return Err(SqlError::syntax(format!(
                    "improper relation name (too many dotted names): {name}"
                )));
            }
        };
        let ns = match schema.as_deref() {
            None => None,
            Some("public") => Some(PUBLIC),
            Some("pg_catalog") => Some(PG_CATALOG),
            Some("information_schema") => Some(INFORMATION_SCHEMA),
            Some(other) => {
                return Err(SqlError::undefined_schema(format!(
                    "schema \"{other}\" does not exist"
                )));
            }
        };
        self.relations()?
            .into_iter()
            .filter(|(_, _, n)| ns.is_none_or(|want| *n == want))
            // Unqualified: pg_catalog, then public (the search path);
            // information_schema only qualified.
            .filter(|(_, _, n)| ns.is_some() || *n != INFORMATION_SCHEMA)
            .find(|(_, r, _)| *r == rel)
            .map(|(oid, _, _)| oid)
            .ok_or_else(|| SqlError::undefined_table(format!("relation \"{name}\" does not exist")))
    }

    /// The OID of the type named (`integer`, `int4`, `character varying`).
    /// The oid of enum type `name` (or of its array type, `name[]`), when
    /// the catalogs were read.
    fn enum_oid(&self, name: &str) -> Option<i64> {
        let (elem, array) = match name.trim().strip_suffix("[]") {
            Some(e) => (e, true),
            None => (name.trim(), false),
        };
        let t = self.snapshot?.enums.iter().find(|t| t.name == elem)?;
        Some(if array {
            crate::enums::array_oid(t)
        } else {
            i64::from(t.oid)
        })
    }

    pub(super) fn regtype_of(name: &str) -> Option<i64> {
        let n = name.trim().to_lowercase();
        let n = n.strip_prefix("pg_catalog.").unwrap_or(&n);
        if let Some(elem) = n.strip_suffix("[]") {
            return Self::regtype_of(elem)
                .and_then(|o| TYPES.iter().find(|t| t.oid == o))
                .map(|t| t.array);
        }
        let alias = match n {
            "int" | "integer" => "int4",
            "smallint" => "int2",
            "bigint" => "int8",
            "boolean" => "bool",
            "real" => "float4",
            "double precision" | "float" => "float8",
            "character varying" => "varchar",
            "character" => "bpchar",
            "decimal" => "numeric",
            "timestamp without time zone" => "timestamp",
            "timestamp with time zone" => "timestamptz",
            "time without time zone" => "time",
            other => other,
        };
        TYPES
            .iter()
            .find(|t| t.name == alias)
            .map(|t| t.oid)
            .or_else(|| {
                let elem = alias.strip_prefix('_')?;
                TYPES.iter().find(|t| t.name == elem).map(|t| t.array)
            })
    }

    /// Every relation: (oid → name) rows and (name → oid) rows (a name
    /// also with `public.`).
    pub(super) fn relation_rows(&self) -> Result<(Rows, Rows)> {
        let mut by_oid = Vec::new();
        let mut by_name = Vec::new();
        for (oid, name, ns) in self.relations()? {
            by_oid.push(vec![
                Value::Int(oid),
                Value::Text(crate::compat::quote_ident(&name)),
            ]);
            if ns != INFORMATION_SCHEMA {
                by_name.push(vec![Value::Text(name.clone()), Value::Int(oid)]);
            }
            let schema = match ns {
                PUBLIC => "public",
                PG_CATALOG => "pg_catalog",
                _ => "information_schema",
            };
            by_name.push(vec![
                Value::Text(format!("{schema}.{name}")),
                Value::Int(oid),
            ]);
        }
        Ok((by_oid, by_name))
    }

    pub(super) fn cast_expr(&mut self, e: &mut Expr) -> Result<()> {
        let Expr::Cast {
            expr: inner,
            data_type,
            ..
        } = e
        else {
            return Ok(());
        };
        // `x::regclass::oid`: the OID of the relation named by text x.
        if let Some(outer) = catalog_type(data_type).or_else(|| match data_type {
            SqlType::BigInt(_) | SqlType::Int(_) | SqlType::Integer(_) => Some("oid".into()),
            _ => None,
        }) && outer == "oid"
            && let Expr::Cast {
                expr: named,
                data_type: inner_type,
                ..
            } = strip_nested(inner)
            && catalog_type(inner_type).as_deref() == Some("regclass")
        {
            let named = (**named).clone();
            *e = self.regclass_by_name(named)?;
            return Ok(());
        }
        let Some(t) = catalog_type(data_type) else {
            return Ok(());
        };
        let inner = (**inner).clone();
        *e = match t.as_str() {
            "regclass" => match self.constant_text(&inner) {
                Some(name) => number(self.regclass_of(&name)?),
                None if textual(&inner) => self.regclass_by_name(inner)?,
                None => {
                    let (by_oid, _) = self.relation_rows()?;
                    lookup(vec![inner], &[DataType::Int], by_oid, DataType::Text)
                }
            },
            "regtype" => match self.constant_text(&inner) {
                Some(name) => match name.parse::<i64>() {
                    Ok(n) => number(n),
                    Err(_) => number(
                        Self::regtype_of(&name)
                            .or_else(|| self.enum_oid(&name))
                            .ok_or_else(|| crate::enums::no_such_type(&name))?,
                    ),
                },
                None => format_type_call(inner),
            },
            "regnamespace" => match self.constant_text(&inner) {
                Some(name) => number(match name.as_str() {
                    "pg_catalog" => PG_CATALOG,
                    "public" => PUBLIC,
                    "information_schema" => INFORMATION_SCHEMA,
                    other => other.parse().map_err(|_| {
                        SqlError::undefined_schema(format!("schema \"{other}\" does not exist"))
                    })?,
                }),
                None => lookup(
                    vec![inner],
                    &[DataType::Int],
                    vec![
                        vec![Value::Int(PG_CATALOG), Value::Text("pg_catalog".into())],
                        vec![Value::Int(PUBLIC), Value::Text("public".into())],
                        vec![
                            Value::Int(INFORMATION_SCHEMA),
                            Value::Text("information_schema".into()),
                        ],
                    ],
                    DataType::Text,
                ),
            },
            "regrole" => match self.constant_text(&inner) {
                Some(name) => number(match name.parse::<i64>() {
                    Ok(n) => n,
                    Err(_) => {
                        if self.snap()?.access.role(&name).is_none() {
                            return Err(SqlError::undefined_object(format!(
                                "role \"{name}\" does not exist"
                            )));
                        }
                        role_oid(&name)
                    }
                }),
                None => self.role_name(inner)?,
            },
            "oid" => cast(inner, DataType::Int),
            "regproc" | "regprocedure" => cast(inner, DataType::Text),
            "int2" | "int4" | "int8" => cast(inner, DataType::Int),
            "bool" => cast(inner, DataType::Bool),
            "float4" | "float8" => cast(inner, DataType::Float),
            _ => cast(inner, DataType::Text),
        };
        Ok(())
    }

    /// The OID of the relation named by the text `e` (NULL if none).
    pub(super) fn regclass_by_name(&self, e: Expr) -> Result<Expr> {
        if let Some(name) = self.constant_text(&e) {
            return Ok(number(self.regclass_of(&name)?));
        }
        let (_, by_name) = self.relation_rows()?;
        Ok(lookup(vec![e], &[DataType::Text], by_name, DataType::Int))
    }

    /// The name of the role whose OID `e` is.
    pub(super) fn role_name(&self, e: Expr) -> Result<Expr> {
        let rows = self
            .snap()?
            .access
            .roles()
            .map(|r| vec![Value::Int(role_oid(&r.name)), Value::Text(r.name.clone())])
            .collect();
        Ok(lookup(vec![e], &[DataType::Int], rows, DataType::Text))
    }

    pub(super) fn function(&mut self, e: &mut Expr) -> Result<()> {
        let Expr::Function(f) = e else { return Ok(()) };
        let (qualified, name) = function_name(f);
        if qualified {
            f.name = ObjectName(vec![ObjectNamePart::Identifier(ast::Ident::new(&name))]);
        }
        // `format_type` of an enum type's oid: its name (the built-in
        // types' are the evaluator's).
        if name == "format_type"
            && let Some(s) = self.snapshot.filter(|s| !s.enums.is_empty())
            && let Some([oid, _]) = call_args(f).as_deref()
        {
            let rows = s
                .enums
                .iter()
                .map(|t| vec![Value::Int(i64::from(t.oid)), Value::Text(t.name.clone())])
                .collect();
            let named = lookup(vec![oid.clone()], &[DataType::Int], rows, DataType::Text);
            *e = call("coalesce", vec![named, e.clone()]);
            return Ok(());
        }
        let known = SESSION_FUNCTIONS.contains(&name.as_str())
            || CATALOG_FUNCTIONS.contains(&name.as_str());
        if !known {
            return Ok(());
        }
        let Some(args) = call_args(f) else {
            return Err(SqlError::syntax(format!(
                "{name}: use positional arguments"
            )));
        };
        let arity = |range: std::ops::RangeInclusive<usize>| -> Result<()> {
            if range.contains(&args.len()) {
                Ok(())
            } else {
                Err(SqlError::undefined_function(format!(
                    "function {name} with {} arguments does not exist",
                    args.len()
                )))
            }
        };
        let arg = |i: usize| {
            args.get(i)
                .cloned()
                .unwrap_or(Expr::Value(ast::Value::Null.into()))
        };
        let null = || cast(Expr::Value(ast::Value::Null.into()), DataType::Text);
        *e = match name.as_str() {
            "current_user" | "session_user" | "user" | "current_role" => {
                arity(0..=0)?;
                text(self.user)
            }
            "current_schema" => {
                arity(0..=0)?;
                text("public")
            }
            "current_schemas" => {
                arity(1..=1)?;
                let with_implicit = match self.constant_text(&arg(0)).as_deref() {
                    Some(_) => true,
                    None => !matches!(
                        strip_nested(&arg(0)),
                        Expr::Value(v) if v.value == ast::Value::Boolean(false)
                    ),
                };
                text(if with_implicit {
                    "{pg_catalog,public}"
                } else {
                    "{public}"
                })
            }
            "current_database" | "current_catalog" => {
                arity(0..=0)?;
                text(&self.session.database)
            }
            "pg_backend_pid" => {
                arity(0..=0)?;
                number(self.session.backend_pid)
            }
            "version" => {
                arity(0..=0)?;
                text(VERSION)
            }
            "current_setting" => {
                arity(1..=2)?;
                let Some(setting) = self.constant_text(&arg(0)) else {
                    return Err(SqlError::not_supported(
                        "current_setting of a name computed by the query",
                    ));
                };
                let missing_ok = matches!(
                    strip_nested(&arg(1)),
                    Expr::Value(v) if v.value == ast::Value::Boolean(true)
                );
                match self.session.settings.get(&setting.to_lowercase()) {
                    Some(v) => text(v),
                    None if missing_ok => null(),
                    None => {
                        return Err(SqlError::undefined_object(format!(
                            "unrecognized configuration parameter \"{setting}\""
                        )));
                    }
                }
            }
            // Applied when the statement ends (its arguments constants).
            "set_config" => {
                arity(3..=3)?;
                let (Some(setting), Some(value)) =
                    (self.constant_text(&arg(0)), self.constant_text(&arg(1)))
                else {
                    return Err(SqlError::not_supported(
                        "set_config of a name or value computed by the query",
                    ));
                };
                let setting = setting.to_lowercase();
                crate::compat::check_settable(&setting)?;
                if !self.session.settings.contains_key(&setting) && !setting.contains('.') {
                    return Err(SqlError::undefined_object(format!(
                        "unrecognized configuration parameter \"{setting}\""
                    )));
                }
                // A zone is checked now and kept as SHOW writes it.
                let value = if setting == "timezone" {
                    crate::zone::Zone::setting(&value)?.1
                } else {
                    value
                };
                let local = match crate::constant_value(&arg(2), self.params)? {
                    Value::Null => false,
                    v => v.cast_to(DataType::Bool)? == Value::Bool(true),
                };
                self.session
                    .changed
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(crate::compat::SettingChange {
                        name: setting,
                        value: value.clone(),
                        local,
                    });
                text(&value)
            }
            "pg_encoding_to_char" => {
                arity(1..=1)?;
                lookup(
                    vec![arg(0)],
                    &[DataType::Int],
                    vec![vec![Value::Int(6), Value::Text("UTF8".into())]],
                    DataType::Text,
                )
            }
            // Comments on tables and columns (COMMENT ON); none on
            // shared objects.
            "obj_description" => {
                arity(1..=2)?;
                let comments = self.snap()?.comments.iter().filter(|c| c.1.is_empty());
                let with_catalog = args.len() == 2;
                let rows = comments
                    .map(|(table, _, text)| {
                        let mut row = vec![Value::Int(super::objects::table_oid(table))];
                        if with_catalog {
                            row.push(Value::Text("pg_class".into()));
                        }
                        row.push(Value::Text(text.clone()));
                        row
                    })
                    .collect();
                let (keys, types) = if with_catalog {
                    (vec![arg(0), arg(1)], &[DataType::Int, DataType::Text][..])
                } else {
                    (vec![arg(0)], &[DataType::Int][..])
                };
                lookup(keys, types, rows, DataType::Text)
            }
            "col_description" => {
                arity(2..=2)?;
                let rows = super::relations::pg_description(self.snap()?)
                    .into_iter()
                    .filter(|r| r[2] != Value::Int(0))
                    .map(|r| vec![r[0].clone(), r[2].clone(), r[3].clone()])
                    .collect();
                lookup(
                    vec![arg(0), arg(1)],
                    &[DataType::Int, DataType::Int],
                    rows,
                    DataType::Text,
                )
            }
            "shobj_description" => {
                arity(1..=2)?;
                null()
            }
            "pg_my_temp_schema" => {
                arity(0..=0)?;
                number(0)
            }
            // No publications.
            "pg_relation_is_publishable" => {
                arity(1..=1)?;
                Expr::Value(ast::Value::Boolean(false).into())
            }
            "pg_is_other_temp_schema" => {
                arity(1..=1)?;
                Expr::Value(ast::Value::Boolean(false).into())
            }
            // adbin, indpred and the like are kept as SQL text already.
            "pg_get_expr" => {
                arity(2..=3)?;
                arg(0)
            }
            // No partitions: a relation is its only ancestor.
            "pg_partition_ancestors" => {
                arity(1..=1)?;
                match self.constant_text(&arg(0)) {
                    Some(name) => number(self.regclass_of(&name)?),
                    None => arg(0),
                }
            }
            // Sizes are not tracked per relation here.
            "pg_table_size" | "pg_relation_size" | "pg_total_relation_size" | "pg_indexes_size" => {
                arity(1..=2)?;
                cast(Expr::Value(ast::Value::Null.into()), DataType::Int)
            }
            // No user functions, triggers, rules or statistics objects:
            // there is no OID these describe.
            "pg_get_function_result"
            | "pg_get_function_arguments"
            | "pg_get_function_identity_arguments"
            | "pg_get_triggerdef"
            | "pg_get_ruledef"
            | "pg_get_statisticsobjdef_columns" => {
                arity(1..=2)?;
                null()
            }
            "pg_type_is_visible" | "pg_function_is_visible" | "pg_collation_is_visible" => {
                arity(1..=1)?;
                Expr::Value(ast::Value::Boolean(true).into())
            }
            // Every role may use the schemas and connect to the database.
            "has_schema_privilege" | "has_database_privilege" => {
                arity(2..=3)?;
                Expr::Value(ast::Value::Boolean(true).into())
            }
            "pg_get_userbyid" => {
                arity(1..=1)?;
                self.role_name(arg(0))?
            }
            "pg_get_indexdef" => {
                arity(1..=3)?;
                let s = self.snap()?;
                let mut rows = Vec::new();
                for def in &s.tables {
                    for ix in indexes_of(def) {
                        let oid = index_oid(&ix.name);
                        rows.push(vec![
                            Value::Int(oid),
                            Value::Int(0),
                            Value::Text(index_def(def, &ix)),
                        ]);
                        for (n, c) in ix.columns.iter().enumerate() {
                            if let Some(col) = def.columns.get(*c) {
                                rows.push(vec![
                                    Value::Int(oid),
                                    Value::Int(n as i64 + 1),
                                    Value::Text(crate::compat::quote_ident(&col.name)),
                                ]);
                            }
                        }
                    }
                }
                let column = if args.len() >= 2 { arg(1) } else { number(0) };
                lookup(
                    vec![arg(0), column],
                    &[DataType::Int, DataType::Int],
                    rows,
                    DataType::Text,
                )
            }
            "pg_get_constraintdef" => {
                arity(1..=2)?;
                let s = self.snap()?;
                let rows = s
                    .tables
                    .iter()
                    .flat_map(|def| {
                        constraints_of(def, &s.tables).into_iter().map(|c| {
                            vec![
                                Value::Int(constraint_oid(&def.name, &c.name)),
                                Value::Text(c.definition),
                            ]
                        })
                    })
                    .collect();
                lookup(vec![arg(0)], &[DataType::Int], rows, DataType::Text)
            }
            "pg_get_viewdef" => {
                arity(1..=2)?;
                let s = self.snap()?;
                let mut rows = Vec::new();
                for v in &s.views {
                    rows.extend(by_any_name(&v.name, Value::Text(format!(" {};", v.sql))));
                }
                lookup(
                    vec![cast(arg(0), DataType::Text)],
                    &[DataType::Text],
                    rows,
                    DataType::Text,
                )
            }
            "pg_table_is_visible" => {
                arity(1..=1)?;
                let rows = self
                    .relations()?
                    .into_iter()
                    .map(|(oid, _, ns)| {
                        vec![Value::Int(oid), Value::Bool(ns != INFORMATION_SCHEMA)]
                    })
                    .collect();
                lookup(vec![arg(0)], &[DataType::Int], rows, DataType::Bool)
            }
            "pg_get_serial_sequence" => {
                arity(2..=2)?;
                let s = self.snap()?;
                let mut rows = Vec::new();
                for def in &s.tables {
                    for c in &def.columns {
                        if let Some(g) = &c.generated {
                            let seq = Value::Text(format!("public.{}", g.sequence));
                            for t in [def.name.clone(), format!("public.{}", def.name)] {
                                rows.push(vec![
                                    Value::Text(t),
                                    Value::Text(c.name.clone()),
                                    seq.clone(),
                                ]);
                            }
                        }
                    }
                }
                lookup(
                    vec![arg(0), arg(1)],
                    &[DataType::Text, DataType::Text],
                    rows,
                    DataType::Text,
                )
            }
            "has_table_privilege" => {
                arity(2..=3)?;
                let (who, table, privilege) = if args.len() == 3 {
                    (self.constant_text(&arg(0)), arg(1), arg(2))
                } else {
                    (Some(self.user.to_string()), arg(0), arg(1))
                };
                let Some(who) = who else {
                    return Err(SqlError::not_supported(
                        "has_table_privilege for a role computed by the query",
                    ));
                };
                let Some(wanted) = self.constant_text(&privilege) else {
                    return Err(SqlError::not_supported(
                        "has_table_privilege for privileges computed by the query",
                    ));
                };
                let mut bits = 0u8;
                for p in wanted.split(',') {
                    let p = p.trim().to_uppercase();
                    let p = p.strip_suffix(" WITH GRANT OPTION").unwrap_or(&p);
                    bits |= match crate::access::privilege::bit(p) {
                        Some(b) => b,
                        None => {
                            return Err(SqlError::invalid_parameter(format!(
                                "unrecognized privilege type: \"{p}\""
                            )));
                        }
                    };
                }
                let s = self.snap()?;
                let mut rows = Vec::new();
                for def in &s.tables {
                    let has = s.access.privileges(&who, def.id) & bits == bits;
                    rows.extend(by_any_name(&def.name, Value::Bool(has)));
                }
                lookup(
                    vec![cast(table, DataType::Text)],
                    &[DataType::Text],
                    rows,
                    DataType::Bool,
                )
            }
            "to_regclass" => {
                arity(1..=1)?;
                match self.constant_text(&arg(0)) {
                    Some(name) => match self.regclass_of(&name) {
                        Ok(oid) => number(oid),
                        Err(_) => cast(Expr::Value(ast::Value::Null.into()), DataType::Int),
                    },
                    None => self.regclass_by_name(arg(0))?,
                }
            }
            "to_regtype" => {
                arity(1..=1)?;
                let enums = self.snapshot.map_or(&[][..], |s| &s.enums[..]);
                let rows = TYPES
                    .iter()
                    .flat_map(|t| {
                        [
                            vec![Value::Text(t.name.into()), Value::Int(t.oid)],
                            vec![Value::Text(t.sql.into()), Value::Int(t.oid)],
                        ]
                    })
                    .chain(
                        enums
                            .iter()
                            .map(|t| vec![Value::Text(t.name.clone()), Value::Int(t.oid.into())]),
                    )
                    .collect();
                lookup(vec![arg(0)], &[DataType::Text], rows, DataType::Int)
            }
            _ => return Ok(()),
        };
        Ok(())
    }
}

/// Lookup rows that find `value` by the relation's OID (as text), its
/// name, or its name with `public.`.
fn by_any_name(name: &str, value: Value) -> [Vec<Value>; 3] {
    [
        vec![Value::Text(table_oid(name).to_string()), value.clone()],
        vec![Value::Text(name.to_string()), value.clone()],
        vec![Value::Text(format!("public.{name}")), value],
    ]
}

/// True when `e` is text by its form (a cast to text, a string function
/// call): `e::regclass` then names a relation by its name.
fn textual(e: &Expr) -> bool {
    match strip_nested(e) {
        Expr::Cast { data_type, .. } => {
            matches!(data_type, SqlType::Text | SqlType::Varchar(_))
                || catalog_type(data_type).as_deref() == Some("text")
        }
        Expr::Function(_) | Expr::Subquery(_) => true,
        Expr::BinaryOp {
            op: ast::BinaryOperator::StringConcat,
            ..
        } => true,
        _ => false,
    }
}

fn format_type_call(e: Expr) -> Expr {
    call("format_type", vec![e, Expr::Value(ast::Value::Null.into())])
}
