//! Finding and replacing what a statement asks of the system catalogs
//! and of the session (see the module above).

use std::ops::ControlFlow;

use sqlparser::ast::{
    self, CastKind, DataType as SqlType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    ObjectName, ObjectNamePart, Query, SetExpr, Statement, TableFactor, Visit, VisitMut, Visitor,
    VisitorMut,
};

use super::relations::{
    RELATIONS, Relation, Snapshot, constraint_oid, constraints_of, index_def, index_oid,
    indexes_of, role_oid, table_oid,
};
use crate::compat::{INFORMATION_SCHEMA, PG_CATALOG, PUBLIC, SessionInfo, TYPES, VERSION};
use crate::error::{Result, SqlError};
use crate::kv::KvTxn;
use crate::syntax::ident;
use crate::value::{DataType, Value};

/// The schemas a name may be qualified with.
const SCHEMAS: &[&str] = &["pg_catalog", "information_schema", "public"];

/// Functions answered from the session.
const SESSION_FUNCTIONS: &[&str] = &[
    "current_user",
    "session_user",
    "user",
    "current_role",
    "current_schema",
    "current_schemas",
    "current_database",
    "current_catalog",
    "pg_backend_pid",
    "version",
    "current_setting",
    "set_config",
    "pg_encoding_to_char",
    "obj_description",
    "col_description",
    "shobj_description",
    "pg_my_temp_schema",
    "pg_is_other_temp_schema",
    "pg_relation_is_publishable",
    "pg_get_expr",
    "pg_partition_ancestors",
    "pg_table_size",
    "pg_relation_size",
    "pg_total_relation_size",
    "pg_indexes_size",
    "pg_type_is_visible",
    "pg_function_is_visible",
    "pg_collation_is_visible",
    "has_schema_privilege",
    "has_database_privilege",
    "pg_get_function_result",
    "pg_get_function_arguments",
    "pg_get_function_identity_arguments",
    "pg_get_triggerdef",
    "pg_get_ruledef",
    "pg_get_statisticsobjdef_columns",
];

/// Set-returning functions a select list may call (moved to its FROM).
const SET_RETURNING: &[&str] = &["unnest", "generate_subscripts"];

/// Functions answered from the catalog.
const CATALOG_FUNCTIONS: &[&str] = &[
    "pg_get_userbyid",
    "pg_get_indexdef",
    "pg_get_constraintdef",
    "pg_get_viewdef",
    "pg_table_is_visible",
    "pg_get_serial_sequence",
    "has_table_privilege",
    "to_regclass",
    "to_regtype",
];

/// Types that are PostgreSQL's catalog types (`::regclass`, `::oid`, …).
const CATALOG_TYPES: &[&str] = &[
    "regclass",
    "regtype",
    "regproc",
    "regprocedure",
    "regnamespace",
    "regrole",
    "oid",
    "name",
    "char",
    "int2vector",
    "oidvector",
];

/// The system relation `name` names, if it names one: `Some(Err)` for a
/// name in a system schema that Spanlite does not provide (42P01).
fn system_relation(name: &ObjectName) -> Option<Result<&'static Relation>> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => ident(i),
            other => other.to_string(),
        })
        .collect();
    let (schema, rel) = match parts.as_slice() {
        [rel] if rel.starts_with("pg_") => ("pg_catalog", rel.as_str()),
        [schema, rel] if schema == "pg_catalog" || schema == "information_schema" => {
            (schema.as_str(), rel.as_str())
        }
        _ => return None,
    };
    match RELATIONS
        .iter()
        .find(|r| r.schema == schema && r.name == rel)
    {
        Some(r) => Some(Ok(r)),
        None if parts.len() == 2 => Some(Err(SqlError::undefined_table(format!(
            "relation \"{schema}.{rel}\" does not exist"
        )))),
        // An unqualified pg_… name that is no system relation may be a
        // table of the user's.
        None => None,
    }
}

fn function_name(f: &ast::Function) -> (bool, String) {
    let parts: Vec<String> = f
        .name
        .0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => ident(i),
            other => other.to_string(),
        })
        .collect();
    match parts.as_slice() {
        [schema, name] if schema == "pg_catalog" => (true, name.clone()),
        _ => (false, parts.join(".")),
    }
}

