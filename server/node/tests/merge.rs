//! Merging tablets (`spanlite_node::ops::merge`): two neighbours become one
//! while transfers across them run and a reader checks the total; the
//! merged-away tablet is gone from every node and the directory, its
//! coordinator questions are answered abort, a restarted node keeps the
//! merged data; a merge whose replica stops answering is given up and the
//! frozen tablet serves again; and small, cold neighbours merge on their
//! own.

mod common;

use common::run;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use spanlite_directory::FIRST_DATA_TABLET;
use spanlite_node::embedded::EmbeddedCluster;
use spanlite_node::ops::split::SplitSettings;
use spanlite_session::Session;
use spanlite_sql::Value;
use spanlite_storage::mvcc::TxnId;
use spanlite_txn::peers::TxnPeers;
use spanlite_txn::twopc::Decision;

const ROWS: i64 = 200;
const START: i64 = 100;

/// `(sum(v), count(*))` of `t`.
async fn total(session: &mut Session) -> Result<(i64, i64), String> {
    let r = run(session, "SELECT sum(v), count(*) FROM t").await?;
    match r.rows.first().map(Vec::as_slice) {
        Some([Value::Int(sum), Value::Int(n)]) => Ok((*sum, *n)),
        other => Err(format!("sum and count returned {other:?}")),
    }
}

/// The tablets holding the rows of `t`, by id.
async fn tablets_of_t(cluster: &EmbeddedCluster, session: &Session) -> Vec<u64> {
    let def = session.table("t").await.unwrap().unwrap();
    let (start, end) = def.key_range();
    let gateway = cluster.gateway();
    gateway.refresh().await.unwrap();
    gateway
        .cache()
        .tablets()
        .iter()
        .filter(|d| (d.range.end.is_empty() || d.range.end > start) && d.range.start < end)
        .map(|d| d.id)
        .collect()
}

/// Creates `t` with `ROWS` rows of `START` each and splits its rows off the
/// catalog's tablet and again at each of `at`; returns the rows' tablets.
async fn table_on_tablets(cluster: &EmbeddedCluster, s: &mut Session, at: &[i64]) -> Vec<u64> {
    run(s, "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)")
        .await
        .unwrap();
    run(
        s,
        &format!(
            "INSERT INTO t SELECT g, {START} FROM generate_series(0, {}) AS g",
            ROWS - 1
        ),
    )
    .await
    .unwrap();
    let def = s.table("t").await.unwrap().unwrap();
    let (rows_start, _) = def.key_range();
    let mut tablet = cluster.split(FIRST_DATA_TABLET, &rows_start).await.unwrap();
    let mut out = vec![tablet];
    for &k in at {
        tablet = cluster
            .split(tablet, &def.row_key(&[Value::Int(k)]).unwrap())
            .await
            .unwrap();
        out.push(tablet);
    }
    out
}

/// Logs to stderr when `RUST_LOG` asks.
fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

fn is_retryable(e: &str) -> bool {
    e.starts_with("40001") || e.starts_with("40P01") || e.starts_with("57P") || e.starts_with("08")
}

/// Moves 1 from row `a` to row `b` in one transaction; `Ok(false)` when it
/// was refused in a retryable way (and rolled back).
async fn transfer(s: &mut Session, a: i64, b: i64) -> Result<bool, String> {
    for sql in [
        "BEGIN".to_string(),
        format!("UPDATE t SET v = v - 1 WHERE id = {a}"),
        format!("UPDATE t SET v = v + 1 WHERE id = {b}"),
        "COMMIT".to_string(),
    ] {
        if let Err(e) = run(s, &sql).await {
            let _ = run(s, "ROLLBACK").await;
            return if is_retryable(&e) { Ok(false) } else { Err(e) };
        }
    }
    Ok(true)
}

