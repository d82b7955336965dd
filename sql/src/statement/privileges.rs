//! The privileges a query or DML statement needs, checked when it is bound
//! (before it reads or writes anything): SELECT on every table it reads,
//! INSERT/UPDATE/DELETE on the table it changes — and SELECT on that table
//! too when its WHERE or its SET expressions read the table's columns, as
//! PostgreSQL requires. A superuser (and an internal caller) skips the walk.

use sqlparser::ast::{Expr, FromTable, Statement, TableFactor, TableObject};

use super::load_table;
use super::table_refs::{expr_tables, factor_tables, query_tables};
use crate::access::privilege;
use crate::bind;
use crate::error::Result;
use crate::kv::KvTxn;
use crate::syntax::object_name;

/// Checks that the statement's user holds what `stmt` needs (42501).
pub(super) async fn authorize(txn: &mut dyn KvTxn, stmt: &Statement) -> Result<()> {
    let Some(user) = txn.user() else {
        return Ok(());
    };
    // root is always a superuser (it cannot be altered not to be): no
    // catalog look-up on the administrator's statements.
    if user == crate::access::ADMIN {
        return Ok(());
    }
    let user = user.to_string();
    let mut access = txn.access().await?;
    if access.is_superuser(&user) {
        return Ok(());
    }
    let mut needs: Vec<(String, u8)> = Vec::new();
    needs_of(stmt, &mut needs)?;
    let mut refreshed = false;
    for (name, bits) in needs {
        // A table that does not exist is reported by binding (42P01).
        let Some(def) = load_table(txn, &name).await? else {
            continue;
        };
        if let Err(e) = access.check(&user, &def, bits) {
            if refreshed {
                return Err(e);
            }
            // The copy may predate a grant: look again, once.
            refreshed = true;
            access = txn.access_now().await?;
            access.check(&user, &def, bits)?;
        }
    }
    Ok(())
}

fn add(needs: &mut Vec<(String, u8)>, name: String, bits: u8) {
    match needs.iter_mut().find(|(n, _)| *n == name) {
        Some((_, b)) => *b |= bits,
        None => needs.push((name, bits)),
    }
}

fn reads(needs: &mut Vec<(String, u8)>, names: Vec<String>) {
    for n in names {
        add(needs, n, privilege::SELECT);
    }
}

/// True when `e` reads a column (of the statement's target table).
fn reads_columns(e: &Expr) -> bool {
    match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => true,
        other => bind::ast_children(other).into_iter().any(reads_columns),
    }
}

fn target(f: &TableFactor) -> Option<String> {
    match f {
        TableFactor::Table { name, .. } => object_name(name).ok(),
        _ => None,
    }
}

fn needs_of(stmt: &Statement, needs: &mut Vec<(String, u8)>) -> Result<()> {
    match stmt {
        Statement::Query(q) => {
            let mut names = Vec::new();
            query_tables(q, &mut names);
            reads(needs, names);
        }
        Statement::Insert(insert) => {
            if let TableObject::TableName(name) = &insert.table {
                let mut bits = privilege::INSERT;
                if insert.returning.is_some() {
                    bits |= privilege::SELECT;
                }
                if let Some(sqlparser::ast::OnInsert::OnConflict(c)) = &insert.on
                    && let sqlparser::ast::OnConflictAction::DoUpdate(u) = &c.action
                {
                    bits |= privilege::UPDATE;
                    if u.selection.is_some()
                        || u.assignments.iter().any(|a| reads_columns(&a.value))
                    {
                        bits |= privilege::SELECT;
                    }
                }
                add(needs, object_name(name)?, bits);
            }
            if let Some(source) = &insert.source {
                let mut names = Vec::new();
                query_tables(source, &mut names);
                reads(needs, names);
            }
        }
        Statement::Update {
            table,
            assignments,
            selection,
            from,
            returning,
            ..
        } => {
            if let Some(name) = target(&table.relation) {
                let reads_target = selection.is_some()
                    || returning.is_some()
                    || assignments.iter().any(|a| reads_columns(&a.value));
                let bits = privilege::UPDATE | if reads_target { privilege::SELECT } else { 0 };
                add(needs, name, bits);
            }
            let mut names = Vec::new();
            for e in selection.iter().chain(assignments.iter().map(|a| &a.value)) {
                expr_tables(e, &mut names);
            }
            if let Some(
                sqlparser::ast::UpdateTableFromKind::AfterSet(from)
                | sqlparser::ast::UpdateTableFromKind::BeforeSet(from),
            ) = from
            {
                for twj in from {
                    factor_tables(&twj.relation, &mut names);
                    for j in &twj.joins {
                        factor_tables(&j.relation, &mut names);
                    }
                }
            }
            reads(needs, names);
        }
        Statement::Delete(delete) => {
            let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &delete.from;
            for twj in from {
                if let Some(name) = target(&twj.relation) {
                    let reads_target = delete.selection.is_some() || delete.returning.is_some();
                    let bits = privilege::DELETE | if reads_target { privilege::SELECT } else { 0 };
                    add(needs, name, bits);
                }
            }
            let mut names = Vec::new();
            if let Some(e) = &delete.selection {
                expr_tables(e, &mut names);
            }
            for twj in delete.using.iter().flatten() {
                factor_tables(&twj.relation, &mut names);
                for j in &twj.joins {
                    factor_tables(&j.relation, &mut names);
                }
            }
            reads(needs, names);
        }
        Statement::Explain { statement, .. } => needs_of(statement, needs)?,
        _ => {}
    }
    Ok(())
}
