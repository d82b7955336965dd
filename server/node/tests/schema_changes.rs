//! Online schema changes on a 100,000-row table while writers and readers
//! keep going (DESIGN.md §7): `ALTER TABLE … ADD COLUMN … DEFAULT`
//! rewrites no row, `CREATE INDEX` outside a transaction block builds its
//! entries in short transactions of their own, and so do `ADD CHECK`,
//! `SET NOT NULL`, `ADD FOREIGN KEY` and `ADD UNIQUE` check the rows there
//! were. Prints the writers'
//! latency (p50/p99/max) before and during each change; checks that the
//! writers kept committing during the index build, that no reader saw a
//! half-changed table, and that the index agrees with the rows after.
//!
//! Latencies are printed, never asserted (the machines are noisy).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use spanlite_node::embedded::EmbeddedCluster;
use spanlite_session::Session;
use spanlite_sql::{QueryResult, Value};
use tokio::sync::Mutex;

const ROWS: i64 = 100_000;

async fn run(s: &mut Session, sql: &str) -> Result<QueryResult, (String, String)> {
    match s.run(sql).await.pop() {
        Some(r) => r.map_err(|e| (e.code.to_string(), e.message)),
        None => Err(("".into(), "no result".into())),
    }
}

async fn ok(s: &mut Session, sql: &str) -> QueryResult {
    run(s, sql)
        .await
        .unwrap_or_else(|(code, m)| panic!("{sql}: {code} {m}"))
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => panic!("not an integer: {other:?}"),
    }
}

/// A small deterministic generator (xorshift): the writers' row ids.
struct Ids(u64);

impl Ids {
    fn next(&mut self) -> i64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % ROWS as u64) as i64 + 1
    }
}

/// Each committed write: when it committed and how long it took (from
/// its first attempt, retries included).
type Log = Arc<Mutex<Vec<(Instant, Duration)>>>;

/// Writes until `stop`: each moves a row's `v` and `w` (so the index
/// being built sees its entries moved under it), retried on 40001.
async fn writer(mut s: Session, seed: u64, log: Log, stop: Arc<AtomicBool>) {
    let mut ids = Ids(seed);
    while !stop.load(Ordering::Relaxed) {
        let id = ids.next();
        let sql = format!("UPDATE t SET v = v + 1, w = w + 1 WHERE id = {id}");
        let began = Instant::now();
        loop {
            match run(&mut s, &sql).await {
                Ok(_) => break,
                Err((code, _)) if code == "40001" => continue,
                Err((code, m)) => panic!("{sql}: {code} {m}"),
            }
        }
        log.lock().await.push((Instant::now(), began.elapsed()));
    }
}

/// Latency figures of the writes that committed in `[from, to]`.
async fn window(log: &Log, from: Instant, to: Instant) -> (usize, String) {
    let mut h = Histogram::<u64>::new(3).unwrap();
    let log = log.lock().await;
    for (at, took) in log.iter() {
        if *at >= from && *at <= to {
            h.record(took.as_micros() as u64).unwrap();
        }
    }
    let ms = |us: u64| us as f64 / 1000.0;
    let n = h.len() as usize;
    (
        n,
        format!(
            "{n} writes, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max())
        ),
    )
}

