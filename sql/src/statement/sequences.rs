//! CREATE/DROP SEQUENCE, the sequences SERIAL and identity columns own,
//! and `nextval`/`currval`/`setval` (see [`crate::sequence`]).
//!
//! The three functions change state outside the statement's row
//! evaluation, so they are answered before a statement is bound, where
//! they appear with no row around them: in the select list (and WHERE) of
//! a SELECT without FROM, and in the rows of INSERT … VALUES; each call is
//! replaced by its value, left to right. Elsewhere (once per row of a
//! FROM) they are refused with 0A000 for now. A column default numbered by
//! a sequence is drawn by INSERT for each row. The advisory lock functions
//! (`pg_advisory_lock` and kin, [`crate::advisory`]) are answered the same
//! way.

use sqlparser::ast::{self, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, SetExpr};

use super::{QueryResult, done, load_table, tables};
use crate::catalog::{self, TableDef};
use crate::error::{Result, SqlError};
use crate::kv::KvTxn;
use crate::sequence::{self, SequenceDef};
use crate::syntax::object_name;
use crate::value::Value;

/// Sequence `name`, or 42P01 as PostgreSQL words it.
pub(super) async fn sequence(txn: &mut dyn KvTxn, name: &str) -> Result<SequenceDef> {
    txn.sequence_def(name)
        .await?
        .ok_or_else(|| SqlError::undefined_table(format!("relation \"{name}\" does not exist")))
}

/// Applies CREATE SEQUENCE / identity options to `def`.
pub(super) fn apply_options(def: &mut SequenceDef, options: &[ast::SequenceOptions]) -> Result<()> {
    use ast::SequenceOptions as O;
    let int = |e: &Expr| -> Result<i64> {
        let text = e.to_string();
        text.trim()
            .parse::<i64>()
            .map_err(|_| SqlError::invalid_parameter(format!("not an integer: {text}")))
    };
    let mut min = None;
    let mut max = None;
    let mut start = None;
    for o in options {
        match o {
            O::IncrementBy(e, _) => def.increment = int(e)?,
            O::MinValue(e) => min = Some(e.as_ref().map(int).transpose()?),
            O::MaxValue(e) => max = Some(e.as_ref().map(int).transpose()?),
            O::StartWith(e, _) => start = Some(int(e)?),
            O::Cache(e) => def.cache = int(e)?,
            O::Cycle(false) => {}
            O::Cycle(true) => return Err(SqlError::not_supported("CYCLE sequences")),
        }
    }
    // PostgreSQL's defaults depend on the direction.
    let up = def.increment > 0;
    def.min = min.flatten().unwrap_or(if up { 1 } else { i64::MIN });
    def.max = max.flatten().unwrap_or(if up { i64::MAX } else { -1 });
    def.start = start.unwrap_or(if up { def.min } else { def.max });
    def.validate()
}

/// Writes a new sequence (42P07 if a table or sequence has the name).
pub(super) async fn create(txn: &mut dyn KvTxn, def: &SequenceDef) -> Result<()> {
    if txn.sequence_def(&def.name).await?.is_some() || load_table(txn, &def.name).await?.is_some() {
        return Err(SqlError::duplicate_table(format!(
            "relation \"{}\" already exists",
            def.name
        )));
    }
    txn.put(sequence::sequence_key(&def.name), catalog::encode(def)?)
}

/// Starts `seq` again within the transaction (`TRUNCATE … RESTART
/// IDENTITY`, rolled back with it): a new id, so no node goes on with a
/// block of its old numbering, and no counter, so its next value is its
/// start.
pub(super) fn restart(txn: &mut dyn KvTxn, seq: &SequenceDef) -> Result<()> {
    let mut seq = seq.clone();
    seq.id = rand::random();
    txn.put(sequence::sequence_key(&seq.name), catalog::encode(&seq)?)?;
    txn.delete(sequence::counter_key(&seq.name))
}

