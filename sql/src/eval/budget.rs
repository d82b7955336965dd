//! The memory a query's computation may hold, and where it runs.
//!
//! A query is computed in memory after its reads (`eval::query`): join
//! products, groups, DISTINCT sets, sort keys and results. Each is charged
//! to a per-query budget as it grows (an estimate: the values' sizes plus
//! a fixed cost per value and row); past the budget the statement fails
//! with 53200 (out_of_memory) and everything it held is dropped, so a
//! cross join of two large tables ends cleanly instead of taking the node.
//! The budget is a process-wide setting ([`set_memory_budget`]; a node's
//! `--sql-memory-budget`).
//!
//! The computation is synchronous. A large one (its estimated work — the
//! product of the rows its joins combine — over [`INLINE_WORK`]) runs, on
//! a multi-threaded runtime, in `block_in_place`, which hands this worker's
//! other tasks (Raft heartbeats, lease renewals, other sessions) to another
//! thread first, so a long query never starves them; a small one runs
//! where it is (handing a worker over costs more than a point query).

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Result, SqlError};
use crate::value::Value;

/// The default per-query budget: 256 MiB.
pub const DEFAULT_MEMORY_BUDGET: usize = 256 << 20;

static BUDGET: AtomicUsize = AtomicUsize::new(DEFAULT_MEMORY_BUDGET);

thread_local! {
    /// (bytes charged, limit) of the query computing on this thread.
    static CHARGED: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
}

/// Sets the per-query memory budget of this process.
pub fn set_memory_budget(bytes: usize) {
    BUDGET.store(bytes.max(1), Ordering::Relaxed);
}

/// The per-query memory budget of this process.
pub fn memory_budget() -> usize {
    BUDGET.load(Ordering::Relaxed)
}

/// Estimated work (rows combined) up to which a computation runs inline.
pub const INLINE_WORK: usize = 10_000;

/// Runs `f` (a query's computation, of estimated `work`) against a fresh
/// budget, off the runtime's reactor when it is large.
pub fn budgeted<T>(work: usize, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let limit = memory_budget();
    // The session's time zone goes along, wherever `f` runs.
    let zone = crate::zone::current();
    let run = move || {
        let previous = CHARGED.with(|c| c.replace(Some((0, limit))));
        let out = crate::zone::with_zone(zone, f);
        CHARGED.with(|c| c.set(previous));
        out
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h)
            if work > INLINE_WORK
                && h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread =>
        {
            tokio::task::block_in_place(run)
        }
        _ => run(),
    }
}

/// Charges `bytes` to the running query's budget: 53200 past it. Outside a
/// budgeted computation it does nothing.
pub fn charge(bytes: usize) -> Result<()> {
    CHARGED.with(|c| match c.get() {
        None => Ok(()),
        Some((used, limit)) => {
            let used = used.saturating_add(bytes);
            c.set(Some((used, limit)));
            if used > limit {
                Err(SqlError::out_of_memory(format!(
                    "the query needs more than its memory budget of {limit} bytes \
                     (joins, groups, sorts and results are held in memory); \
                     narrow it, or raise --sql-memory-budget"
                )))
            } else {
                Ok(())
            }
        }
    })
}

/// The estimated memory of a row.
pub fn row_bytes(row: &[Value]) -> usize {
    const PER_VALUE: usize = std::mem::size_of::<Value>();
    const PER_ROW: usize = 24;
    PER_ROW
        + row
            .iter()
            .map(|v| {
                PER_VALUE
                    + match v {
                        Value::Text(s) => s.len(),
                        Value::Bytes(b) => b.len(),
                        _ => 0,
                    }
            })
            .sum::<usize>()
}

/// Charges a row.
pub fn charge_row(row: &[Value]) -> Result<()> {
    charge(row_bytes(row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_computation_past_its_budget_fails_with_53200_and_the_next_starts_afresh() {
        let row = vec![Value::Int(1), Value::Text("x".repeat(100))];
        let per_row = row_bytes(&row);
        let limit = memory_budget();
        let rows = limit / per_row + 1;
        let e = budgeted(0, || {
            for _ in 0..rows {
                charge_row(&row)?;
            }
            Ok(())
        })
        .unwrap_err();
        assert_eq!(e.code, "53200");
        assert!(budgeted(0, || charge_row(&row)).is_ok(), "a fresh budget");
        assert!(
            charge(usize::MAX).is_ok(),
            "outside a computation: no budget"
        );
    }
}
