//! The world the scenario scripts drive (see `tests/scenarios.rs`): nodes
//! with their clocks, tablets with their logs, replicas and leader state,
//! transactions and the operations they wait in.
//!
//! - this file: the model and its bookkeeping (clocks, proposals, catch-up,
//!   shares of a commit);
//! - `ops.rs`: running operations until they wait — pump, locked and
//!   snapshot reads;
//! - `commits.rs`: commits as a gateway runs them — the lock round, prepares
//!   and read-only participants, the decision, commit wait, 2PC steps one
//!   at a time;
//! - `commands.rs`: the script commands (world and transaction verbs).

mod commands;
mod commits;
mod ops;

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use goldenscript::{Command as Cmd, Runner};
use spanlite_storage::engine::{MemoryEngine, WriteBatch};
use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::{Mvcc, ReadOutcome, TxnId};
use spanlite_truetime::{ManualClock, TTInterval, Timestamp, TrueTime, TrueTimeConfig};
use spanlite_txn::actions::commit::{self, Commit, WriteOutcome};
use spanlite_txn::actions::decide::{self, DecideOutcome};
use spanlite_txn::actions::prepare::{self, CommitInput, Now, PrepareOutcome};
use spanlite_txn::actions::read::{LockedRead, lock_for_read, try_lock_for_read};
use spanlite_txn::actions::resolve::{self, AbortPlan};
use spanlite_txn::actions::safe_time::{self, FollowerSafeTime};
use spanlite_txn::actions::timestamp::{SnapshotRead, pending_at_or_below, snapshot_ts};
use spanlite_txn::actions::validate::{ReadSpan, Validation};
use spanlite_txn::actions::{merge, reap, split};
use spanlite_txn::apply::{TabletState, apply_command};
use spanlite_txn::leader::{CommitWaited, Leader, LeaderConfig, Progress};
use spanlite_txn::lease::{Lease, VoteDecision};
use spanlite_txn::lock::{LockMode, LockTarget, Ticket};
use spanlite_txn::retry::Retry;
use spanlite_txn::twopc::Decision;
use spanlite_txn::{AbortReason, Command, CommandResponse, KeyRange, Mutation, TxnError};

type Res<T> = Result<T, Box<dyn Error>>;

/// True time at the start of every script: 1000 s after the epoch.
const T0: u64 = 1_000_000_000_000;

/// A leader's lease lasts this long past its last renewal.
const LEASE: Duration = Duration::from_millis(500);

/// A timestamp as scripts show it: milliseconds after `T0`.
fn show(ts: Timestamp) -> String {
    if ts == Timestamp::MIN {
        return "0".to_string();
    }
    let nanos = i128::from(ts.as_nanos()) - i128::from(T0);
    format!("{:.6}ms", nanos as f64 / 1e6)
}

fn parse_duration(s: &str) -> Res<Duration> {
    Ok(humantime_like(s).ok_or_else(|| format!("bad duration {s:?}"))?)
}

/// `3ms`, `500us`, `1s`, `7ns`.
fn humantime_like(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    Some(match unit {
        "ns" => Duration::from_nanos(n),
        "us" => Duration::from_micros(n),
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        _ => return None,
    })
}

/// One node: its clock (true time plus its own state), its ε, its engine.
struct Node {
    clock: Arc<ManualClock>,
    tt: TrueTime,
    mvcc: Mvcc,
    /// Its clock cannot vouch for time (a failure the script injected).
    failed: bool,
}

/// One replica of a tablet on a node.
struct Replica {
    state: TabletState,
    /// Log entries applied.
    applied: usize,
    /// Applies nothing until told to catch up.
    lagging: bool,
    safe: FollowerSafeTime,
}

/// One tablet: its log, its replicas, its leader's transaction state.
struct Tablet {
    id: TabletId,
    leader_node: String,
    leader: Leader,
    log: Vec<Command>,
    replicas: BTreeMap<String, Replica>,
    /// True time (offset from `T0`) until which the leader's lease holds.
    lease_end: Duration,
    /// The leader cannot renew its lease (cut off from its followers).
    partitioned: bool,
    /// Lock waits that ended, not yet picked up by their operation.
    wakeups: BTreeMap<Ticket, Result<(), AbortReason>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    TwoPl,
    Occ,
    Ssi,
    Si,
    ReadOnly,
}

/// What a read covers.
#[derive(Clone, Debug)]
enum Target {
    Key(Vec<u8>),
    /// `[start, end)`, inside one tablet.
    Range(Vec<u8>, Vec<u8>),
}

