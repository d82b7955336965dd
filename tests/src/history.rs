//! The history of a Jepsen-style run: every operation a client process
//! started (`Invoke`) and how it ended (`Ok`, `Fail` or `Info`), in the order
//! the [`Recorder`] saw them.
//!
//! ```text
//!   index  process  kind    time_ns   value
//!   0      p0       Invoke     1200   Transfer { from: 1, to: 2, amount: 5 }
//!   1      p1       Invoke     1350   Txn [append(3, 7), read(4, ?)]
//!   2      p0       Ok         2900   Transfer { from: 1, to: 2, amount: 5 }
//!   3      p1       Info       9000   Txn [append(3, 7), read(4, ?)]   (timed out)
//!   4      p2       Invoke     9100   Txn [read(3, ?)]                 (p1 is never reused)
//!   5      p2       Ok         9800   Txn [read(3, [7])]
//! ```
//!
//! Outcomes, as in Jepsen:
//!
//! | outcome | meaning                                                   | after it              |
//! |---------|-----------------------------------------------------------|-----------------------|
//! | `Ok`    | the operation took effect; reads carry their results      | the process may go on |
//! | `Fail`  | the operation certainly did not take effect               | the process may go on |
//! | `Info`  | indeterminate: it may or may not have taken effect, even later | the process is never used again |
//!
//! An invocation that never completes (the run stopped first) means the same
//! as `Info`.
//!
//! INVARIANT: indexes are positions in [`History::ops`], and the recorder
//! takes the timestamp and the index under one lock, so index order is real-time
//! order: if a completion's index is lower than an invocation's, the first
//! operation ended before the second began. Checkers use indexes, not
//! `time_ns`, to order events (two events may share a nanosecond).
//!
//! A transaction or transfer is named by the index of its invocation
//! (`T12` is the operation invoked at index 12).
//!
//! Histories serialize with serde: [`History::write_json_lines`] writes one
//! [`Op`] per line, [`History::read_json_lines`] reads them back.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A client process of the run (Jepsen's `:process`). At most one operation
/// of a process is outstanding at a time.
pub type ProcessId = u64;

/// An operation's position in [`History::ops`].
pub type OpIndex = usize;

/// A key of the list-append workload.
pub type Key = u64;

/// An element appended to a list-append key. The workload never appends the
/// same element twice to the same key, so an element names its writer.
pub type Element = u64;

/// A bank account id.
pub type AccountId = u64;

/// One event: a process invoked an operation, or an operation completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// Position in the history.
    pub index: OpIndex,
    /// The client process that ran the operation.
    pub process: ProcessId,
    /// Invocation, or which kind of completion.
    pub kind: OpKind,
    /// What was asked for (on invocation) or what happened (on completion:
    /// reads carry their results).
    pub value: OpValue,
    /// Monotonic nanoseconds since the run started.
    pub time_ns: u64,
}

/// What an [`Op`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OpKind {
    /// The process started the operation.
    Invoke,
    /// The operation took effect.
    Ok,
    /// The operation certainly did not take effect.
    Fail,
    /// Indeterminate: the operation may or may not take effect.
    Info,
}

/// How a completed operation ended (the completion kinds of [`OpKind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Outcome {
    /// The operation took effect.
    Ok,
    /// The operation certainly did not take effect.
    Fail,
    /// Indeterminate (also what an operation that never completed means).
    Info,
}

impl From<Outcome> for OpKind {
    fn from(outcome: Outcome) -> OpKind {
        match outcome {
            Outcome::Ok => OpKind::Ok,
            Outcome::Fail => OpKind::Fail,
            Outcome::Info => OpKind::Info,
        }
    }
}

