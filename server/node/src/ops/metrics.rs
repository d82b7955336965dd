//! A node's metrics in the Prometheus text format (`GET /metrics` on the
//! HTTP port). Nothing is counted here: each scrape reads the counters the
//! node keeps anyway (transaction metrics, the WAL, TrueTime, the replicas,
//! tablet sizes, SQL statement statistics, connection counts) into metric
//! families, and the `prometheus` crate's encoder writes them.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `spanlite_commits_total` | counter | `kind`: one_phase, two_phase |
//! | `spanlite_aborts_total` | counter | `reason` |
//! | `spanlite_commit_wait_seconds`, `spanlite_lock_wait_seconds` | histogram | |
//! | `spanlite_raft_proposals_total` | counter | `tablet` |
//! | `spanlite_raft_applied_index`, `spanlite_raft_term` | gauge | `tablet` |
//! | `spanlite_tablet_requests_total` | counter | `tablet`, `method` |
//! | `spanlite_wal_fsyncs_total`, `_bytes_total`, `_records_total` | counter | |
//! | `spanlite_clock_epsilon_seconds`, `_max_seconds`, `_limit_seconds` | gauge | |
//! | `spanlite_safe_time_lag_seconds` | gauge | `tablet` |
//! | `spanlite_replicas`, `spanlite_leaders` | gauge | |
//! | `spanlite_tablet_size_bytes`, `spanlite_tablet_keys` | gauge | `tablet` (led here) |
//! | `spanlite_sql_statements_total`, `_errors_total` | counter | `kind` |
//! | `spanlite_sql_statement_duration_seconds` | histogram | `kind` |
//! | `spanlite_pg_connections`, `spanlite_grpc_connections` | gauge | |
//! | `spanlite_pg_connections_total`, `spanlite_grpc_connections_total` | counter | |

use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;
use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram as PromHistogram, LabelPair, Metric, MetricFamily, MetricType,
};

use crate::NodeContext;

/// Upper bounds of the latency histograms' buckets, seconds.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The largest ε seen by a scrape or a console sample, ns.
static EPSILON_MAX: AtomicU64 = AtomicU64::new(0);

/// Families under construction.
#[derive(Default)]
struct Families(Vec<MetricFamily>);

type Labels<'a> = &'a [(&'a str, String)];

fn metric(labels: Labels<'_>) -> Metric {
    let mut m = Metric::default();
    m.set_label(
        labels
            .iter()
            .map(|(n, v)| {
                let mut l = LabelPair::default();
                l.set_name(n.to_string());
                l.set_value(v.clone());
                l
            })
            .collect(),
    );
    m
}

impl Families {
    fn family(&mut self, name: &str, help: &str, kind: MetricType, metrics: Vec<Metric>) {
        if metrics.is_empty() {
            return;
        }
        let mut f = MetricFamily::default();
        f.set_name(name.to_string());
        f.set_help(help.to_string());
        f.set_field_type(kind);
        f.set_metric(metrics);
        self.0.push(f);
    }

    /// Counters or gauges (`kind`), one per label set.
    fn scalars<'a>(
        &mut self,
        kind: MetricType,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Vec<(&'a str, String)>, f64)>,
    ) {
        let metrics = samples
            .into_iter()
            .map(|(labels, v)| {
                let mut m = metric(&labels);
                if kind == MetricType::COUNTER {
                    let mut c = Counter::default();
                    c.set_value(v);
                    m.set_counter(c);
                } else {
                    let mut g = Gauge::default();
                    g.set_value(v);
                    m.set_gauge(g);
                }
                m
            })
            .collect();
        self.family(name, help, kind, metrics);
    }

    fn counters<'a>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Vec<(&'a str, String)>, f64)>,
    ) {
        self.scalars(MetricType::COUNTER, name, help, samples);
    }

    fn counter(&mut self, name: &str, help: &str, v: f64) {
        self.counters(name, help, [(Vec::new(), v)]);
    }

    fn gauges<'a>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Vec<(&'a str, String)>, f64)>,
    ) {
        self.scalars(MetricType::GAUGE, name, help, samples);
    }

    fn gauge(&mut self, name: &str, help: &str, v: f64) {
        self.gauges(name, help, [(Vec::new(), v)]);
    }

    /// Histograms of µs values, exported in seconds.
    fn histograms<'a>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Vec<(&'a str, String)>, &'a Histogram<u64>)>,
    ) {
        let metrics = samples
            .into_iter()
            .map(|(labels, h)| {
                let mut m = metric(&labels);
                let mut p = PromHistogram::default();
                p.set_sample_count(h.len());
                p.set_sample_sum(h.mean() * h.len() as f64 / 1e6);
                p.set_bucket(
                    BUCKETS
                        .iter()
                        .map(|&le| {
                            let mut b = Bucket::default();
                            b.set_upper_bound(le);
                            b.set_cumulative_count(h.count_between(0, (le * 1e6) as u64));
                            b
                        })
                        .collect(),
                );
                m.set_histogram(p);
                m
            })
            .collect();
        self.family(name, help, MetricType::HISTOGRAM, metrics);
    }
}

