//! Logins and privileges on the PostgreSQL port of a 3-node cluster in
//! this process: per-user SCRAM-SHA-256 passwords (no user enumeration),
//! roles and privileges checked when statements are bound.
//!
//! The psql tests fail when psql is missing: `make deps` installs it.

use std::net::SocketAddr;

use spanlite_pgwire::Auth;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod pg;
use pg::{PgCluster, connect_as, startup_packet};

/// The server-first-message of a SCRAM exchange started for `user` (the
/// salt and iterations the port shows for that name).
async fn scram_server_first(addr: SocketAddr, user: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&startup_packet(user)).await.unwrap();
    async fn read_message(s: &mut TcpStream) -> (u8, Vec<u8>) {
        let mut head = [0u8; 5];
        s.read_exact(&mut head).await.unwrap();
        let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut body = vec![0u8; len - 4];
        s.read_exact(&mut body).await.unwrap();
        (head[0], body)
    }
    let (kind, body) = read_message(&mut s).await;
    assert_eq!(kind, b'R');
    assert_eq!(&body[..4], &10i32.to_be_bytes(), "AuthenticationSASL");
    let first = b"n,,n=,r=clientnonce";
    let mut msg = b"SCRAM-SHA-256\0".to_vec();
    msg.extend_from_slice(&(first.len() as i32).to_be_bytes());
    msg.extend_from_slice(first);
    let mut packet = vec![b'p'];
    packet.extend_from_slice(&((msg.len() + 4) as i32).to_be_bytes());
    packet.extend_from_slice(&msg);
    s.write_all(&packet).await.unwrap();
    let (kind, body) = read_message(&mut s).await;
    assert_eq!(kind, b'R');
    assert_eq!(
        &body[..4],
        &11i32.to_be_bytes(),
        "AuthenticationSASLContinue"
    );
    String::from_utf8(body[4..].to_vec()).unwrap()
}

// Per-user SCRAM-SHA-256 passwords (`--pg-auth password`): each user logs
// in with its own password (driver and psql); a wrong password, a user that
// does not exist and a role with no password all get the same FATAL 28P01
// after the same exchange (a stable salt per name, 4096 iterations), so a
// name's existence does not show; a role without LOGIN is refused (28000)
// only after its password was proven.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_user_passwords_and_no_user_enumeration() {
    let pg = PgCluster::start_with(Auth::Password).await;
    pg.as_root(
        "CREATE USER alice WITH PASSWORD 's3cret pass'; \
         CREATE ROLE nologin WITH PASSWORD 'pw'; \
         CREATE USER nopass",
    )
    .await;
    let c = connect_as(&pg, "alice", "s3cret pass").await.unwrap();
    let rows = c.query("SELECT 1 + 1", &[]).await.unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 2);
    let (ok, out, err) = pg
        .psql_with(
            &[("PGPASSWORD", "s3cret pass"), ("PGUSER", "alice")],
            &["SELECT 7"],
        )
        .await;
    assert!(ok, "{err}");
    assert_eq!(out, "7\n");

    let refusal = |user: &str, e: tokio_postgres::Error| {
        let db = e.as_db_error().unwrap_or_else(|| panic!("{user}: {e:?}"));
        assert_eq!(db.code().code(), "28P01", "{user}: {e:?}");
        db.message().replace(user, "USER")
    };
    let wrong = refusal(
        "alice",
        connect_as(&pg, "alice", "wrong").await.unwrap_err(),
    );
    let unknown = refusal(
        "mallory",
        connect_as(&pg, "mallory", "x").await.unwrap_err(),
    );
    let no_password = refusal("nopass", connect_as(&pg, "nopass", "x").await.unwrap_err());
    assert_eq!(wrong, "password authentication failed for user \"USER\"");
    assert_eq!(unknown, wrong);
    assert_eq!(no_password, wrong);
    // root has no password here (none was given at init): same refusal.
    let root = refusal("root", connect_as(&pg, "root", "").await.unwrap_err());
    assert_eq!(root, wrong);

    // The exchange looks the same for a name that exists and one that
    // does not: a salt that is the same on every attempt, 4096 iterations.
    let salt_and_iterations = |m: String| m.split_once(",s=").unwrap().1.to_string();
    for user in ["alice", "mallory"] {
        let a = salt_and_iterations(scram_server_first(pg.addr, user).await);
        let b = salt_and_iterations(scram_server_first(pg.addr, user).await);
        assert_eq!(a, b, "{user}");
        assert!(a.ends_with(",i=4096"), "{a}");
    }

    let e = connect_as(&pg, "nologin", "pw").await.unwrap_err();
    let db = e.as_db_error().unwrap();
    assert_eq!(db.code().code(), "28000");
    assert_eq!(db.message(), "role \"nologin\" is not permitted to log in");

    // A user changes its own password; the old one stops working.
    c.batch_execute("ALTER USER alice WITH PASSWORD 'n3w'")
        .await
        .unwrap();
    assert!(connect_as(&pg, "alice", "s3cret pass").await.is_err());
    connect_as(&pg, "alice", "n3w").await.unwrap();
    pg.shutdown().await;
}

