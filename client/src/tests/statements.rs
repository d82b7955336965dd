//! Statements outside transactions: typed rows, parameters on the wire,
//! errors, and the one-statement rule.

use super::connect;
use super::fake_node::{FakeNode, Reply};
use crate::{Error, SqlType, Timestamp, Value};

#[tokio::test]
async fn rows_read_typed_by_position_or_name_and_bad_reads_say_why() {
    let node = FakeNode::scripted(|sql| {
        sql.starts_with("SELECT").then(|| {
            Reply::Rows(
                vec![
                    ("id", SqlType::Int),
                    ("name", SqlType::Text),
                    ("score", SqlType::Float),
                    ("ok", SqlType::Bool),
                    ("data", SqlType::Bytes),
                    ("at", SqlType::Timestamp),
                    ("note", SqlType::Text),
                ],
                vec![
                    vec![
                        Value::Int(1),
                        "ada".into(),
                        Value::Float(2.5),
                        true.into(),
                        vec![0xde, 0xad].into(),
                        Timestamp::from_nanos(42).into(),
                        Value::Null,
                    ],
                    vec![
                        Value::Int(2),
                        "bob".into(),
                        Value::Float(-1.0),
                        false.into(),
                        Vec::<u8>::new().into(),
                        Timestamp::from_nanos(43).into(),
                        "hi".into(),
                    ],
                ],
            )
        })
    })
    .await;
    let client = connect(&[&node]).await;

    let result = client.query("SELECT * FROM t", &[]).await.unwrap();

    assert_eq!(result.tag, "SELECT 2");
    assert_eq!(result.rows_affected, 2);
    assert_eq!(result.columns[5].name(), "at");
    assert_eq!(result.columns[5].sql_type(), SqlType::Timestamp);
    let first = &result.rows[0];
    assert_eq!(first.get::<i64>(0).unwrap(), 1);
    assert_eq!(first.get::<String>("name").unwrap(), "ada");
    assert_eq!(first.get::<f64>("score").unwrap(), 2.5);
    assert!(first.get::<bool>("ok").unwrap());
    assert_eq!(first.get::<Vec<u8>>("data").unwrap(), [0xde, 0xad]);
    assert_eq!(
        first.get::<Timestamp>("at").unwrap(),
        Timestamp::from_nanos(42)
    );
    assert_eq!(first.get::<Option<String>>("note").unwrap(), None);
    assert_eq!(first.get::<Value>("note").unwrap(), Value::Null);
    assert_eq!(
        result.rows[1]
            .get::<Option<String>>("note")
            .unwrap()
            .as_deref(),
        Some("hi")
    );

    let wrong_type = first.get::<i64>("name").unwrap_err();
    assert_eq!(
        wrong_type.to_string(),
        "column name: cannot read TEXT as INT"
    );
    let null = first.get::<String>("note").unwrap_err();
    assert!(matches!(null, Error::UnexpectedNull { .. }), "{null:?}");
    let missing = first.get::<i64>("nope").unwrap_err();
    assert!(matches!(missing, Error::Column { .. }), "{missing:?}");
    let out_of_range = first.get::<i64>(7).unwrap_err();
    assert!(
        matches!(out_of_range, Error::Column { .. }),
        "{out_of_range:?}"
    );
}

#[tokio::test]
async fn parameters_reach_the_node_as_typed_values_in_order() {
    let node = FakeNode::start().await;
    let client = connect(&[&node]).await;

    let params = [
        Value::from(7i64),
        "x".into(),
        1.5.into(),
        false.into(),
        vec![1u8, 2].into(),
        Timestamp::from_nanos(1_000).into(),
        None::<i64>.into(),
        Some(3i32).into(),
    ];
    let n = client
        .execute(
            "INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &params,
        )
        .await
        .unwrap();

    assert_eq!(n, 1);
    let received = node.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].sql,
        "INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    );
    assert_eq!(
        received[0].params,
        [
            Value::Int(7),
            Value::Text("x".into()),
            Value::Float(1.5),
            Value::Bool(false),
            Value::Bytes(vec![1, 2]),
            Value::Timestamp(Timestamp::from_nanos(1_000)),
            Value::Null,
            Value::Int(3),
        ]
    );
}

