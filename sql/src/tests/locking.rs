//! `FOR UPDATE SKIP LOCKED` and `NOWAIT` over a transaction that sees
//! rows held by another one: which rows get locked (only those the query
//! returns, after its conditions, ORDER BY and LIMIT), what is skipped,
//! and the check again under the lock of a row that changed since it was
//! read.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::catalog::{decode_table, table_key};
use crate::{BoxFuture, KvTxn, Locked, Pairs, QueryResult, Result, Value, execute, parse};

/// A transaction beside another one: `held` are the keys the other holds;
/// `changed` are rows the other changed after this one read them (their
/// value as read under the lock). `locked` lists what this one locked.
#[derive(Default)]
struct Beside {
    rows: BTreeMap<Vec<u8>, Vec<u8>>,
    held: HashSet<Vec<u8>>,
    changed: HashMap<Vec<u8>, Vec<u8>>,
    locked: Vec<Vec<u8>>,
    /// Keys read for update the waiting way (a plain `FOR UPDATE`, and
    /// the rows UPDATE and DELETE read).
    for_update: Vec<Vec<u8>>,
}

impl KvTxn for Beside {
    fn get_for_update<'a>(&'a mut self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        self.for_update.push(key.to_vec());
        self.get(key)
    }

    fn get<'a>(&'a mut self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        Box::pin(async move { Ok(self.rows.get(key).cloned()) })
    }

    fn scan<'a>(&'a mut self, start: &'a [u8], end: &'a [u8]) -> BoxFuture<'a, Result<Pairs>> {
        Box::pin(async move {
            Ok(self
                .rows
                .range(start.to_vec()..end.to_vec())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect())
        })
    }

    fn get_many_skip_locked<'a>(
        &'a mut self,
        keys: &'a [Vec<u8>],
    ) -> BoxFuture<'a, Result<Locked>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for k in keys {
                if self.held.contains(k) {
                    out.push(None);
                    continue;
                }
                self.locked.push(k.clone());
                if let Some(v) = self.changed.remove(k) {
                    self.rows.insert(k.clone(), v);
                }
                out.push(Some(self.rows.get(k).cloned()));
            }
            Ok(out)
        })
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<()> {
        self.rows.insert(key, value);
        Ok(())
    }

    fn delete(&mut self, key: Vec<u8>) -> Result<()> {
        self.rows.remove(&key);
        Ok(())
    }
}

async fn run(txn: &mut Beside, sql: &str) -> Result<QueryResult> {
    let mut last = QueryResult::default();
    for stmt in parse(sql)? {
        last = execute(txn, &stmt, &[]).await?;
    }
    Ok(last)
}

async fn ids(txn: &mut Beside, sql: &str) -> Vec<i64> {
    let r = run(txn, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    r.rows
        .iter()
        .map(|row| match &row[0] {
            Value::Int(n) => *n,
            other => panic!("{sql}: {other:?}"),
        })
        .collect()
}

/// Jobs 1–5 ready, 6 done; the key of job `n` by `key(n)`.
async fn queue() -> (Beside, impl Fn(i64) -> Vec<u8>) {
    let mut txn = Beside::default();
    run(
        &mut txn,
        "CREATE TABLE jobs (id INT PRIMARY KEY, state TEXT NOT NULL);
         INSERT INTO jobs VALUES (1, 'ready'), (2, 'ready'), (3, 'ready'), (4, 'ready'),
                                 (5, 'ready'), (6, 'done');",
    )
    .await
    .unwrap();
    let def = decode_table(&txn.rows[&table_key("jobs")]).unwrap();
    (txn, move |n| def.row_key(&[Value::Int(n)]).unwrap())
}

const NEXT: &str =
    "SELECT id FROM jobs WHERE state = 'ready' ORDER BY id LIMIT 2 FOR UPDATE SKIP LOCKED";

#[tokio::test]
async fn skip_locked_locks_only_the_rows_it_returns_and_passes_held_ones_by() {
    let (mut txn, key) = queue().await;
    txn.held.insert(key(1));
    txn.held.insert(key(3));
    assert_eq!(ids(&mut txn, NEXT).await, vec![2, 4]);
    // 1 and 3 were tried and skipped, 5 and 6 never asked for (LIMIT; 6
    // fails the condition): only what the query returns is locked.
    assert_eq!(txn.locked, vec![key(2), key(4)]);
    txn.locked.clear();
    assert_eq!(
        ids(
            &mut txn,
            "SELECT id FROM jobs WHERE state = 'ready' ORDER BY id DESC LIMIT 1 OFFSET 1 \
             FOR UPDATE SKIP LOCKED"
        )
        .await,
        vec![4],
        "the rows OFFSET passes by are locked too: 5 and 4 locked, 5 passed by"
    );
    assert_eq!(txn.locked, vec![key(5), key(4)]);
}

#[tokio::test]
async fn a_row_changed_before_its_lock_is_checked_again_and_another_taken() {
    let (mut txn, key) = queue().await;
    // Job 1 was taken and finished by another worker between this one's
    // read and its lock: its state under the lock is 'done'.
    let done = {
        let mut other = Beside::default();
        run(
            &mut other,
            "CREATE TABLE jobs (id INT PRIMARY KEY, state TEXT NOT NULL);
             INSERT INTO jobs VALUES (1, 'done');",
        )
        .await
        .unwrap();
        other.rows[&key(1)].clone()
    };
    txn.changed.insert(key(1), done);
    assert_eq!(ids(&mut txn, NEXT).await, vec![2, 3]);
    assert_eq!(txn.locked, vec![key(1), key(2), key(3)]);
}

#[tokio::test]
async fn nowait_fails_on_a_held_row_and_locks_free_ones() {
    let (mut txn, key) = queue().await;
    txn.held.insert(key(2));
    let e = run(
        &mut txn,
        "SELECT * FROM jobs WHERE id = 2 FOR UPDATE NOWAIT",
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, crate::sqlstate::LOCK_NOT_AVAILABLE, "{e}");
    assert_eq!(
        e.message,
        "could not obtain lock on row in relation \"jobs\""
    );
    assert_eq!(
        ids(
            &mut txn,
            "SELECT id FROM jobs WHERE id IN (1, 3) ORDER BY id FOR UPDATE NOWAIT"
        )
        .await,
        vec![1, 3]
    );
    // A NOWAIT over the whole table meets 2 and fails.
    assert!(
        run(&mut txn, "SELECT id FROM jobs FOR UPDATE NOWAIT")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_claim_by_update_reads_only_the_keys_its_subquery_locked() {
    let (mut txn, key) = queue().await;
    txn.held.insert(key(1));
    assert_eq!(
        ids(
            &mut txn,
            "UPDATE jobs SET state = 'running' WHERE id IN (SELECT id FROM jobs \
             WHERE state = 'ready' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id"
        )
        .await,
        vec![2]
    );
    assert_eq!(txn.locked, vec![key(2)]);
    // The UPDATE read job 2 by its key and no other row: a whole-table
    // read for update would have waited for job 1, which the other
    // transaction holds.
    assert_eq!(txn.for_update, vec![key(2)]);
}
