//! Schema leases and prepared statements on a 3-node cluster in this
//! process (DESIGN.md §7): statements bind against each node's schema
//! cache, a kept plan is bound again when its tables change, a session's
//! settings follow every way of changing them, and no statement bound
//! against a schema commits after a change that replaced it.

mod common;

use common::{cluster_with_lease as cluster, run};

use std::time::{Duration, Instant};

use spanlite_node::embedded::EmbeddedCluster;
use spanlite_session::Session;
use spanlite_sql::Value;

/// A prepared statement is split and parsed once and its plan kept; it
/// runs with other parameters, and is bound again against the schema of
/// the moment after its table was dropped and made again with other
/// columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_statement_binds_against_the_schema_of_each_run() {
    let cluster = cluster(Duration::from_millis(200)).await;
    let mut s = Session::on(cluster.schema_of(0));
    run(&mut s, "CREATE TABLE p (id INT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    run(&mut s, "INSERT INTO p VALUES (1, 10), (2, 20)")
        .await
        .unwrap();
    let select = s.prepare("SELECT * FROM p WHERE id = $1");
    assert_eq!(select.plans_kept(), 0);
    let first = |mut r: Vec<spanlite_session::StatementResult>| r.remove(0).unwrap();
    let r = first(s.run_prepared(&select, &[Value::Int(1)]).await);
    assert_eq!(r.rows, vec![vec![Value::Int(1), Value::Int(10)]]);
    assert_eq!(select.plans_kept(), 1, "the query's plan is kept");
    let r = first(s.run_prepared(&select, &[Value::Int(2)]).await);
    assert_eq!(r.rows, vec![vec![Value::Int(2), Value::Int(20)]]);
    run(&mut s, "DROP TABLE p").await.unwrap();
    let gone = s.run_prepared(&select, &[Value::Int(1)]).await.remove(0);
    assert_eq!(gone.unwrap_err().code, "42P01");
    run(
        &mut s,
        "CREATE TABLE p (id INT PRIMARY KEY, name TEXT, v INT)",
    )
    .await
    .unwrap();
    run(&mut s, "INSERT INTO p VALUES (1, 'one', 11)")
        .await
        .unwrap();
    let r = first(s.run_prepared(&select, &[Value::Int(1)]).await);
    assert_eq!(
        r.rows,
        vec![vec![
            Value::Int(1),
            Value::Text("one".into()),
            Value::Int(11)
        ]]
    );
    // A text that does not parse is reported when it runs, every time.
    let bad = s.prepare("SELEC 1");
    for _ in 0..2 {
        let e = s.run_prepared(&bad, &[]).await.remove(0).unwrap_err();
        assert_eq!(e.code, "42601");
    }
    cluster.shutdown().await;
}

/// The concurrency control a transaction `s` begins runs under.
async fn begun_with(s: &mut Session) -> Vec<Vec<Value>> {
    run(s, "BEGIN").await.unwrap();
    let mode = run(s, "SHOW transaction_concurrency").await.unwrap();
    run(s, "COMMIT").await.unwrap();
    mode.rows
}

/// The settings a session consults for every statement (kept read, not
/// looked up per statement) follow every way of changing them: SET,
/// `set_config`, SET SESSION CHARACTERISTICS, and a failed statement's
/// `set_config` is not applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_defaults_follow_every_way_of_changing_them() {
    let cluster = cluster(Duration::from_millis(200)).await;
    let mut s = Session::on(cluster.schema_of(0));
    run(&mut s, "CREATE TABLE d (id INT PRIMARY KEY)")
        .await
        .unwrap();
    let insert = |id: i64| format!("INSERT INTO d VALUES ({id})");
    run(&mut s, &insert(1)).await.unwrap();
    run(&mut s, "SET default_transaction_read_only = on")
        .await
        .unwrap();
    assert_eq!(run(&mut s, &insert(2)).await.unwrap_err()[..5], *"25006");
    run(
        &mut s,
        "SELECT set_config('default_transaction_read_only', 'off', false)",
    )
    .await
    .unwrap();
    run(&mut s, &insert(3)).await.unwrap();
    // set_config in a statement that fails changes nothing.
    let failed = run(
        &mut s,
        "SELECT set_config('default_transaction_read_only', 'on', false), 1 / 0",
    )
    .await;
    assert_eq!(failed.unwrap_err()[..5], *"22012");
    run(&mut s, &insert(4)).await.unwrap();
    run(
        &mut s,
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    )
    .await
    .unwrap();
    assert_eq!(run(&mut s, &insert(5)).await.unwrap_err()[..5], *"25006");
    run(&mut s, "SET default_transaction_read_only = off")
        .await
        .unwrap();
    // The concurrency control a transaction starts with.
    run(&mut s, "SELECT set_config('concurrency', 'si', false)")
        .await
        .unwrap();
    assert_eq!(
        begun_with(&mut s).await,
        vec![vec![Value::Text("si".into())]]
    );
    run(&mut s, "SET concurrency = '2pl'").await.unwrap();
    assert_eq!(
        begun_with(&mut s).await,
        vec![vec![Value::Text("2pl".into())]]
    );
    // statement_timeout: a write blocked behind another transaction's lock.
    let mut other = Session::on(cluster.schema_of(0));
    run(&mut other, "BEGIN").await.unwrap();
    run(&mut other, "DELETE FROM d WHERE id = 4").await.unwrap();
    run(
        &mut s,
        "SELECT set_config('statement_timeout', '100', false)",
    )
    .await
    .unwrap();
    let blocked = run(&mut s, "DELETE FROM d WHERE id = 4").await;
    assert_eq!(blocked.unwrap_err()[..5], *"57014");
    run(&mut other, "ROLLBACK").await.unwrap();
    run(&mut s, "SET statement_timeout = 0").await.unwrap();
    let r = run(&mut s, "SELECT count(*) FROM d").await.unwrap();
    assert_eq!(r.rows, vec![vec![Value::Int(3)]]);
    cluster.shutdown().await;
}

