//! SQL sessions over gRPC on a real 3-node cluster in this process, and the
//! `spanlite demo` binary end to end.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{BIN, Proc, exit_of, lines_of, send, wait_for_line};

use spanlite_cli::shell::{Outcome, SqlClient};
use spanlite_node::NodeConfig;
use spanlite_node::embedded::EmbeddedCluster;
use spanlite_replica::raft::RaftTiming;
use spanlite_sql::Value;

/// Three nodes with fast elections; idle transactions reaped after a second.
async fn cluster() -> (EmbeddedCluster, Vec<String>) {
    cluster_reaping_after(Duration::from_secs(1)).await
}

/// Three nodes with fast elections; idle transactions reaped after `idle`.
async fn cluster_reaping_after(idle: Duration) -> (EmbeddedCluster, Vec<String>) {
    let tweak = move |c: &mut NodeConfig| {
        c.timing = RaftTiming {
            heartbeat: Duration::from_millis(100),
            election_min: Duration::from_millis(500),
            election_max: Duration::from_millis(750),
            snapshot_every: 10_000,
        };
        c.txn_idle_timeout = idle;
    };
    let cluster = EmbeddedCluster::start_with(3, &tweak).await.unwrap();
    let addrs = cluster.addrs().to_vec();
    (cluster, addrs)
}

async fn ok(c: &mut SqlClient, sql: &str) -> Vec<Vec<Value>> {
    match c.statement(sql).await.unwrap() {
        Outcome::Rows { rows, .. } => rows,
        Outcome::Error { sqlstate, message } => panic!("{sql}: {message} ({sqlstate})"),
    }
}

async fn err(c: &mut SqlClient, sql: &str) -> String {
    match c.statement(sql).await.unwrap() {
        Outcome::Rows { tag, .. } => panic!("{sql}: expected an error, got {tag}"),
        Outcome::Error { sqlstate, .. } => sqlstate,
    }
}

// Ends with the nodes shutting down while sessions a and b are still open:
// a node's shutdown ends its sessions rather than waiting for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_run_statements_transactions_and_report_sqlstates() {
    let (cluster, addrs) = cluster().await;
    let mut a = SqlClient::connect(&addrs[..1]).await.unwrap();
    let mut b = SqlClient::connect(&addrs[1..2]).await.unwrap();
    ok(&mut a, "CREATE TABLE kv (k INT PRIMARY KEY, v TEXT)").await;
    ok(&mut a, "INSERT INTO kv VALUES (1, 'one'), (2, 'two')").await;
    // Another node's session sees the committed rows.
    assert_eq!(
        ok(&mut b, "SELECT v FROM kv ORDER BY k DESC").await,
        vec![
            vec![Value::Text("two".into())],
            vec![Value::Text("one".into())]
        ]
    );

    // Errors leave the session usable.
    assert_eq!(err(&mut a, "SELEC 1").await, "42601");
    assert_eq!(err(&mut a, "SELECT * FROM missing").await, "42P01");
    assert_eq!(
        err(&mut a, "INSERT INTO kv VALUES (1, 'dup')").await,
        "23505"
    );
    assert_eq!(
        ok(&mut a, "SELECT count(*) FROM kv").await,
        vec![vec![Value::Int(2)]]
    );

    // An explicit transaction: invisible to others until COMMIT.
    ok(&mut a, "BEGIN").await;
    ok(&mut a, "INSERT INTO kv VALUES (3, 'three')").await;
    assert_eq!(
        ok(&mut a, "SELECT count(*) FROM kv").await,
        vec![vec![Value::Int(3)]],
        "a transaction reads its own writes"
    );
    ok(&mut a, "COMMIT").await;
    assert_eq!(
        ok(&mut b, "SELECT count(*) FROM kv").await,
        vec![vec![Value::Int(3)]]
    );

    // An error fails the transaction: later statements are refused, and
    // COMMIT rolls back (the earlier insert does not survive).
    ok(&mut a, "BEGIN").await;
    ok(&mut a, "INSERT INTO kv VALUES (4, 'four')").await;
    assert_eq!(
        err(&mut a, "INSERT INTO kv VALUES (1, 'dup')").await,
        "23505"
    );
    assert_eq!(err(&mut a, "SELECT 1").await, "25P02");
    match a.statement("COMMIT").await.unwrap() {
        Outcome::Rows { tag, .. } => assert_eq!(tag, "ROLLBACK"),
        Outcome::Error { message, .. } => panic!("COMMIT: {message}"),
    }
    assert!(ok(&mut b, "SELECT * FROM kv WHERE k = 4").await.is_empty());

    // A read-only transaction refuses writes.
    ok(&mut a, "BEGIN READ ONLY").await;
    assert_eq!(
        ok(&mut a, "SELECT count(*) FROM kv").await,
        vec![vec![Value::Int(3)]]
    );
    assert_eq!(
        err(&mut a, "INSERT INTO kv VALUES (5, 'five')").await,
        "25006"
    );
    ok(&mut a, "ROLLBACK").await;

    // A client that vanishes mid-transaction has it rolled back: its lock
    // does not block others.
    let mut c = SqlClient::connect(&addrs[2..3]).await.unwrap();
    ok(&mut c, "BEGIN").await;
    ok(&mut c, "UPDATE kv SET v = 'held' WHERE k = 1").await;
    drop(c);
    ok(&mut b, "UPDATE kv SET v = 'uno' WHERE k = 1").await;
    // Released by the rollback, not by the leader's idle sweep (which would
    // also let b through, a second later, and count an "idle" abort).
    for n in cluster.nodes() {
        let aborts = n.context.store.metrics().snapshot().aborts;
        assert!(
            !aborts.keys().any(|k| k.starts_with("idle")),
            "node {}: the vanished client's transaction was only idle-aborted: {aborts:?}",
            n.context.node_id
        );
    }
    assert_eq!(
        ok(&mut a, "SELECT v FROM kv WHERE k = 1").await,
        vec![vec![Value::Text("uno".into())]]
    );
    cluster.shutdown().await;
}

