//! A LIMIT over one table read in key order reads only as many rows as it
//! needs (page by page while conditions drop rows), and gives what a
//! whole read would.

use super::{MemTxn, i, rows, run, run_with, t};

/// A table of 1,000 rows (`v` = id mod 10, indexed) and the pairs read
/// by each query after it.
async fn thousand() -> MemTxn {
    let mut txn = MemTxn::default();
    run(
        &mut txn,
        "CREATE TABLE t (id INT PRIMARY KEY, v INT, w TEXT);
         INSERT INTO t SELECT g, g % 10, 'x' || g FROM generate_series(1, 1000) AS g;
         CREATE INDEX t_v ON t (v);",
    )
    .await
    .unwrap();
    txn
}

/// The rows `sql` gives and how many pairs its range reads gave.
async fn counted(txn: &mut MemTxn, sql: &str) -> (Vec<Vec<crate::Value>>, usize) {
    txn.2 = 0;
    let out = rows(txn, sql).await;
    (out, txn.2)
}

fn ids(rows: &[Vec<crate::Value>]) -> Vec<crate::Value> {
    rows.iter().map(|r| r[0].clone()).collect()
}

#[tokio::test]
async fn a_limit_in_key_order_reads_only_the_rows_it_needs() {
    let mut txn = thousand().await;
    let (r, read) = counted(&mut txn, "SELECT * FROM t LIMIT 3").await;
    assert_eq!(ids(&r), vec![i(1), i(2), i(3)]);
    assert_eq!(read, 3);
    let (r, read) = counted(&mut txn, "SELECT id FROM t ORDER BY id LIMIT 2 OFFSET 5").await;
    assert_eq!(ids(&r), vec![i(6), i(7)]);
    assert_eq!(read, 7);
    // Conditions drop rows: pages until enough pass.
    let (r, read) = counted(
        &mut txn,
        "SELECT id FROM t WHERE v = 7 AND w LIKE 'x%' ORDER BY 1 LIMIT 10",
    )
    .await;
    assert_eq!(ids(&r), (0..10).map(|k| i(10 * k + 7)).collect::<Vec<_>>());
    assert!(read < 200, "{read} pairs read for 10 rows");
    // A key range (its condition is checked again on the rows: a first
    // page of 64), and an index range (index order: v, then the key).
    let (r, read) = counted(&mut txn, "SELECT id FROM t WHERE id > 500 LIMIT 2").await;
    assert_eq!(ids(&r), vec![i(501), i(502)]);
    assert_eq!(read, 64);
    let (r, read) = counted(&mut txn, "SELECT id FROM t WHERE v = 3 LIMIT 3").await;
    assert_eq!(ids(&r), vec![i(3), i(13), i(23)]);
    assert!(read < 100, "{read} pairs read for 3 rows");
    // In a subquery in FROM, and fewer rows than the limit.
    let (r, read) = counted(
        &mut txn,
        "SELECT count(*) FROM (SELECT id FROM t WHERE id >= 999 LIMIT 5) AS s",
    )
    .await;
    assert_eq!(r, vec![vec![i(2)]]);
    assert_eq!(read, 2);
}

