//! Anomaly tests, one per anomaly class, each on a hand-built history whose
//! first comment says what the database did wrong; valid histories (serial,
//! concurrent with indeterminate transactions, and simulated strict
//! serializable runs) must check clean.
//!
//! Helpers: `a(key, element)` appends, `r(key, &[..])` reads (the list is
//! what the transaction saw; on invocation it is recorded as unknown).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use super::*;
use crate::history::{
    Element, History, Key, MicroOp, OpIndex, OpKind, OpValue, Outcome, ProcessId,
};

fn a(key: Key, value: Element) -> MicroOp {
    MicroOp::Append { key, value }
}

fn r(key: Key, list: &[Element]) -> MicroOp {
    MicroOp::Read {
        key,
        list: Some(list.to_vec()),
    }
}

/// A history under construction; times are 1 µs per event.
#[derive(Default)]
struct Run {
    history: History,
}

impl Run {
    fn push(&mut self, process: ProcessId, kind: OpKind, value: OpValue) -> OpIndex {
        let time = self.history.ops.len() as u64 * 1_000;
        self.history.push(process, kind, value, time)
    }

    /// `process` invokes the transaction (reads recorded as unknown).
    fn invoke(&mut self, process: ProcessId, mops: &[MicroOp]) -> OpIndex {
        let asked = mops
            .iter()
            .map(|mop| match mop {
                MicroOp::Read { key, .. } => MicroOp::Read {
                    key: *key,
                    list: None,
                },
                append => append.clone(),
            })
            .collect();
        self.push(process, OpKind::Invoke, OpValue::Txn(asked))
    }

    /// `process`'s outstanding transaction completes with `mops` as result.
    fn complete(&mut self, process: ProcessId, outcome: Outcome, mops: &[MicroOp]) {
        self.push(process, outcome.into(), OpValue::Txn(mops.to_vec()));
    }

    /// Invoked and completed before anything else happens.
    fn serial(&mut self, process: ProcessId, outcome: Outcome, mops: &[MicroOp]) -> OpIndex {
        let t = self.invoke(process, mops);
        self.complete(process, outcome, mops);
        t
    }

    /// Transactions that are all invoked, then all complete `Ok`: every
    /// pair is concurrent, so no real-time edge joins them.
    fn concurrent(&mut self, first_process: ProcessId, txns: &[&[MicroOp]]) -> Vec<OpIndex> {
        let ids = (0..txns.len())
            .map(|i| self.invoke(first_process + i as u64, txns[i]))
            .collect();
        for (i, mops) in txns.iter().enumerate() {
            self.complete(first_process + i as u64, Outcome::Ok, mops);
        }
        ids
    }

    fn must_check(&self) -> ListAppendReport {
        check(&self.history).unwrap()
    }
}

fn counts(report: &ListAppendReport) -> Vec<(AnomalyKind, usize)> {
    report.counts.iter().map(|(k, n)| (*k, *n)).collect()
}

/// The report has exactly these anomaly counts.
fn assert_counts(report: &ListAppendReport, expected: &[(AnomalyKind, usize)]) {
    assert_eq!(
        counts(report),
        expected,
        "{}\n{:#?}",
        report.summary(),
        report.anomalies
    );
    assert_eq!(report.valid, expected.is_empty());
}

/// The first anomaly of `kind` involves exactly `txns` (as a set).
fn assert_involves(report: &ListAppendReport, kind: AnomalyKind, txns: &[OpIndex]) -> Anomaly {
    let anomaly = report.of_kind(kind).next().cloned().unwrap_or_else(|| {
        panic!("no {kind}: {:#?}", report.anomalies);
    });
    let mut got = anomaly.txns.clone();
    got.sort_unstable();
    let mut want = txns.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "{anomaly:#?}");
    anomaly
}

/// The soak's histories are long: the dependency graph's longest path
/// (here the real-time chain of 200,000 serial transactions) must not be
/// walked on the thread's stack. With petgraph's recursive Tarjan this
/// test overflowed its stack and aborted.
#[test]
fn a_long_serial_history_checks_without_overflowing_the_stack() {
    let mut run = Run::default();
    for i in 0..200_000u64 {
        run.serial(0, Outcome::Ok, &[a(i, 1)]);
    }
    let report = run.must_check();
    assert_counts(&report, &[]);
}

