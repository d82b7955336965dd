//! A client's retry of a transaction block keeps its wound-wait priority
//! (`server/session/src/session/block.rs`): after a block ends in a
//! serialization failure, the session's next BEGIN is as old as the block
//! that failed, so the retry wounds transactions begun since instead of
//! waiting for them or being wounded by them again. A block that ends
//! otherwise passes nothing on. Three sessions on a 3-node cluster in this
//! process.

mod common;

use std::time::Duration;

use common::run;
use spanlite_node::embedded::EmbeddedCluster;
use spanlite_session::Session;
use spanlite_sql::{QueryResult, Value};

/// Runs `sql` in `s`. Every session here has a 5 s statement timeout, so
/// a statement that waits for a lock it should have taken fails (57014).
async fn try_run(s: &mut Session, sql: &str) -> Result<QueryResult, String> {
    // Boxed: a statement's future is large in a debug build, and the test
    // thread's stack is not.
    tokio::time::timeout(Duration::from_secs(20), Box::pin(run(s, sql)))
        .await
        .unwrap_or_else(|_| panic!("{sql}: no answer"))
}

async fn ok(s: &mut Session, sql: &str) {
    try_run(s, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn fails(s: &mut Session, sql: &str) -> String {
    let e = try_run(s, sql).await.expect_err(sql);
    assert!(e.starts_with("40001"), "{sql}: {e}");
    e
}

async fn session(cluster: &EmbeddedCluster, node: usize) -> Session {
    let mut s = Session::on(cluster.schema_of(node));
    ok(&mut s, "SET statement_timeout = '5s'").await;
    s
}

const BUMP: &str = "UPDATE counters SET v = v + 1 WHERE id = 1";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_block_retried_after_a_serialization_failure_keeps_its_priority() {
    let cluster = EmbeddedCluster::start(3).await.unwrap();
    let mut sessions = Vec::new();
    for n in 0..2 {
        sessions.push(session(&cluster, n).await);
    }
    let [older, retrier] = &mut sessions[..] else {
        unreachable!("two sessions")
    };
    ok(
        older,
        "CREATE TABLE counters (id INT PRIMARY KEY, v INT NOT NULL)",
    )
    .await;
    ok(older, "INSERT INTO counters VALUES (1, 0)").await;

    // Twice: the retrier's block is wounded by an older one, and learns
    // it from its next statement (then ROLLBACK), or from its COMMIT.
    for learns_at_commit in [false, true] {
        ok(older, "BEGIN").await;
        // Begun after `older`: younger. (The second time round this shows
        // that the block that committed last time passed nothing on: were
        // it still as old as its first attempt, `older` would wait for it
        // below instead of wounding it.)
        ok(retrier, "BEGIN").await;
        ok(retrier, BUMP).await;
        ok(older, BUMP).await;
        ok(older, "COMMIT").await;
        if learns_at_commit {
            fails(retrier, "COMMIT").await;
        } else {
            // (A read of a row it has not written: it goes to the tablet.)
            fails(retrier, "SELECT v FROM counters WHERE id = 2").await;
            ok(retrier, "ROLLBACK").await;
        }

        // A transaction begun after the failed block holds the row when
        // the client retries it. (A session of its own each time: the
        // first time round it is wounded, and its own retry would be old.)
        let newer = &mut session(&cluster, 2).await;
        ok(newer, "BEGIN").await;
        ok(newer, BUMP).await;
        ok(retrier, "BEGIN").await;
        // As old as its first attempt, the retry wounds `newer` and goes
        // on; begun afresh, it would wait for `newer` (and fail, 57014).
        ok(retrier, BUMP).await;
        let e = fails(newer, "COMMIT").await;
        assert!(e.contains("wounded"), "{e}");
        ok(retrier, "COMMIT").await;
        newer.close().await;
    }
    let r = try_run(older, "SELECT v FROM counters WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(
        r.rows,
        vec![vec![Value::Int(4)]],
        "older's and the retries' increments"
    );
    for s in &mut sessions {
        s.close().await;
    }
    cluster.shutdown().await;
}