/// The operation: Jepsen's `:f` (the variant) and `:value` (its fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpValue {
    /// Bank: move `amount` from account `from` to account `to`.
    Transfer {
        /// Debited account.
        from: AccountId,
        /// Credited account.
        to: AccountId,
        /// How much moves (the workload uses positive amounts).
        amount: i64,
    },
    /// Bank: a snapshot read of every account. Empty on invocation; on an
    /// `Ok` completion, the balance of every account read.
    BankRead {
        /// Balance by account.
        balances: BTreeMap<AccountId, i64>,
    },
    /// List-append: one transaction of micro-operations, in program order.
    Txn(Vec<MicroOp>),
}

/// One step of a list-append transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MicroOp {
    /// Append `value` to the list stored under `key`.
    Append {
        /// The list's key.
        key: Key,
        /// The element appended (unique per key across the run).
        value: Element,
    },
    /// Read the list stored under `key`; `list` is `None` on invocation and
    /// the list read (empty if the key did not exist) on an `Ok` completion.
    Read {
        /// The list's key.
        key: Key,
        /// The list read, once known.
        list: Option<Vec<Element>>,
    },
}

impl MicroOp {
    /// The key this micro-operation touches.
    pub fn key(&self) -> Key {
        match self {
            MicroOp::Append { key, .. } | MicroOp::Read { key, .. } => *key,
        }
    }
}

/// A history that cannot be checked: the recorder or the harness broke one of
/// the rules in the module note. None of these is a database anomaly.
#[derive(Debug, Error)]
pub enum HistoryError {
    /// `ops[i].index != i`: the history was edited or assembled wrongly.
    #[error("op at position {position} has index {index}; indexes must be positions")]
    IndexMismatch { position: usize, index: OpIndex },
    /// A process invoked an operation while another of its own was outstanding.
    #[error("process {process} invoked op {second} while op {first} was outstanding")]
    ConcurrentInvoke {
        process: ProcessId,
        first: OpIndex,
        second: OpIndex,
    },
    /// A completion without an outstanding invocation of its process.
    #[error("op {index}: completion of process {process}, which has nothing outstanding")]
    CompletionWithoutInvoke { process: ProcessId, index: OpIndex },
    /// A process went on after an `Info` completion; the harness must start
    /// a new process instead, because the old operation may still happen.
    #[error("process {process} invoked op {index} after its op {info} completed as info")]
    ProcessReusedAfterInfo {
        process: ProcessId,
        index: OpIndex,
        info: OpIndex,
    },
    /// A completion whose value is a different operation than its invocation.
    #[error("op {completion} completes op {invoke} with a different kind of operation")]
    ValueMismatch {
        invoke: OpIndex,
        completion: OpIndex,
    },
    /// Two transactions appended the same element to the same key, so a read
    /// of it does not tell which one it saw: a workload bug.
    #[error("T{first} and T{second} both appended {element} to key {key}; elements must be unique")]
    DuplicateAppend {
        key: Key,
        element: Element,
        first: OpIndex,
        second: OpIndex,
    },
    /// A line of a JSON-lines history could not be parsed.
    #[error("history line {line}: not an op")]
    Json {
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    /// Reading or writing the history file failed.
    #[error("history I/O")]
    Io(#[from] std::io::Error),
}

impl HistoryError {
    /// Only I/O may clear by retrying; every other variant means the history
    /// or the harness must be fixed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, HistoryError::Io(_))
    }
}

/// Every event of a run, in recording order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// The events; `ops[i].index == i`.
    pub ops: Vec<Op>,
}

/// An invocation matched with its completion (if any): one operation.
#[derive(Debug, Clone, Copy)]
pub struct Completed<'h> {
    /// The invocation; its index names the operation.
    pub invoke: &'h Op,
    /// The completion; `None` if the run ended first (read as `Info`).
    pub completion: Option<&'h Op>,
}

impl<'h> Completed<'h> {
    /// The operation's name: its invocation's index.
    pub fn index(&self) -> OpIndex {
        self.invoke.index
    }

