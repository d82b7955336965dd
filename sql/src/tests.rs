//! The executor over an in-memory key-value map (the same contract the
//! server's transactions give it).

use std::collections::BTreeMap;

use crate::{BoxFuture, KvTxn, Pairs, QueryResult, Result, SqlError, Value, execute, parse};

#[derive(Default)]
struct MemTxn(BTreeMap<Vec<u8>, Vec<u8>>);

impl KvTxn for MemTxn {
    fn get<'a>(&'a mut self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        Box::pin(async move { Ok(self.0.get(key).cloned()) })
    }

    fn scan<'a>(&'a mut self, start: &'a [u8], end: &'a [u8]) -> BoxFuture<'a, Result<Pairs>> {
        Box::pin(async move {
            Ok(self
                .0
                .range(start.to_vec()..end.to_vec())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect())
        })
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<()> {
        self.0.insert(key, value);
        Ok(())
    }

    fn delete(&mut self, key: Vec<u8>) -> Result<()> {
        self.0.remove(&key);
        Ok(())
    }
}

async fn run(txn: &mut MemTxn, sql: &str) -> Result<QueryResult> {
    let mut last = QueryResult::default();
    for stmt in parse(sql)? {
        last = execute(txn, &stmt).await?;
    }
    Ok(last)
}

