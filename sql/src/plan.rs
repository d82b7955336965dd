//! Bound queries: what the binder ([`crate::bind`]) makes of the AST and
//! the executor ([`crate::eval`]) runs.
//!
//! Names are resolved to row positions, so evaluation never looks a name
//! up. A query block's rows are *full width*: every table of its FROM
//! clause has a fixed slice of the row (`offset .. offset + width`), so a
//! join only copies slices, and a condition can run as soon as the tables
//! it names are joined, whatever order the planner joins them in.
//!
//! Execution has two phases. [`crate::eval::fetch`] reads every table a plan
//! needs through the transaction (point lookups, key ranges, index ranges:
//! the access paths are chosen here, from constant predicates, so they are
//! known before anything runs). Then [`crate::eval::query`] computes the
//! result from memory: filters, joins, grouping, subqueries (correlated or
//! not), sorting. Reads happen once per table reference, however often a
//! correlated subquery runs.

use std::sync::OnceLock;

use crate::catalog::TableDef;
use crate::value::{DataType, Value};

/// A row.
pub type Row = Vec<Value>;

/// A bound scalar expression.
#[derive(Clone, Debug, PartialEq)]
pub enum BExpr {
    /// A constant (literals, and parameters once given: see
    /// [`with_params`]).
    Const(Value),
    /// Parameter `$n + 1` of a plan made to be run again with other
    /// values ([`crate::PlanCache`]); replaced by its value before the plan
    /// runs.
    Param(usize),
    /// A position of the current row.
    Column(usize),
    /// A position of an enclosing query's row (`depth` 1 = the nearest).
    Outer { depth: usize, index: usize },
    /// A position of the result row (ORDER BY keys naming output columns).
    Output(usize),
    /// NOT.
    Not(Box<BExpr>),
    /// Unary minus.
    Neg(Box<BExpr>),
    /// A binary operator.
    Binary(Box<BExpr>, BinOp, Box<BExpr>),
    /// `IS [NOT] NULL`.
    IsNull(Box<BExpr>, bool),
    /// `IS [NOT] TRUE` / `IS [NOT] FALSE`: (expr, value, negated).
    IsBool(Box<BExpr>, bool, bool),
    /// `IS [NOT] DISTINCT FROM`: (left, right, negated).
    IsDistinct(Box<BExpr>, Box<BExpr>, bool),
    /// `[NOT] IN (list)`.
    InList(Box<BExpr>, Vec<BExpr>, bool),
    /// `CASE [operand] WHEN … THEN … [ELSE …] END`.
    Case {
        operand: Option<Box<BExpr>>,
        whens: Vec<(BExpr, BExpr)>,
        otherwise: Option<Box<BExpr>>,
    },
    /// `CAST(e AS type)`.
    Cast(Box<BExpr>, DataType),
    /// `e` as a value of an enum type (a cast, or text compared with or
    /// stored into one): 22P02 when it is no label of the type.
    Enum(Box<BExpr>, std::sync::Arc<crate::enums::EnumType>),
    /// A scalar function.
    Func(Func, Vec<BExpr>),
    /// `[NOT] LIKE` / `ILIKE`.
    Like {
        expr: Box<BExpr>,
        pattern: Box<BExpr>,
        negated: bool,
        case_insensitive: bool,
    },
    /// A scalar subquery.
    Subquery(Box<Subquery>),
    /// `[NOT] EXISTS (subquery)`.
    Exists(Box<Subquery>, bool),
    /// `e [NOT] IN (subquery)`.
    InSubquery(Box<BExpr>, Box<Subquery>, bool),
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    And,
    Or,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    Plus,
    Minus,
    Multiply,
    Divide,
    Modulo,
    /// `&`, `|`, `#` (exclusive or), `<<` and `>>` of integers.
    BitAnd,
    BitOr,
    BitXor,
    ShiftLeft,
    ShiftRight,
    Concat,
    /// `jsonb -> key`.
    JsonGet,
    /// `jsonb ->> key`.
    JsonGetText,
    /// `jsonb @> jsonb`.
    JsonContains,
    /// `jsonb ? text`.
    JsonHasKey,
    /// `array && array`: an element in common.
    Overlap,
}

