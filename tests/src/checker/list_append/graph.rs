//! Inference: from the history's transactions to the dependency graph
//! (ww, wr, rw, rt edges) and the anomalies visible without cycles.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::report::{Anomaly, AnomalyKind, Found, ListAppendReport, describe_list};
use crate::history::{
    Completed, Element, History, HistoryError, Key, MicroOp, OpIndex, OpValue, Outcome,
};

/// Checks a list-append history. Operations other than [`OpValue::Txn`] are
/// ignored. Fails only if the history breaks the recorder's rules or two
/// transactions appended the same element to the same key.
pub fn check(history: &History) -> Result<ListAppendReport, HistoryError> {
    let pairs = history.pairs()?;
    let txns: Vec<Txn<'_>> = pairs.iter().filter_map(Txn::from_pair).collect();
    let mut checker = Checker::new(txns)?;
    checker.build_orders();
    checker.check_reads();
    checker.find_unobserved_appends();
    checker.check_intermediate_reads();
    checker.add_write_edges();
    checker.add_read_edges();
    checker.add_realtime_edges();
    checker.find_cycles();
    Ok(checker.report())
}

/// A list-append transaction of the history. Checker-internal ids are
/// positions in `Checker::txns`; reports use `id` (the invocation index).
#[derive(Debug)]
pub(super) struct Txn<'h> {
    pub(super) id: OpIndex,
    outcome: Outcome,
    mops: &'h [MicroOp],
    pair: Completed<'h>,
}

impl<'h> Txn<'h> {
    fn from_pair(pair: &Completed<'h>) -> Option<Txn<'h>> {
        match pair.value() {
            OpValue::Txn(mops) => Some(Txn {
                id: pair.index(),
                outcome: pair.outcome(),
                mops,
                pair: *pair,
            }),
            _ => None,
        }
    }

    /// The committed reads: `(key, list)`.
    fn reads(&self) -> impl Iterator<Item = (Key, &'h [Element])> + '_ {
        let ok = self.outcome == Outcome::Ok;
        self.mops.iter().filter_map(move |mop| match mop {
            MicroOp::Read {
                key,
                list: Some(list),
            } if ok => Some((*key, list.as_slice())),
            _ => None,
        })
    }

    fn appends(&self) -> impl Iterator<Item = (Key, Element)> + 'h {
        self.mops.iter().filter_map(|mop| match mop {
            MicroOp::Append { key, value } => Some((*key, *value)),
            MicroOp::Read { .. } => None,
        })
    }
}

/// Who appended an element: the transaction, and which of its appends to
/// that key it was (`nth` of `count`).
#[derive(Debug, Clone, Copy)]
struct Writer {
    txn: usize,
    nth: usize,
    count: usize,
}

/// The version order of one key.
#[derive(Debug)]
struct Order<'h> {
    /// The longest list read (empty if every read was empty).
    elements: &'h [Element],
    /// Element -> position in `elements` (first occurrence).
    position: HashMap<Element, usize>,
    /// Committed appends to the key that no read saw: `(txn, element)`.
    unobserved: Vec<(usize, Element)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum EdgeKind {
    Ww,
    Wr,
    Rw,
    Rt,
}

impl EdgeKind {
    /// The kind's bit in an edge-kind mask.
    pub(super) const fn bit(self) -> u8 {
        match self {
            EdgeKind::Ww => 1,
            EdgeKind::Wr => 2,
            EdgeKind::Rw => 4,
            EdgeKind::Rt => 8,
        }
    }
}

/// Why an edge exists: the evidence, for the explanation.
#[derive(Debug, Clone, Copy)]
pub(super) enum Why {
    /// `before` (by the source) came just before `after` (by the target).
    Ww {
        key: Key,
        before: Element,
        after: Element,
    },
    /// The target's read of `key` ended with the source's `element`.
    Wr { key: Key, element: Element },
    /// The source's read of `key` ended at `seen` and missed the target's
    /// `missed`, the next element.
    Rw {
        key: Key,
        seen: Option<Element>,
        missed: Element,
    },
    /// The source completed before the target was invoked.
    Rt { completed_ns: u64, invoked_ns: u64 },
}

impl Why {
    pub(super) fn kind(&self) -> EdgeKind {
        match self {
            Why::Ww { .. } => EdgeKind::Ww,
            Why::Wr { .. } => EdgeKind::Wr,
            Why::Rw { .. } => EdgeKind::Rw,
            Why::Rt { .. } => EdgeKind::Rt,
        }
    }
}

/// One dependency between two transactions (checker-internal ids).
#[derive(Debug)]
pub(super) struct Edge {
    pub(super) from: usize,
    pub(super) to: usize,
    pub(super) why: Why,
}

/// One check in progress: the transactions, who appended what, the version
/// orders, the graph (edges with adjacency lists) and the anomalies so far.
/// `check` runs its steps in order; each step reads what earlier ones built.
pub(super) struct Checker<'h> {
    pub(super) txns: Vec<Txn<'h>>,
    writers: HashMap<(Key, Element), Writer>,
    /// Ok, or Info with an observed append.
    committed: Vec<bool>,
    orders: BTreeMap<Key, Order<'h>>,
    pub(super) edges: Vec<Edge>,
    /// Node -> ids of its outgoing edges.
    pub(super) out: Vec<Vec<usize>>,
    edge_set: HashSet<(usize, usize, EdgeKind)>,
    pub(super) found: Found,
}