#[test]
fn demo_runs_a_script_against_its_sample_data() {
    let out = Command::new(env!("CARGO_BIN_EXE_spanlite"))
        .args([
            "demo",
            "-e",
            "SELECT count(*), sum(balance) FROM accounts; \
             BEGIN; UPDATE accounts SET balance = balance - 10 WHERE id = 1; \
             UPDATE accounts SET balance = balance + 10 WHERE id = 90; COMMIT; \
             SELECT balance FROM accounts WHERE id = 90;",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("100000"), "{stdout}");
    assert!(stdout.contains("1010"), "{stdout}");
    let bad = Command::new(env!("CARGO_BIN_EXE_spanlite"))
        .args(["demo", "-e", "SELECT * FROM nope;"])
        .output()
        .unwrap();
    assert!(!bad.status.success(), "an error must fail a script");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("42P01"));
}

fn text(s: &str) -> Vec<Vec<Value>> {
    vec![vec![Value::Text(s.into())]]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_modes_are_chosen_per_transaction_session_and_cluster() {
    let (cluster, addrs) = cluster().await;
    let mut a = SqlClient::connect(&addrs[..1]).await.unwrap();
    let mut b = SqlClient::connect(&addrs[1..2]).await.unwrap();
    let mode = "SHOW transaction_concurrency";

    // Per transaction.
    assert_eq!(ok(&mut a, mode).await, text("2pl"));
    ok(&mut a, "BEGIN ISOLATION LEVEL SNAPSHOT").await;
    assert_eq!(ok(&mut a, mode).await, text("si"));
    assert_eq!(
        ok(&mut a, "SHOW transaction_isolation").await,
        text("snapshot")
    );
    ok(&mut a, "COMMIT").await;
    ok(&mut a, "BEGIN").await;
    ok(&mut a, "SET TRANSACTION CONCURRENCY 'occ'").await;
    assert_eq!(ok(&mut a, mode).await, text("occ"));
    ok(&mut a, "ROLLBACK").await;
    ok(
        &mut a,
        "BEGIN ISOLATION LEVEL SERIALIZABLE CONCURRENCY 'ssi'",
    )
    .await;
    assert_eq!(ok(&mut a, mode).await, text("ssi"));
    ok(&mut a, "COMMIT").await;
    assert_eq!(err(&mut a, "BEGIN CONCURRENCY 'mvcc'").await, "22023");
    assert_eq!(
        err(&mut a, "BEGIN ISOLATION LEVEL SNAPSHOT CONCURRENCY 'occ'").await,
        "22023"
    );
    assert_eq!(err(&mut a, "SELECT 1 CONCURRENCY 'occ'").await, "42601");
    ok(&mut a, "BEGIN ISOLATION LEVEL READ COMMITTED").await;
    assert_eq!(ok(&mut a, mode).await, text("rc"));
    assert_eq!(
        ok(&mut a, "SHOW transaction_isolation").await,
        text("read committed")
    );
    ok(&mut a, "COMMIT").await;
    assert_eq!(
        err(
            &mut a,
            "BEGIN ISOLATION LEVEL READ COMMITTED CONCURRENCY '2pl'"
        )
        .await,
        "22023"
    );

    // Per session.
    ok(&mut a, "SET concurrency = 'occ'").await;
    ok(&mut a, "BEGIN").await;
    assert_eq!(ok(&mut a, mode).await, text("occ"));
    ok(&mut a, "COMMIT").await;
    ok(
        &mut a,
        "SET default_transaction_isolation = 'repeatable read'",
    )
    .await;
    assert_eq!(ok(&mut a, mode).await, text("si"));
    ok(
        &mut a,
        "SET default_transaction_isolation = 'read committed'",
    )
    .await;
    assert_eq!(ok(&mut a, mode).await, text("rc"));
    ok(&mut a, "SET default_transaction_isolation = 'serializable'").await;
    assert_eq!(ok(&mut a, mode).await, text("occ"));
    // The two settings agree whichever was set last.
    ok(&mut a, "SET concurrency = 'rc'").await;
    assert_eq!(
        ok(&mut a, "SHOW transaction_isolation").await,
        text("read committed")
    );
    ok(
        &mut a,
        "SET default_transaction_isolation = 'repeatable read'",
    )
    .await;
    assert_eq!(ok(&mut a, mode).await, text("si"));
    ok(&mut a, "SET default_transaction_isolation = 'serializable'").await;
    assert_eq!(ok(&mut a, mode).await, text("2pl"));
    ok(&mut a, "SET concurrency = 'occ'").await;
    assert_eq!(err(&mut a, "SET concurrency = 'fast'").await, "22023");

    // Per cluster: sessions started after the change follow it.
    assert_eq!(
        ok(&mut b, "SHOW CLUSTER SETTING default_concurrency").await,
        text("2pl")
    );
    ok(&mut b, "SET CLUSTER SETTING default_concurrency = 'ssi'").await;
    let mut c = SqlClient::connect(&addrs[2..3]).await.unwrap();
    assert_eq!(ok(&mut c, "SHOW concurrency").await, text("ssi"));
    assert_eq!(ok(&mut c, mode).await, text("ssi"));
    assert_eq!(
        err(&mut c, "SET CLUSTER SETTING default_concurrency = 'fast'").await,
        "22023"
    );
    assert_eq!(err(&mut c, "SHOW CLUSTER SETTING speed").await, "42704");
    ok(&mut c, "SET CLUSTER SETTING default_concurrency = '2pl'").await;

    // Write skew through SQL: under SI both doctors go off call; under SSI
    // the second commit fails with 40001 and one stays on call.
    ok(
        &mut a,
        "CREATE TABLE oncall (id INT PRIMARY KEY, on_call BOOLEAN)",
    )
    .await;
    for (level, expect_skew) in [
        ("SNAPSHOT", true),
        ("SERIALIZABLE CONCURRENCY 'ssi'", false),
    ] {
        ok(&mut a, "DELETE FROM oncall").await;
        ok(&mut a, "INSERT INTO oncall VALUES (1, true), (2, true)").await;
        for (s, _) in [(&mut a, 1), (&mut b, 2)] {
            ok(s, &format!("BEGIN ISOLATION LEVEL {level}")).await;
            assert_eq!(
                ok(s, "SELECT count(*) FROM oncall WHERE on_call").await,
                vec![vec![Value::Int(2)]]
            );
        }
        ok(&mut a, "UPDATE oncall SET on_call = false WHERE id = 1").await;
        ok(&mut b, "UPDATE oncall SET on_call = false WHERE id = 2").await;
        ok(&mut a, "COMMIT").await;
        let second = b.statement("COMMIT").await.unwrap();
        let on_call = ok(&mut a, "SELECT count(*) FROM oncall WHERE on_call").await;
        if expect_skew {
            assert!(matches!(second, Outcome::Rows { .. }), "{second:?}");
            assert_eq!(on_call, vec![vec![Value::Int(0)]], "SI: write skew");
        } else {
            match second {
                Outcome::Error { sqlstate, .. } => assert_eq!(sqlstate, "40001"),
                other => panic!("SSI let write skew commit: {other:?}"),
            }
            assert_eq!(on_call, vec![vec![Value::Int(1)]]);
        }
    }

    // Read committed: each statement sees what committed before it, and an
    // UPDATE reads its row newest under a lock (under SI the same UPDATE
    // fails at commit: first committer wins).
    ok(&mut a, "CREATE TABLE rc (id INT PRIMARY KEY, v INT)").await;
    ok(&mut a, "INSERT INTO rc VALUES (1, 1)").await;
    for (level, commits) in [("READ COMMITTED", true), ("SNAPSHOT", false)] {
        ok(&mut a, "UPDATE rc SET v = 1 WHERE id = 1").await;
        ok(&mut a, &format!("BEGIN ISOLATION LEVEL {level}")).await;
        let seen = ok(&mut a, "SELECT v FROM rc WHERE id = 1").await;
        assert_eq!(seen, vec![vec![Value::Int(1)]]);
        ok(&mut b, "UPDATE rc SET v = 10 WHERE id = 1").await;
        let again = ok(&mut a, "SELECT v FROM rc WHERE id = 1").await;
        let expected = if commits { 10 } else { 1 };
        assert_eq!(again, vec![vec![Value::Int(expected)]], "{level}");
        ok(&mut a, "UPDATE rc SET v = v + 1 WHERE id = 1").await;
        let end = a.statement("COMMIT").await.unwrap();
        let v = ok(&mut b, "SELECT v FROM rc WHERE id = 1").await;
        if commits {
            assert!(matches!(end, Outcome::Rows { .. }), "{level}: {end:?}");
            assert_eq!(v, vec![vec![Value::Int(11)]], "{level}: lost update");
        } else {
            match end {
                Outcome::Error { sqlstate, .. } => assert_eq!(sqlstate, "40001"),
                other => panic!("{level}: overwrote a newer commit: {other:?}"),
            }
            assert_eq!(v, vec![vec![Value::Int(10)]]);
        }
    }
    cluster.shutdown().await;
}

/// A table `held` whose row 1 (v = 0) another session has locked FOR
/// UPDATE in an open 2PL transaction (returned: it commits v = 10 later).
async fn a_locked_row(addrs: &[String]) -> SqlClient {
    let mut holder = SqlClient::connect(&addrs[..1]).await.unwrap();
    ok(&mut holder, "CREATE TABLE held (id INT PRIMARY KEY, v INT)").await;
    ok(&mut holder, "INSERT INTO held VALUES (1, 0)").await;
    ok(&mut holder, "BEGIN").await;
    ok(&mut holder, "SELECT v FROM held WHERE id = 1 FOR UPDATE").await;
    holder
}

/// Statements waiting for a row lock now.
fn lock_waiters(cluster: &EmbeddedCluster) -> usize {
    cluster
        .nodes()
        .iter()
        .flat_map(|n| n.context.store.replicas())
        .map(|r| r.lock_waiters())
        .sum()
}

/// Whether some statement waits for a row lock within 30 s.
fn a_lock_waits(cluster: &EmbeddedCluster) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while lock_waiters(cluster) == 0 {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// The holder commits v = 10; the cancelled UPDATE (v + 1) left nothing.
async fn only_the_holders_write(holder: &mut SqlClient) {
    ok(holder, "UPDATE held SET v = 10 WHERE id = 1").await;
    ok(holder, "COMMIT").await;
    assert_eq!(
        ok(holder, "SELECT v FROM held WHERE id = 1").await,
        vec![vec![Value::Int(10)]],
        "the cancelled UPDATE must not apply"
    );
}

/// Ctrl-C (SIGINT) while `spanlite sql -e` waits on a lock cancels the
/// statement, as psql does: the script fails with 57014 (exit 1, not
/// killed by the signal) and the UPDATE never applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_cancels_a_scripts_running_statement() {
    let (cluster, addrs) = cluster_reaping_after(Duration::from_secs(600)).await;
    let mut holder = a_locked_row(&addrs).await;
    let mut child = Proc(
        Command::new(BIN)
            .args([
                "sql",
                "--url",
                &addrs[1],
                "-e",
                "UPDATE held SET v = v + 1 WHERE id = 1",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (status, stderr) = tokio::task::block_in_place(|| {
        let stderr = lines_of(child.0.stderr.take().unwrap());
        assert!(
            a_lock_waits(&cluster),
            "the statement never waited for the lock: {:#?}",
            stderr.try_iter().collect::<Vec<_>>()
        );
        send(&child.0, "INT");
        let status = exit_of(&mut child.0);
        (status, stderr.iter().collect::<Vec<_>>())
    });
    assert_eq!(status.code(), Some(1), "stderr: {stderr:#?}");
    assert!(
        stderr.iter().any(|l| l.contains("Cancel request sent")),
        "stderr: {stderr:#?}"
    );
    assert!(
        stderr
            .iter()
            .any(|l| l.contains("canceling statement due to user request") && l.contains("57014")),
        "stderr: {stderr:#?}"
    );
    only_the_holders_write(&mut holder).await;
    cluster.shutdown().await;
}

/// The interactive shell on a terminal (a pseudo-terminal made by
/// `script`, util-linux): Ctrl-C typed while a statement waits on a lock
/// (the terminal sends SIGINT) cancels that statement, and the shell goes
/// on with the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_at_the_shell_cancels_the_statement_and_the_shell_goes_on() {
    let (cluster, addrs) = cluster_reaping_after(Duration::from_secs(600)).await;
    let mut holder = a_locked_row(&addrs).await;
    let mut script = Proc(
        Command::new("script")
            .args([
                "-qfec",
                // `exec`: `script` runs the command with `$SHELL -c`, and
                // dash (Debian's /bin/sh) forks for it and waits. The
                // typed Ctrl-C reaches that shell too (the terminal's
                // foreground group), which it kills: `script` then exits
                // with 130 after the shell ends, whatever the shell did.
                &format!("exec {BIN} sql --url {}", addrs[1]),
                "/dev/null",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("`script` (util-linux) runs the shell on a pseudo-terminal"),
    );
    let seen = tokio::task::block_in_place(|| {
        let lines = lines_of(script.0.stdout.take().unwrap());
        let mut seen = Vec::new();
        wait_for_line(&lines, &mut seen, "Type \\? for help");
        let mut input = script.0.stdin.take().unwrap();
        input
            .write_all(b"UPDATE held SET v = v + 1 WHERE id = 1;\n")
            .unwrap();
        input.flush().unwrap();
        if !a_lock_waits(&cluster) {
            seen.extend(lines.try_iter());
            panic!("the statement never waited for the lock; output: {seen:#?}");
        }
        // Ctrl-C, as typed.
        input.write_all(b"\x03").unwrap();
        input.flush().unwrap();
        wait_for_line(&lines, &mut seen, "57014");
        input.write_all(b"SELECT 40 + 2 AS answer;\n").unwrap();
        input.flush().unwrap();
        wait_for_line(&lines, &mut seen, "(1 row)");
        input.write_all(b"\\q\n").unwrap();
        input.flush().unwrap();
        let status = exit_of(&mut script.0);
        seen.extend(lines.iter());
        assert!(
            status.success(),
            "the shell's exit: {status}; output: {seen:#?}"
        );
        seen
    });
    assert!(
        seen.iter()
            .any(|l| l.contains("canceling statement due to user request")),
        "output: {seen:#?}"
    );
    assert!(
        seen.iter().any(|l| l.starts_with("│ 42")),
        "the shell went on after the cancel; output: {seen:#?}"
    );
    only_the_holders_write(&mut holder).await;
    cluster.shutdown().await;
}

/// A client that goes away while its statement waits on a lock (its task
/// aborted: the session's stream is reset): the node cancels the
/// statement. Before, it waited on for the lock — to run once the holder
/// committed, or to time out after 4 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_whose_client_went_away_is_cancelled() {
    let (cluster, addrs) = cluster_reaping_after(Duration::from_secs(600)).await;
    let mut holder = a_locked_row(&addrs).await;
    let mut gone = SqlClient::connect(&addrs[1..2]).await.unwrap();
    let task = tokio::spawn(async move {
        gone.statement("UPDATE held SET v = v + 1 WHERE id = 1")
            .await
    });
    assert!(
        tokio::task::block_in_place(|| a_lock_waits(&cluster)),
        "the statement never waited for the lock"
    );
    task.abort();
    assert!(task.await.is_err_and(|e| e.is_cancelled()));
    let deadline = Instant::now() + Duration::from_secs(30);
    while lock_waiters(&cluster) > 0 {
        assert!(Instant::now() < deadline, "the statement still waits");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Cancelled, not timed out.
    let timeouts: u64 = cluster
        .nodes()
        .iter()
        .filter_map(|n| {
            n.context
                .store
                .metrics()
                .snapshot()
                .aborts
                .get("lock_timeout")
                .copied()
        })
        .sum();
    assert_eq!(timeouts, 0, "the statement's lock wait timed out");
    only_the_holders_write(&mut holder).await;
    cluster.shutdown().await;
}
