//! Claim: MVCC on both engines behaves exactly like a simple in-memory model
//! under random puts, deletes, intents, commits, aborts, reads and scans at
//! random timestamps, and garbage collection.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use proptest::prelude::*;
use spanlite_storage::StorageError;
use spanlite_storage::engine::{
    Cf, Direction, Engine, MemoryEngine, RocksConfig, RocksEngine, ScanRange, WriteBatch,
};
use spanlite_storage::mvcc::{Change, Intent, Mvcc, ReadOutcome, TxnId, Version};
use spanlite_truetime::Timestamp;

type Key = Vec<u8>;

#[derive(Clone, Debug)]
enum Op {
    Put(Key, u64, Vec<u8>),
    Delete(Key, u64),
    WriteIntent(Key, u128, u64, Option<Vec<u8>>),
    Commit(Key, u128, u64),
    Abort(Key, u128),
    Get(Key, u64),
    Latest(Key),
    Scan(Bound<Key>, Bound<Key>, u64, bool, Option<usize>),
    Gc(u64),
    FirstChange(Bound<Key>, Bound<Key>, u64, u128),
}

fn key() -> impl Strategy<Value = Key> {
    prop::collection::vec(prop::sample::select(vec![0u8, 1, b'a', b'b', 0xff]), 0..3)
}

