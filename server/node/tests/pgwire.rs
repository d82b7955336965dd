//! The PostgreSQL wire protocol on a 3-node cluster in this process: psql
//! (simple protocol), tokio-postgres (extended protocol, binary formats),
//! and raw sockets that break the protocol or vanish mid-transaction.
//!
//! The psql, pgbench and psycopg tests fail when the tool is missing:
//! `make deps` (part of `make test`) installs them.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use spanlite_pgwire::{Auth, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::NoTls;
use tokio_postgres::types::Type;

mod pg;
use pg::{PgCluster, psql_stdin, startup_packet};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn psql_creates_inserts_selects_and_sees_sqlstates() {
    let pg = PgCluster::start().await;
    let (ok, out, err) = pg
        .psql(&[
            "CREATE TABLE kv (k INT PRIMARY KEY, v TEXT, f FLOAT, b BOOL)",
            "INSERT INTO kv VALUES (1, 'one', 1.5, true), (2, 'two', NULL, false)",
            "SELECT k, v, f, b FROM kv ORDER BY k",
        ])
        .await;
    assert!(ok, "psql failed: {err}");
    assert_eq!(out, "CREATE TABLE\nINSERT 0 2\n1|one|1.5|t\n2|two||f\n");

    // Session functions, in the SQL engine: version() begins as
    // PostgreSQL's does (drivers read the major version from it).
    let (ok, out, err) = pg
        .psql(&[
            "SELECT version()",
            "select current_database(), current_user;",
        ])
        .await;
    assert!(ok, "{err}");
    assert!(out.starts_with("PostgreSQL 16.0 (Spanlite "), "{out}");
    assert!(out.ends_with("spanlite|root\n"), "{out}");

    // An error: psql exits non-zero and prints the server's message; the
    // SQLSTATE is visible with VERBOSITY verbose.
    let (ok, _, err) = pg.psql(&["SELECT * FROM missing"]).await;
    assert!(!ok);
    assert!(err.contains("ERROR:") && err.contains("missing"), "{err}");
    let (ok, _, err) = pg
        .psql(&[
            "\\set VERBOSITY verbose",
            "INSERT INTO kv VALUES (1, 'dup', 0, true)",
        ])
        .await;
    assert!(!ok);
    assert!(err.contains("ERROR:  23505:"), "{err}");

    // A transaction in one simple query; then one across statements.
    let (ok, out, err) = pg
        .psql(&[
            "BEGIN; INSERT INTO kv VALUES (3, 'three', 3.0, true); COMMIT",
            "SELECT count(*) FROM kv",
        ])
        .await;
    assert!(ok, "{err}");
    // psql 15 shows every statement's result of a multi-statement query.
    assert_eq!(out, "BEGIN\nINSERT 0 1\nCOMMIT\n3\n");
    pg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn psql_transaction_status_and_rollback_on_error() {
    let pg = PgCluster::start().await;
    let (ok, _, err) = pg
        .psql(&["CREATE TABLE acct (id INT PRIMARY KEY, bal INT)"])
        .await;
    assert!(ok, "{err}");
    // Every -c is one Query on one connection: the failed INSERT leaves
    // the block failed (E), the SELECT is refused (25P02), and COMMIT
    // rolls back, as in PostgreSQL.
    let (_, out, err) = pg
        .psql(&[
            "\\set ON_ERROR_STOP 0",
            "BEGIN",
            "INSERT INTO acct VALUES (1, 100)",
            "INSERT INTO acct VALUES (1, 100)",
            "SELECT 1",
            "COMMIT",
            "SELECT count(*) FROM acct",
        ])
        .await;
    assert!(err.contains("23505") || err.contains("duplicate"), "{err}");
    assert!(err.contains("25P02") || err.contains("aborted"), "{err}");
    assert!(out.ends_with("0\n"), "{out}");
    pg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn driver_uses_extended_protocol_with_binary_values() {
    let pg = PgCluster::start().await;
    let c = pg.client().await;
    c.batch_execute("CREATE TABLE t (k INT PRIMARY KEY, v TEXT, x FLOAT, b BYTES)")
        .await
        .unwrap();
    let insert = c
        .prepare_typed(
            "INSERT INTO t VALUES ($1, $2, $3, $4)",
            &[Type::INT8, Type::TEXT, Type::FLOAT8, Type::BYTEA],
        )
        .await
        .unwrap();
    for k in 0..3i64 {
        let n = c
            .execute(
                &insert,
                &[
                    &k,
                    &format!("v{k}"),
                    &(k as f64 / 2.0),
                    &vec![k as u8, 0xff],
                ],
            )
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
    let select = c
        .prepare_typed(
            "SELECT k, v, x, b FROM t WHERE k >= $1 ORDER BY k",
            &[Type::INT8],
        )
        .await
        .unwrap();
    let rows = c.query(&select, &[&1i64]).await.unwrap();
    assert_eq!(rows.len(), 2);
    // Untyped parameters get the types their uses show, so the driver
    // binds Rust values without declaring them.
    let untyped = c
        .query(
            "SELECT v FROM t WHERE k = $1 AND x < $2",
            &[&2i64, &10.0f64],
        )
        .await
        .unwrap();
    assert_eq!(untyped[0].get::<_, String>(0), "v2");
    let updated = c
        .execute("UPDATE t SET v = $1 WHERE k = $2", &[&"two", &2i64])
        .await
        .unwrap();
    assert_eq!(updated, 1);
    let n = c
        .execute("INSERT INTO t (k, v) VALUES ($1, $2)", &[&7i64, &"seven"])
        .await
        .unwrap();
    assert_eq!(n, 1);
    c.execute("DELETE FROM t WHERE k = $1", &[&7i64])
        .await
        .unwrap();
    // INT is int4 on the wire, as in PostgreSQL (binary: 4 bytes).
    assert_eq!(rows[0].columns()[0].type_(), &Type::INT4);
    assert_eq!(rows[0].get::<_, i32>(0), 1);
    assert_eq!(rows[0].get::<_, String>(1), "v1");
    assert_eq!(rows[1].get::<_, f64>(2), 1.0);
    assert_eq!(rows[1].get::<_, Vec<u8>>(3), vec![2, 0xff]);

    // Errors carry their SQLSTATE and leave the connection usable.
    let e = c
        .execute(&insert, &[&1i64, &"dup", &0.0f64, &vec![0u8]])
        .await
        .unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("23505"));
    let e = c.simple_query("SELEC 1").await.unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("42601"));

    // A transaction through the driver.
    c.batch_execute("BEGIN").await.unwrap();
    c.execute(&insert, &[&9i64, &"nine", &9.0f64, &vec![9u8]])
        .await
        .unwrap();
    c.batch_execute("ROLLBACK").await.unwrap();
    let rows = c.query("SELECT count(*) FROM t", &[]).await.unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 3);

    // A named portal fetched a few rows at a time, with the unnamed one
    // bound and run in between: each keeps its own rows.
    let mut c2 = pg.client().await;
    let tx = c2.transaction().await.unwrap();
    let by_key = tx
        .prepare_typed("SELECT k FROM t WHERE k >= $1 ORDER BY k", &[Type::INT8])
        .await
        .unwrap();
    let portal = tx.bind(&by_key, &[&0i64]).await.unwrap();
    let first = tx.query_portal(&portal, 2).await.unwrap();
    let between = tx
        .query("SELECT v FROM t WHERE k = $1", &[&1i64])
        .await
        .unwrap();
    let rest = tx.query_portal(&portal, 0).await.unwrap();
    let keys =
        |rows: &[tokio_postgres::Row]| rows.iter().map(|r| r.get::<_, i32>(0)).collect::<Vec<_>>();
    assert_eq!((keys(&first), keys(&rest)), (vec![0, 1], vec![2]));
    assert_eq!(between[0].get::<_, String>(0), "v1");
    drop(portal);
    tx.commit().await.unwrap();

    // Declared types reach the client: SMALLINT, INTEGER, VARCHAR(n) and
    // CHAR(n) columns selected as they are, blank-padded for CHAR; any
    // other expression keeps the type of its value.
    c.batch_execute(
        "CREATE TABLE w (a SMALLINT PRIMARY KEY, b INTEGER, c VARCHAR(5), d CHAR(4), e BIGINT); \
         INSERT INTO w VALUES (1, 2, 'abc', 'xy', 5)",
    )
    .await
    .unwrap();
    let rows = c
        .query("SELECT a, b, c, d, e, a + 1 FROM w WHERE a = $1", &[&1i64])
        .await
        .unwrap();
    let types: Vec<&Type> = rows[0].columns().iter().map(|c| c.type_()).collect();
    assert_eq!(
        types,
        vec![
            &Type::INT2,
            &Type::INT4,
            &Type::VARCHAR,
            &Type::BPCHAR,
            &Type::INT8,
            &Type::INT8
        ]
    );
    assert_eq!(rows[0].get::<_, i16>(0), 1);
    assert_eq!(rows[0].get::<_, i32>(1), 2);
    assert_eq!(rows[0].get::<_, String>(2), "abc");
    assert_eq!(rows[0].get::<_, String>(3), "xy  ");
    assert_eq!(rows[0].get::<_, i64>(5), 2);
    pg.shutdown().await;
}

