//! Scenario tests of the transaction core, written as transcripts
//! (goldenscript, as toyDB's `testscripts/`): several nodes, each with its
//! own `ManualClock` and ε, several tablets with a leader and followers,
//! several transactions, and the protocol steps of `spanlite_txn::actions`
//! run exactly as a tablet leader runs them. Each script opens with the
//! claim it checks; `UPDATE_GOLDENFILES=1 cargo test` rewrites the
//! expected output, which is then read and checked in by hand.
//!
//! The world, driven step by step (nothing runs unless a command says so):
//!
//! ```text
//!   node A epsilon=6ms         one ManualClock + TrueTime + MVCC engine per node
//!   tablet X range=a..m leader=A followers=B
//!   time advance=3ms           true time moves; every node's clock with it
//!   t1: begin mode=2pl         a transaction (priority: true time at begin)
//!   t1: read x / write x=1 / commit
//!   r1: begin readonly         strong reads at a leader-chosen timestamp
//! ```
//!
//! Raft is a log per tablet applied at once on every replica (a follower
//! can be told to lag); a commit then waits for `TT.after(s)` on its
//! leader's node, which only `time advance` brings. Waiting operations
//! resume by themselves when what they wait for happens, and say so.

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
use spanlite_txn::actions::read::{LockedRead, lock_for_read};
use spanlite_txn::actions::resolve::{self, AbortPlan};
use spanlite_txn::actions::safe_time::{self, FollowerSafeTime};
use spanlite_txn::actions::timestamp::{SnapshotRead, pending_at_or_below, snapshot_ts};
use spanlite_txn::actions::validate::{ReadSpan, Validation};
use spanlite_txn::actions::{reap, split};
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
struct World {
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
            if t.leader.range().contains(k) {
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

impl World {
    /// Runs every operation that can go on until none can.
    fn pump(&mut self) -> Res<()> {
        for _ in 0..10_000 {
            self.collect_wakeups();
            let mut progressed = false;
            let names: Vec<String> = self.txns.keys().cloned().collect();
            for name in names {
                if self.runnable(&name) {
                    match self.poll(&name)? {
                        Polled::Done | Polled::Waits => progressed = true,
                        Polled::Idle => {}
                    }
                }
            }
            if !progressed {
                return Ok(());
            }
        }
        Err("operations keep running without end".into())
    }

    /// True when what `name`'s operation waits for has happened.
    fn runnable(&self, name: &str) -> bool {
        let Some(op) = &self.txns[name].op else {
            return false;
        };
        let ticket_ready = |tablet: &str, ticket: &Option<Ticket>| {
            ticket.is_none_or(|t| self.tablets[tablet].wakeups.contains_key(&t))
        };
        let unblocked = |at: &Option<u64>| at.is_none_or(|a| a != self.applies);
        match op {
            Op::LockedRead {
                tablet,
                ticket,
                blocked_at,
                ..
            } => ticket_ready(tablet, ticket) && unblocked(blocked_at),
            Op::SnapshotRead {
                tablet,
                chosen,
                follower,
                blocked_at,
                ..
            } => {
                let Some(t) = chosen else { return true };
                if !unblocked(blocked_at) {
                    return false;
                }
                match follower {
                    Some(_) => true,
                    None => pending_at_or_below(&self.tablets[tablet].leader, *t).is_none(),
                }
            }
            Op::Lock { tablet, ticket } | Op::Prepare { tablet, ticket, .. } => {
                ticket_ready(tablet, ticket)
            }
            Op::Commit(c) if !c.waiting.is_empty() => c
                .waiting
                .iter()
                .any(|(tablet, ticket)| ticket_ready(tablet, &Some(*ticket))),
            Op::Commit(c) => match (c.phase, c.ts) {
                (Phase::CommitWait, Some(ts)) => {
                    let node = &self.tablets[&c.coordinator].leader_node;
                    self.tt_now(node).is_ok_and(|now| ts < now.earliest)
                }
                _ => true,
            },
        }
    }

    /// Takes the wakeup of `ticket` on `tablet`, if it came.
    fn take_wakeup(&mut self, tablet: &str, ticket: Ticket) -> Option<Result<(), AbortReason>> {
        self.tablets.get_mut(tablet)?.wakeups.remove(&ticket)
    }

    fn poll(&mut self, name: &str) -> Res<Polled> {
        let Some(op) = self.txns.get_mut(name).and_then(|t| t.op.take()) else {
            return Ok(Polled::Idle);
        };
        let (polled, op) = match op {
            Op::LockedRead { .. } => self.poll_locked_read(name, op)?,
            Op::SnapshotRead { .. } => self.poll_snapshot_read(name, op)?,
            Op::Commit(c) => self.poll_commit(name, c)?,
            Op::Lock { .. } | Op::Prepare { .. } => self.poll_step(name, op)?,
        };
        if let Some(t) = self.txns.get_mut(name) {
            t.op = op;
        }
        Ok(polled)
    }

    /// Ends `name`'s operation with `line`.
    fn finish(&mut self, name: &str, line: String) -> Res<(Polled, Option<Op>)> {
        self.say(format!("{name}: {line}"));
        Ok((Polled::Done, None))
    }

    fn abort_line(e: &TxnError) -> String {
        match e {
            TxnError::Aborted { reason, .. } => format!("aborted ({})", reason.name()),
            TxnError::Ambiguous(_) => {
                format!("outcome unknown (SQLSTATE {})", spanlite_txn::AMBIGUOUS)
            }
            other => format!("refused: {other}"),
        }
    }

    fn poll_locked_read(&mut self, name: &str, op: Op) -> Res<(Polled, Option<Op>)> {
        let Op::LockedRead {
            tablet,
            target,
            mode,
            mut ticket,
            blocked_at,
        } = op
        else {
            unreachable!()
        };
        let verb = target.verb();
        if let Some(t) = ticket.take()
            && let Some(Err(reason)) = self.take_wakeup(&tablet, t)
        {
            self.txns.get_mut(name).ok_or("no txn")?.done = true;
            return self.finish(name, format!("{verb} → aborted ({})", reason.name()));
        }
        let txn = &self.txns[name];
        let targets = [target.lock()];
        let read = LockedRead {
            txn: txn.id,
            priority: txn.priority,
            targets: &targets,
            mode,
            read_before: txn.read_tablets.contains(&tablet),
            generation: 0,
        };
        let instant = self.instant();
        let leader = &mut self.tablets.get_mut(&tablet).ok_or("no tablet")?.leader;
        match lock_for_read(leader, &read, instant) {
            Err(e) => {
                self.txns.get_mut(name).ok_or("no txn")?.done = true;
                self.finish(name, format!("{verb} → {}", Self::abort_line(&e)))
            }
            Ok(Progress::Wait(t)) => {
                self.say(format!("{name}: {verb} → waits for a lock on {tablet}"));
                let op = Op::LockedRead {
                    tablet,
                    target,
                    mode,
                    ticket: Some(t),
                    blocked_at,
                };
                Ok((Polled::Waits, Some(op)))
            }
            Ok(Progress::Done(())) => {
                self.txns
                    .get_mut(name)
                    .ok_or("no txn")?
                    .read_tablets
                    .insert(tablet.clone());
                match target.read(&self.leader_mvcc(&tablet), Timestamp::MAX)? {
                    ReadOutcome::Ready(v) => self.finish(name, format!("{verb} → {v}")),
                    ReadOutcome::Blocked(_) => {
                        let first = blocked_at.is_none();
                        if first {
                            self.say(format!("{name}: {verb} → waits for an undecided intent"));
                        }
                        let op = Op::LockedRead {
                            tablet,
                            target,
                            mode,
                            ticket: None,
                            blocked_at: Some(self.applies),
                        };
                        Ok((if first { Polled::Waits } else { Polled::Idle }, Some(op)))
                    }
                }
            }
        }
    }
}

impl World {
    fn poll_snapshot_read(&mut self, name: &str, op: Op) -> Res<(Polled, Option<Op>)> {
        let Op::SnapshotRead {
            tablet,
            target,
            at,
            chosen,
            follower,
            blocked_at,
            last_ts,
            nothing_newer,
        } = op
        else {
            unreachable!()
        };
        let verb = target.verb();
        let (t, node) = match (&follower, chosen) {
            (Some(f), _) => {
                let t = at.ok_or("a follower read needs a timestamp")?;
                let r = self
                    .tablets
                    .get_mut(&tablet)
                    .ok_or("no tablet")?
                    .replicas
                    .get_mut(f)
                    .ok_or("no such replica")?;
                let safe = r.safe.safe_ts(r.applied as u64);
                if t > safe {
                    return self.finish(
                        name,
                        format!(
                            "{verb} @{} on {f} → not served: its safe time is {} (ask the leader)",
                            show(t),
                            show(safe)
                        ),
                    );
                }
                (t, f.clone())
            }
            (None, Some(t)) => (t, self.tablets[&tablet].leader_node.clone()),
            (None, None) => {
                let node = self.tablets[&tablet].leader_node.clone();
                let now = match self.tt_now(&node) {
                    Ok(now) => now,
                    Err(e) => return self.finish(name, format!("{verb} → refused: {e}")),
                };
                let read = SnapshotRead {
                    at,
                    single_tablet: last_ts,
                    nothing_newer,
                    now,
                    max_applied: self.max_applied(&tablet),
                    gc_floor: Timestamp::MIN,
                    read_limit: self.read_limit(&tablet, now),
                };
                let leader = &mut self.tablets.get_mut(&tablet).ok_or("no tablet")?.leader;
                let t = match snapshot_ts(leader, &read) {
                    Ok(t) => t,
                    Err(e) => return self.finish(name, format!("{verb} → refused: {e}")),
                };
                if let Some(p) = pending_at_or_below(leader, t) {
                    self.say(format!(
                        "{name}: {verb} @{} → waits for the write in flight at {}",
                        show(t),
                        show(p)
                    ));
                    let op = Op::SnapshotRead {
                        tablet,
                        target,
                        at,
                        chosen: Some(t),
                        follower,
                        blocked_at,
                        last_ts,
                        nothing_newer,
                    };
                    return Ok((Polled::Waits, Some(op)));
                }
                (t, node)
            }
        };
        let mvcc = self.node(&node)?.mvcc.clone();
        match target.read(&mvcc, t)? {
            ReadOutcome::Blocked(_) => {
                let first = blocked_at.is_none();
                if first {
                    self.say(format!(
                        "{name}: {verb} @{} → waits for an undecided intent",
                        show(t)
                    ));
                }
                let op = Op::SnapshotRead {
                    tablet,
                    target,
                    at,
                    chosen: Some(t),
                    follower,
                    blocked_at: Some(self.applies),
                    last_ts,
                    nothing_newer,
                };
                Ok((if first { Polled::Waits } else { Polled::Idle }, Some(op)))
            }
            ReadOutcome::Ready(v) => {
                let txn = self.txns.get_mut(name).ok_or("no txn")?;
                if matches!(txn.mode, Mode::Ssi | Mode::Si | Mode::ReadOnly)
                    && txn.snapshot.is_none()
                {
                    txn.snapshot = Some(t);
                }
                if matches!(txn.mode, Mode::Occ | Mode::Ssi) {
                    txn.spans
                        .entry(tablet.clone())
                        .or_default()
                        .push(target.span(t));
                }
                let on = follower.map(|f| format!(" on {f}")).unwrap_or_default();
                self.finish(name, format!("{verb} @{}{on} → {v}", show(t)))
            }
        }
    }

    /// Aborts `name` on every tablet it used (fenced, as a gateway does
    /// after a failed commit) and ends its commit with `e`.
    fn commit_failed(
        &mut self,
        name: &str,
        c: &CommitOp,
        e: TxnError,
    ) -> Res<(Polled, Option<Op>)> {
        let id = self.txns[name].id;
        let instant = self.instant();
        for (tablet, ticket) in &c.waiting {
            let leader = &mut self.tablets.get_mut(tablet).ok_or("no tablet")?.leader;
            leader.cancel_wait(id, *ticket, false, instant);
        }
        self.abort_on(name, &c.tablets, true)?;
        self.txns.get_mut(name).ok_or("no txn")?.done = true;
        self.finish(name, format!("commit → {}", Self::abort_line(&e)))
    }

    /// Aborts `name` on `tablets` (a `Resolve` proposed where it prepared).
    fn abort_on(&mut self, name: &str, tablets: &[String], fence: bool) -> Res<()> {
        let id = self.txns[name].id;
        for tablet in tablets {
            let instant = self.instant();
            let leader = &mut self.tablets.get_mut(tablet).ok_or("no tablet")?.leader;
            if let Ok(AbortPlan::Resolve(command)) = resolve::abort(leader, id, fence, instant) {
                self.propose(tablet, command)?;
                let leader = &mut self.tablets.get_mut(tablet).ok_or("no tablet")?.leader;
                resolve::resolved(leader, id, instant);
            }
        }
        Ok(())
    }

    fn poll_commit(&mut self, name: &str, mut c: CommitOp) -> Res<(Polled, Option<Op>)> {
        for (tablet, ticket) in std::mem::take(&mut c.waiting) {
            match self.take_wakeup(&tablet, ticket) {
                Some(Err(reason)) => {
                    return self.commit_failed(name, &c, TxnError::aborted(reason));
                }
                Some(Ok(())) => {}
                None => {
                    c.waiting.insert(tablet, ticket);
                }
            }
        }
        if !c.waiting.is_empty() {
            return Ok((Polled::Idle, Some(Op::Commit(c))));
        }
        let id = self.txns[name].id;
        loop {
            match c.phase {
                Phase::Lock => {
                    let mut waits = Vec::new();
                    for tablet in c.tablets.clone() {
                        // A 2PL tablet it only read holds its locks already.
                        if c.locked.contains(&tablet) || c.read_only.contains(&tablet) {
                            continue;
                        }
                        let (writes, validation) = self.share(name, &tablet)?;
                        let input = Self::input(&self.txns[name], &writes, &validation);
                        let mvcc = self.leader_mvcc(&tablet);
                        let instant = self.instant();
                        let leader = &mut self.tablets.get_mut(&tablet).ok_or("no tablet")?.leader;
                        let stepped = prepare::lock(leader, &mvcc, &input, instant);
                        match stepped {
                            Err(e) => return self.commit_failed(name, &c, e),
                            Ok(Progress::Wait(t)) => {
                                c.waiting.insert(tablet.clone(), t);
                                waits.push(tablet);
                            }
                            Ok(Progress::Done(())) => {
                                c.locked.insert(tablet);
                            }
                        }
                    }
                    if !waits.is_empty() {
                        self.say(format!(
                            "{name}: commit → waits for a lock on {}",
                            waits.join(", ")
                        ));
                        return Ok((Polled::Waits, Some(Op::Commit(c))));
                    }
                    c.phase = if c.tablets.len() == 1 {
                        Phase::Decide
                    } else {
                        Phase::Prepare
                    };
                }
                Phase::Prepare => {
                    let coordinator_id = self.tablets[&c.coordinator].id;
                    for p in c.read_only.clone() {
                        let (writes, validation) = self.share(name, &p)?;
                        let now = match self.step_now(&p) {
                            Ok(now) => now,
                            Err(e) => return self.commit_failed(name, &c, e),
                        };
                        let lease_end = self.read_limit(&p, now.tt);
                        let input = Self::input(&self.txns[name], &writes, &validation);
                        let mvcc = self.leader_mvcc(&p);
                        let leader = &mut self.tablets.get_mut(&p).ok_or("no tablet")?.leader;
                        let until =
                            match prepare::read_lock(leader, &mvcc, &input, lease_end, now.instant)
                            {
                                Err(e) => return self.commit_failed(name, &c, e),
                                Ok(Progress::Wait(_)) => {
                                    return Err("a read-only lock phase had to wait".into());
                                }
                                Ok(Progress::Done(until)) => until,
                            };
                        self.say(format!(
                            "{name}: commit → read locks on {p} kept until @{}",
                            show(until)
                        ));
                        c.read_until = Some(c.read_until.map_or(until, |u| u.min(until)));
                    }
                    for p in c.prepared_participants() {
                        let (writes, validation) = self.share(name, &p)?;
                        let now = match self.step_now(&p) {
                            Ok(now) => now,
                            Err(e) => return self.commit_failed(name, &c, e),
                        };
                        let input = Self::input(&self.txns[name], &writes, &validation);
                        let mvcc = self.leader_mvcc(&p);
                        let leader = &mut self.tablets.get_mut(&p).ok_or("no tablet")?.leader;
                        let (pts, command) =
                            match prepare::prepare(leader, &mvcc, &input, coordinator_id, now) {
                                Err(e) => return self.commit_failed(name, &c, e),
                                Ok(Progress::Wait(_)) => {
                                    return Err("a prepare had to wait for a lock".into());
                                }
                                Ok(Progress::Done(p)) => p,
                            };
                        let response = self.propose(&p, command)?;
                        let instant = self.instant();
                        let leader = &mut self.tablets.get_mut(&p).ok_or("no tablet")?.leader;
                        match prepare::prepared(
                            leader,
                            id,
                            pts,
                            PrepareOutcome::Applied(response),
                            instant,
                        ) {
                            prepare::Vote::Yes(ts) => {
                                c.votes.insert(p.clone(), ts);
                            }
                            prepare::Vote::No { error: e, undo } => {
                                if let Some(command) = undo {
                                    self.propose(&p, command)?;
                                }
                                return self.commit_failed(name, &c, e);
                            }
                        }
                    }
                    let votes: Vec<String> = c
                        .votes
                        .iter()
                        .map(|(t, ts)| format!("{t} @{}", show(*ts)))
                        .collect();
                    if !votes.is_empty() {
                        self.say(format!("{name}: commit → prepared on {}", votes.join(", ")));
                    }
                    c.phase = Phase::Decide;
                }
                Phase::Decide => return self.decide(name, c),
                Phase::CommitWait => return self.commit_waited(name, c),
            }
        }
    }

    /// The commit's decision: the one-phase `Write`, or the coordinator's
    /// `Decide`, proposed; then commit wait.
    fn decide(&mut self, name: &str, mut c: CommitOp) -> Res<(Polled, Option<Op>)> {
        let tablet = c.coordinator.clone();
        let (writes, validation) = self.share(name, &tablet)?;
        let now = match self.step_now(&tablet) {
            Ok(now) => now,
            Err(e) => return self.commit_failed(name, &c, e),
        };
        let id = self.txns[name].id;
        let input = CommitInput {
            read_locks_until: c.read_until,
            ..Self::input(&self.txns[name], &writes, &validation)
        };
        let mvcc = self.leader_mvcc(&tablet);
        let tablet_ids: BTreeMap<String, TabletId> = self
            .tablets
            .iter()
            .map(|(n, t)| (n.clone(), t.id))
            .collect();
        let leader = &mut self.tablets.get_mut(&tablet).ok_or("no tablet")?.leader;
        let proposal = if c.one_phase() {
            match commit::commit(leader, &mvcc, &input, now) {
                Err(e) => return self.commit_failed(name, &c, e),
                Ok(Progress::Wait(_)) => return Err("a commit had to wait for a lock".into()),
                Ok(Progress::Done(Commit::ReadOnly(t))) => {
                    let txn = self.txns.get_mut(name).ok_or("no txn")?;
                    txn.committed = Some(t);
                    txn.done = true;
                    return self.finish(
                        name,
                        format!("commit → committed @{} (nothing written)", show(t)),
                    );
                }
                Ok(Progress::Done(Commit::Write { ts, command })) => (ts, command),
            }
        } else {
            let votes: Vec<(TabletId, Timestamp)> =
                c.votes.iter().map(|(t, ts)| (tablet_ids[t], *ts)).collect();
            match decide::decide(leader, &mvcc, &input, &votes, now) {
                Err(e) => return self.commit_failed(name, &c, e),
                Ok(Progress::Wait(_)) => return Err("a decision had to wait for a lock".into()),
                Ok(Progress::Done(d)) => d,
            }
        };
        let (ts, command) = proposal;
        let kind = if c.one_phase() { "Write" } else { "Decide" };
        let response = self.propose(&tablet, command)?;
        if c.lose_reply {
            // Replication failed after the proposal: the outcome is unknown.
            let instant = self.instant();
            let leader = &mut self.tablets.get_mut(&tablet).ok_or("no tablet")?.leader;
            let e = if c.one_phase() {
                commit::committed(leader, id, ts, WriteOutcome::Unknown, instant).err()
            } else {
                decide::decided(leader, id, ts, Vec::new(), DecideOutcome::Unknown, instant).err()
            };
            self.txns.get_mut(name).ok_or("no txn")?.done = true;
            let line = e.map_or("committed".to_string(), |e| Self::abort_line(&e));
            return self.finish(
                name,
                format!("commit → {kind} @{} proposed, no reply: {line}", show(ts)),
            );
        }
        let node = self.tablets[&tablet].leader_node.clone();
        self.say(format!(
            "{name}: commit → {kind} @{} on {tablet}; commit wait on {node}",
            show(ts)
        ));
        c.ts = Some(ts);
        c.response = Some(response);
        c.phase = Phase::CommitWait;
        Ok((Polled::Waits, Some(Op::Commit(c))))
    }

    /// Commit wait is over: the commit becomes visible, its locks go, its
    /// participants are told.
    fn commit_waited(&mut self, name: &str, c: CommitOp) -> Res<(Polled, Option<Op>)> {
        let tablet = c.coordinator.clone();
        let node = self.tablets[&tablet].leader_node.clone();
        let ts = c.ts.ok_or("commit wait without a timestamp")?;
        let proof = CommitWaited::check(ts, self.tt_now(&node)?).ok_or("commit wait not over")?;
        let response = c.response.clone().ok_or("no response")?;
        let id = self.txns[name].id;
        let instant = self.instant();
        let participants = c.prepared_participants();
        let ids: Vec<TabletId> = participants.iter().map(|p| self.tablets[p].id).collect();
        let leader = &mut self.tablets.get_mut(&tablet).ok_or("no tablet")?.leader;
        let result = if c.one_phase() {
            commit::committed(leader, id, ts, WriteOutcome::Done(response, proof), instant)
        } else {
            decide::decided(
                leader,
                id,
                ts,
                ids,
                DecideOutcome::Done(response, Some(proof)),
                instant,
            )
        };
        match result {
            Ok(s) => {
                // Tell the participants (after commit wait, as the
                // coordinator's leader does).
                if !participants.is_empty() {
                    let leader = &mut self.tablets.get_mut(&tablet).ok_or("no tablet")?.leader;
                    decide::start_telling(leader, id);
                    for p in &participants {
                        let leader = &mut self.tablets.get_mut(p).ok_or("no tablet")?.leader;
                        if let Some(command) = resolve::resolve(leader, id, Decision::Commit(s)) {
                            self.propose(p, command)?;
                        }
                        let leader = &mut self.tablets.get_mut(p).ok_or("no tablet")?.leader;
                        resolve::resolved(leader, id, instant);
                    }
                    let leader = &mut self.tablets.get_mut(&tablet).ok_or("no tablet")?.leader;
                    if decide::told(leader, id, true) {
                        self.propose(&tablet, Command::Forget { txns: vec![id] })?;
                    }
                }
                // The gateway tells the read-only tablets after the reply
                // (unless told otherwise: `keep_read_locks`).
                if !c.keep_read_locks {
                    for p in &c.read_only {
                        let leader = &mut self.tablets.get_mut(p).ok_or("no tablet")?.leader;
                        if resolve::resolve(leader, id, Decision::Commit(s)).is_some() {
                            return Err("a read-only participant had something to resolve".into());
                        }
                        resolve::resolved(leader, id, instant);
                    }
                }
                let txn = self.txns.get_mut(name).ok_or("no txn")?;
                txn.committed = Some(s);
                txn.done = true;
                self.finish(name, format!("commit → committed @{}", show(s)))
            }
            Err(e) => {
                self.txns.get_mut(name).ok_or("no txn")?.done = true;
                self.finish(name, format!("commit → {}", Self::abort_line(&e)))
            }
        }
    }

    /// 2PC steps sent one at a time (`lock on=`, `prepare on=`).
    fn poll_step(&mut self, name: &str, op: Op) -> Res<(Polled, Option<Op>)> {
        let (tablet, coordinator, ticket) = match &op {
            Op::Lock { tablet, ticket } => (tablet.clone(), None, *ticket),
            Op::Prepare {
                tablet,
                coordinator,
                ticket,
            } => (tablet.clone(), Some(coordinator.clone()), *ticket),
            _ => unreachable!(),
        };
        let what = if coordinator.is_some() {
            "prepare"
        } else {
            "lock"
        };
        if let Some(t) = ticket
            && let Some(Err(reason)) = self.take_wakeup(&tablet, t)
        {
            return self.finish(
                name,
                format!("{what} on {tablet} → aborted ({})", reason.name()),
            );
        }
        let (writes, validation) = self.share(name, &tablet)?;
        let input = Self::input(&self.txns[name], &writes, &validation);
        let mvcc = self.leader_mvcc(&tablet);
        let now = match self.step_now(&tablet) {
            Ok(now) => now,
            Err(e) => return self.finish(name, format!("{what} on {tablet} → refused: {e}")),
        };
        let coordinator_id = coordinator.as_ref().map(|c| self.tablets[c].id);
        let leader = &mut self.tablets.get_mut(&tablet).ok_or("no tablet")?.leader;
        let stepped = match coordinator_id {
            None => prepare::lock(leader, &mvcc, &input, now.instant).map(|p| match p {
                Progress::Done(()) => Progress::Done(None),
                Progress::Wait(t) => Progress::Wait(t),
            }),
            Some(c) => prepare::prepare(leader, &mvcc, &input, c, now).map(|p| match p {
                Progress::Done(d) => Progress::Done(Some(d)),
                Progress::Wait(t) => Progress::Wait(t),
            }),
        };
        match stepped {
            Err(e) => self.finish(
                name,
                format!("{what} on {tablet} → {}", Self::abort_line(&e)),
            ),
            Ok(Progress::Wait(t)) => {
                self.say(format!("{name}: {what} on {tablet} → waits for a lock"));
                let op = match op {
                    Op::Lock { tablet, .. } => Op::Lock {
                        tablet,
                        ticket: Some(t),
                    },
                    Op::Prepare {
                        tablet,
                        coordinator,
                        ..
                    } => Op::Prepare {
                        tablet,
                        coordinator,
                        ticket: Some(t),
                    },
                    other => other,
                };
                Ok((Polled::Waits, Some(op)))
            }
            Ok(Progress::Done(None)) => self.finish(name, format!("lock on {tablet} → locked")),
            Ok(Progress::Done(Some((p, command)))) => {
                let response = self.propose(&tablet, command)?;
                let id = self.txns[name].id;
                let leader = &mut self.tablets.get_mut(&tablet).ok_or("no tablet")?.leader;
                match prepare::prepared(
                    leader,
                    id,
                    p,
                    PrepareOutcome::Applied(response),
                    now.instant,
                ) {
                    prepare::Vote::Yes(ts) => self.finish(
                        name,
                        format!("prepare on {tablet} → prepared @{}", show(ts)),
                    ),
                    prepare::Vote::No { error: e, undo } => {
                        if let Some(command) = undo {
                            self.propose(&tablet, command)?;
                        }
                        self.finish(
                            name,
                            format!("prepare on {tablet} → {}", Self::abort_line(&e)),
                        )
                    }
                }
            }
        }
    }
}

/// A script's positional and `key=value` arguments.
struct Args {
    pos: Vec<String>,
    kv: BTreeMap<String, String>,
    /// Every value of a key given more than once (`follower=B follower=C`).
    all: BTreeMap<String, Vec<String>>,
}

impl Args {
    fn of(c: &Cmd) -> Self {
        let mut pos = Vec::new();
        let mut kv = BTreeMap::new();
        let mut all: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for a in &c.args {
            match &a.key {
                Some(k) => {
                    kv.insert(k.clone(), a.value.clone());
                    all.entry(k.clone()).or_default().push(a.value.clone());
                }
                None => pos.push(a.value.clone()),
            }
        }
        Self { pos, kv, all }
    }

    fn get(&self, k: &str) -> Res<&str> {
        Ok(self
            .kv
            .get(k)
            .map(String::as_str)
            .ok_or(format!("missing {k}="))?)
    }

    fn opt(&self, k: &str) -> Option<&str> {
        self.kv.get(k).map(String::as_str)
    }

    fn pos(&self, i: usize) -> Res<&str> {
        Ok(self
            .pos
            .get(i)
            .map(String::as_str)
            .ok_or(format!("missing argument {i}"))?)
    }

    fn flag(&self, f: &str) -> bool {
        self.pos.iter().any(|p| p == f)
    }
}

impl World {
    /// A timestamp argument: `at=t1` (a transaction's commit timestamp, or
    /// its snapshot), `at=t1-1ns` (just below it), `at=903ms` (that long
    /// after the script's start), `in=7ms` (true time now plus 7 ms),
    /// `ago=5ms` (true time now minus 5 ms).
    fn ts_arg(&self, a: &Args) -> Res<Option<Timestamp>> {
        if let Some(d) = a.opt("in") {
            return Ok(Some(self.true_now().saturating_add(parse_duration(d)?)));
        }
        if let Some(d) = a.opt("ago") {
            return Ok(Some(self.true_now().saturating_sub(parse_duration(d)?)));
        }
        a.opt("at").map(|e| self.ts_expr(e)).transpose()
    }

    fn ts_expr(&self, e: &str) -> Res<Timestamp> {
        if let Some(d) = humantime_like(e) {
            return Ok(Timestamp::from_nanos(T0).saturating_add(d));
        }
        let (name, minus) = match e.split_once('-') {
            Some((n, d)) => (n, parse_duration(d)?),
            None => (e, Duration::ZERO),
        };
        let ts = self
            .txns
            .get(name)
            .and_then(|t| t.committed.or(t.snapshot))
            .ok_or(format!("{name} has neither committed nor read"))?;
        Ok(ts.saturating_sub(minus))
    }

    /// What a snapshot at `t` shows of `keys`.
    fn snapshot_line(&self, t: Timestamp, keys: &[String]) -> Res<String> {
        let mut parts = Vec::new();
        for k in keys {
            let tablet = self.tablet_of(k.as_bytes())?;
            let v = match self.leader_mvcc(&tablet).get(k.as_bytes(), t)? {
                ReadOutcome::Ready(v) => text(&v),
                ReadOutcome::Blocked(_) => "(undecided intent)".to_string(),
            };
            parts.push(format!("{k}={v}"));
        }
        Ok(parts.join(" "))
    }

    fn world_command(&mut self, name: &str, a: &Args) -> Res<()> {
        match name {
            "node" => {
                let node = a.pos(0)?.to_string();
                let eps = parse_duration(a.get("epsilon")?)?;
                let clock = Arc::new(ManualClock::new(self.true_now()));
                let config = TrueTimeConfig {
                    drift_bound_ppm: 0,
                    epsilon_floor: eps,
                    max_epsilon: Duration::from_secs(10),
                };
                let tt = TrueTime::assume_synced(clock.clone(), config, eps);
                let mvcc = Mvcc::open(Arc::new(MemoryEngine::new()))?;
                self.nodes.insert(
                    node,
                    Node {
                        clock,
                        tt,
                        mvcc,
                        failed: false,
                    },
                );
            }
            "tablet" => {
                let name = a.pos(0)?.to_string();
                let (start, end) = a.get("range")?.split_once("..").ok_or("range=a..b")?;
                let range = KeyRange::new(key(start), key(end));
                let leader_node = a.get("leader")?.to_string();
                let mut members = vec![leader_node.clone()];
                members.extend(a.all.get("follower").cloned().unwrap_or_default());
                self.next_tablet += 1;
                let id = self.next_tablet;
                let floor = self.tt_now(&leader_node)?.latest;
                let mut replicas = BTreeMap::new();
                for m in members {
                    self.node(&m)?;
                    replicas.insert(
                        m,
                        Replica {
                            state: TabletState {
                                max_ts: Timestamp::MIN,
                                range: range.clone(),
                                generation: 1,
                                txns: Default::default(),
                            },
                            applied: 0,
                            lagging: false,
                            safe: FollowerSafeTime::default(),
                        },
                    );
                }
                let leader = Leader::new(id, range, 1, floor, self.config);
                self.tablets.insert(
                    name,
                    Tablet {
                        id,
                        leader_node,
                        leader,
                        log: Vec::new(),
                        replicas,
                        lease_end: self.now + LEASE,
                        partitioned: false,
                        wakeups: BTreeMap::new(),
                    },
                );
            }
            "time" => {
                let d = parse_duration(a.get("advance")?)?;
                self.now += d;
                for n in self.nodes.values() {
                    n.clock.advance(d);
                }
                let now = self.now;
                for t in self.tablets.values_mut() {
                    if !t.partitioned {
                        t.lease_end = now + LEASE;
                    }
                }
                self.say(format!("time: now {}", show(self.true_now())));
                self.pump()?;
            }
            "clock" => {
                let node = a.pos(0)?;
                let failed = match a.pos(1)? {
                    "fail" => true,
                    "recover" => false,
                    other => return Err(format!("clock {node} {other}?").into()),
                };
                self.nodes.get_mut(node).ok_or("no node")?.failed = failed;
                self.pump()?;
            }
            "lag" | "catchup" => {
                let tablet = a.pos(0)?.to_string();
                let node = a.get("on")?;
                let r = self
                    .tablets
                    .get_mut(&tablet)
                    .ok_or("no tablet")?
                    .replicas
                    .get_mut(node)
                    .ok_or("no replica")?;
                r.lagging = name == "lag";
                self.catch_up(&tablet)?;
                self.pump()?;
            }
            "locks" => {
                // Who holds or waits for a lock on a tablet, and in what state.
                let tablet = a.pos(0)?.to_string();
                let leader = &self.tablets[&tablet].leader;
                let everything = LockTarget::range(Vec::new(), Vec::new());
                let holders = leader.locks().holders_overlapping(&everything);
                let names: Vec<String> = self
                    .txns
                    .iter()
                    .filter(|(_, t)| holders.contains(&t.id))
                    .map(|(n, t)| match leader.book().get(t.id) {
                        Some(state) => format!("{n} ({state:?})"),
                        None => n.clone(),
                    })
                    .collect();
                let line = format!("{tablet} locks: [{}]", names.join(", "));
                self.say(line);
            }
            "log" => {
                // The commands in a tablet's Raft log, by kind.
                let tablet = a.pos(0)?.to_string();
                let kinds: Vec<String> = self.tablets[&tablet]
                    .log
                    .iter()
                    .map(|c| {
                        let s = format!("{c:?}");
                        s.split([' ', '{', '(']).next().unwrap_or("").to_string()
                    })
                    .collect();
                let line = format!("{tablet} log: [{}]", kinds.join(", "));
                self.say(line);
            }
            "partition" => {
                let tablet = a.pos(0)?;
                self.tablets.get_mut(tablet).ok_or("no tablet")?.partitioned = true;
            }
            "close" => {
                let tablet = a.pos(0)?.to_string();
                let node = self.tablets[&tablet].leader_node.clone();
                let now = self.tt_now(&node)?;
                let t = self.tablets.get_mut(&tablet).ok_or("no tablet")?;
                let index = t.replicas[&node].applied as u64;
                let closed = safe_time::close(&mut t.leader, now, index);
                for (n, r) in &mut t.replicas {
                    if *n != node {
                        r.safe.note(closed);
                    }
                }
                self.say(format!(
                    "{tablet}: closed {} through entry {}",
                    show(closed.ts),
                    closed.index
                ));
            }
            "split" => {
                let tablet = a.pos(0)?.to_string();
                let at = key(a.get("at")?);
                let child = a.get("right")?.to_string();
                let instant = self.instant();
                let max_applied = self.max_applied(&tablet);
                let t = self.tablets.get_mut(&tablet).ok_or("no tablet")?;
                let plan = match split::begin(&mut t.leader, &at, max_applied, instant) {
                    Ok(plan) => plan,
                    Err(e) => {
                        self.say(format!("{tablet}: split refused: {e}"));
                        return Ok(());
                    }
                };
                let aborted: Vec<String> = self
                    .txns
                    .iter()
                    .filter(|(_, x)| plan.aborted.contains(&x.id))
                    .map(|(n, _)| n.clone())
                    .collect();
                self.next_tablet += 1;
                let right = self.next_tablet;
                self.pending_child = Some(child.clone());
                let command = Command::Split {
                    at,
                    right,
                    floor: plan.floor,
                    left_generation: 2,
                };
                let response = self.propose(&tablet, command)?;
                let t = self.tablets.get_mut(&tablet).ok_or("no tablet")?;
                let node = t.leader_node.clone();
                let applied = matches!(response, CommandResponse::Split { .. })
                    .then(|| (t.replicas[&node].state.range.clone(), 2));
                split::end(&mut t.leader, applied);
                self.say(format!(
                    "{tablet}: split → {child} starts above {}; aborted: {}",
                    show(plan.floor),
                    if aborted.is_empty() {
                        "none".to_string()
                    } else {
                        aborted.join(", ")
                    }
                ));
                self.pump()?;
            }
            "leader" => {
                let tablet = a.pos(0)?.to_string();
                let to = a.get("to")?.to_string();
                let t = &self.tablets[&tablet];
                if self.now < t.lease_end {
                    return Err(format!(
                        "{}'s lease on {tablet} holds for {:?} more",
                        t.leader_node,
                        t.lease_end - self.now
                    )
                    .into());
                }
                if let Some(r) = self
                    .tablets
                    .get_mut(&tablet)
                    .ok_or("no tablet")?
                    .replicas
                    .get_mut(&to)
                {
                    r.lagging = false;
                }
                self.catch_up(&tablet)?;
                let now = self.tt_now(&to)?;
                let instant = self.instant();
                let t = &self.tablets[&tablet];
                let r = t.replicas.get(&to).ok_or("no replica there")?;
                // The new leader serves once TT.after(s_max) (duties.rs):
                // a script advances time past it first.
                if r.state.max_ts >= now.earliest {
                    return Err(format!(
                        "{to} serves {tablet} only after TT.after({})",
                        show(r.state.max_ts)
                    )
                    .into());
                }
                let floor = now.latest.max(r.state.max_ts);
                let mut leader = Leader::new(
                    t.id,
                    r.state.range.clone(),
                    r.state.generation,
                    floor,
                    self.config,
                );
                leader.restore(&r.state.txns, instant);
                let end = self.now + LEASE;
                let t = self.tablets.get_mut(&tablet).ok_or("no tablet")?;
                t.leader = leader;
                t.leader_node = to.clone();
                t.lease_end = end;
                t.partitioned = false;
                t.wakeups.clear();
                self.say(format!("{tablet}: {to} leads, above {}", show(floor)));
                self.pump()?;
            }
            "sweep" => {
                let tablet = a.pos(0)?.to_string();
                let instant = self.instant();
                let node = self.tablets[&tablet].leader_node.clone();
                let earliest = self.tt_now(&node)?.earliest;
                let t = self.tablets.get_mut(&tablet).ok_or("no tablet")?;
                let sweep = reap::sweep(&mut t.leader, instant);
                let released = reap::expire_read_locks(&mut t.leader, earliest, instant);
                let names = |ids: &[TxnId], txns: &BTreeMap<String, Txn>| -> String {
                    let v: Vec<String> = txns
                        .iter()
                        .filter(|(_, x)| ids.contains(&x.id))
                        .map(|(n, _)| n.clone())
                        .collect();
                    if v.is_empty() {
                        "none".to_string()
                    } else {
                        v.join(", ")
                    }
                };
                let doubt: Vec<TxnId> = sweep.in_doubt.iter().map(|(t, _)| *t).collect();
                let mut line = format!(
                    "{tablet}: sweep aborted {}; in doubt: {}",
                    names(&sweep.aborted, &self.txns),
                    names(&doubt, &self.txns)
                );
                if !released.is_empty() {
                    line.push_str(&format!(
                        "; read locks past their lease end released: {}",
                        names(&released, &self.txns)
                    ));
                }
                self.say(line);
                self.pump()?;
            }
            "snapshot" => {
                let t = self.ts_arg(a)?.ok_or("snapshot at=, in= or ago=")?;
                let line = self.snapshot_line(t, &a.pos)?;
                self.say(format!("snapshot @{}: {line}", show(t)));
            }
            "history" => {
                let keys = a.pos.clone();
                let mut commits: Vec<(Timestamp, String)> = self
                    .txns
                    .iter()
                    .filter_map(|(n, t)| t.committed.map(|ts| (ts, n.clone())))
                    .collect();
                commits.sort();
                for (ts, n) in commits {
                    let line = self.snapshot_line(ts, &keys)?;
                    self.say(format!("@{} ({n}): {line}", show(ts)));
                }
            }
            "lease" => self.lease_command(a)?,
            other => return Err(format!("unknown command {other}").into()),
        }
        Ok(())
    }

    /// The lease state machine alone (`spanlite_txn::lease`).
    fn lease_command(&mut self, a: &Args) -> Res<()> {
        let instant = self.instant();
        match a.pos(0)? {
            "new" => {
                self.lease = Some(Lease::new(parse_duration(a.get("duration")?)?));
            }
            "observe" => {
                let term: u64 = a.get("term")?.parse()?;
                let leader = a.get("leader")? == "me";
                let ack = match a.opt("ack") {
                    Some(d) => Some(instant - parse_duration(d.trim_start_matches('-'))?),
                    None => None,
                };
                let lease = self.lease.as_mut().ok_or("lease new first")?;
                lease.observe(term, leader, Some(if leader { 1 } else { 2 }), ack);
            }
            "vote" => {
                let term: u64 = a.get("term")?.parse()?;
                let lease = self.lease.as_mut().ok_or("lease new first")?;
                let d = match lease.on_vote_request(term, instant) {
                    VoteDecision::Refuse => "refused (the lease holds)",
                    VoteDecision::Pass => "passed to Raft",
                };
                self.say(format!("lease: vote for term {term} {d}"));
            }
            "serving" => {
                let lease = self.lease.as_ref().ok_or("lease new first")?;
                let v = lease.view();
                self.say(format!(
                    "lease: term {}, {}",
                    v.term,
                    if v.holds_at(instant) {
                        "serving"
                    } else {
                        "not serving"
                    }
                ));
            }
            other => return Err(format!("lease {other}?").into()),
        }
        Ok(())
    }
}

impl World {
    fn txn_command(&mut self, name: &str, a: &Args) -> Res<()> {
        let verb = a.pos(0)?;
        if verb == "begin" || verb == "retry" {
            let mode = match a.opt("mode").unwrap_or("2pl") {
                "2pl" => Mode::TwoPl,
                "occ" => Mode::Occ,
                "ssi" => Mode::Ssi,
                "si" => Mode::Si,
                "readonly" => Mode::ReadOnly,
                other => return Err(format!("mode {other}?").into()),
            };
            self.next_txn += 1;
            let id = TxnId(self.next_txn);
            // Priority: the begin time, made unique by the order of begins.
            let fresh = self
                .true_now()
                .saturating_add(Duration::from_nanos(self.next_txn as u64));
            let (priority, mode, retry) = match (verb, self.txns.get_mut(name)) {
                ("retry", Some(old)) => {
                    // A new attempt of the same transaction: the retry
                    // policy keeps the first attempt's priority.
                    let mut retry = old
                        .retry
                        .take()
                        .unwrap_or_else(|| Retry::new(old.priority, Duration::from_secs(30)));
                    let pause = retry.next(Duration::from_millis(1), 0);
                    if pause.is_none() {
                        return Err("out of retries".into());
                    }
                    (retry.priority(), old.mode, Some(retry))
                }
                ("retry", None) => return Err(format!("{name} never began").into()),
                _ => (fresh, mode, None),
            };
            // `commit_before=5ms`: the schema lease its statements were
            // bound under ends at T0 + 5ms.
            let commit_before = match a.opt("commit_before") {
                Some(d) => Some(Timestamp::from_nanos(T0).saturating_add(parse_duration(d)?)),
                None => None,
            };
            if let Some(old) = self.txns.get(name)
                && !old.done
            {
                self.abort_on(
                    name,
                    &old.read_tablets.iter().cloned().collect::<Vec<_>>(),
                    false,
                )?;
            }
            self.txns.insert(
                name.to_string(),
                Txn {
                    id,
                    priority,
                    mode,
                    snapshot: None,
                    writes: BTreeMap::new(),
                    read_tablets: BTreeSet::new(),
                    spans: BTreeMap::new(),
                    op: None,
                    committed: None,
                    done: false,
                    retry,
                    commit_before,
                },
            );
            let attempt = if verb == "retry" { " (a retry)" } else { "" };
            self.say(format!(
                "{name}: begin{attempt}, priority {}",
                show(priority)
            ));
            return Ok(());
        }
        if !self.txns.contains_key(name) {
            return Err(format!("{name}: begin first").into());
        }
        if self.txns[name].op.is_some() && !matches!(verb, "timeout" | "gone") {
            return Err(format!("{name} is still waiting").into());
        }
        match verb {
            "read" | "scan" => {
                let target = if verb == "read" {
                    Target::Key(key(a.pos(1)?))
                } else {
                    let (start, end) = a.pos(1)?.split_once("..").ok_or("scan a..b")?;
                    Target::Range(key(start), key(end))
                };
                let first = match &target {
                    Target::Key(k) | Target::Range(k, _) => k.clone(),
                };
                let tablet = self.tablet_of(&first)?;
                let txn = &self.txns[name];
                let op = match (txn.mode, a.flag("for_update")) {
                    (Mode::TwoPl, for_update) | (_, for_update @ true) => Op::LockedRead {
                        tablet,
                        target,
                        mode: if for_update {
                            LockMode::Exclusive
                        } else {
                            LockMode::Shared
                        },
                        ticket: None,
                        blocked_at: None,
                    },
                    (mode, false) => Op::SnapshotRead {
                        tablet,
                        target,
                        at: match self.ts_arg(a)? {
                            Some(t) => Some(t),
                            None if mode == Mode::Occ => None,
                            None => txn.snapshot,
                        },
                        chosen: None,
                        follower: a.opt("on").map(str::to_string),
                        blocked_at: None,
                        last_ts: a.flag("last_ts"),
                        nothing_newer: a.flag("nothing_newer"),
                    },
                };
                self.txns.get_mut(name).ok_or("no txn")?.op = Some(op);
                self.poll(name)?;
                self.pump()?;
            }
            "write" | "delete" => {
                let txn = self.txns.get_mut(name).ok_or("no txn")?;
                for p in &a.pos[1..] {
                    txn.writes.insert(key(p), None);
                }
                for (k, v) in &a.kv {
                    txn.writes.insert(key(k), Some(key(v)));
                }
            }
            "commit" => {
                let txn = &self.txns[name];
                let mut tablets: BTreeSet<String> = BTreeSet::new();
                let mut written = BTreeSet::new();
                for k in txn.writes.keys() {
                    let t = self.tablet_of(k)?;
                    written.insert(t.clone());
                    tablets.insert(t);
                }
                tablets.extend(txn.read_tablets.iter().cloned());
                tablets.extend(txn.spans.keys().cloned());
                let read_only_at = match txn.mode {
                    Mode::ReadOnly => Some(txn.snapshot.unwrap_or(Timestamp::MIN)),
                    // Reads at one snapshot need no validation (the
                    // gateway's `read_only_at`); 2PL's locks held until now.
                    Mode::Ssi | Mode::TwoPl | Mode::Si if txn.writes.is_empty() => {
                        Some(txn.snapshot.unwrap_or(Timestamp::MIN))
                    }
                    _ => None,
                };
                if let Some(ts) = read_only_at.or(tablets.is_empty().then_some(Timestamp::MIN)) {
                    let reads: Vec<String> = txn.read_tablets.iter().cloned().collect();
                    // 2PL reads on several tablets are serializable only if
                    // every lock was still held at once: each tablet
                    // confirms (its lock phase), as the gateway does.
                    if txn.mode == Mode::TwoPl && reads.len() > 1 {
                        for tablet in &reads {
                            let (writes, validation) = self.share(name, tablet)?;
                            let input = Self::input(&self.txns[name], &writes, &validation);
                            let mvcc = self.leader_mvcc(tablet);
                            let instant = self.instant();
                            let leader =
                                &mut self.tablets.get_mut(tablet).ok_or("no tablet")?.leader;
                            if let Err(e) = prepare::lock(leader, &mvcc, &input, instant) {
                                self.abort_on(name, &reads, true)?;
                                self.txns.get_mut(name).ok_or("no txn")?.done = true;
                                self.say(format!("{name}: commit → {}", Self::abort_line(&e)));
                                return Ok(());
                            }
                        }
                    }
                    self.abort_on(name, &reads, false)?;
                    let txn = self.txns.get_mut(name).ok_or("no txn")?;
                    txn.done = true;
                    txn.committed = (ts != Timestamp::MIN).then_some(ts);
                    self.say(format!(
                        "{name}: commit → committed @{} (read only)",
                        show(ts)
                    ));
                    self.pump()?;
                    return Ok(());
                }
                let coordinator = written
                    .iter()
                    .next()
                    .or_else(|| tablets.iter().next())
                    .cloned()
                    .ok_or("nothing to commit")?;
                // As the gateway: 2PL tablets it only read keep their read
                // locks for the decision instead of preparing.
                let read_only: BTreeSet<String> = if txn.mode == Mode::TwoPl {
                    tablets
                        .iter()
                        .filter(|t| {
                            **t != coordinator
                                && !written.contains(*t)
                                && txn.read_tablets.contains(*t)
                                && !txn.spans.contains_key(*t)
                        })
                        .cloned()
                        .collect()
                } else {
                    BTreeSet::new()
                };
                let op = Op::Commit(CommitOp {
                    phase: Phase::Lock,
                    tablets: tablets.into_iter().collect(),
                    coordinator,
                    locked: BTreeSet::new(),
                    waiting: BTreeMap::new(),
                    votes: BTreeMap::new(),
                    read_only,
                    read_until: None,
                    ts: None,
                    response: None,
                    lose_reply: a.flag("lose_reply"),
                    keep_read_locks: a.flag("keep_read_locks"),
                });
                self.txns.get_mut(name).ok_or("no txn")?.op = Some(op);
                self.poll(name)?;
                self.pump()?;
            }
            "rollback" => {
                let reads: Vec<String> = self.txns[name].read_tablets.iter().cloned().collect();
                self.abort_on(name, &reads, false)?;
                self.txns.get_mut(name).ok_or("no txn")?.done = true;
                self.say(format!("{name}: rolled back"));
                self.pump()?;
            }
            "timeout" | "gone" => {
                let timed_out = verb == "timeout";
                let op = self.txns.get_mut(name).ok_or("no txn")?.op.take();
                let waits: Vec<(String, Ticket)> = match &op {
                    Some(Op::LockedRead {
                        tablet,
                        ticket: Some(t),
                        ..
                    })
                    | Some(Op::Lock {
                        tablet,
                        ticket: Some(t),
                    })
                    | Some(Op::Prepare {
                        tablet,
                        ticket: Some(t),
                        ..
                    }) => vec![(tablet.clone(), *t)],
                    Some(Op::Commit(c)) => c.waiting.iter().map(|(t, k)| (t.clone(), *k)).collect(),
                    _ => return Err(format!("{name} waits for no lock").into()),
                };
                let id = self.txns[name].id;
                let instant = self.instant();
                for (tablet, ticket) in waits {
                    let t = self.tablets.get_mut(&tablet).ok_or("no tablet")?;
                    t.wakeups.remove(&ticket);
                    t.leader.cancel_wait(id, ticket, timed_out, instant);
                }
                self.txns.get_mut(name).ok_or("no txn")?.done = true;
                self.say(if timed_out {
                    format!("{name}: lock wait timed out → aborted (lock_timeout)")
                } else {
                    format!("{name}: its client went away; its wait left the queue")
                });
                self.pump()?;
            }
            "lock" | "prepare" => {
                let tablet = a.get("on")?.to_string();
                let op = if verb == "lock" {
                    Op::Lock {
                        tablet,
                        ticket: None,
                    }
                } else {
                    Op::Prepare {
                        tablet,
                        coordinator: a.get("coordinator")?.to_string(),
                        ticket: None,
                    }
                };
                self.txns.get_mut(name).ok_or("no txn")?.op = Some(op);
                self.poll(name)?;
                self.pump()?;
            }
            "abort" => {
                let tablet = a.get("on")?.to_string();
                let fence = a.opt("fence") != Some("false");
                self.abort_on(name, std::slice::from_ref(&tablet), fence)?;
                self.say(format!(
                    "{name}: abort on {tablet}{}",
                    if fence { " (fenced)" } else { "" }
                ));
                self.pump()?;
            }
            other => return Err(format!("{name} {other}?").into()),
        }
        Ok(())
    }
}

/// A transaction's name: letters then digits (`t1`, `r2`, `old1`).
fn is_txn_name(s: &str) -> bool {
    let digits = s.trim_start_matches(|c: char| c.is_ascii_lowercase());
    !digits.is_empty() && digits.len() < s.len() && digits.chars().all(|c| c.is_ascii_digit())
}

impl Runner for World {
    fn run(&mut self, command: &Cmd) -> Result<String, Box<dyn Error>> {
        self.out.clear();
        let a = Args::of(command);
        if is_txn_name(&command.name) {
            self.txn_command(&command.name, &a)?;
        } else {
            self.world_command(&command.name, &a)?;
        }
        Ok(std::mem::take(&mut self.out))
    }
}

fn run(script: &str) {
    // This checkout's scripts (cargo sets the variable when it runs tests),
    // not those of the checkout the binary was built in.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let path = format!("{}/tests/scenarios/{script}.txt", manifest.display());
    goldenscript::run(&mut World::default(), &path).expect("goldenscript failed");
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run(stringify!($name));
            }
        )*
    };
}

scenarios!(
    ambiguous_commit,
    anomaly_dirty_reads_and_writes,
    anomaly_lost_update,
    anomaly_phantom,
    anomaly_read_skew,
    anomaly_write_skew,
    cancelled_lock_wait,
    clock_failure_in_commit_wait,
    commit_before_schema_lease,
    future_read_and_new_leader,
    last_ts_beyond_one_tablet,
    lease_votes,
    prepared_waits_for_nothing,
    read_only_participant_needs_no_log_entry,
    retry_keeps_its_priority,
    split_forgets_no_locks,
    strong_read_needs_no_wait,
    unfenced_abort_racing_a_prepare,
    visible_before_commit_wait,
);
