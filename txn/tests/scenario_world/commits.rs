//! Commits as a gateway runs them: the lock round, prepares and read-only
//! participants, the decision, commit wait, and 2PC steps one at a time.

use super::*;

impl World {
    /// Aborts `name` on every tablet it used (fenced, as a gateway does
    /// after a failed commit) and ends its commit with `e`.
    pub(super) fn commit_failed(
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
    pub(super) fn abort_on(&mut self, name: &str, tablets: &[String], fence: bool) -> Res<()> {
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

    pub(super) fn poll_commit(&mut self, name: &str, mut c: CommitOp) -> Res<(Polled, Option<Op>)> {
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
    pub(super) fn decide(&mut self, name: &str, mut c: CommitOp) -> Res<(Polled, Option<Op>)> {
        let tablet = c.coordinator.clone();
        let (writes, validation) = self.share(name, &tablet)?;
        let now = match self.step_now(&tablet) {
            Ok(now) => now,
            Err(e) => return self.commit_failed(name, &c, e),
        };
        let id = self.txns[name].id;
        let txn = &self.txns[name];
        // As the node's Tablet service decides it for a one-phase commit.
        let alone = c.one_phase()
            && txn.mode == Mode::TwoPl
            && c.read_until.is_none()
            && txn.read_tablets.iter().all(|t| *t == tablet)
            && validation.reads.is_empty();
        let input = CommitInput {
            read_locks_until: c.read_until,
            alone,
            ..Self::input(txn, &writes, &validation)
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
    pub(super) fn commit_waited(&mut self, name: &str, c: CommitOp) -> Res<(Polled, Option<Op>)> {
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
    pub(super) fn poll_step(&mut self, name: &str, op: Op) -> Res<(Polled, Option<Op>)> {
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
