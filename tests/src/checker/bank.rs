//! The bank checker: money is neither created nor destroyed, and every
//! acknowledged transfer survives.
//!
//! The workload keeps a fixed set of accounts whose initial balances sum to a
//! total. Clients transfer between accounts and read every account in one
//! snapshot. After the clients stop, the harness reads the final balances once
//! from every replica (`final_reads`). The checker requires:
//!
//! 1. every `Ok` read has exactly the accounts, no negative balance, and sums
//!    to the total (a snapshot that does not is a torn or dirty read);
//! 2. the final reads agree with each other and obey the same rules;
//! 3. the final state is the initial state plus the effect of every `Ok`
//!    transfer, plus the effect of some subset of the `Info` transfers (an
//!    indeterminate transfer may or may not have happened) — and of no
//!    `Fail` transfer. A final state outside that set lost an acknowledged
//!    transfer, applied a failed one, or applied one twice.
//!
//! ```text
//!   residual = (final - initial) - Σ effect(ok transfers)
//!   valid iff residual = Σ effect(S) for some S ⊆ info transfers
//! ```
//!
//! Check 3 is exact when there are at most [`MAX_EXACT_INFO_TRANSFERS`] info
//! transfers: every subset is tried, walking them in Gray-code order so each
//! step adds or removes one transfer (2^16 steps at most). With more, it
//! checks a weaker, per-account condition: each account's residual lies
//! between the sum of the info transfers' debits to it and the sum of their
//! credits. That bound is necessary but not sufficient (it cannot see that
//! two accounts' residuals need different subsets).
//!
//! Not checked: whether each read, taken alone, is reachable from the
//! transfers that preceded it (a read can only be checked against the total),
//! and the order of transfers.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::history::{AccountId, History, HistoryError, OpIndex, OpValue, Outcome};

/// Above this many `Info` transfers, the final-state check uses per-account
/// bounds instead of trying every subset.
pub const MAX_EXACT_INFO_TRANSFERS: usize = 16;

/// At most this many anomalies are described in [`BankReport::errors`]; all
/// are counted in [`BankReport::errors_total`].
pub const MAX_REPORTED_ERRORS: usize = 32;

/// What the bank checker found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankReport {
    /// No anomaly found.
    pub valid: bool,
    /// Number of accounts.
    pub accounts: usize,
    /// The conserved total (sum of the initial balances).
    pub total: i64,
    /// `Ok` reads checked (reads that failed or are indeterminate carry no
    /// balances).
    pub reads_checked: usize,
    /// Transfers acknowledged.
    pub transfers_ok: usize,
    /// Transfers that certainly did not happen.
    pub transfers_failed: usize,
    /// Transfers that may or may not have happened.
    pub transfers_info: usize,
    /// Final reads checked (one per replica).
    pub final_reads: usize,
    /// Whether the final state was checked exactly (every subset of the info
    /// transfers) or only with per-account bounds.
    pub final_state_exact: bool,
    /// The first [`MAX_REPORTED_ERRORS`] anomalies, each naming its operation.
    pub errors: Vec<String>,
    /// How many anomalies there were in all.
    pub errors_total: usize,
}

impl BankReport {
    /// One paragraph: what was checked and whether it held.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "bank: {} transfers ({} ok, {} failed, {} info) and {} snapshot reads checked \
             against a total of {} over {} accounts, with {} final reads; ",
            self.transfers_ok + self.transfers_failed + self.transfers_info,
            self.transfers_ok,
            self.transfers_failed,
            self.transfers_info,
            self.reads_checked,
            self.total,
            self.accounts,
            self.final_reads,
        );
        if !self.final_state_exact {
            s.push_str(
                "final state checked with per-account bounds only (too many info transfers); ",
            );
        }
        if self.valid {
            s.push_str("valid.");
        } else {
            let _ = write!(s, "INVALID: {} anomalies", self.errors_total);
            if let Some(first) = self.errors.first() {
                let _ = write!(s, ", the first: {first}");
            }
            s.push('.');
        }
        s
    }
}