#[test]
fn valid_serial_history() {
    let mut run = Run::default();
    run.serial(0, Outcome::Ok, &[a(1, 1)]);
    run.serial(0, Outcome::Ok, &[r(1, &[1]), a(1, 2), r(1, &[1, 2])]);
    run.serial(0, Outcome::Ok, &[a(2, 1), r(1, &[1, 2])]);
    run.serial(0, Outcome::Fail, &[a(2, 9)]);
    run.serial(0, Outcome::Ok, &[r(1, &[1, 2]), r(2, &[1]), r(3, &[])]);
    let report = run.must_check();
    assert_counts(&report, &[]);
    assert_eq!(
        (report.txns_checked, report.txns_ok, report.txns_failed),
        (5, 4, 1)
    );
    assert!(report.summary().contains("valid"), "{}", report.summary());
}

#[test]
fn valid_concurrent_history_with_info_and_failed_transactions() {
    let mut run = Run::default();
    let t1 = [a(1, 1)];
    let t2 = [a(1, 2), a(2, 1)];
    run.invoke(0, &t1);
    run.invoke(1, &t2);
    run.invoke(2, &[a(2, 2)]); // indeterminate, never seen: may not have happened
    run.invoke(3, &[a(3, 1)]); // indeterminate, seen below: it committed
    run.invoke(4, &[a(3, 9)]); // failed, never seen
    run.complete(1, Outcome::Ok, &t2);
    run.complete(2, Outcome::Info, &[a(2, 2)]);
    run.complete(4, Outcome::Fail, &[a(3, 9)]);
    run.complete(0, Outcome::Ok, &t1);
    // T2 committed before T1 (they were concurrent), T4 before the read.
    run.serial(5, Outcome::Ok, &[r(1, &[2, 1]), r(2, &[1]), r(3, &[1])]);
    // Process 3 never completes (the run ended): also indeterminate.
    let report = run.must_check();
    assert_counts(&report, &[]);
    assert_eq!((report.txns_info, report.txns_info_observed), (2, 1));
}

#[test]
fn anomaly_g0_write_cycle() {
    // T1 and T2 both append to keys 1 and 2, but in opposite orders.
    let mut run = Run::default();
    let ids = run.concurrent(0, &[&[a(1, 1), a(2, 1)], &[a(1, 2), a(2, 2)]]);
    run.serial(9, Outcome::Ok, &[r(1, &[1, 2]), r(2, &[2, 1])]);
    let report = run.must_check();
    assert_counts(&report, &[(AnomalyKind::G0, 1)]);
    let g0 = assert_involves(&report, AnomalyKind::G0, &ids);
    assert_eq!(g0.edges.len(), 2);
    assert!(
        g0.edges.iter().all(|e| e.contains("-ww(key")),
        "{:?}",
        g0.edges
    );
    assert!(
        g0.edges
            .contains(&format!("T{} -ww(key 1)-> T{}", ids[0], ids[1])),
        "{:?}",
        g0.edges
    );
    assert!(
        g0.edges
            .contains(&format!("T{} -ww(key 2)-> T{}", ids[1], ids[0])),
        "{:?}",
        g0.edges
    );
}

#[test]
fn anomaly_g1a_aborted_read() {
    // A committed read sees the append of a transaction that failed.
    let mut run = Run::default();
    let aborted = run.serial(0, Outcome::Fail, &[a(1, 1)]);
    let reader = run.serial(1, Outcome::Ok, &[r(1, &[1])]);
    let report = run.must_check();
    assert_counts(&report, &[(AnomalyKind::G1a, 1)]);
    let g1a = assert_involves(&report, AnomalyKind::G1a, &[aborted, reader]);
    assert!(g1a.explanation.contains("failed"), "{}", g1a.explanation);
}

#[test]
fn anomaly_g1b_intermediate_read() {
    // T2 sees T1's first append to key 1 but not its second.
    let mut run = Run::default();
    let ids = run.concurrent(0, &[&[a(1, 1), a(1, 2)], &[r(1, &[1])]]);
    run.serial(9, Outcome::Ok, &[r(1, &[1, 2])]);
    let report = run.must_check();
    assert_involves(&report, AnomalyKind::G1b, &ids);
    assert_eq!(report.counts.get(&AnomalyKind::G1b), Some(&1));
    // The same observation also closes T1 -wr-> T2 -rw-> T1: a G-single.
    assert_counts(&report, &[(AnomalyKind::G1b, 1), (AnomalyKind::GSingle, 1)]);
}