impl Target {
    fn lock(&self) -> LockTarget {
        match self {
            Target::Key(k) => LockTarget::key(k.clone()),
            Target::Range(s, e) => LockTarget::range(s.clone(), e.clone()),
        }
    }

    fn span(&self, read_ts: Timestamp) -> ReadSpan {
        match self {
            Target::Key(k) => ReadSpan {
                start: k.clone(),
                end: Vec::new(),
                point: true,
                read_ts,
            },
            Target::Range(s, e) => ReadSpan {
                start: s.clone(),
                end: e.clone(),
                point: false,
                read_ts,
            },
        }
    }

    /// `read x` or `scan a..c`, as the script says it.
    fn verb(&self) -> String {
        match self {
            Target::Key(k) => format!("read {}", String::from_utf8_lossy(k)),
            Target::Range(s, e) => format!(
                "scan {}..{}",
                String::from_utf8_lossy(s),
                String::from_utf8_lossy(e)
            ),
        }
    }

    /// Reads it from `mvcc` at `ts`: the value, or the pairs found.
    fn read(&self, mvcc: &Mvcc, ts: Timestamp) -> Res<ReadOutcome<String>> {
        Ok(match self {
            Target::Key(k) => match mvcc.get(k, ts)? {
                ReadOutcome::Ready(v) => ReadOutcome::Ready(text(&v)),
                ReadOutcome::Blocked(b) => ReadOutcome::Blocked(b),
            },
            Target::Range(s, e) => {
                use std::ops::Bound;
                match mvcc.scan(
                    Bound::Included(s.clone()),
                    Bound::Excluded(e.clone()),
                    ts,
                    spanlite_storage::engine::Direction::Forward,
                    None,
                )? {
                    ReadOutcome::Ready(rows) if rows.is_empty() => {
                        ReadOutcome::Ready("(nothing)".to_string())
                    }
                    ReadOutcome::Ready(rows) => ReadOutcome::Ready(
                        rows.iter()
                            .map(|(k, v)| {
                                format!(
                                    "{}={}",
                                    String::from_utf8_lossy(k),
                                    String::from_utf8_lossy(v)
                                )
                            })
                            .collect::<Vec<_>>()
                            .join(" "),
                    ),
                    ReadOutcome::Blocked(b) => ReadOutcome::Blocked(b),
                }
            }
        })
    }
}

/// What a transaction is doing that may have to wait.
#[derive(Clone, Debug)]
enum Op {
    LockedRead {
        tablet: String,
        target: Target,
        mode: LockMode,
        ticket: Option<Ticket>,
        /// Blocked by an intent at this apply count.
        blocked_at: Option<u64>,
    },
    SnapshotRead {
        tablet: String,
        target: Target,
        /// The timestamp asked for (`None`: the leader picks).
        at: Option<Timestamp>,
        /// The timestamp the leader chose (it waits for writes pending at
        /// or below it).
        chosen: Option<Timestamp>,
        /// A follower on this node serves it.
        follower: Option<String>,
        blocked_at: Option<u64>,
        /// `last_ts`: the leader may pick its LastTS; `nothing_newer`: the
        /// snapshot is another tablet's LastTS (refused if behind).
        last_ts: bool,
        nothing_newer: bool,
    },
    Commit(CommitOp),
    /// 2PC steps sent one at a time.
    Lock {
        tablet: String,
        ticket: Option<Ticket>,
    },
    Prepare {
        tablet: String,
        coordinator: String,
        ticket: Option<Ticket>,
    },
}

#[derive(Clone, Debug)]
struct CommitOp {
    phase: Phase,
    tablets: Vec<String>,
    coordinator: String,
    /// Tablets whose lock phase is done.
    locked: BTreeSet<String>,
    /// Lock waits of the lock phase, by tablet.
    waiting: BTreeMap<String, Ticket>,
    votes: BTreeMap<String, Timestamp>,
    /// 2PL tablets it only read: their lock phase keeps the read locks for
    /// the decision (`prepare::read_lock`); no prepare, no Raft entry.
    read_only: BTreeSet<String>,
    /// The earliest lease end under which they hold them.
    read_until: Option<Timestamp>,
    /// The commit timestamp, once chosen.
    ts: Option<Timestamp>,
    /// What applying the commit answered (kept through commit wait).
    response: Option<CommandResponse>,
    /// The commit's proposal outcome is unknown (replication failed).
    lose_reply: bool,
    /// The gateway never tells the read-only tablets (it crashed): they
    /// release at their lease end.
    keep_read_locks: bool,
}