/// CREATE SEQUENCE.
pub(super) async fn create_sequence(
    txn: &mut dyn KvTxn,
    name: &ast::ObjectName,
    if_not_exists: bool,
    data_type: Option<&ast::DataType>,
    options: &[ast::SequenceOptions],
    owned_by: Option<&ast::ObjectName>,
) -> Result<QueryResult> {
    if owned_by.is_some() {
        return Err(SqlError::not_supported("CREATE SEQUENCE … OWNED BY"));
    }
    let name = object_name(name)?;
    if if_not_exists && txn.sequence_def(&name).await?.is_some() {
        return Ok(done("CREATE SEQUENCE", 0));
    }
    let mut def = SequenceDef::new(&name);
    apply_options(&mut def, options)?;
    if let Some(t) = data_type {
        crate::value::DataType::from_sql(t)?;
    }
    create(txn, &def).await?;
    Ok(done("CREATE SEQUENCE", 0))
}

/// Deletes sequence `def` (its definition and counter).
pub(super) fn remove(txn: &mut dyn KvTxn, def: &SequenceDef) -> Result<()> {
    txn.delete(sequence::sequence_key(&def.name))?;
    txn.delete(sequence::counter_key(&def.name))
}

/// DROP SEQUENCE: refused (2BP01) while a column is numbered by it.
pub(super) async fn drop_sequences(
    txn: &mut dyn KvTxn,
    names: &[ast::ObjectName],
    if_exists: bool,
) -> Result<QueryResult> {
    for n in names {
        let name = object_name(n)?;
        let Some(def) = txn.sequence_def(&name).await? else {
            if if_exists {
                continue;
            }
            return Err(SqlError::undefined_table(format!(
                "sequence \"{name}\" does not exist"
            )));
        };
        let users: Vec<String> = tables(txn)
            .await?
            .iter()
            .flat_map(|t| {
                t.columns
                    .iter()
                    .filter(|c| c.generated.as_ref().is_some_and(|g| g.sequence == name))
                    .map(move |c| format!("{}.{}", t.name, c.name))
            })
            .collect();
        if !users.is_empty() {
            return Err(SqlError::dependent_objects(format!(
                "cannot drop sequence {name} because other objects depend on it: the default of column {}",
                users.join(", ")
            )));
        }
        remove(txn, &def)?;
    }
    Ok(done("DROP SEQUENCE", 0))
}

/// Drops the sequences table `def` owns (DROP TABLE).
pub(super) async fn drop_owned(txn: &mut dyn KvTxn, def: &TableDef) -> Result<()> {
    for c in &def.columns {
        if let Some(g) = &c.generated
            && let Some(seq) = txn.sequence_def(&g.sequence).await?
            && seq.owned_by == Some(def.id)
        {
            remove(txn, &seq)?;
        }
    }
    Ok(())
}

/// The sequences table `old` owns now belong to its new id `to` (TRUNCATE
/// and ADD PRIMARY KEY give a table a new id).
pub(super) async fn move_owned(txn: &mut dyn KvTxn, old: &TableDef, to: u32) -> Result<()> {
    for c in &old.columns {
        if let Some(g) = &c.generated
            && let Some(mut seq) = txn.sequence_def(&g.sequence).await?
            && seq.owned_by == Some(old.id)
        {
            seq.owned_by = Some(to);
            txn.put(sequence::sequence_key(&seq.name), catalog::encode(&seq)?)?;
        }
    }
    Ok(())
}

/// The sequence name a `nextval('…')` argument names (`'s'`,
/// `'public.s'`, `'s'::regclass`).
fn sequence_arg(e: &Expr) -> Option<String> {
    match e {
        Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) => {
                let s = s.strip_prefix("public.").unwrap_or(s);
                Some(
                    match s.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
                        Some(quoted) => quoted.to_string(),
                        None => s.to_lowercase(),
                    },
                )
            }
            _ => None,
        },
        Expr::Cast { expr, .. } | Expr::Nested(expr) => sequence_arg(expr),
        _ => None,
    }
}

