//! The bank test (issue 5 acceptance): 3 nodes, accounts spread over 4
//! tablets, 16 clients transferring money with read-write transactions
//! (many of them across tablets, so by two-phase commit) while read-only
//! transactions keep summing every balance. Every sum must equal the
//! initial total, no balance may go negative, and at the end every replica
//! holds the same balances.
//!
//! `BANK_SECS` sets the transfer phase's length (default 30 s).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{split_tablet as split, start_cluster};
use rand::Rng;
use spanlite_directory::FIRST_DATA_TABLET;
use spanlite_gateway::{Gateway, GatewayError, Txn, TxnOptions};
use spanlite_node::RunningNode;
use spanlite_txn::Mutation;

const ACCOUNTS: usize = 32;
const INITIAL: i64 = 100;
const CLIENTS: usize = 16;

fn account(i: usize) -> Vec<u8> {
    format!("acct/{i:02}").into_bytes()
}

fn balance(v: Option<Vec<u8>>) -> Result<i64, GatewayError> {
    let v = v.ok_or_else(|| GatewayError::Failed("an account vanished".to_string()))?;
    String::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| GatewayError::Failed("a balance is not a number".to_string()))
}

/// One transfer of `amount` from `from` to `to` unless `from` is short.
async fn transfer(gw: &Gateway, from: usize, to: usize, amount: i64) -> Result<bool, GatewayError> {
    let (moved, _) = gw
        .run_txn(&TxnOptions::default(), |txn: &mut Txn| {
            Box::pin(async move {
                let a = balance(txn.get(&account(from)).await?)?;
                let b = balance(txn.get(&account(to)).await?)?;
                if a < amount {
                    return Ok(false);
                }
                txn.put(account(from), (a - amount).to_string().into_bytes())?;
                txn.put(account(to), (b + amount).to_string().into_bytes())?;
                Ok(true)
            })
        })
        .await?;
    Ok(moved)
}

/// Every balance in one read-only snapshot.
async fn audit(gw: &Gateway) -> Result<Vec<i64>, GatewayError> {
    let mut ro = gw.read_only();
    let mut out = Vec::with_capacity(ACCOUNTS);
    for i in 0..ACCOUNTS {
        out.push(balance(ro.get(&account(i)).await?)?);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bank_transfers_conserve_money_across_tablets() {
    let secs: u64 = std::env::var("BANK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    let (nodes, addrs) = start_cluster(dir.path(), 3).await;
    let gws: Vec<Gateway> = nodes.iter().map(|n| n.context.gateway.clone()).collect();
    for i in 0..ACCOUNTS {
        gws[0]
            .write(Mutation::Put {
                key: account(i),
                value: INITIAL.to_string().into_bytes(),
            })
            .await
            .unwrap();
    }
    // Four data tablets of eight accounts each.
    let t2 = split(&addrs, FIRST_DATA_TABLET, &account(8)).await;
    let t3 = split(&addrs, t2, &account(16)).await;
    let t4 = split(&addrs, t3, &account(24)).await;
    println!("accounts on tablets {FIRST_DATA_TABLET}, {t2}, {t3}, {t4}");
    let total = INITIAL * ACCOUNTS as i64;

    let stop = Arc::new(AtomicBool::new(false));
    let (transfers, skipped, audits) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let gw = gws[c % gws.len()].clone();
        let (stop, transfers, skipped) = (stop.clone(), transfers.clone(), skipped.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (from, to, amount) = {
                    let mut rng = rand::rng();
                    let from = rng.random_range(0..ACCOUNTS);
                    let to = (from + rng.random_range(1..ACCOUNTS)) % ACCOUNTS;
                    (from, to, rng.random_range(1..=20))
                };
                match transfer(&gw, from, to, amount).await {
                    Ok(true) => transfers.fetch_add(1, Ordering::Relaxed),
                    Ok(false) => skipped.fetch_add(1, Ordering::Relaxed),
                    Err(e) => panic!("transfer {from} -> {to}: {e}"),
                };
            }
        }));
    }
    for r in 0..2 {
        let gw = gws[(r + 1) % gws.len()].clone();
        let (stop, audits) = (stop.clone(), audits.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let balances = audit(&gw).await.unwrap_or_else(|e| panic!("audit: {e}"));
                assert_eq!(balances.iter().sum::<i64>(), total, "{balances:?}");
                assert!(balances.iter().all(|b| *b >= 0), "{balances:?}");
                audits.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }

    let final_balances = audit(&gws[2]).await.unwrap();
    assert_eq!(final_balances.iter().sum::<i64>(), total);
    assert_consistent_replicas(&nodes, &final_balances).await;

    let mut two_phase = 0;
    let mut one_phase = 0;
    for n in &nodes {
        let m = n.context.store.metrics().snapshot();
        println!("node {}: {m:?}", n.context.node_id);
        two_phase += m.two_phase_commits;
        one_phase += m.one_phase_commits;
    }
    println!(
        "bank: {secs} s, {} transfers ({} skipped: short of money), {} audits; \
         commits: {two_phase} two-phase (cross-tablet), {one_phase} one-phase",
        transfers.load(Ordering::Relaxed),
        skipped.load(Ordering::Relaxed),
        audits.load(Ordering::Relaxed),
    );
    assert!(two_phase > 0, "no cross-tablet commit happened");
    assert!(audits.load(Ordering::Relaxed) > 0, "no audit finished");
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

/// Every replica of every account's tablet converges on `expected`.
async fn assert_consistent_replicas(nodes: &[RunningNode], expected: &[i64]) {
    for n in nodes {
        let store = &n.context.store;
        for (i, want) in expected.iter().enumerate() {
            let key = account(i);
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let got = store
                    .replicas()
                    .into_iter()
                    .find(|r| r.range().contains(&key))
                    .and_then(|r| r.get_local(&key).ok().flatten())
                    .and_then(|v| String::from_utf8(v).ok())
                    .and_then(|s| s.parse::<i64>().ok());
                if got == Some(*want) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "node {}: account {i} is {got:?}, expected {want}",
                    n.context.node_id
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}
