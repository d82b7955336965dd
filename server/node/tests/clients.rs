//! Real PostgreSQL clients, unmodified, against a 3-node cluster's
//! PostgreSQL port: psql 15's `\d` family, the SQLAlchemy 2 ORM, a Django
//! project, node-postgres, and `information_schema.columns` compared with
//! PostgreSQL 15's. Their scripts are in `tests/clients/`; `make deps`
//! installs the clients, and a missing one fails its test.
//!
//! Every catalog query these clients send runs through the SQL engine
//! (the SQL engine's `statement::system`): nothing here or in the port recognises a
//! client by its text.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

mod pg;
use pg::PgCluster;

/// One client run at a time: each loads a 3-node cluster in this process,
/// and the machines that run the tests have 2 cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `tests/clients` of this checkout.
fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients")
}

/// Runs `cmd` (at most 5 minutes): success, stdout and stderr. Fails the
/// test when it cannot start.
async fn run(mut cmd: Command, what: &str) -> (bool, String, String) {
    cmd.env("PYTHONDONTWRITEBYTECODE", "1");
    let out = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::task::spawn_blocking(move || cmd.output()),
    )
    .await
    .unwrap_or_else(|_| panic!("{what} did not finish in 5 minutes"))
    .unwrap()
    .unwrap_or_else(|e| panic!("running {what} (`make deps` installs it): {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn psql_describes_databases_schemas_relations_and_tables() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let pg = PgCluster::start().await;
    let (ok, _, err) = pg
        .psql(&[
            "CREATE TABLE parent (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL UNIQUE, qty INT DEFAULT 3 CHECK (qty > 0))",
            "CREATE TABLE child (id SERIAL PRIMARY KEY, parent_id INT REFERENCES parent(id) ON DELETE CASCADE, note TEXT)",
            "CREATE INDEX child_note ON child (note)",
            "CREATE VIEW big_parents AS SELECT id, name FROM parent WHERE qty > 10",
            "CREATE SEQUENCE tickets",
        ])
        .await;
    assert!(ok, "{err}");
    let expect = |cmd: &str, out: &str, lines: &[&str]| {
        for line in lines {
            assert!(out.contains(line), "{cmd}: {line:?} not in:\n{out}");
        }
    };
    let (ok, out, err) = pg.psql(&["\\l"]).await;
    assert!(ok, "{err}");
    expect("\\l", &out, &["spanlite|root|UTF8|"]);
    let (ok, out, err) = pg.psql(&["\\dn"]).await;
    assert!(ok, "{err}");
    assert_eq!(out, "public|root\n", "\\dn");
    let (ok, out, err) = pg.psql(&["\\dt"]).await;
    assert!(ok, "{err}");
    assert_eq!(out, "public|child|table|root\npublic|parent|table|root\n");
    let (ok, out, err) = pg.psql(&["\\dt+ par*"]).await;
    assert!(ok, "{err}");
    assert_eq!(out, "public|parent|table|root|permanent|heap||\n");
    let (ok, out, err) = pg.psql(&["\\di"]).await;
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "public|child_note|index|root|child\n\
         public|child_pkey|index|root|child\n\
         public|parent_name_key|index|root|parent\n\
         public|parent_pkey|index|root|parent\n"
    );
    let (ok, out, err) = pg.psql(&["\\ds"]).await;
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "public|child_id_seq|sequence|root\npublic|tickets|sequence|root\n"
    );
    let (ok, out, err) = pg.psql(&["\\dv"]).await;
    assert!(ok, "{err}");
    assert_eq!(out, "public|big_parents|view|root\n");
    let (ok, out, err) = pg.psql(&["\\df"]).await;
    assert!(ok, "{err}");
    assert_eq!(out, "", "no functions of the user's");

    // Footers ("Indexes:", …) need tuples_only off.
    let (ok, out, err) = pg.psql(&["\\pset tuples_only off", "\\d parent"]).await;
    assert!(ok, "{err}");
    expect(
        "\\d parent",
        &out,
        &[
            "Table \"public.parent\"",
            "id|integer||not null|",
            "name|character varying(20)||not null|",
            "qty|integer|||3",
            "\"parent_pkey\" PRIMARY KEY, btree (id)",
            "\"parent_name_key\" UNIQUE CONSTRAINT, btree (name)",
            "Check constraints:",
            "\"parent_qty_check\" CHECK ((qty > 0))",
            "Referenced by:",
            "TABLE \"child\" CONSTRAINT \"child_parent_id_fkey\" FOREIGN KEY (parent_id) REFERENCES parent(id) ON DELETE CASCADE",
        ],
    );
    // \d+ (the table's options through pg_catalog.unnest) with the
    // comments COMMENT ON keeps.
    let (ok, out, err) = pg
        .psql(&[
            "COMMENT ON COLUMN parent.name IS 'the name'",
            "\\pset tuples_only off",
            "\\d+ parent",
        ])
        .await;
    assert!(ok, "{err}");
    expect(
        "\\d+ parent",
        &out,
        &[
            "Table \"public.parent\"",
            "name|character varying(20)||not null||extended|||the name",
        ],
    );
    let (ok, out, err) = pg.psql(&["\\pset tuples_only off", "\\d child"]).await;
    assert!(ok, "{err}");
    expect(
        "\\d child",
        &out,
        &[
            "id|integer||not null|nextval('child_id_seq'::regclass)",
            "parent_id|integer|||",
            "\"child_note\" btree (note)",
            "Foreign-key constraints:",
            "\"child_parent_id_fkey\" FOREIGN KEY (parent_id) REFERENCES parent(id) ON DELETE CASCADE",
        ],
    );
    let (ok, out, err) = pg.psql(&["\\pset tuples_only off", "\\d child_pkey"]).await;
    assert!(ok, "{err}");
    expect(
        "\\d child_pkey",
        &out,
        &[
            "id|integer|yes|id",
            "primary key, btree, for table \"public.child\"",
        ],
    );
    // An enum type: `\dT`, and a column of it in `\d`.
    let (ok, _, err) = pg
        .psql(&[
            "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')",
            "CREATE TABLE feelings (id INT PRIMARY KEY, m mood DEFAULT 'ok')",
        ])
        .await;
    assert!(ok, "{err}");
    let (ok, out, err) = pg.psql(&["\\dT"]).await;
    assert!(ok, "{err}");
    assert_eq!(out, "public|mood|\n", "\\dT");
    let (ok, out, err) = pg.psql(&["\\pset tuples_only off", "\\d feelings"]).await;
    assert!(ok, "{err}");
    expect("\\d feelings", &out, &["m|mood|||'ok'::mood"]);
    // Array columns in `\d`, and tokio-postgres's binary arrays (a Rust
    // Vec as a parameter and back, NULL elements as None; parameters of
    // integer columns are int8, as for columns of one integer).
    let (ok, _, err) = pg
        .psql(&[
            "CREATE TABLE bags (id INT PRIMARY KEY, tags VARCHAR(10)[] DEFAULT '{}', n INTEGER[])",
        ])
        .await;
    assert!(ok, "{err}");
    let (ok, out, err) = pg.psql(&["\\pset tuples_only off", "\\d bags"]).await;
    assert!(ok, "{err}");
    expect(
        "\\d bags",
        &out,
        &[
            "tags|character varying(10)[]|||'{}'::character varying[]",
            "n|integer[]|||",
        ],
    );
    let client = pg.client().await;
    let tags = vec![Some("a b".to_string()), None, Some("{c}".to_string())];
    client
        .execute(
            "INSERT INTO bags VALUES (1, $1, $2)",
            &[&tags, &vec![7i64, -1]],
        )
        .await
        .unwrap();
    let row = client
        .query_one(
            "SELECT tags, n, n[2] FROM bags WHERE $1 = ANY (n)",
            &[&7i64],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Vec<Option<String>>>(0), tags);
    assert_eq!(row.get::<_, Vec<i32>>(1), vec![7, -1]);
    assert_eq!(row.get::<_, i64>(2), -1);
    let err = client
        .execute("INSERT INTO bags VALUES (2, $1)", &[&vec!["far too long"]])
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("22001"), "{err}");
    let (ok, _, err) = pg.psql(&["\\d nosuch"]).await;
    assert!(!ok);
    assert!(
        err.contains("Did not find any relation named \"nosuch\""),
        "{err}"
    );
    let (ok, out, err) = pg.psql(&["\\conninfo"]).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("database \"spanlite\" as user \"root\""),
        "{out}"
    );

    // A catalog Spanlite does not have is an unknown relation, as in
    // PostgreSQL: never made-up rows.
    let (ok, _, err) = pg
        .psql(&[
            "\\set VERBOSITY verbose",
            "SELECT * FROM pg_catalog.pg_nosuch",
        ])
        .await;
    assert!(!ok);
    assert!(err.contains("42P01"), "{err}");
    pg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlalchemy_orm_creates_loads_updates_reflects_and_drops() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let pg = PgCluster::start().await;
    let mut cmd = Command::new("python3");
    cmd.arg(clients_dir().join("sqlalchemy_orm.py"))
        .arg(format!(
            "postgresql+psycopg://root@127.0.0.1:{}/spanlite",
            pg.addr.port()
        ));
    let (ok, out, err) = run(cmd, "python3 with SQLAlchemy").await;
    assert!(ok && out.contains("sqlalchemy: ok"), "{out}\n{err}");
    pg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn django_migrates_queries_locks_and_migrates_back() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let pg = PgCluster::start().await;
    let mut cmd = Command::new("python3");
    cmd.arg(clients_dir().join("django/run.py"))
        .env("PGPORT", pg.addr.port().to_string());
    let (ok, out, err) = run(cmd, "python3 with Django").await;
    assert!(ok && out.contains("django: ok"), "{out}\n{err}");
    pg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_postgres_binds_parameters_and_retries_serialization_failures() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let pg = PgCluster::start().await;
    let dir = clients_dir().join("node");
    assert!(
        dir.join("node_modules/pg").exists(),
        "node-postgres is not installed in {} (`make deps` runs npm ci there)",
        dir.display()
    );
    let mut cmd = Command::new("node");
    cmd.current_dir(&dir)
        .arg("test.js")
        .arg(pg.addr.port().to_string());
    let (ok, out, err) = run(cmd, "node").await;
    assert!(ok && out.contains("node-postgres: ok"), "{out}\n{err}");
    pg.shutdown().await;
}