/// Waits until the writers have committed `n` writes since `since`.
async fn writes_since(log: &Log, since: Instant, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if log
            .lock()
            .await
            .iter()
            .filter(|(at, _)| *at >= since)
            .count()
            >= n
        {
            return;
        }
        assert!(Instant::now() < deadline, "the writers stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn add_column_and_create_index_on_100k_rows_keep_writers_going() {
    let cluster = EmbeddedCluster::start(3).await.unwrap();
    let mut s = Session::on(cluster.schema_of(0));
    ok(&mut s, "CREATE TABLE t (id INT PRIMARY KEY, v INT, w INT)").await;
    let loading = Instant::now();
    for chunk in 0..ROWS / 1000 {
        let values: Vec<String> = (chunk * 1000 + 1..=chunk * 1000 + 1000)
            .map(|id| format!("({id}, 0, {})", id % 100))
            .collect();
        ok(
            &mut s,
            &format!("INSERT INTO t VALUES {}", values.join(",")),
        )
        .await;
    }
    println!("loaded {ROWS} rows in {:.1?}", loading.elapsed());

    let log: Log = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|i| {
            let session = Session::on(cluster.schema_of(i));
            tokio::spawn(writer(
                session,
                0x9E37_79B9_7F4A_7C15 + i as u64,
                log.clone(),
                stop.clone(),
            ))
        })
        .collect();

    // Before any change.
    let before = Instant::now();
    writes_since(&log, before, 100).await;
    let (_, figures) = window(&log, before, Instant::now()).await;
    println!("before:                {figures}");

    // ADD COLUMN … DEFAULT: readers on another node see the table without
    // the column, or with it on every row — never on some rows only.
    let reading = Arc::new(AtomicBool::new(true));
    let reader = {
        let mut r = Session::on(cluster.schema_of(2));
        let reading = reading.clone();
        tokio::spawn(async move {
            let (mut without, mut with) = (0u32, 0u32);
            while reading.load(Ordering::Relaxed) || with == 0 {
                match run(
                    &mut r,
                    "SELECT count(*), count(note) FROM t WHERE id <= 2000",
                )
                .await
                {
                    Ok(q) => {
                        assert_eq!(
                            (int(&q.rows[0][0]), int(&q.rows[0][1])),
                            (2000, 2000),
                            "a reader saw the column on some rows only"
                        );
                        with += 1;
                    }
                    Err((code, m)) => {
                        assert_eq!(code, "42703", "{m}");
                        assert_eq!(with, 0, "the column went away again");
                        without += 1;
                    }
                }
            }
            (without, with)
        })
    };
    let began = Instant::now();
    ok(&mut s, "ALTER TABLE t ADD COLUMN note TEXT DEFAULT 'x'").await;
    let ended = Instant::now();
    reading.store(false, Ordering::Relaxed);
    let (without, with) = reader.await.unwrap();
    let (_, figures) = window(&log, began, ended).await;
    println!(
        "ADD COLUMN … DEFAULT:  {:.1?}; {figures}; reader saw {without} reads without it, {with} with it",
        ended - began
    );
    let q = ok(&mut s, "SELECT count(*) FROM t WHERE note = 'x'").await;
    assert_eq!(int(&q.rows[0][0]), ROWS);

    // CREATE INDEX: readers compare the index with a scan in one snapshot.
    let reading = Arc::new(AtomicBool::new(true));
    let reader = {
        let mut r = Session::on(cluster.schema_of(2));
        let reading = reading.clone();
        tokio::spawn(async move {
            let mut reads = 0u32;
            while reading.load(Ordering::Relaxed) || reads == 0 {
                ok(&mut r, "BEGIN READ ONLY").await;
                let by_w = ok(&mut r, "SELECT count(*) FROM t WHERE w = 50").await;
                let scanned = ok(&mut r, "SELECT count(*) FROM t WHERE w + 0 = 50").await;
                ok(&mut r, "COMMIT").await;
                assert_eq!(by_w.rows, scanned.rows, "the index disagreed with the rows");
                reads += 1;
            }
            reads
        })
    };
    let began = Instant::now();
    ok(&mut s, "CREATE INDEX t_w ON t (w)").await;
    let ended = Instant::now();
    reading.store(false, Ordering::Relaxed);
    let reads = reader.await.unwrap();
    let (during, figures) = window(&log, began, ended).await;
    println!(
        "CREATE INDEX:          {:.1?}; {figures}; reader compared index and rows {reads} times",
        ended - began
    );
    assert!(
        during > 0,
        "no writer committed during the index build ({:.1?})",
        ended - began
    );

    // Constraints added online: declared at once (every write from then
    // on obeys them), the rows there were checked batch by batch while the
    // writers go on.
    ok(&mut s, "CREATE TABLE grps (k INT PRIMARY KEY)").await;
    ok(&mut s, "INSERT INTO grps VALUES (1), (2)").await;
    ok(&mut s, "ALTER TABLE t ADD COLUMN grp INT DEFAULT 1").await;
    for (what, sql) in [
        (
            "ADD CHECK",
            "ALTER TABLE t ADD CONSTRAINT t_v_nonneg CHECK (v >= 0)",
        ),
        (
            "SET NOT NULL",
            "ALTER TABLE t ALTER COLUMN note SET NOT NULL",
        ),
        (
            "ADD FOREIGN KEY",
            "ALTER TABLE t ADD CONSTRAINT t_grp_fkey FOREIGN KEY (grp) REFERENCES grps (k)",
        ),
        (
            "ADD UNIQUE",
            "ALTER TABLE t ADD CONSTRAINT t_id_v_key UNIQUE (id, v)",
        ),
    ] {
        let began = Instant::now();
        ok(&mut s, sql).await;
        let ended = Instant::now();
        let (during, figures) = window(&log, began, ended).await;
        println!(
            "{:<22} {:.1?}; {figures}",
            format!("{what}:"),
            ended - began
        );
        assert!(
            during > 0,
            "no writer committed during {what} ({:.1?})",
            ended - began
        );
    }

    let after = Instant::now();
    writes_since(&log, after, 100).await;
    let (_, figures) = window(&log, after, Instant::now()).await;
    println!("after:                 {figures}");
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }

    // The index is read now, and has an entry for every row, with its
    // current value.
    let plan = ok(&mut s, "EXPLAIN SELECT id FROM t WHERE w = 7").await;
    let plan = format!("{:?}", plan.rows);
    assert!(plan.contains("t_w"), "the index is not used: {plan}");
    let q = ok(&mut s, "SELECT count(*) FROM t WHERE w >= 0").await;
    assert_eq!(int(&q.rows[0][0]), ROWS);
    for k in [0, 7, 50, 99, 100, 120] {
        let by_w = ok(
            &mut s,
            &format!("SELECT id FROM t WHERE w = {k} ORDER BY id"),
        )
        .await;
        let scanned = ok(
            &mut s,
            &format!("SELECT id FROM t WHERE w + 0 = {k} ORDER BY id"),
        )
        .await;
        assert_eq!(by_w.rows, scanned.rows, "w = {k}");
    }
    // The constraints added online hold for new writes.
    for (sql, code) in [
        ("UPDATE t SET v = -1 WHERE id = 1", "23514"),
        ("UPDATE t SET note = NULL WHERE id = 1", "23502"),
        ("UPDATE t SET grp = 3 WHERE id = 1", "23503"),
    ] {
        let e = run(&mut s, sql).await.unwrap_err();
        assert_eq!(e.0, code, "{sql}: {e:?}");
    }
    // One the rows break fails with the error of the row, and what it
    // declared is gone again.
    let e = run(
        &mut s,
        "ALTER TABLE t ADD CONSTRAINT t_w_small CHECK (w < 50)",
    )
    .await
    .unwrap_err();
    assert_eq!(e.0, "23514", "{e:?}");
    ok(&mut s, "UPDATE t SET w = 99 WHERE id = 1").await;
    ok(&mut s, "UPDATE t SET grp = NULL WHERE id = 2").await;
    let e = run(&mut s, "ALTER TABLE t ALTER COLUMN grp SET NOT NULL")
        .await
        .unwrap_err();
    assert_eq!(e.0, "23502", "{e:?}");
    ok(&mut s, "UPDATE t SET grp = NULL WHERE id = 3").await;
    let e = run(&mut s, "ALTER TABLE t ADD CONSTRAINT t_w_key UNIQUE (w)")
        .await
        .unwrap_err();
    assert_eq!(e.0, "23505", "{e:?}");
    ok(&mut s, "UPDATE t SET w = 99 WHERE id = 4").await;
    let e = run(&mut s, "ALTER TABLE t DROP CONSTRAINT t_w_small")
        .await
        .unwrap_err();
    assert_eq!(e.0, "42704", "{e:?}");
    cluster.shutdown().await;
}
