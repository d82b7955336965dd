//! The anomaly suite for every concurrency control mode (DESIGN.md §6):
//! 2PL, OCC and SSI prevent every anomaly; SI prevents lost updates,
//! dirty reads and read skew but allows write skew, which is asserted; RC
//! (read committed) prevents dirty reads and lost updates of what it reads
//! for update, and allows write skew and, between statements,
//! non-repeatable reads, which are asserted.
//! Also: transactions of different modes on the same keys stay
//! serializable. One 3-node cluster in this process per test; each mode
//! uses its own keys.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{int, now, read, set, start_cluster};
use spanlite_gateway::{Gateway, GatewayError, Transaction, TxnMode};
use spanlite_storage::mvcc::TxnId;
use spanlite_truetime::Timestamp;
use spanlite_txn::AbortReason;
use tokio::sync::Barrier;

static NEXT_TXN: AtomicU64 = AtomicU64::new(1);

fn begin(gw: &Gateway, mode: TxnMode, priority: Timestamp) -> Transaction {
    gw.begin_mode(
        TxnId(u128::from(NEXT_TXN.fetch_add(1, Ordering::SeqCst)) | (7 << 100)),
        priority,
        mode,
    )
}

fn key(mode: TxnMode, name: &str) -> String {
    format!("{mode}/{name}")
}

/// Increments `counter` `times` times in `mode`, each a read-modify-write
/// transaction retried until it commits; returns the aborts seen. Under RC
/// the read is for update, as an `UPDATE … SET v = v + 1` reads its row: a
/// plain read there is a statement's snapshot, and writing what it read
/// can lose an update, as in PostgreSQL's read committed.
async fn increment(gw: Gateway, mode: TxnMode, counter: String, times: usize) -> usize {
    let mut aborts = 0;
    for _ in 0..times {
        let priority = now();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(Instant::now() < deadline, "{mode}: an increment starved");
            let mut txn = begin(&gw, mode, priority);
            let for_update = mode == TxnMode::ReadCommitted;
            let v = match txn.get(counter.as_bytes(), for_update).await {
                Ok(v) => int(v),
                Err(e) if e.is_retryable() => {
                    aborts += 1;
                    txn.rollback().await;
                    continue;
                }
                Err(e) => panic!("{mode} read: {e}"),
            };
            txn.put(
                counter.clone().into_bytes(),
                (v + 1).to_string().into_bytes(),
            );
            match txn.commit().await {
                Ok(_) => break,
                Err(GatewayError::Aborted { .. }) => {
                    aborts += 1;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err(e) => panic!("{mode} commit: {e}"),
            }
        }
    }
    aborts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_update_is_prevented_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = start_cluster(dir.path(), 3).await;
    let gws: Vec<Gateway> = nodes.iter().map(|n| n.context.gateway.clone()).collect();
    for mode in TxnMode::ALL {
        let counter = key(mode, "counter");
        set(&gws[0], &counter, 0).await;
        let mut tasks = Vec::new();
        for c in 0..4 {
            tasks.push(tokio::spawn(increment(
                gws[c % 3].clone(),
                mode,
                counter.clone(),
                5,
            )));
        }
        let mut aborts = 0;
        for t in tasks {
            aborts += t.await.unwrap();
        }
        assert_eq!(
            read(&gws[1], &counter).await,
            20,
            "{mode}: an increment was lost"
        );
        println!("{mode}: 20 increments, {aborts} aborts");
    }
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_of_different_modes_on_one_key_stay_serializable() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = start_cluster(dir.path(), 3).await;
    let gws: Vec<Gateway> = nodes.iter().map(|n| n.context.gateway.clone()).collect();
    set(&gws[0], "mixed/counter", 0).await;
    let mut tasks = Vec::new();
    let modes = [
        TxnMode::TwoPhaseLocking,
        TxnMode::Optimistic,
        TxnMode::SerializableSnapshot,
    ];
    for (i, mode) in modes.into_iter().cycle().take(6).enumerate() {
        tasks.push(tokio::spawn(increment(
            gws[i % 3].clone(),
            mode,
            "mixed/counter".to_string(),
            5,
        )));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        read(&gws[0], "mixed/counter").await,
        30,
        "an increment was lost between modes"
    );
    // Write skew between every pair of serializable modes.
    for (a, b) in [
        (TxnMode::TwoPhaseLocking, TxnMode::Optimistic),
        (TxnMode::Optimistic, TxnMode::SerializableSnapshot),
        (TxnMode::SerializableSnapshot, TxnMode::TwoPhaseLocking),
    ] {
        let prefix = format!("mixed/{a}-{b}");
        let on_call = doctors(&gws[0], &prefix, [a, b]).await;
        assert!(on_call >= 1, "write skew between {a} and {b}");
    }
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

/// What one racer of [`race`] reads, then what it writes (if anything).
type Decide = for<'a> fn(
    &'a mut Transaction,
    &'a str,
    usize,
) -> Pin<
    Box<dyn Future<Output = Result<Option<(String, i64)>, GatewayError>> + Send + 'a>,