/// Reads backend messages until ReadyForQuery or end of stream; returns
/// their type bytes.
async fn read_until_ready(s: &mut TcpStream) -> Vec<u8> {
    let mut kinds = Vec::new();
    loop {
        let mut head = [0u8; 5];
        if s.read_exact(&mut head).await.is_err() {
            return kinds;
        }
        let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut body = vec![0; len - 4];
        s.read_exact(&mut body).await.unwrap();
        kinds.push(head[0]);
        if head[0] == b'Z' {
            return kinds;
        }
    }
}

fn startup() -> Vec<u8> {
    let mut body = 196_608i32.to_be_bytes().to_vec();
    body.extend(b"user\0root\0database\0spanlite\0\0");
    let mut msg = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    msg.extend(body);
    msg
}

fn query(sql: &str) -> Vec<u8> {
    let mut msg = vec![b'Q'];
    msg.extend(((sql.len() + 5) as i32).to_be_bytes());
    msg.extend(sql.as_bytes());
    msg.push(0);
    msg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_bytes_and_abrupt_disconnects_leave_the_server_serving() {
    let pg = PgCluster::start().await;
    let c = pg.client().await;
    c.batch_execute("CREATE TABLE kv (k INT PRIMARY KEY, v TEXT)")
        .await
        .unwrap();

    // Not PostgreSQL at all: a FATAL 08P01, then the connection closes.
    let mut s = TcpStream::connect(pg.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_until_ready(&mut s).await, vec![b'E']);

    // A valid startup, then a message whose length is impossible.
    let mut s = TcpStream::connect(pg.addr).await.unwrap();
    s.write_all(&startup()).await.unwrap();
    assert_eq!(read_until_ready(&mut s).await.last(), Some(&b'Z'));
    s.write_all(&[b'Q', 0, 0, 0, 1]).await.unwrap();
    assert_eq!(read_until_ready(&mut s).await, vec![b'E']);

    // A Bind whose parameter runs past its message.
    let mut s = TcpStream::connect(pg.addr).await.unwrap();
    s.write_all(&startup()).await.unwrap();
    read_until_ready(&mut s).await;
    s.write_all(&[b'B', 0, 0, 0, 12, 0, 0, 0, 0, 0, 1, 0, 0])
        .await
        .unwrap();
    assert_eq!(read_until_ready(&mut s).await, vec![b'E']);

    // Half a message, then gone.
    let mut s = TcpStream::connect(pg.addr).await.unwrap();
    s.write_all(&startup()).await.unwrap();
    read_until_ready(&mut s).await;
    s.write_all(&[b'Q', 0, 0, 0, 40, b'S']).await.unwrap();
    drop(s);

    // Gone mid-transaction, holding a write: it is rolled back, so the
    // row is not there and another session can write the same key.
    let mut s = TcpStream::connect(pg.addr).await.unwrap();
    s.write_all(&startup()).await.unwrap();
    read_until_ready(&mut s).await;
    s.write_all(&query("BEGIN; INSERT INTO kv VALUES (1, 'lost')"))
        .await
        .unwrap();
    let kinds = read_until_ready(&mut s).await;
    assert_eq!(kinds, vec![b'C', b'C', b'Z']);
    drop(s);

    let rows = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match c.execute("INSERT INTO kv VALUES (1, 'kept')", &[]).await {
                Ok(_) => break,
                Err(e) if e.code().map(|c| c.code()) == Some("40001") => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        c.query("SELECT v FROM kv", &[]).await.unwrap()
    })
    .await
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "kept");

    // psql still connects.
    let (ok, out, err) = pg.psql(&["SELECT count(*) FROM kv"]).await;
    assert!(ok, "{err}");
    assert_eq!(out, "1\n");
    pg.shutdown().await;
}

