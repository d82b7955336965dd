//! Replicated tablets: leaders fail over, restarted and wiped replicas catch
//! up, and a partitioned leader stops serving once its lease runs out. Every
//! test ends by checking that every acknowledged write is on every replica.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{Cluster, kv, tablet_range, test_timing};
use spanlite_replica::tablet::TabletError;
use spanlite_txn::Mutation;

const TABLET: u64 = 1;
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_killed_new_leader_elected_writes_continue_and_restarted_node_catches_up() {
    let timing = test_timing();
    let tablets: Vec<u64> = (1..=10).collect();
    let mut cluster = Cluster::start(3, &tablets, timing).await;
    let mut acked: BTreeMap<u64, BTreeMap<Vec<u8>, Vec<u8>>> = BTreeMap::new();
    for &t in &tablets {
        for i in 0..5 {
            let (k, v) = kv(t, i);
            cluster.put(t, &k, &v, WAIT).await;
            acked.entry(t).or_default().insert(k, v);
        }
    }
    for (&t, keys) in &acked {
        cluster.wait_converged(t, keys, WAIT).await;
    }

    // Kill the node leading tablet 1 (it leads others too, typically): every
    // tablet has a serving leader within 3× the election timeout.
    let old = cluster.leader(TABLET, WAIT).await;
    cluster.nodes[old].stop().await;
    let killed_at = Instant::now();
    for &t in &tablets {
        let new = cluster
            .leader(t, timing.election_max * 3 + Duration::from_secs(1))
            .await;
        assert_ne!(new, old);
    }
    let failover = killed_at.elapsed();
    assert!(
        failover <= timing.election_max * 3,
        "failover of every tablet took {failover:?}, more than 3× the election timeout"
    );

    // Writes continue on every tablet.
    for &t in &tablets {
        for i in 5..10 {
            let (k, v) = kv(t, i);
            cluster.put(t, &k, &v, WAIT).await;
            acked.entry(t).or_default().insert(k, v);
        }
    }

    // Restart the killed node from its data dir: recovery, then catch-up of
    // every tablet.
    cluster.nodes[old].restart().await;
    for (&t, keys) in &acked {
        cluster.wait_converged(t, keys, WAIT).await;
    }
    cluster.stop().await;
}

/// A follower that missed many large writes catches up. openraft gives an
/// AppendEntries one heartbeat; a catch-up batch of hundreds of 64 KiB
/// entries (megabytes) never arrived in time, so the follower stayed
/// behind for good (found by the Jepsen soak, whose values grow). The log
/// reader now bounds a batch by bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_far_behind_on_large_entries_catches_up() {
    let timing = test_timing();
    let mut cluster = Cluster::start(3, &[TABLET], timing).await;
    let leader = cluster.leader(TABLET, WAIT).await;
    let behind = (leader + 1) % 3;
    cluster.nodes[behind].stop().await;
    let mut acked = BTreeMap::new();
    for i in 0..200 {
        let (key, _) = kv(TABLET, i);
        let value = vec![(i % 251) as u8; 64 << 10];
        cluster.put(TABLET, &key, &value, WAIT).await;
        acked.insert(key, value);
    }
    cluster.nodes[behind].restart().await;
    cluster.wait_converged(TABLET, &acked, WAIT).await;
    cluster.stop().await;
}

/// Claim: small Raft messages travel on the call streams between nodes
/// (one message each way, not a gRPC call each), large ones as calls of
/// their own, and both replicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raft_appends_travel_on_call_streams_and_large_ones_as_calls() {
    let timing = test_timing();
    let mut cluster = Cluster::start(3, &[TABLET], timing).await;
    let leader = cluster.leader(TABLET, WAIT).await;
    let before = cluster.nodes[leader].store().raft_streamed_calls();
    let mut acked = BTreeMap::new();
    for i in 0..20 {
        let (k, v) = kv(TABLET, i);
        cluster.put(TABLET, &k, &v, WAIT).await;
        acked.insert(k, v);
    }
    // Larger than a streamed message may be.
    let (k, _) = kv(TABLET, 20);
    let large = vec![7u8; 100 << 10];
    cluster.put(TABLET, &k, &large, WAIT).await;
    acked.insert(k, large);
    cluster.wait_converged(TABLET, &acked, WAIT).await;
    let streamed = cluster.nodes[leader].store().raft_streamed_calls() - before;
    // Each put is at least one append to each of two followers.
    assert!(
        streamed >= 20,
        "the leader sent {streamed} Raft messages on its streams for 21 writes"
    );
    cluster.stop().await;
}

