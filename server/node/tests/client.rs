//! The Rust driver (`spanlite-client`) against a real 3-node cluster in
//! this process: parameters and typed rows, failover past a dead node,
//! retried transactions under contention, read-only and stale reads,
//! `AS OF SYSTEM TIME`, session statements (SET/SHOW, SET TRANSACTION,
//! SHOW TABLETS/NODES, EXPLAIN), and bad input of every kind leaving the
//! session usable.

mod common;

use std::time::Duration;

use common::{split_tablet, start_cluster};
use spanlite_client::{Client, Error};

fn sqlstate(e: &Error) -> String {
    e.sqlstate()
        .map(str::to_string)
        .unwrap_or_else(|| format!("not a SQL error: {e}"))
}

async fn expect_error(client: &Client, sql: &str) -> String {
    match client.query(sql, &[]).await {
        Ok(r) => panic!("{sql}: expected an error, got {}", r.tag),
        Err(e) => sqlstate(&e),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_runs_queries_and_transactions_on_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, addrs) = start_cluster(dir.path(), 3).await;
    // The first URL is a port nobody listens on: the driver fails over.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let client = Client::connect([dead.clone(), addrs[0].clone(), addrs[1].clone()])
        .await
        .unwrap();

    client
        .execute(
            "CREATE TABLE accounts (id INT PRIMARY KEY, owner TEXT NOT NULL, balance INT NOT NULL)",
            &[],
        )
        .await
        .unwrap();
    for id in 0..8i64 {
        let n = client
            .execute(
                "INSERT INTO accounts VALUES ($1, $2, $3)",
                &[id.into(), format!("owner{id}").into(), 100i64.into()],
            )
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
    // Spread the table over two tablets: the transfers below run 2PC.
    split_tablet(&addrs, 2, &[0x03, 0, 0, 0, 1, 0x80, 0, 0, 0, 0, 0, 0, 4]).await;

    let r = client
        .query(
            "SELECT owner, balance FROM accounts WHERE id = $1",
            &[3i64.into()],
        )
        .await
        .unwrap();
    assert_eq!(r.rows.len(), 1);
    assert_eq!(r.rows[0].get::<String>("owner").unwrap(), "owner3");
    assert_eq!(r.rows[0].get::<i64>(1).unwrap(), 100);
    assert!(
        r.rows[0].get::<String>("balance").is_err(),
        "an INT is not a String"
    );

    // Concurrent transfers: conflicts abort some attempts (40001), the
    // driver retries them, and the money is conserved.
    let mut tasks = Vec::new();
    for w in 0..4i64 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..5i64 {
                let (from, to) = ((w + i) % 8, (w + i + 3) % 8);
                client
                    .transaction(|tx| {
                        Box::pin(async move {
                            let r = tx
                                .query("SELECT balance FROM accounts WHERE id = $1", &[from.into()])
                                .await?;
                            let balance: i64 = r.rows[0].get(0)?;
                            if balance >= 5 {
                                tx.execute(
                                    "UPDATE accounts SET balance = balance - 5 WHERE id = $1",
                                    &[from.into()],
                                )
                                .await?;
                                tx.execute(
                                    "UPDATE accounts SET balance = balance + 5 WHERE id = $1",
                                    &[to.into()],
                                )
                                .await?;
                            }
                            Ok(())
                        })
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total = |client: Client| async move {
        client
            .read_only_transaction(|tx| {
                Box::pin(async move {
                    let r = tx
                        .query("SELECT sum(balance), count(*) FROM accounts", &[])
                        .await?;
                    Ok((r.rows[0].get::<i64>(0)?, r.rows[0].get::<i64>(1)?))
                })
            })
            .await
            .unwrap()
    };
    assert_eq!(total(client.clone()).await, (800, 8));

    // A read-only transaction refuses writes (25006).
    let e = client
        .read_only_transaction(|tx| {
            Box::pin(async move {
                tx.execute("UPDATE accounts SET balance = 0", &[]).await?;
                Ok(())
            })
        })
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "25006");

    // AS OF SYSTEM TIME: a read at a time before an update sees the old value.
    let before = client.query("SELECT now()", &[]).await.unwrap().rows[0]
        .get::<spanlite_client::Timestamp>(0)
        .unwrap();
    // now() is the gateway's wall clock; the commit below gets a later
    // TrueTime timestamp (commit wait guarantees it is past `before`).
    client
        .execute("UPDATE accounts SET owner = 'renamed' WHERE id = 0", &[])
        .await
        .unwrap();
    let old = client
        .query(
            &format!("SELECT owner FROM accounts AS OF SYSTEM TIME '{before}' WHERE id = 0"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(old.rows[0].get::<String>(0).unwrap(), "owner0");
    // A stale read a minute back sees nothing of a table created since.
    let e = client
        .stale_read_transaction(Duration::from_secs(60), |tx| {
            Box::pin(async move { tx.query("SELECT * FROM accounts", &[]).await.map(|_| ()) })
        })
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42P01");

    // Session statements.
    let tablets = client.query("SHOW TABLETS", &[]).await.unwrap();
    assert!(
        tablets.rows.len() >= 3,
        "meta + two data tablets: {:?}",
        tablets.rows
    );
    let nodes_shown = client.query("SHOW NODES", &[]).await.unwrap();
    assert_eq!(nodes_shown.rows.len(), 3);
    let plan = client
        .query("EXPLAIN SELECT * FROM accounts WHERE id = 1", &[])
        .await
        .unwrap();
    let text: Vec<String> = plan
        .rows
        .iter()
        .map(|r| r.get::<String>(0).unwrap())
        .collect();
    assert!(
        text.iter().any(|l| l.contains("primary key lookup")),
        "{text:?}"
    );
    let mut tx = client.begin().await.unwrap();
    tx.execute("SET TRANSACTION READ ONLY", &[]).await.unwrap();
    let e = tx.execute("DELETE FROM accounts", &[]).await.unwrap_err();
    assert_eq!(sqlstate(&e), "25006");
    tx.rollback().await.unwrap();
    let r = client
        .query("SHOW transaction_isolation", &[])
        .await
        .unwrap();
    assert_eq!(r.rows[0].get::<String>(0).unwrap(), "serializable");

    // Bad input: each gets its SQLSTATE and the next statement works.
    for (sql, want) in [
        ("SELEC 1", "42601"),
        ("SELECT * FROM nope", "42P01"),
        ("SELECT nope FROM accounts", "42703"),
        ("SELECT 'x' + 1", "42883"),
        ("INSERT INTO accounts VALUES (1, 'dup', 1)", "23505"),
        ("INSERT INTO accounts VALUES (99, NULL, 1)", "23502"),
        ("INSERT INTO accounts VALUES ('x', 'y', 1)", "22P02"),
        ("SELECT 1 / 0", "22012"),
        ("SELECT 9223372036854775807 + 1", "22003"),
        ("SELECT 1 AS OF SYSTEM TIME 'never'", "22007"),
        ("SHOW no_such_setting", "42704"),
        ("\u{0}\u{1}\u{7f}☃ )(", "42601"),
    ] {
        assert_eq!(expect_error(&client, sql).await, want, "{sql}");
        assert_eq!(
            client
                .query("SELECT count(*) FROM accounts", &[])
                .await
                .unwrap()
                .rows[0]
                .get::<i64>(0)
                .unwrap(),
            8
        );
    }
    assert_eq!(total(client.clone()).await, (800, 8));
    drop(client);
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

/// Prepared statements: run again and again on several sessions (each
/// prepares it once), inside and outside transactions, with other
/// parameters each time; a syntax error shows at the first run and leaves
/// the session usable; transaction control cannot be prepared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_prepares_statements_once_per_session() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, addrs) = start_cluster(dir.path(), 3).await;
    let client = Client::connect(addrs.clone()).await.unwrap();
    client
        .execute("CREATE TABLE kv (k INT PRIMARY KEY, v TEXT)", &[])
        .await
        .unwrap();
    let insert = client.prepare("INSERT INTO kv VALUES ($1, $2)").unwrap();
    let get = client.prepare("SELECT v FROM kv WHERE k = $1").unwrap();
    let set = client.prepare("UPDATE kv SET v = $2 WHERE k = $1").unwrap();
    assert_eq!(get.sql(), "SELECT v FROM kv WHERE k = $1");
    for k in 0..20i64 {
        let n = client
            .execute_prepared(&insert, &[k.into(), format!("v{k}").into()])
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
    // Concurrent users: several sessions, each preparing once.
    let mut tasks = Vec::new();
    for w in 0..4i64 {
        let (client, get, set) = (client.clone(), get.clone(), set.clone());
        tasks.push(tokio::spawn(async move {
            for k in (w * 5)..(w * 5 + 5) {
                let r = client.query_prepared(&get, &[k.into()]).await.unwrap();
                assert_eq!(r.rows[0].get::<String>(0).unwrap(), format!("v{k}"));
                let mut tx = client.begin().await.unwrap();
                tx.execute_prepared(&set, &[k.into(), format!("w{k}").into()])
                    .await
                    .unwrap();
                let r = tx.query_prepared(&get, &[k.into()]).await.unwrap();
                assert_eq!(r.rows[0].get::<String>(0).unwrap(), format!("w{k}"));
                tx.commit().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for k in 0..20i64 {
        let r = client.query_prepared(&get, &[k.into()]).await.unwrap();
        assert_eq!(r.rows[0].get::<String>(0).unwrap(), format!("w{k}"));
    }
    let bad = client.prepare("SELEC v FROM kv").unwrap();
    let e = client.query_prepared(&bad, &[]).await.unwrap_err();
    assert_eq!(sqlstate(&e), "42601");
    let r = client.query_prepared(&get, &[1i64.into()]).await.unwrap();
    assert_eq!(r.rows.len(), 1, "the session is usable after the error");
    assert!(matches!(client.prepare("COMMIT"), Err(Error::Usage(_))));
    assert!(matches!(
        client.prepare("SELECT 1; SELECT 2"),
        Err(Error::Usage(_))
    ));
    drop(client);
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

/// A query that carries its transaction's `BEGIN` (`Query.begin`, the
/// driver's way of saving a round trip) runs only inside the transaction
/// that `BEGIN` opened: a `BEGIN` that fails, or a statement there that
/// opens none, answers with an error and the query does not run (it would
/// otherwise commit on its own). The node names the feature in its answer,
/// and the driver's transactions use it: one that sent no statement sends
/// nothing at commit or rollback, and a failed first statement dooms it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_that_begins_its_transaction_runs_only_inside_it() {
    use spanlite_proto::sql::sql_service_client::SqlServiceClient;
    use spanlite_proto::sql::{
        BEGIN_WITH_QUERY, Query, SESSION_FEATURES_HEADER, SessionRequest, StartSession,
        session_request, session_response,
    };

    let dir = tempfile::tempdir().unwrap();
    let (nodes, addrs) = start_cluster(dir.path(), 3).await;
    let client = Client::connect(addrs.clone()).await.unwrap();
    client
        .execute("CREATE TABLE t (k INT PRIMARY KEY)", &[])
        .await
        .unwrap();

    let (requests, outgoing) = tokio::sync::mpsc::channel(4);
    let start = SessionRequest {
        kind: Some(session_request::Kind::Start(StartSession {
            user: "root".to_string(),
            ..Default::default()
        })),
    };
    requests.send(start).await.unwrap();
    let answer = SqlServiceClient::connect(format!("http://{}", addrs[0]))
        .await
        .unwrap()
        .session(tokio_stream::wrappers::ReceiverStream::new(outgoing))
        .await
        .unwrap();
    let features = answer
        .metadata()
        .get(SESSION_FEATURES_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        features.contains(BEGIN_WITH_QUERY),
        "features: {features:?}"
    );
    let mut responses = answer.into_inner();
    // Sends one query and returns its SQLSTATE ("" when it succeeded) and
    // the session's transaction state after it.
    let mut request_id = 0;
    let mut ask = async |begin: &str, sql: &str| {
        request_id += 1;
        let query = Query {
            request_id,
            sql: sql.to_string(),
            begin: begin.to_string(),
            ..Default::default()
        };
        requests
            .send(SessionRequest {
                kind: Some(session_request::Kind::Query(query)),
            })
            .await
            .unwrap();
        loop {
            let r = responses.message().await.unwrap().unwrap();
            assert_eq!(r.request_id, request_id);
            match r.kind.unwrap() {
                session_response::Kind::Complete(c) => return (String::new(), c.txn_state),
                session_response::Kind::Error(e) => return (e.sqlstate, e.txn_state),
                _ => {}
            }
        }
    };
    use spanlite_proto::sql::TxnState;
    let idle = TxnState::Idle as i32;
    let open = TxnState::InTransaction as i32;
    assert_eq!(
        ask("BEGIN NONSENSE", "INSERT INTO t VALUES (1)").await,
        ("42601".to_string(), idle),
        "a BEGIN that does not parse"
    );
    assert_eq!(
        ask("SELECT 1", "INSERT INTO t VALUES (2)").await,
        ("08P01".to_string(), idle),
        "a statement that opens no transaction"
    );
    assert_eq!(
        ask("BEGIN", "INSERT INTO t VALUES (3)").await,
        (String::new(), open)
    );
    assert_eq!(
        ask("BEGIN", "INSERT INTO t VALUES (4)").await,
        ("25001".to_string(), open),
        "inside a transaction already"
    );
    assert_eq!(ask("", "ROLLBACK").await, (String::new(), idle));
    let r = client.query("SELECT count(*) FROM t", &[]).await.unwrap();
    assert_eq!(
        r.rows[0].get::<i64>(0).unwrap(),
        0,
        "no refused query ran, and the rolled-back one is gone"
    );

    // The driver: a transaction that ran nothing ends without a word; a
    // failed first statement (its BEGIN went with it) dooms it.
    client.begin().await.unwrap().commit().await.unwrap();
    client.begin().await.unwrap().rollback().await.unwrap();
    let mut tx = client.begin().await.unwrap();
    let e = tx.execute("INSERT INTO nowhere VALUES (1)", &[]).await;
    assert_eq!(sqlstate(&e.unwrap_err()), "42P01");
    assert_eq!(
        sqlstate(&tx.commit().await.unwrap_err()),
        "42P01",
        "commit returns the first failure"
    );
    let mut tx = client.begin().await.unwrap();
    tx.execute("INSERT INTO t VALUES (5)", &[]).await.unwrap();
    tx.execute("INSERT INTO t VALUES (6)", &[]).await.unwrap();
    tx.commit().await.unwrap();
    let r = client.query("SELECT count(*) FROM t", &[]).await.unwrap();
    assert_eq!(r.rows[0].get::<i64>(0).unwrap(), 2);
    drop(requests);
    drop(client);
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

/// A statement whose future the caller drops (here at a timeout) while
/// it waits for a lock is cancelled on the node: the driver closes that
/// session, and the node cancels the query of a client that went away.
/// It never runs — not even once the lock is free — and its lock wait
/// does not time out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_dropped_by_its_caller_is_cancelled_on_the_node() {
    let dir = tempfile::tempdir().unwrap();
    // The lock holder must not be reaped as idle meanwhile.
    let (nodes, addrs) = common::start_cluster_with(dir.path(), 3, |c| {
        c.txn_idle_timeout = Duration::from_secs(600);
    })
    .await;
    let client = Client::connect([addrs[0].clone()]).await.unwrap();
    client
        .execute("CREATE TABLE held (id INT PRIMARY KEY, v INT)", &[])
        .await
        .unwrap();
    client
        .execute("INSERT INTO held VALUES (1, 0)", &[])
        .await
        .unwrap();
    let mut holder = client.begin().await.unwrap();
    holder
        .query("SELECT v FROM held WHERE id = 1 FOR UPDATE", &[])
        .await
        .unwrap();
    let waiters = || -> usize {
        nodes
            .iter()
            .flat_map(|n| n.context.store.replicas())
            .map(|r| r.lock_waiters())
            .sum()
    };
    let waited = async {
        while waiters() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    // The UPDATE runs until it waits for the lock; then its future goes.
    tokio::select! {
        r = client.execute("UPDATE held SET v = v + 1 WHERE id = 1", &[]) => {
            panic!("the UPDATE went through a locked row: {r:?}")
        }
        r = tokio::time::timeout(Duration::from_secs(30), waited) => {
            r.expect("the UPDATE never waited for the lock")
        }
    }
    tokio::time::timeout(Duration::from_secs(30), async {
        while waiters() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the dropped UPDATE still waits for the lock");
    let timeouts: u64 = nodes
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
    assert_eq!(timeouts, 0, "the dropped UPDATE's lock wait timed out");
    holder
        .execute("UPDATE held SET v = 10 WHERE id = 1", &[])
        .await
        .unwrap();
    holder.commit().await.unwrap();
    let r = client
        .query("SELECT v FROM held WHERE id = 1", &[])
        .await
        .unwrap();
    assert_eq!(r.rows[0].get::<i64>(0).unwrap(), 10);
    drop(client);
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}