/// Checks a bank history. `initial` gives every account and its initial
/// balance (their sum is the total); `final_reads` holds one read of every
/// account per replica, taken after the clients stopped.
///
/// Fails only if the history breaks the recorder's rules
/// ([`History::pairs`]); anomalies go into the report.
pub fn check(
    history: &History,
    initial: &BTreeMap<AccountId, i64>,
    final_reads: &[BTreeMap<AccountId, i64>],
) -> Result<BankReport, HistoryError> {
    let pairs = history.pairs()?;
    let mut checker = Checker {
        initial,
        total: initial.values().sum(),
        errors: Vec::new(),
        errors_total: 0,
    };
    let mut report = BankReport {
        valid: true,
        accounts: initial.len(),
        total: checker.total,
        reads_checked: 0,
        transfers_ok: 0,
        transfers_failed: 0,
        transfers_info: 0,
        final_reads: final_reads.len(),
        final_state_exact: true,
        errors: Vec::new(),
        errors_total: 0,
    };

    let mut ok_transfers = Vec::new();
    let mut info_transfers = Vec::new();
    for pair in &pairs {
        match pair.value() {
            OpValue::Transfer { from, to, amount } => {
                let transfer = Transfer {
                    index: pair.index(),
                    from: *from,
                    to: *to,
                    amount: *amount,
                };
                for account in [from, to] {
                    if !initial.contains_key(account) {
                        checker.error(format!(
                            "T{}: the transfer names account {account}, which does not exist",
                            pair.index()
                        ));
                    }
                }
                match pair.outcome() {
                    Outcome::Ok => ok_transfers.push(transfer),
                    Outcome::Fail => report.transfers_failed += 1,
                    Outcome::Info => info_transfers.push(transfer),
                }
            }
            OpValue::BankRead { balances } if pair.outcome() == Outcome::Ok => {
                report.reads_checked += 1;
                checker.check_snapshot(&format!("T{} (read)", pair.index()), balances);
            }
            OpValue::BankRead { .. } | OpValue::Txn(_) => {}
        }
    }
    report.transfers_ok = ok_transfers.len();
    report.transfers_info = info_transfers.len();

    checker.check_final_reads(final_reads);
    report.final_state_exact = info_transfers.len() <= MAX_EXACT_INFO_TRANSFERS;
    // Distinct final states (all equal unless replicas diverged, which was
    // reported above): each must be reachable.
    let mut distinct: Vec<(usize, &BTreeMap<AccountId, i64>)> = Vec::new();
    for (node, balances) in final_reads.iter().enumerate() {
        if balances.len() == initial.len()
            && initial.keys().all(|a| balances.contains_key(a))
            && distinct.iter().all(|(_, seen)| *seen != balances)
        {
            distinct.push((node, balances));
        }
    }
    for (node, balances) in distinct {
        checker.check_reachable(node, balances, &ok_transfers, &info_transfers);
    }

    report.valid = checker.errors_total == 0;
    report.errors = checker.errors;
    report.errors_total = checker.errors_total;
    Ok(report)
}

/// A transfer of the history.
#[derive(Debug, Clone, Copy)]
struct Transfer {
    index: OpIndex,
    from: AccountId,
    to: AccountId,
    amount: i64,
}

struct Checker<'a> {
    initial: &'a BTreeMap<AccountId, i64>,
    total: i64,
    errors: Vec<String>,
    errors_total: usize,
}