/// A table made on one node is there at once for a session on another
/// (its cache, older than the table, is read again on a miss).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_created_on_one_node_is_usable_at_once_on_another() {
    let cluster = cluster(Duration::from_secs(600)).await;
    let mut a = Session::on(cluster.schema_of(0));
    let mut b = Session::on(cluster.schema_of(1));
    // b's cache is loaded before the table exists.
    run(&mut b, "CREATE TABLE other (id INT PRIMARY KEY)")
        .await
        .unwrap();
    run(&mut b, "SELECT * FROM other").await.unwrap();
    run(&mut a, "CREATE TABLE t (id INT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    run(&mut b, "INSERT INTO t VALUES (1, 1)").await.unwrap();
    let r = run(&mut a, "SELECT v FROM t").await.unwrap();
    assert_eq!(r.rows, vec![vec![Value::Int(1)]]);
    cluster.shutdown().await;
}

/// A definition that changed only in a way `==` does not see (a FLOAT
/// default 0 made -0 on another node: 0.0 == -0.0) reaches this node's
/// statements:
/// its schema cache keeps an old definition's allocation only when the
/// stored form is the same, and kept plans match tables by pointer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_changed_in_sign_only_reaches_the_other_nodes() {
    let cluster = cluster(Duration::from_millis(200)).await;
    let mut a = Session::on(cluster.schema_of(0));
    let mut b = Session::on(cluster.schema_of(1));
    run(
        &mut a,
        "CREATE TABLE n (id INT PRIMARY KEY, v FLOAT8 DEFAULT 0.0)",
    )
    .await
    .unwrap();
    let insert = a.prepare("INSERT INTO n (id) VALUES ($1)");
    let read = a.prepare("SELECT CAST(v AS TEXT) FROM n WHERE id = $1");
    let stored = |r: Vec<spanlite_session::StatementResult>| match r.into_iter().next() {
        Some(Ok(r)) => r.rows,
        other => panic!("{other:?}"),
    };
    assert!(a.run_prepared(&insert, &[Value::Int(1)]).await[0].is_ok());
    assert_eq!(
        stored(a.run_prepared(&read, &[Value::Int(1)]).await),
        vec![vec![Value::Text("0".into())]]
    );
    run(&mut b, "ALTER TABLE n ALTER COLUMN v SET DEFAULT -0.0")
        .await
        .unwrap();
    // Node 0 sees the change within a lease of its commit.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut id = 2;
    loop {
        assert!(a.run_prepared(&insert, &[Value::Int(id)]).await[0].is_ok());
        let v = stored(a.run_prepared(&read, &[Value::Int(id)]).await);
        if v == vec![vec![Value::Text("-0".into())]] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node 0 still inserts the old default: {v:?}"
        );
        id += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.shutdown().await;
}

/// Waits until `table` has 10 rows or more.
async fn wait_for_rows(s: &mut Session, table: &str) {
    let started = Instant::now();
    loop {
        let r = run(s, &format!("SELECT count(*) FROM {table}"))
            .await
            .unwrap();
        if matches!(r.rows.first().and_then(|r| r.first()), Some(Value::Int(n)) if *n >= 10) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no inserts into {table}"
        );
    }
}

