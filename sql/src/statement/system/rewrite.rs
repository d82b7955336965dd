//! Finding and replacing what a statement asks of the system catalogs
//! and of the session (see the module above).

use std::ops::ControlFlow;

use sqlparser::ast::{
    self, CastKind, DataType as SqlType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    ObjectName, ObjectNamePart, Query, SetExpr, Statement, TableFactor, Visit, VisitMut, Visitor,
    VisitorMut,
};

use super::relations::{RELATIONS, Relation, Snapshot};
use crate::compat::SessionInfo;
use crate::error::{Result, SqlError};
use crate::kv::KvTxn;
use crate::syntax::ident;
use crate::value::{DataType, Value};

/// The schemas a name may be qualified with.
pub(super) const SCHEMAS: &[&str] = &["pg_catalog", "information_schema", "public"];

/// Functions answered from the session.
pub(super) const SESSION_FUNCTIONS: &[&str] = &[
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
const SET_RETURNING: &[&str] = &[
    "unnest",
    "generate_subscripts",
    "generate_series",
    "regexp_split_to_table",
    "regexp_matches",
];

/// Functions answered from the catalog.
pub(super) const CATALOG_FUNCTIONS: &[&str] = &[
    "pg_get_userbyid",
    "pg_get_indexdef",
    "pg_get_constraintdef",
    "pg_get_viewdef",
    "pg_table_is_visible",
    "pg_get_serial_sequence",
    "has_table_privilege",
    "to_regclass",
    "to_regtype",
    "obj_description",
    "col_description",
];

/// Types that are PostgreSQL's catalog types (`::regclass`, `::oid`, …).
pub(super) const CATALOG_TYPES: &[&str] = &[
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

pub(super) fn function_name(f: &ast::Function) -> (bool, String) {
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
pub(super) fn catalog_type(t: &SqlType) -> Option<String> {
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
                    || (name == "array" && matches!(f.args, FunctionArguments::Subquery(_)))
                    || SESSION_FUNCTIONS.contains(&name.as_str())
                    || SET_RETURNING.contains(&name.as_str())
                    || crate::json::Rows::of(&name).is_some()
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
            // `x = ANY ('{1,2}')`, `x = ANY ($1)`: an array in its text
            // form (how drivers send a list).
            Expr::AnyOp {
                right,
                compare_op: ast::BinaryOperator::Eq,
                ..
            } if !matches!(strip_nested(right), Expr::Subquery(_)) => {
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

pub(super) fn strip_nested(e: &Expr) -> &Expr {
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
        let enums = super::super::types::all_enums(txn).await?;
        let extensions = super::super::extensions::all_extensions(txn).await?;
        let comments = super::super::comments::all_comments(txn).await?;
        Some(Snapshot {
            comments,
            tables,
            views,
            sequences,
            extensions,
            enums,
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
    let mut set_returning = SetReturning { error: None };
    let _ = VisitMut::visit(&mut stmt, &mut set_returning);
    if let Some(e) = set_returning.error {
        return Err(e);
    }
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

/// `SELECT …, unnest(a) AS x, unnest(b) AS y … FROM f` as `SELECT …,
/// s.element0 AS x, s.element1 AS y … FROM f CROSS JOIN LATERAL unnest(a,
/// b) WITH ORDINALITY AS s(element0, element1, ordinality)`: one row per
/// element, the arrays in step (NULL past a shorter one's end), as
/// PostgreSQL's set-returning functions in a select list give (calls over
/// the same array share its column; `generate_subscripts(a, 1)` is the
/// ordinality while it is a subscript of `a`).
struct SetReturning {
    /// A select list this rewrite cannot give PostgreSQL's rows for.
    error: Option<SqlError>,
}

impl VisitorMut for SetReturning {
    type Break = ();

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        let SetExpr::Select(s) = q.body.as_mut() else {
            return ControlFlow::Continue(());
        };
        let mut arrays: Vec<Expr> = Vec::new();
        // A JSON set-returning function: one (the same call again shares
        // its rows), as `CROSS JOIN jsonb_…(doc) AS spanlite_js(value)`,
        // wherever it sits in an item's expression.
        let mut json: Option<(String, Expr)> = None;
        for item in &mut s.projection {
            let replaced = match item {
                ast::SelectItem::UnnamedExpr(e) => {
                    let name = crate::bind::column_name(e);
                    let replaced = replace_json_rows(e, &mut json);
                    if replaced {
                        *item = ast::SelectItem::ExprWithAlias {
                            expr: e.clone(),
                            alias: ast::Ident::with_quote('"', name),
                        };
                    }
                    replaced
                }
                ast::SelectItem::ExprWithAlias { expr, .. } => replace_json_rows(expr, &mut json),
                _ => false,
            };
            if replaced {
                continue;
            }
            let (e, name) = match item {
                ast::SelectItem::UnnamedExpr(e) => {
                    let name = crate::bind::column_name(e);
                    (e, name)
                }
                ast::SelectItem::ExprWithAlias { expr, alias } => (expr, ident(alias)),
                _ => continue,
            };
            // The call, or one under parentheses, casts and subscripts
            // (`(regexp_matches(s, p))[1]`), which stay around its rows.
            let mut whole = e.clone();
            let call = set_call(&mut whole);
            let Expr::Function(f) = &*call else { continue };
            let (_, fname) = function_name(f);
            let Some(args) = call_args(f) else { continue };
            let (array, element) = match (fname.as_str(), args.as_slice()) {
                ("unnest", [a]) => (a.clone(), true),
                // A second JSON set-returning function of one column: its
                // rows as an array (the first is crossed with the row, or
                // made an array below).
                (name, [_])
                    if crate::json::Rows::of(name).is_some_and(|r| {
                        !matches!(
                            r,
                            crate::json::Rows::Each { .. } | crate::json::Rows::Records { .. }
                        )
                    }) =>
                {
                    let ast::FunctionArguments::List(list) = &f.args else {
                        continue;
                    };
                    let Some(array) = rows_as_array(&f.name, &list.args) else {
                        continue;
                    };
                    (array, true)
                }
                // Its values as an array, computed for each row (its
                // arguments may name the row's columns).
                ("generate_series", [_, _] | [_, _, _]) => {
                    let mut array = call.clone();
                    if let Expr::Function(g) = &mut array {
                        g.name = ObjectName(vec![ObjectNamePart::Identifier(ast::Ident::new(
                            crate::plan::SERIES_ARRAY,
                        ))]);
                    }
                    (array, true)
                }
                ("generate_subscripts", [a, _]) => (a.clone(), false),
                // The elements of regexp_split_to_array(…), the matches of
                // regexp_matches(…).
                ("regexp_split_to_table" | "regexp_matches", [_, _] | [_, _, _]) => {
                    let ast::FunctionArguments::List(list) = &f.args else {
                        continue;
                    };
                    let Some(array) = crate::statement::rewrite::set_as_array(&fname, &list.args)
                    else {
                        continue;
                    };
                    (array, true)
                }
                _ => continue,
            };
            let k = match arrays.iter().position(|x| *x == array) {
                Some(k) => k,
                None => {
                    arrays.push(array);
                    arrays.len() - 1
                }
            };
            *call = if element {
                Expr::CompoundIdentifier(vec![
                    ast::Ident::with_quote('"', SRF_ROWS),
                    ast::Ident::with_quote('"', format!("element{k}")),
                ])
            } else {
                // The row number while it is a subscript of its array, then
                // NULL (the rows of a longer array beside it).
                let Some(e) = subscript_of(&arrays[k]) else {
                    continue;
                };
                e
            };
            *item = ast::SelectItem::ExprWithAlias {
                expr: whole,
                alias: ast::Ident::with_quote('"', name),
            };
        }
        // PostgreSQL runs a select list's set-returning functions in step
        // (row i of each, NULL past a shorter one's end): arrays (and
        // generate_series' values) are unnested together below. A JSON
        // function alone is crossed with the row; beside the others
        // (crossing would multiply them) its rows are made an array
        // (`ARRAY(SELECT value FROM f(…) AS r(value))`) and unnested in
        // step with them.
        if !arrays.is_empty()
            && let Some((function, doc)) = json.take()
        {
            let name = ObjectName(vec![ObjectNamePart::Identifier(ast::Ident::new(function))]);
            let args = vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(doc))];
            let Some(array) = rows_as_array(&name, &args) else {
                self.error = Some(SqlError::internal(
                    "a set-returning function's rows did not make an array",
                ));
                return ControlFlow::Break(());
            };
            arrays.push(array);
            let element = Expr::CompoundIdentifier(vec![
                ast::Ident::with_quote('"', SRF_ROWS),
                ast::Ident::with_quote('"', format!("element{}", arrays.len() - 1)),
            ]);
            let _ = ast::visit_expressions_mut(&mut s.projection, |e| {
                if matches!(e, Expr::CompoundIdentifier(ids)
                    if ids.len() == 2 && ids[0].value == JSON_ROWS && ids[1].value == "value")
                {
                    *e = element.clone();
                }
                ControlFlow::<()>::Continue(())
            });
        }
        if let Some((function, doc)) = json {
            let factor = TableFactor::Function {
                lateral: true,
                name: ObjectName(vec![ObjectNamePart::Identifier(ast::Ident::new(function))]),
                args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(doc))],
                alias: Some(alias(JSON_ROWS, &["value"])),
            };
            cross_join(&mut s.from, factor);
        }
        if !arrays.is_empty() {
            let mut columns: Vec<String> =
                (0..arrays.len()).map(|k| format!("element{k}")).collect();
            columns.push("ordinality".to_string());
            let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
            let factor = TableFactor::UNNEST {
                alias: Some(alias(SRF_ROWS, &columns)),
                array_exprs: arrays,
                with_offset: false,
                with_offset_alias: None,
                with_ordinality: true,
            };
            cross_join(&mut s.from, factor);
        }
        ControlFlow::Continue(())
    }
}

/// The expression under `e`'s parentheses, casts and subscripts.
fn set_call(e: &mut Expr) -> &mut Expr {
    match e {
        Expr::Nested(inner) | Expr::Cast { expr: inner, .. } => set_call(inner),
        Expr::CompoundFieldAccess { root, .. } => set_call(root),
        e => e,
    }
}

/// The FROM item a select list's array set-returning functions become:
/// one `unnest` of all their arrays, with ordinality.
const SRF_ROWS: &str = "spanlite_srf";

/// The FROM item a select list's JSON set-returning function becomes.
const JSON_ROWS: &str = "spanlite_js";

/// Replaces the JSON set-returning call in `e` (not inside a subquery)
/// with its rows' column, if it is the first such call of the select list
/// or the same call again (`json` records it); whether `e` changed.
fn replace_json_rows(e: &mut Expr, json: &mut Option<(String, Expr)>) -> bool {
    match e {
        Expr::Function(f) => {
            let (_, fname) = function_name(f);
            let Some(rows) = crate::json::Rows::of(&fname) else {
                return false;
            };
            // jsonb_each and jsonb_to_record(set) give records, which a
            // select list would show as one value: left as they are (and
            // refused by the binder).
            if matches!(
                rows,
                crate::json::Rows::Each { .. } | crate::json::Rows::Records { .. }
            ) {
                return false;
            }
            let Some(args) = call_args(f) else {
                return false;
            };
            let [doc] = args.as_slice() else {
                return false;
            };
            match json {
                Some((name, d)) if *name != fname || d != doc => return false,
                Some(_) => {}
                None => *json = Some((fname, doc.clone())),
            }
            *e = Expr::CompoundIdentifier(vec![
                ast::Ident::with_quote('"', JSON_ROWS),
                ast::Ident::with_quote('"', "value"),
            ]);
            true
        }
        Expr::BinaryOp { left, right, .. } => {
            let l = replace_json_rows(left, json);
            replace_json_rows(right, json) || l
        }
        Expr::UnaryOp { expr, .. } | Expr::Nested(expr) | Expr::Cast { expr, .. } => {
            replace_json_rows(expr, json)
        }
        _ => false,
    }
}

/// `from` with `factor` cross-joined to it (or as all of it).
fn cross_join(from: &mut Vec<ast::TableWithJoins>, factor: TableFactor) {
    match from.last_mut() {
        Some(twj) => twj.joins.push(ast::Join {
            relation: factor,
            global: false,
            join_operator: ast::JoinOperator::CrossJoin(ast::JoinConstraint::None),
        }),
        None => from.push(ast::TableWithJoins {
            relation: factor,
            joins: Vec::new(),
        }),
    }
}

/// `CASE WHEN s.ordinality <= cardinality(array) THEN s.ordinality END`
/// over the select list's unnest (`s`): `generate_subscripts(array, 1)`.
fn subscript_of(array: &Expr) -> Option<Expr> {
    let ordinality = format!("\"{SRF_ROWS}\".\"ordinality\"");
    let sql =
        format!("SELECT CASE WHEN {ordinality} <= cardinality({array}) THEN {ordinality} END");
    let mut statements = crate::syntax::parse(&sql).ok()?;
    let Some(Statement::Query(q)) = statements.pop() else {
        return None;
    };
    let SetExpr::Select(select) = *q.body else {
        return None;
    };
    match select.projection.into_iter().next()? {
        ast::SelectItem::UnnamedExpr(e) => Some(e),
        _ => None,
    }
}

/// `ARRAY(SELECT value FROM name(args) AS spanlite_rows(value))`: the rows
/// of a one-column set-returning function as an array.
fn rows_as_array(name: &ObjectName, args: &[FunctionArg]) -> Option<Expr> {
    let args: Vec<String> = args.iter().map(ToString::to_string).collect();
    let sql = format!(
        "SELECT ARRAY(SELECT value FROM {name}({}) AS spanlite_rows(value))",
        args.join(", ")
    );
    let mut statements = crate::syntax::parse(&sql).ok()?;
    let Some(Statement::Query(q)) = statements.pop() else {
        return None;
    };
    let SetExpr::Select(select) = *q.body else {
        return None;
    };
    match select.projection.into_iter().next()? {
        ast::SelectItem::UnnamedExpr(e) => Some(e),
        _ => None,
    }
}

pub(super) struct Rewriter<'a> {
    pub(super) snapshot: Option<&'a Snapshot>,
    pub(super) session: &'a SessionInfo,
    pub(super) user: &'a str,
    pub(super) params: &'a [Value],
    pub(super) error: Option<SqlError>,
    /// The rows of each system relation computed so far.
    pub(super) rows: std::collections::HashMap<&'static str, std::rc::Rc<Vec<Vec<Value>>>>,
}

pub(super) fn number(n: i64) -> Expr {
    Expr::Value(ast::Value::Number(n.to_string(), false).into())
}

pub(super) fn text(s: &str) -> Expr {
    Expr::Value(ast::Value::SingleQuotedString(s.to_string()).into())
}

pub(super) fn cast(e: Expr, t: DataType) -> Expr {
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(e),
        data_type: sql_type(t),
        format: None,
    }
}

pub(super) fn sql_type(t: DataType) -> SqlType {
    match t {
        DataType::Int => SqlType::BigInt(None),
        DataType::Bool => SqlType::Boolean,
        DataType::Float => SqlType::DoublePrecision,
        _ => SqlType::Text,
    }
}

/// `v` as an expression of type `t`.
pub(super) fn literal(v: &Value, t: DataType) -> Expr {
    match v {
        Value::Null => cast(Expr::Value(ast::Value::Null.into()), t),
        Value::Int(n) if t == DataType::Int => number(*n),
        Value::Bool(b) => Expr::Value(ast::Value::Boolean(*b).into()),
        Value::Float(x) => cast(text(&x.to_string()), DataType::Float),
        other => cast(text(&other.to_string()), t),
    }
}

/// A query of `rows` (typed as `types`), or of no rows of those types.
pub(super) fn rows_query(rows: &[Vec<Value>], types: &[DataType]) -> Query {
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

pub(super) fn alias(name: &str, columns: &[&str]) -> ast::TableAlias {
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
pub(super) fn lookup(
    keys: Vec<Expr>,
    key_types: &[DataType],
    rows: Vec<Vec<Value>>,
    value: DataType,
) -> Expr {
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
pub(super) fn call_args(f: &ast::Function) -> Option<Vec<Expr>> {
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

pub(super) fn split_qualified(s: &str) -> Vec<String> {
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

/// `name(args…)`.
pub(super) fn call(name: &str, args: Vec<Expr>) -> Expr {
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

/// `ARRAY(q)` as `(SELECT coalesce(array_agg(element), ARRAY[]) FROM (q)
/// AS elements(element))` (no rows: an empty array).
fn array_of(q: &Query) -> Expr {
    let template = "SELECT coalesce(array_agg(element), ARRAY[]) FROM t";
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
            // `ARRAY(subquery)`: its rows as an array (`array_agg` of them).
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

pub(super) type Rows = Vec<Vec<Value>>;
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
