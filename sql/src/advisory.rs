//! Advisory locks as SQL calls them (`pg_advisory_lock` and kin): what a
//! call asks for ([`Request`]); a server session takes and keeps the locks
//! ([`crate::KvTxn::advisory`]).
//!
//! Like sequence calls, they are answered before a statement is bound, in
//! a SELECT without FROM (`SELECT pg_try_advisory_lock(42)`, as Rails,
//! Prisma, Flyway and golang-migrate call them); elsewhere they are
//! refused with 0A000.

use crate::error::{Result, SqlError};
use crate::value::Value;

/// The catalog prefix of advisory lock records (beside the other catalog
/// prefixes: `[0x02, 'c']` tables, `'s'` sequences, …); a server session
/// keeps one record per lock held.
pub const RECORDS: &[u8] = &[0x02, b'a'];

/// A lock's key: PostgreSQL has two key spaces, one `bigint` and one pair
/// of `integer`s, which never meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// 1: one `bigint`; 2: two `integer`s.
    pub space: u8,
    /// The bigint, or the first integer in the high 32 bits and the
    /// second in the low 32.
    pub value: i64,
}

/// What a call does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Take the lock (`xact`: until the transaction ends, else until the
    /// session unlocks it or ends); `wait`: until it is free, else answer
    /// whether it was taken at once.
    Lock { xact: bool, wait: bool },
    /// Release one session-level hold (`pg_advisory_unlock`): whether the
    /// session held it.
    Unlock,
    /// Release every session-level hold of the session.
    UnlockAll,
}

/// One call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub op: Op,
    /// `None` for [`Op::UnlockAll`].
    pub key: Option<Key>,
}

impl Op {
    /// The operation a function of this name does; `None` if it is not an
    /// advisory lock function. Shared locks are refused (0A000).
    pub fn of(name: &str) -> Option<Result<Op>> {
        let op = match name {
            "pg_advisory_lock" => Op::Lock {
                xact: false,
                wait: true,
            },
            "pg_try_advisory_lock" => Op::Lock {
                xact: false,
                wait: false,
            },
            "pg_advisory_xact_lock" => Op::Lock {
                xact: true,
                wait: true,
            },
            "pg_try_advisory_xact_lock" => Op::Lock {
                xact: true,
                wait: false,
            },
            "pg_advisory_unlock" => Op::Unlock,
            "pg_advisory_unlock_all" => Op::UnlockAll,
            "pg_advisory_lock_shared"
            | "pg_try_advisory_lock_shared"
            | "pg_advisory_xact_lock_shared"
            | "pg_try_advisory_xact_lock_shared"
            | "pg_advisory_unlock_shared" => {
                return Some(Err(SqlError::not_supported(format!(
                    "{name}: shared advisory locks (the exclusive ones are supported)"
                ))));
            }
            _ => return None,
        };
        Some(Ok(op))
    }

    /// What the call returns for `taken` (whether the lock was taken or
    /// released): `void` (shown as an empty value) for the waiting forms
    /// and `pg_advisory_unlock_all`, else a boolean.
    pub fn result(self, taken: bool) -> Value {
        match self {
            Op::Lock { wait: true, .. } | Op::UnlockAll => Value::Text(String::new()),
            Op::Lock { wait: false, .. } | Op::Unlock => Value::Bool(taken),
        }
    }
}

/// The request of function `name` (an advisory lock function: [`Op::of`])
/// with its arguments' values: a `bigint`, or two `integer`s.
pub fn request(name: &str, args: &[Value]) -> Result<Request> {
    let op = Op::of(name).unwrap_or_else(|| {
        Err(SqlError::internal(format!(
            "{name} is not an advisory lock function"
        )))
    })?;
    let int = |v: &Value| -> Result<i64> {
        match v.clone().cast_to(crate::value::DataType::Int)? {
            Value::Int(i) => Ok(i),
            // PostgreSQL's advisory functions are strict: NULL in, NULL
            // out; a lock on nothing is refused here instead.
            _ => Err(SqlError::null_value_not_allowed(format!("{name} of NULL"))),
        }
    };
    let arity = || {
        SqlError::undefined_function(format!(
            "function {name} with {} arguments does not exist",
            args.len()
        ))
    };
    let key = match (op, args) {
        (Op::UnlockAll, []) => None,
        (Op::UnlockAll, _) => return Err(arity()),
        (_, [k]) => Some(Key {
            space: 1,
            value: int(k)?,
        }),
        (_, [a, b]) => {
            let half = |v: &Value| -> Result<i64> {
                let i = int(v)?;
                i32::try_from(i).map(i64::from).map_err(|_| {
                    SqlError::numeric_out_of_range(format!(
                        "{name}: {i} is out of range for type integer"
                    ))
                })
            };
            Some(Key {
                space: 2,
                value: (half(a)? << 32) | (half(b)? & 0xffff_ffff),
            })
        }
        _ => return Err(arity()),
    };
    Ok(Request { op, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_key_spaces_never_meet_and_pairs_keep_both_halves() {
        let one = request("pg_advisory_lock", &[Value::Int(5)]).unwrap();
        let pair = request("pg_advisory_lock", &[Value::Int(0), Value::Int(5)]).unwrap();
        assert_ne!(one.key, pair.key);
        let neg = request("pg_advisory_lock", &[Value::Int(-1), Value::Int(-2)]).unwrap();
        let other = request("pg_advisory_lock", &[Value::Int(-2), Value::Int(-1)]).unwrap();
        assert_ne!(neg.key, other.key);
        assert_eq!(neg.key.unwrap().value, (-1i64 << 32) | 0xffff_fffe);
        assert!(request("pg_advisory_lock", &[Value::Int(1 << 40), Value::Int(0)]).is_err());
        assert!(request("pg_advisory_lock", &[]).is_err());
        assert!(request("pg_advisory_lock", &[Value::Null]).is_err());
        assert_eq!(request("pg_advisory_unlock_all", &[]).unwrap().key, None);
    }

    #[test]
    fn waiting_forms_return_void_and_try_forms_a_boolean() {
        let wait = Op::of("pg_advisory_lock").unwrap().unwrap();
        let try_ = Op::of("pg_try_advisory_xact_lock").unwrap().unwrap();
        assert_eq!(wait.result(true), Value::Text(String::new()));
        assert_eq!(try_.result(false), Value::Bool(false));
        assert!(Op::of("pg_advisory_lock_shared").unwrap().is_err());
        assert!(Op::of("pg_advisory").is_none());
    }
}
