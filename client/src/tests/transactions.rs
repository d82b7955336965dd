//! Transactions: `transaction(|tx| …)` re-runs the closure after retryable
//! failures, rolls back on others, and never retries an ambiguous commit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::fake_node::{FakeNode, Reply};
use super::{connect, connect_with};
use crate::{Client, ClientOptions, Error, Result, TransactionMode, Value};

/// A script failing the first `n` statements that start with `prefix` with
/// `reply`, answering the rest by default.
fn fail_first(
    n: usize,
    prefix: &'static str,
    reply: Reply,
) -> impl Fn(&str) -> Option<Reply> + Send + Sync + 'static {
    let seen = AtomicUsize::new(0);
    move |sql| {
        (sql.starts_with(prefix) && seen.fetch_add(1, Ordering::SeqCst) < n).then(|| reply.clone())
    }
}

/// Runs `INSERT INTO t VALUES (1)` in `client.transaction`; returns the
/// outcome and how many times the closure ran.
async fn insert_in_transaction(client: &Client) -> (Result<()>, usize) {
    let mut runs = 0;
    let outcome = client
        .transaction(|tx| {
            runs += 1;
            Box::pin(async move {
                tx.execute("INSERT INTO t VALUES (1)", &[]).await?;
                Ok(())
            })
        })
        .await;
    (outcome, runs)
}

#[tokio::test]
async fn a_transaction_that_loses_a_conflict_at_commit_runs_again_and_commits() {
    let node = FakeNode::scripted(fail_first(2, "COMMIT", Reply::conflict())).await;
    let client = connect(&[&node]).await;

    let mut runs = 0;
    let value = client
        .transaction(|tx| {
            runs += 1;
            Box::pin(async move {
                tx.execute("INSERT INTO t VALUES ($1)", &[1.into()]).await?;
                Ok("done")
            })
        })
        .await
        .unwrap();

    assert_eq!((value, runs), ("done", 3));
    let attempt = ["BEGIN", "INSERT INTO t VALUES ($1)", "COMMIT"];
    assert_eq!(node.sql(), attempt.repeat(3));
    // A failed COMMIT leaves the session idle, so the one session serves all.
    assert!(node.received().iter().all(|r| r.session == 1));
}

#[tokio::test]
async fn a_conflict_on_a_statement_rolls_back_and_runs_again() {
    let node = FakeNode::scripted(fail_first(1, "UPDATE", Reply::conflict())).await;
    let client = connect(&[&node]).await;

    let mut runs = 0;
    client
        .transaction(|tx| {
            runs += 1;
            Box::pin(async move {
                tx.execute("UPDATE t SET x = x + 1", &[]).await?;
                Ok(())
            })
        })
        .await
        .unwrap();

    assert_eq!(runs, 2);
    assert_eq!(
        node.sql(),
        [
            "BEGIN",
            "UPDATE t SET x = x + 1",
            "ROLLBACK",
            "BEGIN",
            "UPDATE t SET x = x + 1",
            "COMMIT"
        ]
    );
}

#[tokio::test]
async fn a_non_retryable_error_rolls_back_and_is_returned() {
    let unique_violation = Reply::Fail {
        sqlstate: "23505",
        retryable: false,
    };
    let node = FakeNode::scripted(fail_first(usize::MAX, "INSERT", unique_violation)).await;
    let client = connect(&[&node]).await;

    let (outcome, runs) = insert_in_transaction(&client).await;
    let e = outcome.unwrap_err();

    assert_eq!(e.sqlstate(), Some("23505"));
    assert_eq!(runs, 1);
    assert_eq!(
        node.sql(),
        ["BEGIN", "INSERT INTO t VALUES (1)", "ROLLBACK"]
    );
}