// Roles and privileges, checked when statements are bound: a user without
// a privilege gets 42501 and nothing is read or written; privileges come
// from grants to the user, to its roles and to PUBLIC; the owner of a table
// (its creator) may drop it and grant on it; roles are managed by
// superusers; a grant or revoke made on this node holds for the next
// statement of every session here.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn roles_and_privileges_are_checked_at_bind() {
    let pg = PgCluster::start().await;
    let root = pg.client().await;
    root.batch_execute(
        "CREATE TABLE acct (id INT PRIMARY KEY, bal INT); \
         INSERT INTO acct VALUES (1, 100), (2, 100); \
         CREATE USER alice; CREATE USER bob; CREATE ROLE readers",
    )
    .await
    .unwrap();
    let alice = connect_as(&pg, "alice", "").await.unwrap();
    fn code<T>(r: Result<T, tokio_postgres::Error>) -> (String, String) {
        let Err(e) = r else {
            panic!("the statement should fail")
        };
        let db = e.as_db_error().unwrap_or_else(|| panic!("{e:?}"));
        (db.code().code().to_string(), db.message().to_string())
    }
    let denied = |m: &str| ("42501".to_string(), m.to_string());
    let acct = denied("permission denied for table acct");
    assert_eq!(code(alice.query("SELECT * FROM acct", &[]).await), acct);
    assert_eq!(
        code(
            alice
                .query("SELECT 1 WHERE EXISTS (SELECT 1 FROM acct)", &[])
                .await
        ),
        acct
    );
    // Through a view, or a WITH query: the table's privileges still count.
    root.batch_execute("CREATE VIEW acct_v AS SELECT id FROM acct")
        .await
        .unwrap();
    assert_eq!(code(alice.query("SELECT * FROM acct_v", &[]).await), acct);
    assert_eq!(
        code(
            alice
                .query("WITH x AS (SELECT * FROM acct) SELECT * FROM x", &[])
                .await
        ),
        acct
    );
    assert_eq!(
        code(alice.execute("INSERT INTO acct VALUES (3, 0)", &[]).await),
        acct
    );
    assert_eq!(code(alice.execute("DELETE FROM acct", &[]).await), acct);
    assert_eq!(
        code(alice.execute("DROP TABLE acct", &[]).await),
        denied("must be owner of table acct")
    );
    assert_eq!(code(alice.execute("CREATE USER x", &[]).await).0, "42501");
    assert_eq!(
        code(alice.execute("GRANT SELECT ON acct TO alice", &[]).await),
        acct
    );
    // An enum type is altered or dropped by its creator or a superuser.
    root.batch_execute("CREATE TYPE level AS ENUM ('low', 'high')")
        .await
        .unwrap();
    let level = denied("must be owner of type level");
    assert_eq!(
        code(alice.execute("ALTER TYPE level ADD VALUE 'mid'", &[]).await),
        level
    );
    assert_eq!(code(alice.execute("DROP TYPE level", &[]).await), level);
    alice
        .batch_execute(
            "CREATE TYPE tint AS ENUM ('red'); ALTER TYPE tint ADD VALUE 'blue'; \
             DROP TYPE tint; SELECT 'high'::level",
        )
        .await
        .unwrap();
    root.batch_execute("DROP TYPE level").await.unwrap();
    // Her own table: everything, and she may grant on it.
    alice
        .batch_execute(
            "CREATE TABLE notes (k INT PRIMARY KEY, t TEXT); \
             INSERT INTO notes VALUES (1, 'mine'); \
             GRANT SELECT ON notes TO bob",
        )
        .await
        .unwrap();
    let bob = connect_as(&pg, "bob", "").await.unwrap();
    let n: i64 = bob
        .query_one("SELECT count(*) FROM notes", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    assert_eq!(
        code(bob.execute("DELETE FROM notes", &[]).await),
        denied("permission denied for table notes")
    );
    // Through a role; then UPDATE, whose WHERE needs SELECT too.
    root.batch_execute("GRANT SELECT ON acct TO readers; GRANT readers TO alice")
        .await
        .unwrap();
    let sum: i64 = alice
        .query_one("SELECT sum(bal) FROM acct", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(sum, 200);
    assert_eq!(
        code(
            alice
                .execute("UPDATE acct SET bal = 0 WHERE id = 1", &[])
                .await
        ),
        acct
    );
    root.batch_execute("GRANT UPDATE ON acct TO alice")
        .await
        .unwrap();
    alice
        .execute("UPDATE acct SET bal = bal + 1 WHERE id = 1", &[])
        .await
        .unwrap();
    root.batch_execute("REVOKE readers FROM alice")
        .await
        .unwrap();
    assert_eq!(code(alice.query("SELECT * FROM acct", &[]).await), acct);
    assert_eq!(
        code(
            alice
                .execute("UPDATE acct SET bal = 0 WHERE id = 1", &[])
                .await
        ),
        acct
    );
    // An UPDATE that reads no column needs UPDATE only (as in PostgreSQL).
    assert_eq!(
        alice.execute("UPDATE acct SET bal = 7", &[]).await.unwrap(),
        2
    );
    // PUBLIC.
    root.batch_execute("GRANT SELECT ON acct TO PUBLIC")
        .await
        .unwrap();
    let n: i64 = bob
        .query_one("SELECT count(*) FROM acct", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
    root.batch_execute("REVOKE ALL ON acct FROM PUBLIC")
        .await
        .unwrap();
    assert_eq!(code(bob.query("SELECT * FROM acct", &[]).await), acct);

    // Role management errors.
    assert_eq!(code(root.execute("CREATE USER bob", &[]).await).0, "42710");
    assert_eq!(
        code(root.execute("CREATE USER public", &[]).await).0,
        "42939"
    );
    assert_eq!(
        code(root.execute("GRANT nobody TO bob", &[]).await).0,
        "42704"
    );
    root.batch_execute("GRANT bob TO readers").await.unwrap();
    assert_eq!(
        code(root.execute("GRANT readers TO bob", &[]).await).0,
        "0LP01"
    );
    assert_eq!(code(root.execute("DROP USER root", &[]).await).0, "42501");
    // alice owns notes and holds UPDATE on acct: she cannot be dropped yet.
    let (c, m) = code(root.execute("DROP USER alice", &[]).await);
    assert_eq!(c, "2BP01", "{m}");
    assert!(
        m.contains("owner of table notes") && m.contains("privileges for table acct"),
        "{m}"
    );
    root.batch_execute("DROP TABLE notes; REVOKE UPDATE ON acct FROM alice; DROP USER alice")
        .await
        .unwrap();
    let e = connect_as(&pg, "alice", "").await.unwrap_err();
    assert_eq!(e.as_db_error().unwrap().code().code(), "28000");
    root.batch_execute("ALTER USER bob NOLOGIN").await.unwrap();
    let e = connect_as(&pg, "bob", "").await.unwrap_err();
    assert_eq!(e.as_db_error().unwrap().code().code(), "28000");
    // The data is as the allowed statements left it.
    let rows = root
        .query("SELECT bal FROM acct ORDER BY id", &[])
        .await
        .unwrap();
    let bals: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(bals, vec![7, 7]);
    pg.shutdown().await;
}
