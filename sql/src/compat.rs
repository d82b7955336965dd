//! PostgreSQL's names and text forms that Spanlite shows its values and
//! catalog in: type OIDs and `format_type`, array text (`{a,b}`),
//! `quote_ident`, regular expressions, the version string, and what a
//! statement may ask of its session ([`SessionInfo`]). The system
//! catalogs built on these are `statement::system`.

use crate::error::{Result, SqlError};
use crate::value::Value;

/// What a statement may ask of the session it runs in: the session
/// functions and `pg_settings`.
#[derive(Debug, Default)]
pub struct SessionInfo {
    /// The database the client connected to.
    pub database: String,
    /// The id a client sees as `pg_backend_pid()`.
    pub backend_pid: i64,
    /// The session's settings (lower-case names).
    pub settings: std::collections::BTreeMap<String, String>,
    /// Settings `set_config(name, value, is_local)` changed in the
    /// statement running: the session applies them when it succeeds.
    pub changed: std::sync::Mutex<Vec<SettingChange>>,
}

/// A change `set_config` made to a setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingChange {
    /// The setting's name (lower case).
    pub name: String,
    /// Its new value.
    pub value: String,
    /// Only until the transaction ends (`is_local`).
    pub local: bool,
}

impl Clone for SessionInfo {
    fn clone(&self) -> Self {
        SessionInfo {
            database: self.database.clone(),
            backend_pid: self.backend_pid,
            settings: self.settings.clone(),
            changed: std::sync::Mutex::new(Vec::new()),
        }
    }
}