impl Checker<'_> {
    fn error(&mut self, message: String) {
        self.errors_total += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(message);
        }
    }

    /// Rule 1: exactly the accounts, none negative, the total.
    fn check_snapshot(&mut self, what: &str, balances: &BTreeMap<AccountId, i64>) {
        let missing: Vec<_> = self
            .initial
            .keys()
            .filter(|a| !balances.contains_key(a))
            .collect();
        if !missing.is_empty() {
            self.error(format!("{what}: accounts {missing:?} are missing"));
        }
        let extra: Vec<_> = balances
            .keys()
            .filter(|a| !self.initial.contains_key(a))
            .collect();
        if !extra.is_empty() {
            self.error(format!("{what}: accounts {extra:?} do not exist"));
        }
        for (account, balance) in balances {
            if *balance < 0 {
                self.error(format!(
                    "{what}: account {account} has a negative balance {balance}"
                ));
            }
        }
        let sum: i64 = balances.values().sum();
        if sum != self.total {
            self.error(format!(
                "{what}: balances sum to {sum}, expected {}",
                self.total
            ));
        }
    }

    /// Rule 2: the replicas agree and each is a valid snapshot.
    fn check_final_reads(&mut self, final_reads: &[BTreeMap<AccountId, i64>]) {
        if final_reads.is_empty() {
            self.error("no final read: lost transfers cannot be checked".to_string());
            return;
        }
        for (node, balances) in final_reads.iter().enumerate() {
            self.check_snapshot(&format!("final read {node}"), balances);
            if node > 0 && *balances != final_reads[0] {
                self.error(format!(
                    "final read {node} differs from final read 0: {balances:?} vs {:?}",
                    final_reads[0]
                ));
            }
        }
    }

    /// Rule 3: final = initial + ok transfers + some subset of info transfers.
    fn check_reachable(
        &mut self,
        node: usize,
        balances: &BTreeMap<AccountId, i64>,
        ok: &[Transfer],
        info: &[Transfer],
    ) {
        let slot: BTreeMap<AccountId, usize> = self
            .initial
            .keys()
            .enumerate()
            .map(|(i, a)| (*a, i))
            .collect();
        let mut residual: Vec<i64> = self
            .initial
            .iter()
            .map(|(account, start)| balances.get(account).copied().unwrap_or(0) - start)
            .collect();
        let known = |t: &&Transfer| slot.contains_key(&t.from) && slot.contains_key(&t.to);
        for t in ok.iter().filter(known) {
            residual[slot[&t.from]] += t.amount;
            residual[slot[&t.to]] -= t.amount;
        }
        let info: Vec<(usize, usize, i64, OpIndex)> = info
            .iter()
            .filter(known)
            .map(|t| (slot[&t.from], slot[&t.to], t.amount, t.index))
            .collect();

        if info.len() <= MAX_EXACT_INFO_TRANSFERS {
            if !subset_sum_reaches(&residual, &info) {
                self.error(format!(
                    "final read {node}: the final balances are not the initial balances plus \
                     the {} ok transfers plus any subset of the {} info transfers \
                     (unexplained change by account: {}): an acknowledged transfer was lost, \
                     or a failed one applied",
                    ok.len(),
                    info.len(),
                    describe_residual(self.initial, &residual),
                ));
            }
            return;
        }
        // Weaker, per account: the residual must lie within what the info
        // transfers could have moved in or out of it.
        let mut low = vec![0i64; residual.len()];
        let mut high = vec![0i64; residual.len()];
        for &(from, to, amount, _) in &info {
            for (account, change) in [(from, -amount), (to, amount)] {
                if change < 0 {
                    low[account] += change;
                } else {
                    high[account] += change;
                }
            }
        }
        for (i, account) in self.initial.keys().enumerate() {
            if residual[i] < low[i] || residual[i] > high[i] {
                self.error(format!(
                    "final read {node}: account {account} changed by {} more than the ok \
                     transfers explain, outside what the {} info transfers could move \
                     ({}..={}): an acknowledged transfer was lost, or a failed one applied",
                    residual[i],
                    info.len(),
                    low[i],
                    high[i],
                ));
            }
        }
    }
}

/// Whether some subset of `info` (from, to, amount, index) changes the
/// accounts by exactly `residual`. Walks the subsets in Gray-code order:
/// step `k` flips transfer `trailing_zeros(k)`, so each step touches two
/// accounts and keeps a count of the accounts still off.
fn subset_sum_reaches(residual: &[i64], info: &[(usize, usize, i64, OpIndex)]) -> bool {
    let mut current = vec![0i64; residual.len()];
    let mut off = residual.iter().filter(|r| **r != 0).count();
    if off == 0 {
        return true;
    }
    let mut applied = vec![false; info.len()];
    for step in 1u64..(1u64 << info.len()) {
        let flip = step.trailing_zeros() as usize;
        let (from, to, amount, _) = info[flip];
        let sign = if applied[flip] { -1 } else { 1 };
        applied[flip] = !applied[flip];
        for (account, change) in [(from, -amount * sign), (to, amount * sign)] {
            let was_off = current[account] != residual[account];
            current[account] += change;
            let is_off = current[account] != residual[account];
            match (was_off, is_off) {
                (true, false) => off -= 1,
                (false, true) => off += 1,
                _ => {}
            }
        }
        if off == 0 {
            return true;
        }
    }
    false
}