impl<'h> Checker<'h> {
    fn new(txns: Vec<Txn<'h>>) -> Result<Checker<'h>, HistoryError> {
        let mut writers: HashMap<(Key, Element), Writer> = HashMap::new();
        for (t, txn) in txns.iter().enumerate() {
            let mut count: HashMap<Key, usize> = HashMap::new();
            for (key, _) in txn.appends() {
                *count.entry(key).or_default() += 1;
            }
            let mut nth: HashMap<Key, usize> = HashMap::new();
            for (key, element) in txn.appends() {
                let n = nth.entry(key).or_default();
                let writer = Writer {
                    txn: t,
                    nth: *n,
                    count: count[&key],
                };
                *n += 1;
                if let Some(first) = writers.insert((key, element), writer) {
                    return Err(HistoryError::DuplicateAppend {
                        key,
                        element,
                        first: txns[first.txn].id,
                        second: txn.id,
                    });
                }
            }
        }
        let committed = txns.iter().map(|t| t.outcome == Outcome::Ok).collect();
        let n = txns.len();
        Ok(Checker {
            txns,
            writers,
            committed,
            orders: BTreeMap::new(),
            edges: Vec::new(),
            out: vec![Vec::new(); n],
            edge_set: HashSet::new(),
            found: Found::default(),
        })
    }

    pub(super) fn name(&self, t: usize) -> String {
        format!("T{}", self.txns[t].id)
    }

    /// Per committed read: internal consistency, duplicates, garbage, G1a;
    /// marks indeterminate writers whose appends were read as committed.
    ///
    /// NB: most reads are prefixes of their key's version order, so the
    /// writers of the order's elements are looked up once per key, and such a
    /// read only needs the order's bad positions before its end. Other reads
    /// (and reads with duplicates) are checked element by element.
    fn check_reads(&mut self) {
        let mut bad_positions: HashMap<Key, (Vec<usize>, usize)> = HashMap::new();
        let keys: Vec<Key> = self.orders.keys().copied().collect();
        for key in keys {
            let elements = self.orders[&key].elements;
            let mut bad = Vec::new();
            for (i, element) in elements.iter().enumerate() {
                match self.writers.get(&(key, *element)).map(|w| w.txn) {
                    None => bad.push(i),
                    Some(w) => match self.txns[w].outcome {
                        Outcome::Ok => {}
                        Outcome::Info => self.committed[w] = true,
                        Outcome::Fail => bad.push(i),
                    },
                }
            }
            let position = &self.orders[&key].position;
            let first_duplicate = elements
                .iter()
                .enumerate()
                .find(|(i, e)| position.get(e) != Some(i))
                .map_or(usize::MAX, |(i, _)| i);
            bad_positions.insert(key, (bad, first_duplicate));
        }
        for t in 0..self.txns.len() {
            if self.txns[t].outcome != Outcome::Ok {
                continue;
            }
            self.check_internal(t);
            let reads: Vec<(Key, &'h [Element])> = self.txns[t].reads().collect();
            for (key, list) in reads {
                let order = self.orders.get(&key).map_or(&[][..], |o| o.elements);
                match bad_positions.get(&key) {
                    Some((bad, first_duplicate))
                        if list.len() <= *first_duplicate && order.starts_with(list) =>
                    {
                        let seen = bad.iter().take_while(|i| **i < list.len());
                        if seen.clone().next().is_some() {
                            let elements: Vec<Element> = seen.map(|i| order[*i]).collect();
                            self.check_read_elements(t, key, &elements);
                        }
                    }
                    _ => self.check_read_elements(t, key, list),
                }
            }
        }
    }

    /// A read must show the transaction's own earlier reads and appends of
    /// the key: exactly (earlier read ++ appends since), or, with no earlier
    /// read, a list ending in its appends.
    fn check_internal(&mut self, t: usize) {
        struct Expect<'a> {
            base: Option<&'a [Element]>,
            appended: Vec<Element>,
        }
        let txn = &self.txns[t];
        let mut expect: HashMap<Key, Expect<'h>> = HashMap::new();
        let mut problems = Vec::new();
        for mop in txn.mops {
            match mop {
                MicroOp::Append { key, value } => {
                    expect
                        .entry(*key)
                        .or_insert(Expect {
                            base: None,
                            appended: Vec::new(),
                        })
                        .appended
                        .push(*value);
                }
                MicroOp::Read {
                    key,
                    list: Some(list),
                } => {
                    if let Some(e) = expect.get(key) {
                        let fits = match e.base {
                            Some(base) => {
                                list.len() == base.len() + e.appended.len()
                                    && list.starts_with(base)
                                    && list.ends_with(&e.appended)
                            }
                            None => list.ends_with(&e.appended),
                        };
                        if !fits {
                            let wanted = match e.base {
                                Some(base) => {
                                    let mut all = base.to_vec();
                                    all.extend(&e.appended);
                                    describe_list(&all)
                                }
                                None => format!("a list ending in {}", describe_list(&e.appended)),
                            };
                            problems.push(format!(
                                "{} read key {key} as {} after its own earlier reads and appends \
                                 of it, which require {wanted}",
                                self.name(t),
                                describe_list(list)
                            ));
                        }
                    }
                    expect.insert(
                        *key,
                        Expect {
                            base: Some(list.as_slice()),
                            appended: Vec::new(),
                        },
                    );
                }
                MicroOp::Read { list: None, .. } => {}
            }
        }
        let id = txn.id;
        for explanation in problems {
            self.found.add(Anomaly {
                kind: AnomalyKind::Internal,
                txns: vec![id],
                edges: Vec::new(),
                explanation,
            });
        }
    }

    fn check_read_elements(&mut self, t: usize, key: Key, list: &[Element]) {
        let reader = self.name(t);
        let mut seen: HashMap<Element, usize> = HashMap::new();
        let mut garbage = Vec::new();
        let mut aborted: Vec<(usize, Element)> = Vec::new();
        for &element in list {
            *seen.entry(element).or_default() += 1;
            let Some(writer) = self.writers.get(&(key, element)).copied() else {
                garbage.push(element);
                continue;
            };
            match self.txns[writer.txn].outcome {
                Outcome::Ok => {}
                Outcome::Info => self.committed[writer.txn] = true,
                Outcome::Fail => {
                    if !aborted.iter().any(|(w, _)| *w == writer.txn) {
                        aborted.push((writer.txn, element));
                    }
                }
            }
        }
        let mut duplicates: Vec<(Element, usize)> =
            seen.into_iter().filter(|(_, n)| *n > 1).collect();
        duplicates.sort_unstable();
        for (element, times) in duplicates {
            self.found.add(Anomaly {
                kind: AnomalyKind::DuplicateElements,
                txns: vec![self.txns[t].id],
                edges: Vec::new(),
                explanation: format!(
                    "{reader} read key {key} with element {element} {times} times"
                ),
            });
        }
        if !garbage.is_empty() {
            self.found.add(Anomaly {
                kind: AnomalyKind::GarbageRead,
                txns: vec![self.txns[t].id],
                edges: Vec::new(),
                explanation: format!(
                    "{reader} read key {key} with {}, which no transaction appended",
                    describe_list(&garbage)
                ),
            });
        }
        for (writer, element) in aborted {
            let writer_name = self.name(writer);
            self.found.add(Anomaly {
                kind: AnomalyKind::G1a,
                txns: vec![self.txns[writer].id, self.txns[t].id],
                edges: Vec::new(),
                explanation: format!(
                    "{reader} read key {key} with {element}, appended by {writer_name}, which failed \
                     (aborted read)"
                ),
            });
        }
    }

    /// The version order of each key (its longest read); every other read
    /// must be a prefix of it.
    fn build_orders(&mut self) {
        let mut longest: BTreeMap<Key, (&'h [Element], usize)> = BTreeMap::new();
        for (t, txn) in self.txns.iter().enumerate() {
            for (key, list) in txn.reads() {
                let entry = longest.entry(key).or_insert((list, t));
                if list.len() > entry.0.len() {
                    *entry = (list, t);
                }
            }
        }
        for t in 0..self.txns.len() {
            let reads: Vec<(Key, &'h [Element])> = self.txns[t].reads().collect();
            for (key, list) in reads {
                let Some(&(order, by)) = longest.get(&key) else {
                    continue;
                };
                if order.starts_with(list) {
                    continue;
                }
                let at = order.iter().zip(list).take_while(|(a, b)| a == b).count();
                let explanation = format!(
                    "{} read key {key} as {}, but {} read it as {}: they differ at position {at} \
                     ({} vs {}), so no single order of appends explains both",
                    self.name(t),
                    describe_list(list),
                    self.name(by),
                    describe_list(order),
                    list[at],
                    order[at],
                );
                let txns = vec![self.txns[t].id, self.txns[by].id];
                self.found.add(Anomaly {
                    kind: AnomalyKind::IncompatibleOrder,
                    txns,
                    edges: Vec::new(),
                    explanation,
                });
            }
        }
        for (key, (elements, _)) in longest {
            let mut position = HashMap::with_capacity(elements.len());
            for (i, element) in elements.iter().enumerate() {
                position.entry(*element).or_insert(i);
            }
            self.orders.insert(
                key,
                Order {
                    elements,
                    position,
                    unobserved: Vec::new(),
                },
            );
        }
    }

    /// The committed appends that no read saw, per key with an order (they
    /// come after every observed element).
    fn find_unobserved_appends(&mut self) {
        for (t, txn) in self.txns.iter().enumerate() {
            if !self.committed[t] {
                continue;
            }
            for (key, element) in txn.appends() {
                if let Some(order) = self.orders.get_mut(&key)
                    && !order.position.contains_key(&element)
                {
                    order.unobserved.push((t, element));
                }
            }
        }
    }

    /// G1b: a read whose last element (before the reader's own appends) is
    /// not the last its writer appended to the key.
    fn check_intermediate_reads(&mut self) {
        for t in 0..self.txns.len() {
            let reads: Vec<(Key, &'h [Element])> = self.txns[t].reads().collect();
            for (key, list) in reads {
                let seen = self.external_prefix(t, key, list);
                let Some(&last) = seen.last() else { continue };
                let Some(writer) = self.writers.get(&(key, last)).copied() else {
                    continue;
                };
                if writer.txn == t || writer.nth + 1 == writer.count {
                    continue;
                }
                let next = self.txns[writer.txn]
                    .appends()
                    .filter(|(k, _)| *k == key)
                    .nth(writer.nth + 1)
                    .map_or_else(String::new, |(_, e)| e.to_string());
                let explanation = format!(
                    "{} read key {key} ending at {last}, appended by {}, which went on to append \
                     {next} to key {key}: it saw the middle of another transaction (intermediate read)",
                    self.name(t),
                    self.name(writer.txn),
                );
                let txns = vec![self.txns[writer.txn].id, self.txns[t].id];
                self.found.add(Anomaly {
                    kind: AnomalyKind::G1b,
                    txns,
                    edges: Vec::new(),
                    explanation,
                });
            }
        }
    }

    /// The part of `list` before the reader's own trailing appends.
    fn external_prefix<'l>(&self, t: usize, key: Key, list: &'l [Element]) -> &'l [Element] {
        let own = list
            .iter()
            .rev()
            .take_while(|e| self.writers.get(&(key, **e)).is_some_and(|w| w.txn == t))
            .count();
        &list[..list.len() - own]
    }

    fn committed_writer(&self, key: Key, element: Element) -> Option<usize> {
        self.writers
            .get(&(key, element))
            .map(|w| w.txn)
            .filter(|t| self.committed[*t])
    }

    fn add_edge(&mut self, from: usize, to: usize, why: Why) {
        if from == to || !self.edge_set.insert((from, to, why.kind())) {
            return;
        }
        self.out[from].push(self.edges.len());
        self.edges.push(Edge { from, to, why });
    }

    /// ww: consecutive committed writers in each version order, then the
    /// last observed writer before each unobserved committed append.
    fn add_write_edges(&mut self) {
        let mut new_edges = Vec::new();
        for (key, order) in &self.orders {
            let mut previous: Option<(usize, Element)> = None;
            for &element in order.elements {
                let Some(writer) = self.committed_writer(*key, element) else {
                    continue;
                };
                if let Some((p, before)) = previous
                    && p != writer
                {
                    new_edges.push((
                        p,
                        writer,
                        Why::Ww {
                            key: *key,
                            before,
                            after: element,
                        },
                    ));
                }
                previous = Some((writer, element));
            }
            if let Some((p, before)) = previous {
                for &(writer, element) in &order.unobserved {
                    new_edges.push((
                        p,
                        writer,
                        Why::Ww {
                            key: *key,
                            before,
                            after: element,
                        },
                    ));
                }
            }
        }
        for (from, to, why) in new_edges {
            self.add_edge(from, to, why);
        }
    }

    /// wr from the writer of the last element each read saw; rw to the
    /// writer of the next element in the version order (or, for a read of
    /// the whole order, to every unobserved committed append).
    fn add_read_edges(&mut self) {
        let mut new_edges = Vec::new();
        for t in 0..self.txns.len() {
            for (key, list) in self.txns[t].reads() {
                let seen = self.external_prefix(t, key, list);
                let last = seen.last().copied();
                if let Some(element) = last
                    && let Some(writer) = self.committed_writer(key, element)
                {
                    new_edges.push((writer, t, Why::Wr { key, element }));
                }
                let Some(order) = self.orders.get(&key) else {
                    continue;
                };
                if !order.elements.starts_with(seen) {
                    continue; // incompatible order, reported already
                }
                let next = order.elements[seen.len()..]
                    .iter()
                    .find_map(|e| self.committed_writer(key, *e).map(|w| (w, *e)));
                match next {
                    Some((writer, missed)) => {
                        new_edges.push((
                            t,
                            writer,
                            Why::Rw {
                                key,
                                seen: last,
                                missed,
                            },
                        ));
                    }
                    None => {
                        for &(writer, missed) in &order.unobserved {
                            new_edges.push((
                                t,
                                writer,
                                Why::Rw {
                                    key,
                                    seen: last,
                                    missed,
                                },
                            ));
                        }
                    }
                }
            }
        }
        for (from, to, why) in new_edges {
            self.add_edge(from, to, why);
        }
    }

    /// rt: a transitive reduction of "completed before invoked", walking the
    /// history in order. Only `Ok` transactions have a completion; observed
    /// indeterminate ones only receive edges.
    fn add_realtime_edges(&mut self) {
        let mut events: Vec<(OpIndex, bool, usize)> = Vec::new(); // (index, is_completion, txn)
        for (t, txn) in self.txns.iter().enumerate() {
            if !self.committed[t] {
                continue;
            }
            events.push((txn.pair.invoke.index, false, t));
            if txn.outcome == Outcome::Ok
                && let Some(completion) = txn.pair.completion
            {
                events.push((completion.index, true, t));
            }
        }
        events.sort_unstable();
        let mut frontier: Vec<usize> = Vec::new();
        let mut predecessors: HashMap<usize, Vec<usize>> = HashMap::new();
        let mut new_edges = Vec::new();
        for (_, is_completion, t) in events {
            if is_completion {
                if let Some(before) = predecessors.remove(&t) {
                    frontier.retain(|f| !before.contains(f));
                }
                frontier.push(t);
            } else {
                let invoked_ns = self.txns[t].pair.invoke.time_ns;
                for &p in &frontier {
                    let completed_ns = self.txns[p].pair.completion.map_or(0, |c| c.time_ns);
                    new_edges.push((
                        p,
                        t,
                        Why::Rt {
                            completed_ns,
                            invoked_ns,
                        },
                    ));
                }
                predecessors.insert(t, frontier.clone());
            }
        }
        for (from, to, why) in new_edges {
            self.add_edge(from, to, why);
        }
    }

    fn report(self) -> ListAppendReport {
        let count = |o: Outcome| self.txns.iter().filter(|t| t.outcome == o).count();
        let txns_info_observed = self
            .txns
            .iter()
            .enumerate()
            .filter(|(t, txn)| txn.outcome == Outcome::Info && self.committed[*t])
            .count();
        let mut anomalies = self.found.anomalies;
        anomalies.sort_by_key(|a| a.kind);
        ListAppendReport {
            valid: self.found.counts.is_empty(),
            txns_checked: self.txns.len(),
            txns_ok: count(Outcome::Ok),
            txns_failed: count(Outcome::Fail),
            txns_info: count(Outcome::Info),
            txns_info_observed,
            edges: self.edges.len(),
            anomalies,
            counts: self.found.counts,
        }
    }
}
