//! The bank workload: money moves between random accounts and never
//! appears or vanishes.
//!
//! ```text
//!   BEGIN
//!     SELECT balance FROM bank_accounts WHERE id = $from
//!     SELECT balance FROM bank_accounts WHERE id = $to
//!     -- only if balance(from) >= amount:
//!     UPDATE bank_accounts SET balance = balance - $amount WHERE id = $from
//!     UPDATE bank_accounts SET balance = balance + $amount WHERE id = $to
//!   COMMIT
//! ```
//!
//! INVARIANT (checked after the run): the sum of the balances and the number
//! of accounts are what they were before it. A transfer that finds too
//! little money commits without writing.
//!
//! NB: accounts are read with plain `SELECT`s, not `FOR UPDATE`: two
//! transfers sharing an account conflict when they upgrade to writes
//! (Spanlite: wound-wait aborts; PostgreSQL: serialization failures or
//! deadlocks). Both are counted as aborts and retried.

use rand::Rng;

use super::load::{TableDef, recreate};
use super::report::Check;
use super::target::{Connection, DbError, Param, Txn, int_cell};

/// Every account's balance after setup.
pub const INITIAL_BALANCE: i64 = 1000;

/// A transfer moves between 1 and this much.
const MAX_AMOUNT: i64 = 100;

/// Outcome of a transfer that moved money.
pub(crate) const MOVED: &str = "transfers";
/// Outcome of a transfer that found too little money (committed, no writes).
pub(crate) const INSUFFICIENT: &str = "insufficient funds";

/// One transfer, chosen before its first attempt so retries redo the same.
#[derive(Clone, Debug)]
pub(crate) struct Transfer {
    from: i64,
    to: i64,
    amount: i64,
}

impl Transfer {
    /// Two different accounts among `accounts` (at least 2) and an amount.
    pub(crate) fn random(rng: &mut impl Rng, accounts: i64) -> Transfer {
        let from = rng.random_range(0..accounts);
        // Any account but `from`, uniformly.
        let to = (from + rng.random_range(1..accounts)) % accounts;
        Transfer {
            from,
            to,
            amount: rng.random_range(1..=MAX_AMOUNT),
        }
    }
}

/// `bank_accounts`.
const TABLE: TableDef = TableDef {
    name: "bank_accounts",
    columns: "id BIGINT PRIMARY KEY, balance BIGINT NOT NULL",
    insert_columns: "id, balance",
};

/// Drops and recreates `bank_accounts` with `accounts` accounts of
/// [`INITIAL_BALANCE`].
pub(crate) async fn setup(conn: &mut dyn Connection, accounts: u64) -> Result<(), DbError> {
    let rows = (0..accounts).map(|id| format!("({id}, {INITIAL_BALANCE})"));
    recreate(conn, TABLE, rows).await
}

/// One attempt at `t`: a transaction that commits or is rolled back.
/// Returns the outcome to count ([`MOVED`] or [`INSUFFICIENT`]).
pub(crate) async fn attempt(
    conn: &mut dyn Connection,
    t: &Transfer,
) -> Result<&'static str, DbError> {
    let mut tx = conn.begin().await?;
    match transfer(tx.as_mut(), t).await {
        Ok(outcome) => tx.commit().await.map(|()| outcome),
        Err(e) => {
            tx.rollback().await;
            Err(e)
        }
    }
}

async fn transfer(tx: &mut dyn Txn, t: &Transfer) -> Result<&'static str, DbError> {
    let from = balance(tx, t.from).await?;
    balance(tx, t.to).await?;
    if from < t.amount {
        return Ok(INSUFFICIENT);
    }
    for (sql, id) in [
        (
            "UPDATE bank_accounts SET balance = balance - $1 WHERE id = $2",
            t.from,
        ),
        (
            "UPDATE bank_accounts SET balance = balance + $1 WHERE id = $2",
            t.to,
        ),
    ] {
        let n = tx
            .execute(sql, &[Param::Int(t.amount), Param::Int(id)])
            .await?;
        if n != 1 {
            return Err(DbError::bad_result(format!(
                "updating account {id} changed {n} rows"
            )));
        }
    }
    Ok(MOVED)
}

async fn balance(tx: &mut dyn Txn, id: i64) -> Result<i64, DbError> {
    let rows = tx
        .query(
            "SELECT balance FROM bank_accounts WHERE id = $1",
            &[Param::Int(id)],
        )
        .await?;
    if rows.len() != 1 {
        return Err(DbError::bad_result(format!(
            "account {id}: {} rows",
            rows.len()
        )));
    }
    int_cell(&rows, 0, 0)
}

/// The number of accounts and the sum of their balances, read in one
/// statement.
pub(crate) async fn totals(conn: &mut dyn Connection) -> Result<(i64, i64), DbError> {
    let rows = conn
        .query(
            "SELECT count(*), CAST(sum(balance) AS BIGINT) FROM bank_accounts",
            &[],
        )
        .await?;
    Ok((int_cell(&rows, 0, 0)?, int_cell(&rows, 0, 1)?))
}

/// Compares the totals read before and after the run.
pub(crate) fn check(before: (i64, i64), after: (i64, i64)) -> Check {
    Check {
        what: format!("total balance of {} accounts", before.0),
        expected: before.1,
        found: after.1,
        passed: before == after,
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn a_transfer_is_between_two_different_accounts() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..10_000 {
            let t = Transfer::random(&mut rng, 3);
            assert_ne!(t.from, t.to);
            assert!((0..3).contains(&t.from) && (0..3).contains(&t.to));
            assert!((1..=MAX_AMOUNT).contains(&t.amount));
        }
    }

    #[test]
    fn the_check_fails_when_money_or_accounts_change() {
        assert!(check((10, 10_000), (10, 10_000)).passed);
        assert!(!check((10, 10_000), (10, 9_999)).passed);
        assert!(!check((10, 10_000), (9, 10_000)).passed);
    }
}
