//! Failover between nodes: unreachable nodes are skipped, reads are sent
//! again after a broken connection, writes are not (they may have committed).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::fake_node::{FakeNode, Reply, dead_addr};
use super::{connect, connect_with};
use crate::{Client, ClientOptions, Error};

#[tokio::test]
async fn connect_skips_a_node_that_does_not_answer() {
    let dead = dead_addr().await;
    let live = FakeNode::start().await;

    let client = Client::connect([dead.clone(), format!("http://{}", live.addr)])
        .await
        .unwrap();
    client
        .execute("INSERT INTO t VALUES (1)", &[])
        .await
        .unwrap();
    // A new session (the pooled one is busy) also skips the dead node.
    let (a, b) = tokio::join!(
        client.execute("INSERT INTO t VALUES (2)", &[]),
        client.execute("INSERT INTO t VALUES (3)", &[]),
    );
    a.unwrap();
    b.unwrap();

    assert_eq!(live.sql().len(), 3);
}

#[tokio::test]
async fn connect_fails_naming_the_last_node_when_none_answers() {
    let (a, b) = (dead_addr().await, dead_addr().await);

    let options = ClientOptions::default().connect_timeout(Duration::from_secs(1));
    let e = Client::connect_with([a, b.clone()], options)
        .await
        .unwrap_err();

    assert!(
        matches!(&e, Error::Connect { url, .. } if *url == format!("http://{b}")),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_read_cut_off_mid_statement_is_sent_again_on_another_node() {
    let a = FakeNode::scripted(|sql| sql.starts_with("SELECT").then_some(Reply::HangUp)).await;
    let b = FakeNode::start().await;
    let client = connect(&[&a, &b]).await; // its first session is on a

    let result = client.query("SELECT * FROM t", &[]).await.unwrap();

    assert_eq!(result.tag, "SELECT 0");
    assert_eq!(a.sql(), ["SELECT * FROM t"]);
    assert_eq!(b.sql(), ["SELECT * FROM t"]);
}

#[tokio::test]
async fn a_write_cut_off_mid_statement_is_ambiguous_and_not_sent_again() {
    let a = FakeNode::scripted(|sql| sql.starts_with("INSERT").then_some(Reply::HangUp)).await;
    let b = FakeNode::start().await;
    let client = connect(&[&a, &b]).await;

    let e = client
        .execute("INSERT INTO t VALUES (1)", &[])
        .await
        .unwrap_err();

    assert!(matches!(e, Error::Ambiguous { .. }), "{e:?}");
    assert!(!e.is_retryable());
    assert_eq!(a.sql(), ["INSERT INTO t VALUES (1)"]);
    assert_eq!(b.sql(), Vec::<String>::new());
    // The client goes on working, on the other node.
    client.execute("UPDATE t SET x = 1", &[]).await.unwrap();
    assert_eq!(b.sql(), ["UPDATE t SET x = 1"]);
}

#[tokio::test]
async fn a_write_on_a_session_its_node_already_ended_goes_to_another_node() {
    let a = FakeNode::start().await;
    let b = FakeNode::start().await;
    let client = connect(&[&a, &b]).await; // one idle session, on a

    a.hang_up_all(); // a shuts down
    client.pool().wait_until_idle_sessions_ended().await;
    let n = client
        .execute("INSERT INTO t VALUES (1)", &[])
        .await
        .unwrap();

    // Nothing was sent to a, so the write could safely go to b.
    assert_eq!(n, 1);
    assert_eq!(a.sql(), Vec::<String>::new());
    assert_eq!(b.sql(), ["INSERT INTO t VALUES (1)"]);
}

#[tokio::test]
async fn a_read_that_breaks_on_every_node_gives_up_disconnected() {
    let selects = Arc::new(AtomicUsize::new(0));
    let hang_up = {
        let selects = selects.clone();
        move |sql: &str| {
            sql.starts_with("SELECT").then(|| {
                selects.fetch_add(1, Ordering::SeqCst);
                Reply::HangUp
            })
        }
    };
    let a = FakeNode::scripted(hang_up.clone()).await;
    let b = FakeNode::scripted(hang_up).await;
    let client = connect_with(&[&a, &b], ClientOptions::default()).await;

    let e = client.query("SELECT 1", &[]).await.unwrap_err();

    assert!(matches!(e, Error::Disconnected { .. }), "{e:?}");
    assert!(e.is_retryable());
    // One attempt per node, plus one.
    assert_eq!(selects.load(Ordering::SeqCst), 3);
}
