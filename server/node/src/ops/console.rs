//! The node's HTTP port (`--http-listen`): Prometheus metrics at
//! `/metrics` and the web console — plain server-rendered pages, and one
//! small script (embedded, no build step, nothing fetched) that draws the
//! live charts from `/api/history`.
//!
//! | path | what |
//! |---|---|
//! | `/` | overview: every node (liveness, ε, replicas, leaders) |
//! | `/tablets` | the tablet map: ranges, sizes, replicas, leaders, merge freezes |
//! | `/charts` | live throughput, p50/p99 latency and aborts of this node |
//! | `/settings` | transaction modes, the cluster's default, node settings |
//! | `/statements` | SQL statements by kind and by fingerprint |
//! | `/metrics` | Prometheus text format ([`super::metrics`]) |
//! | `/api/history` | the chart samples, JSON |
//!
//! The port is read-only and unauthenticated, and shows no row data
//! (statements appear as fingerprints, their constants replaced by `?`):
//! bind it to loopback or a management network.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use super::status::cluster;
use crate::NodeContext;

type Ctx = Arc<NodeContext>;

/// Serves the HTTP port on `listener` until the task is dropped.
pub(crate) async fn serve(listener: TcpListener, ctx: Ctx) {
    let app = Router::new()
        .route("/", get(overview))
        .route("/tablets", get(tablets))
        .route("/charts", get(charts))
        .route("/settings", get(settings))
        .route("/statements", get(statements))
        .route("/metrics", get(metrics))
        .route("/api/history", get(history))
        .route("/console.js", get(script))
        .with_state(ctx);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::warn!("HTTP port: {e}");
    }
}

async fn metrics(State(ctx): State<Ctx>) -> Response {
    match super::metrics::render(&ctx) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

async fn history(State(ctx): State<Ctx>) -> Response {
    match serde_json::to_string(&ctx.history.samples()) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("console.js"),
    )
        .into_response()
}