/// pgbench's transfer script: money moves between accounts, never leaves.
const TRANSFER: &str = "\\set a random(1, 10)
\\set b random(1, 10)
BEGIN;
UPDATE acct SET bal = bal - 1 WHERE id = :a;
UPDATE acct SET bal = bal + 1 WHERE id = :b;
COMMIT;
";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pgbench_transfers_keep_the_total() {
    let pg = PgCluster::start().await;
    let c = pg.client().await;
    c.batch_execute("CREATE TABLE acct (id INT PRIMARY KEY, bal INT)")
        .await
        .unwrap();
    // Untyped parameters are described as text (the engine has no
    // parameter type inference): a typed prepare gives them their type.
    let insert = c
        .prepare_typed("INSERT INTO acct VALUES ($1, 100)", &[Type::INT8])
        .await
        .unwrap();
    for id in 1..=10i64 {
        c.execute(&insert, &[&id]).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("transfer.sql");
    std::fs::write(&script, TRANSFER).unwrap();
    for mode in ["simple", "extended"] {
        let mut cmd = Command::new("pgbench");
        cmd.args(["-n", "-c", "4", "-t", "20", "--max-tries", "50", "-M", mode])
            .args(["-h", "127.0.0.1", "-p", &pg.addr.port().to_string()])
            .args(["-U", "root", "-f"])
            .arg(&script)
            .arg("spanlite");
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("running pgbench (`make deps` installs it): {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "pgbench -M {mode}: {stdout}\n{stderr}"
        );
        assert!(
            stdout.contains("number of failed transactions: 0"),
            "pgbench -M {mode}: {stdout}\n{stderr}"
        );
    }
    let rows = c.query("SELECT sum(bal) FROM acct", &[]).await.unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 1000);
    pg.shutdown().await;
}