/// Scalar functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Abs,
    Lower,
    Upper,
    Length,
    Coalesce,
    NullIf,
    Substr,
    Trim,
    Ltrim,
    Rtrim,
    Replace,
    Round,
    Ceil,
    Floor,
    Greatest,
    Least,
    Concat,
    Position,
    Now,
    CurrentDate,
    /// `localtimestamp`: now's wall-clock time in the session's zone.
    LocalTimestamp,
    /// `localtime`: now's time of day in the session's zone.
    LocalTime,
    GenRandomUuid,
    /// `extract(field FROM v)` (its first argument is the field's name).
    Extract,
    DatePart,
    DateTrunc,
    ToChar,
    JustifyDays,
    JustifyHours,
    /// `format_type(type oid, typmod)`: a type's SQL name (the system
    /// catalogs' types, `crate::system`).
    FormatType,
    /// `quote_ident(text)`.
    QuoteIdent,
    /// `array_to_string(array, delimiter)` of an array in its text form
    /// (`{a,b}`), as `array_agg` and the system catalogs give them.
    ArrayToString,
    /// `text ~ pattern` and its kin: (text, pattern, flags) where flags is
    /// `''` or `'i'` (case-insensitive); a POSIX-style regular expression.
    RegexMatch,
    /// `pg_size_pretty(bytes)`.
    SizePretty,
    /// `array_position(array, value)` of an array in its text form: the
    /// 1-based position of the first element equal to the value's text.
    ArrayPosition,
    /// `json_build_object(k1, v1, …)` (also `jsonb_build_object`).
    JsonBuildObject,
    /// `array[i]` of an array in its text form (1-based; NULL past its
    /// end; an element that reads as an integer is one).
    Subscript,
    /// `array_length(array, 1)`, `array_upper(array, 1)`.
    ArrayLength,
    /// `ARRAY[a, b, …]`.
    ArrayCtor,
    /// `array[lo:hi]` (either bound NULL when left out).
    ArraySlice,
    /// `array_append(array, x)`.
    ArrayAppend,
    /// `array_prepend(x, array)`.
    ArrayPrepend,
    /// `array_cat(a, b)`.
    ArrayCat,
    /// `array_remove(array, x)`.
    ArrayRemove,
    /// `array_replace(array, x, y)`.
    ArrayReplace,
    /// `array_positions(array, x)`.
    ArrayPositions,
    /// `cardinality(array)`: its number of elements (0 when empty).
    Cardinality,
    /// `array_lower(array, 1)`.
    ArrayLower,
    /// `array_ndims(array)`.
    ArrayNdims,
    /// `array_dims(array)`: `[1:n]`.
    ArrayDims,
    /// `x op ANY (array)`: (x, array).
    AnyOf(BinOp),
    /// `x op ALL (array)`: (x, array).
    AllOf(BinOp),
    /// `power(x, y)`, `pow`.
    Power,
    Sqrt,
    Cbrt,
    Exp,
    /// `ln(x)`.
    Ln,
    /// `log(x)` (base 10) and `log(b, x)`.
    Log,
    Log10,
    Pi,
    /// `random()`: a float in [0, 1).
    Random,
    /// `pg_cancel_backend(pid)`: cancels a session's running statement
    /// ([`crate::backends::signal`]).
    CancelBackend,
    /// `pg_terminate_backend(pid)`: ends a session.
    TerminateBackend,
    Mod,
    /// `div(x, y)`: the quotient truncated toward zero.
    Div,
    Sign,
    /// `trunc(x [, digits])`.
    Trunc,
    Lpad,
    Rpad,
    Left,
    Right,
    SplitPart,
    Repeat,
    Reverse,
    Initcap,
    /// `md5(text)`: its digest in hex.
    Md5,
    /// `encode(bytea, 'hex' | 'base64' | 'escape')`: text.
    Encode,
    /// `decode(text, 'hex' | 'base64' | 'escape')`: bytea.
    Decode,
    /// `sha224(bytea)` … `sha512(bytea)`: the digest, as bytea.
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    /// `to_hex(integer)`: its hexadecimal digits (a negative one as its
    /// two's complement).
    ToHex,
    /// uuid-ossp's functions (`eval::crypto`).
    UuidGenerateV1,
    UuidGenerateV1mc,
    UuidGenerateV3,
    UuidGenerateV5,
    UuidNil,
    UuidNsDns,
    UuidNsUrl,
    UuidNsOid,
    UuidNsX500,
    /// pgcrypto's `digest(data, type)`, `hmac(data, key, type)`,
    /// `gen_random_bytes(n)`, `gen_salt(type [, rounds])`, `crypt(password,
    /// salt)`.
    Digest,
    Hmac,
    GenRandomBytes,
    GenSalt,
    Crypt,
    /// `convert_to(text, encoding)`: the text's bytes in that encoding.
    ConvertTo,
    /// `convert_from(bytea, encoding)`: bytes in that encoding as text.
    ConvertFrom,
    /// `concat_ws(separator, …)` (NULLs skipped).
    ConcatWs,
    Chr,
    Ascii,
    OctetLength,
    BitLength,
    StartsWith,
    Translate,
    /// `to_timestamp(seconds since 1970)` and `to_timestamp(text,
    /// template)`.
    ToTimestamp,
    /// `to_date(text, template)`.
    ToDate,
    JsonbTypeof,
    JsonbArrayLength,
    /// `regexp_replace(text, pattern, replacement [, flags])`: the first
    /// match, or every one with flag `g`; `i` ignores case.
    RegexpReplace,
    /// `to_jsonb(v)` (also `to_json`): the value as a JSON document.
    ToJsonb,
    /// `jsonb_build_array(…)` (also `json_build_array`).
    JsonBuildArray,
    /// `make_date(year, month, day)`.
    MakeDate,
    /// `age(a, b)` (years, months and days between, as PostgreSQL counts
    /// them) and `age(t)`, from midnight today.
    Age,
    /// `format(template, …)`: `%s`, `%I`, `%L`, `%%`, with positions
    /// (`%2$s`), `-` and widths.
    Format,
    /// `quote_literal(v)`.
    QuoteLiteral,
    /// `quote_nullable(v)`: `NULL` for NULL, else `quote_literal`.
    QuoteNullable,
    /// `jsonb_extract_path(doc, key, …)` (also `json_`).
    JsonExtractPath,
    /// `jsonb_extract_path_text(doc, key, …)` (also `json_`).
    JsonExtractPathText,
    /// `doc #> path` (a text array).
    JsonPath,
    /// `doc #>> path`.
    JsonPathText,
    /// `jsonb_set(doc, path, value [, create_missing])`.
    JsonbSet,
    /// `jsonb_strip_nulls(doc)` (also `json_`).
    JsonbStripNulls,
    /// `jsonb_pretty(doc)`.
    JsonbPretty,
    /// `string_to_array(text, delimiter [, null_string])`, as an array's
    /// text.
    StringToArray,
    /// `regexp_match(text, pattern [, flags])`, as an array's text.
    RegexpMatch,
    /// `regexp_like(text, pattern [, flags])`.
    RegexpLike,
    /// `regexp_count(text, pattern [, start [, flags]])`.
    RegexpCount,
    /// `regexp_substr(text, pattern [, start [, n [, flags [, subexpr]]]])`.
    RegexpSubstr,
    /// `regexp_split_to_array(text, pattern [, flags])`, as an array's text.
    RegexpSplitToArray,
    /// `regexp_matches(text, pattern [, flags])`'s rows as one array of
    /// text arrays, which the FROM item (or select list) calling it
    /// unnests (`spanlite_regexp_matches`, called by the rewrite only).
    RegexpMatchesAll,
    /// `generate_series(start, stop [, step])`'s values as one array,
    /// which the select list calling it unnests (`spanlite_series`,
    /// called by the rewrite only).
    SeriesArray,
    /// `~ integer`: its bits inverted.
    BitNot,
    /// `overlay(s PLACING r FROM start [FOR n])`.
    Overlay,
    /// `isfinite(date | timestamp | interval)`: always true here (no
    /// infinite values).
    IsFinite,
    /// `date_bin(stride, source, origin)`: `source` down to the start of
    /// its `stride`-long bin counted from `origin`.
    DateBin,
    /// `make_interval(years, months, weeks, days, hours, mins, secs)`
    /// (named or positional, each 0 when left out).
    MakeInterval,
    /// `make_timestamp(y, mo, d, h, mi, s)`, `make_timestamptz(…, [zone])`,
    /// `make_time(h, mi, s)`.
    MakeTimestamp,
    MakeTimestampTz,
    MakeTime,
    /// `gcd(a, b)`, `lcm(a, b)` of integers.
    Gcd,
    Lcm,
    /// `num_nulls(…)`, `num_nonnulls(…)`: how many arguments are (not)
    /// NULL.
    NumNulls,
    NumNonnulls,
    /// `width_bucket(operand, low, high, count)`.
    WidthBucket,
    /// `scale(numeric)`, `min_scale(numeric)`, `trim_scale(numeric)`.
    Scale,
    MinScale,
    TrimScale,
    /// `timezone(zone, ts)`, also `ts AT TIME ZONE zone`: a timestamptz's
    /// local time in `zone`, or the instant a timestamp (local time in
    /// `zone`) is.
    Timezone,
    /// `similar_to_escape(pattern [, escape])`: `SIMILAR TO`'s pattern as
    /// a POSIX one.
    SimilarToEscape,
    /// `to_number(text, template)`.
    ToNumber,
}