/// `psql -X -A -q -f file` against `target` (connection arguments).
fn psql_file(target: &[&str], file: &std::path::Path) -> Command {
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-A", "-q", "-v", "ON_ERROR_STOP=1"])
        .args(target)
        .arg("-f")
        .arg(file)
        .env("PGCONNECT_TIMEOUT", "10");
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn information_schema_columns_match_postgresql() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let pg = PgCluster::start().await;
    let sql = clients_dir().join("information_schema.sql");
    let port = pg.addr.port().to_string();
    let (ok, ours, err) = run(
        psql_file(
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "root",
                "-d",
                "spanlite",
            ],
            &sql,
        ),
        "psql",
    )
    .await;
    assert!(ok, "{err}");
    // PostgreSQL 15's answer, stored; and a local PostgreSQL's, where one
    // runs (its socket directory; the script rolls back what it creates).
    let expected = std::fs::read_to_string(clients_dir().join("information_schema.expected"))
        .expect("tests/clients/information_schema.expected");
    assert_eq!(
        ours, expected,
        "information_schema.columns differs from PostgreSQL 15's"
    );
    let socket = std::env::var("SPANLITE_TEST_PGHOST").unwrap_or("/var/run/postgresql".into());
    if std::path::Path::new(&socket).join(".s.PGSQL.5432").exists() {
        let (ok, theirs, err) =
            run(psql_file(&["-h", &socket, "-d", "postgres"], &sql), "psql").await;
        if ok {
            assert_eq!(
                ours, theirs,
                "information_schema.columns differs from the local PostgreSQL's"
            );
            eprintln!("compared with the PostgreSQL at {socket}");
        } else {
            eprintln!(
                "the PostgreSQL at {socket} did not answer ({err}); compared with the stored file"
            );
        }
    }
    pg.shutdown().await;
}