#[tokio::test]
async fn an_application_error_rolls_back_and_is_returned_as_is() {
    let node = FakeNode::start().await;
    let client = connect(&[&node]).await;

    let e = client
        .transaction(|tx| {
            Box::pin(async move {
                tx.execute("UPDATE t SET x = 1", &[]).await?;
                Err::<(), _>(Error::application("insufficient funds"))
            })
        })
        .await
        .unwrap_err();

    assert!(matches!(e, Error::Application(_)));
    assert_eq!(e.to_string(), "insufficient funds");
    assert_eq!(node.sql(), ["BEGIN", "UPDATE t SET x = 1", "ROLLBACK"]);
}

#[tokio::test]
async fn an_error_the_closure_swallowed_is_reported_and_nothing_is_committed() {
    let check_violation = Reply::Fail {
        sqlstate: "23514",
        retryable: false,
    };
    let node = FakeNode::scripted(fail_first(usize::MAX, "DELETE", check_violation)).await;
    let client = connect(&[&node]).await;

    let e = client
        .transaction(|tx| {
            Box::pin(async move {
                let _ignored = tx.execute("DELETE FROM t", &[]).await;
                // The transaction is doomed: later statements are not sent
                // and return the first failure again.
                let again = tx.execute("INSERT INTO t VALUES (1)", &[]).await;
                assert_eq!(again.unwrap_err().sqlstate(), Some("23514"));
                Ok(())
            })
        })
        .await
        .unwrap_err();

    assert_eq!(e.sqlstate(), Some("23514"));
    assert_eq!(node.sql(), ["BEGIN", "DELETE FROM t", "ROLLBACK"]);
}

#[tokio::test]
async fn a_swallowed_retryable_error_still_runs_the_transaction_again() {
    let node = FakeNode::scripted(fail_first(1, "UPDATE", Reply::conflict())).await;
    let client = connect(&[&node]).await;

    let mut runs = 0;
    client
        .transaction(|tx| {
            runs += 1;
            Box::pin(async move {
                let _ignored = tx.execute("UPDATE t SET x = 1", &[]).await;
                Ok(())
            })
        })
        .await
        .unwrap();

    assert_eq!(runs, 2);
    assert_eq!(
        node.sql(),
        [
            "BEGIN",
            "UPDATE t SET x = 1",
            "ROLLBACK",
            "BEGIN",
            "UPDATE t SET x = 1",
            "COMMIT"
        ]
    );
}

#[tokio::test]
async fn read_only_and_stale_read_transactions_begin_with_their_mode() {
    let node = FakeNode::start().await;
    let client = connect(&[&node]).await;

    client
        .read_only_transaction(|tx| {
            Box::pin(async move { tx.query("SELECT 1", &[]).await.map(|_| ()) })
        })
        .await
        .unwrap();
    client
        .stale_read_transaction(Duration::from_secs(10), |tx| {
            Box::pin(async move { tx.query("SELECT 2", &[]).await.map(|_| ()) })
        })
        .await
        .unwrap();

    assert_eq!(
        node.sql(),
        [
            "BEGIN READ ONLY",
            "SELECT 1",
            "COMMIT",
            "BEGIN READ ONLY AS OF SYSTEM TIME '-10000ms'",
            "SELECT 2",
            "COMMIT",
        ]
    );
}

#[tokio::test]
async fn a_connection_broken_during_commit_is_ambiguous_and_not_retried() {
    let node = FakeNode::scripted(fail_first(1, "COMMIT", Reply::HangUp)).await;
    let client = connect(&[&node]).await;

    let (outcome, runs) = insert_in_transaction(&client).await;
    let e = outcome.unwrap_err();

    assert!(matches!(e, Error::Ambiguous { .. }), "{e:?}");
    assert_eq!(runs, 1);
    assert_eq!(node.sql(), ["BEGIN", "INSERT INTO t VALUES (1)", "COMMIT"]);
}

