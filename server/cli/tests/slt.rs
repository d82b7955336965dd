//! The SQL logic tests in `tests/slt/` (at the repository root) pass:
//! every record of every file, each file on a fresh embedded cluster.
//! On failure, each file's pass rate and its failing records (SQL,
//! expected, actual) are printed.

use spanlite_cli::slt::{SltOptions, run_files};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sql_logic_test_passes() {
    // server/cli → the workspace root.
    // This checkout's files (cargo sets the variable when it runs tests).
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let root = manifest
        .ancestors()
        .nth(2)
        .expect("the cli crate is server/cli in the workspace");
    let options = SltOptions {
        failures_shown: 20,
        print: false,
        ..SltOptions::default()
    };
    let summary = run_files(&[root.join("tests/slt")], &options).await;
    // println! (not the runner's own printing) so the harness captures it.
    for file in &summary.files {
        println!("{file}");
    }
    println!("{summary}");
    assert!(!summary.files.is_empty(), "no files in tests/slt");
    assert!(
        summary.ok(),
        "{} of {} records failed (see the output above)",
        summary.failed(),
        summary.passed() + summary.failed()
    );
}

/// Writes `script` to a file of a new temporary directory.
fn script_file(script: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.slt");
    std::fs::write(&path, script).unwrap();
    (dir, path)
}

// A failing record does not stop its file; skipped records and records
// after a halt are not counted; a halt for another engine is passed over
// without leaking its condition onto the next record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_counted_one_by_one_through_failures_skips_and_halts() {
    let (_dir, path) = script_file(
        "\
statement ok
CREATE TABLE t (k INT PRIMARY KEY, v TEXT)

onlyif mysql
halt

statement ok
INSERT INTO t VALUES (1, ''), (2, NULL)

query IT
SELECT k, v FROM t ORDER BY k
----
1 (empty)
2 NULL

query I
SELECT count(*) FROM t
----
3

statement error 23505
INSERT INTO t VALUES (1, 'again')

statement error 42P01
INSERT INTO t VALUES (1, 'again')

onlyif sqlite
statement ok
SELECT sqlite_only()

skipif postgresql
statement ok
SELECT not_for_postgresql()

halt

statement ok
SELECT after_the_halt()
",
    );
    let options = SltOptions {
        print: false,
        ..SltOptions::default()
    };
    let summary = run_files(std::slice::from_ref(&path), &options).await;
    let file = &summary.files[0];
    assert_eq!(file.error, None);
    assert_eq!(
        (file.passed, file.failed, file.skipped),
        (4, 2, 2),
        "{file}"
    );
    let lines: Vec<u32> = file.failures.iter().map(|f| f.line).collect();
    assert_eq!(lines, vec![16, 24], "{file}");
    assert!(file.failures[1].actual.contains("23505"), "{file}");
    assert!(!summary.ok());
}

// A record that takes too long fails with 57014 instead of hanging the
// run, and the connection goes on with a fresh session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_past_its_time_limit_fails_and_the_session_is_replaced() {
    use spanlite_cli::slt::SessionDb;
    use spanlite_node::embedded::EmbeddedCluster;
    use sqllogictest::AsyncDB;

    let cluster = EmbeddedCluster::start(3).await.unwrap();
    // No time at all: a write, which needs a Raft round trip, cannot make it.
    let mut impatient = SessionDb::new(cluster.schema_of(0), std::time::Duration::ZERO);
    let err = impatient
        .run("CREATE TABLE t (k INT PRIMARY KEY)")
        .await
        .err()
        .expect("a timeout");
    assert_eq!(err.code, "57014");
    let mut patient = SessionDb::new(cluster.schema_of(0), std::time::Duration::from_secs(60));
    assert!(patient.run("SELECT 1").await.is_ok());
    impatient.shutdown().await;
    patient.shutdown().await;
    cluster.shutdown().await;
}

// A file that does not parse is reported, not fatal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_does_not_parse_is_reported_as_not_run() {
    let (_dir, path) = script_file("statement maybe\nSELECT 1\n");
    let options = SltOptions {
        print: false,
        ..SltOptions::default()
    };
    let summary = run_files(
        &[path.clone(), path.with_file_name("missing.slt")],
        &options,
    )
    .await;
    assert_eq!(summary.files.len(), 2);
    assert!(summary.files.iter().all(|f| f.error.is_some()));
    assert!(!summary.ok());
}