#[test]
fn anomaly_g1c_circular_information_flow() {
    // Each transaction reads the other's append: wr edges both ways.
    let mut run = Run::default();
    let ids = run.concurrent(0, &[&[a(1, 1), r(2, &[1])], &[a(2, 1), r(1, &[1])]]);
    let report = run.must_check();
    assert_counts(&report, &[(AnomalyKind::G1c, 1)]);
    let g1c = assert_involves(&report, AnomalyKind::G1c, &ids);
    assert!(
        g1c.edges.iter().all(|e| e.contains("-wr(key")),
        "{:?}",
        g1c.edges
    );
}

#[test]
fn anomaly_g_single_read_skew() {
    // T2 misses T1's append to key 1 but sees its append to key 2.
    let mut run = Run::default();
    let ids = run.concurrent(0, &[&[a(1, 1), a(2, 1)], &[r(1, &[]), r(2, &[1])]]);
    run.serial(9, Outcome::Ok, &[r(1, &[1]), r(2, &[1])]);
    let report = run.must_check();
    assert_counts(&report, &[(AnomalyKind::GSingle, 1)]);
    let g = assert_involves(&report, AnomalyKind::GSingle, &ids);
    let t1 = ids[0];
    let t2 = ids[1];
    assert_eq!(g.txns.len(), 2);
    assert!(
        g.edges.contains(&format!("T{t2} -rw(key 1)-> T{t1}")),
        "{:?}",
        g.edges
    );
    assert!(
        g.edges.contains(&format!("T{t1} -wr(key 2)-> T{t2}")),
        "{:?}",
        g.edges
    );
}

#[test]
fn anomaly_lost_update_is_g_single() {
    // Both read key 1 empty and append; the later append was made without
    // seeing the earlier one.
    let mut run = Run::default();
    let ids = run.concurrent(0, &[&[r(1, &[]), a(1, 1)], &[r(1, &[]), a(1, 2)]]);
    run.serial(9, Outcome::Ok, &[r(1, &[1, 2])]);
    let report = run.must_check();
    assert_counts(&report, &[(AnomalyKind::GSingle, 1)]);
    assert_involves(&report, AnomalyKind::GSingle, &ids);
}

/// Write skew: each transaction reads the key the other appends to. The
/// only edges between them are anti-dependencies (rw), so this test fails if
/// the checker ignored rw edges.
#[test]
fn anomaly_g2_write_skew() {
    let mut run = Run::default();
    let ids = run.concurrent(0, &[&[r(1, &[]), a(2, 1)], &[r(2, &[]), a(1, 1)]]);
    run.serial(9, Outcome::Ok, &[r(1, &[1]), r(2, &[1])]);
    let report = run.must_check();
    assert_counts(&report, &[(AnomalyKind::G2, 1)]);
    let g2 = assert_involves(&report, AnomalyKind::G2, &ids);
    assert!(
        g2.edges.iter().all(|e| e.contains("-rw(key")),
        "{:?}",
        g2.edges
    );
    assert!(
        g2.explanation.contains("2 anti-dependencies"),
        "{}",
        g2.explanation
    );
}

#[test]
fn anomaly_strict_serializability_stale_read() {
    // T2 starts after T1 committed, yet does not see T1's append. Ordering
    // T2 before T1 is serializable, but not in real-time order.
    let mut run = Run::default();
    let t1 = run.serial(0, Outcome::Ok, &[a(1, 1)]);
    let t2 = run.serial(1, Outcome::Ok, &[r(1, &[])]);
    let report = run.must_check();
    assert_counts(&report, &[(AnomalyKind::StrictSerializability, 1)]);
    let rt = assert_involves(&report, AnomalyKind::StrictSerializability, &[t1, t2]);
    assert!(
        rt.edges.contains(&format!("T{t1} -rt-> T{t2}")),
        "{:?}",
        rt.edges
    );
    assert!(
        rt.edges.contains(&format!("T{t2} -rw(key 1)-> T{t1}")),
        "{:?}",
        rt.edges
    );
    assert!(
        rt.explanation.contains("G-single-like without them"),
        "{}",
        rt.explanation
    );

    // The same two transactions, concurrent, are fine.
    let mut run = Run::default();
    run.concurrent(0, &[&[a(1, 1)], &[r(1, &[])]]);
    assert_counts(&run.must_check(), &[]);
}

