//! The kv and readonly workloads: single-statement point operations on
//! `kv(k BIGINT PRIMARY KEY, v TEXT)`, each its own transaction.
//!
//! ```text
//!   read  (probability read_fraction):  SELECT v FROM kv WHERE k = $1
//!   write (otherwise):                  UPDATE kv SET v = $1 WHERE k = $2
//! ```
//!
//! The readonly workload is reads only. On Spanlite a lone `SELECT` is a
//! strong read-only transaction without locks; a lone `UPDATE` is retried
//! by the node itself on conflict, which the report cannot see.
//!
//! INVARIANT (checked after the run): every key is still there, once.

use rand::Rng;

use super::load::{TableDef, recreate};
use super::report::Check;
use super::target::{Connection, DbError, Param, int_cell};

/// Outcome of a point read.
pub(crate) const READ: &str = "reads";
/// Outcome of a point update.
pub(crate) const WRITE: &str = "writes";

/// One operation, chosen before its first attempt.
#[derive(Clone, Debug)]
pub(crate) enum KvOp {
    /// Read the value of a key.
    Read(i64),
    /// Give a key a new value.
    Write(i64, String),
}

impl KvOp {
    /// A read of a random key among `keys` with probability
    /// `read_fraction`, else a write of a random value.
    pub(crate) fn random(rng: &mut impl Rng, keys: i64, read_fraction: f64) -> KvOp {
        let k = rng.random_range(0..keys);
        if rng.random_bool(read_fraction) {
            KvOp::Read(k)
        } else {
            KvOp::Write(k, value(rng))
        }
    }
}

/// A fresh 32-character value (hexadecimal, so it is also a safe literal).
fn value(rng: &mut impl Rng) -> String {
    format!("{:032x}", rng.random::<u128>())
}

/// `kv`.
const TABLE: TableDef = TableDef {
    name: "kv",
    columns: "k BIGINT PRIMARY KEY, v TEXT",
    insert_columns: "k, v",
};

/// Drops and recreates `kv` with keys `0..keys`.
pub(crate) async fn setup(
    conn: &mut dyn Connection,
    keys: u64,
    rng: &mut (impl Rng + Send),
) -> Result<(), DbError> {
    let rows = (0..keys).map(|k| format!("({k}, '{}')", value(rng)));
    recreate(conn, TABLE, rows).await
}

/// One attempt at `op`; returns the outcome to count ([`READ`] or
/// [`WRITE`]). A missing key is an unexpected result.
pub(crate) async fn attempt(conn: &mut dyn Connection, op: &KvOp) -> Result<&'static str, DbError> {
    let (found, k, outcome) = match op {
        KvOp::Read(k) => {
            let rows = conn
                .query("SELECT v FROM kv WHERE k = $1", &[Param::Int(*k)])
                .await?;
            (rows.len() as u64, *k, READ)
        }
        KvOp::Write(k, v) => {
            let n = conn
                .execute(
                    "UPDATE kv SET v = $1 WHERE k = $2",
                    &[Param::Text(v.clone()), Param::Int(*k)],
                )
                .await?;
            (n, *k, WRITE)
        }
    };
    if found != 1 {
        return Err(DbError::bad_result(format!("key {k}: {found} rows")));
    }
    Ok(outcome)
}

/// The number of keys.
pub(crate) async fn count(conn: &mut dyn Connection) -> Result<i64, DbError> {
    let rows = conn.query("SELECT count(*) FROM kv", &[]).await?;
    int_cell(&rows, 0, 0)
}

/// Compares the key counts before and after the run.
pub(crate) fn check(before: i64, after: i64) -> Check {
    Check {
        what: "number of keys".into(),
        expected: before,
        found: after,
        passed: before == after,
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn the_read_fraction_is_honoured() {
        let mut rng = StdRng::seed_from_u64(1);
        let reads = (0..10_000)
            .filter(|_| matches!(KvOp::random(&mut rng, 10, 0.9), KvOp::Read(_)))
            .count();
        assert!((8_800..9_200).contains(&reads), "{reads} reads of 10000");
        assert!((0..100).all(|_| matches!(KvOp::random(&mut rng, 10, 1.0), KvOp::Read(_))));
        assert!((0..100).all(|_| matches!(KvOp::random(&mut rng, 10, 0.0), KvOp::Write(..))));
    }
}