/// Claim: one-phase commits that queue while a tablet's leader makes its
/// last entry durable (openraft 0.9 appends one client write at a time and
/// waits for its fsync) share the next entry, and each commit still gets
/// its own answer (its own timestamp) and is on every replica. With one
/// entry per commit, 64 concurrent commits took 64 entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commits_share_raft_entries_and_each_gets_its_own_answer() {
    let timing = test_timing();
    let mut cluster = Cluster::start(3, &[TABLET], timing).await;
    let leader = cluster.leader(TABLET, WAIT).await;
    let replica = cluster.nodes[leader].replica(TABLET).unwrap();
    let before = replica.applied().index;
    let mut writes = tokio::task::JoinSet::new();
    let mut acked = BTreeMap::new();
    const COMMITS: usize = 64;
    for i in 0..COMMITS {
        let (k, v) = kv(TABLET, i);
        acked.insert(k.clone(), v.clone());
        let replica = replica.clone();
        writes.spawn(async move {
            replica
                .write(vec![Mutation::Put { key: k, value: v }])
                .await
        });
    }
    let mut stamps = BTreeSet::new();
    while let Some(done) = writes.join_next().await {
        let ts = done.unwrap().expect("a commit on a stable leader");
        stamps.insert(ts);
    }
    assert_eq!(stamps.len(), COMMITS, "every commit has its own timestamp");
    let entries = replica.applied().index - before;
    println!("{COMMITS} concurrent commits took {entries} Raft entries");
    assert!(
        entries < COMMITS as u64,
        "{COMMITS} concurrent commits took {entries} Raft entries: none were batched"
    );
    cluster.wait_converged(TABLET, &acked, WAIT).await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_leader_stops_serving_when_its_lease_expires() {
    let timing = test_timing();
    let mut cluster = Cluster::start(3, &[TABLET], timing).await;
    let (k, v) = kv(TABLET, 1);
    cluster.put(TABLET, &k, &v, WAIT).await;
    let old = cluster.leader(TABLET, WAIT).await;
    let replica = cluster.nodes[old].replica(TABLET).unwrap();
    assert_eq!(replica.get(&k).await.unwrap(), Some(v.clone()));

    cluster.isolate(old);
    let cut = Instant::now();
    let lease = cluster.nodes[old].store().lease_duration();
    // Leases are disjoint: sampled every 2 ms from the cut until another
    // replica serves, never two serving leaders at once.
    let mut stopped_after = None;
    loop {
        let serving: Vec<usize> = (0..cluster.nodes.len())
            .filter(|&i| {
                cluster.nodes[i]
                    .replica(TABLET)
                    .is_some_and(|r| r.is_serving())
            })
            .collect();
        assert!(
            serving.len() <= 1,
            "two serving leaders at once: {serving:?}"
        );
        if !serving.contains(&old) && stopped_after.is_none() {
            stopped_after = Some(cut.elapsed());
        }
        if serving.iter().any(|&i| i != old) {
            break;
        }
        assert!(cut.elapsed() < WAIT, "no new leader after the partition");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let stopped_after = stopped_after.unwrap_or_default();
    assert!(
        stopped_after <= lease + timing.heartbeat * 4,
        "stopped serving {stopped_after:?} after the cut; lease is {lease:?}"
    );
    match replica.get(&k).await {
        Err(TabletError::NotLeader { .. }) => {}
        other => panic!("a leaseless leader served a read: {other:?}"),
    }
    let put = Mutation::Put {
        key: kv(TABLET, 999).0,
        value: b"x".to_vec(),
    };
    assert!(matches!(
        replica.write(vec![put]).await,
        Err(TabletError::NotLeader { .. })
    ));

    // The majority elects a new leader and keeps accepting writes.
    let mut acked = BTreeMap::from([(k, v)]);
    for i in 2..10 {
        let (k, v) = kv(TABLET, i);
        cluster.put(TABLET, &k, &v, WAIT).await;
        acked.insert(k, v);
    }
    assert_ne!(cluster.leader(TABLET, WAIT).await, old);
    cluster.heal();
    cluster.wait_converged(TABLET, &acked, WAIT).await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wiped_replica_re_added_gets_a_snapshot() {
    let mut timing = test_timing();
    timing.snapshot_every = 50;
    let mut cluster = Cluster::start(3, &[TABLET], timing).await;
    let mut acked = BTreeMap::new();
    for i in 0..200 {
        let (k, v) = kv(TABLET, i);
        cluster.put(TABLET, &k, &v, WAIT).await;
        acked.insert(k, v);
    }
    cluster.wait_converged(TABLET, &acked, WAIT).await;

    // Remove a follower from the group and wipe its replica.
    let leader = cluster.leader(TABLET, WAIT).await;
    let victim = (leader + 1) % 3;
    let victim_id = cluster.nodes[victim].id;
    let raft = cluster.nodes[leader]
        .replica(TABLET)
        .unwrap()
        .raft()
        .clone();
    let remaining: BTreeSet<_> = cluster
        .voters()
        .into_iter()
        .filter(|&id| id != victim_id)
        .collect();
    raft.change_membership(remaining.clone(), false)
        .await
        .unwrap();
    cluster.nodes[victim]
        .store()
        .destroy_replica(TABLET)
        .await
        .unwrap();
    assert!(cluster.nodes[victim].replica(TABLET).is_none());

    // Writes continue on two voters; the log is compacted past the wipe.
    for i in 200..300 {
        let (k, v) = kv(TABLET, i);
        cluster.put(TABLET, &k, &v, WAIT).await;
        acked.insert(k, v);
    }

    // Re-add it: empty replica, learner, then voter. Its log starts past
    // the leader's purged prefix, so it must be sent a snapshot.
    let fresh = cluster.nodes[victim]
        .store()
        .create_replica(TABLET, tablet_range(TABLET), 0)
        .await
        .unwrap();
    assert_eq!(
        fresh.get_local(&kv(TABLET, 0).0).unwrap(),
        None,
        "the wipe left data behind"
    );
    raft.add_learner(victim_id, cluster.nodes[victim].node(), true)
        .await
        .unwrap();
    raft.change_membership(cluster.voters(), false)
        .await
        .unwrap();
    cluster.wait_converged(TABLET, &acked, WAIT).await;
    let installed = fresh.raft().metrics().borrow().snapshot;
    assert!(
        installed.is_some(),
        "the re-added replica caught up without a snapshot"
    );
    cluster.stop().await;
}
