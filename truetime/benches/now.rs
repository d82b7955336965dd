//! Cost of `TrueTime::now()`, which every timestamp assignment pays.
//!
//! `cargo bench -p spanlite-truetime` prints the time per call in ns next to
//! the raw clock reads it is built on.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use spanlite_truetime::{
    Clock, ManualClock, SkewedClock, SystemClock, Timestamp, TrueTime, TrueTimeConfig,
};

fn now(c: &mut Criterion) {
    let mut group = c.benchmark_group("now");

    let system = SystemClock::new();
    group.bench_function("SystemClock::now", |b| b.iter(|| black_box(system.now())));

    let tt = TrueTime::assume_synced(
        Arc::new(SystemClock::new()),
        TrueTimeConfig::default(),
        Duration::from_micros(100),
    );
    group.bench_function("TrueTime::now (SystemClock)", |b| {
        b.iter(|| black_box(tt.now().expect("synced")))
    });

    let skewed = TrueTime::assume_synced(
        Arc::new(SkewedClock::new(Arc::new(SystemClock::new()))),
        TrueTimeConfig::default(),
        Duration::from_micros(100),
    );
    group.bench_function("TrueTime::now (SkewedClock)", |b| {
        b.iter(|| black_box(skewed.now().expect("synced")))
    });

    let manual = TrueTime::assume_synced(
        Arc::new(ManualClock::new(Timestamp::from_nanos(1 << 60))),
        TrueTimeConfig::default(),
        Duration::from_micros(100),
    );
    group.bench_function("TrueTime::now (ManualClock)", |b| {
        b.iter(|| black_box(manual.now().expect("synced")))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = now
}
criterion_main!(benches);
