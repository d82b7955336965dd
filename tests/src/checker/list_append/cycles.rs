//! Cycles: strongly connected components of the dependency graph, a
//! shortest cycle in each, and its classification.

use std::collections::VecDeque;

use petgraph::graph::{DiGraph, NodeIndex};

use super::graph::{Checker, Edge, EdgeKind, Why};
use super::report::{Anomaly, AnomalyKind};

/// Node visits allowed per strongly connected component when looking for a
/// G-single cycle (one breadth-first search per rw edge of the component).
pub const SEARCH_BUDGET: usize = 2_000_000;

impl Checker<'_> {
    /// Strongly connected components of the graph of `mask`'s edge kinds:
    /// component id per node, and the non-trivial components. Kosaraju's
    /// algorithm, whose depth-first searches keep their stack on the heap:
    /// petgraph's Tarjan recurses once per node along a path, and the
    /// real-time chain of a 20-minute soak overflowed the thread's stack.
    fn components(&self, mask: u8) -> (Vec<usize>, Vec<Vec<usize>>) {
        let mut graph: DiGraph<(), ()> = DiGraph::with_capacity(self.txns.len(), self.edges.len());
        for _ in 0..self.txns.len() {
            graph.add_node(());
        }
        for edge in &self.edges {
            if edge.why.kind().bit() & mask != 0 {
                graph.add_edge(NodeIndex::new(edge.from), NodeIndex::new(edge.to), ());
            }
        }
        let mut id = vec![usize::MAX; self.txns.len()];
        let mut nontrivial = Vec::new();
        for (c, component) in petgraph::algo::kosaraju_scc(&graph).into_iter().enumerate() {
            let mut nodes: Vec<usize> = component.into_iter().map(|n| n.index()).collect();
            for &n in &nodes {
                id[n] = c;
            }
            if nodes.len() > 1 {
                nodes.sort_unstable();
                nontrivial.push(nodes);
            }
        }
        nontrivial.sort_unstable();
        (id, nontrivial)
    }

    /// The edges of `kind` from `nodes` (one component) to the same component.
    fn edges_within<'a>(
        &'a self,
        nodes: &'a [usize],
        component: &'a [usize],
        kind: EdgeKind,
    ) -> impl Iterator<Item = usize> + 'a {
        let c = component[nodes[0]];
        nodes.iter().flat_map(move |n| {
            self.out[*n].iter().copied().filter(move |e| {
                let edge = &self.edges[*e];
                edge.why.kind() == kind && component[edge.to] == c
            })
        })
    }

    pub(super) fn find_cycles(&mut self) {
        const WW: u8 = EdgeKind::Ww.bit();
        const WW_WR: u8 = WW | EdgeKind::Wr.bit();
        const WW_WR_RW: u8 = WW_WR | EdgeKind::Rw.bit();
        const ALL: u8 = WW_WR_RW | EdgeKind::Rt.bit();
        let mut search = Search::new(self.txns.len());

        // G0: any ww edge inside a ww component closes a ww cycle.
        let (component, nontrivial) = self.components(WW);
        for nodes in &nontrivial {
            let first = self.edges_within(nodes, &component, EdgeKind::Ww).next();
            let cycle =
                first.and_then(|e| search.cycle_through(self, e, &component, WW, usize::MAX));
            if let Some(cycle) = cycle {
                self.report_cycle(AnomalyKind::G0, &cycle);
            }
        }

        // G1c: any wr edge inside a ww+wr component.
        let (component, nontrivial) = self.components(WW_WR);
        for nodes in &nontrivial {
            let first = self.edges_within(nodes, &component, EdgeKind::Wr).next();
            let cycle =
                first.and_then(|e| search.cycle_through(self, e, &component, WW_WR, usize::MAX));
            if let Some(cycle) = cycle {
                self.report_cycle(AnomalyKind::G1c, &cycle);
            }
        }

        // G-single: an rw edge closed by ww and wr edges only; else G2.
        let (component, nontrivial) = self.components(WW_WR_RW);
        for nodes in &nontrivial {
            let rw: Vec<usize> = self.edges_within(nodes, &component, EdgeKind::Rw).collect();
            let Some(&first) = rw.first() else { continue };
            let mut budget = SEARCH_BUDGET;
            let mut cycle = None;
            for &e in &rw {
                cycle = search.cycle_through(self, e, &component, WW_WR, budget);
                budget = budget.saturating_sub(search.visited);
                if cycle.is_some() || budget == 0 {
                    break;
                }
            }
            if cycle.is_none() {
                cycle = search.cycle_through(self, first, &component, WW_WR_RW, usize::MAX);
            }
            if let Some(cycle) = cycle {
                let kind = classify(self, &cycle);
                self.report_cycle(kind, &cycle);
            }
        }

        // Real time: an rt edge joining two ww+wr+rw components closes a
        // cycle that only real-time order makes.
        let serializable_component = component;
        let (component, nontrivial) = self.components(ALL);
        for nodes in &nontrivial {
            let joining = self
                .edges_within(nodes, &component, EdgeKind::Rt)
                .find(|e| {
                    let edge = &self.edges[*e];
                    serializable_component[edge.from] != serializable_component[edge.to]
                });
            let cycle =
                joining.and_then(|e| search.cycle_through(self, e, &component, ALL, usize::MAX));
            if let Some(cycle) = cycle {
                self.report_cycle(AnomalyKind::StrictSerializability, &cycle);
            }
        }
    }

    fn report_cycle(&mut self, kind: AnomalyKind, cycle: &[usize]) {
        if !self.found.count(kind) {
            return;
        }
        let txns = cycle
            .iter()
            .map(|e| self.txns[self.edges[*e].from].id)
            .collect();
        let edges = cycle.iter().map(|e| self.edge_label(*e)).collect();
        let steps: Vec<String> = cycle.iter().map(|e| self.edge_evidence(*e)).collect();
        let first = self.name(self.edges[cycle[0]].from);
        let rw = count_kind(self, cycle, EdgeKind::Rw);
        let lead = match kind {
            AnomalyKind::G0 => "a cycle of write-write dependencies".to_string(),
            AnomalyKind::G1c => "a cycle of write-write and write-read dependencies".to_string(),
            AnomalyKind::GSingle => "a cycle with exactly one anti-dependency (rw)".to_string(),
            AnomalyKind::G2 => format!("a cycle with {rw} anti-dependencies (rw)"),
            _ => format!(
                "a cycle closed by {} real-time edge(s), {} without them",
                count_kind(self, cycle, EdgeKind::Rt),
                classify_without_rt(rw, count_kind(self, cycle, EdgeKind::Wr))
            ),
        };
        self.found.anomalies.push(Anomaly {
            kind,
            txns,
            edges,
            explanation: format!(
                "{lead}: {}; so {first} must both precede and follow itself",
                steps.join("; ")
            ),
        });
    }

    fn edge_label(&self, e: usize) -> String {
        let edge = &self.edges[e];
        let (from, to) = (self.name(edge.from), self.name(edge.to));
        match edge.why {
            Why::Ww { key, .. } => format!("{from} -ww(key {key})-> {to}"),
            Why::Wr { key, .. } => format!("{from} -wr(key {key})-> {to}"),
            Why::Rw { key, .. } => format!("{from} -rw(key {key})-> {to}"),
            Why::Rt { .. } => format!("{from} -rt-> {to}"),
        }
    }

    fn edge_evidence(&self, e: usize) -> String {
        let edge = &self.edges[e];
        let (from, to) = (self.name(edge.from), self.name(edge.to));
        match edge.why {
            Why::Ww { key, before, after } => {
                format!("{from} appended {before} to key {key} before {to} appended {after}")
            }
            Why::Wr { key, element } => {
                format!("{to} read {from}'s append of {element} to key {key}")
            }
            Why::Rw { key, seen, missed } => {
                let seen = seen.map_or_else(|| "empty".to_string(), |s| format!("ending at {s}"));
                format!("{from} read key {key} {seen}, missing {to}'s later append of {missed}")
            }
            Why::Rt {
                completed_ns,
                invoked_ns,
            } => format!(
                "{from} completed (at {:.3} ms) before {to} was invoked (at {:.3} ms)",
                completed_ns as f64 / 1e6,
                invoked_ns as f64 / 1e6
            ),
        }
    }
}