#[test]
fn anomaly_strict_serializability_through_a_chain_of_real_time() {
    // T1 commits; T2 (after it, unrelated) commits; T3 (after T2) misses
    // T1's append. The cycle runs T1 -rt-> T2 -rt-> T3 -rw-> T1.
    let mut run = Run::default();
    let t1 = run.serial(0, Outcome::Ok, &[a(1, 1)]);
    let t2 = run.serial(1, Outcome::Ok, &[a(2, 1)]);
    let t3 = run.serial(2, Outcome::Ok, &[r(1, &[])]);
    let report = run.must_check();
    assert_counts(&report, &[(AnomalyKind::StrictSerializability, 1)]);
    assert_involves(&report, AnomalyKind::StrictSerializability, &[t1, t2, t3]);
}

#[test]
fn anomaly_incompatible_order() {
    let mut run = Run::default();
    run.concurrent(0, &[&[a(1, 1)], &[a(1, 2)]]);
    let longest = run.serial(5, Outcome::Ok, &[r(1, &[1, 2])]);
    let other = run.serial(6, Outcome::Ok, &[r(1, &[2])]);
    let report = run.must_check();
    assert_eq!(
        report.counts.get(&AnomalyKind::IncompatibleOrder),
        Some(&1),
        "{:#?}",
        report
    );
    let anomaly = assert_involves(&report, AnomalyKind::IncompatibleOrder, &[longest, other]);
    assert!(
        anomaly.explanation.contains("position 0"),
        "{}",
        anomaly.explanation
    );
}

#[test]
fn anomaly_duplicate_elements() {
    let mut run = Run::default();
    run.serial(0, Outcome::Ok, &[a(1, 1)]);
    let reader = run.serial(1, Outcome::Ok, &[r(1, &[1, 1])]);
    let report = run.must_check();
    assert_counts(&report, &[(AnomalyKind::DuplicateElements, 1)]);
    assert_involves(&report, AnomalyKind::DuplicateElements, &[reader]);
}

#[test]
fn anomaly_internal_inconsistency() {
    // A read that misses the transaction's own append, and a non-repeatable
    // read inside one transaction.
    let mut run = Run::default();
    let own = run.serial(0, Outcome::Ok, &[a(1, 5), r(1, &[])]);
    run.serial(0, Outcome::Ok, &[a(2, 1)]);
    let repeat = run.serial(0, Outcome::Ok, &[r(2, &[]), r(2, &[1])]);
    // Fine: own appends after an earlier read.
    run.serial(
        0,
        Outcome::Ok,
        &[r(3, &[]), a(3, 1), a(3, 2), r(3, &[1, 2])],
    );
    let report = run.must_check();
    assert_eq!(
        report.counts.get(&AnomalyKind::Internal),
        Some(&2),
        "{:#?}",
        report.anomalies
    );
    let internal: Vec<_> = report
        .of_kind(AnomalyKind::Internal)
        .map(|a| a.txns.clone())
        .collect();
    assert_eq!(internal, vec![vec![own], vec![repeat]]);
}

#[test]
fn anomaly_garbage_read() {
    let mut run = Run::default();
    let reader = run.serial(0, Outcome::Ok, &[r(1, &[7])]);
    let report = run.must_check();
    assert_counts(&report, &[(AnomalyKind::GarbageRead, 1)]);
    assert_involves(&report, AnomalyKind::GarbageRead, &[reader]);
}

#[test]
fn anomaly_g_single_through_an_observed_info_transaction() {
    // T1's outcome is unknown, but T2 saw its append to key 1, so it
    // committed; T2 then must also see its append to key 2, which it did not
    // (nobody ever saw it: it comes after every observed element).
    let mut run = Run::default();
    let t1_mops = [a(1, 1), a(2, 1)];
    let t1 = run.invoke(0, &t1_mops);
    let t2 = run.invoke(1, &[r(1, &[1]), r(2, &[])]);
    run.complete(0, Outcome::Info, &t1_mops);
    run.complete(1, Outcome::Ok, &[r(1, &[1]), r(2, &[])]);
    let report = run.must_check();
    assert_counts(&report, &[(AnomalyKind::GSingle, 1)]);
    assert_involves(&report, AnomalyKind::GSingle, &[t1, t2]);
    assert_eq!(report.txns_info_observed, 1);
}

#[test]
fn reported_anomalies_are_capped_but_all_counted() {
    let mut run = Run::default();
    for i in 0..20 {
        run.serial(i, Outcome::Ok, &[r(i, &[1_000 + i])]);
    }
    let report = run.must_check();
    assert_eq!(report.counts.get(&AnomalyKind::GarbageRead), Some(&20));
    assert_eq!(
        report.of_kind(AnomalyKind::GarbageRead).count(),
        MAX_REPORTED_PER_KIND
    );
}

