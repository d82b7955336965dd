//! Two-phase commit on a real 3-node cluster in this process: atomicity
//! across tablets (no dirty writes), external consistency across gateways
//! and tablets, presumed abort when a coordinator never decides, and an
//! in-doubt participant reinstated (locks and intents) after every node
//! restarts.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{channel, split_tablet, start_cluster, start_nodes, wait_for};
use spanlite_directory::FIRST_DATA_TABLET;
use spanlite_gateway::{Gateway, GatewayError, Txn, TxnOptions};
use spanlite_node::RunningNode;
use spanlite_proto::common::{Timestamp as WireTs, TxnId as WireTxnId};
use spanlite_proto::tablet::tablet_service_client::TabletServiceClient;
use spanlite_proto::tablet::{
    AbortRequest, CommitRequest, Mutation as WireMutation, PrepareRequest, PreparedParticipant,
    TxnMeta, TxnOutcome, TxnStatusRequest, mutation,
};
use spanlite_replica::raft::load_txn_records;
use spanlite_storage::mvcc::TxnId;
use spanlite_truetime::Timestamp;
use spanlite_txn::Mutation;

/// Tablets A = [start, "b/") and B = ["b/", end) on a fresh 3-node cluster.
async fn two_tablets(dir: &std::path::Path) -> (Vec<RunningNode>, Vec<String>, u64, u64) {
    let (nodes, addrs) = start_cluster(dir, 3).await;
    let b = split_tablet(&addrs, FIRST_DATA_TABLET, b"b/").await;
    (nodes, addrs, FIRST_DATA_TABLET, b)
}

async fn put(gw: &Gateway, key: &[u8], value: &[u8]) {
    gw.write(Mutation::Put {
        key: key.to_vec(),
        value: value.to_vec(),
    })
    .await
    .unwrap();
}

async fn shutdown(nodes: Vec<RunningNode>) {
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn anomaly_dirty_write_is_prevented_across_tablets() {
    // Writers blindly set x (tablet A) and y (tablet B) to their own number
    // in one transaction; interleaved dirty writes would leave x != y.
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _, _, _) = two_tablets(dir.path()).await;
    let gws: Vec<Gateway> = nodes.iter().map(|n| n.context.gateway.clone()).collect();
    let mut tasks = Vec::new();
    for w in 0..8u32 {
        let gw = gws[w as usize % 3].clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..10u32 {
                let v = format!("{w}-{round}").into_bytes();
                gw.run_txn(&TxnOptions::default(), |txn: &mut Txn| {
                    let v = v.clone();
                    Box::pin(async move {
                        txn.put(b"a/x".to_vec(), v.clone())?;
                        txn.put(b"b/y".to_vec(), v)
                    })
                })
                .await
                .unwrap();
            }
        }));
    }
    let auditor = {
        let gw = gws[1].clone();
        tokio::spawn(async move {
            let mut audits = 0;
            for i in 0..40 {
                let mut ro = gw.read_only();
                let (x, y) = if i % 2 == 0 {
                    (ro.get(b"a/x").await.unwrap(), ro.get(b"b/y").await.unwrap())
                } else {
                    // One snapshot scan across both tablets.
                    let rows = ro.scan(b"a/", b"c/", 0).await.unwrap();
                    let find =
                        |k: &[u8]| rows.iter().find(|(rk, _)| rk == k).map(|(_, v)| v.clone());
                    (find(b"a/x"), find(b"b/y"))
                };
                assert_eq!(x, y, "a snapshot saw half of a transaction");
                audits += 1;
            }
            audits
        })
    };
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(auditor.await.unwrap(), 40);
    let mut ro = gws[2].read_only();
    let x = ro.get(b"a/x").await.unwrap();
    assert!(x.is_some());
    assert_eq!(
        x,
        ro.get(b"b/y").await.unwrap(),
        "x and y differ at the end"
    );
    let two_phase: u64 = nodes
        .iter()
        .map(|n| n.context.store.metrics().snapshot().two_phase_commits)
        .sum();
    assert_eq!(two_phase, 80, "every writer transaction spans both tablets");
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anomaly_phantom_is_prevented_across_tablets() {
    // A scan over both tablets takes a range lock on each: an insert into
    // the second tablet's part waits until the scanning transaction ends.
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _, _, b) = two_tablets(dir.path()).await;
    let gw = nodes[0].context.gateway.clone();
    put(&gw, b"a/emp1", b"1").await;
    put(&gw, b"b/emp2", b"1").await;
    // The scanner is older, so the inserter waits rather than wounding it.
    let mut scanner = gw.begin_with(&TxnOptions::default()).unwrap();
    let first = scanner.scan(b"a/", b"c/").await.unwrap();
    assert_eq!(first.len(), 2);
    let inserter = {
        let gw = nodes[1].context.gateway.clone();
        tokio::spawn(async move {
            let mut t = gw.begin_with(&TxnOptions::default()).unwrap();
            t.put(b"b/emp3".to_vec(), b"1".to_vec()).unwrap();
            t.commit().await
        })
    };
    let stores: Vec<_> = nodes.iter().map(|n| n.context.store.clone()).collect();
    wait_for(
        Duration::from_secs(10),
        "the insert to wait for the range lock",
        || {
            let stores = stores.clone();
            async move {
                stores
                    .iter()
                    .any(|s| s.replica(b).is_some_and(|r| r.lock_waiters() > 0))
                    .then_some(())
            }
        },
    )
    .await;
    assert!(!inserter.is_finished(), "the insert did not wait");
    let second = scanner.scan(b"a/", b"c/").await.unwrap();
    assert_eq!(second, first, "phantom: the second scan saw a new row");
    scanner.commit().await.unwrap();
    inserter.await.unwrap().unwrap();
    let mut after = gw.read_only();
    assert_eq!(after.scan(b"a/", b"c/", 0).await.unwrap().len(), 3);
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_in_real_time_order_get_increasing_timestamps_across_tablets_and_gateways() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _, _, _) = two_tablets(dir.path()).await;
    let gws: Vec<Gateway> = nodes.iter().map(|n| n.context.gateway.clone()).collect();
    let mut last = Timestamp::MIN;
    for i in 0..20usize {
        let gw = &gws[i % 3];
        let key = if i % 2 == 0 {
            b"a/k".to_vec()
        } else {
            b"b/k".to_vec()
        };
        let value = i.to_string().into_bytes();
        // Every other one spans both tablets (two-phase commit).
        let both = i % 4 < 2;
        let ((), ts) = gw
            .run_txn(&TxnOptions::default(), |txn: &mut Txn| {
                let (key, value) = (key.clone(), value.clone());
                Box::pin(async move {
                    txn.put(key, value.clone())?;
                    if both {
                        txn.put(b"a/both".to_vec(), value.clone())?;
                        txn.put(b"b/both".to_vec(), value)?;
                    }
                    Ok(())
                })
            })
            .await
            .unwrap();
        assert!(
            ts > last,
            "commit {i} at {ts} is not after the previous one at {last}"
        );
        // A read-only transaction begun after the commit returned sees it.
        let mut ro = gws[(i + 1) % 3].read_only();
        assert_eq!(
            ro.get(&key).await.unwrap(),
            Some(i.to_string().into_bytes())
        );
        last = ts;
    }
    shutdown(nodes).await;
}