>;

/// Two transactions, one in each of `modes`, each retried until it
/// commits: `decide(txn, prefix, me)` reads and names a key and the value
/// to write there.
/// Both have read (or failed to) before either commits, the skew races.
async fn race(gw: &Gateway, prefix: &str, modes: [TxnMode; 2], decide: Decide) {
    let barrier = Arc::new(Barrier::new(2));
    let mut tasks = Vec::new();
    for (me, mode) in modes.into_iter().enumerate() {
        let (gw, barrier, prefix) = (gw.clone(), barrier.clone(), prefix.to_string());
        tasks.push(tokio::spawn(async move {
            let priority = now();
            let mut first = true;
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                assert!(Instant::now() < deadline, "{mode}: starved");
                let mut txn = begin(&gw, mode, priority);
                let write = decide(&mut txn, &prefix, me).await;
                if first {
                    barrier.wait().await;
                    first = false;
                }
                match write {
                    Ok(Some((key, v))) => txn.put(key.into_bytes(), v.to_string().into_bytes()),
                    Ok(None) => {}
                    Err(e) if e.is_retryable() => {
                        txn.rollback().await;
                        continue;
                    }
                    Err(e) => panic!("{e}"),
                }
                match txn.commit().await {
                    Ok(_) => return,
                    Err(GatewayError::Aborted { .. }) => continue,
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Two doctors on call (`x`, `y` = 1); each, in its mode, goes off call
/// (sets its key to 0) only if both are on call. Both read before either
/// commits. Returns how many are on call after.
async fn doctors(gw: &Gateway, prefix: &str, modes: [TxnMode; 2]) -> i64 {
    let (x, y) = (format!("{prefix}/x"), format!("{prefix}/y"));
    set(gw, &x, 1).await;
    set(gw, &y, 1).await;
    race(gw, prefix, modes, |txn, prefix, me| {
        Box::pin(async move {
            let x = int(txn.get(format!("{prefix}/x").as_bytes(), false).await?);
            let y = int(txn.get(format!("{prefix}/y").as_bytes(), false).await?);
            let mine = if me == 0 { "x" } else { "y" };
            Ok((x + y == 2).then(|| (format!("{prefix}/{mine}"), 0)))
        })
    })
    .await;
    read(gw, &x).await + read(gw, &y).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_skew_is_prevented_except_under_snapshot_isolation() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = start_cluster(dir.path(), 3).await;
    let gw = nodes[0].context.gateway.clone();
    for mode in TxnMode::ALL {
        let on_call = doctors(&gw, &key(mode, "oncall"), [mode, mode]).await;
        if !mode.is_serializable() {
            assert_eq!(
                on_call, 0,
                "{mode}: both read the snapshot, wrote different keys and committed (write skew)"
            );
        } else {
            assert!(on_call >= 1, "{mode}: write skew, nobody is on call");
        }
    }
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_validation_says_so_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = start_cluster(dir.path(), 3).await;
    let gw = nodes[0].context.gateway.clone();
    for mode in [TxnMode::Optimistic, TxnMode::SerializableSnapshot] {
        let (a, b) = (key(mode, "v/a"), key(mode, "v/b"));
        set(&gw, &a, 1).await;
        let mut txn = begin(&gw, mode, now());
        assert_eq!(int(txn.get(a.as_bytes(), false).await.unwrap()), 1);
        // Someone else commits a new version of what it read.
        set(&gw, &a, 2).await;
        txn.put(b.clone().into_bytes(), b"9".to_vec());
        match txn.commit().await {
            Err(GatewayError::Aborted { reason, message }) => {
                assert_eq!(reason, AbortReason::ReadChanged, "{mode}: {message}")
            }
            other => panic!("{mode}: a stale read committed: {other:?}"),
        }
        assert_eq!(
            read(&gw, &b).await,
            0,
            "{mode}: an aborted write is visible"
        );
    }
    // SI and SSI: a blind write over a version newer than the snapshot
    // loses (first committer wins); OCC has nothing to validate.
    for mode in [TxnMode::SerializableSnapshot, TxnMode::Snapshot] {
        let (a, c) = (key(mode, "w/a"), key(mode, "w/c"));
        set(&gw, &a, 1).await;
        let mut txn = begin(&gw, mode, now());
        txn.get(a.as_bytes(), false).await.unwrap();
        set(&gw, &c, 5).await;
        txn.put(c.clone().into_bytes(), b"6".to_vec());
        match txn.commit().await {
            Err(GatewayError::Aborted { reason, message }) => {
                assert_eq!(reason, AbortReason::WriteConflict, "{mode}: {message}")
            }
            other => panic!("{mode}: lost the first committer's write: {other:?}"),
        }
        assert_eq!(read(&gw, &c).await, 5);
    }
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dirty_reads_are_prevented_and_own_writes_read_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = start_cluster(dir.path(), 3).await;
    let gw = nodes[0].context.gateway.clone();
    for mode in TxnMode::ALL {
        let acct = key(mode, "acct");
        set(&gw, &acct, 100).await;
        let mut writer = begin(&gw, mode, now());
        writer.put(acct.clone().into_bytes(), b"0".to_vec());
        assert_eq!(int(writer.get(acct.as_bytes(), false).await.unwrap()), 0);
        let mut reader = begin(&gw, mode, now());
        assert_eq!(
            int(reader.get(acct.as_bytes(), false).await.unwrap()),
            100,
            "{mode}: dirty read"
        );
        reader.commit().await.unwrap();
        writer.rollback().await;
        assert_eq!(read(&gw, &acct).await, 100);
    }
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_skew_never_commits_in_any_mode() {
    // Transfers keep a + b = 100 while readers sum them. SSI and SI read
    // one snapshot, so every sum is 100; OCC reads the newest data each
    // time, so a reader may see a torn sum, but then its commit fails
    // validation: no committed transaction saw one.
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = start_cluster(dir.path(), 3).await;
    let gws: Vec<Gateway> = nodes.iter().map(|n| n.context.gateway.clone()).collect();
    for mode in TxnMode::ALL {
        let (a, b) = (key(mode, "bal/a"), key(mode, "bal/b"));
        set(&gws[0], &a, 50).await;
        set(&gws[0], &b, 50).await;
        let transfers = {
            let (gw, a, b) = (gws[1].clone(), a.clone(), b.clone());
            tokio::spawn(async move {
                for i in 0..15 {
                    let priority = now();
                    loop {
                        let mut t = begin(&gw, TxnMode::TwoPhaseLocking, priority);
                        let r = async {
                            let va = int(t.get(a.as_bytes(), true).await?);
                            let vb = int(t.get(b.as_bytes(), true).await?);
                            let amount = if i % 2 == 0 { 7 } else { -7 };
                            t.put(
                                a.clone().into_bytes(),
                                (va - amount).to_string().into_bytes(),
                            );
                            t.put(
                                b.clone().into_bytes(),
                                (vb + amount).to_string().into_bytes(),
                            );
                            Ok::<_, GatewayError>(())
                        }
                        .await;
                        match r {
                            Ok(()) => match t.commit().await {
                                Ok(_) => break,
                                Err(GatewayError::Aborted { .. }) => continue,
                                Err(e) => panic!("{e}"),
                            },
                            Err(e) if e.is_retryable() => t.rollback().await,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        };
        // Readers run while the transfers do, and on until one commits
        // (an OCC reader may fail validation as long as transfers run).
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut committed, mut torn, mut aborted) = (0, 0, 0);
        while !transfers.is_finished() || committed == 0 {
            assert!(Instant::now() < deadline, "{mode}: no reader committed");
            let mut t = begin(&gws[0], mode, now());
            let r = async {
                let va = int(t.get(a.as_bytes(), false).await?);
                tokio::task::yield_now().await;
                let vb = int(t.get(b.as_bytes(), false).await?);
                Ok::<_, GatewayError>(va + vb)
            }
            .await;
            match r {
                Ok(sum) => {
                    if sum != 100 {
                        assert_eq!(mode, TxnMode::Optimistic, "{mode}: read skew, sum {sum}");
                        torn += 1;
                    }
                    match t.commit().await {
                        Ok(_) => {
                            assert_eq!(sum, 100, "{mode}: committed a read skew");
                            committed += 1;
                        }
                        Err(GatewayError::Aborted { .. }) => aborted += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
                Err(e) if e.is_retryable() => t.rollback().await,
                Err(e) => panic!("{e}"),
            }
        }
        transfers.await.unwrap();
        println!(
            "{mode}: {committed} readers committed, {aborted} aborted at commit, {torn} saw a torn sum"
        );
        if matches!(mode, TxnMode::SerializableSnapshot | TxnMode::Snapshot) {
            // One snapshot: serializable as read, whatever was written since.
            assert_eq!(aborted, 0, "{mode}: a read-only snapshot reader aborted");
        }
        assert_eq!(read(&gws[0], &a).await + read(&gws[0], &b).await, 100);
    }
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_reader_commits_at_its_snapshot_after_later_writes() {
    // A transaction that only read: under SSI and SI it read one snapshot
    // and commits there, before a write that committed meanwhile. OCC read
    // the newest value, now stale, so it must fail validation; SI's
    // `FOR UPDATE` read is validated as PostgreSQL's repeatable read does.
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = start_cluster(dir.path(), 3).await;
    let gw = nodes[0].context.gateway.clone();
    let cases = [
        (TxnMode::Optimistic, false, false),
        (TxnMode::SerializableSnapshot, false, true),
        (TxnMode::SerializableSnapshot, true, true),
        (TxnMode::Snapshot, false, true),
        (TxnMode::Snapshot, true, false),
    ];
    for (i, (mode, for_update, commits)) in cases.into_iter().enumerate() {
        let k = key(mode, &format!("report/{i}"));
        set(&gw, &k, 1).await;
        let mut reader = begin(&gw, mode, now());
        assert_eq!(int(reader.get(k.as_bytes(), for_update).await.unwrap()), 1);
        let mut writer = begin(&gw, TxnMode::TwoPhaseLocking, now());
        writer.put(k.clone().into_bytes(), b"2".to_vec());
        let written = writer.commit().await.unwrap();
        match reader.commit().await {
            Ok(at) => {
                assert!(
                    commits,
                    "{mode} (for update: {for_update}) committed a stale read"
                );
                assert!(
                    at < written,
                    "{mode}: committed at {at}, not before {written}"
                );
            }
            Err(GatewayError::Aborted { reason, message }) => {
                assert!(
                    !commits,
                    "{mode} (for update: {for_update}) aborted: {message}"
                );
                assert_eq!(reason, AbortReason::ReadChanged, "{message}");
            }
            Err(e) => panic!("{mode}: {e}"),
        }
        assert_eq!(read(&gw, &k).await, 2);
    }
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phantom_write_skew_is_prevented_except_under_snapshot_isolation() {
    // At most 3 employees: each transaction counts the rows of a range and
    // inserts one if there are fewer than 3. Both count before either
    // commits. Serializable: 3 rows. SI: both insert (a phantom skew).
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = start_cluster(dir.path(), 3).await;
    let gw = nodes[0].context.gateway.clone();
    for mode in TxnMode::ALL {
        let prefix = key(mode, "emp/");
        let end = key(mode, "emp0");
        set(&gw, &format!("{prefix}1"), 1).await;
        set(&gw, &format!("{prefix}2"), 1).await;
        race(&gw, &prefix, [mode, mode], |txn, prefix, me| {
            Box::pin(async move {
                let end = format!("{}0", prefix.trim_end_matches('/'));
                let rows = txn.scan(prefix.as_bytes(), end.as_bytes()).await?;
                Ok((rows.len() < 3).then(|| (format!("{prefix}3{me}"), 1)))
            })
        })
        .await;
        let rows = gw
            .scan(
                &spanlite_directory::KeyRange::new(
                    prefix.clone().into_bytes(),
                    end.clone().into_bytes(),
                ),
                0,
            )
            .await
            .unwrap()
            .len();
        if !mode.is_serializable() {
            assert_eq!(rows, 4, "{mode}: both counted 2 and inserted");
        } else {
            assert_eq!(rows, 3, "{mode}: phantom, {rows} employees");
        }
    }
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_reads_each_statement_fresh_and_locks_what_it_updates() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = start_cluster(dir.path(), 3).await;
    let gw = nodes[0].context.gateway.clone();
    let mode = TxnMode::ReadCommitted;
    let (a, b) = (key(mode, "fresh/a"), key(mode, "fresh/b"));
    set(&gw, &a, 1).await;
    set(&gw, &b, 1).await;

    // Within a statement one snapshot; the next statement sees what
    // committed in between (a non-repeatable read, allowed at this level).
    let mut txn = begin(&gw, mode, now());
    txn.begin_statement();
    assert_eq!(int(txn.get(a.as_bytes(), false).await.unwrap()), 1);
    set(&gw, &a, 2).await;
    assert_eq!(
        int(txn.get(a.as_bytes(), false).await.unwrap()),
        1,
        "a statement's reads share one snapshot"
    );
    txn.begin_statement();
    assert_eq!(
        int(txn.get(a.as_bytes(), false).await.unwrap()),
        2,
        "the next statement reads a snapshot of its own"
    );
    // Nothing it read is validated: its commit succeeds though `a`
    // changed after it was read.
    txn.put(b.clone().into_bytes(), b"5".to_vec());
    txn.commit().await.unwrap();
    assert_eq!(read(&gw, &b).await, 5);

    // A read for update takes an exclusive lock to the end: a younger
    // writer of the key waits for the commit, then writes over it.
    let mut holder = begin(&gw, mode, now());
    holder.begin_statement();
    assert_eq!(int(holder.get(a.as_bytes(), true).await.unwrap()), 2);
    let writer = {
        let (gw, a) = (gw.clone(), a.clone());
        tokio::spawn(async move {
            let mut w = begin(&gw, TxnMode::TwoPhaseLocking, now());
            let v = int(w.get(a.as_bytes(), true).await?);
            w.put(a.clone().into_bytes(), (v * 10).to_string().into_bytes());
            w.commit().await
        })
    };
    // The writer waits for the lock while the holder keeps it.
    common::wait_for(
        Duration::from_secs(10),
        "the writer waiting for the lock",
        || {
            let waiting: usize = nodes
                .iter()
                .flat_map(|n| n.context.store.replicas())
                .map(|r| r.lock_waiters())
                .sum();
            std::future::ready((waiting > 0).then_some(()))
        },
    )
    .await;
    assert!(!writer.is_finished(), "a write went past an RC row lock");
    assert_eq!(read(&gw, &a).await, 2);
    holder.put(a.clone().into_bytes(), b"3".to_vec());
    holder.commit().await.unwrap();
    writer.await.unwrap().unwrap();
    assert_eq!(
        read(&gw, &a).await,
        30,
        "the writer read the holder's value under its lock"
    );
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}
