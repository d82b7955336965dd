//! Running operations until they wait: pump, polls, locked and snapshot
//! reads.

use super::*;

impl World {
    /// Runs every operation that can go on until none can.
    pub(super) fn pump(&mut self) -> Res<()> {
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
    pub(super) fn runnable(&self, name: &str) -> bool {
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
    pub(super) fn take_wakeup(
        &mut self,
        tablet: &str,
        ticket: Ticket,
    ) -> Option<Result<(), AbortReason>> {
        self.tablets.get_mut(tablet)?.wakeups.remove(&ticket)
    }

    pub(super) fn poll(&mut self, name: &str) -> Res<Polled> {
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
    pub(super) fn finish(&mut self, name: &str, line: String) -> Res<(Polled, Option<Op>)> {
        self.say(format!("{name}: {line}"));
        Ok((Polled::Done, None))
    }

    pub(super) fn abort_line(e: &TxnError) -> String {
        match e {
            TxnError::Aborted { reason, .. } => format!("aborted ({})", reason.name()),
            TxnError::Ambiguous(_) => {
                format!("outcome unknown (SQLSTATE {})", spanlite_txn::AMBIGUOUS)
            }
            other => format!("refused: {other}"),
        }
    }

    /// `read k skip_locked`: an exclusive lock on `k` if it can be had at
    /// once, then its latest value; otherwise "skipped" (SELECT … FOR
    /// UPDATE SKIP LOCKED). Never waits.
    pub(super) fn try_locked_read(&mut self, name: &str, tablet: String, k: Vec<u8>) -> Res<()> {
        let txn = &self.txns[name];
        let targets = [LockTarget::key(k.clone())];
        let read = LockedRead {
            txn: txn.id,
            priority: txn.priority,
            targets: &targets,
            mode: LockMode::Exclusive,
            read_before: txn.read_tablets.contains(&tablet),
            generation: 0,
        };
        let verb = format!("read {} skip_locked", String::from_utf8_lossy(&k));
        let instant = self.instant();
        let node = self.tablets[&tablet].leader_node.clone();
        let latest = self.tt_now(&node).ok().map(|now| now.latest);
        let leader = &mut self.tablets.get_mut(&tablet).ok_or("no tablet")?.leader;
        match try_lock_for_read(leader, &read, instant, latest) {
            Err(e) => {
                self.txns.get_mut(name).ok_or("no txn")?.done = true;
                self.finish(name, format!("{verb} → {}", Self::abort_line(&e)))?;
            }
            Ok(busy) if !busy.is_empty() => {
                self.finish(name, format!("{verb} → skipped (locked)"))?;
            }
            Ok(_) => {
                self.txns
                    .get_mut(name)
                    .ok_or("no txn")?
                    .read_tablets
                    .insert(tablet.clone());
                match Target::Key(k).read(&self.leader_mvcc(&tablet), Timestamp::MAX)? {
                    ReadOutcome::Ready(v) => self.finish(name, format!("{verb} → {v}"))?,
                    // Held exclusively by this transaction now: no one
                    // else's intent can be there.
                    ReadOutcome::Blocked(_) => {
                        return Err(format!("{verb}: an intent under a lock held").into());
                    }
                };
            }
        }
        Ok(())
    }

    pub(super) fn poll_locked_read(&mut self, name: &str, op: Op) -> Res<(Polled, Option<Op>)> {
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
        let node = self.tablets[&tablet].leader_node.clone();
        let latest = self.tt_now(&node).ok().map(|now| now.latest);
        let leader = &mut self.tablets.get_mut(&tablet).ok_or("no tablet")?.leader;
        match lock_for_read(leader, &read, instant, latest) {
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
    pub(super) fn poll_snapshot_read(&mut self, name: &str, op: Op) -> Res<(Polled, Option<Op>)> {
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
}