#[tokio::test]
async fn sorted_as_the_read_goes_over_key_ranges_and_indexes() {
    let mut txn = thousand().await;
    run(
        &mut txn,
        "CREATE TABLE ab (a INT, b INT, PRIMARY KEY (a, b));
         INSERT INTO ab SELECT g / 100, g % 100 FROM generate_series(0, 999) AS g;
         CREATE INDEX t_w ON t (w);",
    )
    .await
    .unwrap();
    // An index range fixing every index column: its entries follow the key.
    let (r, read) = counted(&mut txn, "SELECT id FROM t WHERE v = 3 ORDER BY id LIMIT 3").await;
    assert_eq!(ids(&r), vec![i(3), i(13), i(23)]);
    assert!(read <= 64, "{read}");
    // The key's columns after those a key range fixes.
    let (r, read) = counted(&mut txn, "SELECT b FROM ab WHERE a = 4 ORDER BY b LIMIT 2").await;
    assert_eq!(ids(&r), vec![i(0), i(1)]);
    assert!(read <= 64, "{read}");
    // An index's column, bounded (so no NULL among them).
    let (r, read) = counted(
        &mut txn,
        "SELECT w FROM t WHERE w > 'x5' ORDER BY w LIMIT 2",
    )
    .await;
    assert_eq!(ids(&r), vec![t("x50"), t("x500")]);
    assert!(read <= 64, "{read}");
    // Unbounded on a column that may be NULL: ORDER BY puts NULLs last,
    // the index would not — read whole.
    run(&mut txn, "INSERT INTO t VALUES (0, 3, NULL)")
        .await
        .unwrap();
    let (r, read) = counted(&mut txn, "SELECT w FROM t WHERE v = 3 ORDER BY w LIMIT 2").await;
    assert_eq!(ids(&r), vec![t("x103"), t("x113")]);
    assert!(read > 100, "{read}");
    let (r, _) = counted(
        &mut txn,
        "SELECT w FROM t WHERE v = 3 ORDER BY w DESC LIMIT 1",
    )
    .await;
    assert_eq!(ids(&r), vec![crate::Value::Null]);
}

#[tokio::test]
async fn a_limit_in_descending_key_order_reads_from_the_end() {
    let mut txn = thousand().await;
    run(
        &mut txn,
        "CREATE TABLE ab (a INT, b INT, PRIMARY KEY (a, b));
         INSERT INTO ab SELECT g / 100, g % 100 FROM generate_series(0, 999) AS g;
         CREATE INDEX t_w ON t (w);",
    )
    .await
    .unwrap();
    let (r, read) = counted(&mut txn, "SELECT id FROM t ORDER BY id DESC LIMIT 3").await;
    assert_eq!(ids(&r), vec![i(1000), i(999), i(998)]);
    assert_eq!(read, 3);
    let (r, read) = counted(
        &mut txn,
        "SELECT id FROM t ORDER BY id DESC LIMIT 2 OFFSET 5",
    )
    .await;
    assert_eq!(ids(&r), vec![i(995), i(994)]);
    assert_eq!(read, 7);
    // Conditions drop rows; a key range (read from its end).
    let (r, read) = counted(
        &mut txn,
        "SELECT id FROM t WHERE v = 7 ORDER BY id DESC LIMIT 3",
    )
    .await;
    assert_eq!(ids(&r), vec![i(997), i(987), i(977)]);
    assert!(read <= 64, "{read}");
    let (r, read) = counted(
        &mut txn,
        "SELECT id FROM t WHERE id < 500 AND id > 10 ORDER BY id DESC LIMIT 2",
    )
    .await;
    assert_eq!(ids(&r), vec![i(499), i(498)]);
    assert!(read <= 64, "{read}");
    // An index range fixing its columns (entries by key, backwards), the
    // key after a key range's columns, an index's bounded column.
    let (r, read) = counted(
        &mut txn,
        "SELECT id FROM t WHERE v = 3 ORDER BY id DESC LIMIT 2",
    )
    .await;
    assert_eq!(ids(&r), vec![i(993), i(983)]);
    assert!(read <= 64, "{read}");
    let (r, read) = counted(
        &mut txn,
        "SELECT b FROM ab WHERE a = 4 ORDER BY b DESC LIMIT 2",
    )
    .await;
    assert_eq!(ids(&r), vec![i(99), i(98)]);
    assert!(read <= 64, "{read}");
    let (r, read) = counted(
        &mut txn,
        "SELECT w FROM t WHERE w < 'x2' ORDER BY w DESC LIMIT 2",
    )
    .await;
    assert_eq!(ids(&r), vec![t("x199"), t("x198")]);
    assert!(read <= 64, "{read}");
    // Two key columns, both DESC; fewer rows than the limit.
    let (r, read) = counted(
        &mut txn,
        "SELECT a, b FROM ab ORDER BY a DESC, b DESC LIMIT 2",
    )
    .await;
    assert_eq!(r, vec![vec![i(9), i(99)], vec![i(9), i(98)]]);
    assert_eq!(read, 2);
    let (r, read) = counted(
        &mut txn,
        "SELECT id FROM t WHERE id >= 999 ORDER BY id DESC LIMIT 5",
    )
    .await;
    assert_eq!(ids(&r), vec![i(1000), i(999)]);
    assert_eq!(read, 2);
    // FOR UPDATE: the rows read, from the end.
    txn.1.clear();
    let (r, _) = counted(
        &mut txn,
        "SELECT id FROM t ORDER BY id DESC LIMIT 2 FOR UPDATE",
    )
    .await;
    assert_eq!(ids(&r), vec![i(1000), i(999)]);
    assert_eq!(txn.1.len(), 2);
}

