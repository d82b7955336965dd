//! COPY through the PostgreSQL port: `COPY … FROM STDIN` reads the
//! client's CopyData and inserts in batches; `COPY … TO STDOUT` writes the
//! rows as CopyData (formats: [`super::super::copy`]).

use spanlite_sql::sqlparser::ast::CopySource;
use spanlite_sql::zone::with_zone;
use spanlite_sql::{SqlError, Value};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Connection, FLUSH_AT};
use crate::message::{Frontend, ProtocolError, read_message};

/// `s` as a quoted SQL name.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The columns of `def` a COPY names: `columns` (42P10 for a generated
/// one, as PostgreSQL), or when none are given every column but the
/// generated ones.
fn copy_columns(
    def: &spanlite_sql::TableDef,
    columns: &[spanlite_sql::sqlparser::ast::Ident],
) -> Result<Vec<usize>, SqlError> {
    if columns.is_empty() {
        return Ok((0..def.columns.len())
            .filter(|&c| def.columns[c].generation.is_none())
            .collect());
    }
    columns
        .iter()
        .map(|c| {
            let i = def.column(&spanlite_sql::object_name_of(&vec![c.clone()].into())?)?;
            if def.columns[i].generation.is_some() {
                return Err(SqlError::invalid_column_reference(format!(
                    "column \"{}\" is a generated column: generated columns cannot be used in COPY",
                    def.columns[i].name
                )));
            }
            Ok(i)
        })
        .collect()
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// COPY … FROM STDIN: reads the client's CopyData until CopyDone and
    /// inserts the rows in batches (see [`super::super::copy`]). The outer `Err`
    /// is a broken connection; the inner one the statement's error (after
    /// which the rest of the data is read and dropped).
    pub(super) async fn copy_in(
        &mut self,
        source: CopySource,
        options: &[spanlite_sql::sqlparser::ast::CopyOption],
    ) -> Result<Result<u64, SqlError>, ProtocolError> {
        use super::super::copy;
        let prepared = async {
            let format = copy::Format::from_options(options)?;
            let CopySource::Table {
                table_name,
                columns,
            } = source
            else {
                return Err(SqlError::syntax("COPY (query) FROM is not possible"));
            };
            let name = spanlite_sql::object_name_of(&table_name)?;
            let def = self.session.table(&name).await?.ok_or_else(|| {
                SqlError::undefined_table(format!("relation \"{name}\" does not exist"))
            })?;
            let cols = copy_columns(&def, &columns)?;
            Ok((format, def, cols))
        };
        let (format, def, cols) = match prepared.await {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        self.out.copy_response(false, cols.len());
        self.flush().await?;
        let insert_head = format!(
            "INSERT INTO {} ({}) VALUES ",
            quote(&def.name),
            cols.iter()
                .map(|&c| quote(&def.columns[c].name))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let per_batch = copy::batch_rows(cols.len());
        let mut buf: Vec<u8> = Vec::new();
        let mut batch: Vec<Value> = Vec::new();
        let mut rows_in_batch = 0usize;
        let mut line: u64 = 0;
        let mut copied: u64 = 0;
        let mut failed: Option<SqlError> = None;
        let mut header_left = format.header;
        loop {
            let last = match read_message(&mut self.stream).await? {
                Some(Frontend::CopyData(data)) => {
                    if failed.is_none() {
                        buf.extend_from_slice(&data);
                    }
                    false
                }
                Some(Frontend::CopyDone) => true,
                Some(Frontend::CopyFail(why)) => {
                    return Ok(Err(failed.unwrap_or_else(|| {
                        SqlError::query_canceled(format!("COPY from stdin failed: {why}"))
                    })));
                }
                Some(Frontend::Flush | Frontend::Sync) => continue,
                Some(_) => {
                    return Err(ProtocolError::Malformed(
                        "unexpected message during COPY from stdin".to_string(),
                    ));
                }
                None => return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into()),
            };
            if failed.is_none() {
                let records = match copy::take_records(&mut buf, &format, last) {
                    Ok(r) => r,
                    Err(m) => {
                        failed = Some(copy::bad_format(line + 1, &m));
                        Vec::new()
                    }
                };
                for fields in records {
                    line += 1;
                    if header_left {
                        header_left = false;
                        continue;
                    }
                    if failed.is_some() {
                        break;
                    }
                    if fields.len() != cols.len() {
                        failed = Some(copy::bad_format(
                            line,
                            if fields.len() < cols.len() {
                                "missing data for a column"
                            } else {
                                "extra data after last expected column"
                            },
                        ));
                        break;
                    }
                    for (raw, &c) in fields.iter().zip(&cols) {
                        let zone = self.session.time_zone();
                        match with_zone(zone, || {
                            copy::field_value(raw.as_deref(), def.columns[c].ty)
                        }) {
                            Ok(v) => batch.push(v),
                            Err(e) => {
                                failed = Some(SqlError {
                                    code: e.code,
                                    message: format!("{} (COPY line {line})", e.message),
                                });
                                break;
                            }
                        }
                    }
                    rows_in_batch += 1;
                    if failed.is_none() && rows_in_batch == per_batch {
                        match self
                            .insert_batch(&insert_head, cols.len(), &mut batch)
                            .await
                        {
                            Ok(n) => copied += n,
                            Err(e) => failed = Some(e),
                        }
                        rows_in_batch = 0;
                    }
                }
            }
            if last {
                break;
            }
        }
        if failed.is_none() && rows_in_batch > 0 {
            match self
                .insert_batch(&insert_head, cols.len(), &mut batch)
                .await
            {
                Ok(n) => copied += n,
                Err(e) => failed = Some(e),
            }
        }
        Ok(match failed {
            Some(e) => Err(e),
            None => Ok(copied),
        })
    }

    /// Inserts the rows of `values` (`width` values each) in one INSERT.
    async fn insert_batch(
        &mut self,
        head: &str,
        width: usize,
        values: &mut Vec<Value>,
    ) -> Result<u64, SqlError> {
        let rows = values.len() / width.max(1);
        let mut sql = String::with_capacity(head.len() + rows * width * 6);
        sql.push_str(head);
        let mut p = 1;
        for r in 0..rows {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for c in 0..width {
                if c > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("${p}"));
                p += 1;
            }
            sql.push(')');
        }
        let params = std::mem::take(values);
        let mut results = Box::pin(self.session.run_with(&sql, &params)).await;
        match results.pop() {
            Some(Ok(r)) => Ok(r.rows_affected),
            Some(Err(e)) => Err(e),
            None => Err(SqlError::internal("an insert without a result")),
        }
    }

    /// COPY … TO STDOUT: the rows, in CopyData messages.
    pub(super) async fn copy_out(
        &mut self,
        source: CopySource,
        options: &[spanlite_sql::sqlparser::ast::CopyOption],
    ) -> Result<Result<u64, SqlError>, ProtocolError> {
        use super::super::copy;
        let format = match copy::Format::from_options(options) {
            Ok(f) => f,
            Err(e) => return Ok(Err(e)),
        };
        let sql = match source {
            CopySource::Table {
                table_name,
                columns,
            } => {
                // A table: its columns as COPY FROM takes them (not the
                // generated ones, unless named: 42P10). Anything else (a
                // view, a catalog relation): as named, or all.
                let def = match spanlite_sql::object_name_of(&table_name) {
                    Ok(name) => match self.session.table(&name).await {
                        Ok(def) => def,
                        Err(e) => return Ok(Err(e)),
                    },
                    Err(_) => None,
                };
                let names: Vec<String> = match def {
                    Some(def) => match copy_columns(&def, &columns) {
                        Ok(cols) => cols.iter().map(|&c| quote(&def.columns[c].name)).collect(),
                        Err(e) => return Ok(Err(e)),
                    },
                    None => columns.iter().map(ToString::to_string).collect(),
                };
                let cols = if names.is_empty() {
                    "*".to_string()
                } else {
                    names.join(", ")
                };
                format!("SELECT {cols} FROM {table_name}")
            }
            CopySource::Query(q) => q.to_string(),
        };
        let mut results = self.session.run(&sql).await;
        let r = match results.pop() {
            Some(Ok(r)) => r,
            Some(Err(e)) => return Ok(Err(e)),
            None => return Ok(Err(SqlError::internal("a query without a result"))),
        };
        self.out.copy_response(true, r.columns.len());
        let mut line = Vec::new();
        if format.header {
            let names: Vec<Value> = r
                .columns
                .iter()
                .map(|(n, _)| Value::Text(n.clone()))
                .collect();
            copy::write_row(&names, &format, &mut line);
            self.out.copy_data(&line);
        }
        let zone = self.session.time_zone();
        for row in &r.rows {
            line.clear();
            with_zone(zone, || copy::write_row(row, &format, &mut line));
            self.out.copy_data(&line);
            if self.out.buf.len() >= FLUSH_AT {
                self.flush().await?;
            }
        }
        self.out.copy_done();
        Ok(Ok(r.rows.len() as u64))
    }
}
