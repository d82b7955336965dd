//! Running sqllogictest files against an embedded cluster, record by
//! record, so that one failing record does not hide the rest of its file.
//!
//! ```text
//!   paths ──expand──▶ files (sorted; *.slt, *.test under directories)
//!                       │ for each file:
//!                       ▼
//!   parse (the crate's parser) ──▶ records ──runner.run_async──▶ pass / fail / skip
//!                                                      │
//!   each file on a fresh 3-node cluster (new temporary directory),
//!   shut down and removed after the file
//! ```
//!
//! Isolation: every file gets its own cluster, so nothing a file leaves
//! behind (tables, indexes, table ids, a transaction cut off by the time
//! limit and its locks) can reach the next one, and the reset does not
//! depend on SHOW TABLES or DROP TABLE working. It is cheap: starting and
//! stopping three in-process nodes takes about 0.15 s, against about
//! 0.03 s for dropping a file's tables on one shared cluster.
//!
//! NB: the crate's parser hands the `skipif`/`onlyif` lines written before
//! a `halt` to the next record as well, and its own runner stops at every
//! `halt` whatever its conditions. Here a halt's own conditions decide
//! whether it stops the file, and are taken off the next record.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqllogictest::{Condition, DefaultColumnType, Record, RecordOutput, Runner, TestErrorKind};

use super::compare;
use super::db::SessionDb;
use super::summary::{Failure, FileResult, Summary};
use spanlite_node::embedded::EmbeddedCluster;

/// The labels `skipif` and `onlyif` test: Spanlite follows PostgreSQL.
pub const LABELS: &[&str] = &["postgresql", "spanlite"];

/// How to run.
#[derive(Clone, Debug)]
pub struct SltOptions {
    /// A record taking longer fails (and its session is replaced).
    pub record_timeout: Duration,
    /// Failures kept (and printed) per file.
    pub failures_shown: usize,
    /// Nodes in the embedded cluster (at least 3).
    pub nodes: usize,
    /// Print each file's result to stdout as it finishes.
    pub print: bool,
}

impl Default for SltOptions {
    fn default() -> Self {
        Self {
            record_timeout: Duration::from_secs(60),
            failures_shown: 5,
            nodes: 3,
            print: true,
        }
    }
}

/// Runs every sqllogictest file of `paths` (files, or directories searched
/// recursively for `*.slt` and `*.test`), each on an empty database, and
/// returns what passed. A failing record, a file that does not parse or a
/// cluster that does not start is counted and the run goes on; a signal
/// (see [`crate::interrupt`]) ends the file running (its cluster is shut
/// down) and the run.
pub async fn run_files(paths: &[PathBuf], options: &SltOptions) -> Summary {
    let mut summary = Summary::default();
    for file in expand(paths) {
        let mut result = FileResult::new(file.clone());
        match file_records(&file) {
            Err(e) => result.error = Some(e),
            Ok(records) => match EmbeddedCluster::start(options.nodes).await {
                Err(e) => result.error = Some(format!("starting a cluster: {e}")),
                Ok(cluster) => {
                    let ran = crate::interrupt::interruptible(async {
                        run_records(&cluster, records, options, &mut result).await;
                        Ok(())
                    })
                    .await;
                    cluster.shutdown().await;
                    if let Err(e) = ran {
                        result.error = Some(e);
                    }
                }
            },
        }
        if options.print {
            print(&result);
        }
        summary.files.push(result);
        if crate::interrupt::signalled().is_some() {
            break;
        }
    }
    if options.print {
        print(&summary);
    }
    summary
}

/// Prints a line to stdout; a closed stdout (`| head`) is not an error.
fn print(what: &dyn std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{what}");
}

/// The files of `paths`: files as given, directories searched recursively
/// for `*.slt` and `*.test` (sorted by path). A path that does not exist is
/// kept, to be reported.
fn expand(paths: &[PathBuf]) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "slt" || e == "test") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found);
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    files
}

fn file_records(path: &Path) -> Result<Vec<Record<DefaultColumnType>>, String> {
    let script = std::fs::read_to_string(path).map_err(|e| format!("reading: {e}"))?;
    let records = sqllogictest::parse_with_name(
        &without_condition_comments(&script),
        path.display().to_string(),
    )
    .map_err(|e| e.to_string())?;
    if records.iter().any(|r| matches!(r, Record::Include { .. })) {
        return Err("`include` is not supported".to_string());
    }
    Ok(records)
}

