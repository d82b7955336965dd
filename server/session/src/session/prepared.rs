//! SQL's prepared statements: `PREPARE name [(types)] AS statement`,
//! `EXECUTE name [(values)]` and `DEALLOCATE [PREPARE] name | ALL`. They
//! share one namespace with the PostgreSQL port's named statements (its
//! Parse messages), as in PostgreSQL: `DEALLOCATE` closes either — which
//! drivers rely on (psycopg with a libpq older than 17 evicts the
//! statements it prepared with `DEALLOCATE name`).

use std::sync::Arc;

use spanlite_sql::sqlparser::ast::{self, Expr, Ident, ObjectName, Statement};
use spanlite_sql::{DataType, SqlError, Value};

use super::{Prepared, Session, tag};
use crate::StatementResult;

/// A statement `PREPARE` made: its parse and its parameters' declared
/// types.
#[derive(Debug)]
pub(super) struct SqlPrepared {
    prepared: Arc<Prepared>,
    types: Vec<DataType>,
}

/// What the PostgreSQL port must close once a statement is done: its named
/// statements (every one, or these) and its portals.
#[derive(Debug, Default)]
pub struct Closed {
    /// Every named statement (`DEALLOCATE ALL`, `DISCARD ALL`).
    pub all_statements: bool,
    /// These named statements (`DEALLOCATE name`).
    pub statements: Vec<String>,
    /// Every portal (`DISCARD ALL`).
    pub portals: bool,
}

/// A statement name as PostgreSQL folds it (unquoted: lower case).
fn statement_name(name: &Ident) -> String {
    if name.quote_style.is_some() {
        name.value.clone()
    } else {
        name.value.to_lowercase()
    }
}

fn missing(name: &str) -> SqlError {
    SqlError::invalid_statement_name(format!("prepared statement \"{name}\" does not exist"))
}

impl Session {
    /// The port made (`true`) or closed a named statement.
    pub fn note_protocol_statement(&mut self, name: &str, exists: bool) {
        if exists {
            self.protocol_statements.insert(name.to_string());
        } else {
            self.protocol_statements.remove(name);
        }
    }

    /// What the port must close now (see [`Closed`]), once.
    pub fn take_closed(&mut self) -> Closed {
        std::mem::take(&mut self.closed)
    }

    /// `PREPARE name [(types)] AS statement` (42P05 for a name in use).
    pub(super) fn sql_prepare(
        &mut self,
        name: &Ident,
        data_types: &[ast::DataType],
        statement: &Statement,
    ) -> StatementResult {
        let name = statement_name(name);
        if self.sql_prepared.contains_key(&name) || self.protocol_statements.contains(&name) {
            return Err(SqlError::duplicate_prepared_statement(format!(
                "prepared statement \"{name}\" already exists"
            )));
        }
        let types = data_types
            .iter()
            .map(DataType::from_sql)
            .collect::<Result<Vec<_>, _>>()?;
        let prepared = Arc::new(Prepared::of(&statement.to_string()));
        if let Some(e) = prepared.error() {
            return Err(e.clone());
        }
        self.sql_prepared
            .insert(name, SqlPrepared { prepared, types });
        Ok(tag("PREPARE"))
    }

    /// `EXECUTE name [(values)]`: the statement's result, its values given
    /// for `$1`, `$2`, … (cast to the declared types).
    pub(super) async fn sql_execute(
        &mut self,
        name: &ObjectName,
        parameters: &[Expr],
        params: &[Value],
    ) -> StatementResult {
        let name = match name.0.as_slice() {
            [part] => part.as_ident().map(statement_name).unwrap_or_default(),
            _ => return Err(missing(&name.to_string())),
        };
        let Some(p) = self.sql_prepared.get(&name) else {
            return Err(missing(&name));
        };
        let (prepared, types) = (p.prepared.clone(), p.types.clone());
        let mut values = Vec::with_capacity(parameters.len());
        for (i, e) in parameters.iter().enumerate() {
            let v = spanlite_sql::constant_value(e, params)?;
            values.push(match types.get(i) {
                Some(ty) => v.cast_to(*ty)?,
                None => v,
            });
        }
        // Boxed: EXECUTE runs a statement within a statement.
        let mut results = Box::pin(self.run_prepared(&prepared, &values)).await;
        match results.len() {
            1 => results.pop().unwrap_or_else(|| Ok(tag("EMPTY"))),
            _ => Err(SqlError::internal(
                "a prepared statement ran as more than one statement",
            )),
        }
    }

    /// `DEALLOCATE [PREPARE] name | ALL`.
    pub(super) fn sql_deallocate(&mut self, name: &Ident) -> StatementResult {
        if name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all") {
            self.sql_prepared.clear();
            self.protocol_statements.clear();
            self.closed.all_statements = true;
            return Ok(tag("DEALLOCATE ALL"));
        }
        let name = statement_name(name);
        if self.sql_prepared.remove(&name).is_none() {
            if !self.protocol_statements.remove(&name) {
                return Err(missing(&name));
            }
            self.closed.statements.push(name);
        }
        Ok(tag("DEALLOCATE"))
    }
}