impl CommitOp {
    /// Tablets that prepare (not the coordinator, not read-only ones).
    fn prepared_participants(&self) -> Vec<String> {
        self.tablets
            .iter()
            .filter(|t| **t != self.coordinator && !self.read_only.contains(*t))
            .cloned()
            .collect()
    }

    /// The coordinator commits in one phase: nobody else prepared.
    fn one_phase(&self) -> bool {
        self.prepared_participants().is_empty()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Lock,
    Prepare,
    Decide,
    CommitWait,
}

struct Txn {
    id: TxnId,
    priority: Timestamp,
    mode: Mode,
    snapshot: Option<Timestamp>,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    read_tablets: BTreeSet<String>,
    spans: BTreeMap<String, Vec<ReadSpan>>,
    op: Option<Op>,
    /// Its commit timestamp once committed.
    committed: Option<Timestamp>,
    done: bool,
    retry: Option<Retry>,
    /// Its commit must get a timestamp below this (a schema lease's end).
    commit_before: Option<Timestamp>,
}

#[derive(Default)]
pub(crate) struct World {
    /// True time since `T0`.
    now: Duration,
    nodes: BTreeMap<String, Node>,
    tablets: BTreeMap<String, Tablet>,
    txns: BTreeMap<String, Txn>,
    /// Entries applied anywhere so far (intent-blocked reads retry when it
    /// moves).
    applies: u64,
    next_txn: u128,
    next_tablet: TabletId,
    /// Monotonic time base for idle timeouts.
    base: Option<Instant>,
    lease: Option<Lease>,
    /// The name a split in progress gives its new tablet.
    pending_child: Option<String>,
    config: LeaderConfig,
    out: String,
}

fn key(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn text(v: &Option<Vec<u8>>) -> String {
    match v {
        Some(v) => String::from_utf8_lossy(v).into_owned(),
        None => "∅".to_string(),
    }
}

impl World {
    fn instant(&mut self) -> Instant {
        *self.base.get_or_insert_with(Instant::now) + self.now
    }

    fn true_now(&self) -> Timestamp {
        Timestamp::from_nanos(T0).saturating_add(self.now)
    }

    fn say(&mut self, line: impl AsRef<str>) {
        self.out.push_str(line.as_ref());
        self.out.push('\n');
    }

    fn node(&self, name: &str) -> Res<&Node> {
        Ok(self.nodes.get(name).ok_or(format!("no node {name}"))?)
    }

    fn tt_now(&self, node: &str) -> Result<TTInterval, TxnError> {
        let n = self
            .nodes
            .get(node)
            .ok_or_else(|| TxnError::Refused(format!("no node {node}")))?;
        if n.failed {
            return Err(TxnError::Refused(format!("node {node}'s clock failed")));
        }
        Ok(n.tt.now()?)
    }

    fn tablet_of(&self, k: &[u8]) -> Res<String> {
        for (name, t) in &self.tablets {
            if t.leader.range().contains(k) && t.leader.frozen().is_none() {
                return Ok(name.clone());
            }
        }
        Err(format!("no tablet holds {}", String::from_utf8_lossy(k)).into())
    }

    fn leader_mvcc(&self, tablet: &str) -> Mvcc {
        let t = &self.tablets[tablet];
        self.nodes[&t.leader_node].mvcc.clone()
    }

    fn max_applied(&self, tablet: &str) -> Timestamp {
        let t = &self.tablets[tablet];
        t.replicas[&t.leader_node].state.max_ts
    }

    fn step_now(&mut self, tablet: &str) -> Result<Now, TxnError> {
        let node = self.tablets[tablet].leader_node.clone();
        Ok(Now {
            tt: self.tt_now(&node)?,
            max_applied: self.max_applied(tablet),
            instant: self.instant(),
        })
    }

    /// Appends `command` to the log of `tablet` and applies it on every
    /// replica that keeps up; returns the leader's response.
    fn propose(&mut self, tablet: &str, command: Command) -> Res<CommandResponse> {
        self.tablets
            .get_mut(tablet)
            .ok_or("no tablet")?
            .log
            .push(command);
        let responses = self.catch_up(tablet)?;
        let leader = self.tablets[tablet].leader_node.clone();
        Ok(responses
            .get(&leader)
            .cloned()
            .ok_or("the leader did not apply its own entry")?)
    }

    /// Applies the entries each replica of `tablet` that keeps up misses;
    /// each one's response to the last entry it applied.
    fn catch_up(&mut self, tablet: &str) -> Res<BTreeMap<String, CommandResponse>> {
        let World {
            nodes,
            tablets,
            applies,
            ..
        } = self;
        let t = tablets.get_mut(tablet).ok_or("no tablet")?;
        let mut out = BTreeMap::new();
        let mut splits = Vec::new();
        for (node, r) in &mut t.replicas {
            if r.lagging {
                continue;
            }
            let mvcc = &nodes[node].mvcc;
            while r.applied < t.log.len() {
                let mut batch = WriteBatch::new();
                let (response, split) =
                    apply_command(mvcc, t.id, &t.log[r.applied], &mut r.state, &mut batch)?;
                mvcc.apply(batch)?;
                r.applied += 1;
                *applies += 1;
                if let Some(s) = split {
                    splits.push((node.clone(), s));
                }
                out.insert(node.clone(), response);
            }
        }
        for (node, s) in splits {
            self.start_child(tablet, &node, s)?;
        }
        Ok(out)
    }

    /// A split was applied on `node`'s replica of `parent`: that node gets
    /// a replica of the new tablet (and leads it if it leads the parent).
    fn start_child(
        &mut self,
        parent: &str,
        node: &str,
        s: spanlite_txn::apply::SplitOut,
    ) -> Res<()> {
        let name = self
            .tablets
            .iter()
            .find(|(_, t)| t.id == s.right)
            .map(|(n, _)| n.clone());
        let name = match name {
            Some(n) => n,
            None => {
                let name = self
                    .pending_child
                    .clone()
                    .ok_or("a split nobody asked for")?;
                let leader_node = self.tablets[parent].leader_node.clone();
                let floor = self
                    .tt_now(&leader_node)
                    .map(|n| n.latest)
                    .unwrap_or(Timestamp::MIN)
                    .max(s.max_ts);
                let now = self.now;
                let config = self.config;
                self.tablets.insert(
                    name.clone(),
                    Tablet {
                        id: s.right,
                        leader_node,
                        leader: Leader::new(s.right, s.range.clone(), 1, floor, config),
                        log: Vec::new(),
                        replicas: BTreeMap::new(),
                        lease_end: now + LEASE,
                        partitioned: false,
                        wakeups: BTreeMap::new(),
                    },
                );
                name
            }
        };
        let t = self.tablets.get_mut(&name).ok_or("no child")?;
        t.replicas.insert(
            node.to_string(),
            Replica {
                state: TabletState {
                    max_ts: s.max_ts,
                    range: s.range,
                    generation: 1,
                    txns: Default::default(),
                    frozen: None,
                    merges: Default::default(),
                },
                applied: 0,
                lagging: false,
                safe: FollowerSafeTime::default(),
            },
        );
        Ok(())
    }

    /// Moves every tablet's finished lock waits into its wakeups.
    fn collect_wakeups(&mut self) {
        for t in self.tablets.values_mut() {
            for w in t.leader.take_wakeups() {
                t.wakeups.insert(w.ticket, w.outcome);
            }
        }
    }

    /// `TT.now().earliest + lease remaining` on the leader of `tablet`.
    fn read_limit(&self, tablet: &str, now: TTInterval) -> Timestamp {
        let t = &self.tablets[tablet];
        now.earliest
            .saturating_add(t.lease_end.saturating_sub(self.now))
    }

    fn input<'a>(txn: &Txn, writes: &'a [Mutation], validation: &'a Validation) -> CommitInput<'a> {
        CommitInput {
            txn: txn.id,
            priority: txn.priority,
            writes,
            validation,
            generation: 0,
            commit_before: txn.commit_before,
            read_locks_until: None,
            alone: false,
        }
    }

    /// `name`'s share of its commit on `tablet`: its writes there and what
    /// to validate there.
    fn share(&self, name: &str, tablet: &str) -> Res<(Vec<Mutation>, Validation)> {
        let txn = &self.txns[name];
        let mut writes = Vec::new();
        for (k, v) in &txn.writes {
            if self.tablet_of(k)? == tablet {
                writes.push(Mutation::new(k.clone(), v.clone()));
            }
        }
        let validation = Validation {
            has_reads: txn.read_tablets.contains(tablet),
            reads: txn.spans.get(tablet).cloned().unwrap_or_default(),
            snapshot: match txn.mode {
                Mode::Ssi | Mode::Si => txn.snapshot,
                _ => None,
            },
        };
        Ok((writes, validation))
    }
}

/// How an operation's poll went.
enum Polled {
    /// It finished (its outcome was said).
    Done,
    /// It waits (said once, when it started waiting).
    Waits,
    /// Nothing changed.
    Idle,
}