#[tokio::test]
async fn a_limit_sorted_as_an_index_is_read_through_it() {
    let mut txn = MemTxn::default();
    run(
        &mut txn,
        "CREATE TABLE ev (id INT PRIMARY KEY, at INT NOT NULL, maybe INT, note TEXT);
         INSERT INTO ev SELECT g, 1001 - g, g, 'n' || g FROM generate_series(1, 1000) AS g;
         CREATE INDEX ev_maybe ON ev (maybe);
         CREATE INDEX ev_at ON ev (at);",
    )
    .await
    .unwrap();
    let (r, read) = counted(&mut txn, "SELECT id, at FROM ev ORDER BY at DESC LIMIT 3").await;
    assert_eq!(
        r,
        vec![vec![i(1), i(1000)], vec![i(2), i(999)], vec![i(3), i(998)]]
    );
    assert_eq!(read, 3, "three index entries");
    let (r, read) = counted(&mut txn, "SELECT id FROM ev ORDER BY at LIMIT 2 OFFSET 1").await;
    assert_eq!(ids(&r), vec![i(999), i(998)]);
    assert_eq!(read, 3);
    let plan = rows(
        &mut txn,
        "EXPLAIN SELECT * FROM ev ORDER BY at DESC LIMIT 3",
    )
    .await;
    assert!(
        format!("{plan:?}").contains("index ev_at in its order"),
        "{plan:?}"
    );
    // The limit a parameter (a prepared statement's plan is bound before
    // its value is known).
    let r = run_with(&mut txn, "SELECT id FROM ev ORDER BY at LIMIT $1", &[i(2)])
        .await
        .unwrap();
    assert_eq!(ids(&r.rows), vec![i(1000), i(999)]);
    // Not through the index: a column that may be NULL (ORDER BY places
    // NULLs otherwise than the index), a condition (the index could be
    // read to its end for a few rows), no limit.
    for (sql, first) in [
        ("SELECT id FROM ev ORDER BY maybe DESC LIMIT 1", 1000),
        (
            "SELECT id FROM ev WHERE note LIKE 'n1%' ORDER BY at DESC LIMIT 1",
            1,
        ),
        ("SELECT id FROM ev ORDER BY at DESC", 1),
    ] {
        let plan = rows(&mut txn, &format!("EXPLAIN {sql}")).await;
        assert!(format!("{plan:?}").contains("full scan"), "{sql}: {plan:?}");
        let (r, read) = counted(&mut txn, sql).await;
        assert_eq!(r[0], vec![i(first)], "{sql}");
        assert!(read >= 1000, "{sql}: {read}");
    }
}

