//! The executor over an in-memory key-value map (the same contract the
//! server's transactions give it).

use std::collections::BTreeMap;

mod enums;
mod fuzz;
mod layering;
mod limits;
mod locking;

use crate::{BoxFuture, KvTxn, Pairs, QueryResult, Result, SqlError, Value, execute, parse};

/// The rows, the keys read for update, and how many pairs the range reads
/// gave.
#[derive(Default)]
struct MemTxn(BTreeMap<Vec<u8>, Vec<u8>>, Vec<Vec<u8>>, usize);

impl KvTxn for MemTxn {
    fn get_for_update<'a>(&'a mut self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        self.1.push(key.to_vec());
        self.get(key)
    }

    fn get<'a>(&'a mut self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        Box::pin(async move { Ok(self.0.get(key).cloned()) })
    }

    fn scan<'a>(&'a mut self, start: &'a [u8], end: &'a [u8]) -> BoxFuture<'a, Result<Pairs>> {
        Box::pin(async move {
            let pairs: Pairs = self
                .0
                .range(start.to_vec()..end.to_vec())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            self.2 += pairs.len();
            Ok(pairs)
        })
    }

    fn scan_prefix<'a>(
        &'a mut self,
        start: &'a [u8],
        end: &'a [u8],
        limit: usize,
        for_update: bool,
        reverse: bool,
    ) -> BoxFuture<'a, Result<(Pairs, Option<Vec<u8>>)>> {
        Box::pin(async move {
            let range = self.0.range(start.to_vec()..end.to_vec());
            let range: Box<dyn Iterator<Item = _>> = if reverse {
                Box::new(range.rev())
            } else {
                Box::new(range)
            };
            let mut pairs: Pairs = range
                .take(limit + 1)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let resume = (pairs.len() > limit)
                .then(|| spanlite_storage::keycode::resume_after(&pairs[limit - 1].0, reverse));
            pairs.truncate(limit);
            self.2 += pairs.len();
            if for_update {
                self.1.extend(pairs.iter().map(|(k, _)| k.clone()));
            }
            Ok((pairs, resume))
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
    run_with(txn, sql, &[]).await
}

async fn run_with(txn: &mut MemTxn, sql: &str, params: &[Value]) -> Result<QueryResult> {
    let mut last = QueryResult::default();
    for stmt in parse(sql)? {
        last = execute(txn, &stmt, params).await?;
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
            "SELECT * FROM accounts a JOIN nope b ON a.id = b.id",
            "42P01",
        ),
        ("SELECT owner, count(*) FROM accounts", "42803"),
        ("SELECT id FROM accounts GROUP BY owner", "42803"),
        ("SELECT * FROM accounts WHERE count(*) > 1", "42803"),
        ("SELECT id FROM accounts a, accounts b", "42702"),
        ("SELECT c.id FROM accounts a", "42P01"),
        ("SELECT (SELECT id FROM accounts)", "21000"),
        ("SELECT 1 LIMIT -1", "2201W"),
        ("SELECT 'a' + 1", "42883"),
        ("SELECT nosuchfunction(1)", "42883"),
        ("SELECT $1", "42P02"),
        ("SELECT 1 UNION SELECT 1, 2", "42601"),
        ("SELECT 1 ORDER BY 2", "42P10"),
        (
            "CREATE TABLE two (a INT PRIMARY KEY, b INT PRIMARY KEY)",
            "42P16",
        ),
        ("CREATE INDEX ON accounts (nope)", "42703"),
        ("UPDATE accounts SET id = 2 WHERE id = 1", "23505"),
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
            Value::Bool(true),
            t("")
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

fn n() -> Value {
    Value::Null
}

/// Two tables for joins: accounts and transfers between them.
async fn bank() -> MemTxn {
    let mut txn = accounts().await;
    run(
        &mut txn,
        "CREATE TABLE transfers (id INT PRIMARY KEY, src INT, dst INT, amount INT);
         INSERT INTO transfers VALUES (1, 1, 2, 5), (2, 1, 3, 7), (3, 2, 3, 1), (4, 3, NULL, 2);",
    )
    .await
    .unwrap();
    txn
}

#[tokio::test]
async fn inner_left_and_comma_joins() {
    let mut txn = bank().await;
    assert_eq!(
        rows(
            &mut txn,
            "SELECT t.id, a.owner, b.owner FROM transfers t JOIN accounts a ON t.src = a.id \
             JOIN accounts b ON b.id = t.dst ORDER BY t.id"
        )
        .await,
        vec![
            vec![i(1), t("alice"), t("bob")],
            vec![i(2), t("alice"), t("carol")],
            vec![i(3), t("bob"), t("carol")],
        ]
    );
    // LEFT JOIN keeps unmatched rows with NULLs; an ON condition on the
    // right table filters before matching.
    assert_eq!(
        rows(
            &mut txn,
            "SELECT a.id, t.id FROM accounts a LEFT JOIN transfers t ON t.src = a.id AND t.amount > 4 \
             ORDER BY a.id, t.id"
        )
        .await,
        vec![
            vec![i(1), i(1)],
            vec![i(1), i(2)],
            vec![i(2), n()],
            vec![i(3), n()],
            vec![i(4), n()],
        ]
    );
    // WHERE after a LEFT JOIN sees the NULLs.
    assert_eq!(
        rows(
            &mut txn,
            "SELECT a.owner FROM accounts a LEFT JOIN transfers t ON t.dst = a.id WHERE t.id IS NULL"
        )
        .await,
        vec![vec![t("alice")], vec![t("dave")]]
    );
    // Comma join with the equality in WHERE (a hash join), any FROM order.
    let q1 = "SELECT a.owner, t.amount FROM accounts a, transfers t WHERE a.id = t.dst ORDER BY 2";
    let q2 = "SELECT a.owner, t.amount FROM transfers t, accounts a WHERE t.dst = a.id ORDER BY 2";
    let want = vec![
        vec![t("carol"), i(1)],
        vec![t("bob"), i(5)],
        vec![t("carol"), i(7)],
    ];
    assert_eq!(rows(&mut txn, q1).await, want);
    assert_eq!(rows(&mut txn, q2).await, want);
    let plan = rows(&mut txn, &format!("EXPLAIN {q1}")).await;
    assert!(
        plan.iter().any(|r| r[0].to_string().contains("Hash join")),
        "{plan:?}"
    );
    // CROSS JOIN.
    assert_eq!(
        rows(
            &mut txn,
            "SELECT count(*) FROM accounts CROSS JOIN transfers"
        )
        .await,
        vec![vec![i(16)]]
    );
    // Three tables where the first two share nothing: the planner joins
    // through the third.
    assert_eq!(
        rows(
            &mut txn,
            "SELECT a.owner, b.owner FROM accounts a, accounts b, transfers t \
             WHERE a.id = t.src AND b.id = t.dst AND t.amount = 7"
        )
        .await,
        vec![vec![t("alice"), t("carol")]]
    );
    assert_eq!(
        rows(
            &mut txn,
            "SELECT x.n FROM (SELECT owner AS n, balance FROM accounts) AS x WHERE x.balance > 15 ORDER BY 1"
        )
        .await,
        vec![vec![t("bob")], vec![t("carol")]]
    );
}

#[tokio::test]
async fn group_by_having_and_aggregates() {
    let mut txn = bank().await;
    assert_eq!(
        rows(
            &mut txn,
            "SELECT src, count(*), sum(amount), max(dst) FROM transfers GROUP BY src ORDER BY src"
        )
        .await,
        vec![
            vec![i(1), i(2), i(12), i(3)],
            vec![i(2), i(1), i(1), i(3)],
            vec![i(3), i(1), i(2), n()],
        ]
    );
    assert_eq!(
        rows(
            &mut txn,
            "SELECT src FROM transfers GROUP BY src HAVING sum(amount) > 1 ORDER BY count(*) DESC, src"
        )
        .await,
        vec![vec![i(1)], vec![i(3)]]
    );
    assert_eq!(
        rows(
            &mut txn,
            "SELECT a.owner, count(t.id) FROM accounts a LEFT JOIN transfers t ON t.src = a.id \
             GROUP BY a.owner ORDER BY 2 DESC, 1"
        )
        .await,
        vec![
            vec![t("alice"), i(2)],
            vec![t("bob"), i(1)],
            vec![t("carol"), i(1)],
            vec![t("dave"), i(0)],
        ]
    );
    // GROUP BY an expression and by position; count(DISTINCT).
    assert_eq!(
        rows(
            &mut txn,
            "SELECT amount % 2 AS odd, count(DISTINCT src) FROM transfers GROUP BY 1 ORDER BY odd"
        )
        .await,
        vec![vec![i(0), i(1)], vec![i(1), i(2)]]
    );
    // Aggregates over nothing.
    assert_eq!(
        rows(
            &mut txn,
            "SELECT count(*), sum(amount), avg(amount) FROM transfers WHERE id > 100"
        )
        .await,
        vec![vec![i(0), n(), n()]]
    );
    assert!(
        rows(
            &mut txn,
            "SELECT src, count(*) FROM transfers WHERE id > 100 GROUP BY src"
        )
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn subqueries_in_where_and_select() {
    let mut txn = bank().await;
    // IN / NOT IN (with a NULL in the list: NOT IN is never true).
    assert_eq!(
        rows(
            &mut txn,
            "SELECT id FROM accounts WHERE id IN (SELECT src FROM transfers) ORDER BY id"
        )
        .await,
        vec![vec![i(1)], vec![i(2)], vec![i(3)]]
    );
    assert!(
        rows(
            &mut txn,
            "SELECT id FROM accounts WHERE id NOT IN (SELECT dst FROM transfers)"
        )
        .await
        .is_empty()
    );
    assert_eq!(
        rows(
            &mut txn,
            "SELECT id FROM accounts WHERE id NOT IN (SELECT dst FROM transfers WHERE dst IS NOT NULL) ORDER BY id"
        )
        .await,
        vec![vec![i(1)], vec![i(4)]]
    );
    // Correlated EXISTS and scalar subqueries.
    assert_eq!(
        rows(
            &mut txn,
            "SELECT owner FROM accounts a WHERE NOT EXISTS (SELECT 1 FROM transfers t WHERE t.src = a.id)"
        )
        .await,
        vec![vec![t("dave")]]
    );
    assert_eq!(
        rows(
            &mut txn,
            "SELECT owner, (SELECT count(*) FROM transfers WHERE src = accounts.id) FROM accounts ORDER BY id"
        )
        .await,
        vec![
            vec![t("alice"), i(2)],
            vec![t("bob"), i(1)],
            vec![t("carol"), i(1)],
            vec![t("dave"), i(0)],
        ]
    );
    assert_eq!(
        rows(
            &mut txn,
            "SELECT owner FROM accounts WHERE balance = (SELECT max(balance) FROM accounts)"
        )
        .await,
        vec![vec![t("carol")]]
    );
    // A subquery in UPDATE and DELETE.
    run(
        &mut txn,
        "UPDATE accounts SET balance = (SELECT sum(amount) FROM transfers WHERE dst = accounts.id) \
         WHERE id IN (SELECT dst FROM transfers)",
    )
    .await
    .unwrap();
    assert_eq!(
        rows(&mut txn, "SELECT balance FROM accounts ORDER BY id").await,
        vec![vec![i(10)], vec![i(5)], vec![i(8)], vec![i(0)]]
    );
    run(
        &mut txn,
        "DELETE FROM accounts WHERE id NOT IN (SELECT src FROM transfers)",
    )
    .await
    .unwrap();
    assert_eq!(
        rows(&mut txn, "SELECT count(*) FROM accounts").await,
        vec![vec![i(3)]]
    );
}

#[tokio::test]
async fn set_operations_values_case_like_and_functions() {
    let mut txn = bank().await;
    assert_eq!(
        rows(
            &mut txn,
            "SELECT src FROM transfers UNION SELECT dst FROM transfers ORDER BY 1"
        )
        .await,
        vec![vec![i(1)], vec![i(2)], vec![i(3)], vec![n()]]
    );
    assert_eq!(
        rows(
            &mut txn,
            "SELECT src FROM transfers INTERSECT SELECT dst FROM transfers ORDER BY 1"
        )
        .await,
        vec![vec![i(2)], vec![i(3)]]
    );
    assert_eq!(
        rows(
            &mut txn,
            "SELECT id FROM accounts EXCEPT SELECT src FROM transfers"
        )
        .await,
        vec![vec![i(4)]]
    );
    assert_eq!(
        rows(&mut txn, "SELECT 1 UNION ALL SELECT 1").await,
        vec![vec![i(1)], vec![i(1)]]
    );
    assert_eq!(
        rows(&mut txn, "VALUES (2, 'b'), (1, 'a') ORDER BY 1").await,
        vec![vec![i(1), t("a")], vec![i(2), t("b")]]
    );
    assert_eq!(
        rows(
            &mut txn,
            "SELECT owner, CASE WHEN balance >= 20 THEN 'rich' WHEN balance > 0 THEN 'ok' ELSE 'broke' END \
             FROM accounts WHERE owner LIKE '%a%' ORDER BY id"
        )
        .await,
        vec![
            vec![t("alice"), t("ok")],
            vec![t("carol"), t("rich")],
            vec![t("dave"), t("broke")],
        ]
    );
    assert_eq!(
        rows(
            &mut txn,
            "SELECT upper(owner), length(owner), substr(owner, 2, 3), coalesce(NULL, 'x'), \
             nullif(1, 1), abs(-3), CASE 2 WHEN 1 THEN 'one' WHEN 2 THEN 'two' END, 7 / 2, 7.0 / 2, \
             'a' || 'b', 5 BETWEEN 1 AND 10, NULL IS DISTINCT FROM 1, round(2.5), trim('  x  ') \
             FROM accounts WHERE id = 1"
        )
        .await,
        vec![vec![
            t("ALICE"),
            i(5),
            t("lic"),
            t("x"),
            n(),
            i(3),
            t("two"),
            i(3),
            // Decimal literals are numerics, as in PostgreSQL.
            Value::Numeric(crate::numeric::Numeric::parse("3.5").unwrap()),
            t("ab"),
            Value::Bool(true),
            Value::Bool(true),
            Value::Numeric(crate::numeric::Numeric::parse("3").unwrap()),
            t("x"),
        ]]
    );
    // Three-valued logic.
    assert_eq!(
        rows(
            &mut txn,
            "SELECT NULL AND false, NULL OR true, NOT (NULL = 1) IS NULL, 1 IN (2, NULL)"
        )
        .await,
        // NOT binds looser than IS: NOT ((NULL = 1) IS NULL).
        vec![vec![
            Value::Bool(false),
            Value::Bool(true),
            Value::Bool(false),
            n()
        ]]
    );
}

#[tokio::test]
async fn secondary_indexes_are_used_and_maintained() {
    let mut txn = bank().await;
    run(&mut txn, "CREATE INDEX by_src ON transfers (src, amount)")
        .await
        .unwrap();
    assert_eq!(
        code(&mut txn, "CREATE UNIQUE INDEX twice ON transfers (dst)").await,
        "23505"
    );
    let q = "SELECT id FROM transfers WHERE src = 1 ORDER BY id";
    assert_eq!(rows(&mut txn, q).await, vec![vec![i(1)], vec![i(2)]]);
    let plan = rows(&mut txn, &format!("EXPLAIN {q}")).await;
    assert!(
        plan.iter()
            .any(|r| r[0].to_string().contains("index by_src range")),
        "{plan:?}"
    );
    // A range on the second column after an equality on the first.
    assert_eq!(
        rows(
            &mut txn,
            "SELECT id FROM transfers WHERE src = 1 AND amount > 5"
        )
        .await,
        vec![vec![i(2)]]
    );
    // UPDATE moves entries, DELETE removes them.
    run(&mut txn, "UPDATE transfers SET src = 2 WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(
        rows(
            &mut txn,
            "SELECT id FROM transfers WHERE src = 2 ORDER BY id"
        )
        .await,
        vec![vec![i(1)], vec![i(3)]]
    );
    assert_eq!(rows(&mut txn, q).await, vec![vec![i(2)]]);
    run(&mut txn, "DELETE FROM transfers WHERE src = 2")
        .await
        .unwrap();
    assert!(
        rows(&mut txn, "SELECT id FROM transfers WHERE src = 2")
            .await
            .is_empty()
    );
    // Unique indexes and UNIQUE columns: 23505, NULLs do not collide.
    run(
        &mut txn,
        "CREATE TABLE users (id INT PRIMARY KEY, email TEXT UNIQUE, nick TEXT);
         CREATE UNIQUE INDEX users_nick ON users (nick);
         INSERT INTO users VALUES (1, 'a@x', 'a'), (2, NULL, NULL), (3, NULL, NULL);",
    )
    .await
    .unwrap();
    let before = txn.0.clone();
    assert_eq!(
        code(&mut txn, "INSERT INTO users VALUES (4, 'a@x', 'd')").await,
        "23505"
    );
    assert_eq!(
        code(&mut txn, "UPDATE users SET nick = 'a' WHERE id = 2").await,
        "23505"
    );
    assert_eq!(txn.0, before);
    run(
        &mut txn,
        "INSERT INTO users VALUES (4, 'a@x', 'd') ON CONFLICT DO NOTHING",
    )
    .await
    .unwrap();
    assert_eq!(
        rows(&mut txn, "SELECT id FROM users WHERE email = 'a@x'").await,
        vec![vec![i(1)]]
    );
    // Changing a unique value to itself is not a conflict.
    run(&mut txn, "UPDATE users SET nick = 'a' WHERE id = 1")
        .await
        .unwrap();
    // DROP INDEX removes the entries; lookups fall back to a scan.
    run(&mut txn, "DROP INDEX by_src").await.unwrap();
    let with_prefix = |txn: &MemTxn, p: &[u8]| txn.0.keys().filter(|k| k.starts_with(p)).count();
    // Index keys: 0x04, table id, index id (transfers = 2, by_src = 1).
    assert_eq!(with_prefix(&txn, &[4, 0, 0, 0, 2, 0, 0, 0, 1]), 0);
    assert_eq!(
        with_prefix(&txn, &[4, 0, 0, 0, 3]),
        6,
        "users' entries remain"
    );
    assert_eq!(
        rows(&mut txn, "SELECT id FROM transfers WHERE src = 1").await,
        vec![vec![i(2)]]
    );
    assert_eq!(code(&mut txn, "DROP INDEX by_src").await, "42704");
    run(&mut txn, "DROP INDEX IF EXISTS by_src").await.unwrap();
    // DROP TABLE removes index entries too.
    run(&mut txn, "DROP TABLE users").await.unwrap();
    assert_eq!(with_prefix(&txn, &[4, 0, 0, 0, 3]), 0);
}

#[tokio::test]
async fn composite_primary_keys_points_and_ranges() {
    let mut txn = MemTxn::default();
    run(
        &mut txn,
        "CREATE TABLE stock (shop INT, item TEXT, qty INT, PRIMARY KEY (shop, item));
         INSERT INTO stock VALUES (1, 'b', 2), (1, 'a', 1), (2, 'a', 3), (10, 'z', 4);",
    )
    .await
    .unwrap();
    assert_eq!(
        code(&mut txn, "INSERT INTO stock VALUES (1, 'a', 9)").await,
        "23505"
    );
    let point = "SELECT qty FROM stock WHERE item = 'b' AND shop = 1";
    assert_eq!(rows(&mut txn, point).await, vec![vec![i(2)]]);
    let plan = rows(&mut txn, &format!("EXPLAIN {point}")).await;
    assert!(
        plan[1][0].to_string().contains("primary key lookup"),
        "{plan:?}"
    );
    let prefix = "SELECT item FROM stock WHERE shop = 1";
    assert_eq!(
        rows(&mut txn, prefix).await,
        vec![vec![t("a")], vec![t("b")]]
    );
    let plan = rows(&mut txn, &format!("EXPLAIN {prefix}")).await;
    assert!(
        plan[1][0].to_string().contains("primary key range"),
        "{plan:?}"
    );
    assert_eq!(
        rows(
            &mut txn,
            "SELECT shop FROM stock WHERE shop > 1 AND shop <= 10"
        )
        .await,
        vec![vec![i(2)], vec![i(10)]]
    );
    assert_eq!(
        rows(
            &mut txn,
            "SELECT shop, item FROM stock WHERE shop IN (2, 10) AND item = 'a'"
        )
        .await,
        vec![vec![i(2), t("a")]]
    );
    // A constant of another type falls back to a scan and compares.
    assert_eq!(
        rows(&mut txn, "SELECT count(*) FROM stock WHERE shop = 1.5").await,
        vec![vec![i(0)]]
    );
}

#[tokio::test]
async fn parameters_insert_select_and_for_update() {
    let mut txn = accounts().await;
    let r = run_with(
        &mut txn,
        "SELECT owner FROM accounts WHERE id = $1 OR owner = $2 ORDER BY id",
        &[i(2), t("dave")],
    )
    .await
    .unwrap();
    assert_eq!(r.rows, vec![vec![t("bob")], vec![t("dave")]]);
    run_with(
        &mut txn,
        "INSERT INTO accounts VALUES ($1, $2, $3)",
        &[i(5), t("erin"), i(50)],
    )
    .await
    .unwrap();
    run(
        &mut txn,
        "CREATE TABLE rich (id INT PRIMARY KEY, owner TEXT);
         INSERT INTO rich SELECT id, owner FROM accounts WHERE balance >= 30",
    )
    .await
    .unwrap();
    assert_eq!(
        rows(&mut txn, "SELECT owner FROM rich").await,
        vec![vec![t("carol")], vec![t("erin")]]
    );
    // FOR UPDATE locks the rows it returns (and only reads others).
    txn.1.clear();
    rows(&mut txn, "SELECT * FROM accounts WHERE id = 1 FOR UPDATE").await;
    assert_eq!(txn.1.len(), 1);
    txn.1.clear();
    rows(&mut txn, "SELECT * FROM accounts WHERE id = 1").await;
    assert!(txn.1.is_empty());
    // UPDATE and DELETE lock what they read.
    run(
        &mut txn,
        "UPDATE accounts SET balance = balance + 1 WHERE id IN (1, 2)",
    )
    .await
    .unwrap();
    assert_eq!(txn.1.len(), 2);
}

#[tokio::test]
async fn parameter_types_come_from_their_uses() {
    use crate::{DataType, param_types};
    let mut txn = bank().await;
    for (sql, n, want) in [
        (
            "SELECT owner FROM accounts WHERE id = $1 AND $2 < balance",
            2,
            vec![Some(DataType::Int), Some(DataType::Int)],
        ),
        (
            "SELECT 1 FROM accounts WHERE owner IN ($1, $2)",
            2,
            vec![Some(DataType::Text), Some(DataType::Text)],
        ),
        (
            "INSERT INTO accounts (owner, id) VALUES ($1, $2)",
            2,
            vec![Some(DataType::Text), Some(DataType::Int)],
        ),
        (
            "UPDATE accounts SET owner = $1 WHERE id = $2",
            2,
            vec![Some(DataType::Text), Some(DataType::Int)],
        ),
        ("SELECT $1", 1, vec![None]),
    ] {
        let stmt = parse(sql).unwrap().remove(0);
        assert_eq!(
            param_types(&mut txn, &stmt, n).await.unwrap(),
            want,
            "{sql}"
        );
    }
}

/// A kept plan runs again with other parameter values (point lookups,
/// ranges, LIMIT, a subquery), and is bound again when a parameter's type
/// or a table's definition changes; every run gives what an unkept plan
/// gives.
#[tokio::test]
async fn a_kept_plan_runs_again_with_other_values_and_rebinds_on_change() {
    let mut txn = accounts().await;
    let queries = [
        "SELECT id, balance FROM accounts WHERE id = $1",
        "SELECT id FROM accounts WHERE id >= $1 ORDER BY id LIMIT $2",
        "SELECT $1, (SELECT count(*) FROM accounts WHERE balance > $2)",
        "SELECT -$1, id FROM accounts WHERE id IN ($1, $2) ORDER BY id",
    ];
    let param_sets = [
        vec![i(1), i(2)],
        vec![i(2), i(1)],
        vec![i(3), i(100)],
        vec![t("x"), i(0)],
    ];
    for sql in queries {
        let stmt = parse(sql).unwrap().remove(0);
        let plans = crate::PlanCache::default();
        for params in &param_sets {
            let kept = crate::execute_cached(&mut txn, &stmt, params, &plans).await;
            let fresh = execute(&mut txn, &stmt, params).await;
            assert_eq!(kept, fresh, "{sql} with {params:?}");
            assert!(plans.is_filled() || fresh.is_err(), "{sql}: no plan kept");
        }
    }
    // The table's definition changes under a kept plan: bound again.
    let stmt = parse("SELECT * FROM accounts WHERE id = $1")
        .unwrap()
        .remove(0);
    let plans = crate::PlanCache::default();
    let before = crate::execute_cached(&mut txn, &stmt, &[i(1)], &plans)
        .await
        .unwrap();
    assert_eq!(before.columns.len(), 3);
    run(&mut txn, "DROP TABLE accounts").await.unwrap();
    run(
        &mut txn,
        "CREATE TABLE accounts (id INT PRIMARY KEY, note TEXT)",
    )
    .await
    .unwrap();
    run(&mut txn, "INSERT INTO accounts VALUES (1, 'n')")
        .await
        .unwrap();
    let after = crate::execute_cached(&mut txn, &stmt, &[i(1)], &plans)
        .await
        .unwrap();
    assert_eq!(after.rows, vec![vec![i(1), t("n")]]);
}

/// INSERT, UPDATE and DELETE keep their plans too: the same runs with a
/// kept plan and bound afresh give the same answers and leave the same rows.
#[tokio::test]
async fn kept_insert_update_and_delete_plans_do_what_fresh_ones_do() {
    let mut kept_txn = accounts().await;
    let mut fresh_txn = accounts().await;
    let runs: [(&str, Vec<Value>); 10] = [
        (
            "INSERT INTO accounts VALUES ($1, $2, $3)",
            vec![i(10), t("x"), i(1)],
        ),
        (
            "INSERT INTO accounts VALUES ($1, $2, $3)",
            vec![i(11), t("y"), i(2)],
        ),
        (
            "INSERT INTO accounts VALUES ($1, $2, $3)",
            vec![i(11), t("dup"), i(2)],
        ),
        (
            "INSERT INTO accounts (id, owner) VALUES ($1, $2)",
            vec![i(12), t("z")],
        ),
        (
            "UPDATE accounts SET balance = balance + $1 WHERE id = $2",
            vec![i(5), i(1)],
        ),
        (
            "UPDATE accounts SET balance = balance + $1 WHERE id = $2",
            vec![i(-3), i(2)],
        ),
        (
            "UPDATE accounts SET owner = $1 WHERE balance > $2",
            vec![t("rich"), i(15)],
        ),
        (
            "UPDATE accounts SET owner = $1 WHERE balance > $2",
            vec![i(7), i(0)],
        ),
        ("DELETE FROM accounts WHERE id = $1", vec![i(4)]),
        ("DELETE FROM accounts WHERE id = $1", vec![i(9)]),
    ];
    let mut plans: std::collections::HashMap<&str, crate::PlanCache> = Default::default();
    for (sql, params) in &runs {
        let stmt = parse(sql).unwrap().remove(0);
        let cache = plans.entry(sql).or_default();
        let kept = crate::execute_cached(&mut kept_txn, &stmt, params, cache).await;
        let fresh = execute(&mut fresh_txn, &stmt, params).await;
        assert_eq!(kept, fresh, "{sql} with {params:?}");
        assert!(cache.is_filled(), "{sql}: no plan kept");
    }
    let all = "SELECT * FROM accounts ORDER BY id";
    assert_eq!(
        rows(&mut kept_txn, all).await,
        rows(&mut fresh_txn, all).await
    );
}