/// The name [`Func::RegexpMatchesAll`] is called by in the statements the
/// rewrite of `regexp_matches(…)` makes.
pub const REGEXP_MATCHES_ALL: &str = "spanlite_regexp_matches";

/// The name [`Func::SeriesArray`] is called by in the statements the
/// rewrite of a select list's `generate_series(…)` makes.
pub const SERIES_ARRAY: &str = "spanlite_series";

impl Func {
    /// The function called `name` (lower case), if there is one.
    pub fn named(name: &str) -> Option<Func> {
        Some(match name {
            "abs" => Func::Abs,
            "lower" => Func::Lower,
            "upper" => Func::Upper,
            "length" | "char_length" | "character_length" => Func::Length,
            "coalesce" | "ifnull" => Func::Coalesce,
            "nullif" => Func::NullIf,
            "substr" | "substring" => Func::Substr,
            "trim" | "btrim" => Func::Trim,
            "ltrim" => Func::Ltrim,
            "rtrim" => Func::Rtrim,
            "replace" => Func::Replace,
            "round" => Func::Round,
            "ceil" | "ceiling" => Func::Ceil,
            "floor" => Func::Floor,
            "greatest" => Func::Greatest,
            "least" => Func::Least,
            "concat" => Func::Concat,
            "strpos" => Func::Position,
            "now" | "current_timestamp" => Func::Now,
            "current_date" => Func::CurrentDate,
            "gen_random_uuid" | "uuid_generate_v4" => Func::GenRandomUuid,
            "date_part" => Func::DatePart,
            "date_trunc" => Func::DateTrunc,
            "to_char" => Func::ToChar,
            "justify_days" => Func::JustifyDays,
            "justify_hours" => Func::JustifyHours,
            "format_type" => Func::FormatType,
            "quote_ident" => Func::QuoteIdent,
            "array_to_string" => Func::ArrayToString,
            "pg_size_pretty" => Func::SizePretty,
            "array_position" => Func::ArrayPosition,
            "json_build_object" | "jsonb_build_object" => Func::JsonBuildObject,
            "array_length" | "array_upper" => Func::ArrayLength,
            "cardinality" => Func::Cardinality,
            "array_append" => Func::ArrayAppend,
            "array_prepend" => Func::ArrayPrepend,
            "array_cat" => Func::ArrayCat,
            "array_remove" => Func::ArrayRemove,
            "array_replace" => Func::ArrayReplace,
            "array_positions" => Func::ArrayPositions,
            "array_lower" => Func::ArrayLower,
            "array_ndims" => Func::ArrayNdims,
            "array_dims" => Func::ArrayDims,
            // Evaluated when called, as now() is here.
            "clock_timestamp" | "statement_timestamp" | "transaction_timestamp" => Func::Now,
            "localtimestamp" => Func::LocalTimestamp,
            "localtime" => Func::LocalTime,
            "power" | "pow" => Func::Power,
            "sqrt" => Func::Sqrt,
            "cbrt" => Func::Cbrt,
            "exp" => Func::Exp,
            "ln" => Func::Ln,
            "log" => Func::Log,
            "log10" => Func::Log10,
            "pi" => Func::Pi,
            "random" => Func::Random,
            "pg_cancel_backend" => Func::CancelBackend,
            "pg_terminate_backend" => Func::TerminateBackend,
            "mod" => Func::Mod,
            "div" => Func::Div,
            "sign" => Func::Sign,
            "trunc" => Func::Trunc,
            "lpad" => Func::Lpad,
            "rpad" => Func::Rpad,
            "left" => Func::Left,
            "right" => Func::Right,
            "split_part" => Func::SplitPart,
            "repeat" => Func::Repeat,
            "reverse" => Func::Reverse,
            "initcap" => Func::Initcap,
            "md5" => Func::Md5,
            "encode" => Func::Encode,
            "decode" => Func::Decode,
            "sha224" => Func::Sha224,
            "sha256" => Func::Sha256,
            "sha384" => Func::Sha384,
            "sha512" => Func::Sha512,
            "to_hex" => Func::ToHex,
            "uuid_generate_v1" => Func::UuidGenerateV1,
            "uuid_generate_v1mc" => Func::UuidGenerateV1mc,
            "uuid_generate_v3" => Func::UuidGenerateV3,
            "uuid_generate_v5" => Func::UuidGenerateV5,
            "uuid_nil" => Func::UuidNil,
            "uuid_ns_dns" => Func::UuidNsDns,
            "uuid_ns_url" => Func::UuidNsUrl,
            "uuid_ns_oid" => Func::UuidNsOid,
            "uuid_ns_x500" => Func::UuidNsX500,
            "digest" => Func::Digest,
            "hmac" => Func::Hmac,
            "gen_random_bytes" => Func::GenRandomBytes,
            "gen_salt" => Func::GenSalt,
            "crypt" => Func::Crypt,
            "convert_to" => Func::ConvertTo,
            "convert_from" => Func::ConvertFrom,
            "concat_ws" => Func::ConcatWs,
            "chr" => Func::Chr,
            "ascii" => Func::Ascii,
            "octet_length" => Func::OctetLength,
            "bit_length" => Func::BitLength,
            "starts_with" => Func::StartsWith,
            "translate" => Func::Translate,
            "to_timestamp" => Func::ToTimestamp,
            "to_date" => Func::ToDate,
            "jsonb_typeof" | "json_typeof" => Func::JsonbTypeof,
            "jsonb_array_length" | "json_array_length" => Func::JsonbArrayLength,
            "regexp_replace" => Func::RegexpReplace,
            "to_jsonb" | "to_json" | "row_to_json" => Func::ToJsonb,
            "jsonb_build_array" | "json_build_array" => Func::JsonBuildArray,
            "make_date" => Func::MakeDate,
            "age" => Func::Age,
            "format" => Func::Format,
            "quote_literal" => Func::QuoteLiteral,
            "quote_nullable" => Func::QuoteNullable,
            "jsonb_extract_path" | "json_extract_path" => Func::JsonExtractPath,
            "jsonb_extract_path_text" | "json_extract_path_text" => Func::JsonExtractPathText,
            "jsonb_set" => Func::JsonbSet,
            "jsonb_strip_nulls" | "json_strip_nulls" => Func::JsonbStripNulls,
            "jsonb_pretty" => Func::JsonbPretty,
            "string_to_array" => Func::StringToArray,
            "regexp_match" => Func::RegexpMatch,
            "regexp_like" => Func::RegexpLike,
            "regexp_count" => Func::RegexpCount,
            "regexp_substr" => Func::RegexpSubstr,
            "regexp_split_to_array" => Func::RegexpSplitToArray,
            REGEXP_MATCHES_ALL => Func::RegexpMatchesAll,
            SERIES_ARRAY => Func::SeriesArray,
            "timezone" => Func::Timezone,
            "gcd" => Func::Gcd,
            "overlay" => Func::Overlay,
            "isfinite" => Func::IsFinite,
            "date_bin" => Func::DateBin,
            "make_interval" => Func::MakeInterval,
            "make_timestamp" => Func::MakeTimestamp,
            "make_timestamptz" => Func::MakeTimestampTz,
            "make_time" => Func::MakeTime,
            "lcm" => Func::Lcm,
            "num_nulls" => Func::NumNulls,
            "num_nonnulls" => Func::NumNonnulls,
            "width_bucket" => Func::WidthBucket,
            "scale" => Func::Scale,
            "min_scale" => Func::MinScale,
            "trim_scale" => Func::TrimScale,
            "similar_to_escape" => Func::SimilarToEscape,
            "to_number" => Func::ToNumber,
            _ => return None,
        })
    }
}