// The node's own port (`--pg-listen`): one node, not initialised, still
// answers what needs no data; its shutdown ends the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_serves_pg_listen_and_ends_connections_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let mut config =
        spanlite_node::NodeConfig::new(1, "127.0.0.1:0".parse().unwrap(), dir.path().join("node1"));
    config.pg_listen = Some("127.0.0.1:0".parse().unwrap());
    let node = spanlite_node::start(config).await.unwrap();
    let port = node.pg_addr.unwrap().port();
    let (c, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=root dbname=spanlite"),
        NoTls,
    )
    .await
    .unwrap();
    let conn = tokio::spawn(conn);
    let rows = c.query("SELECT current_database()", &[]).await.unwrap();
    assert_eq!(rows[0].get::<_, String>(0), "spanlite");
    node.shutdown().await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), conn)
        .await
        .unwrap()
        .unwrap();
    let e = ended.unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("57P01"), "{e:?}");
}

/// Sends a CancelRequest for (`pid`, `secret`) to `addr`; the server
/// closes the connection without an answer.
async fn send_cancel(addr: SocketAddr, pid: i32, secret: i32) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut msg = 16i32.to_be_bytes().to_vec();
    msg.extend(80_877_102i32.to_be_bytes());
    msg.extend(pid.to_be_bytes());
    msg.extend(secret.to_be_bytes());
    s.write_all(&msg).await.unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
}

// CancelRequest: a statement blocked behind another transaction's lock
// ends with 57014 and the connection stays usable; in BEGIN … the block is
// failed (25P02) until ROLLBACK. A wrong key cancels nothing.
// A client that hangs up while its statement waits for a lock: the
// statement is cancelled at once (not when the lock comes, or its wait
// times out), so the transaction rolls back and the locks it took earlier
// go — a third client that needs one of them gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_hangs_up_mid_statement_leaves_no_locks_behind() {
    let pg = PgCluster::start().await;
    let holder = pg.client().await;
    holder
        .batch_execute(
            "CREATE TABLE kv (k INT PRIMARY KEY, v TEXT); INSERT INTO kv VALUES (1, 'a'), (2, 'b')",
        )
        .await
        .unwrap();
    holder
        .batch_execute("BEGIN; UPDATE kv SET v = 'held' WHERE k = 1")
        .await
        .unwrap();
    let (leaver, conn) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=root dbname=spanlite",
            pg.addr.port()
        ),
        NoTls,
    )
    .await
    .unwrap();
    let conn = tokio::spawn(conn);
    leaver
        .batch_execute("BEGIN; UPDATE kv SET v = 'leaver' WHERE k = 2")
        .await
        .unwrap();
    let blocked = tokio::spawn(async move {
        let r = leaver
            .execute("UPDATE kv SET v = 'leaver' WHERE k = 1", &[])
            .await;
        (leaver, r)
    });
    // Waits for the holder's lock (younger than the holder: it waits).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !blocked.is_finished(),
        "the UPDATE should wait for the lock"
    );
    // The client goes: its socket closes with the statement still running.
    conn.abort();
    blocked.abort();
    // Row 2's lock is free again within 3 s: before the statement's lock
    // wait would have ended on its own (4 s, `LOCK_WAIT`), after which the
    // connection would have seen the hang-up anyway.
    let third = pg.client().await;
    third
        .batch_execute("SET statement_timeout = '3s'")
        .await
        .unwrap();
    let n = third
        .execute("UPDATE kv SET v = 'third' WHERE k = 2", &[])
        .await
        .unwrap_or_else(|e| panic!("row 2 is still locked by the client that left: {e:?}"));
    assert_eq!(n, 1);
    holder.batch_execute("COMMIT").await.unwrap();
    let rows = third
        .query("SELECT k, v FROM kv ORDER BY k", &[])
        .await
        .unwrap();
    let got: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got, [(1, "held".to_string()), (2, "third".to_string())]);
    pg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_request_ends_a_statement_blocked_on_a_lock() {
    let pg = PgCluster::start().await;
    let holder = pg.client().await;
    holder
        .batch_execute(
            "CREATE TABLE kv (k INT PRIMARY KEY, v TEXT); INSERT INTO kv VALUES (1, 'a')",
        )
        .await
        .unwrap();
    holder
        .batch_execute("BEGIN; UPDATE kv SET v = 'held' WHERE k = 1")
        .await
        .unwrap();

    let waiter = std::sync::Arc::new(pg.client().await);
    let token = waiter.cancel_token();
    for explicit in [false, true] {
        if explicit {
            waiter.batch_execute("BEGIN").await.unwrap();
        }
        let w = waiter.clone();
        let blocked = tokio::spawn(async move {
            w.execute("UPDATE kv SET v = 'waiter' WHERE k = 1", &[])
                .await
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !blocked.is_finished(),
            "the UPDATE should wait for the lock"
        );

        // A CancelRequest with a wrong key is ignored.
        send_cancel(pg.addr, 1, 12345).await;
        send_cancel(pg.addr, 2, 12345).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!blocked.is_finished(), "a wrong key must not cancel");

        token.cancel_query(NoTls).await.unwrap();
        let e = tokio::time::timeout(Duration::from_secs(10), blocked)
            .await
            .expect("the cancel ends the statement")
            .unwrap()
            .unwrap_err();
        assert_eq!(e.code().map(|c| c.code()), Some("57014"), "{e:?}");
        assert!(
            e.as_db_error()
                .is_some_and(|d| d.message() == "canceling statement due to user request"),
            "{e:?}"
        );
        if explicit {
            let e = waiter.simple_query("SELECT 1").await.unwrap_err();
            assert_eq!(e.code().map(|c| c.code()), Some("25P02"), "{e:?}");
            waiter.batch_execute("ROLLBACK").await.unwrap();
        }
        // The connection is usable.
        let rows = waiter
            .query("SELECT v FROM kv WHERE k = 1", &[])
            .await
            .unwrap();
        assert_eq!(rows[0].get::<_, String>(0), "a");
    }

    // The holder's transaction was untouched and commits; the cancelled
    // statements left nothing behind, so a new write gets the lock.
    holder.batch_execute("COMMIT").await.unwrap();
    let n = tokio::time::timeout(
        Duration::from_secs(30),
        waiter.execute("UPDATE kv SET v = 'after' WHERE k = 1", &[]),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(n, 1);
    let rows = holder.query("SELECT v FROM kv", &[]).await.unwrap();
    assert_eq!(rows[0].get::<_, String>(0), "after");
    pg.shutdown().await;
}

// psycopg 3 (server-side binding, so the extended protocol): parameters,
// a committed and a rolled-back transaction, UniqueViolation and
// SerializationFailure as exceptions. See tests/pgwire_psycopg.py.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn psycopg_binds_parameters_commits_rolls_back_and_raises() {
    let pg = PgCluster::start().await;
    // This checkout's script (cargo sets the variable when it runs tests).
    let script = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("tests/pgwire_psycopg.py");
    let dsn = format!(
        "host=127.0.0.1 port={} user=root dbname=spanlite connect_timeout=10",
        pg.addr.port()
    );
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(dsn);
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || cmd.output()),
    )
    .await
    .expect("the psycopg script hangs")
    .unwrap()
    .unwrap_or_else(|e| panic!("running python3: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout == "ok\n",
        "psycopg script failed (`make deps` installs psycopg):\n{stdout}\n{stderr}"
    );
    pg.shutdown().await;
}

