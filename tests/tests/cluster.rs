//! The harness itself: a cluster of real processes serves SQL through
//! kills, pauses and partitions made by the harness's own controls.

use std::time::{Duration, Instant};

use spanlite_client::{Client, ClientOptions, Value};
use spanlite_tests::cluster::ProcessCluster;

fn bin() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("SPANLITE_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("spanlite")
}

async fn count(client: &Client) -> Option<i64> {
    let r = client.query("SELECT count(*) FROM t", &[]).await.ok()?;
    match r.rows.first()?.values().first()? {
        Value::Int(n) => Some(*n),
        _ => None,
    }
}

/// Retries `insert` of row `id` until it commits (a fault may be healing).
async fn insert(client: &Client, id: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client
            .execute(
                "INSERT INTO t VALUES ($1) ON CONFLICT DO NOTHING",
                &[Value::Int(id)],
            )
            .await
        {
            Ok(_) => return,
            Err(e) if Instant::now() > deadline => panic!("insert {id}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_cluster_serves_through_kills_pauses_and_partitions() {
    let mut cluster = ProcessCluster::start(&bin(), 3, &[]).await.unwrap();
    let options = ClientOptions::default().connect_timeout(Duration::from_secs(1));
    let client = Client::connect_with(cluster.addrs(), options)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client
        .execute("CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY)", &[])
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the cluster never served SQL");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    insert(&client, 1).await;

    // The node leading the table's tablet is cut off: the others elect a
    // new leader and go on.
    let leader = cluster
        .leader_of(&[0x03, 0, 0, 0, 1])
        .await
        .expect("a leader");
    let others: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    cluster.proxies().partition(&[vec![leader], others.clone()]);
    // A client on the majority side (one on the cut-off node cannot commit).
    let majority: Vec<String> = others.iter().map(|&i| cluster.addrs()[i].clone()).collect();
    let options = ClientOptions::default().connect_timeout(Duration::from_secs(1));
    let majority_client = Client::connect_with(majority, options).await.unwrap();
    insert(&majority_client, 2).await;
    cluster.proxies().heal();

    // SIGKILL and restart; SIGSTOP and SIGCONT.
    cluster.kill(leader).await.unwrap();
    insert(&client, 3).await;
    cluster.restart(leader).await.unwrap();
    cluster.pause((leader + 1) % 3).await.unwrap();
    insert(&client, 4).await;
    cluster.resume((leader + 1) % 3).await.unwrap();
    cluster.recover().await.unwrap();
    assert_eq!(count(&client).await, Some(4));
}

/// A SERIAL column under concurrent inserts from every node, one node
/// SIGKILLed halfway and restarted: every insert that committed got a
/// value no other insert got (no 23505 on the key, no repeated value
/// returned); values may have gaps (the killed node's block is lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_serial_column_gives_no_value_twice_across_nodes_and_a_kill() {
    let mut cluster = ProcessCluster::start(&bin(), 3, &[]).await.unwrap();
    let options = ClientOptions::default().connect_timeout(Duration::from_secs(1));
    let admin = Client::connect_with(cluster.addrs(), options.clone())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while admin
        .execute(
            "CREATE TABLE IF NOT EXISTS s (id BIGSERIAL PRIMARY KEY, node INT)",
            &[],
        )
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the cluster never served SQL");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Two writers per node, each bound to its node.
    let ids = std::sync::Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for (node, addr) in cluster.addrs().into_iter().enumerate() {
        for _ in 0..2 {
            let (ids, stop, options) = (ids.clone(), stop.clone(), options.clone());
            let addr = addr.clone();
            writers.push(tokio::spawn(async move {
                let mut duplicates = Vec::new();
                let mut client = None;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if client.is_none() {
                        client = Client::connect_with([addr.clone()], options.clone())
                            .await
                            .ok();
                        if client.is_none() {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    }
                    let Some(c) = &client else { continue };
                    match c
                        .query(
                            "INSERT INTO s (node) VALUES ($1) RETURNING id",
                            &[Value::Int(node as i64)],
                        )
                        .await
                    {
                        Ok(r) => {
                            if let Some(Value::Int(id)) = r.rows[0].values().first() {
                                ids.lock().unwrap().push(*id);
                            }
                        }
                        Err(e) => {
                            let text = e.to_string();
                            if text.contains("23505") {
                                duplicates.push(text);
                            }
                            // A killed node: connect again later.
                            client = None;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                duplicates
            }));
        }
    }
    let wait_for = |n: usize| {
        let ids = ids.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while ids.lock().unwrap().len() < n {
                assert!(Instant::now() < deadline, "inserts stalled below {n}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_for(200).await;
    cluster.kill(2).await.unwrap();
    let at_kill = ids.lock().unwrap().len();
    wait_for(at_kill + 200).await;
    cluster.restart(2).await.unwrap();
    let after = ids.lock().unwrap().len();
    wait_for(after + 200).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        let duplicates = w.await.unwrap();
        assert!(duplicates.is_empty(), "{duplicates:?}");
    }
    let ids = ids.lock().unwrap().clone();
    let distinct: std::collections::BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), ids.len(), "a value was given twice");
    // Every acknowledged row is there (an insert cut off by the kill may
    // have committed unacknowledged: at least as many).
    let rows = admin.query("SELECT count(*) FROM s", &[]).await.unwrap();
    let Value::Int(n) = rows.rows[0].values()[0] else {
        panic!("count(*) is not an integer");
    };
    assert!(
        n >= ids.len() as i64,
        "{n} rows for {} acknowledged",
        ids.len()
    );
    drop(cluster);
}