/// A subquery inside an expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Subquery {
    /// Its plan.
    pub query: Query,
    /// True when it names columns of an enclosing query (it is then run
    /// once per row; otherwise once).
    pub correlated: bool,
    /// The rows of an uncorrelated subquery, once computed.
    pub cache: Cache,
}

/// A computed-once result (never part of a plan's identity).
#[derive(Default)]
pub struct Cache(pub OnceLock<Vec<Row>>);

impl Clone for Cache {
    fn clone(&self) -> Self {
        Cache::default()
    }
}

impl PartialEq for Cache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cache")
    }
}

/// Aggregate functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFunc {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    /// `string_agg(text, delimiter)`.
    StringAgg,
    /// `array_agg(v)`, as the text of a PostgreSQL array (`{1,2,NULL}`).
    ArrayAgg,
    /// `jsonb_agg(v)` (also `json_agg`): a JSON array of the values,
    /// NULLs as `null`.
    JsonAgg,
    /// `jsonb_object_agg(key, value)` (also `json_object_agg`).
    JsonObjectAgg,
    BoolAnd,
    BoolOr,
    /// `var_samp` (also `variance`): the sample variance.
    VarSamp,
    /// `var_pop`: the population variance.
    VarPop,
    /// `stddev_samp` (also `stddev`): the sample standard deviation.
    StddevSamp,
    /// `stddev_pop`: the population standard deviation.
    StddevPop,
    /// `percentile_cont(f) WITHIN GROUP (ORDER BY v)`: interpolated
    /// between the two values around fraction `f` (`arg` is `v`,
    /// `delimiter` is `f`, one fraction or an array of them).
    PercentileCont,
    /// `percentile_disc(f) WITHIN GROUP (ORDER BY v)`: the first value at
    /// or past fraction `f`.
    PercentileDisc,
    /// `mode() WITHIN GROUP (ORDER BY v)`: the most frequent value (the
    /// first in that order among equally frequent ones).
    Mode,
    /// `bit_and`, `bit_or`, `bit_xor` of integers.
    BitAnd,
    BitOr,
    BitXor,
    /// `grouping(k, …)`: a bit per GROUP BY key named (the first the
    /// highest), set when the row's grouping set leaves that key out;
    /// `delimiter` holds the keys' positions as an integer array.
    Grouping,
}

