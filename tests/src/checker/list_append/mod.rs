//! An Elle-style checker for list-append transactions (Kingsbury & Alvaro,
//! "Elle: Inferring Isolation Anomalies from Experimental Observations",
//! VLDB 2020).
//!
//! Each transaction appends unique elements to lists and reads whole lists.
//! Because a list keeps every element in the order it was appended, one read
//! reveals the whole version history of its key up to that point, and an
//! element names the transaction that appended it. From that the checker
//! infers Adya's dependency graph over the committed transactions and looks
//! for cycles.
//!
//! # Which transactions are in the graph
//!
//! | outcome | in the graph                     | its reads       |
//! |---------|----------------------------------|-----------------|
//! | `Ok`    | always                           | used            |
//! | `Info`  | once any of its appends is read  | unknown, unused |
//! | `Fail`  | never; reading its append is G1a | unused          |
//!
//! # Inference
//!
//! ```text
//!   version order of key k = the longest list read of k   (every read must be a prefix)
//!       k: [ 1     2     3   ]      unobserved appends of committed txns: after 3
//!            T1    T1    T2
//!   T1 -ww-> T2            T1 appended 2 just before T2 appended 3
//!   T2 -wr-> R             R read [1 2 3]: the last element is T2's
//!   R' -rw-> T2            R' read [1 2]: the next element, 3, is T2's
//!   T1 -rt-> T2            T1 completed before T2 was invoked (history order)
//! ```
//!
//! A read that ends in the transaction's own appends is judged by the part
//! before them (its own appends give ww edges, not wr or rw ones). A committed
//! append that no read saw comes after every observed element of its key
//! (lists only grow), so it gets a ww edge from the last observed writer and
//! rw edges from the readers of the longest list.
//!
//! Real-time edges are a transitive reduction: walking the history in order,
//! a transaction gets edges from the "frontier" of completed transactions
//! when invoked, and on completion replaces its predecessors in the frontier,
//! so edges grow with the concurrency, not with the square of the history.
//!
//! # Anomalies
//!
//! Found without the graph: G1a (aborted read), G1b (intermediate read: the
//! read ends inside one transaction's appends to the key), duplicate elements
//! in a read, incompatible orders (a read that is not a prefix of the longest
//! read), internal inconsistency (a read that does not reflect the
//! transaction's own earlier reads and appends) and garbage reads (an element
//! nobody appended).
//!
//! Cycles, searched in order of the edges they may use, each reported once per
//! strongly connected component (Tarjan's, from petgraph) of that graph:
//!
//! | graph          | a cycle in a non-trivial component that uses    | kind                     |
//! |----------------|-------------------------------------------------|--------------------------|
//! | ww             | only ww edges                                   | G0                       |
//! | ww wr          | at least one wr edge                            | G1c                      |
//! | ww wr rw       | exactly one rw edge (searched first)            | G-single                 |
//! | ww wr rw       | two or more rw edges (when no G-single exists)  | G2                       |
//! | ww wr rw rt    | a real-time edge joining two components above   | strict-serializability   |
//!
//! So a strict-serializability anomaly is one that exists only because of
//! real-time order (e.g. a stale read): serializable, not externally
//! consistent. Each cycle is a shortest one (breadth-first) through its
//! chosen edge, and names its transactions by invocation index.
//!
//! Not done (limits): the version order comes from one longest read per key,
//! so if reads disagree (incompatible order) the edges of that key may be
//! wrong and cycles through it are suspect; G-single is searched with a budget
//! of [`SEARCH_BUDGET`] node visits per component, past which the component's
//! cycle is found with every edge kind and classified by its rw edges (so a
//! G2 may be reported where a G-single also exists); one cycle per component
//! and kind, though a component holding cycles of several kinds is reported
//! under each (a G1b usually comes with a G-single through the same two
//! transactions); no inference from the order of failed or indeterminate reads; Adya's
//! predicate anomalies (phantoms) do not exist in this workload; real-time
//! edges trust the recorder's order, so a client that records a completion
//! late only weakens them.

mod cycles;
mod graph;
mod report;
#[cfg(test)]
mod tests;

pub use cycles::SEARCH_BUDGET;
pub use graph::check;
pub use report::{Anomaly, AnomalyKind, ListAppendReport, MAX_REPORTED_PER_KIND};