#[tokio::test]
async fn sql_errors_carry_their_sqlstate_and_leave_the_session_usable() {
    let node = FakeNode::scripted(|sql| {
        sql.contains("dup").then_some(Reply::Fail {
            sqlstate: "23505",
            retryable: false,
        })
    })
    .await;
    let client = connect(&[&node]).await;

    let e = client
        .execute("INSERT INTO dup VALUES (1)", &[])
        .await
        .unwrap_err();
    client
        .execute("INSERT INTO t VALUES (1)", &[])
        .await
        .unwrap();

    assert_eq!(e.sqlstate(), Some("23505"));
    assert!(!e.is_retryable());
    assert_eq!(e.to_string(), "scripted failure 23505 (SQLSTATE 23505)");
    // Both ran on the one session opened by connect.
    let sessions: Vec<usize> = node.received().iter().map(|r| r.session).collect();
    assert_eq!(sessions, [1, 1]);
}

#[tokio::test]
async fn several_statements_none_or_transaction_control_are_refused_unsent() {
    let node = FakeNode::start().await;
    let client = connect(&[&node]).await;

    for sql in [
        "INSERT INTO t VALUES (1); COMMIT",
        "",
        "  -- nothing",
        "BEGIN",
        "commit",
    ] {
        let e = client.execute(sql, &[]).await.unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{sql:?}: {e:?}");
    }
    assert_eq!(node.sql(), Vec::<String>::new());
}

#[tokio::test]
async fn concurrent_callers_each_get_a_session_and_sessions_are_reused() {
    let node = FakeNode::start().await;
    let client = connect(&[&node]).await;

    // Two statements in flight at once need two sessions …
    let (a, b) = tokio::join!(
        client.execute("INSERT INTO t VALUES (1)", &[]),
        client.execute("INSERT INTO t VALUES (2)", &[]),
    );
    a.unwrap();
    b.unwrap();
    // … and both go back to the pool for later calls.
    assert_eq!(client.pool().idle_count(), 2);
    client
        .execute("INSERT INTO t VALUES (3)", &[])
        .await
        .unwrap();

    let mut sessions: Vec<usize> = node.received().iter().map(|r| r.session).collect();
    sessions.sort_unstable();
    sessions.dedup();
    assert_eq!(sessions, [1, 2]);
}

#[tokio::test]
async fn a_prepared_statement_is_prepared_once_per_session_then_run_by_id() {
    let node = FakeNode::start().await;
    let client = connect(&[&node]).await;
    let stmt = client.prepare("UPDATE t SET v = $1 WHERE k = $2").unwrap();
    for k in 0..3i64 {
        let n = client
            .execute_prepared(&stmt, &[k.into(), (k * 10).into()])
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
    // One session (reused): prepared once, then three runs by id, each with
    // its parameters.
    let sql: Vec<String> = node.received().into_iter().map(|r| r.sql).collect();
    assert_eq!(
        sql,
        vec![
            "PREPARE UPDATE t SET v = $1 WHERE k = $2",
            "EXECUTE UPDATE t SET v = $1 WHERE k = $2",
            "EXECUTE UPDATE t SET v = $1 WHERE k = $2",
            "EXECUTE UPDATE t SET v = $1 WHERE k = $2",
        ]
    );
    assert_eq!(
        node.received()[3].params,
        vec![Value::Int(2), Value::Int(20)]
    );
    // Inside a transaction, on the same session: no second PREPARE.
    let mut tx = client.begin().await.unwrap();
    tx.execute_prepared(&stmt, &[1i64.into(), 2i64.into()])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let prepares = node
        .received()
        .iter()
        .filter(|r| r.sql.starts_with("PREPARE"))
        .count();
    assert_eq!(prepares, 1);
    assert!(matches!(client.prepare("BEGIN"), Err(Error::Usage(_))));
}