impl SessionInfo {
    /// The changes `set_config` made since the last call, oldest first.
    pub fn take_changes(&mut self) -> Vec<SettingChange> {
        std::mem::take(
            self.changed
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// Settings the server fixes, which no statement may change (PostgreSQL's
/// `internal` ones, and `is_superuser`, which the login sets).
pub const READ_ONLY_SETTINGS: &[&str] = &[
    "is_superuser",
    "server_version",
    "server_version_num",
    "server_encoding",
    "integer_datetimes",
    "in_hot_standby",
];

/// 55P02 when `name` is a setting no statement may change.
pub fn check_settable(name: &str) -> Result<()> {
    if READ_ONLY_SETTINGS.contains(&name) {
        return Err(SqlError::cant_change_param(format!(
            "parameter \"{name}\" cannot be changed"
        )));
    }
    Ok(())
}

/// The version string `version()` gives: PostgreSQL's form first (drivers
/// parse the major version from it), then Spanlite's own.
pub const VERSION: &str = concat!(
    "PostgreSQL 16.0 (Spanlite ",
    env!("CARGO_PKG_VERSION"),
    ", a distributed SQL database speaking PostgreSQL's wire protocol 3.0)"
);

/// The OIDs of the schemas.
pub(crate) const PG_CATALOG: i64 = 11;
pub(crate) const PUBLIC: i64 = 2200;
pub(crate) const INFORMATION_SCHEMA: i64 = 13_000;

/// The first OID of user objects (PostgreSQL's `FirstNormalObjectId`).
pub const FIRST_USER_OID: i64 = 16_384;

/// A stable OID for the object of `kind` named `name` (FNV-1a over both,
/// folded above [`FIRST_USER_OID`] and below 2³¹).
pub(crate) fn oid_of(kind: &str, name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in kind.bytes().chain([0]).chain(name.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    FIRST_USER_OID + (h % ((1u64 << 31) - FIRST_USER_OID as u64)) as i64
}

/// A type of PostgreSQL's that Spanlite's values have (or its catalogs
/// show): oid, `typname`, `typlen`, `typcategory`, array type's oid.
pub(crate) struct PgType {
    pub oid: i64,
    pub name: &'static str,
    pub len: i64,
    pub category: &'static str,
    pub array: i64,
    /// What `format_type` calls it.
    pub sql: &'static str,
}

const fn ty(
    oid: i64,
    name: &'static str,
    len: i64,
    category: &'static str,
    array: i64,
    sql: &'static str,
) -> PgType {
    PgType {
        oid,
        name,
        len,
        category,
        array,
        sql,
    }
}

/// The element types (each has an array type `_name`).
pub(crate) const TYPES: &[PgType] = &[
    ty(16, "bool", 1, "B", 1000, "boolean"),
    ty(17, "bytea", -1, "U", 1001, "bytea"),
    ty(18, "char", 1, "Z", 1002, "\"char\""),
    ty(19, "name", 64, "S", 1003, "name"),
    ty(20, "int8", 8, "N", 1016, "bigint"),
    ty(21, "int2", 2, "N", 1005, "smallint"),
    ty(22, "int2vector", -1, "A", 1006, "int2vector"),
    ty(23, "int4", 4, "N", 1007, "integer"),
    ty(24, "regproc", 4, "N", 1008, "regproc"),
    ty(25, "text", -1, "S", 1009, "text"),
    ty(26, "oid", 4, "N", 1028, "oid"),
    ty(114, "json", -1, "U", 199, "json"),
    ty(700, "float4", 4, "N", 1021, "real"),
    ty(701, "float8", 8, "N", 1022, "double precision"),
    ty(1042, "bpchar", -1, "S", 1014, "character"),
    ty(1043, "varchar", -1, "S", 1015, "character varying"),
    ty(1082, "date", 4, "D", 1182, "date"),
    ty(1083, "time", 8, "D", 1183, "time without time zone"),
    ty(
        1114,
        "timestamp",
        8,
        "D",
        1115,
        "timestamp without time zone",
    ),
    ty(
        1184,
        "timestamptz",
        8,
        "D",
        1185,
        "timestamp with time zone",
    ),
    ty(1186, "interval", 16, "T", 1187, "interval"),
    ty(1700, "numeric", -1, "N", 1231, "numeric"),
    ty(2205, "regclass", 4, "N", 2210, "regclass"),
    ty(2206, "regtype", 4, "N", 2211, "regtype"),
    ty(2950, "uuid", 16, "U", 2951, "uuid"),
    ty(3802, "jsonb", -1, "U", 3807, "jsonb"),
];

/// `format_type(oid, typmod)`: PostgreSQL's name of the type, with its
/// modifier (`character varying(20)`, `numeric(10,2)`).
pub fn format_type(oid: i64, typmod: Option<i64>) -> String {
    let typmod = typmod.filter(|m| *m >= 0);
    if let Some(t) = TYPES.iter().find(|t| t.oid == oid) {
        return match (t.oid, typmod) {
            (1042, None) => "bpchar".into(),
            (1042 | 1043, Some(m)) => format!("{}({})", t.sql, m - 4),
            (1700, Some(m)) => format!("numeric({},{})", (m - 4) >> 16, (m - 4) & 0xffff),
            _ => t.sql.into(),
        };
    }
    if let Some(t) = TYPES.iter().find(|t| t.array == oid) {
        let elem = format_type(t.oid, typmod);
        return format!("{elem}[]");
    }
    "???".into()
}

/// The oid of the array type of the type with oid `elem`, if it has one.
pub fn array_type_oid(elem: i64) -> Option<i64> {
    TYPES.iter().find(|t| t.oid == elem).map(|t| t.array)
}

/// The oid of the element type of the array type with oid `array`, if it
/// is one.
pub fn array_element_oid(array: i64) -> Option<i64> {
    TYPES.iter().find(|t| t.array == array).map(|t| t.oid)
}

/// `quote_ident(s)`: `s` in double quotes when it is not a plain lower-case
/// identifier (or is a keyword).
pub fn quote_ident(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && !is_keyword(s);
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}

/// `quote_literal(text)`: in single quotes, quotes doubled; with a
/// backslash, as an escape string (`E'a\\b'`) with backslashes doubled.
pub fn quote_literal(s: &str) -> String {
    let quoted = s.replace('\'', "''");
    if s.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    }
}

/// Reserved words PostgreSQL quotes in `quote_ident` (the common ones).
fn is_keyword(s: &str) -> bool {
    matches!(
        s,
        "all"
            | "and"
            | "any"
            | "array"
            | "as"
            | "asc"
            | "both"
            | "case"
            | "cast"
            | "check"
            | "collate"
            | "column"
            | "constraint"
            | "create"
            | "current_date"
            | "current_time"
            | "current_timestamp"
            | "current_user"
            | "default"
            | "desc"
            | "distinct"
            | "do"
            | "else"
            | "end"
            | "except"
            | "false"
            | "for"
            | "foreign"
            | "from"
            | "grant"
            | "group"
            | "having"
            | "in"
            | "into"
            | "is"
            | "join"
            | "leading"
            | "limit"
            | "not"
            | "null"
            | "offset"
            | "on"
            | "only"
            | "or"
            | "order"
            | "primary"
            | "references"
            | "select"
            | "session_user"
            | "table"
            | "then"
            | "to"
            | "trailing"
            | "true"
            | "union"
            | "unique"
            | "user"
            | "using"
            | "when"
            | "where"
            | "window"
            | "with"
    )
}

/// The elements of an array in PostgreSQL's text form (`{a,"b c",NULL}`)
/// or of a vector (`int2vector`: `1 2`), NULL elements as `None`.
pub fn array_items(text: &str) -> Vec<Option<String>> {
    let t = text.trim();
    let Some(inner) = t.strip_prefix('{').and_then(|x| x.strip_suffix('}')) else {
        return t.split_whitespace().map(|x| Some(x.to_string())).collect();
    };
    let mut out = Vec::new();
    if inner.trim().is_empty() {
        return out;
    }
    let mut cur = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = inner.chars();
    let mut push = |cur: &mut String, was_quoted: bool| {
        let item = std::mem::take(cur);
        out.push((was_quoted || item != "NULL").then_some(item));
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                was_quoted = true;
            }
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ',' if !quoted => {
                push(&mut cur, was_quoted);
                was_quoted = false;
            }
            c => cur.push(c),
        }
    }
    push(&mut cur, was_quoted);
    out
}

/// The elements of an array in PostgreSQL's text form (`{a,"b c",NULL}`);
/// NULL elements are left out (as `array_to_string` leaves them).
pub fn array_elements(text: &str) -> Vec<String> {
    array_items(text).into_iter().flatten().collect()
}

/// `pg_size_pretty(bytes)`.
pub fn size_pretty(n: i64) -> String {
    let mut size = n as f64;
    for unit in ["bytes", "kB", "MB", "GB", "TB"] {
        if size.abs() < 10.0 * 1024.0 || unit == "TB" {
            return format!("{} {unit}", size.round() as i64);
        }
        size /= 1024.0;
    }
    format!("{n} bytes")
}

/// `pattern` compiled (2201B when it does not), its size bounded.
pub(crate) fn regex(pattern: &str, insensitive: bool) -> Result<regex::Regex> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(insensitive)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            SqlError::invalid_regular_expression(format!("invalid regular expression: {e}"))
        })
}