// psql's \dt and \d NAME run through the system catalogs
// (the SQL engine's `statement::system`; the rest of the \d family: tests/clients.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn psql_lists_and_describes_tables() {
    let pg = PgCluster::start().await;
    let (ok, _, err) = pg
        .psql(&[
            "CREATE TABLE accounts (id INT PRIMARY KEY, owner TEXT NOT NULL, balance INT DEFAULT 0, note TEXT)",
            "CREATE INDEX accounts_owner ON accounts (owner)",
            "CREATE TABLE kv (k TEXT PRIMARY KEY, v BYTEA, at TIMESTAMP, f FLOAT, b BOOL)",
        ])
        .await;
    assert!(ok, "{err}");
    let (ok, out, err) = pg.psql(&["\\dt"]).await;
    assert!(ok, "{err}");
    assert_eq!(out, "public|accounts|table|root\npublic|kv|table|root\n");
    let (ok, out, err) = pg.psql(&["\\dt acc*"]).await;
    assert!(ok, "{err}");
    assert_eq!(out, "public|accounts|table|root\n");

    // Columns with types, nullability and defaults; the primary key and
    // the secondary index.
    // (Footers like "Indexes:" need tuples_only off.)
    let (ok, out, err) = pg.psql(&["\\pset tuples_only off", "\\d accounts"]).await;
    assert!(ok, "{err}");
    for line in [
        "id|integer||not null|",
        "owner|text||not null|",
        "balance|integer|||0",
        "note|text|||",
        "\"accounts_pkey\" PRIMARY KEY, btree (id)",
        "\"accounts_owner\" btree (owner)",
    ] {
        assert!(out.contains(line), "{line:?} not in:\n{out}");
    }
    let (ok, out, err) = pg.psql(&["\\pset tuples_only off", "\\d kv"]).await;
    assert!(ok, "{err}");
    for line in [
        "k|text||not null|",
        "v|bytea|||",
        "at|timestamp without time zone|||",
        "f|double precision|||",
        "b|boolean|||",
        "\"kv_pkey\" PRIMARY KEY, btree (k)",
    ] {
        assert!(out.contains(line), "{line:?} not in:\n{out}");
    }
    let (ok, _, err) = pg.psql(&["\\d nosuch"]).await;
    assert!(!ok);
    assert!(
        err.contains("Did not find any relation named \"nosuch\""),
        "{err}"
    );

    // The catalogs are relations: a query of its own over them.
    let (ok, out, err) = pg
        .psql(&["SELECT typname FROM pg_catalog.pg_type WHERE oid = 'int4'::regtype"])
        .await;
    assert!(ok, "{err}");
    assert_eq!(out, "int4\n");
    pg.shutdown().await;
}