fn describe_residual(initial: &BTreeMap<AccountId, i64>, residual: &[i64]) -> String {
    let parts: Vec<String> = initial
        .keys()
        .zip(residual)
        .filter(|(_, r)| **r != 0)
        .map(|(account, r)| format!("account {account} {r:+}"))
        .collect();
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    //! Each test builds a history by hand with the verb helpers below and
    //! names the anomaly it must (or must not) find.

    use super::*;
    use crate::history::{OpKind, ProcessId};

    /// Accounts 1..=4 with 25 each: total 100.
    fn initial() -> BTreeMap<AccountId, i64> {
        (1..=4).map(|a| (a, 25)).collect()
    }

    fn balances(values: [i64; 4]) -> BTreeMap<AccountId, i64> {
        (1..=4).zip(values).collect()
    }

    #[derive(Default)]
    struct Run {
        history: History,
        next_process: ProcessId,
    }

    impl Run {
        fn push(&mut self, process: ProcessId, kind: OpKind, value: OpValue) -> OpIndex {
            let time = self.history.ops.len() as u64 * 1_000;
            self.history.push(process, kind, value, time)
        }

        /// A transfer invoked and completed at once by a fresh process.
        fn transfer(
            &mut self,
            from: AccountId,
            to: AccountId,
            amount: i64,
            outcome: Outcome,
        ) -> OpIndex {
            let process = self.next_process;
            self.next_process += 1;
            let value = OpValue::Transfer { from, to, amount };
            let index = self.push(process, OpKind::Invoke, value.clone());
            self.push(process, outcome.into(), value);
            index
        }

        fn read(&mut self, seen: BTreeMap<AccountId, i64>) -> OpIndex {
            let process = self.next_process;
            self.next_process += 1;
            let index = self.push(
                process,
                OpKind::Invoke,
                OpValue::BankRead {
                    balances: BTreeMap::new(),
                },
            );
            self.push(process, OpKind::Ok, OpValue::BankRead { balances: seen });
            index
        }

        fn must_check(&self, final_reads: &[BTreeMap<AccountId, i64>]) -> BankReport {
            check(&self.history, &initial(), final_reads).unwrap()
        }
    }

    fn assert_error(report: &BankReport, needle: &str) {
        assert!(!report.valid, "expected invalid: {}", report.summary());
        assert!(
            report.errors.iter().any(|e| e.contains(needle)),
            "no error mentions {needle:?}: {:#?}",
            report.errors
        );
    }

    #[test]
    fn valid_serial_history() {
        let mut run = Run::default();
        run.transfer(1, 2, 10, Outcome::Ok);
        run.read(balances([15, 35, 25, 25]));
        run.transfer(3, 4, 5, Outcome::Fail);
        run.transfer(2, 3, 20, Outcome::Ok);
        run.read(balances([15, 15, 45, 25]));
        let final_state = balances([15, 15, 45, 25]);
        let report = run.must_check(&[final_state.clone(), final_state.clone(), final_state]);
        assert!(report.valid, "{}", report.summary());
        assert_eq!(
            (
                report.reads_checked,
                report.transfers_ok,
                report.transfers_failed,
                report.transfers_info
            ),
            (2, 2, 1, 0)
        );
        assert!(report.summary().ends_with("valid."), "{}", report.summary());
    }

    #[test]
    fn valid_with_info_transfers_some_applied() {
        let mut run = Run::default();
        run.transfer(1, 2, 10, Outcome::Ok);
        run.transfer(1, 3, 5, Outcome::Info); // happened
        run.transfer(2, 4, 7, Outcome::Info); // did not
        run.transfer(4, 1, 3, Outcome::Info); // happened
        // Never completed: reads as info; it happened.
        let process = 99;
        run.push(
            process,
            OpKind::Invoke,
            OpValue::Transfer {
                from: 3,
                to: 4,
                amount: 1,
            },
        );
        let report = run.must_check(&[balances([13, 35, 29, 23])]);
        assert!(report.valid, "{:#?}", report.errors);
        assert_eq!(report.transfers_info, 4);
        assert!(report.final_state_exact);
    }

    #[test]
    fn anomaly_wrong_sum() {
        let mut run = Run::default();
        run.transfer(1, 2, 10, Outcome::Ok);
        let read = run.read(balances([15, 25, 25, 25])); // saw the debit, not the credit
        let report = run.must_check(&[balances([15, 35, 25, 25])]);
        assert_error(
            &report,
            &format!("T{read} (read): balances sum to 90, expected 100"),
        );
        assert_eq!(report.errors_total, 1);
    }

    #[test]
    fn anomaly_negative_balance() {
        let mut run = Run::default();
        run.transfer(1, 2, 30, Outcome::Ok);
        let read = run.read(balances([-5, 55, 25, 25]));
        let report = run.must_check(&[balances([-5, 55, 25, 25])]);
        assert_error(
            &report,
            &format!("T{read} (read): account 1 has a negative balance -5"),
        );
        assert_error(&report, "final read 0: account 1 has a negative balance -5");
    }

    #[test]
    fn anomaly_read_missing_an_account() {
        let mut run = Run::default();
        let mut partial = balances([25, 25, 25, 25]);
        partial.remove(&3);
        let read = run.read(partial);
        let report = run.must_check(&[balances([25, 25, 25, 25])]);
        assert_error(
            &report,
            &format!("T{read} (read): accounts [3] are missing"),
        );
    }

    #[test]
    fn anomaly_lost_transfer() {
        let mut run = Run::default();
        run.transfer(1, 2, 10, Outcome::Ok);
        let lost = run.transfer(3, 4, 5, Outcome::Ok);
        run.transfer(2, 1, 1, Outcome::Info);
        // The final state has the first transfer only: conserved, but the
        // acknowledged transfer T{lost} is gone.
        let report = run.must_check(&[balances([15, 35, 25, 25])]);
        assert_error(&report, "account 3 +5, account 4 -5");
        assert_eq!(report.errors_total, 1, "{:#?}", report.errors);
        let _ = lost;
    }

    #[test]
    fn anomaly_failed_transfer_applied() {
        let mut run = Run::default();
        run.transfer(1, 2, 10, Outcome::Fail);
        let report = run.must_check(&[balances([15, 35, 25, 25])]);
        assert_error(&report, "account 1 -10, account 2 +10");
    }

    #[test]
    fn anomaly_replicas_disagree() {
        let mut run = Run::default();
        run.transfer(1, 2, 10, Outcome::Info);
        // Both states are reachable on their own, but the replicas diverged.
        let report = run.must_check(&[balances([15, 35, 25, 25]), balances([25, 25, 25, 25])]);
        assert_error(&report, "final read 1 differs from final read 0");
        assert_eq!(report.errors_total, 1, "{:#?}", report.errors);
    }

    #[test]
    fn anomaly_no_final_read() {
        let run = Run::default();
        assert_error(&run.must_check(&[]), "no final read");
    }

    #[test]
    fn many_info_transfers_use_per_account_bounds() {
        let mut run = Run::default();
        run.transfer(1, 2, 10, Outcome::Ok);
        for _ in 0..20 {
            run.transfer(3, 4, 1, Outcome::Info);
        }
        // 7 of the 20 happened: within bounds.
        let report = run.must_check(&[balances([15, 35, 18, 32])]);
        assert!(report.valid, "{:#?}", report.errors);
        assert!(!report.final_state_exact);
        assert!(
            report.summary().contains("per-account bounds"),
            "{}",
            report.summary()
        );

        // The ok transfer was lost: account 1 is 10 above anything the info
        // transfers (which never touch it) explain.
        let report = run.must_check(&[balances([25, 25, 18, 32])]);
        assert_error(&report, "account 1 changed by 10");
    }

    #[test]
    fn exact_check_needs_a_consistent_subset() {
        let mut run = Run::default();
        run.transfer(1, 2, 5, Outcome::Info);
        run.transfer(1, 3, 5, Outcome::Info);
        run.transfer(3, 4, 5, Outcome::Info);
        let report = run.must_check(&[balances([15, 30, 25, 30])]);
        // 1->2 and 1->3 and 3->4 together: [15, 30, 25, 30]. Reachable.
        assert!(report.valid, "{:#?}", report.errors);
        // Each account's change is within what the info transfers could move
        // (1: -10..=0, 2: 0..=5, 3: -5..=5, 4: 0..=5), yet no subset gives
        // -10 to account 1 without +5 to account 2.
        let report = run.must_check(&[balances([15, 25, 30, 30])]);
        assert_error(&report, "any subset of the 3 info transfers");
    }

    #[test]
    fn transfer_to_an_unknown_account_is_reported() {
        let mut run = Run::default();
        let t = run.transfer(1, 9, 5, Outcome::Fail);
        let report = run.must_check(&[balances([25, 25, 25, 25])]);
        assert_error(&report, &format!("T{t}: the transfer names account 9"));
    }
}