#[tokio::test]
async fn a_read_only_commit_cut_off_has_nothing_to_lose() {
    let node = FakeNode::scripted(fail_first(1, "COMMIT", Reply::HangUp)).await;
    let client = connect(&[&node]).await;

    let mut tx = client.begin_with(TransactionMode::ReadOnly).await.unwrap();
    tx.query("SELECT 1", &[]).await.unwrap();
    tx.commit().await.unwrap();

    assert_eq!(node.sql(), ["BEGIN READ ONLY", "SELECT 1", "COMMIT"]);
}

#[tokio::test]
async fn a_connection_broken_before_commit_runs_the_transaction_again_elsewhere() {
    let a = FakeNode::scripted(fail_first(1, "INSERT", Reply::HangUp)).await;
    let b = FakeNode::start().await;
    let client = connect(&[&a, &b]).await;

    let (outcome, runs) = insert_in_transaction(&client).await;
    outcome.unwrap();

    assert_eq!(runs, 2);
    assert_eq!(a.sql(), ["BEGIN", "INSERT INTO t VALUES (1)"]);
    assert_eq!(b.sql(), ["BEGIN", "INSERT INTO t VALUES (1)", "COMMIT"]);
}

#[tokio::test]
async fn retries_stop_at_the_deadline_with_the_last_error() {
    let node = FakeNode::scripted(fail_first(usize::MAX, "COMMIT", Reply::conflict())).await;
    let options = ClientOptions::default()
        .transaction_deadline(Duration::from_millis(200))
        .backoff(Duration::from_millis(5), Duration::from_millis(10));
    let client = connect_with(&[&node], options).await;

    let (outcome, runs) = insert_in_transaction(&client).await;
    let e = outcome.unwrap_err();

    assert_eq!(e.sqlstate(), Some("40001"));
    // Waits of at least 2.5, 5, 5, … ms fit at most 41 attempts in 200 ms.
    assert!((2..=41).contains(&runs), "{runs} runs");
}

#[tokio::test]
async fn a_manual_transaction_commits_or_rolls_back_on_one_session() {
    let node = FakeNode::start().await;
    let client = connect(&[&node]).await;

    let mut tx = client.begin().await.unwrap();
    tx.execute("INSERT INTO t VALUES ($1)", &[Value::Int(1)])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = client.begin().await.unwrap();
    tx.execute("INSERT INTO t VALUES ($1)", &[Value::Int(2)])
        .await
        .unwrap();
    tx.rollback().await.unwrap();

    assert_eq!(
        node.sql(),
        [
            "BEGIN",
            "INSERT INTO t VALUES ($1)",
            "COMMIT",
            "BEGIN",
            "INSERT INTO t VALUES ($1)",
            "ROLLBACK"
        ]
    );
    assert!(node.received().iter().all(|r| r.session == 1));
}

#[tokio::test]
async fn a_dropped_transaction_closes_its_session_instead_of_pooling_it() {
    let node = FakeNode::start().await;
    let client = connect(&[&node]).await;

    let mut tx = client.begin().await.unwrap();
    tx.execute("INSERT INTO t VALUES (1)", &[]).await.unwrap();
    drop(tx);
    node.wait_closed(1).await; // the node rolls back when the stream closes
    client
        .execute("INSERT INTO t VALUES (2)", &[])
        .await
        .unwrap();

    let received = node.received();
    assert_eq!(received.last().unwrap().sql, "INSERT INTO t VALUES (2)");
    assert_eq!(received.last().unwrap().session, 2);
}

#[tokio::test]
async fn transaction_control_inside_a_transaction_is_refused_unsent() {
    let node = FakeNode::start().await;
    let client = connect(&[&node]).await;

    let mut tx = client.begin().await.unwrap();
    let e = tx.execute("COMMIT", &[]).await.unwrap_err();
    tx.rollback().await.unwrap();

    assert!(matches!(e, Error::Usage(_)), "{e:?}");
    assert_eq!(node.sql(), ["BEGIN", "ROLLBACK"]);
}
