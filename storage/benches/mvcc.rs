//! MVCC point-read and scan throughput on RocksDB (release profile):
//! `cargo bench -p spanlite-storage --bench mvcc`.
//!
//! Data: 100,000 keys with 3 versions each, flushed to SST files so reads go
//! through the block cache and bloom filters rather than only the memtable.

use std::hint::black_box;
use std::ops::Bound;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use spanlite_storage::engine::{Direction, Engine, RocksConfig, RocksEngine, WriteBatch};
use spanlite_storage::mvcc::Mvcc;
use spanlite_truetime::Timestamp;

const KEYS: u64 = 100_000;
const VERSIONS: u64 = 3;

fn key(i: u64) -> Vec<u8> {
    format!("table/1/row/{i:08}").into_bytes()
}

fn load(mvcc: &Mvcc) {
    for v in 1..=VERSIONS {
        let mut batch = WriteBatch::new();
        for i in 0..KEYS {
            mvcc.put(
                &mut batch,
                &key(i),
                Timestamp::from_nanos(v * 100),
                &[v as u8; 64],
            );
            if batch.len() >= 10_000 {
                mvcc.apply(std::mem::take(&mut batch)).expect("load");
            }
        }
        mvcc.apply(batch).expect("load");
    }
    mvcc.engine().flush().expect("flush");
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine: Arc<dyn Engine> =
        Arc::new(RocksEngine::open(RocksConfig::new(dir.path())).expect("open"));
    let mvcc = Mvcc::open(engine).expect("mvcc");
    load(&mvcc);

    let mut group = c.benchmark_group("mvcc");
    group.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    group.bench_function("point_read_latest", |b| {
        b.iter(|| {
            i = (i + 7_919) % KEYS;
            black_box(
                mvcc.get(&key(i), Timestamp::from_nanos(1_000))
                    .expect("get"),
            )
        })
    });
    group.bench_function("point_read_old_version", |b| {
        b.iter(|| {
            i = (i + 7_919) % KEYS;
            black_box(mvcc.get(&key(i), Timestamp::from_nanos(150)).expect("get"))
        })
    });
    group.bench_function("point_read_missing", |b| {
        b.iter(|| {
            i = (i + 7_919) % KEYS;
            black_box(
                mvcc.get(&key(KEYS + i), Timestamp::from_nanos(1_000))
                    .expect("get"),
            )
        })
    });
    group.throughput(Throughput::Elements(100));
    group.bench_function("scan_100_rows", |b| {
        b.iter(|| {
            i = (i + 7_919) % (KEYS - 200);
            let start = Bound::Included(key(i));
            black_box(
                mvcc.scan(
                    start,
                    Bound::Unbounded,
                    Timestamp::from_nanos(1_000),
                    Direction::Forward,
                    Some(100),
                )
                .expect("scan"),
            )
        })
    });
    group.bench_function("scan_100_rows_reverse", |b| {
        b.iter(|| {
            i = (i + 7_919) % (KEYS - 200);
            let end = Bound::Included(key(i + 150));
            black_box(
                mvcc.scan(
                    Bound::Unbounded,
                    end,
                    Timestamp::from_nanos(1_000),
                    Direction::Reverse,
                    Some(100),
                )
                .expect("scan"),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
