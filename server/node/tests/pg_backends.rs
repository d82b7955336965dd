//! `pg_stat_activity`, `pg_cancel_backend` and `pg_terminate_backend` on
//! the PostgreSQL port of a 3-node cluster in this process: a session
//! sees the node's sessions and what they run, cancels another's
//! statement and ends another's connection; a role that is not a
//! superuser may signal its own sessions only. And a prepared statement's
//! Describe (which runs it to learn its columns) does none of what its
//! Execute does to other sessions, sequences or locks.

use std::time::Duration;

use spanlite_pgwire::Auth;
use tokio_postgres::Client;

mod pg;
use pg::{PgCluster, connect_as};

/// How long a condition may take to hold.
const DEADLINE: Duration = Duration::from_secs(20);

/// `pid`'s (state, query) in `pg_stat_activity` as `c` sees it.
async fn activity_of(c: &Client, pid: i64) -> Option<(String, String)> {
    c.query(
        &format!("SELECT state, query FROM pg_stat_activity WHERE pid = {pid}"),
        &[],
    )
    .await
    .unwrap()
    .first()
    .map(|r| (r.get(0), r.get(1)))
}

/// Waits until `pid`'s row in `pg_stat_activity` (as `c` sees it)
/// satisfies `ok`.
async fn wait_for_activity(
    c: &Client,
    pid: i64,
    ok: impl Fn(Option<&(String, String)>) -> bool,
) -> Option<(String, String)> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let a = activity_of(c, pid).await;
        if ok(a.as_ref()) {
            return a;
        }
        assert!(tokio::time::Instant::now() < deadline, "pid {pid}: {a:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn pid(c: &Client) -> i64 {
    c.query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_are_listed_cancelled_and_terminated() {
    let pg = PgCluster::start_with(Auth::Password).await;
    pg.as_root(
        "CREATE USER alice WITH PASSWORD 'pw'; \
         CREATE USER bob WITH PASSWORD 'pw'; \
         CREATE USER boss WITH SUPERUSER PASSWORD 'pw'",
    )
    .await;
    let boss = connect_as(&pg, "boss", "pw").await.unwrap();
    let alice = connect_as(&pg, "alice", "pw").await.unwrap();
    let alice_too = connect_as(&pg, "alice", "pw").await.unwrap();
    let bob = connect_as(&pg, "bob", "pw").await.unwrap();
    let (pid_alice, pid_bob) = (pid(&alice).await, pid(&bob).await);

    // Every session of the node, with its role, state and last statement.
    let rows = boss
        .query(
            "SELECT pid, usename, application_name, state, query, client_addr, \
                    backend_start <= now() FROM pg_stat_activity ORDER BY pid",
            &[],
        )
        .await
        .unwrap();
    let me = pid(&boss).await;
    let row = |p: i64| rows.iter().find(|r| r.get::<_, i64>(0) == p);
    let a = row(pid_alice).expect("alice's session is listed");
    assert_eq!(a.get::<_, String>(1), "alice");
    assert_eq!(a.get::<_, String>(3), "idle");
    assert_eq!(a.get::<_, String>(4), "SELECT pg_backend_pid()");
    assert_eq!(a.get::<_, String>(5), "127.0.0.1");
    assert!(a.get::<_, bool>(6));
    assert!(row(pid_bob).is_some() && row(me).is_some(), "{rows:?}");
    assert_eq!(rows.len(), 4, "boss, alice twice and bob");

    // A block left open shows as idle in transaction.
    alice_too.batch_execute("BEGIN; SELECT 1").await.unwrap();
    let pid_alice_too = pid(&alice_too).await;
    let (state, _) = activity_of(&boss, pid_alice_too).await.unwrap();
    assert_eq!(state, "idle in transaction");
    alice_too.batch_execute("COMMIT").await.unwrap();

    // A statement running shows as active, and its own role cancels it
    // from another session.
    let sleeping = tokio::spawn(async move {
        let r = alice.query("SELECT pg_sleep(60)", &[]).await;
        (alice, r)
    });
    wait_for_activity(&boss, pid_alice, |a| {
        a.is_some_and(|(state, query)| state == "active" && query.contains("pg_sleep"))
    })
    .await;
    // Another role may not.
    let refused = bob
        .query_one(&format!("SELECT pg_cancel_backend({pid_alice})"), &[])
        .await
        .unwrap_err();
    assert_eq!(
        refused.code().map(|c| c.code()),
        Some("42501"),
        "{refused:?}"
    );
    // Nor can it make itself a superuser.
    let e = bob
        .batch_execute("SET is_superuser = on")
        .await
        .unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("55P02"), "{e:?}");
    let e = bob
        .batch_execute("SELECT set_config('is_superuser', 'on', false)")
        .await
        .unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("55P02"), "{e:?}");
    let refused = bob
        .query_one(&format!("SELECT pg_cancel_backend({pid_alice})"), &[])
        .await
        .unwrap_err();
    assert_eq!(refused.code().map(|c| c.code()), Some("42501"));
    let cancelled: bool = alice_too
        .query_one(&format!("SELECT pg_cancel_backend({pid_alice})"), &[])
        .await
        .unwrap()
        .get(0);
    assert!(cancelled);
    let (alice, r) = tokio::time::timeout(DEADLINE, sleeping)
        .await
        .expect("the cancel ends the statement")
        .unwrap();
    let e = r.unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("57014"), "{e:?}");
    // The session goes on.
    assert_eq!(pid(&alice).await, pid_alice);

    // No session of that pid: false.
    let none: bool = bob
        .query_one("SELECT pg_terminate_backend(999999)", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!none);

    // A superuser ends bob's session, chosen from pg_stat_activity.
    let ended: Vec<bool> = boss
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'bob'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ended, vec![true]);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !bob.is_closed() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "bob's connection stays open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(bob.query("SELECT 1", &[]).await.is_err());
    wait_for_activity(&boss, pid_bob, |a| a.is_none()).await;
    pg.shutdown().await;
}

// tokio-postgres prepares every query (Parse, Describe, then Bind and
// Execute): the Describe runs the statement to learn its columns, and must
// not act — it took a sequence value, an advisory lock or a session's
// life once more than the client asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn describing_a_statement_does_not_act() {
    let pg = PgCluster::start().await;
    let c = pg.client().await;
    let other = pg.client().await;
    c.batch_execute("CREATE SEQUENCE described").await.unwrap();
    let first: i64 = c
        .query_one("SELECT nextval('described')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(first, 1, "the Describe took a value");
    // Taken once, released once: free for another session.
    let locked: Vec<tokio_postgres::Row> =
        c.query("SELECT pg_advisory_lock(77)", &[]).await.unwrap();
    assert_eq!(locked.len(), 1);
    let unlocked: bool = c
        .query_one("SELECT pg_advisory_unlock(77)", &[])
        .await
        .unwrap()
        .get(0);
    assert!(unlocked);
    let free: bool = other
        .query_one("SELECT pg_try_advisory_lock(77)", &[])
        .await
        .unwrap()
        .get(0);
    assert!(free, "the Describe took the lock a second time");
    // A session ended by a prepared statement ends once, by its Execute:
    // the Describe's run does not end it (and the Execute then finds it).
    let victim = pg.client().await;
    let pid_victim = pid(&victim).await;
    let ended: bool = c
        .query_one(&format!("SELECT pg_terminate_backend({pid_victim})"), &[])
        .await
        .unwrap()
        .get(0);
    assert!(ended, "the Describe ended the session before the Execute");
    pg.shutdown().await;
}