fn meta(txn: u128, coordinator: u64) -> TxnMeta {
    TxnMeta {
        txn_id: Some(WireTxnId {
            id: txn.to_be_bytes().to_vec(),
        }),
        priority: Some(WireTs { nanos: 1 }),
        coordinator_tablet_id: coordinator,
        ..Default::default()
    }
}

/// Prepares `txn` writing `key = value` on `tablet` at its leader, as a
/// gateway would before asking `coordinator` to decide (which the test
/// then never does). Returns the prepare timestamp.
async fn prepare_directly(
    addrs: &[String],
    tablet: u64,
    txn: u128,
    coordinator: u64,
    key: &[u8],
    value: &[u8],
) -> Timestamp {
    wait_for(Duration::from_secs(20), "a leader to prepare", || async {
        for a in addrs {
            let resp = TabletServiceClient::new(channel(a).await)
                .prepare(PrepareRequest {
                    tablet_id: tablet,
                    txn: Some(meta(txn, coordinator)),
                    writes: vec![WireMutation {
                        key: key.to_vec(),
                        op: Some(mutation::Op::Put(value.to_vec())),
                    }],
                    ..Default::default()
                })
                .await
                .ok()?
                .into_inner();
            if resp.prepared {
                return resp.prepare_ts.map(|t| Timestamp::from_nanos(t.nanos));
            }
        }
        None
    })
    .await
}

