//! The lock table's cost with many locks held by others (release
//! profile): `cargo bench -p spanlite-txn --bench lock_table`.
//!
//! One transaction takes an exclusive lock on a key of its own, then
//! releases everything, while `n` other transactions hold one lock each
//! and `n / 10` wait. Each operation touches only the keys involved, so the
//! time per round should not grow with `n` (before the lock table indexed
//! locks by transaction, `release_all` scanned every lock held).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use spanlite_storage::mvcc::TxnId;
use spanlite_truetime::Timestamp;
use spanlite_txn::lock::{LockMode, LockState, LockTarget};

fn key(i: u64) -> LockTarget {
    LockTarget::key(format!("k{i:08}").into_bytes())
}

fn table(n: u64) -> LockState {
    let mut locks = LockState::new();
    for i in 0..n {
        let _ = locks.acquire(
            TxnId(u128::from(i) + 10),
            Timestamp::from_nanos(i + 10),
            key(i),
            LockMode::Exclusive,
        );
    }
    // Younger transactions waiting for some of those locks.
    for i in 0..n / 10 {
        let _ = locks.acquire(
            TxnId(u128::from(n + i) + 10),
            Timestamp::from_nanos(n + i + 10),
            key(i * 10),
            LockMode::Shared,
        );
    }
    locks
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("lock_and_release_all");
    for n in [100u64, 10_000, 100_000] {
        let mut locks = table(n);
        let me = TxnId(1);
        let mine = LockTarget::key(b"mine".to_vec());
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let _ = black_box(locks.acquire(
                    me,
                    Timestamp::from_nanos(1),
                    mine.clone(),
                    LockMode::Exclusive,
                ));
                black_box(locks.release_all(me))
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