fn bound() -> impl Strategy<Value = Bound<Key>> {
    prop_oneof![
        key().prop_map(Bound::Included),
        key().prop_map(Bound::Excluded),
        Just(Bound::Unbounded),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let ts = 1u64..60;
    let txn = 1u128..4;
    let value = prop::collection::vec(any::<u8>(), 0..4);
    prop_oneof![
        3 => (key(), ts.clone(), value.clone()).prop_map(|(k, t, v)| Op::Put(k, t, v)),
        1 => (key(), ts.clone()).prop_map(|(k, t)| Op::Delete(k, t)),
        2 => (key(), txn.clone(), ts.clone(), prop::option::of(value)).prop_map(|(k, x, t, v)| Op::WriteIntent(k, x, t, v)),
        2 => (key(), txn.clone(), 0u64..20).prop_map(|(k, x, d)| Op::Commit(k, x, d)),
        1 => (key(), txn).prop_map(|(k, x)| Op::Abort(k, x)),
        3 => (key(), 0u64..70).prop_map(|(k, t)| Op::Get(k, t)),
        1 => key().prop_map(Op::Latest),
        3 => (bound(), bound(), 0u64..70, any::<bool>(), prop::option::of(0usize..4))
            .prop_map(|(s, e, t, r, l)| Op::Scan(s, e, t, r, l)),
        1 => (0u64..50).prop_map(Op::Gc),
        2 => (bound(), bound(), 0u64..70, 1u128..4)
            .prop_map(|(s, e, t, own)| Op::FirstChange(s, e, t, own)),
    ]
}

/// The reference model: plain maps.
#[derive(Default)]
struct Model {
    versions: BTreeMap<Key, BTreeMap<u64, Option<Vec<u8>>>>,
    intents: BTreeMap<Key, (u128, u64, Option<Vec<u8>>)>,
    watermark: u64,
}

impl Model {
    fn version_at(&self, k: &Key, ts: u64) -> Option<(u64, Option<Vec<u8>>)> {
        self.versions
            .get(k)?
            .range(..=ts)
            .next_back()
            .map(|(t, v)| (*t, v.clone()))
    }

    fn blocking(&self, s: &Bound<Key>, e: &Bound<Key>, ts: u64) -> Vec<(Key, u128)> {
        if !range_ok(s, e) {
            return vec![];
        }
        self.intents
            .range((s.clone(), e.clone()))
            .filter(|(_, (_, p, _))| *p <= ts)
            .map(|(k, (x, _, _))| (k.clone(), *x))
            .collect()
    }

    fn gc(&mut self, w: u64) {
        let w = w.max(self.watermark);
        self.watermark = w;
        for versions in self.versions.values_mut() {
            let visible = versions
                .range(..=w)
                .next_back()
                .map(|(t, v)| (*t, v.is_some()));
            if let Some((t, is_put)) = visible {
                versions.retain(|vt, _| *vt > t || (*vt == t && is_put));
            }
        }
        self.versions.retain(|_, v| !v.is_empty());
    }
}

/// BTreeMap::range panics on inverted or empty-excluded ranges; the engine
/// just returns nothing.
fn range_ok(s: &Bound<Key>, e: &Bound<Key>) -> bool {
    match (s, e) {
        (Bound::Included(a), Bound::Included(b)) => a <= b,
        (Bound::Included(a), Bound::Excluded(b)) | (Bound::Excluded(a), Bound::Included(b)) => {
            a < b
        }
        (Bound::Excluded(a), Bound::Excluded(b)) => a < b,
        _ => true,
    }
}

fn ts(t: u64) -> Timestamp {
    Timestamp::from_nanos(t)
}

fn run(mvcc: &Mvcc, ops: &[Op]) {
    let mut model = Model::default();
    for (step, op) in ops.iter().enumerate() {
        let ctx = format!("step {step}: {op:?}");
        match op {
            Op::Put(k, t, v) => {
                let mut b = WriteBatch::new();
                mvcc.put(&mut b, k, ts(*t), v);
                mvcc.apply(b).unwrap();
                model
                    .versions
                    .entry(k.clone())
                    .or_default()
                    .insert(*t, Some(v.clone()));
            }
            Op::Delete(k, t) => {
                let mut b = WriteBatch::new();
                mvcc.delete(&mut b, k, ts(*t));
                mvcc.apply(b).unwrap();
                model
                    .versions
                    .entry(k.clone())
                    .or_default()
                    .insert(*t, None);
            }
            Op::WriteIntent(k, x, p, v) => {
                let mut b = WriteBatch::new();
                let intent = Intent {
                    txn: TxnId(*x),
                    prepare_ts: ts(*p),
                    value: v.clone(),
                };
                let res = mvcc.write_intent(&mut b, k, &intent);
                match model.intents.get(k) {
                    Some((holder, _, _)) if holder != x => {
                        assert!(
                            matches!(res, Err(StorageError::IntentConflict { holder: h }) if h == TxnId(*holder)),
                            "{ctx}"
                        );
                    }
                    _ => {
                        res.unwrap();
                        mvcc.apply(b).unwrap();
                        model.intents.insert(k.clone(), (*x, *p, v.clone()));
                    }
                }
            }
            Op::Commit(k, x, delta) => {
                let commit = model
                    .intents
                    .get(k)
                    .map(|(_, p, _)| p + delta)
                    .unwrap_or(*delta);
                let mut b = WriteBatch::new();
                let done = mvcc
                    .commit_intent(&mut b, k, TxnId(*x), ts(commit))
                    .unwrap();
                mvcc.apply(b).unwrap();
                let expect = model.intents.get(k).is_some_and(|(h, _, _)| h == x);
                assert_eq!(done, expect, "{ctx}");
                if expect {
                    let (_, _, v) = model.intents.remove(k).unwrap();
                    model
                        .versions
                        .entry(k.clone())
                        .or_default()
                        .insert(commit, v);
                }
            }
            Op::Abort(k, x) => {
                let mut b = WriteBatch::new();
                let done = mvcc.abort_intent(&mut b, k, TxnId(*x)).unwrap();
                mvcc.apply(b).unwrap();
                let expect = model.intents.get(k).is_some_and(|(h, _, _)| h == x);
                assert_eq!(done, expect, "{ctx}");
                if expect {
                    model.intents.remove(k);
                }
            }
            Op::Get(k, t) => {
                let got = mvcc.get(k, ts(*t));
                if *t < model.watermark {
                    assert!(
                        matches!(got, Err(StorageError::BelowGcWatermark { .. })),
                        "{ctx}"
                    );
                    continue;
                }
                match model.intents.get(k).filter(|(_, p, _)| p <= t) {
                    Some((x, _, _)) => match got.unwrap() {
                        ReadOutcome::Blocked(b) => {
                            assert_eq!(b.len(), 1, "{ctx}");
                            assert_eq!(b[0].txn, TxnId(*x), "{ctx}");
                        }
                        other => panic!("{ctx}: expected blocked, got {other:?}"),
                    },
                    None => {
                        let want = model.version_at(k, *t).and_then(|(_, v)| v);
                        assert_eq!(got.unwrap(), ReadOutcome::Ready(want), "{ctx}");
                    }
                }
            }
            Op::Latest(k) => {
                let want = model
                    .version_at(k, u64::MAX)
                    .map(|(t, value)| Version { ts: ts(t), value });
                assert_eq!(mvcc.latest_version(k).unwrap(), want, "{ctx}");
            }
            Op::Scan(s, e, t, reverse, limit) => {
                let dir = if *reverse {
                    Direction::Reverse
                } else {
                    Direction::Forward
                };
                let got = mvcc.scan(s.clone(), e.clone(), ts(*t), dir, *limit);
                if *t < model.watermark {
                    assert!(
                        matches!(got, Err(StorageError::BelowGcWatermark { .. })),
                        "{ctx}"
                    );
                    continue;
                }
                let mut rows: Vec<(Key, Vec<u8>)> = if range_ok(s, e) {
                    model
                        .versions
                        .range((s.clone(), e.clone()))
                        .filter_map(|(k, _)| {
                            model
                                .version_at(k, *t)
                                .and_then(|(_, v)| v)
                                .map(|v| (k.clone(), v))
                        })
                        .collect()
                } else {
                    vec![]
                };
                if *reverse {
                    rows.reverse();
                }
                if let Some(l) = limit {
                    rows.truncate(*l);
                }
                let mut blocking = model.blocking(s, e, *t);
                if let (Some(l), Some((last, _))) = (limit, rows.last())
                    && rows.len() == *l
                {
                    blocking.retain(|(k, _)| if *reverse { k >= last } else { k <= last });
                }
                match got.unwrap() {
                    ReadOutcome::Ready(r) => {
                        assert!(blocking.is_empty(), "{ctx}: missed intents {blocking:?}");
                        assert_eq!(r, rows, "{ctx}");
                    }
                    ReadOutcome::Blocked(b) => {
                        let b: Vec<_> = b.into_iter().map(|b| (b.key, b.txn.0)).collect();
                        assert_eq!(b, blocking, "{ctx}");
                    }
                }
            }
            Op::FirstChange(s, e, since, own) => {
                let got = mvcc
                    .first_change(s.clone(), e.clone(), ts(*since), TxnId(*own))
                    .unwrap();
                let want = if !range_ok(s, e) {
                    None
                } else if let Some((k, (txn, _, _))) = model
                    .intents
                    .range((s.clone(), e.clone()))
                    .find(|(_, (txn, _, _))| txn != own)
                {
                    Some(Change::Intent {
                        key: k.clone(),
                        txn: TxnId(*txn),
                    })
                } else {
                    model
                        .versions
                        .range((s.clone(), e.clone()))
                        .find_map(|(k, v)| {
                            let (newest, _) = v.last_key_value()?;
                            (*newest > *since).then(|| Change::Version {
                                key: k.clone(),
                                ts: ts(*newest),
                            })
                        })
                };
                assert_eq!(got, want, "{ctx}");
            }
            Op::Gc(w) => {
                mvcc.gc(ts(*w)).unwrap();
                model.gc(*w);
                assert_eq!(mvcc.gc_watermark(), ts(model.watermark), "{ctx}");
            }
        }
    }
    // Final check: every key's full history equals the model's (GC removed
    // exactly what the model removed).
    for (k, versions) in &model.versions {
        for (t, v) in versions {
            let got = mvcc.version_at(k, ts(*t)).unwrap();
            assert_eq!(
                got,
                Some(Version {
                    ts: ts(*t),
                    value: v.clone()
                }),
                "final {k:?}@{t}"
            );
        }
    }
    let stored = mvcc
        .engine()
        .scan(Cf::Versions, ScanRange::all(), Direction::Forward)
        .unwrap()
        .count();
    let modelled: usize = model.versions.values().map(BTreeMap::len).sum();
    assert_eq!(
        stored, modelled,
        "GC removed a different number of versions than the model"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn memory_engine_matches_model(ops in prop::collection::vec(op(), 1..120)) {
        let engine: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
        run(&Mvcc::open(engine).unwrap(), &ops);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn rocksdb_engine_matches_model(ops in prop::collection::vec(op(), 1..200)) {
        let dir = tempfile::tempdir().unwrap();
        let engine: Arc<dyn Engine> = Arc::new(RocksEngine::open(RocksConfig::new(dir.path())).unwrap());
        run(&Mvcc::open(engine).unwrap(), &ops);
    }
}