#[test]
fn duplicate_appends_are_a_workload_error() {
    let mut run = Run::default();
    run.serial(0, Outcome::Ok, &[a(1, 1)]);
    run.serial(0, Outcome::Fail, &[a(1, 1)]);
    let err = check(&run.history).unwrap_err();
    assert!(matches!(
        err,
        crate::history::HistoryError::DuplicateAppend {
            key: 1,
            element: 1,
            ..
        }
    ));
}

#[test]
fn report_serializes_and_summarises() {
    let mut run = Run::default();
    run.concurrent(0, &[&[r(1, &[]), a(2, 1)], &[r(2, &[]), a(1, 1)]]);
    let report = run.must_check();
    let json = serde_json::to_string(&report).unwrap();
    let back: ListAppendReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    let summary = report.summary();
    assert!(summary.contains("INVALID: G2 ×1"), "{summary}");
    assert!(summary.contains("2 transactions checked"), "{summary}");
}

// ---------------------------------------------------------------------------
// Simulated runs: a serial database behind concurrent clients. Each
// transaction takes effect atomically at its completion (inside its
// invoke..complete window), so every history is strict serializable.

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// How the simulated database runs a transaction.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Database {
    /// Atomically at its completion: strict serializable.
    Serial,
    /// Reads see the lists as of the invocation (plus the transaction's own
    /// appends), appends apply at completion, nothing conflicts: read skew,
    /// lost updates, write skew and stale reads.
    SnapshotReadsNoConflicts,
}

/// The lists of some keys.
type Lists = HashMap<Key, Vec<Element>>;

fn simulate(seed: u64, txns: usize, clients: usize, database: Database) -> History {
    let mut rng = Rng(seed);
    let mut run = Run::default();
    let mut db: HashMap<Key, Vec<Element>> = HashMap::new();
    let mut next_element: HashMap<Key, Element> = HashMap::new();
    // Per client slot: its process, its outstanding transaction and (for
    // snapshot reads) the lists its reads will see.
    let mut process: Vec<ProcessId> = (0..clients as u64).collect();
    let mut next_process = clients as u64;
    let mut outstanding: Vec<Option<(Vec<MicroOp>, Lists)>> = vec![None; clients];
    let mut invoked = 0;
    while invoked < txns || outstanding.iter().any(Option::is_some) {
        let slot = rng.below(clients as u64) as usize;
        match outstanding[slot].take() {
            None if invoked < txns => {
                // Keys rotate slowly so lists stay short (as Elle's workload).
                let base = (invoked / 200) as u64;
                let mops = (0..1 + rng.below(4))
                    .map(|_| {
                        let key = base + rng.below(8);
                        if rng.below(2) == 0 {
                            MicroOp::Read { key, list: None }
                        } else {
                            let element = next_element.entry(key).or_insert(0);
                            *element += 1;
                            MicroOp::Append {
                                key,
                                value: *element,
                            }
                        }
                    })
                    .collect::<Vec<_>>();
                let snapshot = match database {
                    Database::Serial => HashMap::new(),
                    Database::SnapshotReadsNoConflicts => mops
                        .iter()
                        .map(|mop| (mop.key(), db.get(&mop.key()).cloned().unwrap_or_default()))
                        .collect(),
                };
                run.invoke(process[slot], &mops);
                outstanding[slot] = Some((mops, snapshot));
                invoked += 1;
            }
            None => {}
            Some((mops, mut snapshot)) => {
                let roll = rng.below(100);
                let applies = roll < 90 || (roll >= 95 && rng.below(2) == 0);
                let mut done = mops.clone();
                if applies {
                    for mop in &mut done {
                        match (database, mop) {
                            (Database::Serial, MicroOp::Append { key, value }) => {
                                db.entry(*key).or_default().push(*value)
                            }
                            (Database::Serial, MicroOp::Read { key, list }) => {
                                *list = Some(db.get(key).cloned().unwrap_or_default())
                            }
                            (
                                Database::SnapshotReadsNoConflicts,
                                MicroOp::Append { key, value },
                            ) => {
                                db.entry(*key).or_default().push(*value);
                                snapshot.entry(*key).or_default().push(*value);
                            }
                            (Database::SnapshotReadsNoConflicts, MicroOp::Read { key, list }) => {
                                *list = Some(snapshot.get(key).cloned().unwrap_or_default())
                            }
                        }
                    }
                }
                match roll {
                    0..90 => run.complete(process[slot], Outcome::Ok, &done),
                    90..95 => run.complete(process[slot], Outcome::Fail, &mops),
                    _ => {
                        run.complete(process[slot], Outcome::Info, &mops);
                        process[slot] = next_process;
                        next_process += 1;
                    }
                }
            }
        }
    }
    run.history
}