/// Reads what the server sends until it closes the connection (or 10 s).
async fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    out
}

/// `max_connections` and the login timeout: 2,000 sockets that connect and
/// say nothing take the free slots (until their login timeout) and get
/// FATAL 53300 beyond them, while a logged-in client keeps committing; once
/// the idle ones time out, new clients log in again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_connections_beyond_max_connections_are_refused_and_the_port_keeps_serving() {
    let limits = Limits {
        max_connections: 10,
        login_timeout: Duration::from_secs(3),
    };
    let pg = PgCluster::start_limited(Auth::Trust, limits).await;
    let a = pg.client().await;
    a.batch_execute("CREATE TABLE c (k INT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    let mut idle = Vec::new();
    for _ in 0..2000 {
        idle.push(TcpStream::connect(pg.addr).await.unwrap());
    }
    // The logged-in client keeps committing meanwhile.
    for k in 0..50i64 {
        a.execute("INSERT INTO c VALUES ($1, 0)", &[&k])
            .await
            .unwrap();
    }
    // A new client is turned away with 53300 (every slot is taken).
    let refused = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=root dbname=spanlite",
            pg.addr.port()
        ),
        NoTls,
    )
    .await
    .err()
    .expect("an 11th client is refused");
    assert_eq!(
        refused.code().map(|c| c.code()),
        Some("53300"),
        "{refused:?}"
    );
    // So was the last idle socket, without reading anything from it.
    let last = idle.last_mut().unwrap();
    let told = read_to_close(last).await;
    assert_eq!(told.first(), Some(&b'E'));
    assert!(String::from_utf8_lossy(&told).contains("53300"));
    // The idle ones holding slots are dropped at their login timeout: a
    // new client gets in (waited for with a deadline).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let b = loop {
        match tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user=root dbname=spanlite",
                pg.addr.port()
            ),
            NoTls,
        )
        .await
        {
            Ok((client, conn)) => {
                tokio::spawn(conn);
                break client;
            }
            Err(e) => {
                assert_eq!(e.code().map(|c| c.code()), Some("53300"), "{e:?}");
                assert!(std::time::Instant::now() < deadline, "no slot freed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let n: i64 = b
        .query_one("SELECT count(*) FROM c", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 50);
    drop(idle);
    pg.shutdown().await;
}

/// Before login a client's messages are small: a 100 KB password message
/// is refused (FATAL 08P01) without being read into memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_large_message_before_login_is_refused() {
    let pg = PgCluster::start_with(Auth::Password).await;
    let mut s = TcpStream::connect(pg.addr).await.unwrap();
    s.write_all(&startup_packet("root")).await.unwrap();
    // AuthenticationSASL arrives; answer with a huge SASLInitialResponse.
    let mut first = [0u8; 1];
    s.read_exact(&mut first).await.unwrap();
    assert_eq!(first[0], b'R');
    let mut huge = vec![b'p'];
    huge.extend_from_slice(&100_004i32.to_be_bytes());
    s.write_all(&huge).await.unwrap();
    let told = read_to_close(&mut s).await;
    let text = String::from_utf8_lossy(&told);
    assert!(
        text.contains("08P01") && text.contains("at most 8192"),
        "{text}"
    );
    pg.shutdown().await;
}

/// `statement_timeout`: a statement blocked behind another transaction's
/// lock ends with 57014 ("statement timeout") once it passes, and the
/// connection goes on; `idle_in_transaction_session_timeout`: a client that
/// leaves a transaction open and idle is disconnected (FATAL 25P03) and its
/// locks go, so the blocked writer gets through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statement_and_idle_in_transaction_timeouts() {
    let pg = PgCluster::start().await;
    let holder = pg.client().await;
    holder
        .batch_execute(
            "CREATE TABLE kv (k INT PRIMARY KEY, v TEXT); INSERT INTO kv VALUES (1, 'a')",
        )
        .await
        .unwrap();
    holder
        .batch_execute(
            "SET idle_in_transaction_session_timeout = '1s'; BEGIN; UPDATE kv SET v = 'held' WHERE k = 1",
        )
        .await
        .unwrap();

    let waiter = pg.client().await;
    waiter
        .batch_execute("SET statement_timeout = 200")
        .await
        .unwrap();
    let e = waiter
        .execute("UPDATE kv SET v = 'waiter' WHERE k = 1", &[])
        .await
        .unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("57014"), "{e:?}");
    assert!(
        e.as_db_error()
            .is_some_and(|d| d.message() == "canceling statement due to statement timeout"),
        "{e:?}"
    );
    let e = waiter
        .batch_execute("SET statement_timeout = '5 parsecs'")
        .await
        .unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("22023"), "{e:?}");

    // The holder sits idle in its transaction: after 1 s it is cut off.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !holder.is_closed() {
        assert!(
            std::time::Instant::now() < deadline,
            "the idle holder was never cut off"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Its lock went with it: the waiter (no timeout now) gets the row.
    waiter
        .batch_execute("SET statement_timeout = 0")
        .await
        .unwrap();
    let n = tokio::time::timeout(
        Duration::from_secs(30),
        waiter.execute("UPDATE kv SET v = 'waiter' WHERE k = 1", &[]),
    )
    .await
    .expect("the lock was released")
    .unwrap();
    assert_eq!(n, 1);
    pg.shutdown().await;
}

