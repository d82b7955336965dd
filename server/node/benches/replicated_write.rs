//! Replicated single-key write benchmark:
//! `cargo bench --workspace --bench replicated_write`.
//!
//! Starts a 3-node cluster in this process (real nodes: RocksDB, node WAL
//! with fsync, Raft over gRPC on loopback), initializes it, then writes
//! through the data tablet's leader replica: one key per write, a fresh
//! timestamp, Raft replication to a quorum, apply, and commit wait. For 1 and
//! then 64 concurrent clients it prints writes/s and p50/p99 latency, then
//! `replicated_write_batching=<x>` = 64-client writes/s ÷ 1-client writes/s,
//! both measured in this run. Rounds alternate the two sides
//! (`REPL_BENCH_ROUNDS`, default 4) over `REPL_BENCH_SECS` seconds in all
//! (default 6), so both see the same disk.
//!
//! The figure is about batching: many concurrent writes share Raft appends,
//! WAL fsyncs (group commit) and commit waits.

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{cluster, data_leader, env_or};
use hdrhistogram::Histogram;
use spanlite_replica::tablet::Replica;
use spanlite_txn::Mutation;

mod common;

struct Side {
    clients: usize,
    writes: u64,
    secs: f64,
    latency: Histogram<u64>,
}

impl Side {
    fn new(clients: usize) -> Result<Self, Box<dyn Error>> {
        Ok(Self {
            clients,
            writes: 0,
            secs: 0.0,
            latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        })
    }

    async fn run(
        &mut self,
        leader: &Arc<Replica>,
        secs: f64,
        round: usize,
    ) -> Result<(), Box<dyn Error>> {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let tasks: Vec<_> = (0..self.clients)
            .map(|c| {
                let (leader, stop) = (leader.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let put = Mutation::Put {
                            key: format!("bench/{round}/{c}/{n}").into_bytes(),
                            value: vec![7u8; 100],
                        };
                        let t = Instant::now();
                        leader.write(vec![put]).await?;
                        hist.record(t.elapsed().as_micros() as u64)?;
                        n += 1;
                    }
                    Ok::<_, Box<dyn Error + Send + Sync>>((n, hist))
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let (n, hist) = t.await?.map_err(|e| e.to_string())?;
            self.writes += n;
            self.latency.add(hist)?;
        }
        self.secs += started.elapsed().as_secs_f64();
        Ok(())
    }

    fn report(&self) -> f64 {
        let per_sec = self.writes as f64 / self.secs;
        println!(
            "clients={} writes/s={per_sec:.0} p50={:.2}ms p99={:.2}ms max={:.2}ms",
            self.clients,
            self.latency.value_at_quantile(0.5) as f64 / 1000.0,
            self.latency.value_at_quantile(0.99) as f64 / 1000.0,
            self.latency.max() as f64 / 1000.0,
        );
        per_sec
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    // `cargo bench` passes --bench; `cargo test --benches` wants a smoke run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let secs: f64 = env_or("REPL_BENCH_SECS", if quick { 0.4 } else { 6.0 });
    let rounds: usize = env_or("REPL_BENCH_ROUNDS", 4).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir_in(std::env::temp_dir())?;
    rt.block_on(async {
        let nodes = cluster(dir.path(), |_| {}).await?;
        let leader = data_leader(&nodes).await?;
        let mut one = Side::new(1)?;
        let mut many = Side::new(64)?;
        for round in 0..rounds {
            one.run(&leader, secs / rounds as f64 / 2.0, round).await?;
            many.run(&leader, secs / rounds as f64 / 2.0, round).await?;
        }
        let (a, b) = (one.report(), many.report());
        println!("replicated_write_batching={:.1}", b / a);
        for n in nodes {
            n.shutdown().await?;
        }
        Ok(())
    })
}
