//! A query past its memory budget fails with 53200 and the node goes on:
//! a cross join of two 100,000-row tables on a 3-node cluster with the
//! default budget (256 MiB), while a writer on another node keeps
//! committing and no tablet changes leader. Its own test binary: the
//! budget is process-wide.

use std::time::{Duration, Instant};

use spanlite_node::embedded::EmbeddedCluster;
use spanlite_session::Session;

async fn run(s: &mut Session, sql: &str) -> Result<spanlite_sql::QueryResult, (String, String)> {
    let mut results = s.run(sql).await;
    match results.pop() {
        Some(r) => r.map_err(|e| (e.code.to_string(), e.message)),
        None => Err(("".into(), "no result".into())),
    }
}

/// Every tablet's (leader node, term), as the nodes see it.
fn leaders(cluster: &EmbeddedCluster) -> Vec<(u64, u64, u64)> {
    let mut out = Vec::new();
    for (i, n) in cluster.nodes().iter().enumerate() {
        for r in n.context.store.replicas() {
            if r.is_serving() {
                out.push((r.tablet(), i as u64, r.lease().term));
            }
        }
    }
    out.sort_unstable();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_join_past_the_budget_fails_cleanly_and_the_cluster_keeps_serving() {
    let cluster = EmbeddedCluster::start(3).await.unwrap();
    assert_eq!(
        spanlite_sql::memory_budget(),
        spanlite_sql::DEFAULT_MEMORY_BUDGET
    );
    let mut s = Session::on(cluster.schema_of(0));
    run(&mut s, "CREATE TABLE a (k INT PRIMARY KEY, v TEXT)")
        .await
        .unwrap();
    run(&mut s, "CREATE TABLE b (k INT PRIMARY KEY, v TEXT)")
        .await
        .unwrap();
    run(&mut s, "CREATE TABLE w (k INT PRIMARY KEY, n INT)")
        .await
        .unwrap();
    run(&mut s, "INSERT INTO w VALUES (1, 0)").await.unwrap();
    const ROWS: i64 = 100_000;
    const CHUNK: i64 = 10_000;
    for t in ["a", "b"] {
        for first in (0..ROWS).step_by(CHUNK as usize) {
            run(
                &mut s,
                &format!(
                    "INSERT INTO {t} SELECT k, 'row ' || k || ' of {t}' FROM generate_series({first}, {}) AS g(k)",
                    first + CHUNK - 1
                ),
            )
            .await
            .unwrap();
        }
    }
    let before = leaders(&cluster);

    // A writer on another node commits all along.
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let writer = {
        let schema = cluster.schema_of(1);
        let (stop, commits) = (stop.clone(), commits.clone());
        tokio::spawn(async move {
            let mut w = Session::on(schema);
            while !stop.load(Ordering::Relaxed) {
                run(&mut w, "UPDATE w SET n = n + 1 WHERE k = 1")
                    .await
                    .unwrap();
                commits.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let started = Instant::now();
    let e = run(&mut s, "SELECT a.v, b.v FROM a, b ORDER BY a.k, b.k")
        .await
        .unwrap_err();
    assert_eq!(e.0, "53200", "{e:?}");
    assert!(e.1.contains("memory budget"), "{e:?}");
    let e = run(&mut s, "SELECT count(*) FROM a CROSS JOIN b")
        .await
        .unwrap_err();
    assert_eq!(e.0, "53200", "{e:?}");
    eprintln!("two refused cross joins in {:?}", started.elapsed());
    // The session and the cluster go on.
    let r = run(&mut s, "SELECT count(*) FROM a").await.unwrap();
    assert_eq!(r.rows, vec![vec![spanlite_sql::Value::Int(ROWS)]]);
    // The writer keeps committing after them too.
    let seen = commits.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(30);
    while commits.load(Ordering::Relaxed) < seen + 5 {
        assert!(Instant::now() < deadline, "the writer stopped committing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    assert_eq!(leaders(&cluster), before, "a tablet changed leader");
    cluster.shutdown().await;
}