#[test]
fn simulated_strict_serializable_runs_are_valid() {
    for seed in 0..20 {
        let history = simulate(seed, 300, 5, Database::Serial);
        let report = check(&history).unwrap();
        assert!(
            report.valid,
            "seed {seed}: {}\n{:#?}",
            report.summary(),
            report.anomalies
        );
        assert_eq!(report.txns_checked, 300);
    }
}

#[test]
fn simulated_run_with_a_stale_read_is_not_strict_serializable() {
    // Take a valid run and make one late read miss the last element it saw
    // of a key that an earlier, completed transaction appended to.
    let mut history = simulate(7, 300, 5, Database::Serial);
    let pairs = history.pairs().unwrap();
    let completion_of: BTreeMap<OpIndex, OpIndex> = pairs
        .iter()
        .filter_map(|p| Some((p.index(), p.completion?.index)))
        .collect();
    drop(pairs);
    // The last Ok read (in history order) of a non-empty list whose last
    // element's writer completed before the reader was invoked.
    let mut target = None;
    let mut writer_done: HashMap<(Key, Element), OpIndex> = HashMap::new();
    for op in &history.ops {
        if op.kind != OpKind::Invoke {
            continue;
        }
        if let (Some(&done), OpValue::Txn(mops)) = (completion_of.get(&op.index), &op.value)
            && history.ops[done].kind == OpKind::Ok
        {
            for mop in mops {
                if let MicroOp::Append { key, value } = mop {
                    writer_done.insert((*key, *value), done);
                }
            }
            if let OpValue::Txn(result) = &history.ops[done].value {
                for (i, mop) in result.iter().enumerate() {
                    if let MicroOp::Read {
                        key,
                        list: Some(list),
                    } = mop
                        && let Some(last) = list.last()
                        && writer_done
                            .get(&(*key, *last))
                            .is_some_and(|w| *w < op.index)
                        && !mops[..i].iter().any(|m| m.key() == *key)
                    {
                        target = Some((done, i));
                    }
                }
            }
        }
    }
    let (done, i) = target.unwrap();
    if let OpValue::Txn(result) = &mut history.ops[done].value
        && let MicroOp::Read {
            list: Some(list), ..
        } = &mut result[i]
    {
        list.pop();
    }
    let report = check(&history).unwrap();
    assert!(!report.valid, "{}", report.summary());
    assert!(
        report
            .counts
            .contains_key(&AnomalyKind::StrictSerializability)
            || report.counts.contains_key(&AnomalyKind::GSingle)
            || report.counts.contains_key(&AnomalyKind::G2),
        "{}",
        report.summary()
    );
}

#[test]
fn simulated_runs_without_isolation_are_invalid() {
    for seed in 0..5 {
        let history = simulate(seed, 300, 5, Database::SnapshotReadsNoConflicts);
        let report = check(&history).unwrap();
        assert!(!report.valid, "seed {seed}: {}", report.summary());
        assert!(
            report.counts.contains_key(&AnomalyKind::GSingle)
                || report.counts.contains_key(&AnomalyKind::G2),
            "seed {seed}: {}",
            report.summary()
        );
    }
}

/// Prints how long 10,000-transaction histories take to check, a valid one
/// and one full of anomalies (large strongly connected components); asserts
/// only their validity, never the time.
#[test]
fn performance_of_10k_transaction_histories() {
    for database in [Database::Serial, Database::SnapshotReadsNoConflicts] {
        let history = simulate(42, 10_000, 10, database);
        let started = Instant::now();
        let report = check(&history).unwrap();
        let elapsed = started.elapsed();
        println!(
            "list-append checker: {} ops, {} edges checked in {:.1} ms: {}",
            history.ops.len(),
            report.edges,
            elapsed.as_secs_f64() * 1e3,
            report.summary()
        );
        assert_eq!(
            report.valid,
            database == Database::Serial,
            "{}",
            report.summary()
        );
    }
}
