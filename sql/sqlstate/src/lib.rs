//! The one table of SQLSTATE codes (PostgreSQL's appendix A): every code
//! Spanlite raises, and the few it only reports (from PostgreSQL as the
//! workload's comparison target), each a constant with PostgreSQL's
//! condition name. Code anywhere in the workspace names a code through this
//! table, never as a literal: the SQL errors (`spanlite_sql::SqlError`), the
//! abort reasons of the transaction core, the PostgreSQL port's protocol
//! errors, the workload driver's report and the test harness.
//!
//! A leaf crate with no dependencies, so the driver and the test harness
//! (which must not pull in the storage engine) can use it too.

macro_rules! codes {
    ($( $(#[$doc:meta])* $konst:ident = $code:literal, $name:literal; )*) => {
        $( $(#[$doc])* pub const $konst: &str = $code; )*

        /// Every code in the table with its condition name, in table order.
        pub const ALL: &[(&str, &str)] = &[$(($code, $name)),*];

        /// PostgreSQL's condition name of `code` (`"40001"` →
        /// `serialization_failure`), if the table has it.
        pub fn name(code: &str) -> Option<&'static str> {
            match code {
                $($code => Some($name),)*
                _ => None,
            }
        }
    };
}

codes! {
    /// Class 08: the connection failed or the cluster could not be reached.
    CONNECTION_FAILURE = "08006", "connection_failure";
    /// A message out of place or malformed on the wire protocol.
    PROTOCOL_VIOLATION = "08P01", "protocol_violation";
    /// Valid SQL that Spanlite does not support (yet).
    FEATURE_NOT_SUPPORTED = "0A000", "feature_not_supported";
    /// A subquery used as a value returned more than one row.
    CARDINALITY_VIOLATION = "21000", "cardinality_violation";
    /// A sequence has no values left (no CYCLE).
    SEQUENCE_GENERATOR_LIMIT_EXCEEDED = "2200H", "sequence_generator_limit_exceeded";
    /// A value given for a `GENERATED ALWAYS` identity column.
    GENERATED_ALWAYS = "428C9", "generated_always";
    /// Not possible in the object's state (`currval` before `nextval`).
    OBJECT_NOT_IN_PREREQUISITE_STATE = "55000", "object_not_in_prerequisite_state";
    /// A line of COPY input that does not fit the table.
    BAD_COPY_FILE_FORMAT = "22P04", "bad_copy_file_format";
    /// A number out of range (overflow).
    NUMERIC_VALUE_OUT_OF_RANGE = "22003", "numeric_value_out_of_range";
    /// A string longer than its column's declared length.
    STRING_DATA_RIGHT_TRUNCATION = "22001", "string_data_right_truncation";
    /// A time that does not parse (`AS OF SYSTEM TIME`).
    INVALID_DATETIME_FORMAT = "22007", "invalid_datetime_format";
    /// A date or time whose fields are out of range (February 30th).
    DATETIME_FIELD_OVERFLOW = "22008", "datetime_field_overflow";
    /// An interval whose fields are out of range.
    INTERVAL_FIELD_OVERFLOW = "22015", "interval_field_overflow";
    /// A substring with a negative length.
    SUBSTRING_ERROR = "22011", "substring_error";
    /// Division by zero.
    DIVISION_BY_ZERO = "22012", "division_by_zero";
    /// An escape string of more than one character, or a pattern that
    /// ends with its escape character (`SIMILAR TO … ESCAPE`).
    INVALID_ESCAPE_SEQUENCE = "22025", "invalid_escape_sequence";
    /// A binary parameter that is not its type's binary form.
    INVALID_BINARY_REPRESENTATION = "22P03", "invalid_binary_representation";
    /// An invalid parameter value (a setting, a mode name).
    INVALID_PARAMETER_VALUE = "22023", "invalid_parameter_value";
    /// A NULL where none is allowed (`format('%I', NULL)`, a JSON object's
    /// key).
    NULL_VALUE_NOT_ALLOWED = "22004", "null_value_not_allowed";
    /// The logarithm of zero or of a negative number.
    INVALID_ARGUMENT_FOR_LOGARITHM = "2201E", "invalid_argument_for_logarithm";
    /// A power (or square root) without a real result.
    INVALID_ARGUMENT_FOR_POWER_FUNCTION = "2201F", "invalid_argument_for_power_function";
    /// Bytes that are not valid in their encoding (`convert_from`).
    CHARACTER_NOT_IN_REPERTOIRE = "22021", "character_not_in_repertoire";
    /// A character the target encoding has not (`convert_to`).
    UNTRANSLATABLE_CHARACTER = "22P05", "untranslatable_character";
    /// `width_bucket` over no range or into no buckets.
    INVALID_ARGUMENT_FOR_WIDTH_BUCKET_FUNCTION = "2201G", "invalid_argument_for_width_bucket_function";
    /// An `ntile` bucket count that is not positive.
    INVALID_ARGUMENT_FOR_NTILE_FUNCTION = "22014", "invalid_argument_for_ntile_function";
    /// An `nth_value` position that is not positive.
    INVALID_ARGUMENT_FOR_NTH_VALUE_FUNCTION = "22016", "invalid_argument_for_nth_value_function";
    /// A regular expression that does not compile.
    INVALID_REGULAR_EXPRESSION = "2201B", "invalid_regular_expression";
    /// A negative LIMIT.
    INVALID_ROW_COUNT_IN_LIMIT_CLAUSE = "2201W", "invalid_row_count_in_limit_clause";
    /// A negative OFFSET.
    INVALID_ROW_COUNT_IN_RESULT_OFFSET_CLAUSE = "2201X", "invalid_row_count_in_result_offset_clause";
    /// Text that does not convert to the type asked for.
    INVALID_TEXT_REPRESENTATION = "22P02", "invalid_text_representation";
    /// NULL in a NOT NULL column.
    NOT_NULL_VIOLATION = "23502", "not_null_violation";
    /// A unique (or primary) key would be duplicated.
    UNIQUE_VIOLATION = "23505", "unique_violation";
    /// A row refers to a row that is not there, or a referenced row would
    /// go while referred to.
    FOREIGN_KEY_VIOLATION = "23503", "foreign_key_violation";
    /// A FOREIGN KEY that cannot be (no unique key matches).
    INVALID_FOREIGN_KEY = "42830", "invalid_foreign_key";
    /// A CHECK constraint failed.
    CHECK_VIOLATION = "23514", "check_violation";
    /// SET TRANSACTION after the transaction's first statement.
    ACTIVE_SQL_TRANSACTION = "25001", "active_sql_transaction";
    /// A write in a read-only transaction.
    READ_ONLY_SQL_TRANSACTION = "25006", "read_only_sql_transaction";
    /// A statement that needs a transaction block outside one (SAVEPOINT).
    NO_ACTIVE_SQL_TRANSACTION = "25P01", "no_active_sql_transaction";
    /// No savepoint of that name.
    INVALID_SAVEPOINT_SPECIFICATION = "3B001", "invalid_savepoint_specification";
    /// A statement in a transaction that already failed (until ROLLBACK).
    IN_FAILED_SQL_TRANSACTION = "25P02", "in_failed_sql_transaction";
    /// A transaction left idle past `idle_in_transaction_session_timeout`:
    /// the connection is closed.
    IDLE_IN_TRANSACTION_SESSION_TIMEOUT = "25P03", "idle_in_transaction_session_timeout";
    /// No prepared statement or portal of that name.
    INVALID_SQL_STATEMENT_NAME = "26000", "invalid_sql_statement_name";
    /// The password was wrong (or missing).
    INVALID_PASSWORD = "28P01", "invalid_password";
    /// No portal (cursor) of that name.
    INVALID_CURSOR_NAME = "34000", "invalid_cursor_name";
    /// The transaction was aborted by a conflict and had no effect: retry it.
    SERIALIZATION_FAILURE = "40001", "serialization_failure";
    /// A commit whose outcome could not be learned: it may or may not have
    /// committed; find out before retrying.
    STATEMENT_COMPLETION_UNKNOWN = "40003", "statement_completion_unknown";
    /// A deadlock was broken by aborting this transaction (PostgreSQL).
    DEADLOCK_DETECTED = "40P01", "deadlock_detected";
    /// The statement does not parse.
    SYNTAX_ERROR = "42601", "syntax_error";
    /// The user lacks a privilege the statement needs.
    INSUFFICIENT_PRIVILEGE = "42501", "insufficient_privilege";
    /// The object (a role) exists already.
    DUPLICATE_OBJECT = "42710", "duplicate_object";
    /// A name reserved by the system (`public`, `pg_…` roles).
    RESERVED_NAME = "42939", "reserved_name";
    /// A role that is still referred to (it owns tables, holds privileges).
    DEPENDENT_OBJECTS_STILL_EXIST = "2BP01", "dependent_objects_still_exist";
    /// A role grant that would make a cycle of memberships.
    INVALID_GRANT_OPERATION = "0LP01", "invalid_grant_operation";
    /// The object is in use (dropping the current user).
    OBJECT_IN_USE = "55006", "object_in_use";
    /// A column is named twice.
    DUPLICATE_COLUMN = "42701", "duplicate_column";
    /// A column name matches columns of several tables.
    AMBIGUOUS_COLUMN = "42702", "ambiguous_column";
    /// No such column.
    UNDEFINED_COLUMN = "42703", "undefined_column";
    /// No such object (index, setting).
    UNDEFINED_OBJECT = "42704", "undefined_object";
    /// A table alias is used twice in one FROM.
    DUPLICATE_ALIAS = "42712", "duplicate_alias";
    /// An aggregate where it is not allowed, or a column outside one.
    GROUPING_ERROR = "42803", "grouping_error";
    /// A window function where it is not allowed.
    WINDOWING_ERROR = "42P20", "windowing_error";
    /// A value of the wrong type.
    DATATYPE_MISMATCH = "42804", "datatype_mismatch";
    /// No such function or operator for these types.
    UNDEFINED_FUNCTION = "42883", "undefined_function";
    /// OVER on a function that is not a window function or aggregate.
    WRONG_OBJECT_TYPE = "42809", "wrong_object_type";
    /// A WITH RECURSIVE query not of the form base UNION recursive.
    INVALID_RECURSION = "42P19", "invalid_recursion";
    /// No such table.
    UNDEFINED_TABLE = "42P01", "undefined_table";
    /// A schema that does not exist.
    INVALID_SCHEMA_NAME = "3F000", "invalid_schema_name";
    /// A parameter `$n` beyond those given.
    UNDEFINED_PARAMETER = "42P02", "undefined_parameter";
    /// The table exists already.
    DUPLICATE_TABLE = "42P07", "duplicate_table";
    /// The schema exists already.
    DUPLICATE_SCHEMA = "42P06", "duplicate_schema";
    /// A prepared statement of that name exists already.
    DUPLICATE_PREPARED_STATEMENT = "42P05", "duplicate_prepared_statement";
    /// A position in ORDER BY or GROUP BY out of range.
    INVALID_COLUMN_REFERENCE = "42P10", "invalid_column_reference";
    /// A table definition that cannot be (two primary keys).
    INVALID_TABLE_DEFINITION = "42P16", "invalid_table_definition";
    /// An object definition that cannot be (a generation expression that
    /// is not immutable, or uses another generated column).
    INVALID_OBJECT_DEFINITION = "42P17", "invalid_object_definition";
    /// A value or result beyond an implementation limit (a string
    /// function's output over the cap).
    PROGRAM_LIMIT_EXCEEDED = "54000", "program_limit_exceeded";
    /// A query needed more memory than its budget.
    OUT_OF_MEMORY = "53200", "out_of_memory";
    /// The statement is too complex to run (operators, nesting).
    STATEMENT_TOO_COMPLEX = "54001", "statement_too_complex";
    /// Too many connections (PostgreSQL).
    TOO_MANY_CONNECTIONS = "53300", "too_many_connections";
    /// A lock could not be taken at once (PostgreSQL's NOWAIT).
    LOCK_NOT_AVAILABLE = "55P03", "lock_not_available";
    /// A setting no statement may change (`is_superuser`,
    /// `server_version`).
    CANT_CHANGE_RUNTIME_PARAM = "55P02", "cant_change_runtime_param";
    /// Not allowed in this way (a node that requires TLS, a plain
    /// connection).
    INVALID_AUTHORIZATION_SPECIFICATION = "28000", "invalid_authorization_specification";
    /// A function of an extension refused its arguments (pgcrypto's
    /// `gen_random_bytes` beyond its range).
    EXTERNAL_ROUTINE_INVOCATION_EXCEPTION = "39000", "external_routine_invocation_exception";
    /// The client cancelled the statement.
    QUERY_CANCELED = "57014", "query_canceled";
    /// The node is shutting down.
    ADMIN_SHUTDOWN = "57P01", "admin_shutdown";
    /// A read older than the garbage-collection watermark (`gc_ttl`).
    SNAPSHOT_TOO_OLD = "72000", "snapshot_too_old";
    /// An internal error: a bug, or corrupt data.
    INTERNAL_ERROR = "XX000", "internal_error";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_five_characters_and_named_once() {
        let mut seen = std::collections::BTreeSet::new();
        for (code, name) in ALL {
            assert_eq!(code.len(), 5, "{code}");
            assert!(
                code.chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            );
            assert!(seen.insert(*code), "{code} twice");
            assert_eq!(super::name(code), Some(*name));
        }
        assert_eq!(super::name("99999"), None);
        assert_eq!(
            super::name(SERIALIZATION_FAILURE),
            Some("serialization_failure")
        );
    }
}