/// Inserts from one node race a DROP TABLE on another: every insert
/// either committed before the drop (and was dropped with the table) or
/// failed; none leaves a row behind in the dropped table's keys. Then a
/// CREATE INDEX races inserts: the index has an entry for every row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_statement_bound_before_a_schema_change_commits_after_it() {
    let lease = Duration::from_millis(300);
    let cluster = cluster(lease).await;
    let mut a = Session::on(cluster.schema_of(0));
    run(&mut a, "CREATE TABLE t (id INT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    let def = a.table("t").await.unwrap().unwrap();

    let inserting = |node: usize, table: &'static str, from: i64| {
        let schema = cluster.schema_of(node);
        tokio::spawn(async move {
            let mut b = Session::on(schema);
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut ok = 0;
            let mut id = from;
            while Instant::now() < deadline {
                id += 1;
                match run(&mut b, &format!("INSERT INTO {table} VALUES ({id}, {id})")).await {
                    Ok(_) => ok += 1,
                    Err(e) if e.starts_with("42P01") => return ok,
                    Err(e) => panic!("insert {id}: {e}"),
                }
                if ok >= 400 {
                    return ok;
                }
            }
            ok
        })
    };

    // DROP TABLE while node 2 inserts.
    let writer = inserting(1, "t", 0);
    wait_for_rows(&mut a, "t").await;
    let t0 = Instant::now();
    run(&mut a, "DROP TABLE t").await.unwrap();
    assert!(
        t0.elapsed() >= lease,
        "a DROP waits out the schema lease ({:?})",
        t0.elapsed()
    );
    let inserted = writer.await.unwrap();
    assert!(inserted > 0);
    let (start, end) = def.key_range();
    let left = cluster
        .gateway()
        .read_only()
        .scan(&start, &end, 0)
        .await
        .unwrap();
    assert!(
        left.is_empty(),
        "{} rows of the dropped table are left (inserted {inserted})",
        left.len()
    );

    // CREATE INDEX while node 3 inserts: every row has its entry.
    run(&mut a, "CREATE TABLE u (id INT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    let writer = inserting(2, "u", 0);
    wait_for_rows(&mut a, "u").await;
    run(&mut a, "CREATE INDEX u_v ON u (v)").await.unwrap();
    let inserted = writer.await.unwrap();
    let rows = run(&mut a, "SELECT count(*) FROM u").await.unwrap();
    let def = a.table("u").await.unwrap().unwrap();
    let index = def.index("u_v").unwrap();
    let (start, end) = def.index_range(index);
    let entries = cluster
        .gateway()
        .read_only()
        .scan(&start, &end, 0)
        .await
        .unwrap();
    assert_eq!(rows.rows, vec![vec![Value::Int(inserted)]]);
    assert_eq!(
        entries.len() as i64,
        inserted,
        "index entries for {inserted} rows"
    );
    cluster.shutdown().await;
}

/// A transaction open longer than its schema lease still commits (it
/// checks the version itself), unless the schema changed meanwhile: then
/// it is refused with 40001 and nothing of it is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_outliving_its_lease_commits_unless_the_schema_changed() {
    let lease = Duration::from_millis(200);
    let cluster = cluster(lease).await;
    let mut a = Session::on(cluster.schema_of(0));
    let mut b = Session::on(cluster.schema_of(1));
    run(&mut a, "CREATE TABLE t (id INT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    run(&mut a, "BEGIN").await.unwrap();
    run(&mut a, "INSERT INTO t VALUES (1, 1)").await.unwrap();
    // The transaction is still open when its lease ends.
    tokio::time::sleep(lease * 2).await;
    run(&mut a, "COMMIT").await.unwrap();

    run(&mut a, "BEGIN").await.unwrap();
    run(&mut a, "INSERT INTO t VALUES (2, 2)").await.unwrap();
    run(&mut b, "CREATE INDEX t_v ON t (v)").await.unwrap();
    let e = run(&mut a, "COMMIT").await.unwrap_err();
    assert!(e.starts_with("40001"), "{e}");
    let r = run(&mut b, "SELECT id FROM t ORDER BY id").await.unwrap();
    assert_eq!(r.rows, vec![vec![Value::Int(1)]]);
    cluster.shutdown().await;
}

/// A transaction that read a table (bound under a schema lease) and then
/// dropped it and another: its DROP waits out the leases of the version it
/// closes, so at COMMIT its own lease is over and the commit checks the
/// version record — which now holds the version this transaction wrote.
/// That check refused every such commit with 40001 ("the schema changed
/// while it ran", seen with SQLAlchemy's `drop_all`); the version it raised
/// from is what its statements must have been bound at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_that_read_then_changed_the_schema_commits_after_its_lease() {
    let cluster = EmbeddedCluster::start(3).await.unwrap();
    let mut s = Session::on(cluster.schema_of(0));
    run(&mut s, "CREATE TABLE gone1 (k INT PRIMARY KEY)")
        .await
        .unwrap();
    run(&mut s, "CREATE TABLE gone2 (k INT PRIMARY KEY)")
        .await
        .unwrap();
    run(&mut s, "BEGIN").await.unwrap();
    run(&mut s, "SELECT * FROM gone1").await.unwrap();
    run(&mut s, "DROP TABLE gone1").await.unwrap();
    run(&mut s, "DROP TABLE gone2").await.unwrap();
    run(&mut s, "COMMIT").await.unwrap();
    let err = run(&mut s, "SELECT * FROM gone2").await.unwrap_err();
    assert!(err.starts_with("42P01"), "{err}");
    cluster.shutdown().await;
}
