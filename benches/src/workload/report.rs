//! A run's results ([`Report`], serializable for `--json`) and the table
//! that shows one run, or two side by side ([`render`]).

use std::collections::BTreeMap;

use comfy_table::{Cell, CellAlignment, Table};
use hdrhistogram::Histogram;
use serde::Serialize;

use super::options::{Mode, Stop, WorkloadKind, WorkloadOptions};

/// The results of one run of a workload against one system.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The system: `spanlite` or `postgresql`.
    pub system: String,
    /// Where it ran (no secrets).
    pub endpoint: String,
    /// The isolation the transactions got.
    pub isolation: String,
    /// What made commits durable.
    pub durability: String,
    /// What was run.
    pub settings: Settings,
    /// Seconds from the first transaction's start to the last one's end.
    pub elapsed_secs: f64,
    /// Transactions committed.
    pub committed: u64,
    /// Committed transactions per second of `elapsed_secs`.
    pub throughput: f64,
    /// Latency of committed transactions, from the first `BEGIN` to the
    /// commit, retries and backoff included.
    pub latency_ms: Latency,
    /// Transactions begun (first attempts and retries).
    pub attempts: u64,
    /// Attempts that retried an aborted one.
    pub retries: u64,
    /// Aborted attempts by reason (SQLSTATE or error kind); each was retried
    /// unless the operation gave up.
    pub aborts: BTreeMap<String, u64>,
    /// Operations that failed for good, by reason.
    pub errors: BTreeMap<String, u64>,
    /// The first failure for good, in full.
    pub first_error: Option<String>,
    /// Committed transactions by what they did (`transfers`, `reads`, …).
    pub outcomes: BTreeMap<String, u64>,
    /// The workload's invariant, checked after the run.
    pub check: Option<Check>,
}

impl Report {
    /// False when the workload's check failed.
    pub fn passed(&self) -> bool {
        self.check.as_ref().is_none_or(|c| c.passed)
    }
}

/// The settings of a run, as reported.
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    /// The workload.
    pub workload: WorkloadKind,
    /// Spanlite's transaction mode.
    pub mode: Mode,
    /// Workers.
    pub concurrency: usize,
    /// The time limit, if the run had one.
    pub duration_secs: Option<f64>,
    /// The transaction limit, if the run had one.
    pub ops: Option<u64>,
    /// Accounts or keys.
    pub rows: u64,
    /// The kv workload's share of reads.
    pub read_fraction: Option<f64>,
}

impl Settings {
    pub(crate) fn of(options: &WorkloadOptions) -> Settings {
        let (duration_secs, ops) = match options.stop {
            Stop::After(d) => (Some(d.as_secs_f64()), None),
            Stop::Ops(n) => (None, Some(n)),
        };
        Settings {
            workload: options.workload,
            mode: options.mode,
            concurrency: options.concurrency,
            duration_secs,
            ops,
            rows: options.rows(),
            read_fraction: match options.workload {
                WorkloadKind::Kv => Some(options.read_fraction),
                WorkloadKind::Readonly => Some(1.0),
                WorkloadKind::Bank => None,
            },
        }
    }
}

impl std::fmt::Display for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} workload, {} workers, ",
            self.workload, self.concurrency
        )?;
        match (self.duration_secs, self.ops) {
            (Some(s), _) => write!(f, "{s} s")?,
            (None, Some(n)) => write!(f, "{n} transactions")?,
            (None, None) => {}
        }
        let rows = match self.workload {
            WorkloadKind::Bank => "accounts",
            WorkloadKind::Kv | WorkloadKind::Readonly => "keys",
        };
        write!(f, ", {} {rows}", self.rows)?;
        if let (WorkloadKind::Kv, Some(r)) = (self.workload, self.read_fraction) {
            write!(f, ", read fraction {r}")?;
        }
        write!(f, ", mode {}", self.mode)
    }
}

/// Latency percentiles in milliseconds (zero when nothing committed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Latency {
    /// From a histogram of microseconds.
    pub(crate) fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Latency {
            p50: ms(h.value_at_quantile(0.50)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// A workload's invariant, compared before and after the run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    /// What is compared: `total balance of 1000 accounts`.
    pub what: String,
    /// Its value before the run.
    pub expected: i64,
    /// Its value after.
    pub found: i64,
    /// True when nothing that must hold was broken.
    pub passed: bool,
}

/// Two runs with the same settings, for `--json`: the first (Spanlite) and
/// the second (PostgreSQL), with the ratio of their throughputs.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// The runs, in the order they ran.
    pub runs: Vec<Report>,
    /// The first run's throughput over the second's.
    pub throughput_ratio: f64,
}

impl Comparison {
    /// `first` and `second` with the ratio of their throughputs.
    pub fn new(first: Report, second: Report) -> Comparison {
        let throughput_ratio = ratio(first.throughput, second.throughput);
        Comparison {
            runs: vec![first, second],
            throughput_ratio,
        }
    }
}

