//! Nodes synchronize TrueTime with the configured time masters over gRPC,
//! and the Admin clock-skew hook is refused unless fault injection is on.

use std::time::{Duration, Instant};

use spanlite_node::{self as node, NodeConfig};
use spanlite_proto::admin::admin_service_client::AdminServiceClient;
use spanlite_proto::admin::{SetClockSkewRequest, StatusRequest};

/// A listener on a free loopback port, bound now (no race), with its address.
async fn listener() -> (tokio::net::TcpListener, String) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    (l, addr)
}

async fn admin(addr: &str) -> AdminServiceClient<tonic::transport::Channel> {
    AdminServiceClient::new(
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_syncs_with_the_master_and_skew_needs_fault_injection() {
    let dir = tempfile::tempdir().unwrap();
    let ((master_l, master_addr), (follower_l, follower_addr)) =
        (listener().await, listener().await);
    let mut configs = Vec::new();
    for (i, addr) in [&master_addr, &follower_addr].into_iter().enumerate() {
        let mut c = NodeConfig::new(
            i as u64 + 1,
            addr.parse().unwrap(),
            dir.path().join(format!("n{i}")),
        );
        c.time_masters = vec![master_addr.clone()];
        c.sync_interval = Duration::from_millis(200);
        c.max_clock_uncertainty = Duration::from_millis(50);
        c.fault_injection = i == 1;
        configs.push(c);
    }
    let master = node::start_on(configs[0].clone(), master_l).await.unwrap();
    let follower = node::start_on(configs[1].clone(), follower_l)
        .await
        .unwrap();

    // The follower's clock becomes usable once a round against the master
    // succeeds; its status names the master as accepted.
    let start = Instant::now();
    let status = loop {
        let s = admin(&follower_addr)
            .await
            .status(StatusRequest {})
            .await
            .unwrap()
            .into_inner();
        if s.clock_error.is_empty() && !s.masters_accepted.is_empty() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "follower never synced: {}",
            s.clock_error
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.masters_accepted, vec![master_addr.clone()]);
    let epsilon = Duration::from_nanos(status.epsilon_nanos);
    assert!(
        epsilon > Duration::ZERO && epsilon < Duration::from_millis(50),
        "ε = {epsilon:?}"
    );

    // Skew is refused on the master (no fault injection) and applied on the
    // follower: a 10 s offset makes the next sync correct it, which the sync
    // status counts as a violation of the earlier intervals.
    let refused = admin(&master_addr)
        .await
        .set_clock_skew(SetClockSkewRequest {
            offset_nanos: 1_000_000,
            drift_ppm: 0.0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        refused.error.contains("fault injection is disabled"),
        "{}",
        refused.error
    );
    let accepted = admin(&follower_addr)
        .await
        .set_clock_skew(SetClockSkewRequest {
            offset_nanos: 10_000_000_000,
            drift_ppm: 0.0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(accepted.error.is_empty(), "{}", accepted.error);
    let start = Instant::now();
    while follower.context.sync.status().violations == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the skew went unnoticed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Corrected: the follower's time agrees with the master's again.
    let m = master.context.store.truetime().now().unwrap();
    let f = follower.context.store.truetime().now().unwrap();
    assert!(
        f.earliest <= m.latest && m.earliest <= f.latest,
        "intervals disjoint: {m:?} vs {f:?}"
    );

    follower.shutdown().await.unwrap();
    master.shutdown().await.unwrap();
}