/// Waits until `done` reaches `n`, or fails after a minute.
async fn wait_for(done: &AtomicU64, n: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while done.load(Ordering::SeqCst) < n {
        assert!(
            Instant::now() < deadline,
            "{what}: only {} transfers",
            done.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_tablets_merge_while_transfers_cross_them_and_the_total_holds() {
    logs();
    let mut cluster = EmbeddedCluster::start(3).await.unwrap();
    let mut s = Session::on(cluster.schema_of(0));
    let tablets = table_on_tablets(&cluster, &mut s, &[ROWS / 2]).await;
    let (low, high) = (tablets[0], tablets[1]);
    assert_eq!(tablets_of_t(&cluster, &s).await, vec![low, high]);

    // Transfers from every node, most of them across the two tablets (so
    // two-phase, coordinated by either), and a reader checking the total.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for node in 0..3usize {
        let mut w = Session::on(cluster.schema_of(node));
        let (stop, done) = (stop.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = node as i64;
            while !stop.load(Ordering::SeqCst) {
                i = (i * 7919 + 13) % ROWS;
                let other = (i + ROWS / 2 + node as i64) % ROWS;
                if transfer(&mut w, i, other).await? {
                    done.fetch_add(1, Ordering::SeqCst);
                }
            }
            Ok::<(), String>(())
        }));
    }
    let reader = {
        let mut r = Session::on(cluster.schema_of(1));
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut reads = 0u64;
            while !stop.load(Ordering::SeqCst) {
                match total(&mut r).await {
                    Ok(t) => {
                        assert_eq!(t, (ROWS * START, ROWS), "a read saw a broken total");
                        reads += 1;
                    }
                    Err(e) if is_retryable(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok::<u64, String>(reads)
        })
    };

    wait_for(&done, 50, "before the merge").await;
    let merged_away = cluster.merge(low).await.unwrap();
    assert_eq!(merged_away, high);
    assert_eq!(tablets_of_t(&cluster, &s).await, vec![low]);
    // Every node retires its replica of the merged-away tablet.
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster
        .nodes()
        .iter()
        .any(|n| n.context.store.replica(high).is_some())
    {
        assert!(
            Instant::now() < deadline,
            "a replica of tablet {high} is still running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = done.load(Ordering::SeqCst);
    wait_for(&done, after + 100, "after the merge").await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let reads = reader.await.unwrap().unwrap();
    assert!(reads > 0);
    assert_eq!(total(&mut s).await.unwrap(), (ROWS * START, ROWS));

    // The directory marks it merged into the left tablet; a participant
    // asking it about a transaction it coordinated hears abort (it froze
    // with nothing decided).
    assert_eq!(
        cluster
            .gateway()
            .get(&spanlite_directory::merged_tablet_key(high))
            .await
            .unwrap(),
        Some(low.to_be_bytes().to_vec())
    );
    assert_eq!(
        cluster.gateway().status(high, TxnId(u128::MAX - 7)).await,
        Ok(Some(Decision::Abort))
    );

    // A restarted node recovers the merged tablet, with all its rows, and
    // not the merged-away one.
    let def = s.table("t").await.unwrap().unwrap();
    let (start, end) = def.key_range();
    cluster.stop_node(3).await.unwrap();
    cluster.restart_node(3, &|_| {}).await.unwrap();
    let node3 = cluster
        .nodes()
        .iter()
        .find(|n| n.context.node_id == 3)
        .unwrap();
    assert!(node3.context.store.replica(high).is_none());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let keys = node3
            .context
            .store
            .mvcc()
            .range_size(&start, Some(&end))
            .unwrap()
            .keys;
        let covers = node3.context.store.replica(low).is_some_and(|r| {
            r.range().start <= start && (r.range().end.is_empty() || r.range().end >= end)
        });
        if keys == ROWS as u64 && covers {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node 3 holds {keys} rows of t after its restart"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(total(&mut s).await.unwrap(), (ROWS * START, ROWS));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn small_cold_neighbours_merge_on_their_own() {
    logs();
    let cluster = EmbeddedCluster::start_with(3, &|c| {
        c.split = SplitSettings {
            size: 0,
            qps: 0,
            check_every: Duration::from_millis(200),
            merge_after: Duration::from_secs(1),
        }
    })
    .await
    .unwrap();
    let mut s = Session::on(cluster.schema_of(0));
    let tablets = table_on_tablets(&cluster, &mut s, &[50, 100, 150]).await;
    assert_eq!(tablets.len(), 4);
    // Merges may put a tablet's leadership on its way to another node
    // first; the count stays right throughout.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert_eq!(total(&mut s).await.unwrap(), (ROWS * START, ROWS));
        let now = tablets_of_t(&cluster, &s).await;
        if now.len() == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the table is still on tablets {now:?} after two minutes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    run(&mut s, "UPDATE t SET v = v + 1 WHERE id = 199")
        .await
        .unwrap();
    assert_eq!(total(&mut s).await.unwrap(), (ROWS * START + 1, ROWS));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_merge_whose_replica_stops_answering_is_given_up_and_the_tablet_serves_again() {
    logs();
    let tweak =
        |c: &mut spanlite_node::NodeConfig| c.split.check_every = Duration::from_millis(200);
    let mut cluster = EmbeddedCluster::start_with(3, &tweak).await.unwrap();
    let mut s = Session::on(cluster.schema_of(0));
    let tablets = table_on_tablets(&cluster, &mut s, &[ROWS / 2]).await;
    let (low, high) = (tablets[0], tablets[1]);

    // Step 1 of a merge by hand: the right tablet freezes. Then a node that
    // leads neither tablet stops before the merge goes on.
    let right = spanlite_node::embedded::leader(cluster.nodes(), high)
        .await
        .unwrap();
    right.freeze(low).await.unwrap();
    let leads = |n: &spanlite_node::RunningNode, t: u64| {
        n.context.store.replica(t).is_some_and(|r| r.is_serving())
    };
    let victim = cluster
        .nodes()
        .iter()
        .find(|n| !leads(n, low) && !leads(n, high))
        .map(|n| n.context.node_id)
        .unwrap();
    cluster.stop_node(victim).await.unwrap();

    // The left tablet's leader gives the merge up and the right tablet
    // unfreezes: its rows take writes again, still as two tablets.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match run(
            &mut s,
            &format!("UPDATE t SET v = v + 1 WHERE id = {}", ROWS - 1),
        )
        .await
        {
            Ok(_) => break,
            Err(e) if is_retryable(&e) || e.starts_with("XX") || e.starts_with("58") => {
                assert!(
                    Instant::now() < deadline,
                    "tablet {high} still refuses writes: {e}"
                );
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(tablets_of_t(&cluster, &s).await, vec![low, high]);
    assert_eq!(total(&mut s).await.unwrap(), (ROWS * START + 1, ROWS));

    // With the node back, the merge goes through.
    cluster.restart_node(victim, &tweak).await.unwrap();
    assert_eq!(cluster.merge(low).await.unwrap(), high);
    assert_eq!(tablets_of_t(&cluster, &s).await, vec![low]);
    assert_eq!(total(&mut s).await.unwrap(), (ROWS * START + 1, ROWS));

    // Every replica of the merged tablet holds the same rows, the returned
    // node's too: its replica of the right tablet came back still frozen by
    // the freeze given up, without the write above, and the merge had to
    // wait until it applied the new freeze (not count the old one).
    let def = s.table("t").await.unwrap().unwrap();
    let (start, end) = def.key_range();
    let range = spanlite_directory::KeyRange::new(start.clone(), end.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let scans: Vec<Option<Vec<spanlite_storage::mvcc::Row>>> = cluster
            .nodes()
            .iter()
            .map(|n| {
                let r = n.context.store.replica(low)?;
                let own = r.range();
                let covers = own.start <= start && (own.end.is_empty() || own.end >= end);
                covers.then(|| r.scan_local(&range).ok()).flatten()
            })
            .collect();
        if scans.iter().all(|x| x.is_some() && *x == scans[0]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replicas of tablet {low} differ: {:?} rows",
            scans
                .iter()
                .map(|x| x.as_ref().map(Vec::len))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.shutdown().await;
}