impl AggFunc {
    /// An ordered-set aggregate (`… WITHIN GROUP (ORDER BY …)`).
    pub fn ordered_set(self) -> bool {
        matches!(
            self,
            AggFunc::PercentileCont | AggFunc::PercentileDisc | AggFunc::Mode
        )
    }
}

impl AggFunc {
    /// The aggregate called `name` (lower case), if there is one.
    pub fn named(name: &str) -> Option<AggFunc> {
        Some(match name {
            "count" => AggFunc::Count,
            "sum" => AggFunc::Sum,
            "avg" => AggFunc::Avg,
            "min" => AggFunc::Min,
            "max" => AggFunc::Max,
            "string_agg" => AggFunc::StringAgg,
            "array_agg" => AggFunc::ArrayAgg,
            "jsonb_agg" | "json_agg" => AggFunc::JsonAgg,
            "jsonb_object_agg" | "json_object_agg" => AggFunc::JsonObjectAgg,
            "bool_and" | "every" => AggFunc::BoolAnd,
            "bool_or" => AggFunc::BoolOr,
            "var_samp" | "variance" => AggFunc::VarSamp,
            "var_pop" => AggFunc::VarPop,
            "stddev_samp" | "stddev" => AggFunc::StddevSamp,
            "stddev_pop" => AggFunc::StddevPop,
            "percentile_cont" => AggFunc::PercentileCont,
            "percentile_disc" => AggFunc::PercentileDisc,
            "mode" => AggFunc::Mode,
            "grouping" => AggFunc::Grouping,
            "bit_and" => AggFunc::BitAnd,
            "bit_or" => AggFunc::BitOr,
            "bit_xor" => AggFunc::BitXor,
            _ => return None,
        })
    }
}

