//! What to run: the workload, how many workers, for how long, over how many
//! rows, and the transaction mode.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

/// The workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    /// Transfers between random accounts of `bank_accounts`: read both
    /// balances, move a random amount if there is enough, commit. The total
    /// is checked at the end.
    Bank,
    /// Point operations on `kv`: a read with probability `read_fraction`,
    /// else an `UPDATE` of the value; each its own transaction.
    Kv,
    /// Point reads of `kv` only (on Spanlite, strong lock-free reads).
    Readonly,
}

impl WorkloadKind {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Bank => "bank",
            WorkloadKind::Kv => "kv",
            WorkloadKind::Readonly => "readonly",
        }
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How Spanlite runs read-write transactions (README, "Isolation
/// modes"): 2PL, OCC and SSI are serializable; SI is snapshot isolation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum Mode {
    /// Two-phase locking with wound-wait, two-phase commit across tablets.
    #[default]
    #[serde(rename = "2pl")]
    TwoPhaseLocking,
    /// Optimistic: lock-free reads, validated at commit.
    #[serde(rename = "occ")]
    Optimistic,
    /// Serializable snapshot isolation (reads at one snapshot, validated at
    /// commit).
    #[serde(rename = "ssi")]
    SerializableSnapshot,
    /// Snapshot isolation (not serializable).
    #[serde(rename = "si")]
    Snapshot,
}

impl Mode {
    /// Every mode, in table order.
    pub const ALL: [Mode; 4] = [
        Mode::TwoPhaseLocking,
        Mode::Optimistic,
        Mode::SerializableSnapshot,
        Mode::Snapshot,
    ];

    /// The driver's name for it.
    pub fn concurrency(self) -> spanlite_client::Concurrency {
        match self {
            Mode::TwoPhaseLocking => spanlite_client::Concurrency::TwoPhaseLocking,
            Mode::Optimistic => spanlite_client::Concurrency::Optimistic,
            Mode::SerializableSnapshot => spanlite_client::Concurrency::SerializableSnapshot,
            Mode::Snapshot => spanlite_client::Concurrency::Snapshot,
        }
    }

    /// What the transactions get, for reports.
    pub fn isolation(self) -> &'static str {
        match self {
            Mode::TwoPhaseLocking => "serializable (2PL, wound-wait)",
            Mode::Optimistic => "serializable (OCC, validated at commit)",
            Mode::SerializableSnapshot => "serializable (SSI, read refresh at commit)",
            Mode::Snapshot => "snapshot isolation (SI, not serializable)",
        }
    }
}

impl FromStr for Mode {
    type Err = String;

    /// `2pl`, `occ`, `ssi` or `si` (any case).
    fn from_str(s: &str) -> Result<Mode, String> {
        Mode::ALL
            .into_iter()
            .find(|m| m.to_string().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown transaction mode {s:?}: use 2pl, occ, ssi or si"))
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.concurrency().name())
    }
}

/// When the workers stop starting transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// After this long (transactions under way finish, with their retries).
    After(Duration),
    /// After this many transactions were started, across all workers.
    Ops(u64),
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::After(d) => write!(f, "{:?}", d),
            Stop::Ops(n) => write!(f, "{n} transactions"),
        }
    }
}

/// A workload run's settings. [`Default`]: bank, 16 workers, 30 s, 1,000
/// accounts, 10,000 keys, 90 % reads, setup on, 2PL, no progress spinner.
#[derive(Clone, Debug)]
pub struct WorkloadOptions {
    /// Which workload.
    pub workload: WorkloadKind,
    /// Concurrent workers, each with its own connection and one transaction
    /// in flight.
    pub concurrency: usize,
    /// When to stop.
    pub stop: Stop,
    /// Accounts of the bank workload (at least 2).
    pub accounts: u64,
    /// Keys of the kv and readonly workloads (at least 1).
    pub keys: u64,
    /// The kv workload's share of reads, in [0, 1].
    pub read_fraction: f64,
    /// Drop, create and load the workload's table first; without it the
    /// table must be there (the bank check still compares before and after).
    pub setup: bool,
    /// Spanlite's transaction mode.
    pub mode: Mode,
    /// Show a spinner on stderr (only if stderr is a terminal).
    pub progress: bool,
}

impl Default for WorkloadOptions {
    fn default() -> Self {
        Self {
            workload: WorkloadKind::Bank,
            concurrency: 16,
            stop: Stop::After(Duration::from_secs(30)),
            accounts: 1000,
            keys: 10_000,
            read_fraction: 0.9,
            setup: true,
            mode: Mode::TwoPhaseLocking,
            progress: false,
        }
    }
}

impl WorkloadOptions {
    /// Checks the settings make sense; the error names the bad one.
    pub fn validate(&self) -> Result<(), String> {
        if self.concurrency == 0 {
            return Err("--concurrency must be at least 1".into());
        }
        if self.workload == WorkloadKind::Bank && self.accounts < 2 {
            return Err("--accounts must be at least 2 (a transfer needs two accounts)".into());
        }
        if self.workload != WorkloadKind::Bank && self.keys == 0 {
            return Err("--keys must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.read_fraction) {
            return Err(format!(
                "--read-fraction must be between 0 and 1, not {}",
                self.read_fraction
            ));
        }
        if matches!(self.stop, Stop::After(d) if d.is_zero()) || self.stop == Stop::Ops(0) {
            return Err("the run must last: give a positive --duration or --ops".into());
        }
        if i64::try_from(self.accounts.max(self.keys)).is_err() {
            return Err("--accounts and --keys must fit in a BIGINT".into());
        }
        Ok(())
    }

    /// The rows the workload's table holds: accounts or keys.
    pub fn rows(&self) -> u64 {
        match self.workload {
            WorkloadKind::Bank => self.accounts,
            WorkloadKind::Kv | WorkloadKind::Readonly => self.keys,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_2pl_is_accepted_and_the_others_say_why() {
        assert_eq!("2pl".parse::<Mode>(), Ok(Mode::TwoPhaseLocking));
        assert_eq!("2PL".parse::<Mode>(), Ok(Mode::TwoPhaseLocking));
        assert_eq!("ssi".parse::<Mode>(), Ok(Mode::SerializableSnapshot));
        assert_eq!(Mode::Snapshot.to_string(), "si");
        let bad = "mvcc".parse::<Mode>().unwrap_err();
        assert!(bad.contains("2pl, occ, ssi or si"), "{bad}");
    }

    #[test]
    fn validation_names_the_bad_setting() {
        let ok = WorkloadOptions::default();
        assert_eq!(ok.validate(), Ok(()));
        let bad = |o: WorkloadOptions| o.validate().unwrap_err();
        assert!(
            bad(WorkloadOptions {
                concurrency: 0,
                ..ok.clone()
            })
            .contains("--concurrency")
        );
        assert!(
            bad(WorkloadOptions {
                accounts: 1,
                ..ok.clone()
            })
            .contains("--accounts")
        );
        assert!(
            bad(WorkloadOptions {
                read_fraction: 1.5,
                ..ok.clone()
            })
            .contains("--read-fraction")
        );
        assert!(
            bad(WorkloadOptions {
                stop: Stop::Ops(0),
                ..ok
            })
            .contains("--ops")
        );
    }
}
