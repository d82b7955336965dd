//! The HTTP port of a node (`--http-listen`): Prometheus metrics at
//! `/metrics` with the cluster's real figures, and the web console rendered
//! by headless Chromium (Debian's `chromium`, installed by `make deps`; the
//! test fails without it) showing the cluster's nodes and tablets, and
//! charts drawn by its script.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use spanlite_node::embedded::EmbeddedCluster;
use spanlite_node::ops::split::SplitSettings;
use spanlite_session::Session;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `GET path` on `addr` (HTTP/1.1, one request per connection): status
/// and body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    // Chunked bodies (axum streams some): join the chunks.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        loop {
            let (size, after) = rest.split_once("\r\n").unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            if size == 0 {
                break;
            }
            out.push_str(&after[..size]);
            rest = &after[size + 2..];
        }
        out
    } else {
        body.to_string()
    };
    (status, body)
}

/// The value of the sample `name` (with its labels, as printed) in a
/// Prometheus text exposition.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let (n, v) = l.rsplit_once(' ')?;
        (n == name).then(|| v.parse().ok())?
    })
}

async fn sql(s: &mut Session, text: &str) {
    for r in s.run(text).await {
        r.map_err(|e| format!("{text}: {}", e.message)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_report_the_cluster_s_real_figures() {
    let cluster = EmbeddedCluster::start_with(3, &|c| {
        c.split = SplitSettings {
            size: 64 << 20,
            qps: 0,
            check_every: Duration::from_millis(100),
            merge_after: Duration::ZERO,
        }
    })
    .await
    .unwrap();
    let mut s = Session::on(cluster.schema_of(0));
    sql(&mut s, "CREATE TABLE t (id INT PRIMARY KEY, v TEXT)").await;
    for i in 0..20 {
        sql(&mut s, &format!("INSERT INTO t VALUES ({i}, 'v{i}')")).await;
    }
    sql(&mut s, "SELECT * FROM t WHERE id = 3").await;
    assert!(s.run("SELECT * FROM nosuch").await.pop().unwrap().is_err());
    let http = cluster.http_addrs()[0];

    // Tablet sizes appear once the leaders have measured them.
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let (status, body) = get(http, "/metrics").await;
        assert_eq!(status, 200);
        if body.contains("spanlite_tablet_size_bytes") || Instant::now() > deadline {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for family in [
        "spanlite_commits_total",
        "spanlite_aborts_total",
        "spanlite_commit_wait_seconds",
        "spanlite_raft_proposals_total",
        "spanlite_raft_applied_index",
        "spanlite_wal_fsyncs_total",
        "spanlite_wal_bytes_total",
        "spanlite_clock_epsilon_seconds",
        "spanlite_clock_epsilon_max_seconds",
        "spanlite_safe_time_lag_seconds",
        "spanlite_replicas",
        "spanlite_leaders",
        "spanlite_tablet_size_bytes",
        "spanlite_sql_statements_total",
        "spanlite_sql_statement_duration_seconds",
        "spanlite_pg_connections",
        "spanlite_grpc_connections",
    ] {
        assert!(
            metrics.contains(&format!("# TYPE {family} ")),
            "no {family} in\n{metrics}"
        );
    }
    let inserts = sample(&metrics, "spanlite_sql_statements_total{kind=\"insert\"}").unwrap();
    assert_eq!(inserts, 20.0);
    let errors = sample(
        &metrics,
        "spanlite_sql_statement_errors_total{kind=\"select\"}",
    )
    .unwrap();
    assert_eq!(errors, 1.0);
    let latencies = sample(
        &metrics,
        "spanlite_sql_statement_duration_seconds_count{kind=\"insert\"}",
    )
    .unwrap();
    assert_eq!(latencies, 20.0);
    // Latencies are real: an INSERT commits through Raft (fsync, commit
    // wait), never within 100 µs.
    let fast = sample(
        &metrics,
        "spanlite_sql_statement_duration_seconds_bucket{kind=\"insert\",le=\"0.0001\"}",
    )
    .unwrap();
    assert_eq!(fast, 0.0, "{metrics}");
    let commits = sample(&metrics, "spanlite_commits_total{kind=\"one_phase\"}").unwrap()
        + sample(&metrics, "spanlite_commits_total{kind=\"two_phase\"}").unwrap();
    assert!(commits >= 20.0, "{commits} commits");
    assert!(sample(&metrics, "spanlite_wal_fsyncs_total").unwrap() > 0.0);
    assert!(sample(&metrics, "spanlite_clock_epsilon_seconds").unwrap() > 0.0);
    assert_eq!(
        sample(&metrics, "spanlite_replicas").unwrap(),
        cluster.nodes()[0].context.store.replicas().len() as f64
    );
    // The port counts gRPC connections (the other nodes' links at least).
    assert!(sample(&metrics, "spanlite_grpc_connections").unwrap() >= 1.0);
    // Across the nodes, every tablet has one leader.
    let mut leaders = 0.0;
    for addr in cluster.http_addrs() {
        leaders += sample(&get(addr, "/metrics").await.1, "spanlite_leaders").unwrap();
    }
    let tablets = cluster.gateway().cache().tablets().len() as f64;
    assert_eq!(leaders, tablets);
    assert_eq!(get(http, "/nosuch").await.0, 404);
    cluster.shutdown().await;
}

/// `chromium --headless` on `url`: the DOM after its scripts ran for a
/// while.
fn chromium_dom(url: &str) -> String {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=4000",
            "--dump-dom",
            url,
        ])
        .output()
        .unwrap_or_else(|e| panic!("headless chromium (make deps installs it): {e}"));
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The tablet map marks a tablet frozen for a merge (it refuses writes
/// until the merge ends or is given up), and the others as serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_tablet_map_marks_a_tablet_frozen_for_a_merge() {
    let cluster = EmbeddedCluster::start(3).await.unwrap();
    let mut s = Session::on(cluster.schema_of(0));
    sql(&mut s, "CREATE TABLE t (id INT PRIMARY KEY, v TEXT)").await;
    let def = s.table("t").await.unwrap().unwrap();
    let at = def.row_key(&[spanlite_sql::Value::Int(5)]).unwrap();
    let left = cluster.gateway().cache().lookup(&at).unwrap().id;
    let right = cluster.split(left, &at).await.unwrap();
    let http = cluster.http_addrs()[0];
    let (_, before) = get(http, "/tablets").await;
    assert!(!before.contains("class=\"frozen\""), "{before}");
    assert!(before.contains("<td>serving</td>"), "{before}");

    // Step 1 of a merge by hand: the right tablet freezes.
    spanlite_node::embedded::leader(cluster.nodes(), right)
        .await
        .unwrap()
        .freeze(left)
        .await
        .unwrap();
    let row = format!("data-tablet=\"{right}\"");
    let mark = format!("frozen for a merge into tablet {left}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, page) = get(http, "/tablets").await;
        assert_eq!(status, 200);
        let marked = page
            .split("<tr")
            .find(|r| r.contains(&row))
            .is_some_and(|r| r.contains(&mark));
        if marked {
            assert_eq!(page.matches("class=\"frozen\"").count(), 1, "{page}");
            break;
        }
        assert!(Instant::now() < deadline, "not marked frozen:\n{page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_console_renders_the_cluster_in_headless_chromium() {
    let cluster = EmbeddedCluster::start(3).await.unwrap();
    let mut s = Session::on(cluster.schema_of(0));
    sql(&mut s, "CREATE TABLE t (id INT PRIMARY KEY, v TEXT)").await;
    for i in 0..10 {
        sql(&mut s, &format!("INSERT INTO t VALUES ({i}, 'v{i}')")).await;
    }
    let def = s.table("t").await.unwrap().unwrap();
    let at = def.row_key(&[spanlite_sql::Value::Int(5)]).unwrap();
    let tablet = cluster.gateway().cache().lookup(&at).unwrap().id;
    let right = cluster.split(tablet, &at).await.unwrap();
    let base = format!("http://{}", cluster.http_addrs()[0]);

    let chromium = tokio::task::spawn_blocking({
        let base = base.clone();
        move || {
            ["/", "/tablets", "/charts", "/settings", "/statements"]
                .map(|p| chromium_dom(&format!("{base}{p}")))
        }
    });
    // Work for the charts while the pages load.
    for i in 10..40 {
        sql(&mut s, &format!("INSERT INTO t VALUES ({i}, 'v{i}')")).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let [overview, tablets, charts, settings, statements] = chromium.await.unwrap();

    for node in 1..=3 {
        assert!(
            overview.contains(&format!("data-node=\"{node}\"")),
            "node {node} missing:\n{overview}"
        );
    }
    assert_eq!(overview.matches("class=\"live\"").count(), 3, "{overview}");
    assert!(overview.contains("3 of 3 nodes live"), "{overview}");

    cluster.gateway().refresh().await.unwrap();
    for d in cluster.gateway().cache().tablets() {
        assert!(
            tablets.contains(&format!("data-tablet=\"{}\"", d.id)),
            "tablet {} missing:\n{tablets}",
            d.id
        );
    }
    assert!(tablets.contains(&format!("data-tablet=\"{right}\"")));

    // The script drew the series from /api/history.
    assert!(
        charts.matches("class=\"series\"").count() >= 4,
        "no chart lines:\n{charts}"
    );
    assert!(settings.contains("id=\"default-mode\""), "{settings}");
    assert!(settings.contains("<code>ssi</code>"), "{settings}");
    assert!(
        statements.contains("INSERT INTO t VALUES (?, ?)"),
        "{statements}"
    );
    assert!(
        !statements.contains("'v3'"),
        "a constant leaked: {statements}"
    );

    // A screenshot renders too (the README's come from here:
    // SPANLITE_SCREENSHOTS=dir keeps them).
    let dir = match std::env::var_os("SPANLITE_SCREENSHOTS") {
        Some(d) => PathBuf::from(d),
        None => cluster.dir().join("screenshots"),
    };
    std::fs::create_dir_all(&dir).unwrap();
    for (name, path) in [
        ("overview", "/"),
        ("tablets", "/tablets"),
        ("charts", "/charts"),
    ] {
        let file = dir.join(format!("console-{name}.png"));
        let out = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--virtual-time-budget=3000",
                "--window-size=1100,640",
            ])
            .arg(format!("--screenshot={}", file.display()))
            .arg(format!("{base}{path}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let png = std::fs::read(&file).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    }
    cluster.shutdown().await;
}
