//! Admin operations on a live cluster of real nodes in this process, over
//! gRPC: splitting a tablet while clients write (no acknowledged key lost or
//! duplicated), adding, moving and removing replicas, and handing
//! leadership off.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{channel, start_cluster};
use spanlite_directory::{FIRST_DATA_TABLET, KeyRange, USER_KEYS_START};
use spanlite_node::RunningNode;
use spanlite_proto::admin::admin_service_client::AdminServiceClient;
use spanlite_proto::admin::{
    ChangeReplicasRequest, JoinRequest, SplitTabletRequest, TransferLeaderRequest,
};
use spanlite_proto::kv::kv_service_client::KvServiceClient;
use spanlite_proto::kv::{GetRequest, PutRequest, ScanRequest};
use tonic::transport::Channel;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splitting_a_tablet_during_writes_loses_and_duplicates_no_key() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, addrs) = start_cluster(dir.path(), 3).await;
    let acked = Arc::new(Mutex::new(BTreeSet::new()));

    // Writers: 4 tasks, each its own keys, each put retried until it is
    // acknowledged (the gateway itself retries NotLeader/WrongTablet).
    let mut writers = Vec::new();
    for w in 0..4usize {
        let (acked, addr) = (acked.clone(), addrs[w % 3].clone());
        writers.push(tokio::spawn(async move {
            let mut kv = KvServiceClient::new(channel(&addr).await);
            for i in (w..400).step_by(4) {
                let key = format!("k{i:04}");
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let put = PutRequest {
                        key: key.clone().into_bytes(),
                        value: format!("v{i}").into_bytes(),
                    };
                    match kv.put(put).await {
                        Ok(_) => {
                            acked.lock().unwrap().insert(key.clone());
                            break;
                        }
                        Err(e) => {
                            assert!(Instant::now() < deadline, "put {key}: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            }
        }));
    }

    // Split the data tablet at k0200 once writing is under way.
    let start = Instant::now();
    while acked.lock().unwrap().len() < 60 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "writes do not progress"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let right = 'split: loop {
        for a in &addrs {
            let r = AdminServiceClient::new(channel(a).await)
                .split_tablet(SplitTabletRequest {
                    tablet_id: FIRST_DATA_TABLET,
                    split_key: b"k0200".to_vec(),
                })
                .await
                .unwrap()
                .into_inner();
            if r.error.is_empty() {
                break 'split r.right.unwrap();
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no node could split"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let acked_at_split = acked.lock().unwrap().len();
    for w in writers {
        w.await.unwrap();
    }
    let acked: Vec<String> = acked.lock().unwrap().iter().cloned().collect();
    assert_eq!(acked.len(), 400);
    assert!(
        acked_at_split < 400,
        "the split did not happen during the writes"
    );

    // Every acknowledged key exactly once, with its value, across both tablets.
    let scan = KvServiceClient::new(channel(&addrs[1]).await)
        .scan(ScanRequest::default())
        .await
        .unwrap()
        .into_inner();
    let keys: Vec<String> = scan
        .pairs
        .iter()
        .map(|p| String::from_utf8(p.key.clone()).unwrap())
        .collect();
    assert_eq!(keys, acked, "lost or duplicated keys");
    for p in &scan.pairs {
        let i: usize = std::str::from_utf8(&p.key[1..]).unwrap().parse().unwrap();
        assert_eq!(p.value, format!("v{i}").into_bytes());
    }

    // Both tablets have a replica on every node, with the split ranges, and
    // the new tablet took writes.
    let left_range = KeyRange::new(USER_KEYS_START.to_vec(), b"k0200".to_vec());
    let right_range = KeyRange::new(b"k0200".to_vec(), Vec::new());
    for n in &nodes {
        let store = &n.context.store;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = store
                .replica(FIRST_DATA_TABLET)
                .is_some_and(|r| r.range() == left_range)
                && store
                    .replica(right.tablet_id)
                    .is_some_and(|r| r.range() == right_range);
            if ok {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {} lacks the split tablets",
                n.context.node_id
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for k in &acked {
            let deadline = Instant::now() + Duration::from_secs(20);
            while store
                .replica(FIRST_DATA_TABLET)
                .unwrap()
                .get_local(k.as_bytes())
                .unwrap()
                .is_none()
            {
                assert!(
                    Instant::now() < deadline,
                    "node {} misses {k}",
                    n.context.node_id
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    let right_applied = nodes
        .iter()
        .filter_map(|n| n.context.store.replica(right.tablet_id))
        .map(|r| r.applied().index)
        .max()
        .unwrap();
    assert!(
        right_applied > 3,
        "the new tablet took no writes (applied {right_applied})"
    );
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

/// Runs an admin call on each node until one (the leader) accepts it.
async fn on_leader<T, F, Fut>(addrs: &[String], mut call: F) -> T
where
    F: FnMut(AdminServiceClient<Channel>) -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        let mut errors = Vec::new();
        for a in addrs {
            match call(AdminServiceClient::new(channel(a).await)).await {
                Ok(t) => return t,
                Err(e) => errors.push(e),
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no node accepted: {errors:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Moves `tablet`'s replica from node `remove` to node `add` (its leader
/// does it); the voters after.
async fn move_replica(addrs: &[String], tablet: u64, add: u64, remove: u64) -> Vec<u64> {
    on_leader(addrs, |mut c| async move {
        let r = c
            .change_replicas(ChangeReplicasRequest {
                tablet_id: tablet,
                add_node_id: add,
                remove_node_id: remove,
            })
            .await
            .map_err(|s| s.to_string())?
            .into_inner();
        if r.error.is_empty() {
            Ok(r.descriptor.unwrap().replicas)
        } else {
            Err(r.error)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_added_moved_removed_and_leadership_handed_off() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, addrs) = start_cluster(dir.path(), 4).await;
    let tablet = FIRST_DATA_TABLET;
    // init put tablets on nodes 1-3 (the first three that joined node 1).
    let hosting = |nodes: &[RunningNode]| -> Vec<u64> {
        nodes
            .iter()
            .filter(|n| n.context.store.replica(tablet).is_some())
            .map(|n| n.context.node_id)
            .collect()
    };
    let before = hosting(&nodes);
    assert_eq!(before.len(), 3);
    let spare = nodes
        .iter()
        .map(|n| n.context.node_id)
        .find(|id| !before.contains(id))
        .unwrap();
    let mut kv = KvServiceClient::new(channel(&addrs[0]).await);
    for i in 0..50 {
        let put = PutRequest {
            key: format!("r{i:03}").into_bytes(),
            value: format!("v{i}").into_bytes(),
        };
        kv.put(put).await.unwrap();
    }

    // Move a replica from one of the three to the spare node.
    let from = before[0];
    let voters = move_replica(&addrs, tablet, spare, from).await;
    let mut expect: Vec<u64> = before
        .iter()
        .copied()
        .filter(|&n| n != from)
        .chain([spare])
        .collect();
    expect.sort_unstable();
    let mut got = voters.clone();
    got.sort_unstable();
    assert_eq!(got, expect);
    assert!(hosting(&nodes).contains(&spare));
    assert!(
        !hosting(&nodes).contains(&from),
        "the removed node kept its replica"
    );
    // The same move asked again (as after a lost answer or a timeout)
    // finds it done and succeeds with the same voters.
    let mut again = move_replica(&addrs, tablet, spare, from).await;
    again.sort_unstable();
    assert_eq!(again, expect, "the repeated move");
    // A move onto a node that was voting already (a stale or wrong
    // request, not a repeat) is refused and removes nothing: the tablet
    // keeps its three voters.
    let other = expect.iter().copied().find(|&n| n != spare).unwrap();
    let leader_addr = nodes
        .iter()
        .zip(&addrs)
        .find(|(n, _)| {
            n.context
                .store
                .replica(tablet)
                .is_some_and(|r| r.is_serving())
        })
        .map(|(_, a)| a.clone())
        .unwrap();
    let refused = AdminServiceClient::new(channel(&leader_addr).await)
        .change_replicas(ChangeReplicasRequest {
            tablet_id: tablet,
            add_node_id: spare,
            remove_node_id: other,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        refused.error.contains("already holds a voting replica"),
        "{refused:?}"
    );
    let mut still = hosting(&nodes);
    still.sort_unstable();
    assert_eq!(still, expect, "a refused move removed a replica");

    // The new replica holds every earlier write; writes go on.
    let spare_node = nodes.iter().find(|n| n.context.node_id == spare).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    for i in 0..50 {
        let key = format!("r{i:03}");
        while spare_node
            .context
            .store
            .replica(tablet)
            .unwrap()
            .get_local(key.as_bytes())
            .unwrap()
            .is_none()
        {
            assert!(
                Instant::now() < deadline,
                "the moved-to replica misses {key}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    kv.put(PutRequest {
        key: b"after-move".to_vec(),
        value: b"ok".to_vec(),
    })
    .await
    .unwrap();

    // Hand leadership off, to each other voter in turn: the one named
    // leads afterwards (it campaigns before the others' timers fire; with
    // the old step-down, whichever voter won led).
    let leader_now = || {
        nodes
            .iter()
            .find(|n| {
                n.context
                    .store
                    .replica(tablet)
                    .is_some_and(|r| r.is_serving())
            })
            .map(|n| n.context.node_id)
    };
    let term_now = || {
        nodes
            .iter()
            .filter_map(|n| n.context.store.replica(tablet))
            .map(|r| r.raft().metrics().borrow().current_term)
            .max()
            .unwrap_or(0)
    };
    for round in 0..4 {
        let leader_before = common::wait_for(Duration::from_secs(10), "a leader", || async {
            leader_now()
        })
        .await;
        let others: Vec<u64> = voters
            .iter()
            .copied()
            .filter(|&v| v != leader_before)
            .collect();
        let target = others[round % others.len()];
        let term_before = term_now();
        let new_leader = on_leader(&addrs, |mut c| async move {
            let r = c
                .transfer_leader(TransferLeaderRequest {
                    tablet_id: tablet,
                    to_node_id: target,
                })
                .await
                .map_err(|s| s.to_string())?
                .into_inner();
            if r.error.is_empty() {
                Ok(r.leader_node_id)
            } else {
                Err(r.error)
            }
        })
        .await;
        assert_eq!(
            new_leader, target,
            "hand-off {round} from node {leader_before}"
        );
        // One election, or a few: the candidate does not stand again while
        // its election is under way (it once did, on every new term it saw,
        // running up thousands of terms).
        let term = term_now();
        assert!(
            term <= term_before + 3,
            "hand-off {round}: term {term_before} → {term}"
        );
    }
    let got = kv
        .get(GetRequest {
            key: b"after-move".to_vec(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.value, b"ok".to_vec());
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

/// A Join whose address would add a line to the identity file (the old
/// `node_id=` injection, after which the node refused every restart) is
/// refused before anything is stored; the node restarts as itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_with_a_malformed_address_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, addrs) = start_cluster(dir.path(), 3).await;
    let mut admin = AdminServiceClient::new(channel(&addrs[0]).await);
    for address in ["127.0.0.1:7009\nnode_id=9", "127.0.0.1", "evil host:1"] {
        let refused = admin
            .join(JoinRequest {
                node: Some(spanlite_proto::common::NodeAddress {
                    node_id: 7,
                    address: address.to_string(),
                }),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
        assert!(
            refused.message().contains("invalid node address"),
            "{refused:?}"
        );
    }
    // Wherever the harness put the nodes' data.
    let mut files = Vec::new();
    walk(dir.path(), "NODE_IDENTITY", &mut files);
    assert_eq!(files.len(), 3, "{files:?}");
    for f in files {
        let identity = std::fs::read_to_string(&f).unwrap();
        assert!(!identity.contains("7009"), "{f:?}: {identity}");
    }
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

/// Every file called `name` under `dir`.
fn walk(dir: &std::path::Path, name: &str, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.file_name().is_some_and(|n| n == name) {
            out.push(path);
        } else if path.is_dir() {
            walk(&path, name, out);
        }
    }
}

/// A node holding a tablet as a learner — the first step of adding a
/// replica (`ChangeReplicas` adds a learner, then promotes it) — when the
/// tablet splits is no member of the new tablet's group (its first voters
/// are the parent's). It used to record the new tablet anyway, fail to
/// start its group ("node 4 has to be a member"), and then fail to open its
/// store on every restart. Now it keeps no replica, no record and no data
/// of the new tablet, and restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_when_its_tablet_splits_keeps_none_of_the_new_tablet_and_restarts() {
    use spanlite_node::NodeConfig;
    use spanlite_node::embedded::EmbeddedCluster;
    use spanlite_node::ops::split::SplitSettings;
    use spanlite_replica::raft::Node;
    use spanlite_session::Session;
    use spanlite_sql::Value;

    // Nothing moves or splits unless the test says so.
    let quiet = |c: &mut NodeConfig| {
        c.split = SplitSettings {
            size: 0,
            qps: 0,
            check_every: Duration::from_secs(3600),
            merge_after: Duration::ZERO,
        };
        c.allocator.every = Duration::ZERO;
    };
    let mut cluster = EmbeddedCluster::start_with(3, &quiet).await.unwrap();
    let four = cluster.add_node(&quiet).await.unwrap();
    let mut s = Session::on(cluster.schema_of(0));
    for sql in [
        "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)",
        "INSERT INTO t SELECT g, 7 FROM generate_series(0, 99) AS g",
    ] {
        let r = s.run(sql).await.pop().unwrap();
        assert!(r.is_ok(), "{sql}: {r:?}");
    }
    let def = s.table("t").await.unwrap().unwrap();
    let (rows_start, _) = def.key_range();
    let row = def.row_key(&[Value::Int(5)]).unwrap();

    // Node 4 becomes a learner of the data tablet and catches up.
    fn node(cluster: &EmbeddedCluster, id: u64) -> &spanlite_node::RunningNode {
        cluster
            .nodes()
            .iter()
            .find(|n| n.context.node_id == id)
            .unwrap()
    }
    let range = node(&cluster, 1)
        .context
        .store
        .replica(FIRST_DATA_TABLET)
        .unwrap()
        .range();
    node(&cluster, four)
        .context
        .store
        .create_replica(FIRST_DATA_TABLET, range, 0)
        .await
        .unwrap();
    let addr = cluster.addrs()[3].clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let leader = cluster.nodes().iter().find_map(|n| {
            n.context
                .store
                .replica(FIRST_DATA_TABLET)
                .filter(|r| r.is_serving())
        });
        if let Some(leader) = leader
            && leader
                .raft()
                .add_learner(four, Node { addr: addr.clone() }, true)
                .await
                .is_ok()
        {
            break;
        }
        assert!(Instant::now() < deadline, "node 4 never became a learner");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let learner = node(&cluster, four).context.store.clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    while learner.mvcc().latest_version(&row).unwrap().is_none() {
        assert!(Instant::now() < deadline, "the learner never got row 5");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The split: t's rows go to a new tablet whose voters are nodes 1–3.
    let new = cluster.split(FIRST_DATA_TABLET, &rows_start).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while learner
        .replica(FIRST_DATA_TABLET)
        .is_some_and(|r| r.range().end != rows_start)
    {
        assert!(
            Instant::now() < deadline,
            "the learner never applied the split"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The record and the data go right after the split is applied.
    let deadline = Instant::now() + Duration::from_secs(30);
    while learner.mvcc().latest_version(&row).unwrap().is_some() {
        assert!(
            Instant::now() < deadline,
            "the learner kept the new tablet's rows"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(learner.replica(new).is_none());
    drop(learner);

    cluster.stop_node(four).await.unwrap();
    cluster
        .restart_node(four, &quiet)
        .await
        .expect("node 4 restarts");
    assert!(node(&cluster, four).context.store.replica(new).is_none());
    // Redo did not bring the rows back (the discard flushed the parent's
    // applied state past the split).
    assert!(
        node(&cluster, four)
            .context
            .store
            .mvcc()
            .latest_version(&row)
            .unwrap()
            .is_none()
    );
    assert!(
        node(&cluster, four)
            .context
            .store
            .replica(FIRST_DATA_TABLET)
            .is_some()
    );
    let r = s.run("SELECT count(*), sum(v) FROM t").await.pop().unwrap();
    assert_eq!(
        r.unwrap().rows,
        vec![vec![Value::Int(100), Value::Int(700)]]
    );
    cluster.shutdown().await;
}