// RETURNING through the extended protocol: a statement's Describe tells
// its RETURNING columns before it runs (drivers decode rows with them);
// upsert with EXCLUDED; TRUNCATE, whose old rows are deleted after its
// commit, in transactions of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn returning_upsert_and_truncate_through_a_driver() {
    let pg = PgCluster::start().await;
    let c = pg.client().await;
    c.batch_execute("CREATE TABLE items (id INT PRIMARY KEY, name TEXT, qty INT)")
        .await
        .unwrap();
    let row = c
        .query_one(
            "INSERT INTO items VALUES ($1, $2, $3) RETURNING id, name",
            &[&1i64, &"apple", &3i64],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
    assert_eq!(row.get::<_, String>(1), "apple");
    let upsert = c
        .prepare(
            "INSERT INTO items VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET qty = items.qty + excluded.qty RETURNING qty",
        )
        .await
        .unwrap();
    assert_eq!(upsert.columns().len(), 1);
    assert_eq!(upsert.columns()[0].name(), "qty");
    let qty: i64 = c
        .query_one(&upsert, &[&1i64, &"apple", &4i64])
        .await
        .unwrap()
        .get(0);
    assert_eq!(qty, 7);
    let qty: i64 = c
        .query_one(&upsert, &[&2i64, &"pear", &1i64])
        .await
        .unwrap()
        .get(0);
    assert_eq!(qty, 1);
    let names: Vec<String> = c
        .query("UPDATE items SET qty = 0 WHERE qty < 5 RETURNING name", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names, vec!["pear".to_string()]);
    let gone = c
        .query("DELETE FROM items WHERE id = $1 RETURNING *", &[&1i64])
        .await
        .unwrap();
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].get::<_, i64>(2), 7);

    // TRUNCATE: the table (id 1, the first created) moves to a new id; the
    // old id's keys are deleted after the commit.
    c.batch_execute(
        "INSERT INTO items SELECT id, 'x', id FROM (VALUES (10), (11), (12), (13)) AS v(id)",
    )
    .await
    .unwrap();
    c.batch_execute("TRUNCATE items").await.unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    let old = ([0x03u8, 0, 0, 0, 1], [0x03u8, 0, 0, 0, 2]);
    let gateway = pg.cluster.schema_of(0).gateway().clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = gateway.read_only().scan(&old.0, &old.1, 0).await.unwrap();
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} old keys left",
            left.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.batch_execute("INSERT INTO items VALUES (1, 'again', 1)")
        .await
        .unwrap();
    pg.shutdown().await;
}

// Savepoints through a driver and psql: ROLLBACK TO recovers from a
// statement's error (psql's ON_ERROR_ROLLBACK wraps each statement in
// one); a transaction the cluster ended (here a cancelled statement, whose
// locks went at once) is not brought back by a savepoint: 40001.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn savepoints_recover_statement_errors_not_ended_transactions() {
    let pg = PgCluster::start().await;
    let c = pg.client().await;
    c.batch_execute("CREATE TABLE sp (k INT PRIMARY KEY, v TEXT)")
        .await
        .unwrap();
    // psql -v ON_ERROR_ROLLBACK=on: the failed INSERT is undone, the rest
    // of the block commits.
    let script = "BEGIN;\n\
                  INSERT INTO sp VALUES (1, 'a');\n\
                  INSERT INTO sp VALUES (1, 'dup');\n\
                  INSERT INTO sp VALUES (2, 'b');\n\
                  COMMIT;\n";
    let mut cmd = Command::new("psql");
    cmd.args([
        "-X",
        "-q",
        "-v",
        "ON_ERROR_ROLLBACK=on",
        "-h",
        "127.0.0.1",
        "-p",
    ])
    .arg(pg.addr.port().to_string())
    .args(["-U", "root", "-d", "spanlite"])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("running psql (`make deps` installs it): {e}"));
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
    }
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("23505") || err.contains("duplicate key"),
        "{err}"
    );
    let rows = c.query("SELECT k FROM sp ORDER BY k", &[]).await.unwrap();
    let keys: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(keys, vec![1, 2]);

    // A cancelled statement ends the transaction on the cluster.
    let holder = pg.client().await;
    holder
        .batch_execute("BEGIN; UPDATE sp SET v = 'held' WHERE k = 1")
        .await
        .unwrap();
    c.batch_execute("BEGIN; SAVEPOINT s; SET statement_timeout = 200")
        .await
        .unwrap();
    let e = c
        .batch_execute("UPDATE sp SET v = 'waits' WHERE k = 1")
        .await
        .unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("57014"), "{e:?}");
    let e = c
        .batch_execute("ROLLBACK TO SAVEPOINT s")
        .await
        .unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("40001"), "{e:?}");
    c.batch_execute("ROLLBACK; SET statement_timeout = 0")
        .await
        .unwrap();
    holder.batch_execute("COMMIT").await.unwrap();
    pg.shutdown().await;
}

