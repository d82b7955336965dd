//! Advisory locks (`pg_advisory_lock` and kin) on a 3-node cluster in
//! this process: one session's lock excludes sessions on every node, a
//! waiting lock is granted when the holder lets go, transaction-level
//! locks end with their transaction, and a session that ends (closed,
//! dropped) or a node that stops does not leave its locks behind. Their
//! use by psycopg: `pgwire_psycopg.py`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{run, wait_for};
use spanlite_node::embedded::EmbeddedCluster;
use spanlite_session::{AdvisoryLocks, Session};
use spanlite_sql::Value;
use spanlite_sql::advisory::request;

/// The one value `sql` returns in `s`.
async fn one(s: &mut Session, sql: &str) -> Value {
    // Boxed: a statement's future is large in a debug build, and the test
    // thread's stack is not.
    let r = Box::pin(run(s, sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(r.rows.len(), 1, "{sql}");
    r.rows[0][0].clone()
}

async fn try_lock(s: &mut Session, key: &str) -> bool {
    one(s, &format!("SELECT pg_try_advisory_lock({key})")).await == Value::Bool(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lock_excludes_sessions_on_every_node_until_its_last_unlock() {
    let cluster = EmbeddedCluster::start(3).await.unwrap();
    let mut a = Session::on(cluster.schema_of(0));
    let mut b = Session::on(cluster.schema_of(1));
    let mut c = Session::on(cluster.schema_of(0));

    assert!(try_lock(&mut a, "42").await);
    assert!(!try_lock(&mut b, "42").await, "a session on another node");
    assert!(
        !try_lock(&mut c, "42").await,
        "another session on the same node"
    );
    // Held twice: the first unlock leaves it held.
    assert!(try_lock(&mut a, "42").await);
    assert_eq!(
        one(&mut a, "SELECT pg_advisory_unlock(42)").await,
        Value::Bool(true)
    );
    assert!(!try_lock(&mut b, "42").await);
    assert_eq!(
        one(&mut a, "SELECT pg_advisory_unlock(42)").await,
        Value::Bool(true)
    );
    assert_eq!(
        one(&mut a, "SELECT pg_advisory_unlock(42)").await,
        Value::Bool(false),
        "no longer held"
    );
    assert!(try_lock(&mut b, "42").await);
    // The two-integer key space is another: (0, 42) is not 42.
    assert!(try_lock(&mut a, "0, 42").await);
    assert!(!try_lock(&mut c, "0, 42").await);

    // A waiting lock is granted once the holder lets go, not before.
    let released = Arc::new(AtomicBool::new(false));
    let seen = released.clone();
    let waiter = tokio::spawn(async move {
        let v = one(&mut c, "SELECT pg_advisory_lock(42)").await;
        assert!(
            seen.load(Ordering::SeqCst),
            "granted while the holder still held it"
        );
        (c, v)
    });
    // The waiter is in its wait when a try from elsewhere still fails.
    assert!(!try_lock(&mut a, "42").await);
    released.store(true, Ordering::SeqCst);
    assert_eq!(
        one(&mut b, "SELECT pg_advisory_unlock_all()").await,
        Value::Text(String::new())
    );
    let (mut c, v) = tokio::time::timeout(Duration::from_secs(20), waiter)
        .await
        .expect("the waiting lock was not granted")
        .unwrap();
    assert_eq!(v, Value::Text(String::new()), "void, shown empty");
    assert!(!try_lock(&mut b, "42").await);

    // Transaction-level locks end with their transaction.
    Box::pin(run(&mut b, "BEGIN")).await.unwrap();
    assert_eq!(
        one(&mut b, "SELECT pg_try_advisory_xact_lock(7)").await,
        Value::Bool(true)
    );
    assert!(!try_lock(&mut a, "7").await);
    Box::pin(run(&mut b, "COMMIT")).await.unwrap();
    assert!(try_lock(&mut a, "7").await);
    Box::pin(run(&mut b, "BEGIN")).await.unwrap();
    assert_eq!(
        one(&mut b, "SELECT pg_try_advisory_xact_lock(7)").await,
        Value::Bool(false)
    );
    Box::pin(run(&mut b, "ROLLBACK")).await.unwrap();

    // A closed session's locks go at once; a dropped one's soon after.
    c.close().await;
    assert!(try_lock(&mut b, "42").await);
    drop(a);
    wait_for(
        Duration::from_secs(20),
        "the dropped session's locks",
        || {
            let schema = cluster.schema_of(1);
            async move {
                let mut s = Session::on(schema);
                let free = try_lock(&mut s, "7").await;
                s.close().await;
                free.then_some(())
            }
        },
    )
    .await;

    // Refused where it cannot be answered once: 0A000.
    let err = Box::pin(run(
        &mut b,
        "SELECT pg_try_advisory_lock(1) FROM (VALUES (1)) AS v",
    ))
    .await
    .unwrap_err();
    assert!(err.starts_with("0A000"), "{err}");
    let err = Box::pin(run(&mut b, "SELECT pg_advisory_lock_shared(1)"))
        .await
        .unwrap_err();
    assert!(err.starts_with("0A000"), "{err}");
    b.close().await;
    cluster.shutdown().await;
}

// DISCARD ALL (what connection poolers run between clients) releases the
// session's locks, and its settings go back to where they started.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn discard_all_releases_the_sessions_locks_and_resets_its_settings() {
    let cluster = EmbeddedCluster::start(3).await.unwrap();
    let mut a = Session::on(cluster.schema_of(0));
    let mut b = Session::on(cluster.schema_of(1));
    assert!(try_lock(&mut a, "7").await);
    run(&mut a, "SET TIME ZONE 'Asia/Tokyo'").await.unwrap();
    assert!(!try_lock(&mut b, "7").await);
    run(&mut a, "DISCARD ALL").await.unwrap();
    let closed = a.take_closed();
    assert!(
        closed.all_statements && closed.portals,
        "the port is told to close its statements and portals"
    );
    assert!(try_lock(&mut b, "7").await, "released by DISCARD ALL");
    assert_eq!(
        one(&mut a, "SELECT current_setting('TimeZone')").await,
        Value::Text("UTC".into())
    );
    // Not inside a transaction block; the locks held stay held.
    assert!(try_lock(&mut a, "8").await);
    run(&mut a, "BEGIN").await.unwrap();
    let e = run(&mut a, "DISCARD ALL").await.unwrap_err();
    assert!(e.starts_with("25001"), "{e}");
    run(&mut a, "ROLLBACK").await.unwrap();
    assert!(!try_lock(&mut b, "8").await);
    a.close().await;
    b.close().await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_holder_that_stops_renewing_loses_its_locks_after_one_lease() {
    let cluster = EmbeddedCluster::start(3).await.unwrap();
    let lease = Duration::from_secs(2);
    // Two nodes' lock tables (one holder each), with short leases.
    let live = AdvisoryLocks::with_lease(cluster.gateway_of(0), None, lease);
    let crashing = AdvisoryLocks::with_lease(cluster.gateway_of(2), None, lease);
    let other = AdvisoryLocks::with_lease(cluster.gateway_of(1), None, lease);
    let try_lock = |key: i64| request("pg_try_advisory_lock", &[Value::Int(key)]).unwrap();
    assert!(live.run(1, &try_lock(1)).await.unwrap());
    assert!(crashing.run(1, &try_lock(2)).await.unwrap());

    // Past three leases, a live holder's lock is still its own: renewed.
    tokio::time::sleep(lease * 3).await;
    assert!(
        !other.run(1, &try_lock(1)).await.unwrap(),
        "a live lock expired"
    );
    assert!(!other.run(1, &try_lock(2)).await.unwrap());

    // The other holder goes away as a crashed node does (no release, no
    // more renewals): its lock is free once its lease has run out.
    drop(crashing);
    let taken = wait_for(lease * 5, "the lost holder's lock to expire", || {
        let other = other.clone();
        async move { other.run(1, &try_lock(2)).await.unwrap().then_some(()) }
    });
    taken.await;
    assert!(!other.run(1, &try_lock(1)).await.unwrap());
    cluster.shutdown().await;
}
