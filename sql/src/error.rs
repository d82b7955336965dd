//! SQL errors with PostgreSQL SQLSTATE codes (DESIGN.md §7).

use thiserror::Error;

/// A SQL error: a five-character SQLSTATE and a message for people.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{message} (SQLSTATE {code})")]
pub struct SqlError {
    /// The SQLSTATE, e.g. `42P01`.
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
}

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal;)*) => {
        impl SqlError {
            $(
                $(#[$doc])*
                pub fn $name(message: impl Into<String>) -> Self {
                    SqlError { code: $code, message: message.into() }
                }
            )*
        }
    };
}

codes! {
    /// 42601: the statement does not parse.
    syntax = "42601";
    /// 42P01: no such table.
    undefined_table = "42P01";
    /// 42703: no such column.
    undefined_column = "42703";
    /// 42P07: the table exists already.
    duplicate_table = "42P07";
    /// 42701: a column is named twice.
    duplicate_column = "42701";
    /// 42804: a value of the wrong type.
    datatype_mismatch = "42804";
    /// 42883: no such function or operator for these types.
    undefined_function = "42883";
    /// 42803: an aggregate where it is not allowed (or a column outside one).
    grouping = "42803";
    /// 23505: a unique key (or primary key) would be duplicated.
    unique_violation = "23505";
    /// 23502: NULL in a NOT NULL column.
    not_null_violation = "23502";
    /// 22P02: text that does not convert to the column's type.
    invalid_text = "22P02";
    /// 22003: a number out of range (overflow).
    numeric_out_of_range = "22003";
    /// 22012: division by zero.
    division_by_zero = "22012";
    /// 22023: an invalid parameter value (e.g. a negative LIMIT).
    invalid_parameter = "22023";
    /// 0A000: valid SQL that Spanlite does not support (yet).
    not_supported = "0A000";
    /// 40001: the transaction was aborted by a conflict; retry it.
    serialization_failure = "40001";
    /// 40003: a commit was sent and its outcome is unknown (statement
    /// completion unknown): find out before retrying.
    statement_completion_unknown = "40003";
    /// 25006: a write in a read-only transaction.
    read_only = "25006";
    /// 57014: the client cancelled the statement.
    query_canceled = "57014";
    /// 08006: the cluster could not be reached.
    unavailable = "08006";
    /// XX000: an internal error (a bug, or corrupt data).
    internal = "XX000";
}

impl SqlError {
    /// 54001: the statement is too complex to run (too many operators,
    /// expressions nested too deep).
    pub fn too_complex(why: impl Into<String>) -> Self {
        SqlError {
            code: "54001",
            message: format!("statement too complex: {}", why.into()),
        }
    }

    /// True when retrying the whole transaction may succeed (40001).
    pub fn is_retryable(&self) -> bool {
        self.code == "40001"
    }
}

/// Results of this crate.
pub type Result<T, E = SqlError> = std::result::Result<T, E>;
