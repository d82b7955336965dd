//! What a node's SQL sessions ran: statements by kind (counts, errors,
//! latency) and by fingerprint — the text with every constant replaced by
//! `?`, as PostgreSQL's `pg_stat_statements` shows them, so that no value a
//! client sent is kept. Read by the node's metrics and web console.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;
use spanlite_sql::sqlparser::ast::{self, Expr, Statement};

/// Distinct fingerprints kept; statements past it count under their kind
/// only.
const MAX_FINGERPRINTS: usize = 500;

/// One kind of statement (`select`, `insert`, …).
#[derive(Clone, Debug)]
pub struct KindStats {
    /// Statements run.
    pub count: u64,
    /// Of them, failed.
    pub errors: u64,
    /// Their latencies, µs.
    pub latency_us: Histogram<u64>,
    /// Sum of the latencies, µs.
    pub total_us: u64,
}

/// One fingerprint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FingerprintStats {
    /// Its kind.
    pub kind: &'static str,
    /// Runs.
    pub count: u64,
    /// Failed runs.
    pub errors: u64,
    /// Sum of the latencies, µs.
    pub total_us: u64,
    /// The slowest run, µs.
    pub max_us: u64,
}

#[derive(Debug, Default)]
struct Inner {
    kinds: BTreeMap<&'static str, KindStats>,
    fingerprints: HashMap<String, FingerprintStats>,
}

/// Statement statistics of a node, shared by its sessions.
#[derive(Debug, Default)]
pub struct StatementStats {
    inner: Mutex<Inner>,
}

impl StatementStats {
    /// Counts a statement of `kind` with `fingerprint` that took `elapsed`.
    pub fn record(&self, kind: &'static str, fingerprint: &str, elapsed: Duration, ok: bool) {
        let us = u64::try_from(elapsed.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let k = match inner.kinds.get_mut(kind) {
            Some(k) => k,
            None => {
                let Ok(latency_us) = Histogram::new(3) else {
                    return;
                };
                inner.kinds.entry(kind).or_insert(KindStats {
                    count: 0,
                    errors: 0,
                    latency_us,
                    total_us: 0,
                })
            }
        };
        k.count += 1;
        k.errors += u64::from(!ok);
        k.total_us = k.total_us.saturating_add(us);
        // `record` grows the auto-resizing histogram; past its hard limit,
        // clamp.
        if k.latency_us.record(us).is_err() {
            k.latency_us.saturating_record(us);
        }
        let full = inner.fingerprints.len() >= MAX_FINGERPRINTS;
        let f = match inner.fingerprints.get_mut(fingerprint) {
            Some(f) => f,
            None if full => return,
            None => inner
                .fingerprints
                .entry(fingerprint.to_string())
                .or_insert(FingerprintStats {
                    kind,
                    ..Default::default()
                }),
        };
        f.count += 1;
        f.errors += u64::from(!ok);
        f.total_us = f.total_us.saturating_add(us);
        f.max_us = f.max_us.max(us);
    }

    /// Every kind seen so far.
    pub fn kinds(&self) -> BTreeMap<&'static str, KindStats> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .kinds
            .clone()
    }

    /// The `n` fingerprints with the most total time, most first.
    pub fn top(&self, n: usize) -> Vec<(String, FingerprintStats)> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<(String, FingerprintStats)> = inner
            .fingerprints
            .iter()
            .map(|(t, s)| (t.clone(), s.clone()))
            .collect();
        all.sort_by(|a, b| b.1.total_us.cmp(&a.1.total_us).then(a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }
}

/// The kind of `stmt`, as metrics label it.
pub fn kind_of(stmt: &Statement) -> &'static str {
    match stmt {
        Statement::Query(_) => "select",
        Statement::Insert(_) => "insert",
        Statement::Update { .. } => "update",
        Statement::Delete(_) => "delete",
        Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. } => "transaction",
        Statement::CreateTable(_)
        | Statement::CreateIndex(_)
        | Statement::CreateView { .. }
        | Statement::CreateSequence { .. }
        | Statement::CreateType { .. }
        | Statement::AlterType(_)
        | Statement::CreateSchema { .. }
        | Statement::AlterTable { .. }
        | Statement::Drop { .. }
        | Statement::Truncate { .. } => "ddl",
        _ => "other",
    }
}

/// `stmt` with every constant replaced by `?`.
pub fn fingerprint(stmt: &Statement) -> String {
    let mut stmt = stmt.clone();
    let _ = ast::visit_expressions_mut(&mut stmt, |e| {
        if let Expr::Value(v) = e
            && !matches!(v.value, ast::Value::Placeholder(_))
        {
            v.value = ast::Value::Placeholder("?".to_string());
        }
        ControlFlow::<()>::Continue(())
    });
    stmt.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> Statement {
        spanlite_sql::sqlparser::parser::Parser::parse_sql(
            &spanlite_sql::sqlparser::dialect::PostgreSqlDialect {},
            sql,
        )
        .unwrap()
        .remove(0)
    }

    #[test]
    fn fingerprints_keep_no_constant() {
        let a = fingerprint(&parse(
            "SELECT v FROM t WHERE id = 42 AND name = 'alice' AND x IN (1, 2)",
        ));
        let b = fingerprint(&parse(
            "SELECT v FROM t WHERE id = 7 AND name = 'bob' AND x IN (3, 4)",
        ));
        assert_eq!(a, b);
        assert_eq!(
            a,
            "SELECT v FROM t WHERE id = ? AND name = ? AND x IN (?, ?)"
        );
        assert_eq!(
            fingerprint(&parse("UPDATE t SET v = $1 WHERE id = $2")),
            "UPDATE t SET v = $1 WHERE id = $2"
        );
        assert_eq!(kind_of(&parse("UPDATE t SET v = 1")), "update");
        assert_eq!(kind_of(&parse("BEGIN")), "transaction");
        assert_eq!(kind_of(&parse("CREATE TABLE t (a INT)")), "ddl");
    }

    #[test]
    fn statements_are_counted_by_kind_and_fingerprint() {
        let stats = StatementStats::default();
        for i in 0..10u64 {
            stats.record(
                "select",
                "SELECT ?",
                Duration::from_micros(100 * (i + 1)),
                i != 3,
            );
        }
        stats.record(
            "insert",
            "INSERT INTO t VALUES (?)",
            Duration::from_millis(5),
            true,
        );
        let kinds = stats.kinds();
        assert_eq!((kinds["select"].count, kinds["select"].errors), (10, 1));
        let p50 = kinds["select"].latency_us.value_at_quantile(0.5);
        assert!((499..=501).contains(&p50), "p50 {p50} µs");
        assert_eq!(kinds["select"].total_us, 5_500);
        let top = stats.top(1);
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].0, "SELECT ?");
        assert_eq!((top[0].1.count, top[0].1.max_us), (10, 1_000));
    }
}