/// `s` escaped for HTML text and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page: the title, the navigation, `body`.
fn page(ctx: &NodeContext, title: &str, body: &str) -> Html<String> {
    let nav = [
        ("/", "Overview"),
        ("/tablets", "Tablets"),
        ("/charts", "Charts"),
        ("/settings", "Transactions"),
        ("/statements", "SQL statements"),
        ("/metrics", "Metrics"),
    ]
    .iter()
    .map(|(href, name)| format!("<a href=\"{href}\">{name}</a>"))
    .collect::<Vec<_>>()
    .join(" ");
    Html(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title} · Spanlite node {node}</title>\
         <style>{STYLE}</style></head><body>\
         <header><b>Spanlite</b> · node {node} at {addr} · cluster {cluster} <nav>{nav}</nav></header>\
         <main><h1>{title}</h1>{body}</main></body></html>",
        title = esc(title),
        node = ctx.node_id,
        addr = esc(&ctx.advertise),
        cluster = esc(&ctx.cluster.cluster_id()),
    ))
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:0;color:#222}\
header{background:#1d3557;color:#fff;padding:8px 16px}header a{color:#fff;margin-left:14px}\
main{padding:8px 16px}table{border-collapse:collapse;margin:8px 0}\
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#eef}\
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.dead{color:#b00;font-weight:bold}\
.live{color:#070}.frozen{color:#a60}.chart{border:1px solid #ccc;margin:6px 0}code{font-size:12px}";

fn key_text(key: &[u8]) -> String {
    if key.is_empty() {
        return "∞".to_string();
    }
    key.iter()
        .map(|b| {
            if b.is_ascii_graphic() && *b != b'\\' {
                (*b as char).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

fn bytes_text(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

async fn overview(State(ctx): State<Ctx>) -> Html<String> {
    let views = cluster(&ctx).await;
    let mut body = String::from(
        "<table id=\"nodes\"><tr><th>node</th><th>address</th><th>liveness</th><th>ε</th>\
         <th>replicas</th><th>leaders</th><th>clock</th></tr>",
    );
    let (mut live, mut replicas, mut leaders) = (0, 0, 0);
    for v in &views {
        match &v.status {
            Ok(s) => {
                live += 1;
                let led = s.tablets.iter().filter(|t| t.is_leader).count();
                replicas += s.tablets.len();
                leaders += led;
                let _ = write!(
                    body,
                    "<tr class=\"node\" data-node=\"{id}\"><td>{id}</td><td>{addr}</td>\
                     <td class=\"live\">live</td><td class=\"n\">{eps:.3} ms</td>\
                     <td class=\"n\">{n}</td><td class=\"n\">{led}</td><td>{clock}</td></tr>",
                    id = v.id,
                    addr = esc(&v.addr),
                    eps = s.epsilon_nanos as f64 / 1e6,
                    n = s.tablets.len(),
                    clock = if s.clock_error.is_empty() {
                        "ok".to_string()
                    } else {
                        esc(&s.clock_error)
                    },
                );
            }
            Err(e) => {
                let _ = write!(
                    body,
                    "<tr class=\"node\" data-node=\"{id}\"><td>{id}</td><td>{addr}</td>\
                     <td class=\"dead\">unreachable</td><td colspan=\"4\">{e}</td></tr>",
                    id = v.id,
                    addr = esc(&v.addr),
                    e = esc(e),
                );
            }
        }
    }
    let _ = write!(
        body,
        "</table><p id=\"summary\">{live} of {} nodes live · {replicas} replicas · {leaders} leaders · {} tablets</p>",
        views.len(),
        ctx.gateway.cache().tablets().len(),
    );
    page(&ctx, "Overview", &body)
}

async fn tablets(State(ctx): State<Ctx>) -> Html<String> {
    let views = cluster(&ctx).await;
    // Per tablet: its leader's node and report (measurements, a freeze).
    let mut leader = BTreeMap::new();
    // Freezes reported by other replicas, for tablets with no leader (one
    // behind may still show a freeze that ended: the leader's report wins).
    let mut frozen_elsewhere: BTreeMap<u64, u64> = BTreeMap::new();
    for v in &views {
        if let Ok(s) = &v.status {
            for t in &s.tablets {
                let Some(d) = &t.descriptor else { continue };
                if t.is_leader {
                    leader.insert(d.tablet_id, (v.id, t));
                } else if t.frozen_into != 0 {
                    frozen_elsewhere.insert(d.tablet_id, t.frozen_into);
                }
            }
        }
    }
    let mut body = String::from(
        "<table id=\"tablets\"><tr><th>tablet</th><th>start</th><th>end</th><th>size</th>\
         <th>keys</th><th>replicas</th><th>leader</th><th>requests at leader</th><th>generation</th>\
         <th>state</th></tr>",
    );
    for d in ctx.gateway.cache().tablets() {
        let frozen_into = match leader.get(&d.id) {
            Some((_, t)) => t.frozen_into,
            None => frozen_elsewhere.get(&d.id).copied().unwrap_or(0),
        };
        // A frozen tablet refuses writes until its merge ends or is given up.
        let state = if frozen_into != 0 {
            format!("<span class=\"frozen\">frozen for a merge into tablet {frozen_into}</span>")
        } else if leader.contains_key(&d.id) {
            "serving".to_string()
        } else {
            "no leader".to_string()
        };
        let (lead, size, keys, requests) = match leader.get(&d.id) {
            Some((n, t)) => (
                n.to_string(),
                bytes_text(t.size_bytes),
                t.keys.to_string(),
                t.requests.to_string(),
            ),
            None => (
                "none".to_string(),
                "–".to_string(),
                "–".to_string(),
                "–".to_string(),
            ),
        };
        let replicas = d
            .replicas
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let start = if d.range.start.is_empty() {
            "−∞".to_string()
        } else {
            key_text(&d.range.start)
        };
        let _ = write!(
            body,
            "<tr class=\"tablet\" data-tablet=\"{id}\"><td>{id}</td><td><code>{start}</code></td>\
             <td><code>{end}</code></td><td class=\"n\">{size}</td><td class=\"n\">{keys}</td>\
             <td>{replicas}</td><td>{lead}</td><td class=\"n\">{requests}</td><td class=\"n\">{g}</td>\
             <td>{state}</td></tr>",
            id = d.id,
            start = esc(&start),
            end = esc(&key_text(&d.range.end)),
            g = d.generation,
        );
    }
    body.push_str("</table>");
    page(&ctx, "Tablets", &body)
}

async fn charts(State(ctx): State<Ctx>) -> Html<String> {
    let last = ctx.history.samples().pop().unwrap_or_default();
    let body = format!(
        "<p>This node, one sample a second, the last ten minutes (redrawn every 2 s).</p>\
         <table id=\"now\"><tr><th>commits/s</th><th>statements/s</th><th>p50</th><th>p99</th><th>aborts/s</th></tr>\
         <tr><td class=\"n\">{:.1}</td><td class=\"n\">{:.1}</td><td class=\"n\">{:.2} ms</td>\
         <td class=\"n\">{:.2} ms</td><td class=\"n\">{:.1}</td></tr></table>\
         <h2>Throughput</h2><svg id=\"throughput\" class=\"chart\" width=\"720\" height=\"160\"></svg>\
         <h2>Latency of SQL statements</h2><svg id=\"latency\" class=\"chart\" width=\"720\" height=\"160\"></svg>\
         <h2>Aborts</h2><svg id=\"aborts\" class=\"chart\" width=\"720\" height=\"160\"></svg>\
         <script src=\"/console.js\"></script>",
        last.commits, last.statements, last.p50_ms, last.p99_ms, last.aborts
    );
    page(&ctx, "Charts", &body)
}

async fn settings(State(ctx): State<Ctx>) -> Html<String> {
    let default = match ctx
        .gateway
        .get(spanlite_session::DEFAULT_CONCURRENCY_KEY)
        .await
    {
        Ok(Some(v)) => String::from_utf8_lossy(&v).into_owned(),
        Ok(None) => "2pl".to_string(),
        Err(e) => format!("unknown ({e})"),
    };
    let modes = [
        (
            "2pl",
            "serializable",
            "two-phase locking with wound-wait; reads lock, writes lock at commit",
        ),
        (
            "occ",
            "serializable",
            "optimistic: reads validated at commit against later writes",
        ),
        (
            "ssi",
            "serializable",
            "serializable snapshot isolation: snapshot reads, dangerous structures abort",
        ),
        (
            "si",
            "snapshot isolation",
            "snapshot reads, first committer wins on write-write conflicts",
        ),
    ];
    let mut body = format!(
        "<p id=\"default-mode\">Cluster default (<code>SET CLUSTER SETTING default_concurrency</code>): \
         <b>{}</b>. A transaction picks its own with <code>SET TRANSACTION CONCURRENCY …</code>.</p>\
         <table id=\"modes\"><tr><th>mode</th><th>isolation</th><th>how</th></tr>",
        esc(&default)
    );
    for (m, iso, how) in modes {
        let _ = write!(
            body,
            "<tr><td><code>{m}</code></td><td>{iso}</td><td>{how}</td></tr>"
        );
    }
    body.push_str("</table><h2>This node</h2><table id=\"settings\">");
    for (name, value) in &ctx.settings {
        let _ = write!(
            body,
            "<tr><th>{}</th><td>{}</td></tr>",
            esc(name),
            esc(value)
        );
    }
    body.push_str("</table>");
    page(&ctx, "Transactions and settings", &body)
}

async fn statements(State(ctx): State<Ctx>) -> Html<String> {
    let stats = ctx.schema.stats();
    let mut body = String::from(
        "<h2>By kind</h2><table id=\"kinds\"><tr><th>kind</th><th>count</th><th>errors</th>\
         <th>mean</th><th>p50</th><th>p99</th></tr>",
    );
    for (kind, k) in stats.kinds() {
        let _ = write!(
            body,
            "<tr><td>{kind}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{:.2} ms</td><td class=\"n\">{:.2} ms</td><td class=\"n\">{:.2} ms</td></tr>",
            k.count,
            k.errors,
            k.total_us as f64 / k.count.max(1) as f64 / 1000.0,
            k.latency_us.value_at_quantile(0.5) as f64 / 1000.0,
            k.latency_us.value_at_quantile(0.99) as f64 / 1000.0,
        );
    }
    body.push_str(
        "</table><h2>By statement (most total time first)</h2><table id=\"fingerprints\">\
         <tr><th>statement</th><th>kind</th><th>count</th><th>errors</th><th>total</th><th>mean</th><th>max</th></tr>",
    );
    for (text, f) in stats.top(100) {
        let _ = write!(
            body,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{:.1} ms</td><td class=\"n\">{:.2} ms</td><td class=\"n\">{:.2} ms</td></tr>",
            esc(&text),
            f.kind,
            f.count,
            f.errors,
            f.total_us as f64 / 1000.0,
            f.total_us as f64 / f.count.max(1) as f64 / 1000.0,
            f.max_us as f64 / 1000.0,
        );
    }
    body.push_str("</table>");
    page(&ctx, "SQL statements", &body)
}