    /// How it ended; an operation that never completed is `Info`.
    pub fn outcome(&self) -> Outcome {
        match self.completion.map(|c| c.kind) {
            Some(OpKind::Ok) => Outcome::Ok,
            Some(OpKind::Fail) => Outcome::Fail,
            _ => Outcome::Info,
        }
    }

    /// The completion's value if it completed `Ok` (reads filled in), else the
    /// invocation's (what was asked for).
    pub fn value(&self) -> &'h OpValue {
        match self.completion {
            Some(c) if c.kind == OpKind::Ok => &c.value,
            _ => &self.invoke.value,
        }
    }

    /// Latency in nanoseconds, if it completed.
    pub fn latency_ns(&self) -> Option<u64> {
        self.completion
            .map(|c| c.time_ns.saturating_sub(self.invoke.time_ns))
    }
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Appends an event and returns its index. For building histories by
    /// hand (tests, imports); a live run uses a [`Recorder`].
    pub fn push(
        &mut self,
        process: ProcessId,
        kind: OpKind,
        value: OpValue,
        time_ns: u64,
    ) -> OpIndex {
        let index = self.ops.len();
        self.ops.push(Op {
            index,
            process,
            kind,
            value,
            time_ns,
        });
        index
    }

    /// Matches every invocation with its process's next completion, in
    /// invocation order. Checks the rules of the module note: indexes are
    /// positions, one outstanding operation per process, no completion without
    /// an invocation, no process reused after `Info`, and a completion is the
    /// same kind of operation as its invocation.
    pub fn pairs(&self) -> Result<Vec<Completed<'_>>, HistoryError> {
        let mut pairs: Vec<Completed<'_>> = Vec::new();
        // Process -> position in `pairs` of its outstanding invocation.
        let mut outstanding: HashMap<ProcessId, usize> = HashMap::new();
        // Process -> its Info completion.
        let mut retired: HashMap<ProcessId, OpIndex> = HashMap::new();
        for (position, op) in self.ops.iter().enumerate() {
            if op.index != position {
                return Err(HistoryError::IndexMismatch {
                    position,
                    index: op.index,
                });
            }
            if op.kind == OpKind::Invoke {
                if let Some(&info) = retired.get(&op.process) {
                    return Err(HistoryError::ProcessReusedAfterInfo {
                        process: op.process,
                        index: op.index,
                        info,
                    });
                }
                if let Some(&first) = outstanding.get(&op.process) {
                    return Err(HistoryError::ConcurrentInvoke {
                        process: op.process,
                        first: pairs[first].index(),
                        second: op.index,
                    });
                }
                outstanding.insert(op.process, pairs.len());
                pairs.push(Completed {
                    invoke: op,
                    completion: None,
                });
                continue;
            }
            let Some(at) = outstanding.remove(&op.process) else {
                return Err(HistoryError::CompletionWithoutInvoke {
                    process: op.process,
                    index: op.index,
                });
            };
            let pair = &mut pairs[at];
            if std::mem::discriminant(&pair.invoke.value) != std::mem::discriminant(&op.value) {
                return Err(HistoryError::ValueMismatch {
                    invoke: pair.invoke.index,
                    completion: op.index,
                });
            }
            pair.completion = Some(op);
            if op.kind == OpKind::Info {
                retired.insert(op.process, op.index);
            }
        }
        Ok(pairs)
    }

    /// Writes one JSON [`Op`] per line.
    pub fn write_json_lines(&self, mut out: impl Write) -> Result<(), HistoryError> {
        for op in &self.ops {
            serde_json::to_writer(&mut out, op).map_err(|source| HistoryError::Json {
                line: op.index + 1,
                source,
            })?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(())
    }

    /// Reads a history written by [`History::write_json_lines`]; blank lines
    /// are skipped.
    pub fn read_json_lines(input: impl BufRead) -> Result<History, HistoryError> {
        let mut ops = Vec::new();
        for (number, line) in input.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let op: Op = serde_json::from_str(&line).map_err(|source| HistoryError::Json {
                line: number + 1,
                source,
            })?;
            ops.push(op);
        }
        Ok(History { ops })
    }
}