async fn rows(txn: &mut MemTxn, sql: &str) -> Vec<Vec<Value>> {
    run(txn, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .rows
}

fn i(n: i64) -> Value {
    Value::Int(n)
}

fn t(s: &str) -> Value {
    Value::Text(s.to_string())
}

async fn accounts() -> MemTxn {
    let mut txn = MemTxn::default();
    run(
        &mut txn,
        "CREATE TABLE accounts (id INT PRIMARY KEY, owner TEXT NOT NULL, balance INT DEFAULT 0);
         INSERT INTO accounts VALUES (3, 'carol', 30), (1, 'alice', 10), (2, 'bob', 20);
         INSERT INTO accounts (id, owner) VALUES (4, 'dave');",
    )
    .await
    .unwrap();
    txn
}

#[tokio::test]
async fn create_insert_select_in_key_order_with_defaults() {
    let mut txn = accounts().await;
    assert_eq!(
        rows(&mut txn, "SELECT * FROM accounts").await,
        vec![
            vec![i(1), t("alice"), i(10)],
            vec![i(2), t("bob"), i(20)],
            vec![i(3), t("carol"), i(30)],
            vec![i(4), t("dave"), i(0)],
        ]
    );
    let r = run(
        &mut txn,
        "SELECT owner, balance * 2 AS double FROM accounts WHERE id = 2",
    )
    .await
    .unwrap();
    assert_eq!(r.columns[1].0, "double");
    assert_eq!(r.rows, vec![vec![t("bob"), i(40)]]);
    assert_eq!(r.tag, "SELECT 1");
}

#[tokio::test]
async fn where_order_limit_offset_distinct_and_aggregates() {
    let mut txn = accounts().await;
    assert_eq!(
        rows(
            &mut txn,
            "SELECT owner FROM accounts WHERE balance >= 10 AND owner <> 'bob' ORDER BY balance DESC LIMIT 1 OFFSET 1"
        )
        .await,
        vec![vec![t("alice")]]
    );
    assert_eq!(
        rows(
            &mut txn,
            "SELECT count(*), sum(balance), min(owner), max(balance), avg(balance) FROM accounts"
        )
        .await,
        vec![vec![i(4), i(60), t("alice"), i(30), Value::Float(15.0)]]
    );
    run(&mut txn, "INSERT INTO accounts VALUES (5, 'erin', 30)")
        .await
        .unwrap();
    assert_eq!(
        rows(
            &mut txn,
            "SELECT DISTINCT balance FROM accounts WHERE balance > 10 ORDER BY 1"
        )
        .await,
        vec![vec![i(20)], vec![i(30)]]
    );
    assert_eq!(
        rows(&mut txn, "SELECT 1 + 2, 'a' || 'b', NULL IS NULL").await,
        vec![vec![i(3), t("ab"), Value::Bool(true)]]
    );
}

#[tokio::test]
async fn three_valued_logic() {
    let mut txn = MemTxn::default();
    run(
        &mut txn,
        "CREATE TABLE t (k INT PRIMARY KEY, v INT);
         INSERT INTO t VALUES (1, 1), (2, NULL);",
    )
    .await
    .unwrap();
    // v = NULL is unknown: neither row matches it or its negation.
    assert!(
        rows(&mut txn, "SELECT k FROM t WHERE v = NULL")
            .await
            .is_empty()
    );
    assert!(
        rows(&mut txn, "SELECT k FROM t WHERE NOT (v = NULL)")
            .await
            .is_empty()
    );
    assert_eq!(
        rows(&mut txn, "SELECT k FROM t WHERE v IS NULL").await,
        vec![vec![i(2)]]
    );
    assert_eq!(
        rows(
            &mut txn,
            "SELECT k FROM t WHERE v = 1 OR v IS NULL ORDER BY k"
        )
        .await,
        vec![vec![i(1)], vec![i(2)]]
    );
    assert_eq!(
        rows(
            &mut txn,
            "SELECT NULL AND false, NULL OR true, NULL AND true"
        )
        .await,
        vec![vec![Value::Bool(false), Value::Bool(true), Value::Null]]
    );
    assert_eq!(
        rows(&mut txn, "SELECT count(v), count(*) FROM t").await,
        vec![vec![i(1), i(2)]]
    );
}

#[tokio::test]
async fn update_and_delete() {
    let mut txn = accounts().await;
    let r = run(
        &mut txn,
        "UPDATE accounts SET balance = balance + 5 WHERE balance < 25",
    )
    .await
    .unwrap();
    assert_eq!(r.tag, "UPDATE 3");
    assert_eq!(
        rows(&mut txn, "SELECT sum(balance) FROM accounts").await,
        vec![vec![i(75)]]
    );
    // Changing the primary key moves the row.
    run(&mut txn, "UPDATE accounts SET id = 10 WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(
        rows(&mut txn, "SELECT id FROM accounts ORDER BY id DESC LIMIT 1").await,
        vec![vec![i(10)]]
    );
    assert!(
        rows(&mut txn, "SELECT * FROM accounts WHERE id = 1")
            .await
            .is_empty()
    );
    let r = run(
        &mut txn,
        "DELETE FROM accounts WHERE owner = 'bob' OR id = 4",
    )
    .await
    .unwrap();
    assert_eq!(r.rows_affected, 2);
    assert_eq!(
        rows(&mut txn, "SELECT count(*) FROM accounts").await,
        vec![vec![i(2)]]
    );
}

#[tokio::test]
async fn tables_without_a_primary_key_get_hidden_row_ids() {
    let mut txn = MemTxn::default();
    run(
        &mut txn,
        "CREATE TABLE log (msg TEXT); INSERT INTO log VALUES ('a'), ('a'), ('b')",
    )
    .await
    .unwrap();
    assert_eq!(
        rows(&mut txn, "SELECT count(*) FROM log WHERE msg = 'a'").await,
        vec![vec![i(2)]]
    );
}

async fn code(txn: &mut MemTxn, sql: &str) -> &'static str {
    match run(txn, sql).await {
        Ok(r) => panic!("{sql}: expected an error, got {r:?}"),
        Err(SqlError { code, .. }) => code,
    }
}

