//! What the list-append checker reports: the anomaly kinds, one anomaly,
//! the report and its summary.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::history::{Element, OpIndex};

/// At most this many anomalies of each kind are described in
/// [`ListAppendReport::anomalies`]; all are counted in
/// [`ListAppendReport::counts`].
pub const MAX_REPORTED_PER_KIND: usize = 8;
/// The kinds of anomaly the checker reports. Their order is the order of
/// [`ListAppendReport::counts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AnomalyKind {
    /// A cycle of write-write (ww) dependencies: dirty write.
    G0,
    /// Aborted read: a committed transaction read an append of a failed one.
    G1a,
    /// Intermediate read: a read saw one append of a transaction but not that
    /// transaction's later append to the same key.
    G1b,
    /// A cycle of ww and write-read (wr) dependencies with at least one wr:
    /// circular information flow.
    G1c,
    /// A cycle with exactly one read-write anti-dependency (rw): read skew,
    /// lost update (forbidden by snapshot isolation).
    GSingle,
    /// A cycle with two or more rw edges: write skew (allowed by snapshot
    /// isolation, forbidden by serializability).
    G2,
    /// A cycle that exists only with real-time edges: serializable but not
    /// strictly serializable (not externally consistent), e.g. a stale read.
    StrictSerializability,
    /// Two reads of a key that are not prefixes of one another: no single
    /// version order explains them.
    IncompatibleOrder,
    /// An element appears more than once in one read.
    DuplicateElements,
    /// A transaction's read does not reflect its own earlier appends and
    /// reads of the same key.
    Internal,
    /// A read saw an element that no transaction appended.
    GarbageRead,
}

impl AnomalyKind {
    /// The name used in reports (Elle's names where Elle has one).
    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::G0 => "G0",
            AnomalyKind::G1a => "G1a",
            AnomalyKind::G1b => "G1b",
            AnomalyKind::G1c => "G1c",
            AnomalyKind::GSingle => "G-single",
            AnomalyKind::G2 => "G2",
            AnomalyKind::StrictSerializability => "strict-serializability",
            AnomalyKind::IncompatibleOrder => "incompatible-order",
            AnomalyKind::DuplicateElements => "duplicate-elements",
            AnomalyKind::Internal => "internal",
            AnomalyKind::GarbageRead => "garbage-read",
        }
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One anomaly, with the transactions involved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomaly {
    /// What kind.
    pub kind: AnomalyKind,
    /// The transactions involved, by invocation index; for a cycle, in cycle
    /// order (the last has an edge back to the first).
    pub txns: Vec<OpIndex>,
    /// For a cycle, its edges in order, e.g. `T12 -ww(key 3)-> T15`.
    pub edges: Vec<String>,
    /// What happened, in words.
    pub explanation: String,
}

/// What the list-append checker found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListAppendReport {
    /// No anomaly of any kind.
    pub valid: bool,
    /// List-append transactions in the history, whatever their outcome.
    pub txns_checked: usize,
    /// Of which committed.
    pub txns_ok: usize,
    /// Of which certainly aborted.
    pub txns_failed: usize,
    /// Of which indeterminate (including never completed).
    pub txns_info: usize,
    /// Indeterminate transactions found committed (an append was read).
    pub txns_info_observed: usize,
    /// Edges of the dependency graph (ww, wr, rw, rt).
    pub edges: usize,
    /// The first [`MAX_REPORTED_PER_KIND`] anomalies of each kind.
    pub anomalies: Vec<Anomaly>,
    /// How many anomalies of each kind were found (cycles: one per
    /// strongly connected component).
    pub counts: BTreeMap<AnomalyKind, usize>,
}

impl ListAppendReport {
    /// One paragraph: what was checked, anomalies by kind, valid or not.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "list-append: {} transactions checked ({} ok, {} failed, {} info of which {} \
             observed committed), {} dependency edges; ",
            self.txns_checked,
            self.txns_ok,
            self.txns_failed,
            self.txns_info,
            self.txns_info_observed,
            self.edges,
        );
        if self.valid {
            s.push_str("no anomalies: valid (strict serializable as far as observed).");
            return s;
        }
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(kind, n)| format!("{kind} ×{n}"))
            .collect();
        s.push_str(&format!("INVALID: {}", counts.join(", ")));
        if let Some(first) = self.anomalies.first() {
            s.push_str(&format!("; e.g. {}: {}", first.kind, first.explanation));
        }
        s.push('.');
        s
    }

    /// The reported anomalies of one kind.
    pub fn of_kind(&self, kind: AnomalyKind) -> impl Iterator<Item = &Anomaly> {
        self.anomalies.iter().filter(move |a| a.kind == kind)
    }
}

/// Anomalies found so far: all counted, the first few of each kind kept.
#[derive(Debug, Default)]
pub(super) struct Found {
    pub(super) anomalies: Vec<Anomaly>,
    pub(super) counts: BTreeMap<AnomalyKind, usize>,
}

impl Found {
    /// Counts an anomaly of `kind`; true if it should be described too
    /// (fewer than [`MAX_REPORTED_PER_KIND`] of its kind are kept).
    pub(super) fn count(&mut self, kind: AnomalyKind) -> bool {
        let count = self.counts.entry(kind).or_default();
        *count += 1;
        *count <= MAX_REPORTED_PER_KIND
    }

    /// Counts and keeps an anomaly described in advance.
    pub(super) fn add(&mut self, anomaly: Anomaly) {
        if self.count(anomaly.kind) {
            self.anomalies.push(anomaly);
        }
    }
}

/// A list for an explanation: whole if short, else its ends.
pub(super) fn describe_list(list: &[Element]) -> String {
    const SHOWN: usize = 8;
    let join = |items: &[Element]| {
        items
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if list.len() <= SHOWN {
        format!("[{}]", join(list))
    } else {
        format!(
            "[{}, …, {}] ({} elements)",
            join(&list[..SHOWN / 2]),
            join(&list[list.len() - SHOWN / 2..]),
            list.len()
        )
    }
}
