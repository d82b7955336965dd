//! PostgreSQL's own benchmark tools, unmodified, against a 3-node cluster's
//! PostgreSQL port: `pgbench -i` (its default steps: DROP, CREATE TABLE,
//! TRUNCATE and COPY … FREEZE in a transaction, VACUUM, ALTER TABLE … ADD
//! PRIMARY KEY) and a TPC-B-like run whose balances are checked after;
//! `sysbench oltp_read_write` prepare (SERIAL keys, a secondary index) and
//! a 20 s run.
//!
//! The tools must be installed (`make deps`); a missing one fails the test.

use std::process::{Command, Output};

mod pg;
use pg::PgCluster;

/// One tool run at a time: each loads a 3-node cluster in this process,
/// and the machines that run the tests have 2 cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `cmd`, failing the test with `what` when it cannot start.
async fn output(mut cmd: Command, what: &str) -> Output {
    tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("running {what} (`make deps` installs it): {e}"))
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The number after `label` in `out` ("number of failed transactions: 0").
fn figure(out: &str, label: &str) -> Option<f64> {
    let line = out.lines().find(|l| l.trim_start().starts_with(label))?;
    line[line.find(label)? + label.len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn pgbench(pg: &PgCluster, args: &[&str]) -> Command {
    let mut cmd = Command::new("pgbench");
    cmd.args(["-h", "127.0.0.1", "-p", &pg.addr.port().to_string()])
        .args(["-U", "root"])
        .args(args)
        .arg("spanlite");
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pgbench_initializes_and_its_tpcb_run_keeps_the_balances() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let pg = PgCluster::start().await;
    let init = output(pgbench(&pg, &["-i", "-s", "1"]), "pgbench").await;
    assert!(init.status.success(), "pgbench -i: {}", text(&init));
    let c = pg.client().await;
    let count = |t: &'static str| {
        let c = &c;
        async move {
            c.query_one(&format!("SELECT count(*) FROM {t}"), &[])
                .await
                .unwrap()
                .get::<_, i64>(0)
        }
    };
    assert_eq!(count("pgbench_accounts").await, 100_000);
    assert_eq!(count("pgbench_branches").await, 1);
    assert_eq!(count("pgbench_tellers").await, 10);
    // Keyed by aid now (ADD PRIMARY KEY): a second row with an aid is refused.
    let dup = c
        .execute("INSERT INTO pgbench_accounts VALUES (1, 1, 0, '')", &[])
        .await
        .unwrap_err();
    assert_eq!(dup.code().map(|c| c.code()), Some("23505"), "{dup}");

    // Serialization failures are retried (as a client does), without end
    // within the run's 20 s.
    let run = output(
        pgbench(&pg, &["-T", "20", "-c", "4", "-j", "2", "--max-tries", "0"]),
        "pgbench",
    )
    .await;
    let out = text(&run);
    println!("{out}");
    assert!(run.status.success(), "pgbench -T 20: {out}");
    let done = figure(&out, "number of transactions actually processed:")
        .unwrap_or_else(|| panic!("no transaction count in: {out}"));
    assert!(done > 0.0, "{out}");
    assert_eq!(
        figure(&out, "number of failed transactions:"),
        Some(0.0),
        "{out}"
    );

    let sums = c
        .query_one(
            "SELECT (SELECT sum(abalance) FROM pgbench_accounts), \
                    (SELECT sum(bbalance) FROM pgbench_branches), \
                    (SELECT sum(tbalance) FROM pgbench_tellers), \
                    (SELECT sum(delta) FROM pgbench_history), \
                    (SELECT count(*) FROM pgbench_history)",
            &[],
        )
        .await
        .unwrap();
    let (a, b, t, h, n): (i64, i64, i64, i64, i64) = (
        sums.get(0),
        sums.get(1),
        sums.get(2),
        sums.get(3),
        sums.get(4),
    );
    println!(
        "sum(abalance) {a}, sum(bbalance) {b}, sum(tbalance) {t}, sum(delta) {h}, {n} history rows"
    );
    assert_eq!((a, b, t), (h, h, h), "the balances disagree");
    assert_eq!(n as f64, done, "one history row per committed transaction");
    pg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sysbench_oltp_read_write_prepares_and_runs_without_errors() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let pg = PgCluster::start().await;
    let sysbench = |verb: &str| {
        let mut cmd = Command::new("sysbench");
        cmd.arg("oltp_read_write")
            .args(["--db-driver=pgsql", "--tables=1", "--table-size=10000"])
            .args(["--time=20", "--report-interval=0"])
            .args(["--pgsql-host=127.0.0.1", "--pgsql-user=root"])
            .arg(format!("--pgsql-port={}", pg.addr.port()))
            .args(["--pgsql-db=spanlite", verb]);
        cmd
    };
    let prepare = output(sysbench("prepare"), "sysbench").await;
    assert!(
        prepare.status.success(),
        "sysbench prepare: {}",
        text(&prepare)
    );
    let c = pg.client().await;
    let n: i64 = c
        .query_one("SELECT count(*) FROM sbtest1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 10_000);

    let run = output(sysbench("run"), "sysbench").await;
    let out = text(&run);
    println!("{out}");
    assert!(run.status.success(), "sysbench run: {out}");
    assert!(!out.contains("FATAL"), "{out}");
    let txns = figure(&out, "transactions:").unwrap_or_else(|| panic!("no figures in: {out}"));
    assert!(txns > 0.0, "{out}");
    assert_eq!(figure(&out, "ignored errors:"), Some(0.0), "{out}");
    // Its deletes and inserts kept the table's size.
    let n: i64 = c
        .query_one("SELECT count(*) FROM sbtest1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 10_000);
    pg.shutdown().await;
}
