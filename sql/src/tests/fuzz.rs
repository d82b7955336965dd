//! Fuzzing the parse → bind → plan → execute path: no input may panic or
//! overflow the stack, and every error carries a five-character SQLSTATE.
//!
//! Three generators: arbitrary text; token soup (SQL keywords, names,
//! literals and operators in random order, which gets past the parser
//! far more often); and well-formed SELECTs over the test tables with
//! random expressions (which get past the binder and exercise evaluation:
//! overflow, division by zero, NULLs, type errors). `make fuzz-sql` runs
//! many more cases than `make test` (`PROPTEST_CASES`).

use proptest::prelude::*;

use super::{MemTxn, run};
use crate::{Result, SqlError};

/// Tables every case runs against (fresh per case).
const SCHEMA: &str = "
    CREATE TABLE t (a INT PRIMARY KEY, b TEXT, c FLOAT, d BOOL);
    CREATE TABLE u (x BIGINT, y TEXT, PRIMARY KEY (x, y));
    CREATE INDEX t_b ON t (b);
    INSERT INTO t VALUES (1, 'one', 1.5, true), (2, NULL, -2.0, false), (3, 'three', NULL, NULL);
    INSERT INTO u VALUES (1, 'a'), (2, 'b'), (9223372036854775807, 'max');
";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
}

/// Runs `sql` on a fresh database; checks the error, if any, is well-formed.
fn check(rt: &tokio::runtime::Runtime, sql: &str) -> std::result::Result<(), TestCaseError> {
    let r: Result<_> = rt.block_on(async {
        let mut txn = MemTxn::default();
        run(&mut txn, SCHEMA).await.expect("the schema");
        run(&mut txn, sql).await
    });
    if let Err(SqlError { code, message }) = &r {
        prop_assert!(
            code.len() == 5 && code.chars().all(|c| c.is_ascii_alphanumeric()),
            "bad SQLSTATE {code:?} for {sql:?}: {message}"
        );
        prop_assert!(*code != "XX000", "internal error for {sql:?}: {message}");
    }
    Ok(())
}

const TOKENS: &[&str] = &[
    "SELECT",
    "*",
    "FROM",
    "t",
    "u",
    "WHERE",
    "(",
    ")",
    ",",
    "1",
    "0",
    "-1",
    "2.5",
    "'x'",
    "''",
    "NULL",
    "TRUE",
    "=",
    "<>",
    "<",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "||",
    "AND",
    "OR",
    "NOT",
    "IS",
    "IN",
    "EXISTS",
    "BETWEEN",
    "LIKE",
    "a",
    "b",
    "c",
    "d",
    "x",
    "y",
    "t.a",
    "u.x",
    "count(*)",
    "sum(a)",
    "avg(c)",
    "min(b)",
    "GROUP BY",
    "HAVING",
    "ORDER BY",
    "DESC",
    "LIMIT",
    "OFFSET",
    "DISTINCT",
    "JOIN",
    "LEFT JOIN",
    "ON",
    "UNION",
    "EXCEPT",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "CAST",
    "AS",
    "INT",
    "TEXT",
    "INSERT INTO t VALUES",
    "UPDATE t SET b =",
    "DELETE FROM t",
    "VALUES",
    "(SELECT a FROM t)",
    "$1",
    "9223372036854775807",
    "abs(",
    "lower(",
    "coalesce(",
    "substr(",
    "EXPLAIN",
    "FOR UPDATE",
    "CREATE INDEX ON t",
    "DROP TABLE",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 1..24).prop_map(|ts| ts.join(" "))
}

fn expr(depth: u32) -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("c".to_string()),
        Just("d".to_string()),
        Just("NULL".to_string()),
        (-3i64..4).prop_map(|i| i.to_string()),
        Just("9223372036854775807".to_string()),
        Just("0.0".to_string()),
        Just("'abc'".to_string()),
        Just("(SELECT max(x) FROM u)".to_string()),
        Just("(SELECT count(*) FROM u WHERE u.x = t.a)".to_string()),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    let sub = expr(depth - 1);
    prop_oneof![
        2 => leaf,
        3 => (sub.clone(), prop::sample::select(&["+", "-", "*", "/", "%", "=", "<", "<>", "AND", "OR", "||"][..]), sub.clone())
            .prop_map(|(l, op, r)| format!("({l} {op} {r})")),
        1 => sub.clone().prop_map(|e| format!("NOT ({e})")),
        1 => sub.clone().prop_map(|e| format!("({e} IS NULL)")),
        1 => (sub.clone(), sub.clone()).prop_map(|(a, b)| format!("CASE WHEN {a} THEN {b} END")),
        1 => (sub.clone(), sub.clone()).prop_map(|(a, b)| format!("coalesce({a}, {b})")),
        1 => sub.clone().prop_map(|e| format!("abs({e})")),
        1 => sub.clone().prop_map(|e| format!("CAST({e} AS TEXT)")),
        1 => (sub.clone(), sub).prop_map(|(a, b)| format!("{a} IN ({b}, 1, NULL)")),
    ]
    .boxed()
}

fn select() -> impl Strategy<Value = String> {
    (expr(3), expr(2), prop::bool::ANY, prop::bool::ANY).prop_map(|(p, w, group, join)| {
        let from = if join {
            "t LEFT JOIN u ON u.x = t.a"
        } else {
            "t"
        };
        if group {
            format!("SELECT count(*), sum(a) FROM {from} WHERE {w} GROUP BY d HAVING count(*) > 0")
        } else {
            format!("SELECT {p} FROM {from} WHERE {w} ORDER BY 1 LIMIT 5")
        }
    })
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(sql in ".{0,200}") {
        check(&runtime(), &sql)?;
    }

    #[test]
    fn token_soup_never_panics(sql in token_soup()) {
        check(&runtime(), &sql)?;
    }

    #[test]
    fn random_selects_never_panic(sql in select()) {
        check(&runtime(), &sql)?;
    }
}

#[test]
fn very_long_and_very_deep_statements_are_refused_not_crashing() {
    let rt = runtime();
    let chain = format!("SELECT {}1", "1 + ".repeat(100_000));
    let code = rt
        .block_on(async {
            let mut txn = MemTxn::default();
            run(&mut txn, &chain).await
        })
        .unwrap_err()
        .code;
    assert_eq!(code, "54001");
    // A chain within the operator limit but deeper than the binder takes
    // (in a test thread's 2 MiB stack).
    let chain = format!("SELECT {}1", "1 + ".repeat(1_500));
    let code = rt
        .block_on(async {
            let mut txn = MemTxn::default();
            run(&mut txn, &chain).await
        })
        .unwrap_err()
        .code;
    assert_eq!(code, "54001");
    let nested = format!("SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(
        rt.block_on(async {
            let mut txn = MemTxn::default();
            run(&mut txn, &nested).await
        })
        .is_err()
    );
    // As deep as the binder takes is fine.
    let chain = format!("SELECT {}1", "1 + ".repeat(120));
    let r = rt
        .block_on(async {
            let mut txn = MemTxn::default();
            run(&mut txn, &chain).await
        })
        .unwrap();
    assert_eq!(r.rows, vec![vec![crate::Value::Int(121)]]);
    // Many negative numbers are fine: a minus after a comma is not binary.
    let values: Vec<String> = (0..3000).map(|i| format!("(-{i})")).collect();
    rt.block_on(async {
        let mut txn = MemTxn::default();
        run(
            &mut txn,
            &format!(
                "CREATE TABLE n (v INT); INSERT INTO n VALUES {}",
                values.join(", ")
            ),
        )
        .await
    })
    .unwrap();
}