// COPY through psql's \copy: text and CSV in (more rows than a batch,
// NULLs, quoted delimiters and newlines, a header), out again; a bad line
// fails with its SQLSTATE and line number; inside BEGIN a failed COPY
// leaves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copy_in_and_out_through_psql() {
    let pg = PgCluster::start().await;
    let c = pg.client().await;
    c.batch_execute("CREATE TABLE cp (id INT PRIMARY KEY, name TEXT, score FLOAT)")
        .await
        .unwrap();
    let mut text = String::new();
    for i in 0..2500 {
        if i % 100 == 0 {
            text.push_str(&format!("{i}\t\\N\t\\N\n"));
        } else {
            text.push_str(&format!("{i}\tname\\t{i}\t{}.5\n", i % 7));
        }
    }
    let (ok, _, err) = psql_stdin(&pg, &["-c", "\\copy cp FROM STDIN"], text.as_bytes()).await;
    assert!(ok, "{err}");
    let n: i64 = c
        .query_one("SELECT count(*) FROM cp", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2500);
    let row = c
        .query_one("SELECT name, score FROM cp WHERE id = 1", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "name\t1");
    assert_eq!(row.get::<_, f64>(1), 1.5);
    let nulls: i64 = c
        .query_one("SELECT count(*) FROM cp WHERE name IS NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(nulls, 25);

    let csv = "id,name,score\n5000,\"a, \"\"quoted\"\" name\",1\n5001,\"two\nlines\",\n";
    let (ok, _, err) = psql_stdin(
        &pg,
        &[
            "-c",
            "\\copy cp (id, name, score) FROM STDIN WITH (FORMAT csv, HEADER true)",
        ],
        csv.as_bytes(),
    )
    .await;
    assert!(ok, "{err}");
    let (ok, out, err) = psql_stdin(
        &pg,
        &["-c", "\\copy (SELECT id, name, score FROM cp WHERE id >= 5000 ORDER BY id) TO STDOUT WITH (FORMAT csv)"],
        b"",
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "5000,\"a, \"\"quoted\"\" name\",1\n5001,\"two\nlines\",\n"
    );
    let (ok, out, _) = psql_stdin(&pg, &["-c", "\\copy cp TO STDOUT"], b"").await;
    assert!(ok);
    assert_eq!(out.lines().count(), 2502);
    assert!(
        out.contains("1\tname\\t1\t1.5\n"),
        "{}",
        &out[..200.min(out.len())]
    );

    // A bad line: its SQLSTATE and line; the batches before it stay
    // (outside a transaction block each batch commits).
    let bad = "9000\tok\t1\n9001\tbad\tnot-a-number\n";
    let (ok, _, err) = psql_stdin(&pg, &["-c", "\\copy cp FROM STDIN"], bad.as_bytes()).await;
    assert!(!ok);
    assert!(err.contains("line 2"), "{err}");
    let (ok, _, err) = psql_stdin(&pg, &["-c", "\\copy cp FROM STDIN"], b"1\tdup\t1\n").await;
    assert!(!ok);
    assert!(err.contains("duplicate key"), "{err}");
    let (ok, _, err) = psql_stdin(&pg, &["-c", "\\copy cp FROM STDIN"], b"9100\ttoo few\n").await;
    assert!(!ok);
    assert!(err.contains("missing data"), "{err}");
    // Inside BEGIN: all or nothing, across batches (a full batch of good
    // rows, then a bad one).
    let mut rows = String::new();
    for i in 9200..10_300 {
        rows.push_str(&format!("{i}\tx\t1\n"));
    }
    rows.push_str("10300\ty\tnope\n");
    let (ok, _, _) = psql_stdin(
        &pg,
        &[
            "-c",
            "BEGIN",
            "-c",
            "\\copy cp FROM 'pstdin'",
            "-c",
            "COMMIT",
        ],
        rows.as_bytes(),
    )
    .await;
    assert!(!ok);
    let n: i64 = c
        .query_one("SELECT count(*) FROM cp WHERE id >= 9200", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    // Outside a block, the full batches before the bad line are kept.
    let (ok, _, _) = psql_stdin(&pg, &["-c", "\\copy cp FROM STDIN"], rows.as_bytes()).await;
    assert!(!ok);
    let n: i64 = c
        .query_one("SELECT count(*) FROM cp WHERE id >= 9200", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, spanlite_pgwire::copy::BATCH_ROWS as i64);
    pg.shutdown().await;
}