/// The name and arguments of a call of nextval, currval or setval.
fn sequence_call(e: &Expr) -> Option<(String, Vec<&Expr>)> {
    let Expr::Function(f) = e else {
        return None;
    };
    let name = f.name.to_string().to_lowercase();
    let name = name
        .strip_prefix("pg_catalog.")
        .unwrap_or(&name)
        .to_string();
    if !matches!(
        name.as_str(),
        "nextval" | "currval" | "setval" | "pg_sleep" | "pg_sleep_for"
    ) && crate::advisory::Op::of(&name).is_none()
    {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let args = list
        .args
        .iter()
        .filter_map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect();
    Some((name, args))
}

/// The sequence a column default `nextval('s')` draws from.
pub(super) fn default_sequence(e: &Expr) -> Option<String> {
    match sequence_call(e) {
        Some((name, args)) if name == "nextval" && args.len() == 1 => sequence_arg(args[0]),
        _ => None,
    }
}

/// The value of one call.
async fn call(
    txn: &mut dyn KvTxn,
    name: &str,
    args: &[&Expr],
    params: &[crate::value::Value],
) -> Result<i64> {
    let arity = |n: &[usize]| {
        if n.contains(&args.len()) {
            Ok(())
        } else {
            Err(SqlError::undefined_function(format!(
                "function {name} with {} arguments does not exist",
                args.len()
            )))
        }
    };
    let seq_name = args.first().and_then(|a| sequence_arg(a)).ok_or_else(|| {
        SqlError::not_supported(format!(
            "{name}() of anything but a sequence name in quotes"
        ))
    })?;
    let constant = |e: &Expr| super::constant_value(e, params);
    match name {
        "nextval" => {
            arity(&[1])?;
            let seq = sequence(txn, &seq_name).await?;
            txn.next_value(&seq).await
        }
        "currval" => {
            arity(&[1])?;
            sequence(txn, &seq_name).await?;
            txn.current_value(&seq_name)
        }
        _ => {
            arity(&[2, 3])?;
            let seq = sequence(txn, &seq_name).await?;
            let value = match constant(args[1])?.cast_to(crate::value::DataType::Int)? {
                crate::value::Value::Int(v) => v,
                _ => return Err(SqlError::not_null_violation("setval of NULL")),
            };
            let is_called = match args.get(2) {
                None => true,
                Some(e) => constant(e)? == crate::value::Value::Bool(true),
            };
            let counter = seq.counter_for(value, is_called)?;
            txn.set_counter(&seq, counter).await?;
            Ok(value)
        }
    }
}

/// `pg_sleep(seconds)` and `pg_sleep_for(interval)`: waits (a cancel or
/// the statement timeout ends the wait with the statement); NULL or a
/// negative time does not wait.
async fn sleep(name: &str, args: &[&Expr], params: &[crate::value::Value]) -> Result<()> {
    let [arg] = args else {
        return Err(SqlError::undefined_function(format!(
            "function {name} with {} arguments does not exist",
            args.len()
        )));
    };
    let seconds = match (name, super::constant_value(arg, params)?) {
        (_, Value::Null) => 0.0,
        ("pg_sleep", v) => match v.cast_to(crate::value::DataType::Float)? {
            Value::Float(x) => x,
            _ => 0.0,
        },
        (_, v) => match v.cast_to(crate::value::DataType::Interval)? {
            Value::Interval(iv) => iv.span() as f64 / 1e6,
            _ => 0.0,
        },
    };
    if seconds.is_finite() && seconds > 0.0 {
        tokio::time::sleep(std::time::Duration::from_secs_f64(seconds.min(1e9))).await;
    }
    Ok(())
}

/// Replaces, in `e` and the expressions it is made of (operators, casts,
/// parentheses), each sequence call by its value; true if any was.
fn replace<'a>(
    txn: &'a mut dyn KvTxn,
    e: &'a mut Expr,
    params: &'a [crate::value::Value],
) -> crate::kv::BoxFuture<'a, Result<bool>> {
    Box::pin(async move {
        if let Some((name, args)) = sequence_call(e) {
            // Describing the statement to a client: a value of the call's
            // type, and nothing done.
            if crate::backends::describing() {
                *e = if name.starts_with("pg_sleep") {
                    Expr::Value(ast::Value::SingleQuotedString(String::new()).into())
                } else if let Some(op) = crate::advisory::Op::of(&name) {
                    match op.map(|op| op.result(false)) {
                        Ok(Value::Bool(b)) => Expr::Value(ast::Value::Boolean(b).into()),
                        _ => Expr::Value(ast::Value::SingleQuotedString(String::new()).into()),
                    }
                } else {
                    Expr::Value(ast::Value::Number("0".into(), false).into())
                };
                return Ok(true);
            }
            *e = if name.starts_with("pg_sleep") {
                sleep(&name, &args, params).await?;
                // void, which clients show as an empty value.
                Expr::Value(ast::Value::SingleQuotedString(String::new()).into())
            } else if crate::advisory::Op::of(&name).is_some() {
                let args = args
                    .iter()
                    .map(|a| super::constant_value(a, params))
                    .collect::<Result<Vec<_>>>()?;
                let request = crate::advisory::request(&name, &args)?;
                let done = txn.advisory(&request).await?;
                match request.op.result(done) {
                    Value::Bool(b) => Expr::Value(ast::Value::Boolean(b).into()),
                    _ => Expr::Value(ast::Value::SingleQuotedString(String::new()).into()),
                }
            } else {
                let v = call(txn, &name, &args, params).await?;
                Expr::Value(ast::Value::Number(v.to_string(), false).into())
            };
            return Ok(true);
        }
        Ok(match e {
            Expr::BinaryOp { left, right, .. } => {
                let l = replace(txn, left, params).await?;
                replace(txn, right, params).await? || l
            }
            Expr::UnaryOp { expr, .. } | Expr::Nested(expr) | Expr::Cast { expr, .. } => {
                replace(txn, expr, params).await?
            }
            _ => false,
        })
    })
}

