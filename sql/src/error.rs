//! SQL errors with PostgreSQL SQLSTATE codes (DESIGN.md §7).

use spanlite_sqlstate as sqlstate;
pub(crate) use spanlite_sqlstate::UNDEFINED_TABLE;
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
    ($($(#[$doc:meta])* $name:ident = $code:ident;)*) => {
        impl SqlError {
            $(
                $(#[$doc])*
                pub fn $name(message: impl Into<String>) -> Self {
                    SqlError { code: sqlstate::$code, message: message.into() }
                }
            )*
        }
    };
}

// One constructor per code the SQL layer and the sessions raise; the codes
// themselves are the table of `spanlite_sqlstate`.
codes! {
    /// 42601: the statement does not parse.
    syntax = SYNTAX_ERROR;
    /// 2201B: a regular expression that does not compile.
    invalid_regular_expression = INVALID_REGULAR_EXPRESSION;
    /// 22025: a bad escape in a SQL regular expression.
    invalid_escape_sequence = INVALID_ESCAPE_SEQUENCE;
    /// 3F000: no such schema.
    undefined_schema = INVALID_SCHEMA_NAME;
    /// 42P01: no such table.
    undefined_table = UNDEFINED_TABLE;
    /// 42703: no such column.
    undefined_column = UNDEFINED_COLUMN;
    /// 39000: an extension's function refused its arguments.
    external_routine = EXTERNAL_ROUTINE_INVOCATION_EXCEPTION;
    /// 42704: no such object (index, setting).
    undefined_object = UNDEFINED_OBJECT;
    /// 42P02: a parameter beyond those given.
    undefined_parameter = UNDEFINED_PARAMETER;
    /// 42P07: the table exists already.
    duplicate_table = DUPLICATE_TABLE;
    /// 42P06: the schema exists already.
    duplicate_schema = DUPLICATE_SCHEMA;
    /// 42P05: a prepared statement of that name exists already.
    duplicate_prepared_statement = DUPLICATE_PREPARED_STATEMENT;
    /// 42701: a column is named twice.
    duplicate_column = DUPLICATE_COLUMN;
    /// 42712: a table alias is used twice.
    duplicate_alias = DUPLICATE_ALIAS;
    /// 42702: a column name that matches several tables' columns.
    ambiguous_column = AMBIGUOUS_COLUMN;
    /// 42P10: a position in ORDER BY or GROUP BY out of range.
    invalid_column_reference = INVALID_COLUMN_REFERENCE;
    /// 42P16: a table definition that cannot be.
    invalid_table_definition = INVALID_TABLE_DEFINITION;
    /// 42P17: an object definition that cannot be (a generation
    /// expression).
    invalid_object_definition = INVALID_OBJECT_DEFINITION;
    /// 42804: a value of the wrong type.
    datatype_mismatch = DATATYPE_MISMATCH;
    /// 42883: no such function or operator for these types.
    undefined_function = UNDEFINED_FUNCTION;
    /// 42803: an aggregate where it is not allowed (or a column outside one).
    grouping = GROUPING_ERROR;
    /// 42809: OVER on a function that is neither a window function nor an
    /// aggregate.
    wrong_object_type = WRONG_OBJECT_TYPE;
    /// 42P19: a WITH RECURSIVE query not of the form base UNION recursive.
    invalid_recursion = INVALID_RECURSION;
    /// 42P20: a window function where it is not allowed.
    windowing = WINDOWING_ERROR;
    /// 23505: a unique key (or primary key) would be duplicated.
    unique_violation = UNIQUE_VIOLATION;
    /// 23503: a missing parent row, or a parent row still referred to.
    foreign_key_violation = FOREIGN_KEY_VIOLATION;
    /// 42830: a foreign key no unique key of its parent matches.
    invalid_foreign_key = INVALID_FOREIGN_KEY;
    /// 23514: a row that makes a CHECK constraint false.
    check_violation = CHECK_VIOLATION;
    /// 23502: NULL in a NOT NULL column.
    not_null_violation = NOT_NULL_VIOLATION;
    /// 21000: a subquery used as a value returned several rows.
    cardinality_violation = CARDINALITY_VIOLATION;
    /// 22P02: text that does not convert to the column's type.
    invalid_text = INVALID_TEXT_REPRESENTATION;
    /// 22P03: a binary value that is not its type's binary form.
    invalid_binary_representation = INVALID_BINARY_REPRESENTATION;
    /// 22003: a number out of range (overflow).
    numeric_out_of_range = NUMERIC_VALUE_OUT_OF_RANGE;
    /// 22001: a string longer than its column's declared length.
    string_too_long = STRING_DATA_RIGHT_TRUNCATION;
    /// 22012: division by zero.
    division_by_zero = DIVISION_BY_ZERO;
    /// 22011: a substring with a negative length.
    substring_error = SUBSTRING_ERROR;
    /// 22007: a time that does not parse.
    invalid_datetime = INVALID_DATETIME_FORMAT;
    /// 22004: a NULL where none is allowed.
    null_value_not_allowed = NULL_VALUE_NOT_ALLOWED;
    /// 22008: a date or time whose fields are out of range.
    datetime_field_overflow = DATETIME_FIELD_OVERFLOW;
    /// 22015: an interval whose fields are out of range.
    interval_field_overflow = INTERVAL_FIELD_OVERFLOW;
    /// 2201W: a negative LIMIT.
    invalid_limit = INVALID_ROW_COUNT_IN_LIMIT_CLAUSE;
    /// 2201X: a negative OFFSET.
    invalid_offset = INVALID_ROW_COUNT_IN_RESULT_OFFSET_CLAUSE;
    /// 22023: an invalid parameter value (e.g. a setting's).
    invalid_parameter = INVALID_PARAMETER_VALUE;
    /// 2201E: the logarithm of zero or of a negative number.
    invalid_argument_for_log = INVALID_ARGUMENT_FOR_LOGARITHM;
    /// 2201F: a power or square root without a real result.
    invalid_argument_for_power = INVALID_ARGUMENT_FOR_POWER_FUNCTION;
    /// 22021: bytes not valid in their encoding.
    character_not_in_repertoire = CHARACTER_NOT_IN_REPERTOIRE;
    /// 22P05: a character the target encoding has not.
    untranslatable_character = UNTRANSLATABLE_CHARACTER;
    /// 2201G: `width_bucket` over no range or into no buckets.
    invalid_argument_for_width_bucket = INVALID_ARGUMENT_FOR_WIDTH_BUCKET_FUNCTION;
    /// 22014: an `ntile` bucket count that is not positive.
    invalid_argument_for_ntile = INVALID_ARGUMENT_FOR_NTILE_FUNCTION;
    /// 22016: an `nth_value` position that is not positive.
    invalid_argument_for_nth_value = INVALID_ARGUMENT_FOR_NTH_VALUE_FUNCTION;
    /// 0A000: valid SQL that Spanlite does not support (yet).
    not_supported = FEATURE_NOT_SUPPORTED;
    /// 40001: the transaction was aborted by a conflict; retry it.
    serialization_failure = SERIALIZATION_FAILURE;
    /// 40003: a commit was sent and its outcome is unknown (statement
    /// completion unknown): find out before retrying.
    statement_completion_unknown = STATEMENT_COMPLETION_UNKNOWN;
    /// 25001: SET TRANSACTION after the transaction's first statement.
    active_transaction = ACTIVE_SQL_TRANSACTION;
    /// 25006: a write in a read-only transaction.
    read_only = READ_ONLY_SQL_TRANSACTION;
    /// 25P02: a statement in a transaction that already failed.
    in_failed_transaction = IN_FAILED_SQL_TRANSACTION;
    /// 26000: no prepared statement or portal of that name.
    invalid_statement_name = INVALID_SQL_STATEMENT_NAME;
    /// 34000: no portal of that name.
    invalid_cursor_name = INVALID_CURSOR_NAME;
    /// 08P01: a protocol message out of place or malformed.
    protocol_violation = PROTOCOL_VIOLATION;
    /// 57014: the client cancelled the statement.
    query_canceled = QUERY_CANCELED;
    /// 55P03: a row another transaction holds (`FOR UPDATE NOWAIT`).
    lock_not_available = LOCK_NOT_AVAILABLE;
    /// 55P02: a setting no statement may change.
    cant_change_param = CANT_CHANGE_RUNTIME_PARAM;
    /// 08006: the cluster could not be reached.
    unavailable = CONNECTION_FAILURE;
    /// 72000: a read older than the garbage-collection watermark.
    snapshot_too_old = SNAPSHOT_TOO_OLD;
    /// 53200: a query past its memory budget.
    out_of_memory = OUT_OF_MEMORY;
    /// 54000: a value beyond an implementation limit.
    program_limit_exceeded = PROGRAM_LIMIT_EXCEEDED;
    /// 25P01: SAVEPOINT and friends outside a transaction block.
    no_active_transaction = NO_ACTIVE_SQL_TRANSACTION;
    /// 3B001: no savepoint of that name.
    invalid_savepoint = INVALID_SAVEPOINT_SPECIFICATION;
    /// 2200H: a sequence has no values left.
    sequence_limit = SEQUENCE_GENERATOR_LIMIT_EXCEEDED;
    /// 428C9: a value for a GENERATED ALWAYS column.
    generated_always = GENERATED_ALWAYS;
    /// 55000: `currval` before `nextval` in the session.
    not_in_prerequisite_state = OBJECT_NOT_IN_PREREQUISITE_STATE;
    /// 42501: the user lacks a privilege the statement needs.
    insufficient_privilege = INSUFFICIENT_PRIVILEGE;
    /// 42710: the role exists already.
    duplicate_object = DUPLICATE_OBJECT;
    /// 42939: a reserved role name.
    reserved_name = RESERVED_NAME;
    /// 2BP01: a role still referred to.
    dependent_objects = DEPENDENT_OBJECTS_STILL_EXIST;
    /// 0LP01: a role membership that would make a cycle.
    invalid_grant = INVALID_GRANT_OPERATION;
    /// 55006: the object is in use (the current user).
    object_in_use = OBJECT_IN_USE;
    /// XX000: an internal error (a bug, or corrupt data).
    internal = INTERNAL_ERROR;
}

impl SqlError {
    /// 54001: the statement is too complex to run (too many operators,
    /// expressions nested too deep).
    pub fn too_complex(why: impl Into<String>) -> Self {
        SqlError {
            code: sqlstate::STATEMENT_TOO_COMPLEX,
            message: format!("statement too complex: {}", why.into()),
        }
    }

    /// True when retrying the whole transaction may succeed (40001).
    pub fn is_retryable(&self) -> bool {
        self.code == sqlstate::SERIALIZATION_FAILURE
    }
}

/// Results of this crate.
pub type Result<T, E = SqlError> = std::result::Result<T, E>;
