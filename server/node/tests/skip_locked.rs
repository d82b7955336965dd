//! `SELECT … FOR UPDATE SKIP LOCKED` and `NOWAIT` on a 3-node cluster in
//! this process, as job queues use them: workers on different nodes take
//! different jobs without waiting for each other (and without wounding:
//! an older worker passes a younger one's job by), a job a worker holds is
//! 55P03 for `NOWAIT`, the rows locked are those the query returns (after
//! its conditions, ORDER BY and LIMIT), and the `UPDATE … WHERE id IN
//! (SELECT … SKIP LOCKED) RETURNING` form claims a job in one statement.
//! Their use by psycopg: `pgwire_psycopg.py`.

mod common;

use std::time::Duration;

use common::run;
use spanlite_node::embedded::EmbeddedCluster;
use spanlite_session::Session;
use spanlite_sql::{QueryResult, Value};

/// Runs `sql` in `s`; it must not wait for a lock (these clauses never
/// do; a wait would last until the lock-wait deadline).
async fn now(s: &mut Session, sql: &str) -> Result<QueryResult, String> {
    // Boxed: a statement's future is large in a debug build, and the test
    // thread's stack is not.
    tokio::time::timeout(Duration::from_secs(20), Box::pin(run(s, sql)))
        .await
        .unwrap_or_else(|_| panic!("{sql}: waited"))
}