#[tokio::test]
async fn an_exists_subquery_reads_until_it_finds_a_row() {
    let mut txn = thousand().await;
    let (r, read) = counted(
        &mut txn,
        "SELECT EXISTS (SELECT 1 FROM t WHERE w LIKE 'x9%')",
    )
    .await;
    assert_eq!(r, vec![vec![crate::Value::Bool(true)]]);
    assert!(read <= 64, "{read} pairs read for one row");
    let (r, read) = counted(
        &mut txn,
        "SELECT NOT EXISTS (SELECT id FROM t ORDER BY id DESC)",
    )
    .await;
    assert_eq!(r, vec![vec![crate::Value::Bool(false)]]);
    assert_eq!(read, 1);
    // Past an OFFSET; none there; its own LIMIT 0.
    for (sql, found) in [
        ("SELECT EXISTS (SELECT 1 FROM t OFFSET 999)", true),
        ("SELECT EXISTS (SELECT 1 FROM t OFFSET 1000)", false),
        ("SELECT EXISTS (SELECT 1 FROM t WHERE w = 'none')", false),
        ("SELECT EXISTS (SELECT 1 FROM t LIMIT 0)", false),
    ] {
        let (r, _) = counted(&mut txn, sql).await;
        assert_eq!(r, vec![vec![crate::Value::Bool(found)]], "{sql}");
    }
    // Correlated: read whole, as before.
    let (r, read) = counted(
        &mut txn,
        "SELECT count(*) FROM t AS a WHERE EXISTS (SELECT 1 FROM t AS b WHERE b.id = a.id + 1)",
    )
    .await;
    assert_eq!(r, vec![vec![i(999)]]);
    assert!(read >= 1000, "{read}");
}

#[tokio::test]
async fn what_a_limit_cannot_stop_early_for_is_read_whole_and_still_right() {
    let mut txn = thousand().await;
    for (sql, first) in [
        // Sorted otherwise than the key's order (or its reverse).
        ("SELECT id FROM t ORDER BY v, id LIMIT 1", 10),
        ("SELECT id FROM t ORDER BY v DESC, id LIMIT 1", 9),
        ("SELECT id FROM t ORDER BY w LIMIT 1", 1),
        // Grouped, DISTINCT, a condition with a subquery.
        ("SELECT max(id) FROM t LIMIT 1", 1000),
        ("SELECT DISTINCT v FROM t ORDER BY 1 DESC LIMIT 1", 9),
        ("SELECT id FROM t WHERE id > (SELECT 998) LIMIT 1", 999),
    ] {
        let (r, read) = counted(&mut txn, sql).await;
        assert_eq!(ids(&r), vec![i(first)], "{sql}");
        assert!(read >= 1000, "{sql}: {read}");
    }
    // random() is drawn once per row: not drawn again to decide it.
    let (r, read) = counted(
        &mut txn,
        "SELECT count(*) FROM (SELECT id FROM t WHERE random() < 2 LIMIT 4) AS s",
    )
    .await;
    assert_eq!(r, vec![vec![i(4)]]);
    assert_eq!(read, 1000);
    // LIMIT NULL and LIMIT ALL are no limit; a negative one is refused.
    let (r, _) = counted(&mut txn, "SELECT id FROM t LIMIT NULL").await;
    assert_eq!(r.len(), 1000);
    let err = run(&mut txn, "SELECT id FROM t LIMIT -1")
        .await
        .unwrap_err();
    assert_eq!(err.code, "2201W");
}

#[tokio::test]
async fn a_locking_read_with_a_limit_locks_only_the_rows_it_read() {
    let mut txn = thousand().await;
    txn.1.clear();
    let (r, read) = counted(&mut txn, "SELECT id FROM t ORDER BY id LIMIT 2 FOR UPDATE").await;
    assert_eq!(ids(&r), vec![i(1), i(2)]);
    assert_eq!((read, txn.1.len()), (2, 2));
    txn.1.clear();
    let (r, _) = counted(&mut txn, "SELECT id FROM t WHERE v = 5 LIMIT 1 FOR UPDATE").await;
    assert_eq!(ids(&r), vec![i(5)]);
    assert!(txn.1.len() <= 64, "{} rows locked", txn.1.len());
}