/// One aggregate call of a grouped query.
#[derive(Clone, Debug, PartialEq)]
pub struct AggCall {
    pub func: AggFunc,
    /// The argument; `None` for `count(*)`.
    pub arg: Option<BExpr>,
    /// `string_agg`'s delimiter; `jsonb_object_agg`'s value (its key is
    /// `arg`).
    pub delimiter: Option<BExpr>,
    pub distinct: bool,
    /// `FILTER (WHERE …)`: only the rows it is true for.
    pub filter: Option<BExpr>,
    /// `agg(v ORDER BY …)`: the order the values are taken in.
    pub order: Vec<(BExpr, SortKey)>,
}

impl AggCall {
    /// Its expressions (argument, delimiter, filter, order keys).
    pub fn exprs(&self) -> impl Iterator<Item = &BExpr> {
        self.arg
            .iter()
            .chain(self.delimiter.iter())
            .chain(self.filter.iter())
            .chain(self.order.iter().map(|(e, _)| e))
    }

    /// [`AggCall::exprs`], to change.
    pub fn exprs_mut(&mut self) -> impl Iterator<Item = &mut BExpr> {
        self.arg
            .iter_mut()
            .chain(self.delimiter.iter_mut())
            .chain(self.filter.iter_mut())
            .chain(self.order.iter_mut().map(|(e, _)| e))
    }
}

/// Window functions (`f(…) OVER (…)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowFunc {
    RowNumber,
    Rank,
    DenseRank,
    /// `lag(v [, offset [, default]])`.
    Lag,
    /// `lead(v [, offset [, default]])`.
    Lead,
    FirstValue,
    LastValue,
    /// `nth_value(v, n)`: the frame's `n`th row's `v`.
    NthValue,
    /// `ntile(buckets)`: which of that many near-equal groups of the
    /// partition (in its order) the row falls in, from 1.
    Ntile,
    /// `percent_rank()`: `(rank - 1) / (rows - 1)`, 0 for one row.
    PercentRank,
    /// `cume_dist()`: the share of the partition's rows up to the row's
    /// last peer.
    CumeDist,
    /// An aggregate over the window's frame.
    Agg(AggFunc),
}

impl WindowFunc {
    /// The window function called `name` (lower case), if there is one.
    pub fn named(name: &str) -> Option<WindowFunc> {
        Some(match name {
            "row_number" => WindowFunc::RowNumber,
            "rank" => WindowFunc::Rank,
            "dense_rank" => WindowFunc::DenseRank,
            "lag" => WindowFunc::Lag,
            "lead" => WindowFunc::Lead,
            "first_value" => WindowFunc::FirstValue,
            "last_value" => WindowFunc::LastValue,
            "nth_value" => WindowFunc::NthValue,
            "ntile" => WindowFunc::Ntile,
            "percent_rank" => WindowFunc::PercentRank,
            "cume_dist" => WindowFunc::CumeDist,
            other => WindowFunc::Agg(AggFunc::named(other)?),
        })
    }
}