/// `script` with anything after the label of `skipif` / `onlyif` lines
/// removed: SQLite's corpus writes comments there (`onlyif sqlite # why`),
/// which its own runner ignores and the crate's parser refuses.
fn without_condition_comments(script: &str) -> String {
    let mut out = String::with_capacity(script.len());
    for line in script.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(c @ ("skipif" | "onlyif")), Some(label), Some(_)) => {
                out.push_str(c);
                out.push(' ');
                out.push_str(label);
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// True when `conditions` say the record is not for Spanlite.
fn skipped_by(conditions: &[Condition]) -> bool {
    let labels: HashSet<&str> = LABELS.iter().copied().collect();
    conditions.iter().any(|c| match c {
        Condition::OnlyIf { label } => !labels.contains(label.as_str()),
        Condition::SkipIf { label } => labels.contains(label.as_str()),
    })
}

/// The conditions of a record that runs SQL or a command (`None` for the
/// other kinds of record).
fn conditions_of(record: &mut Record<DefaultColumnType>) -> Option<&mut Vec<Condition>> {
    match record {
        Record::Statement { conditions, .. }
        | Record::Query { conditions, .. }
        | Record::System { conditions, .. }
        | Record::Let { conditions, .. } => Some(conditions),
        _ => None,
    }
}

async fn run_records(
    cluster: &EmbeddedCluster,
    records: Vec<Record<DefaultColumnType>>,
    options: &SltOptions,
    result: &mut FileResult,
) {
    // Connection k (the default first) is a session on node k mod N, so a
    // file's `connection` records talk to different gateways.
    let gateways: Vec<_> = (0..cluster.addrs().len())
        .map(|i| cluster.schema_of(i))
        .collect();
    let timeout = options.record_timeout;
    let mut next = 0;
    let mut runner = Runner::new(move || {
        let gateway = gateways[next % gateways.len()].clone();
        next += 1;
        async move { Ok::<_, spanlite_sql::SqlError>(SessionDb::new(gateway, timeout)) }
    });
    for label in LABELS {
        runner.add_label(label);
    }
    runner.with_validator(compare::validator);

    // Conditions written since the last SQL record, and how many of them
    // belonged to halts (the parser passes those on to the next record).
    let mut since_halt: Vec<Condition> = Vec::new();
    let mut halt_conditions = 0;
    for mut record in records {
        match &record {
            Record::Condition(c) => {
                since_halt.push(c.clone());
                continue;
            }
            Record::Halt { .. } => {
                if skipped_by(&since_halt) {
                    halt_conditions += since_halt.len();
                    since_halt.clear();
                    continue;
                }
                break;
            }
            _ => {}
        }
        let runs_sql = match conditions_of(&mut record) {
            Some(conditions) => {
                conditions.drain(..halt_conditions.min(conditions.len()));
                halt_conditions = 0;
                since_halt.clear();
                true
            }
            None => false,
        };
        match runner.run_async(record).await {
            Ok(RecordOutput::Nothing) if runs_sql => result.skipped += 1,
            Ok(_) if runs_sql => result.passed += 1,
            Ok(_) => {}
            Err(e) => {
                result.failed += 1;
                if result.failures.len() < options.failures_shown {
                    result.failures.push(failure(e.location().line(), e.kind()));
                }
            }
        }
    }
    runner.shutdown_async().await;
}

fn failure(line: u32, kind: TestErrorKind) -> Failure {
    let f = |what: String, sql: &str, expected: String, actual: String| Failure {
        line,
        what,
        sql: sql.to_string(),
        expected,
        actual,
    };
    match kind {
        TestErrorKind::QueryResultMismatch {
            sql,
            expected,
            actual,
        } => f("query result mismatch".into(), &sql, expected, actual),
        TestErrorKind::QueryResultColumnsMismatch {
            sql,
            expected,
            actual,
        } => f("column types mismatch".into(), &sql, expected, actual),
        TestErrorKind::Fail { sql, err, kind } => f(
            format!("{kind} failed"),
            &sql,
            "success".into(),
            format!("error: {err}"),
        ),
        TestErrorKind::ErrorMismatch {
            sql,
            err,
            expected_err,
            kind,
            ..
        } => f(
            format!("{kind} failed with another error"),
            &sql,
            format!("error {expected_err}"),
            format!("error: {err}"),
        ),
        TestErrorKind::Ok { sql, kind } => f(
            format!("{kind} succeeded but should fail"),
            &sql,
            "an error".into(),
            "success".into(),
        ),
        TestErrorKind::StatementResultMismatch {
            sql,
            expected,
            actual,
        } => f(
            "wrong row count".into(),
            &sql,
            format!("{expected} rows"),
            actual,
        ),
        other => f(other.to_string(), "", String::new(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(script: &str) -> Vec<Record<DefaultColumnType>> {
        sqllogictest::parse(script).unwrap()
    }

    #[test]
    fn labels_run_postgresql_records_and_skip_other_engines() {
        let only = |l: &str| Condition::OnlyIf { label: l.into() };
        let skip = |l: &str| Condition::SkipIf { label: l.into() };
        assert!(!skipped_by(&[only("postgresql")]));
        assert!(!skipped_by(&[only("spanlite")]));
        assert!(skipped_by(&[only("sqlite")]));
        assert!(skipped_by(&[skip("postgresql")]));
        assert!(!skipped_by(&[skip("mysql"), skip("mssql")]));
        assert!(!skipped_by(&[]));
    }

    #[test]
    fn the_parser_hands_a_halts_conditions_to_the_next_record() {
        // The behaviour run_records corrects for: if it changes, so must
        // the correction.
        let records = parse("onlyif mssql\nhalt\n\nstatement ok\nSELECT 1\n");
        let conditions = records
            .into_iter()
            .find_map(|mut r| conditions_of(&mut r).cloned())
            .unwrap();
        assert_eq!(
            conditions,
            vec![Condition::OnlyIf {
                label: "mssql".into()
            }]
        );
    }

    #[test]
    fn comments_after_a_condition_are_dropped() {
        let script = "onlyif sqlite # empty RHS\nskipif mysql\nSELECT 'onlyif a b'\n";
        assert_eq!(
            without_condition_comments(script),
            "onlyif sqlite\nskipif mysql\nSELECT 'onlyif a b'\n"
        );
        let records = parse(&without_condition_comments(
            "onlyif sqlite # why\nstatement ok\nSELECT 1\n",
        ));
        assert!(
            records
                .iter()
                .any(|r| matches!(r, Record::Statement { .. }))
        );
    }

    #[test]
    fn directories_expand_to_their_slt_and_test_files_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        for f in ["b.slt", "a.test", "notes.md", "sub/c.slt"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let single = dir.path().join("notes.md");
        let files = expand(&[dir.path().to_path_buf(), single.clone()]);
        assert_eq!(
            files,
            vec![
                dir.path().join("a.test"),
                dir.path().join("b.slt"),
                sub.join("c.slt"),
                single
            ]
        );
    }
}
