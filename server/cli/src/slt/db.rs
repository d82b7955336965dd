//! The database a sqllogictest runner talks to: one SQL [`Session`] on a
//! node's gateway, in this process.
//!
//! Each record's SQL runs as one `Session::run` (a `;`-separated script,
//! stopping at the first error; the record's outcome is its last
//! statement's, or the error). Rows are turned into text by
//! [`super::format`].
//!
//! HAZARD: the engine may hang or panic on some input. Each record runs in
//! its own task under a time limit, so neither stops the file: a panic
//! fails the record with XX000, a record past the limit fails with 57014,
//! and in both cases the session is replaced by a fresh one (an explicit
//! transaction it had open is left to the nodes' idle-transaction abort).

use std::time::Duration;

use spanlite_sql::SqlError;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};

use super::format;
use std::sync::Arc;

use spanlite_session::{SchemaCache, Session};

/// A sqllogictest connection: a SQL session with a time limit per record.
#[derive(Debug)]
pub struct SessionDb {
    schema: Arc<SchemaCache>,
    /// `None` only while a record runs (the task owns it).
    session: Option<Session>,
    timeout: Duration,
}

impl SessionDb {
    /// A new session on the node of `schema`; each record may take up to
    /// `timeout`.
    pub fn new(schema: Arc<SchemaCache>, timeout: Duration) -> Self {
        Self {
            session: Some(Session::on(schema.clone())),
            schema,
            timeout,
        }
    }

    /// Runs `sql` in a task that owns the session, so that a panic or the
    /// time limit costs the session, not the runner.
    async fn run_sql(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SqlError> {
        let mut session = self
            .session
            .take()
            .unwrap_or_else(|| Session::on(self.schema.clone()));
        let script = sql.to_string();
        let mut task = tokio::spawn(async move {
            let results = session.run(&script).await;
            (session, results)
        });
        let results = match tokio::time::timeout(self.timeout, &mut task).await {
            Ok(Ok((session, results))) => {
                self.session = Some(session);
                results
            }
            Ok(Err(join)) => {
                self.session = Some(Session::on(self.schema.clone()));
                return Err(SqlError::internal(format!("the engine panicked: {join}")));
            }
            Err(_) => {
                task.abort();
                self.session = Some(Session::on(self.schema.clone()));
                // 57014, PostgreSQL's code for a statement timeout too.
                return Err(SqlError::query_canceled(format!(
                    "no answer within {:?}",
                    self.timeout
                )));
            }
        };
        match results.into_iter().last() {
            None => Ok(DBOutput::StatementComplete(0)),
            Some(Err(e)) => Err(e),
            Some(Ok(r)) if r.columns.is_empty() => Ok(DBOutput::StatementComplete(r.rows_affected)),
            Some(Ok(r)) => Ok(DBOutput::Rows {
                types: r
                    .columns
                    .iter()
                    .map(|(_, t)| format::column_type(*t))
                    .collect(),
                rows: r
                    .rows
                    .iter()
                    .map(|row| row.iter().map(format::value).collect())
                    .collect(),
            }),
        }
    }
}

#[async_trait::async_trait]
impl AsyncDB for SessionDb {
    type Error = SqlError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SqlError> {
        self.run_sql(sql).await
    }

    /// Rolls back a transaction left open.
    async fn shutdown(&mut self) {
        if let Some(mut session) = self.session.take() {
            let _ = tokio::time::timeout(self.timeout, session.close()).await;
        }
    }

    fn engine_name(&self) -> &str {
        "spanlite"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await;
    }

    /// Lets records expect an error by SQLSTATE: `statement error (23505)`.
    fn error_sql_state(err: &SqlError) -> Option<String> {
        Some(err.code.to_string())
    }
}
