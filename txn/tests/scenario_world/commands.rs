//! The script commands: world verbs (nodes, tablets, time, leaders…) and
//! transaction verbs (begin, read, write, commit…).

use super::*;

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
                                frozen: None,
                                merges: Default::default(),
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
            "merge" => self.merge_command(a)?,
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
                if a.flag("skip_locked") {
                    // Never waits: done in this step.
                    let Target::Key(k) = target else {
                        return Err("skip_locked reads name keys".into());
                    };
                    self.try_locked_read(name, tablet, k)?;
                    self.pump()?;
                    return Ok(());
                }
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

impl World {
    /// `merge R into=L`: R's leader blocks new work and waits for nothing
    /// (what is in the way is reported and the merge put off), freezes R
    /// through its log, and L's log takes R's range over above R's floor;
    /// R then refuses everything (it is retired in the real node).
    fn merge_command(&mut self, a: &Args) -> Res<()> {
        let right = a.pos(0)?.to_string();
        let left = a.get("into")?.to_string();
        let instant = self.instant();
        let max_applied = self.max_applied(&right);
        let left_id = self.tablets.get(&left).ok_or("no left tablet")?.id;
        let t = self.tablets.get_mut(&right).ok_or("no tablet")?;
        let right_id = t.id;
        let blocked = merge::block(&mut t.leader, instant);
        let aborted: Vec<String> = self
            .txns
            .iter()
            .filter(|(_, x)| blocked.contains(&x.id))
            .map(|(n, _)| n.clone())
            .collect();
        let aborted = if aborted.is_empty() {
            "none".to_string()
        } else {
            aborted.join(", ")
        };
        let t = self.tablets.get_mut(&right).ok_or("no tablet")?;
        let plan = match merge::begin_freeze(&mut t.leader, max_applied) {
            Ok(plan) => plan,
            Err(e) => {
                merge::end_freeze(&mut t.leader, false);
                self.say(format!("{right}: freeze put off ({e}); aborted: {aborted}"));
                return Ok(());
            }
        };
        let response = self.propose(
            &right,
            Command::Freeze {
                into: left_id,
                floor: plan.floor,
            },
        )?;
        let t = self.tablets.get_mut(&right).ok_or("no tablet")?;
        let frozen = matches!(response, CommandResponse::Frozen { .. });
        merge::end_freeze(&mut t.leader, frozen);
        if !frozen {
            self.say(format!("{right}: freeze refused: {response:?}"));
            return Ok(());
        }
        let range = t.leader.range().clone();
        let floor = t
            .replicas
            .values()
            .filter_map(|r| r.state.frozen)
            .map(|f| f.floor)
            .max()
            .ok_or("no replica applied the freeze")?;
        let l = self.tablets.get_mut(&left).ok_or("no left tablet")?;
        merge::begin_merge(&mut l.leader, floor);
        let response = self.propose(
            &left,
            Command::Merge {
                right: right_id,
                at: range.start.clone(),
                end: range.end.clone(),
                floor,
                generation: 2,
                voters: Vec::new(),
            },
        )?;
        let CommandResponse::Merged { range } = response else {
            self.say(format!("{left}: merge refused: {response:?}"));
            return Ok(());
        };
        let l = self.tablets.get_mut(&left).ok_or("no left tablet")?;
        split::end(&mut l.leader, Some((range.clone(), 2)));
        // R stays, frozen, for whoever still names it (routing skips it).
        self.say(format!(
            "{left}: merged {right} (frozen above {}); serves {}; aborted: {aborted}",
            show(floor),
            range
        ));
        self.pump()
    }
}