/// ε now (recording the largest seen), or `None` if the clock refuses.
pub fn epsilon(ctx: &NodeContext) -> Option<std::time::Duration> {
    let e = ctx.store.truetime().epsilon().ok()?;
    let ns = u64::try_from(e.as_nanos()).unwrap_or(u64::MAX);
    EPSILON_MAX.fetch_max(ns, Ordering::Relaxed);
    Some(e)
}

/// The node's metrics in the Prometheus text format.
pub fn render(ctx: &NodeContext) -> Result<String, String> {
    let mut f = Families::default();
    let txn = ctx.store.metrics().snapshot();
    f.counters(
        "spanlite_commits_total",
        "Transactions committed: on one tablet (one Raft round), or by two-phase commit (counted at the coordinator).",
        [
            (vec![("kind", "one_phase".to_string())], txn.one_phase_commits as f64),
            (vec![("kind", "two_phase".to_string())], txn.two_phase_commits as f64),
        ],
    );
    f.counters(
        "spanlite_aborts_total",
        "Requests answered that their transaction is aborted, by reason.",
        spanlite_txn::AbortReason::ALL.iter().map(|r| {
            let n = txn.aborts.get(r.name()).copied().unwrap_or(0);
            (vec![("reason", r.name().to_string())], n as f64)
        }),
    );
    if let Some(h) = ctx.store.metrics().commit_wait_histogram() {
        f.histograms(
            "spanlite_commit_wait_seconds",
            "Time commits waited for their timestamp to pass (commit wait).",
            [(Vec::new(), &h)],
        );
    }
    if let Some(h) = ctx.store.metrics().lock_wait_histogram() {
        f.histograms(
            "spanlite_lock_wait_seconds",
            "Time lock requests that had to wait waited.",
            [(Vec::new(), &h)],
        );
    }
    f.counters(
        "spanlite_raft_proposals_total",
        "Raft entries proposed by the transaction protocol, by tablet.",
        txn.proposals
            .iter()
            .map(|(t, n)| (vec![("tablet", t.to_string())], *n as f64)),
    );
    f.counters(
        "spanlite_tablet_requests_total",
        "Tablet-service calls served, by tablet and method.",
        txn.rpcs.iter().map(|((method, t), n)| {
            (
                vec![("tablet", t.to_string()), ("method", method.to_string())],
                *n as f64,
            )
        }),
    );

    let wal = ctx.store.wal_stats();
    f.counter(
        "spanlite_wal_fsyncs_total",
        "fdatasync calls of the node WAL.",
        wal.fsyncs as f64,
    );
    f.counter(
        "spanlite_wal_bytes_total",
        "Bytes written to the node WAL.",
        wal.bytes as f64,
    );
    f.counter(
        "spanlite_wal_records_total",
        "Records written to the node WAL.",
        wal.records as f64,
    );

    let tt = ctx.store.truetime();
    if let Some(e) = epsilon(ctx) {
        f.gauge(
            "spanlite_clock_epsilon_seconds",
            "TrueTime's uncertainty ε now.",
            e.as_secs_f64(),
        );
    }
    f.gauge(
        "spanlite_clock_epsilon_max_seconds",
        "The largest ε this node has reported since it started.",
        EPSILON_MAX.load(Ordering::Relaxed) as f64 / 1e9,
    );
    f.gauge(
        "spanlite_clock_epsilon_limit_seconds",
        "The ε past which the clock refuses to give time (--max-clock-uncertainty).",
        tt.config().max_epsilon.as_secs_f64(),
    );

    let replicas = ctx.store.replicas();
    let now = tt.now().ok().map(|i| i.earliest);
    let sizes = ctx.sizes.all();
    let mut leaders = 0;
    let (mut applied, mut terms, mut lag, mut size_bytes, mut keys) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in &replicas {
        let t = r.tablet();
        let label = || vec![("tablet", t.to_string())];
        leaders += usize::from(r.is_serving());
        applied.push((label(), r.applied().index as f64));
        terms.push((label(), r.raft().metrics().borrow().current_term as f64));
        if let Some(now) = now {
            let safe = r.follower_safe_time();
            let behind = now.as_nanos().saturating_sub(safe.as_nanos());
            lag.push((label(), behind as f64 / 1e9));
        }
        if let Some(s) = sizes.get(&t) {
            size_bytes.push((label(), s.bytes as f64));
            keys.push((label(), s.keys as f64));
        }
    }
    f.gauge(
        "spanlite_replicas",
        "Tablet replicas on this node.",
        replicas.len() as f64,
    );
    f.gauge(
        "spanlite_leaders",
        "Tablets this node leads (serving leaseholder).",
        leaders as f64,
    );
    f.gauges(
        "spanlite_raft_applied_index",
        "The last Raft entry applied, by tablet.",
        applied,
    );
    f.gauges("spanlite_raft_term", "The Raft term, by tablet.", terms);
    f.gauges(
        "spanlite_safe_time_lag_seconds",
        "How far a replica's safe time (follower reads) is behind now.",
        lag,
    );
    f.gauges(
        "spanlite_tablet_size_bytes",
        "Bytes of every version of a tablet this node leads (as last measured, uncompressed).",
        size_bytes,
    );
    f.gauges(
        "spanlite_tablet_keys",
        "Keys in a tablet this node leads (as last measured).",
        keys,
    );

    let kinds = ctx.schema.stats().kinds();
    f.counters(
        "spanlite_sql_statements_total",
        "SQL statements run by this node's sessions, by kind.",
        kinds
            .iter()
            .map(|(k, s)| (vec![("kind", k.to_string())], s.count as f64)),
    );
    f.counters(
        "spanlite_sql_statement_errors_total",
        "SQL statements that failed, by kind.",
        kinds
            .iter()
            .map(|(k, s)| (vec![("kind", k.to_string())], s.errors as f64)),
    );
    f.histograms(
        "spanlite_sql_statement_duration_seconds",
        "SQL statement latency, by kind.",
        kinds
            .iter()
            .map(|(k, s)| (vec![("kind", k.to_string())], &s.latency_us)),
    );

    f.gauge(
        "spanlite_pg_connections",
        "PostgreSQL clients connected now.",
        ctx.pg_connections.open() as f64,
    );
    f.counter(
        "spanlite_pg_connections_total",
        "PostgreSQL connections accepted.",
        ctx.pg_connections.accepted() as f64,
    );
    f.gauge(
        "spanlite_grpc_connections",
        "gRPC connections open now (nodes, drivers, tools).",
        ctx.grpc_connections.open() as f64,
    );
    f.counter(
        "spanlite_grpc_connections_total",
        "gRPC connections accepted.",
        ctx.grpc_connections.accepted() as f64,
    );

    let mut out = String::new();
    prometheus::TextEncoder::new()
        .encode_utf8(&f.0, &mut out)
        .map_err(|e| e.to_string())?;
    Ok(out)
}
