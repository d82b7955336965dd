//! Commit wait is honoured and reads do not pay it:
//! `cargo bench --workspace --bench commit_wait`.
//!
//! Runs a 3-node cluster in this process twice, one run after the other:
//! with ε = 5 ms (each node trusts its clock to 5 ms) and with ε ≈ 0 (error
//! and floor 0; ε is then only the drift since the last sync, tens of µs).
//! The data tablet is split in two. For `CW_BENCH_SECS` seconds (default 3)
//! per measurement it times, through a gateway:
//! - a single-tablet read-write transaction (read for update, write,
//!   commit: locks, one Raft round, commit wait of about 2ε);
//! - a two-tablet read-write transaction (the same on both tablets:
//!   two-phase commit, a prepare round on one tablet and the decision on
//!   the other, commit wait overlapped with the decision's replication);
//! - a single-tablet read-only transaction (one lock-free snapshot read);
//! - a multi-tablet read-only transaction (one read on each tablet, same
//!   snapshot).
//!
//! It prints p50/p99 of each for both ε, side by side.

use std::error::Error;
use std::time::{Duration, Instant};

use common::{cluster, env_or};
use hdrhistogram::Histogram;
use spanlite_directory::FIRST_DATA_TABLET;
use spanlite_gateway::{Gateway, GatewayError, TxnOptions};
use spanlite_proto::admin::SplitTabletRequest;
use spanlite_proto::admin::admin_service_client::AdminServiceClient;
use spanlite_truetime::Timestamp;
use spanlite_txn::Mutation;

mod common;

struct Figures {
    commit: Histogram<u64>,
    commit_2pc: Histogram<u64>,
    ro_single: Histogram<u64>,
    ro_multi: Histogram<u64>,
    epsilon: Duration,
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

async fn timed<T, F: std::future::Future<Output = Result<T, GatewayError>>>(
    hist: &mut Histogram<u64>,
    f: F,
) -> Result<T, Box<dyn Error>> {
    let t = Instant::now();
    let out = f.await?;
    hist.record(t.elapsed().as_micros() as u64)?;
    Ok(out)
}

/// One read-write transaction: read each key for update, append to it,
/// commit (one tablet: the fast path; two: two-phase commit).
async fn increment(gw: &Gateway, keys: &[&[u8]]) -> Result<Timestamp, GatewayError> {
    let mut txn = gw.begin_with(&TxnOptions::default())?;
    for k in keys {
        let v = txn.get_for_update(k).await?.unwrap_or_default();
        txn.put(k.to_vec(), [v.as_slice(), b"1"].concat())?;
    }
    txn.commit().await
}

async fn run(error: Duration, secs: f64) -> Result<Figures, Box<dyn Error>> {
    let dir = tempfile::tempdir_in(std::env::temp_dir())?;
    let nodes = cluster(dir.path(), |c| {
        c.master_clock_error = error;
        c.epsilon_floor = error;
        c.sync_interval = Duration::from_millis(200);
    })
    .await?;
    // Split the data tablet at "m": keys "a…" and "z…" live apart.
    let deadline = Instant::now() + Duration::from_secs(30);
    'split: loop {
        for n in &nodes {
            let ch = tonic::transport::Endpoint::from_shared(format!("http://{}", n.addr))?
                .connect()
                .await?;
            let r = AdminServiceClient::new(ch)
                .split_tablet(SplitTabletRequest {
                    tablet_id: FIRST_DATA_TABLET,
                    split_key: b"m".to_vec(),
                })
                .await?
                .into_inner();
            if r.error.is_empty() {
                break 'split;
            }
        }
        if Instant::now() > deadline {
            return Err("could not split the data tablet".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gw: Gateway = nodes[0].context.gateway.clone();
    for k in ["a/acct", "z/acct"] {
        gw.write(Mutation::Put {
            key: k.as_bytes().to_vec(),
            value: b"0".to_vec(),
        })
        .await?;
    }
    let hist = || Histogram::<u64>::new_with_bounds(1, 60_000_000, 3);
    let mut f = Figures {
        commit: hist()?,
        commit_2pc: hist()?,
        ro_single: hist()?,
        ro_multi: hist()?,
        epsilon: nodes[0].context.store.truetime().epsilon()?,
    };
    for (hist, keys) in [
        (&mut f.commit, &[&b"a/acct"[..]][..]),
        (&mut f.commit_2pc, &[&b"a/acct"[..], &b"z/acct"[..]][..]),
    ] {
        let until = Instant::now() + Duration::from_secs_f64(secs);
        while Instant::now() < until {
            timed(hist, increment(&gw, keys)).await?;
        }
    }
    let until = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < until {
        let mut ro = gw.read_only();
        timed(&mut f.ro_single, ro.get(b"a/acct")).await?;
    }
    let until = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < until {
        let mut ro = gw.read_only();
        timed(&mut f.ro_multi, async {
            ro.get(b"a/acct").await?;
            ro.get(b"z/acct").await
        })
        .await?;
    }
    for n in nodes {
        n.shutdown().await?;
    }
    Ok(f)
}

fn main() -> Result<(), Box<dyn Error>> {
    let quick = !std::env::args().any(|a| a == "--bench");
    let secs: f64 = env_or("CW_BENCH_SECS", if quick { 0.3 } else { 3.0 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let five = rt.block_on(run(Duration::from_millis(5), secs))?;
    let zero = rt.block_on(run(Duration::ZERO, secs))?;
    println!(
        "{:<34} {:>22} {:>22}",
        "",
        format!("ε={:.2?}", five.epsilon),
        format!("ε={:.2?}", zero.epsilon)
    );
    for (name, a, b) in [
        ("single-tablet commit", &five.commit, &zero.commit),
        (
            "two-tablet commit (2PC)",
            &five.commit_2pc,
            &zero.commit_2pc,
        ),
        ("single-tablet read-only", &five.ro_single, &zero.ro_single),
        ("two-tablet read-only", &five.ro_multi, &zero.ro_multi),
    ] {
        println!(
            "{name:<34} {:>22} {:>22}",
            format!("p50 {:.2} p99 {:.2} ms", ms(a, 0.5), ms(a, 0.99)),
            format!("p50 {:.2} p99 {:.2} ms", ms(b, 0.5), ms(b, 0.99)),
        );
    }
    println!(
        "commit_wait_p50_ms={:.2} read_only_p50_ms={:.2} (eps=5ms: commit must be >= 10, read-only < 2)",
        ms(&five.commit, 0.5),
        ms(&five.ro_single, 0.5)
    );
    Ok(())
}