/// `s ~ pattern` (`~*` when `insensitive`). PostgreSQL's regular
/// expressions are POSIX AREs; the common forms (anchors, classes, groups,
/// alternation, repetition) mean the same here.
pub fn regex_match(s: &str, pattern: &str, insensitive: bool) -> Result<bool> {
    let re = regex(pattern, insensitive)?;
    Ok(re.is_match(s))
}

/// `regexp_replace(s, pattern, replacement, flags)`: PostgreSQL's
/// replacement text (`\1`…`\9` the groups, `\&` the match, `\\` a
/// backslash) and flags `g` (every match) and `i` (ignore case).
pub fn regexp_replace(s: &str, pattern: &str, replacement: &str, flags: &str) -> Result<String> {
    let mut global = false;
    let mut insensitive = false;
    for f in flags.chars() {
        match f {
            'g' => global = true,
            'i' => insensitive = true,
            'c' => insensitive = false,
            other => {
                return Err(SqlError::invalid_parameter(format!(
                    "invalid regular expression option: \"{other}\""
                )));
            }
        }
    }
    let re = regex(pattern, insensitive)?;
    // Into the regex crate's syntax: groups as ${n}, a literal $ as $$.
    let mut expanded = String::with_capacity(replacement.len());
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek().copied() {
                Some(d @ '1'..='9') => {
                    chars.next();
                    expanded.push_str(&format!("${{{d}}}"));
                }
                Some('&') => {
                    chars.next();
                    expanded.push_str("${0}");
                }
                Some('\\') => {
                    chars.next();
                    expanded.push('\\');
                }
                _ => expanded.push('\\'),
            },
            '$' => expanded.push_str("$$"),
            other => expanded.push(other),
        }
    }
    let out = if global {
        re.replace_all(s, expanded.as_str())
    } else {
        re.replace(s, expanded.as_str())
    };
    Ok(out.into_owned())
}

/// A value as SQL text that reads back as it (a literal with its cast
/// where the type is not plain from the literal), as PostgreSQL shows a
/// column default (`pg_get_expr`, `information_schema.columns`).
pub(crate) fn default_text(v: &Value, type_sql: &str) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) if *i >= 0 => i.to_string(),
        // A negative literal is a cast of its text (PostgreSQL shows the
        // literal's own type: integer if it fits, else bigint).
        Value::Int(i) => {
            let ty = if i32::try_from(*i).is_ok() {
                "integer"
            } else {
                "bigint"
            };
            format!("'{i}'::{ty}")
        }
        Value::Numeric(n) if !n.0.is_sign_negative() => n.to_string(),
        Value::Float(x) if *x >= 0.0 && x.is_finite() => {
            let t = x.to_string();
            if type_sql == "double precision" {
                t
            } else {
                format!("'{t}'::{type_sql}")
            }
        }
        other => {
            let t = other.to_string().replace('\'', "''");
            // Without its modifiers (an array type keeps its `[]`).
            let base = match (type_sql.split_once('('), type_sql.rsplit_once(')')) {
                (Some((head, _)), Some((_, tail))) => format!("{head}{tail}"),
                _ => type_sql.to_string(),
            };
            let cast = match base.as_str() {
                "character" => "bpchar",
                "character[]" => "bpchar[]",
                b => b,
            };
            format!("'{t}'::{cast}")
        }
    }
}
