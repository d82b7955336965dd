//! WAL group-commit benchmark: `cargo bench -p spanlite-storage --bench wal_group_commit`.
//!
//! For 1 and then 64 concurrent appenders, each loops "append one 128-byte
//! record and wait until it is durable" for `WAL_BENCH_SECS` seconds in all
//! (default 3) on a fresh WAL in a temp dir under `std::env::temp_dir()` (put
//! that on a real disk: on tmpfs fsync is free and there is nothing to
//! amortise). Prints appends/s and fsyncs/s for each, then
//! `wal_group_commit_speedup=<x>` = 64-appender appends/s ÷ 1-appender
//! appends/s, both measured in this run.
//!
//! NB: the time is split into `WAL_BENCH_ROUNDS` rounds (default 6), each
//! running 1 and then 64 appenders, because fsync latency on a shared or
//! virtual disk drifts by 10× within seconds; alternating makes both sides
//! see the same disk. With `WAL_BENCH_ROUNDS=1` it is one plain run of each.

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use spanlite_storage::wal::{Record, RecordKind, Wal, WalConfig, WalError};

/// One configuration: a WAL and what was measured on it so far.
struct Side {
    appenders: usize,
    wal: Wal,
    _dir: tempfile::TempDir,
    appends: u64,
    secs: f64,
}

impl Side {
    fn new(appenders: usize) -> Result<Self, Box<dyn Error>> {
        let dir = tempfile::tempdir_in(std::env::temp_dir())?;
        let (wal, _) = Wal::open(WalConfig::new(dir.path()))?;
        Ok(Self {
            appenders,
            wal,
            _dir: dir,
            appends: 0,
            secs: 0.0,
        })
    }

    /// Runs the appenders for `secs` and adds up what they did.
    fn run(&mut self, rt: &tokio::runtime::Runtime, secs: f64) -> Result<(), Box<dyn Error>> {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let total = rt.block_on(async {
            let tasks: Vec<_> = (0..self.appenders)
                .map(|_| {
                    let (wal, stop) = (self.wal.clone(), stop.clone());
                    tokio::spawn(async move {
                        let mut n = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            wal.append(vec![Record::new(
                                RecordKind::CheckpointBegin,
                                vec![7u8; 128],
                            )])
                            .await?;
                            n += 1;
                        }
                        Ok::<u64, WalError>(n)
                    })
                })
                .collect();
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
            stop.store(true, Ordering::Relaxed);
            let mut total = 0;
            for t in tasks {
                total += t.await??;
            }
            Ok::<u64, Box<dyn Error>>(total)
        })?;
        self.secs += started.elapsed().as_secs_f64();
        self.appends += total;
        Ok(())
    }

    /// Prints the result line; returns appends per second.
    fn report(&self) -> f64 {
        let stats = self.wal.stats();
        let appends_per_sec = self.appends as f64 / self.secs;
        println!(
            "appenders={} appends/s={appends_per_sec:.0} fsyncs/s={:.0} records/fsync={:.1}",
            self.appenders,
            stats.fsyncs as f64 / self.secs,
            stats.records as f64 / stats.fsyncs.max(1) as f64
        );
        appends_per_sec
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn Error>> {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing and
    // wants a quick smoke run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let secs: f64 = env_or("WAL_BENCH_SECS", if quick { 0.2 } else { 3.0 });
    let rounds: u32 = env_or("WAL_BENCH_ROUNDS", 6).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut one = Side::new(1)?;
    let mut many = Side::new(64)?;
    for _ in 0..rounds {
        one.run(&rt, secs / f64::from(rounds))?;
        many.run(&rt, secs / f64::from(rounds))?;
    }
    let (one, many) = (one.report(), many.report());
    println!("wal_group_commit_speedup={:.1}", many / one);
    Ok(())
}