/// The catalog type a SQL type names (`regclass`, `pg_catalog.text` →
/// `text`), lower case, if it is one or is qualified with `pg_catalog`.
fn catalog_type(t: &SqlType) -> Option<String> {
    let SqlType::Custom(name, modifiers) = t else {
        return matches!(t, SqlType::Regclass).then(|| "regclass".to_string());
    };
    if !modifiers.is_empty() {
        return None;
    }
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => i.value.to_lowercase(),
            other => other.to_string(),
        })
        .collect();
    match parts.as_slice() {
        [t] if CATALOG_TYPES.contains(&t.as_str()) => Some(t.clone()),
        [schema, t] if schema == "pg_catalog" => Some(t.clone()),
        _ => None,
    }
}

/// What a statement needs rewritten.
#[derive(Default)]
struct Needs {
    /// Something at all.
    any: bool,
    /// The catalog's contents (a system relation, a catalog function or
    /// cast).
    catalog: bool,
}

struct Finder(Needs);

impl Visitor for Finder {
    type Break = ();

    fn pre_visit_relation(&mut self, name: &ObjectName) -> ControlFlow<()> {
        if system_relation(name).is_some() {
            self.0.any = true;
            self.0.catalog = true;
            return ControlFlow::Break(());
        }
        if name.0.len() == 2
            && let ObjectNamePart::Identifier(s) = &name.0[0]
            && ident(s) == "public"
        {
            self.0.any = true;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        match e {
            Expr::Function(f) => {
                let (qualified, name) = function_name(f);
                if CATALOG_FUNCTIONS.contains(&name.as_str()) {
                    self.0.catalog = true;
                    self.0.any = true;
                    return ControlFlow::Break(());
                }
                if qualified
                    || SESSION_FUNCTIONS.contains(&name.as_str())
                    || SET_RETURNING.contains(&name.as_str())
                {
                    self.0.any = true;
                }
            }
            Expr::Cast { data_type, .. } => {
                if let Some(t) = catalog_type(data_type) {
                    self.0.any = true;
                    if matches!(t.as_str(), "regclass" | "regrole" | "regnamespace") {
                        self.0.catalog = true;
                        return ControlFlow::Break(());
                    }
                }
            }
            Expr::Collate { .. } => self.0.any = true,
            Expr::AnyOp { right, .. } | Expr::AllOp { right, .. }
                if matches!(strip_nested(right), Expr::Array(_)) =>
            {
                self.0.any = true;
            }
            Expr::CompoundIdentifier(parts)
                if parts.len() >= 3 && SCHEMAS.contains(&ident(&parts[0]).as_str()) =>
            {
                self.0.any = true;
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

fn strip_nested(e: &Expr) -> &Expr {
    match e {
        Expr::Nested(inner) => strip_nested(inner),
        other => other,
    }
}

fn needs(stmt: &Statement) -> Needs {
    if !matches!(
        stmt,
        Statement::Query(_)
            | Statement::Insert(_)
            | Statement::Update { .. }
            | Statement::Delete(_)
    ) {
        return Needs::default();
    }
    let mut f = Finder(Needs::default());
    let _ = Visit::visit(stmt, &mut f);
    f.0
}

/// True when `stmt` names a system relation or calls a function answered
/// from the catalog or the session ([`expand`] rewrites it).
pub(crate) fn mentions(stmt: &Statement) -> bool {
    needs(stmt).any
}

/// `stmt` with its system relations, catalog and session functions
/// replaced by what they are at this statement (see the module above).
pub(crate) async fn expand(
    txn: &mut dyn KvTxn,
    stmt: &Statement,
    params: &[Value],
) -> Result<Statement> {
    let needs = needs(stmt);
    let user = txn.user().unwrap_or(crate::access::ADMIN).to_string();
    let snapshot = if needs.catalog {
        let tables = super::super::tables(txn).await?;
        let views = super::super::views::all_views(txn).await?;
        let (start, end) = crate::sequence::sequences_range();
        let pairs = txn.scan(&start, &end).await?;
        let sequences = crate::sequence::decode_sequences(&pairs)?
            .into_values()
            .collect();
        let access = txn.access().await?;
        Some(Snapshot {
            tables,
            views,
            sequences,
            access,
            user: user.clone(),
            session: txn.session().cloned().unwrap_or_else(default_session),
        })
    } else {
        None
    };
    let outside = default_session();
    let session = txn.session().unwrap_or(&outside);
    let mut stmt = stmt.clone();
    // Select items keep the names they had before their functions became
    // values (`SELECT version()` is a column `version`).
    let _ = VisitMut::visit(&mut stmt, &mut Names);
    let _ = VisitMut::visit(&mut stmt, &mut SetReturning);
    let mut r = Rewriter {
        snapshot: snapshot.as_ref(),
        session,
        user: &user,
        params,
        error: None,
        rows: std::collections::HashMap::new(),
    };
    let _ = VisitMut::visit(&mut stmt, &mut r);
    match r.error {
        Some(e) => Err(e),
        None => Ok(stmt),
    }
}

/// Names each unnamed select item that is a call or a cast as the binder
/// would have.
/// The session of statements run outside one (tools, tests).
fn default_session() -> SessionInfo {
    SessionInfo {
        database: "spanlite".into(),
        ..SessionInfo::default()
    }
}

struct Names;

impl VisitorMut for Names {
    type Break = ();

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(s) = q.body.as_mut() {
            for item in &mut s.projection {
                if let ast::SelectItem::UnnamedExpr(e) = item
                    && matches!(e, Expr::Function(_) | Expr::Cast { .. })
                {
                    let name = crate::bind::column_name(e);
                    *item = ast::SelectItem::ExprWithAlias {
                        expr: e.clone(),
                        alias: ast::Ident::with_quote('"', name),
                    };
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// `SELECT …, unnest(a) AS x, generate_subscripts(a, 1) AS i … FROM f` as
/// `SELECT …, s.element AS x, s.ordinality AS i … FROM f CROSS JOIN
/// LATERAL unnest(a) WITH ORDINALITY AS s(element, ordinality)`: one row
/// per element, as PostgreSQL's set-returning functions in a select list
/// give (calls over the same array share one unnest).
struct SetReturning;

impl VisitorMut for SetReturning {
    type Break = ();

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        let SetExpr::Select(s) = q.body.as_mut() else {
            return ControlFlow::Continue(());
        };
        let mut arrays: Vec<Expr> = Vec::new();
        for item in &mut s.projection {
            let (e, name) = match item {
                ast::SelectItem::UnnamedExpr(e) => {
                    let name = crate::bind::column_name(e);
                    (e, name)
                }
                ast::SelectItem::ExprWithAlias { expr, alias } => (expr, ident(alias)),
                _ => continue,
            };
            let Expr::Function(f) = &*e else { continue };
            let (_, fname) = function_name(f);
            let Some(args) = call_args(f) else { continue };
            let (array, column) = match (fname.as_str(), args.as_slice()) {
                ("unnest", [a]) => (a.clone(), "element"),
                ("generate_subscripts", [a, _]) => (a.clone(), "ordinality"),
                _ => continue,
            };
            let k = match arrays.iter().position(|x| *x == array) {
                Some(k) => k,
                None => {
                    arrays.push(array);
                    arrays.len() - 1
                }
            };
            let replaced = Expr::CompoundIdentifier(vec![
                ast::Ident::with_quote('"', format!("spanlite_srf{k}")),
                ast::Ident::with_quote('"', column),
            ]);
            *item = ast::SelectItem::ExprWithAlias {
                expr: replaced,
                alias: ast::Ident::with_quote('"', name),
            };
        }
        for (k, array) in arrays.into_iter().enumerate() {
            let factor = TableFactor::UNNEST {
                alias: Some(alias(
                    &format!("spanlite_srf{k}"),
                    &["element", "ordinality"],
                )),
                array_exprs: vec![array],
                with_offset: false,
                with_offset_alias: None,
                with_ordinality: true,
            };
            match s.from.last_mut() {
                Some(twj) => twj.joins.push(ast::Join {
                    relation: factor,
                    global: false,
                    join_operator: ast::JoinOperator::CrossJoin(ast::JoinConstraint::None),
                }),
                None => s.from.push(ast::TableWithJoins {
                    relation: factor,
                    joins: Vec::new(),
                }),
            }
        }
        ControlFlow::Continue(())
    }
}

struct Rewriter<'a> {
    snapshot: Option<&'a Snapshot>,
    session: &'a SessionInfo,
    user: &'a str,
    params: &'a [Value],
    error: Option<SqlError>,
    /// The rows of each system relation computed so far.
    rows: std::collections::HashMap<&'static str, std::rc::Rc<Vec<Vec<Value>>>>,
}

fn number(n: i64) -> Expr {
    Expr::Value(ast::Value::Number(n.to_string(), false).into())
}

fn text(s: &str) -> Expr {
    Expr::Value(ast::Value::SingleQuotedString(s.to_string()).into())
}

fn cast(e: Expr, t: DataType) -> Expr {
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(e),
        data_type: sql_type(t),
        format: None,
    }
}

fn sql_type(t: DataType) -> SqlType {
    match t {
        DataType::Int => SqlType::BigInt(None),
        DataType::Bool => SqlType::Boolean,
        DataType::Float => SqlType::DoublePrecision,
        _ => SqlType::Text,
    }
}

/// `v` as an expression of type `t`.
fn literal(v: &Value, t: DataType) -> Expr {
    match v {
        Value::Null => cast(Expr::Value(ast::Value::Null.into()), t),
        Value::Int(n) if t == DataType::Int => number(*n),
        Value::Bool(b) => Expr::Value(ast::Value::Boolean(*b).into()),
        Value::Float(x) => cast(text(&x.to_string()), DataType::Float),
        other => cast(text(&other.to_string()), t),
    }
}

/// A query of `rows` (typed as `types`), or of no rows of those types.
fn rows_query(rows: &[Vec<Value>], types: &[DataType]) -> Query {
    if rows.is_empty() {
        let items: Vec<String> = types
            .iter()
            .map(|t| format!("CAST(NULL AS {})", sql_type(*t)))
            .collect();
        let sql = format!("SELECT {} WHERE false", items.join(", "));
        if let Ok(mut s) = crate::syntax::parse(&sql)
            && let Some(Statement::Query(q)) = s.pop()
        {
            return *q;
        }
    }
    let rows = rows
        .iter()
        .map(|r| {
            r.iter()
                .zip(types)
                .map(|(v, t)| match (v, t) {
                    (Value::Text(s), DataType::Text) => text(s),
                    _ => literal(v, *t),
                })
                .collect()
        })
        .collect();
    super::super::rewrite::values_query(rows)
}

fn alias(name: &str, columns: &[&str]) -> ast::TableAlias {
    ast::TableAlias {
        name: ast::Ident::with_quote('"', name),
        columns: columns
            .iter()
            .map(|c| ast::TableAliasColumnDef {
                name: ast::Ident::with_quote('"', *c),
                data_type: None,
            })
            .collect(),
    }
}

/// `(SELECT value FROM (rows) AS l(key0, …, value) WHERE key0 = keys[0]
/// AND … LIMIT 1)`: what a catalog function gives for its arguments.
fn lookup(keys: Vec<Expr>, key_types: &[DataType], rows: Vec<Vec<Value>>, value: DataType) -> Expr {
    let mut names: Vec<String> = (0..keys.len()).map(|i| format!("lookup_key{i}")).collect();
    names.push("lookup_value".into());
    let mut types = key_types.to_vec();
    types.push(value);
    let table = TableFactor::Derived {
        lateral: false,
        subquery: Box::new(rows_query(&rows, &types)),
        alias: Some(alias(
            "spanlite_lookup",
            &names.iter().map(String::as_str).collect::<Vec<_>>(),
        )),
    };
    let condition = keys
        .into_iter()
        .enumerate()
        .map(|(i, k)| Expr::BinaryOp {
            left: Box::new(Expr::Identifier(ast::Ident::with_quote(
                '"',
                format!("lookup_key{i}"),
            ))),
            op: ast::BinaryOperator::Eq,
            right: Box::new(k),
        })
        .reduce(|a, b| Expr::BinaryOp {
            left: Box::new(a),
            op: ast::BinaryOperator::And,
            right: Box::new(b),
        });
    let template = "SELECT lookup_value FROM t LIMIT 1";
    let mut q = match crate::syntax::parse(template)
        .ok()
        .and_then(|mut s| s.pop())
    {
        Some(Statement::Query(q)) => *q,
        _ => return Expr::Value(ast::Value::Null.into()),
    };
    if let SetExpr::Select(s) = q.body.as_mut() {
        if let Some(from) = s.from.first_mut() {
            from.relation = table;
        }
        s.selection = condition;
    }
    Expr::Subquery(Box::new(q))
}

/// The arguments of a call, as expressions (`None` for `f(*)` or named
/// arguments).
fn call_args(f: &ast::Function) -> Option<Vec<Expr>> {
    match &f.args {
        FunctionArguments::None => Some(Vec::new()),
        FunctionArguments::List(l) => l
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                _ => None,
            })
            .collect(),
        FunctionArguments::Subquery(_) => None,
    }
}

fn split_qualified(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            '"' => quoted = !quoted,
            '.' if !quoted => out.push(std::mem::take(&mut cur)),
            c if quoted => cur.push(c),
            c => cur.extend(c.to_lowercase()),
        }
    }
    out.push(cur);
    out
}

impl Rewriter<'_> {
    fn fail(&mut self, e: SqlError) -> ControlFlow<()> {
        self.error.get_or_insert(e);
        ControlFlow::Break(())
    }

    /// The catalog (read when the statement needs it).
    fn snap(&self) -> Result<&Snapshot> {
        self.snapshot
            .ok_or_else(|| SqlError::internal("the system catalogs were not read"))
    }

    /// The constant text `e` is (a literal, or a parameter's value).
    fn constant_text(&self, e: &Expr) -> Option<String> {
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
    fn relations(&self) -> Result<Vec<(i64, String, i64)>> {
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
    fn regclass_of(&self, name: &str) -> Result<i64> {
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
    fn regtype_of(name: &str) -> Option<i64> {
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
    fn relation_rows(&self) -> Result<(Rows, Rows)> {
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

    fn cast_expr(&mut self, e: &mut Expr) -> Result<()> {
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
                    Err(_) => number(Self::regtype_of(&name).ok_or_else(|| {
                        SqlError::undefined_object(format!("type \"{name}\" does not exist"))
                    })?),
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
    fn regclass_by_name(&self, e: Expr) -> Result<Expr> {
        if let Some(name) = self.constant_text(&e) {
            return Ok(number(self.regclass_of(&name)?));
        }
        let (_, by_name) = self.relation_rows()?;
        Ok(lookup(vec![e], &[DataType::Text], by_name, DataType::Int))
    }

    /// The name of the role whose OID `e` is.
    fn role_name(&self, e: Expr) -> Result<Expr> {
        let rows = self
            .snap()?
            .access
            .roles()
            .map(|r| vec![Value::Int(role_oid(&r.name)), Value::Text(r.name.clone())])
            .collect();
        Ok(lookup(vec![e], &[DataType::Int], rows, DataType::Text))
    }

    fn function(&mut self, e: &mut Expr) -> Result<()> {
        let Expr::Function(f) = e else { return Ok(()) };
        let (qualified, name) = function_name(f);
        if qualified {
            f.name = ObjectName(vec![ObjectNamePart::Identifier(ast::Ident::new(&name))]);
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
                if !self.session.settings.contains_key(&setting) && !setting.contains('.') {
                    return Err(SqlError::undefined_object(format!(
                        "unrecognized configuration parameter \"{setting}\""
                    )));
                }
                self.session
                    .changed
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push((setting, value.clone()));
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
            // Spanlite keeps no comments (COMMENT ON is not supported).
            "obj_description" | "col_description" | "shobj_description" => {
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
                let rows = TYPES
                    .iter()
                    .flat_map(|t| {
                        [
                            vec![Value::Text(t.name.into()), Value::Int(t.oid)],
                            vec![Value::Text(t.sql.into()), Value::Int(t.oid)],
                        ]
                    })
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

/// `name(args…)`.
fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(ast::Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(ast::Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(ast::FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

/// `ARRAY(q)` as `(SELECT array_agg(element) FROM (q) AS elements(element))`.
fn array_of(q: &Query) -> Expr {
    let template = "SELECT array_agg(element) FROM t";
    let mut outer = match crate::syntax::parse(template)
        .ok()
        .and_then(|mut s| s.pop())
    {
        Some(Statement::Query(q)) => *q,
        _ => return Expr::Value(ast::Value::Null.into()),
    };
    if let SetExpr::Select(s) = outer.body.as_mut()
        && let Some(from) = s.from.first_mut()
    {
        from.relation = TableFactor::Derived {
            lateral: false,
            subquery: Box::new(q.clone()),
            alias: Some(alias("elements", &["element"])),
        };
    }
    Expr::Subquery(Box::new(outer))
}

impl VisitorMut for Rewriter<'_> {
    type Break = ();

    fn post_visit_table_factor(&mut self, f: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table {
            name,
            alias: given,
            args: None,
            ..
        } = f
        else {
            return ControlFlow::Continue(());
        };
        let relation = match system_relation(name) {
            Some(Ok(r)) => r,
            Some(Err(e)) => return self.fail(e),
            None => {
                // `public.t` is `t`.
                if name.0.len() == 2
                    && let ObjectNamePart::Identifier(s) = &name.0[0]
                    && ident(s) == "public"
                {
                    name.0.remove(0);
                }
                return ControlFlow::Continue(());
            }
        };
        let Some(snap) = self.snapshot else {
            return self.fail(SqlError::internal("the system catalogs were not read"));
        };
        let rows = self
            .rows
            .entry(relation.name)
            .or_insert_with(|| std::rc::Rc::new((relation.rows)(snap)))
            .clone();
        let types: Vec<DataType> = relation.columns.iter().map(|(_, t)| *t).collect();
        let names: Vec<&str> = relation.columns.iter().map(|(n, _)| *n).collect();
        let alias = match given.take() {
            Some(a) if !a.columns.is_empty() => a,
            Some(a) => ast::TableAlias {
                name: a.name,
                columns: alias("x", &names).columns,
            },
            None => alias(relation.name, &names),
        };
        *f = TableFactor::Derived {
            lateral: false,
            subquery: Box::new(rows_query(&rows, &types)),
            alias: Some(alias),
        };
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        if let Some(snap) = self.snapshot {
            let empty = |r: &'static Relation, cache: &mut Cache| {
                cache
                    .entry(r.name)
                    .or_insert_with(|| std::rc::Rc::new((r.rows)(snap)))
                    .is_empty()
            };
            let mut pruned = false;
            prune_body(
                q.body.as_mut(),
                &mut |r| empty(r, &mut self.rows),
                &mut pruned,
            );
            // A query of no rows needs no order (and its ORDER BY may name
            // columns of the FROM items it no longer has).
            if pruned && matches!(q.body.as_ref(), SetExpr::Select(_)) {
                q.order_by = None;
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if matches!(e, Expr::Cast { .. })
            && let Err(err) = self.cast_expr(e)
        {
            return self.fail(err);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        match e {
            // `ARRAY(subquery)`: its rows as an array (in text form, as
            // `array_agg` gives it).
            Expr::Function(f)
                if function_name(f).1 == "array"
                    && matches!(f.args, FunctionArguments::Subquery(_)) =>
            {
                if let FunctionArguments::Subquery(q) = &f.args {
                    *e = array_of(q);
                }
            }
            Expr::Function(_) => {
                if let Err(err) = self.function(e) {
                    return self.fail(err);
                }
            }
            Expr::Collate { expr, .. } => {
                let inner = std::mem::replace(expr.as_mut(), Expr::Value(ast::Value::Null.into()));
                *e = inner;
            }
            Expr::CompoundIdentifier(parts)
                if parts.len() >= 3 && SCHEMAS.contains(&ident(&parts[0]).as_str()) =>
            {
                parts.remove(0);
            }
            // `x = ANY (array)` of an array value: its position in it.
            Expr::AnyOp {
                left,
                compare_op: ast::BinaryOperator::Eq,
                right,
                ..
            } if !matches!(strip_nested(right), Expr::Array(_) | Expr::Subquery(_)) => {
                let call = call("array_position", vec![(**right).clone(), (**left).clone()]);
                *e = Expr::IsNotNull(Box::new(call));
            }
            Expr::AnyOp {
                left,
                compare_op,
                right,
                ..
            } if matches!(strip_nested(right), Expr::Array(_)) => {
                if let Expr::Array(a) = strip_nested(right) {
                    let list = a.elem.clone();
                    *e = in_list(left, compare_op, list, false);
                }
            }
            Expr::AllOp {
                left,
                compare_op,
                right,
            } if matches!(strip_nested(right), Expr::Array(_)) => {
                if let Expr::Array(a) = strip_nested(right) {
                    let list = a.elem.clone();
                    *e = in_list(left, compare_op, list, true);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

type Rows = Vec<Vec<Value>>;
type Cache = std::collections::HashMap<&'static str, std::rc::Rc<Rows>>;

/// Empty-relation elimination: a SELECT block (without aggregates) that
/// joins, inner or as the left side of a LEFT JOIN, a system relation
/// with no rows has no rows; it becomes `SELECT NULL AS name, … WHERE
/// false` with its select list's names. (The catalogs of things Spanlite
/// has none of — triggers, policies, publications — are read with
/// functions and forms it need not bind then.)
fn prune_body(
    b: &mut SetExpr,
    empty: &mut dyn FnMut(&'static Relation) -> bool,
    pruned: &mut bool,
) {
    match b {
        SetExpr::SetOperation { left, right, .. } => {
            prune_body(left, empty, pruned);
            prune_body(right, empty, pruned);
        }
        SetExpr::Select(s) => {
            let is_empty = |f: &TableFactor, empty: &mut dyn FnMut(&'static Relation) -> bool| {
                matches!(f, TableFactor::Table { name, args: None, .. }
                    if matches!(system_relation(name), Some(Ok(r)) if empty(r)))
            };
            let mut no_rows = false;
            for twj in &s.from {
                let mut left_empty = is_empty(&twj.relation, empty);
                for j in &twj.joins {
                    use ast::JoinOperator as J;
                    let right_empty = is_empty(&j.relation, empty);
                    left_empty = match &j.join_operator {
                        J::Join(_) | J::Inner(_) | J::CrossJoin(_) => left_empty || right_empty,
                        J::Left(_) | J::LeftOuter(_) => left_empty,
                        J::Right(_) | J::RightOuter(_) => right_empty,
                        _ => false,
                    };
                }
                no_rows |= left_empty;
            }
            if !no_rows || aggregates(s) {
                return;
            }
            let mut items = Vec::new();
            for item in &s.projection {
                let name = match item {
                    ast::SelectItem::UnnamedExpr(e) => crate::bind::column_name(e),
                    ast::SelectItem::ExprWithAlias { alias, .. } => ident(alias),
                    _ => return,
                };
                items.push(ast::SelectItem::ExprWithAlias {
                    expr: Expr::Value(ast::Value::Null.into()),
                    alias: ast::Ident::with_quote('"', name),
                });
            }
            s.projection = items;
            s.from.clear();
            s.selection = Some(Expr::Value(ast::Value::Boolean(false).into()));
            s.group_by = ast::GroupByExpr::Expressions(Vec::new(), Vec::new());
            s.having = None;
            s.distinct = None;
            *pruned = true;
        }
        _ => {}
    }
}

/// True when `s` aggregates without GROUP BY (it has a row even of no
/// input).
fn aggregates(s: &ast::Select) -> bool {
    let grouped = !matches!(&s.group_by, ast::GroupByExpr::Expressions(e, _) if e.is_empty());
    if grouped {
        return false;
    }
    fn has_aggregate(e: &Expr) -> bool {
        if let Expr::Function(f) = e
            && f.over.is_none()
            && crate::plan::AggFunc::named(&function_name(f).1).is_some()
        {
            return true;
        }
        crate::bind::ast_children(e).into_iter().any(has_aggregate)
    }
    s.having.is_some()
        || s.projection.iter().any(|item| match item {
            ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } => {
                has_aggregate(e)
            }
            _ => false,
        })
}

/// `x = ANY (ARRAY[…])` as `x IN (…)`, `x <> ALL (ARRAY[…])` as `x NOT
/// IN (…)`; other comparisons as an OR (ANY) or AND (ALL) of them.
fn in_list(left: &Expr, op: &ast::BinaryOperator, list: Vec<Expr>, all: bool) -> Expr {
    use ast::BinaryOperator as B;
    match (op, all) {
        (B::Eq, false) | (B::NotEq, true) if !list.is_empty() => Expr::InList {
            expr: Box::new(left.clone()),
            list,
            negated: all,
        },
        _ => list
            .into_iter()
            .map(|x| Expr::BinaryOp {
                left: Box::new(left.clone()),
                op: op.clone(),
                right: Box::new(x),
            })
            .reduce(|a, b| {
                Expr::Nested(Box::new(Expr::BinaryOp {
                    left: Box::new(a),
                    op: if all { B::And } else { B::Or },
                    right: Box::new(b),
                }))
            })
            .unwrap_or(Expr::Value(ast::Value::Boolean(all).into())),
    }
}