fn count_kind(checker: &Checker<'_>, cycle: &[usize], kind: EdgeKind) -> usize {
    cycle
        .iter()
        .filter(|e| checker.edges[**e].why.kind() == kind)
        .count()
}

/// The kind of a cycle by its edges.
fn classify(checker: &Checker<'_>, cycle: &[usize]) -> AnomalyKind {
    let rw = count_kind(checker, cycle, EdgeKind::Rw);
    let wr = count_kind(checker, cycle, EdgeKind::Wr);
    match (count_kind(checker, cycle, EdgeKind::Rt), rw, wr) {
        (1.., _, _) => AnomalyKind::StrictSerializability,
        (0, 2.., _) => AnomalyKind::G2,
        (0, 1, _) => AnomalyKind::GSingle,
        (0, 0, 1..) => AnomalyKind::G1c,
        (0, 0, 0) => AnomalyKind::G0,
    }
}

fn classify_without_rt(rw: usize, wr: usize) -> &'static str {
    match (rw, wr) {
        (2.., _) => "G2-like",
        (1, _) => "G-single-like",
        (0, 1..) => "G1c-like",
        (0, 0) => "G0-like",
    }
}

/// Breadth-first search for a shortest path back from an edge's target to
/// its source, inside one component; reuses its arrays between searches.
struct Search {
    stamp: Vec<u32>,
    parent: Vec<usize>,
    generation: u32,
    /// Nodes visited by the last search.
    visited: usize,
}

impl Search {
    fn new(n: usize) -> Search {
        Search {
            stamp: vec![0; n],
            parent: vec![usize::MAX; n],
            generation: 0,
            visited: 0,
        }
    }

    /// A cycle (edge ids in order, starting with `through`) that uses edge
    /// `through` and then only edges of `mask` within `through`'s component,
    /// visiting at most `budget` nodes.
    fn cycle_through(
        &mut self,
        checker: &Checker<'_>,
        through: usize,
        component: &[usize],
        mask: u8,
        budget: usize,
    ) -> Option<Vec<usize>> {
        let Edge {
            from: goal,
            to: start,
            ..
        } = checker.edges[through];
        let c = component[start];
        self.generation += 1;
        self.visited = 0;
        let generation = self.generation;
        self.stamp[start] = generation;
        let mut queue = VecDeque::from([start]);
        while let Some(node) = queue.pop_front() {
            self.visited += 1;
            if node == goal {
                let mut path = Vec::new();
                let mut at = goal;
                while at != start {
                    let e = self.parent[at];
                    path.push(e);
                    at = checker.edges[e].from;
                }
                path.push(through);
                path.reverse();
                return Some(path);
            }
            if self.visited >= budget {
                return None;
            }
            for &e in &checker.out[node] {
                let edge = &checker.edges[e];
                if edge.why.kind().bit() & mask == 0
                    || component[edge.to] != c
                    || self.stamp[edge.to] == generation
                {
                    continue;
                }
                self.stamp[edge.to] = generation;
                self.parent[edge.to] = e;
                queue.push_back(edge.to);
            }
        }
        None
    }
}