/// Answers the sequence calls of `q` where it has no FROM (see the module
/// documentation); true when it changed `q` (its plan must not be kept).
pub(super) async fn resolve_calls(
    txn: &mut dyn KvTxn,
    q: &mut ast::Query,
    params: &[crate::value::Value],
) -> Result<bool> {
    let mut changed = false;
    match q.body.as_mut() {
        SetExpr::Select(s) if s.from.is_empty() => {
            for item in &mut s.projection {
                // A call's column is named after its function, as before
                // it became a value (`SELECT nextval('s')` is `nextval`).
                if let ast::SelectItem::UnnamedExpr(e) = item
                    && let Some((name, _)) = sequence_call(e)
                {
                    *item = ast::SelectItem::ExprWithAlias {
                        expr: e.clone(),
                        alias: ast::Ident::new(name),
                    };
                }
                if let ast::SelectItem::UnnamedExpr(e)
                | ast::SelectItem::ExprWithAlias { expr: e, .. } = item
                {
                    changed |= replace(txn, e, params).await?;
                }
            }
        }
        SetExpr::Values(v) => {
            for row in &mut v.rows {
                for e in row {
                    changed |= replace(txn, e, params).await?;
                }
            }
        }
        _ => {}
    }
    Ok(changed)
}

/// True when `q` may call a sequence function where [`resolve_calls`]
/// answers it (cheap: it looks at the top of the query only).
pub(super) fn may_call(q: &ast::Query) -> bool {
    fn mentions(e: &Expr) -> bool {
        sequence_call(e).is_some()
            || match e {
                Expr::BinaryOp { left, right, .. } => mentions(left) || mentions(right),
                Expr::UnaryOp { expr, .. } | Expr::Nested(expr) | Expr::Cast { expr, .. } => {
                    mentions(expr)
                }
                _ => false,
            }
    }
    match q.body.as_ref() {
        SetExpr::Select(s) if s.from.is_empty() => s.projection.iter().any(|i| match i {
            ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } => {
                mentions(e)
            }
            _ => false,
        }),
        SetExpr::Values(v) => v.rows.iter().flatten().any(mentions),
        _ => false,
    }
}