/// One end of a window frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameBound {
    UnboundedPreceding,
    /// `n PRECEDING` (ROWS).
    Preceding(u64),
    /// The current row (ROWS), or its first or last peer (RANGE).
    CurrentRow,
    /// `n FOLLOWING` (ROWS).
    Following(u64),
    UnboundedFollowing,
}

/// A window's frame: the rows of its partition an aggregate (or
/// first_value/last_value) sees from each row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// ROWS (by position) rather than RANGE (by peers: rows equal in the
    /// window's ORDER BY).
    pub rows: bool,
    pub start: FrameBound,
    pub end: FrameBound,
}

impl Frame {
    /// PostgreSQL's default: RANGE BETWEEN UNBOUNDED PRECEDING AND
    /// CURRENT ROW (the whole partition when it has no ORDER BY: every row
    /// is then a peer).
    pub const DEFAULT: Frame = Frame {
        rows: false,
        start: FrameBound::UnboundedPreceding,
        end: FrameBound::CurrentRow,
    };
}

/// One window function call of a SELECT block: computed over the block's
/// rows (grouped rows when grouped) after HAVING, and appended to each.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowCall {
    pub func: WindowFunc,
    /// Its arguments (none for `count(*)`); for an aggregate, `agg.arg`.
    pub args: Vec<BExpr>,
    /// The aggregate, for `WindowFunc::Agg` (its `arg` is `args[0]`).
    pub agg: Option<AggCall>,
    pub partition: Vec<BExpr>,
    pub order: Vec<(BExpr, SortKey)>,
    pub frame: Frame,
}

impl WindowCall {
    /// Its expressions.
    pub fn exprs(&self) -> impl Iterator<Item = &BExpr> {
        self.args
            .iter()
            .chain(self.agg.iter().flat_map(AggCall::exprs))
            .chain(self.partition.iter())
            .chain(self.order.iter().map(|(e, _)| e))
    }

    /// [`WindowCall::exprs`], to change.
    pub fn exprs_mut(&mut self) -> impl Iterator<Item = &mut BExpr> {
        self.args
            .iter_mut()
            .chain(self.agg.iter_mut().flat_map(AggCall::exprs_mut))
            .chain(self.partition.iter_mut())
            .chain(self.order.iter_mut().map(|(e, _)| e))
    }
}

impl Query {
    /// The declared type of each output column that is a table column as
    /// it is (see [`Select::declared`]); `None` for the others.
    pub fn declared(&self) -> Vec<Option<crate::catalog::Width>> {
        match &self.body {
            Body::Select(s) => s.declared.clone(),
            _ => vec![None; self.columns.len()],
        }
    }
}

/// A query: a body, then ORDER BY, OFFSET and LIMIT.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub body: Body,
    /// Sort keys (computed per row by the body) and their directions.
    pub order: Vec<SortKey>,
    pub limit: Option<BExpr>,
    pub offset: Option<BExpr>,
    /// Output column names and types.
    pub columns: Vec<(String, Option<DataType>)>,
    /// `SELECT DISTINCT ON (…)`: the last this many of each row's sort
    /// keys (after `order`'s) are the DISTINCT ON values; the first row of
    /// each (in the sorted order) is kept.
    pub distinct_on: usize,
}

/// Direction of a sort key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SortKey {
    pub descending: bool,
    pub nulls_first: bool,
}

/// What a query computes before sorting.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    Select(Box<Select>),
    /// `VALUES (…), (…)`; the sort keys (if any) are in `order`.
    Values {
        rows: Vec<Vec<BExpr>>,
        order: Vec<BExpr>,
    },
    /// `unnest(a, …) [WITH ORDINALITY]` in a FROM: a row per element of
    /// the longest array (the others padded with NULL), then the element's
    /// position. Arrays are kept in PostgreSQL's text form; an element
    /// that reads as an integer is one. With `json` set, the one
    /// expression is a jsonb document and the rows are those of that JSON
    /// set-returning function (`jsonb_array_elements`, `jsonb_each`, …).
    Unnest {
        arrays: Vec<BExpr>,
        ordinality: bool,
        json: Option<crate::json::Rows>,
        /// `jsonb_to_record(set)`'s columns, as its alias defines them.
        record: Vec<(String, DataType)>,
    },
    /// UNION / INTERSECT / EXCEPT; sort keys name output columns.
    SetOp {
        op: SetOp,
        all: bool,
        left: Box<Body>,
        right: Box<Body>,
        order: Vec<BExpr>,
    },
}

/// Set operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOp {
    Union,
    Intersect,
    Except,
}