/// Records a history from many concurrent client tasks. Cheap to clone (one
/// `Arc`); every clone records into the same history against the same start
/// instant.
///
/// ```
/// use spanlite_tests::history::{OpValue, Outcome, Recorder};
///
/// let recorder = Recorder::new();
/// let transfer = OpValue::Transfer { from: 1, to: 2, amount: 5 };
/// let call = recorder.invoke(0, transfer.clone());
/// // ... run the transfer against the database ...
/// recorder.complete(call, Outcome::Ok, transfer);
/// assert_eq!(recorder.history().ops.len(), 2);
/// ```
///
/// The lock is a plain `std::sync::Mutex` held only to push one event, never
/// across an `.await`.
#[derive(Debug, Clone)]
pub struct Recorder {
    start: Instant,
    ops: Arc<Mutex<Vec<Op>>>,
}

/// An outstanding invocation, returned by [`Recorder::invoke`] and consumed by
/// [`Recorder::complete`], so an operation completes at most once.
#[derive(Debug)]
#[must_use = "complete the invocation, or it reads as indeterminate (info)"]
pub struct Invocation {
    index: OpIndex,
    process: ProcessId,
}

impl Invocation {
    /// The invocation's index, which names the operation.
    pub fn index(&self) -> OpIndex {
        self.index
    }

    /// The process that invoked it.
    pub fn process(&self) -> ProcessId {
        self.process
    }
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder::new()
    }
}