async fn ids(s: &mut Session, sql: &str) -> Vec<i64> {
    let r = now(s, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    r.rows
        .iter()
        .map(|row| match &row[0] {
            Value::Int(n) => *n,
            other => panic!("{sql}: {other:?}"),
        })
        .collect()
}

async fn ok(s: &mut Session, sql: &str) {
    now(s, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

const NEXT: &str = "SELECT id FROM jobs WHERE state = 'ready' ORDER BY id LIMIT 1 \
                    FOR UPDATE SKIP LOCKED";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_take_different_jobs_without_waiting_and_nowait_refuses_a_held_one() {
    let cluster = EmbeddedCluster::start(3).await.unwrap();
    let mut setup = Session::on(cluster.schema_of(0));
    ok(
        &mut setup,
        "CREATE TABLE jobs (id INT PRIMARY KEY, state TEXT NOT NULL, queue TEXT)",
    )
    .await;
    ok(&mut setup, "CREATE INDEX jobs_by_state ON jobs (state)").await;
    ok(
        &mut setup,
        "INSERT INTO jobs VALUES (1, 'ready', 'a'), (2, 'ready', 'a'), (3, 'ready', 'b'), \
         (4, 'ready', 'a'), (5, 'ready', 'a'), (6, 'done', 'a')",
    )
    .await;

    // `old` begins first, so it is the older transaction: under plain 2PL
    // it would wound `young` for a row `young` holds. Both are workers on
    // different nodes.
    let mut old = Session::on(cluster.schema_of(1));
    let mut young = Session::on(cluster.schema_of(0));
    // What these clauses do takes milliseconds; a wait for a lock would
    // last until the lock-wait deadline (seconds). A worker's statement
    // that waits fails instead (57014).
    for worker in [&mut old, &mut young] {
        ok(worker, "SET statement_timeout = '5s'").await;
    }
    ok(&mut old, "BEGIN").await;
    ok(&mut old, "SELECT 1").await;
    ok(&mut young, "BEGIN").await;
    assert_eq!(ids(&mut young, NEXT).await, vec![1]);
    assert_eq!(ids(&mut old, NEXT).await, vec![2], "job 1 is held: skipped");
    // Only the rows returned are locked: 3, 4 and 5 are still free.
    assert_eq!(
        ids(
            &mut old,
            "SELECT id FROM jobs WHERE state = 'ready' AND queue = 'a' ORDER BY id DESC \
             LIMIT 2 FOR UPDATE SKIP LOCKED"
        )
        .await,
        vec![5, 4]
    );

    // A third worker: NOWAIT on a held row fails at once; SKIP LOCKED
    // over the whole table leaves out every held row.
    let mut third = Session::on(cluster.schema_of(2));
    ok(&mut third, "SET statement_timeout = '5s'").await;
    let refused = now(
        &mut third,
        "SELECT * FROM jobs WHERE id = 1 FOR UPDATE NOWAIT",
    )
    .await
    .expect_err("job 1 is held");
    assert!(refused.starts_with("55P03"), "{refused}");
    assert!(refused.contains("\"jobs\""), "{refused}");
    assert_eq!(
        ids(
            &mut third,
            "SELECT id FROM jobs ORDER BY id FOR UPDATE SKIP LOCKED"
        )
        .await,
        vec![3, 6]
    );
    // NOWAIT on free rows locks them like FOR UPDATE.
    assert_eq!(
        ids(
            &mut third,
            "SELECT id FROM jobs WHERE id IN (3, 6) ORDER BY id FOR UPDATE NOWAIT"
        )
        .await,
        vec![3, 6]
    );

    // The younger worker was not wounded: it finishes its job.
    ok(&mut young, "UPDATE jobs SET state = 'done' WHERE id = 1").await;
    ok(&mut young, "COMMIT").await;
    // Job 1 is done (its new state is what the check reads), 2, 4 and 5
    // are still held.
    assert_eq!(ids(&mut third, NEXT).await, vec![3]);
    ok(&mut old, "COMMIT").await;

    // Claiming in one statement, as queue libraries do.
    let claim = "UPDATE jobs SET state = 'running' WHERE id IN (SELECT id FROM jobs \
                 WHERE state = 'ready' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id";
    assert_eq!(ids(&mut third, claim).await, vec![2]);
    assert_eq!(ids(&mut third, claim).await, vec![3]);
    ok(&mut young, "BEGIN").await;
    assert_eq!(ids(&mut young, claim).await, vec![4]);
    assert_eq!(ids(&mut third, claim).await, vec![5], "4 is held");
    assert_eq!(ids(&mut third, claim).await, Vec::<i64>::new());
    ok(&mut young, "ROLLBACK").await;
    assert_eq!(ids(&mut third, claim).await, vec![4], "rolled back");

    // pg-boss's form: WITH … UPDATE … FROM the CTE. Job 6 is made ready
    // and 7 added; `young` holds 6, and the claim reads job rows by the
    // CTE's keys, so it neither waits for 6 nor takes it.
    ok(&mut setup, "UPDATE jobs SET state = 'ready' WHERE id = 6").await;
    ok(&mut setup, "INSERT INTO jobs VALUES (7, 'ready', 'a')").await;
    ok(&mut young, "BEGIN").await;
    assert_eq!(
        ids(&mut young, "SELECT id FROM jobs WHERE id = 6 FOR UPDATE").await,
        vec![6]
    );
    let boss = "WITH next AS (SELECT id FROM jobs WHERE state = 'ready' ORDER BY id \
                LIMIT 1 FOR UPDATE SKIP LOCKED) UPDATE jobs j SET state = 'active' FROM next \
                WHERE j.id = next.id RETURNING j.id";
    assert_eq!(ids(&mut third, boss).await, vec![7]);
    ok(&mut young, "COMMIT").await;
    assert_eq!(ids(&mut third, boss).await, vec![6]);
    assert_eq!(
        ids(
            &mut setup,
            "SELECT id FROM jobs WHERE state = 'running' ORDER BY id"
        )
        .await,
        vec![2, 3, 4, 5]
    );

    // What these clauses cannot do says so.
    for (sql, what) in [
        (
            "SELECT count(*) FROM jobs FOR UPDATE SKIP LOCKED",
            "GROUP BY",
        ),
        (
            "SELECT j.id FROM jobs j JOIN jobs k ON j.id = k.id FOR UPDATE NOWAIT",
            "joins",
        ),
        ("SELECT id FROM jobs FOR SHARE SKIP LOCKED", "FOR SHARE"),
    ] {
        let e = now(&mut setup, sql).await.expect_err(sql);
        assert!(e.starts_with("0A000") && e.contains(what), "{sql}: {e}");
    }
    cluster.shutdown().await;
}