/// One SELECT block.
#[derive(Clone, Debug, PartialEq)]
pub struct Select {
    /// Sources and how they are joined, in execution order.
    pub steps: Vec<Step>,
    /// Width of the block's rows (all sources).
    pub width: usize,
    /// Conditions left after the joins (those with subqueries, or WHERE
    /// conditions above an outer join).
    pub filter: Option<BExpr>,
    /// GROUP BY and the aggregates, for grouped queries.
    pub grouping: Option<Grouping>,
    /// HAVING, over the grouped row.
    pub having: Option<BExpr>,
    /// Window function calls: their values follow each row (grouped or
    /// not) after HAVING.
    pub windows: Vec<WindowCall>,
    /// The output expressions (over the grouped row when grouped).
    pub projection: Vec<BExpr>,
    pub distinct: bool,
    /// Sort keys, evaluated per result row (may name `Output` columns).
    pub order: Vec<BExpr>,
    /// The declared type (SMALLINT, VARCHAR(n), …) of each output that is
    /// a table column as it is.
    pub declared: Vec<Option<crate::catalog::Width>>,
}

/// GROUP BY keys and aggregate calls. A grouped row is the keys' values
/// followed by the aggregates' values.
#[derive(Clone, Debug, PartialEq)]
pub struct Grouping {
    pub keys: Vec<BExpr>,
    pub aggs: Vec<AggCall>,
    /// GROUPING SETS, ROLLUP, CUBE: the keys (positions in `keys`) of each
    /// grouping set, whose groups follow one another (a key a set leaves
    /// out is NULL in its rows). Empty for a plain GROUP BY: one set of
    /// every key.
    pub sets: Vec<Vec<usize>>,
}

/// How a step joins its source to the rows so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    /// The first step (nothing to join to).
    First,
    Inner,
    Left,
    /// Planned as a LEFT JOIN with the sides swapped.
    Right,
    Full,
}

/// One source of a SELECT block and how it joins the steps before it.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub source: Source,
    pub kind: JoinKind,
    /// Equality keys: (over the rows so far, over this source's rows). A
    /// hash join when non-empty.
    pub keys: Vec<(BExpr, BExpr)>,
    /// A LEFT JOIN's remaining ON condition (decides what matches).
    pub on: Option<BExpr>,
    /// Conditions checked once this step is joined (inner joins).
    pub after: Option<BExpr>,
}

/// A source of rows.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// One empty row (a SELECT without FROM).
    Unit,
    Scan(Box<Scan>),
    /// A subquery in FROM.
    Derived {
        query: Box<Query>,
        alias: String,
        offset: usize,
        width: usize,
        /// Conditions on its rows alone.
        filter: Option<BExpr>,
        /// LATERAL: it names columns of the FROM items before it (as an
        /// enclosing query's, depth 1), so it is run once per row joined
        /// so far, in the FROM clause's order.
        lateral: bool,
    },
}

/// A read of one table.
#[derive(Clone, Debug, PartialEq)]
pub struct Scan {
    pub table: std::sync::Arc<TableDef>,
    /// The name the query uses for it.
    pub alias: String,
    /// Where its columns start in the block's rows, and the block's width.
    pub offset: usize,
    pub width: usize,
    pub access: Access,
    /// Conditions on its rows alone (checked after the read).
    pub filter: Option<BExpr>,
    /// Take exclusive locks on the rows read (FOR UPDATE, UPDATE, DELETE).
    pub for_update: bool,
    /// What a `for_update` read does about rows another transaction
    /// holds: wait (the default), fail (`NOWAIT`) or pass them by (`SKIP
    /// LOCKED`).
    pub lock_wait: LockWait,
    /// Filled by `fetch`: the rows read (full width) and their keys.
    pub rows: Vec<Row>,
    pub keys: Vec<Vec<u8>>,
}

/// What a locking read does about a row another transaction holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LockWait {
    /// Waits for it (wound-wait decides who goes first).
    #[default]
    Wait,
    /// Fails at once: 55P03 (`FOR UPDATE NOWAIT`).
    NoWait,
    /// Leaves the row out (`FOR UPDATE SKIP LOCKED`).
    SkipLocked,
}

/// How a table is read. Every expression in it is constant.
#[derive(Clone, Debug, PartialEq)]
pub enum Access {
    /// Every row.
    Full,
    /// Rows by their whole primary key: one tuple per row.
    Points(Vec<Vec<BExpr>>),
    /// A key range of the primary key (`index` = None) or of a secondary
    /// index: equal to `eq` on the first columns, then optionally bounded
    /// on the next column.
    Range {
        index: Option<u32>,
        eq: Vec<BExpr>,
        lower: Option<BExpr>,
        upper: Option<(BExpr, bool)>,
    },
}