/// `a / b`, or 0 when `b` is 0.
fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// The runs side by side in one table, one column each, after a line with
/// the first run's settings; with two runs, a last line with the ratio of
/// their throughputs.
pub fn render(runs: &[Report]) -> String {
    let Some(first) = runs.first() else {
        return String::new();
    };
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::ASCII_MARKDOWN);
    let mut header = vec![String::new()];
    header.extend(runs.iter().map(|r| r.system.clone()));
    table.set_header(header);
    // Figures right-aligned, text left-aligned.
    let mut row = |name: &str, align: CellAlignment, cell: &dyn Fn(&Report) -> String| {
        let mut cells = vec![Cell::new(name)];
        cells.extend(runs.iter().map(|r| Cell::new(cell(r)).set_alignment(align)));
        table.add_row(cells);
    };
    let (text, figure) = (CellAlignment::Left, CellAlignment::Right);
    row("endpoint", text, &|r| r.endpoint.clone());
    row("isolation", text, &|r| r.isolation.clone());
    row("durability", text, &|r| r.durability.clone());
    row("elapsed (s)", figure, &|r| format!("{:.1}", r.elapsed_secs));
    row("committed", figure, &|r| thousands(r.committed));
    row("throughput (txn/s)", figure, &|r| {
        format!("{:.1}", r.throughput)
    });
    row("latency p50 (ms)", figure, &|r| {
        format!("{:.2}", r.latency_ms.p50)
    });
    row("latency p95 (ms)", figure, &|r| {
        format!("{:.2}", r.latency_ms.p95)
    });
    row("latency p99 (ms)", figure, &|r| {
        format!("{:.2}", r.latency_ms.p99)
    });
    row("latency max (ms)", figure, &|r| {
        format!("{:.2}", r.latency_ms.max)
    });
    row("attempts", figure, &|r| thousands(r.attempts));
    row("retries", figure, &|r| thousands(r.retries));
    row("aborts", text, &|r| counts(&r.aborts));
    row("errors", text, &|r| counts(&r.errors));
    row("committed by outcome", text, &|r| counts(&r.outcomes));
    row("check", text, &|r| match &r.check {
        None => "-".into(),
        Some(c) if c.passed => format!("ok: {} {} before and after", c.what, c.expected),
        Some(c) => format!("FAILED: {} was {}, is {}", c.what, c.expected, c.found),
    });
    let mut out = format!("{}\n{table}\n", first.settings);
    if let [a, b] = runs {
        out.push_str(&format!(
            "throughput {} / {}: {:.2}\n",
            a.system,
            b.system,
            ratio(a.throughput, b.throughput)
        ));
    }
    for r in runs {
        if let Some(e) = &r.first_error {
            out.push_str(&format!("{}: first error: {e}\n", r.system));
        }
    }
    out
}

/// `reason: count` lines, or `0`.
fn counts<K: AsRef<str>>(map: &BTreeMap<K, u64>) -> String {
    if map.is_empty() {
        return "0".into();
    }
    map.iter()
        .map(|(k, v)| format!("{}: {}", k.as_ref(), thousands(*v)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(system: &str, throughput: f64) -> Report {
        Report {
            system: system.into(),
            endpoint: "here".into(),
            isolation: "serializable".into(),
            durability: "fsync".into(),
            settings: Settings::of(&WorkloadOptions::default()),
            elapsed_secs: 1.0,
            committed: 1234,
            throughput,
            latency_ms: Latency::default(),
            attempts: 1300,
            retries: 66,
            aborts: BTreeMap::from([("40001 serialization_failure".into(), 66)]),
            errors: BTreeMap::new(),
            first_error: None,
            outcomes: BTreeMap::from([("transfers".into(), 1234)]),
            check: Some(Check {
                what: "total balance of 1000 accounts".into(),
                expected: 1_000_000,
                found: 1_000_000,
                passed: true,
            }),
        }
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn two_runs_share_one_table_and_their_ratio() {
        let out = render(&[report("spanlite", 500.0), report("postgresql", 2000.0)]);
        assert!(out.starts_with("bank workload, 16 workers, 30 s, 1000 accounts, mode 2pl\n"));
        let header = out.lines().nth(1).unwrap();
        assert!(
            header.contains("spanlite") && header.contains("postgresql"),
            "{out}"
        );
        assert!(out.contains("| 40001 serialization_failure: 66 "), "{out}");
        assert!(out.contains(" 2000.0 |\n"), "{out}");
        assert!(
            out.contains("throughput spanlite / postgresql: 0.25\n"),
            "{out}"
        );
    }

    #[test]
    fn json_has_the_figures() {
        let c = Comparison::new(report("spanlite", 500.0), report("postgresql", 2000.0));
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["throughput_ratio"], 0.25);
        assert_eq!(json["runs"][0]["settings"]["workload"], "bank");
        assert_eq!(json["runs"][0]["settings"]["mode"], "2pl");
        assert_eq!(json["runs"][1]["latency_ms"]["p99"], 0.0);
        assert_eq!(json["runs"][1]["check"]["passed"], true);
    }
}