impl Recorder {
    /// A recorder whose clock starts now.
    pub fn new() -> Recorder {
        Recorder {
            start: Instant::now(),
            ops: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Nanoseconds since the recorder started (for nemesis windows).
    pub fn elapsed_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Records that `process` starts `value`. The caller must not invoke
    /// again for `process` before completing this, and must use a new process
    /// after an `Info` completion ([`History::pairs`] rejects both).
    pub fn invoke(&self, process: ProcessId, value: OpValue) -> Invocation {
        let index = self.push(process, OpKind::Invoke, value);
        Invocation { index, process }
    }

    /// Records how `invocation` ended; `value` is what happened (reads
    /// filled in on `Ok`; for `Fail` and `Info` usually the invoked value).
    pub fn complete(&self, invocation: Invocation, outcome: Outcome, value: OpValue) -> OpIndex {
        self.push(invocation.process, outcome.into(), value)
    }

    /// A copy of everything recorded so far.
    pub fn history(&self) -> History {
        History {
            ops: self.lock().clone(),
        }
    }

    fn push(&self, process: ProcessId, kind: OpKind, value: OpValue) -> OpIndex {
        let mut ops = self.lock();
        // The timestamp is taken under the lock so index order is time order.
        let time_ns = self.elapsed_ns();
        let index = ops.len();
        ops.push(Op {
            index,
            process,
            kind,
            value,
            time_ns,
        });
        index
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Op>> {
        // NB: a panic while pushing cannot leave the Vec half-written, so a
        // poisoned lock still guards a whole history.
        self.ops
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer() -> OpValue {
        OpValue::Transfer {
            from: 1,
            to: 2,
            amount: 3,
        }
    }

    fn read() -> OpValue {
        OpValue::BankRead {
            balances: BTreeMap::new(),
        }
    }

    #[test]
    fn pairs_match_each_invocation_with_its_process_completion() {
        let mut h = History::new();
        h.push(0, OpKind::Invoke, transfer(), 1);
        h.push(1, OpKind::Invoke, read(), 2);
        h.push(1, OpKind::Fail, read(), 3);
        h.push(0, OpKind::Ok, transfer(), 4);
        h.push(2, OpKind::Invoke, transfer(), 5);
        h.push(3, OpKind::Invoke, transfer(), 6);
        h.push(3, OpKind::Info, transfer(), 7);
        let pairs = h.pairs().unwrap();
        let summary: Vec<_> = pairs
            .iter()
            .map(|p| (p.index(), p.completion.map(|c| c.index), p.outcome()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (0, Some(3), Outcome::Ok),
                (1, Some(2), Outcome::Fail),
                (4, None, Outcome::Info),
                (5, Some(6), Outcome::Info),
            ]
        );
        assert_eq!(pairs[0].latency_ns(), Some(3));
    }

    #[test]
    fn pairs_reject_a_second_outstanding_invocation() {
        let mut h = History::new();
        h.push(0, OpKind::Invoke, transfer(), 1);
        h.push(0, OpKind::Invoke, transfer(), 2);
        assert!(matches!(
            h.pairs(),
            Err(HistoryError::ConcurrentInvoke {
                process: 0,
                first: 0,
                second: 1
            })
        ));
    }

    #[test]
    fn pairs_reject_a_completion_without_invocation() {
        let mut h = History::new();
        h.push(0, OpKind::Ok, transfer(), 1);
        assert!(matches!(
            h.pairs(),
            Err(HistoryError::CompletionWithoutInvoke { .. })
        ));
    }

    #[test]
    fn pairs_reject_a_process_reused_after_info() {
        let mut h = History::new();
        h.push(0, OpKind::Invoke, transfer(), 1);
        h.push(0, OpKind::Info, transfer(), 2);
        h.push(0, OpKind::Invoke, transfer(), 3);
        assert!(matches!(
            h.pairs(),
            Err(HistoryError::ProcessReusedAfterInfo {
                process: 0,
                index: 2,
                info: 1
            })
        ));
    }

    #[test]
    fn pairs_reject_a_completion_of_another_kind_of_operation() {
        let mut h = History::new();
        h.push(0, OpKind::Invoke, transfer(), 1);
        h.push(0, OpKind::Ok, read(), 2);
        assert!(matches!(
            h.pairs(),
            Err(HistoryError::ValueMismatch {
                invoke: 0,
                completion: 1
            })
        ));
    }

    #[test]
    fn json_lines_round_trip() {
        let mut h = History::new();
        h.push(
            0,
            OpKind::Invoke,
            OpValue::Txn(vec![
                MicroOp::Append { key: 1, value: 2 },
                MicroOp::Read { key: 1, list: None },
            ]),
            10,
        );
        h.push(
            0,
            OpKind::Ok,
            OpValue::Txn(vec![
                MicroOp::Append { key: 1, value: 2 },
                MicroOp::Read {
                    key: 1,
                    list: Some(vec![2]),
                },
            ]),
            20,
        );
        h.push(1, OpKind::Invoke, read(), 30);
        let mut out = Vec::new();
        h.write_json_lines(&mut out).unwrap();
        assert_eq!(String::from_utf8_lossy(&out).lines().count(), 3);
        let back = History::read_json_lines(out.as_slice()).unwrap();
        assert_eq!(back, h);
        let err = History::read_json_lines("{\"not\": 1}\n".as_bytes()).unwrap_err();
        assert!(matches!(err, HistoryError::Json { line: 1, .. }));
    }

    #[test]
    fn recorder_from_many_threads_keeps_index_and_time_order() {
        let recorder = Recorder::new();
        let threads: Vec<_> = (0..8)
            .map(|process| {
                let recorder = recorder.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        let call = recorder.invoke(process, transfer());
                        recorder.complete(call, Outcome::Ok, transfer());
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let h = recorder.history();
        assert_eq!(h.ops.len(), 1600);
        assert!(h.ops.windows(2).all(|w| w[0].time_ns <= w[1].time_ns));
        let pairs = h.pairs().unwrap();
        assert_eq!(pairs.len(), 800);
        assert!(pairs.iter().all(|p| p.outcome() == Outcome::Ok));
    }
}