/// Sends `f`'s request to every node until one (the leader) answers
/// without a routing error.
async fn at_leader<T, F, Fut>(addrs: &[String], what: &str, f: F) -> T
where
    F: Fn(TabletServiceClient<tonic::transport::Channel>) -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let f = Arc::new(f);
    wait_for(Duration::from_secs(20), what, || {
        let f = f.clone();
        async move {
            for a in addrs {
                if let Some(t) = f(TabletServiceClient::new(channel(a).await)).await {
                    return Some(t);
                }
            }
            None
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_its_coordinator_never_decides_is_presumed_aborted() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, addrs, a, b) = two_tablets(dir.path()).await;
    let gw = nodes[0].context.gateway.clone();
    put(&gw, b"b/y", b"old").await;
    let txn = 0x2bc_u128 << 64 | 1;
    let prepared_at = prepare_directly(&addrs, b, txn, a, b"b/y", b"doomed").await;

    // A read-only transaction reads above the prepare timestamp, so it must
    // wait for the outcome; the participant asks the coordinator tablet,
    // which knows nothing and records an abort.
    let started = Instant::now();
    let mut ro = gw.read_only();
    assert_eq!(ro.get(b"b/y").await.unwrap(), Some(b"old".to_vec()));
    assert!(ro.timestamp().unwrap() >= prepared_at);
    println!(
        "read blocked by the in-doubt transaction for {:?}",
        started.elapsed()
    );

    let outcome = at_leader(&addrs, "the coordinator's status", |mut c| async move {
        let r = c
            .txn_status(TxnStatusRequest {
                tablet_id: a,
                txn_id: meta(txn, a).txn_id,
            })
            .await
            .ok()?
            .into_inner();
        r.error.is_none().then_some(r.outcome)
    })
    .await;
    assert_eq!(outcome, TxnOutcome::Aborted as i32);

    // The coordinator's decision, arriving late, loses to the recorded abort.
    let late = at_leader(&addrs, "the late decision", |mut c| async move {
        let r = c
            .commit(CommitRequest {
                tablet_id: a,
                txn: Some(meta(txn, a)),
                participants: vec![PreparedParticipant {
                    tablet_id: b,
                    prepare_ts: Some(WireTs {
                        nanos: prepared_at.as_nanos(),
                    }),
                }],
                ..Default::default()
            })
            .await
            .ok()?
            .into_inner();
        match r.error.and_then(|e| e.kind) {
            Some(spanlite_proto::common::tablet_error::Kind::NotLeader(_)) => None,
            other => Some((r.commit_ts, other)),
        }
    })
    .await;
    assert!(
        late.0.is_none(),
        "a decision after the presumed abort committed"
    );
    assert!(
        matches!(
            late.1,
            Some(spanlite_proto::common::tablet_error::Kind::TxnAborted(_))
        ),
        "{late:?}"
    );
    assert_eq!(
        gw.get(b"b/y").await.unwrap(),
        Some(b"old".to_vec()),
        "the aborted write became visible"
    );
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_doubt_participant_keeps_its_locks_and_intents_across_a_full_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, addrs, _, b) = two_tablets(dir.path()).await;
    put(&nodes[0].context.gateway, b"b/z", b"old").await;
    // Its coordinator tablet does not exist, so no one can resolve it but an
    // explicit abort: it stays in doubt.
    let txn = 0x2bc_u128 << 64 | 2;
    prepare_directly(&addrs, b, txn, 999, b"b/z", b"pending").await;
    shutdown(nodes).await;

    let nodes = start_nodes(dir.path(), &addrs).await;
    for n in &nodes {
        let store = n.context.store.clone();
        wait_for(
            Duration::from_secs(20),
            "the prepare record after restart",
            || {
                let store = store.clone();
                async move {
                    let records = load_txn_records(store.mvcc(), b).ok()?;
                    records.prepared(TxnId(txn)).map(|_| ())
                }
            },
        )
        .await;
    }
    // Its exclusive lock was taken again by the new leader: a writer waits
    // and gives up.
    let gw = nodes[1].context.gateway.clone();
    let mut writer = gw.begin_with(&TxnOptions::default()).unwrap();
    writer.put(b"b/z".to_vec(), b"new".to_vec()).unwrap();
    match writer.commit().await {
        Err(e @ GatewayError::Aborted { .. }) => {
            println!("writer blocked by the in-doubt lock: {e}")
        }
        other => panic!("a write went past an in-doubt transaction's lock: {other:?}"),
    }
    // The abort arrives: intents gone, lock released, the value unchanged.
    at_leader(&addrs, "the abort", |mut c| async move {
        let r = c
            .abort(AbortRequest {
                tablet_id: b,
                txn_id: meta(txn, 999).txn_id,
                reason: "test".to_string(),
                fence: false,
            })
            .await
            .ok()?
            .into_inner();
        r.error.is_none().then_some(())
    })
    .await;
    assert_eq!(gw.get(b"b/z").await.unwrap(), Some(b"old".to_vec()));
    gw.run_txn(&TxnOptions::default(), |txn: &mut Txn| {
        Box::pin(async move { txn.put(b"b/z".to_vec(), b"new".to_vec()) })
    })
    .await
    .unwrap();
    for n in &nodes {
        let store = n.context.store.clone();
        wait_for(Duration::from_secs(20), "the record to go", || {
            let store = store.clone();
            async move {
                let records = load_txn_records(store.mvcc(), b).ok()?;
                records.prepared(TxnId(txn)).is_none().then_some(())
            }
        })
        .await;
    }
    shutdown(nodes).await;
}
