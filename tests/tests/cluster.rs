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
