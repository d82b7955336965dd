//! Claim: a forward scan or a validation (`first_change`) over rows with
//! thousands of versions (hot rows within the GC TTL) steps over a bounded
//! number of them, not every version. Counted on an engine that counts the
//! items its iterators yield, so the claim is exact, not timed.

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use spanlite_storage::Result;
use spanlite_storage::engine::{
    Cf, Direction, Engine, KvIter, MemoryEngine, ScanRange, WriteBatch,
};
use spanlite_storage::mvcc::{Change, Mvcc, ReadOutcome, TxnId};
use spanlite_truetime::Timestamp;

/// A memory engine that counts every item its scans yield.
#[derive(Debug)]
struct Counting {
    inner: MemoryEngine,
    steps: AtomicUsize,
}

impl Engine for Counting {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.get(cf, key)
    }

    fn scan(&self, cf: Cf, range: ScanRange, direction: Direction) -> Result<KvIter<'_>> {
        let iter = self.inner.scan(cf, range, direction)?;
        Ok(Box::new(iter.inspect(|_| {
            self.steps.fetch_add(1, Ordering::Relaxed);
        })))
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        self.inner.write(batch)
    }

    fn flush(&self) -> Result<()> {
        self.inner.flush()
    }
}

const VERSIONS: u64 = 2_000;

fn ts(n: u64) -> Timestamp {
    Timestamp::from_nanos(n)
}

/// Keys `a` and `b` with `VERSIONS` versions each (at 1..=VERSIONS), `c`
/// with one.
fn hot_rows() -> (Arc<Counting>, Mvcc) {
    let engine = Arc::new(Counting {
        inner: MemoryEngine::new(),
        steps: AtomicUsize::new(0),
    });
    let mvcc = Mvcc::open(engine.clone()).unwrap();
    let mut b = WriteBatch::new();
    for t in 1..=VERSIONS {
        for k in [b"a", b"b"] {
            mvcc.put(&mut b, k, ts(t), t.to_string().as_bytes());
        }
    }
    mvcc.put(&mut b, b"c", ts(5), b"c5");
    mvcc.apply(b).unwrap();
    (engine, mvcc)
}

fn steps_of<T>(engine: &Counting, f: impl FnOnce() -> T) -> (T, usize) {
    let before = engine.steps.load(Ordering::Relaxed);
    let out = f();
    (out, engine.steps.load(Ordering::Relaxed) - before)
}

#[test]
fn a_scan_over_hot_rows_steps_over_a_bounded_number_of_versions() {
    let (engine, mvcc) = hot_rows();
    let (rows, steps) = steps_of(&engine, || {
        mvcc.scan(
            Bound::Unbounded,
            Bound::Unbounded,
            ts(VERSIONS + 10),
            Direction::Forward,
            None,
        )
        .unwrap()
    });
    let ReadOutcome::Ready(rows) = rows else {
        panic!("no intents were written");
    };
    let newest = VERSIONS.to_string().into_bytes();
    assert_eq!(
        rows,
        vec![
            (b"a".to_vec(), newest.clone()),
            (b"b".to_vec(), newest),
            (b"c".to_vec(), b"c5".to_vec()),
        ]
    );
    assert!(
        steps <= 40,
        "{steps} versions stepped over to read 3 rows with {VERSIONS} versions each"
    );

    // In the middle of the history: still right, still bounded.
    let (rows, steps) = steps_of(&engine, || {
        mvcc.scan(
            Bound::Included(b"a".to_vec()),
            Bound::Included(b"b".to_vec()),
            ts(1_500),
            Direction::Forward,
            Some(2),
        )
        .unwrap()
    });
    let ReadOutcome::Ready(rows) = rows else {
        panic!("no intents were written");
    };
    assert_eq!(
        rows,
        vec![
            (b"a".to_vec(), b"1500".to_vec()),
            (b"b".to_vec(), b"1500".to_vec())
        ]
    );
    assert!(
        steps <= 2 * (VERSIONS as usize - 1_500) + 40,
        "{steps} steps"
    );
}

#[test]
fn a_reverse_scan_over_hot_rows_steps_over_a_bounded_number_of_versions() {
    let (engine, mvcc) = hot_rows();
    for (at, limit, expected) in [
        (
            VERSIONS + 10,
            None,
            vec![
                (b"c".to_vec(), b"c5".to_vec()),
                (b"b".to_vec(), VERSIONS.to_string().into_bytes()),
                (b"a".to_vec(), VERSIONS.to_string().into_bytes()),
            ],
        ),
        (
            1_500,
            Some(2),
            vec![
                (b"c".to_vec(), b"c5".to_vec()),
                (b"b".to_vec(), b"1500".to_vec()),
            ],
        ),
        (
            3,
            None,
            vec![
                (b"b".to_vec(), b"3".to_vec()),
                (b"a".to_vec(), b"3".to_vec()),
            ],
        ),
    ] {
        let (rows, steps) = steps_of(&engine, || {
            mvcc.scan(
                Bound::Unbounded,
                Bound::Unbounded,
                ts(at),
                Direction::Reverse,
                limit,
            )
            .unwrap()
        });
        let ReadOutcome::Ready(rows) = rows else {
            panic!("no intents were written");
        };
        assert_eq!(rows, expected, "at {at}");
        assert!(steps <= 40, "{steps} steps for a reverse scan at {at}");
    }
}

#[test]
fn validating_hot_rows_steps_over_a_bounded_number_of_versions() {
    let (engine, mvcc) = hot_rows();
    let own = TxnId(7);
    let a = || Bound::Included(b"a".to_vec());
    let (change, steps) = steps_of(&engine, || {
        mvcc.first_change(a(), a(), ts(VERSIONS), own).unwrap()
    });
    assert_eq!(change, None);
    assert!(steps <= 2, "{steps} steps to validate a point read");
    let (change, steps) = steps_of(&engine, || {
        mvcc.first_change(Bound::Unbounded, Bound::Unbounded, ts(VERSIONS), own)
            .unwrap()
    });
    assert_eq!(change, None);
    assert!(steps <= 40, "{steps} steps to validate a scan of 3 rows");
    let (change, _) = steps_of(&engine, || {
        mvcc.first_change(Bound::Unbounded, Bound::Unbounded, ts(VERSIONS - 1), own)
            .unwrap()
    });
    assert_eq!(
        change,
        Some(Change::Version {
            key: b"a".to_vec(),
            ts: ts(VERSIONS)
        })
    );
}