#[tokio::test]
async fn bad_input_gets_sqlstates_and_changes_nothing() {
    let mut txn = accounts().await;
    let before = txn.0.clone();
    for (sql, want) in [
        ("SELEC 1", "42601"),
        ("SELECT * FROM nope", "42P01"),
        ("SELECT nope FROM accounts", "42703"),
        ("CREATE TABLE accounts (x INT)", "42P07"),
        ("CREATE TABLE d (a INT, a INT)", "42701"),
        ("INSERT INTO accounts VALUES (1, 'again', 1)", "23505"),
        ("INSERT INTO accounts VALUES (9, NULL, 1)", "23502"),
        ("INSERT INTO accounts VALUES ('x', 'y', 1)", "22P02"),
        ("INSERT INTO accounts VALUES (true, 'y', 1)", "42804"),
        ("SELECT 1 / 0", "22012"),
        ("SELECT 9223372036854775807 + 1", "22003"),
        (
            "SELECT * FROM accounts a JOIN accounts b ON a.id = b.id",
            "0A000",
        ),
        ("SELECT owner, count(*) FROM accounts", "42803"),
        ("SELECT 1 LIMIT -1", "22023"),
        ("SELECT 'a' + 1", "42883"),
    ] {
        assert_eq!(code(&mut txn, sql).await, want, "{sql}");
    }
    assert_eq!(txn.0, before, "a failed statement changed data");
    // Still usable.
    assert_eq!(
        rows(&mut txn, "SELECT count(*) FROM accounts").await,
        vec![vec![i(4)]]
    );
}

#[tokio::test]
async fn show_tables_and_columns() {
    let mut txn = accounts().await;
    run(&mut txn, "CREATE TABLE b (x TEXT)").await.unwrap();
    assert_eq!(
        rows(&mut txn, "SHOW TABLES").await,
        vec![vec![t("accounts")], vec![t("b")]]
    );
    let cols = rows(&mut txn, "SHOW COLUMNS FROM accounts").await;
    assert_eq!(cols.len(), 3);
    assert_eq!(
        cols[0],
        vec![
            t("id"),
            t("INT"),
            Value::Bool(false),
            t(""),
            Value::Bool(true)
        ]
    );
    assert_eq!(cols[2][3], t("0"));
    assert_eq!(code(&mut txn, "SHOW COLUMNS FROM nope").await, "42P01");
}

#[tokio::test]
async fn on_conflict_do_nothing_and_drop_table() {
    let mut txn = accounts().await;
    let r = run(
        &mut txn,
        "INSERT INTO accounts VALUES (1, 'dup', 0), (7, 'gina', 70) ON CONFLICT DO NOTHING",
    )
    .await
    .unwrap();
    assert_eq!(r.tag, "INSERT 0 1");
    run(&mut txn, "DROP TABLE accounts").await.unwrap();
    assert_eq!(code(&mut txn, "SELECT * FROM accounts").await, "42P01");
    assert!(
        txn.0.keys().all(|k| k.first() != Some(&0x03)),
        "rows left behind"
    );
    run(&mut txn, "DROP TABLE IF EXISTS accounts")
        .await
        .unwrap();
}

#[test]
fn arbitrary_input_never_panics() {
    // A small deterministic fuzz of the parse → execute path.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let pieces = [
        "SELECT", "*", "FROM", "t", "WHERE", "(", ")", "1", "'x'", "NULL", "+", "/", "0", ",",
        "INSERT", "INTO", "VALUES", "CREATE", "TABLE", "INT", "PRIMARY", "KEY", "ORDER", "BY",
        "LIMIT", "-", "=", "AND", "count(*)", "\u{0}", "\"", ";", "k", "v", "DROP", "UPDATE",
        "SET", "DELETE",
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut txn = MemTxn::default();
    rt.block_on(run(&mut txn, "CREATE TABLE t (k INT PRIMARY KEY, v TEXT)"))
        .unwrap();
    for _ in 0..3000 {
        let mut sql = String::new();
        for _ in 0..(seed % 12) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            sql.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            sql.push(' ');
        }
        let _ = rt.block_on(run(&mut txn, &sql));
    }
}
