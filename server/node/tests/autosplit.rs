//! Tablets that split on their own by size (`spanlite_node::ops::split`):
//! a table loaded on a 3-node cluster with a small split size ends in many
//! tablets, with no operator action, and reads stay right throughout.

mod common;

use common::run;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use spanlite_node::embedded::EmbeddedCluster;
use spanlite_node::ops::split::SplitSettings;
use spanlite_session::Session;
use spanlite_sql::Value;

async fn count(session: &mut Session) -> Result<i64, String> {
    let r = run(session, "SELECT count(*) FROM t").await?;
    match r.rows.first().and_then(|r| r.first()) {
        Some(Value::Int(n)) => Ok(*n),
        other => Err(format!("count(*) returned {other:?}")),
    }
}

/// The tablets holding the rows of table `t`.
async fn tablets_of_t(cluster: &EmbeddedCluster, session: &Session) -> usize {
    let def = session.table("t").await.unwrap().unwrap();
    let (start, end) = def.key_range();
    let gateway = cluster.gateway();
    gateway.refresh().await.unwrap();
    gateway
        .cache()
        .tablets()
        .iter()
        .filter(|d| (d.range.end.is_empty() || d.range.end > start) && d.range.start < end)
        .count()
}

const BATCH: i64 = 2_000;

/// Rows loaded, and the split size: 50,000 rows and 128 KiB in `make test`
/// (a debug build loads about 1,000 rows a second here); `make autosplit`
/// loads 200,000 with 512 KiB (`AUTOSPLIT_ROWS`, `AUTOSPLIT_SIZE_KIB`).
fn setting(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_loaded_table_splits_by_size_and_count_stays_right_throughout() {
    let rows = setting("AUTOSPLIT_ROWS", 50_000) / BATCH * BATCH;
    let size_kib = setting("AUTOSPLIT_SIZE_KIB", 128) as u64;
    let cluster = EmbeddedCluster::start_with(3, &|c| {
        c.split = SplitSettings {
            size: size_kib << 10,
            qps: 0,
            check_every: Duration::from_millis(200),
            merge_after: Duration::ZERO,
        }
    })
    .await
    .unwrap();
    let mut loader = Session::on(cluster.schema_of(0));
    run(
        &mut loader,
        "CREATE TABLE t (id INT PRIMARY KEY, v TEXT NOT NULL)",
    )
    .await
    .unwrap();
    assert_eq!(tablets_of_t(&cluster, &loader).await, 1);

    // A reader on another node counts the rows while they are loaded: every
    // count is a whole number of committed batches, and never less than a
    // count seen before (each is a strong read).
    let loaded = Arc::new(AtomicI64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (loaded, done) = (loaded.clone(), done.clone());
        let mut s = Session::on(cluster.schema_of(1));
        tokio::spawn(async move {
            let (mut reads, mut last) = (0u64, 0i64);
            while !done.load(Ordering::Acquire) {
                let before = loaded.load(Ordering::Acquire);
                let n = match count(&mut s).await {
                    Ok(n) => n,
                    // A leader change or a split under the read: retried
                    // by a client; not a wrong answer.
                    Err(e) if e.starts_with("40001") => continue,
                    Err(e) => panic!("count(*) failed: {e}"),
                };
                let after = loaded.load(Ordering::Acquire);
                assert_eq!(n % BATCH, 0, "count(*) saw part of a batch: {n}");
                assert!(
                    n >= before && n <= after && n >= last,
                    "count(*) = {n}: committed before it {before}, after it {after}, seen before {last}"
                );
                last = n;
                reads += 1;
                // Paced: a count of up to 200,000 rows is a lot of work for
                // a debug build on 2 cores, and the load must go on.
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            reads
        })
    };

    let start = Instant::now();
    let mut retries = 0;
    for batch in 0..rows / BATCH {
        let (lo, hi) = (batch * BATCH, (batch + 1) * BATCH - 1);
        let sql = format!(
            "INSERT INTO t SELECT g, '{}' || CAST(g AS TEXT) FROM generate_series({lo}, {hi}) AS g",
            "x".repeat(100)
        );
        loop {
            match run(&mut loader, &sql).await {
                Ok(_) => break,
                // A split aborts the transactions holding locks in the half
                // it moves; the loader retries as any client does.
                Err(e) if e.starts_with("40001") && retries < 200 => retries += 1,
                Err(e) => panic!("batch {batch}: {e}"),
            }
        }
        loaded.store(hi + 1, Ordering::Release);
    }
    let load_time = start.elapsed();

    // No operator action: the splitter finds the table past its size.
    let deadline = Instant::now() + Duration::from_secs(120);
    let tablets = loop {
        let n = tablets_of_t(&cluster, &loader).await;
        if n >= 8 || Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    done.store(true, Ordering::Release);
    let reads = reader.await.unwrap();
    println!(
        "loaded {rows} rows (split size {size_kib} KiB) in {load_time:?} ({retries} retried batches); {tablets} tablets; {reads} counts while loading"
    );
    assert!(tablets >= 8, "the table is in {tablets} tablets");
    assert!(reads > 0, "the reader never counted");
    assert_eq!(count(&mut loader).await.unwrap(), rows);
    let r = run(&mut loader, "SELECT sum(id), count(DISTINCT id) FROM t")
        .await
        .unwrap();
    assert_eq!(
        r.rows,
        vec![vec![Value::Int(rows * (rows - 1) / 2), Value::Int(rows)]]
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tablet_serving_many_requests_splits_where_they_divide() {
    let cluster = EmbeddedCluster::start_with(3, &|c| {
        c.split = SplitSettings {
            size: 0,
            qps: 20,
            check_every: Duration::from_millis(500),
            merge_after: Duration::ZERO,
        }
    })
    .await
    .unwrap();
    let mut s = Session::on(cluster.schema_of(0));
    run(
        &mut s,
        "CREATE TABLE t (id INT PRIMARY KEY, v TEXT NOT NULL)",
    )
    .await
    .unwrap();
    run(
        &mut s,
        "INSERT INTO t SELECT g, 'v' FROM generate_series(0, 999) AS g",
    )
    .await
    .unwrap();
    let before = tablets_of_t(&cluster, &s).await;
    // Point reads spread over the keys, until the table has split by load
    // (no size limit is set).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut i = 0u64;
    let tablets = loop {
        for _ in 0..50 {
            i = (i * 7919 + 13) % 1000;
            run(&mut s, &format!("SELECT v FROM t WHERE id = {i}"))
                .await
                .unwrap();
        }
        let n = tablets_of_t(&cluster, &s).await;
        if n > before || Instant::now() > deadline {
            break n;
        }
    };
    assert!(
        tablets > before,
        "still {tablets} tablets after a minute of load"
    );
    assert_eq!(count(&mut s).await.unwrap(), 1000);
    cluster.shutdown().await;
}
