//! The catalog queries of psql's `\d` commands, answered from Spanlite's
//! catalog. Spanlite has no `pg_catalog` tables: the engine cannot run
//! these queries (regex operators, `::regclass` casts, `COLLATE`, catalog
//! functions), so the queries psql 15 sends are recognised by their shape
//! and answered here; any other query that reads `pg_catalog` or
//! `information_schema` tables gets 0A000, never made-up rows.
//!
//! ```text
//!   \dt [pattern]   list   Schema | Name | Type | Owner        (tables)
//!   \d name         find   oid | nspname | relname
//!                   table  relchecks, relkind, relhasindex, …  (one row)
//!                   columns attname, format_type, default, attnotnull, …
//!                   indexes relname, indisprimary, indisunique, …, indexdef
//!                   and empty answers from the catalogs of objects Spanlite
//!                   has none of (constraints other than keys, triggers,
//!                   policies, rules, inheritance, publications, statistics)
//! ```
//!
//! Every table lives in schema `public`, is owned by `spanlite`, and has
//! oid [`OID_BASE`] + its id. A primary key shows as the index
//! `<table>_pkey`.

use spanlite_sql::{DataType, QueryResult, SqlError, TableDef, Value};

/// The oid of the table with id 0 (PostgreSQL's first user oid).
pub const OID_BASE: i64 = 16384;

/// A catalog query psql sends, recognised.
#[derive(Debug, Clone, PartialEq)]
pub enum CatalogQuery {
    /// `\dt`, `\d` (no name), `\dv`, …: relations whose kind is in the
    /// list, with names matching the pattern. `tables`: the kinds include
    /// ordinary tables.
    List {
        /// The relkind list includes `'r'`.
        tables: bool,
        /// psql's name regex, if a pattern was given.
        pattern: Option<String>,
    },
    /// `\d name`, first step: the oids of relations matching the pattern.
    Find {
        /// psql's name regex.
        pattern: String,
    },
    /// `\d`: the table's flags.
    Table(i64),
    /// `\d`: the table's columns.
    Columns(i64),
    /// `\d`: the table's indexes.
    Indexes(i64),
    /// A catalog of objects Spanlite has none of: no rows.
    Nothing,
}

/// `sql` with runs of whitespace as one space.
fn squash(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The single-quoted literal right after `marker` in `sql`.
fn literal_after(sql: &str, marker: &str) -> Option<String> {
    let rest = &sql[sql.find(marker)? + marker.len()..];
    let rest = rest.trim_start().strip_prefix('\'')?;
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            if chars.peek() == Some(&'\'') {
                chars.next();
                out.push('\'');
            } else {
                return Some(out);
            }
        } else {
            out.push(c);
        }
    }
    None
}

fn oid_after(sql: &str, marker: &str) -> Option<i64> {
    literal_after(sql, marker)?.parse().ok()
}

/// Recognises the catalog queries of psql 15's `\d` family.
pub fn recognize(sql: &str) -> Option<CatalogQuery> {
    let s = squash(sql);
    let name_pattern = || literal_after(&s, "c.relname OPERATOR(pg_catalog.~)");
    if s.contains("pg_catalog.pg_get_userbyid(c.relowner) as \"Owner\"")
        && s.contains("FROM pg_catalog.pg_class c")
        && !s.contains("\"Size\"")
        && !s.contains("\"Table\"")
        && !s.contains("\"Description\"")
    {
        let kinds = s.split("c.relkind IN (").nth(1)?.split(')').next()?;
        return Some(CatalogQuery::List {
            tables: kinds.contains("'r'"),
            pattern: name_pattern(),
        });
    }
    if s.starts_with("SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c") {
        return Some(CatalogQuery::Find {
            pattern: name_pattern()?,
        });
    }
    if s.starts_with("SELECT c.relchecks, c.relkind, c.relhasindex") {
        return Some(CatalogQuery::Table(oid_after(&s, "WHERE c.oid =")?));
    }
    if s.starts_with("SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)")
        && s.contains("FROM pg_catalog.pg_attribute a")
    {
        return Some(CatalogQuery::Columns(oid_after(&s, "WHERE a.attrelid =")?));
    }
    if s.starts_with("SELECT c2.relname, i.indisprimary, i.indisunique")
        && s.contains("pg_catalog.pg_index i")
    {
        return Some(CatalogQuery::Indexes(oid_after(&s, "WHERE c.oid =")?));
    }
    // Catalogs of things Spanlite has none of, as `\d name` reads them:
    // check and foreign-key constraints, the tables that reference this
    // one, row-security policies, extended statistics, publications,
    // inheritance and partitions, triggers and rules.
    let nothing = [
        "FROM pg_catalog.pg_constraint r WHERE r.conrelid =",
        "FROM pg_catalog.pg_constraint r WHERE r.contype = 'f'",
        "FROM pg_catalog.pg_policy pol",
        "FROM pg_catalog.pg_statistic_ext",
        "FROM pg_catalog.pg_publication",
        "pg_catalog.pg_inherits i",
        "FROM pg_catalog.pg_trigger t",
        "FROM pg_catalog.pg_rewrite r",
    ];
    if s.starts_with("SELECT") && nothing.iter().any(|n| s.contains(n)) {
        return Some(CatalogQuery::Nothing);
    }
    None
}

/// True when `sql` reads PostgreSQL catalog tables that Spanlite does not
/// have (to answer 0A000 instead of 42P01 "relation does not exist").
pub fn reads_pg_catalog(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    lower.contains("pg_catalog.pg_") || lower.contains("information_schema.")
}

/// Matches `name` against psql's pattern regex `^(…)$`, whose body uses
/// `.*` and `.` for `*` and `?` and `\c` for a literal special character.
/// `None`: a regex beyond that.
fn regex_matches(pattern: &str, name: &str) -> Option<bool> {
    let body = pattern.strip_prefix("^(")?.strip_suffix(")$")?;
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Tok {
        Lit(char),
        Any,
        AnyRun,
    }
    let mut toks = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => toks.push(Tok::Lit(chars.next()?)),
            '.' if chars.peek() == Some(&'*') => {
                chars.next();
                toks.push(Tok::AnyRun);
            }
            '.' => toks.push(Tok::Any),
            '[' | ']' | '(' | ')' | '{' | '}' | '|' | '+' | '?' | '*' | '^' | '$' => return None,
            c => toks.push(Tok::Lit(c)),
        }
    }
    // Iterative, backtracking only to the last `.*` (linear memory, at most
    // name × pattern steps): no recursion a long pattern could overflow.
    let n: Vec<char> = name.chars().collect();
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < n.len() {
        match toks.get(j) {
            Some(Tok::AnyRun) => {
                star = Some((j, i));
                j += 1;
                continue;
            }
            Some(Tok::Any) => {
                i += 1;
                j += 1;
                continue;
            }
            Some(Tok::Lit(c)) if *c == n[i] => {
                i += 1;
                j += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sj, si)) => {
                j = sj + 1;
                i = si + 1;
                star = Some((sj, si + 1));
            }
            None => return Some(false),
        }
    }
    while toks.get(j) == Some(&Tok::AnyRun) {
        j += 1;
    }
    Some(j == toks.len())
}

fn matching<'t>(
    tables: &'t [TableDef],
    pattern: Option<&str>,
) -> Result<Vec<&'t TableDef>, SqlError> {
    let mut out = Vec::new();
    for t in tables {
        let keep = match pattern {
            None => true,
            Some(p) => regex_matches(p, &t.name).ok_or_else(|| {
                SqlError::not_supported(format!(
                    "the name pattern {p:?} (Spanlite's psql support takes names with * and ?)"
                ))
            })?,
        };
        if keep {
            out.push(t);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn result(columns: &[(&str, DataType)], rows: Vec<Vec<Value>>) -> QueryResult {
    QueryResult {
        declared: Vec::new(),
        columns: columns
            .iter()
            .map(|(n, t)| (n.to_string(), Some(*t)))
            .collect(),
        tag: format!("SELECT {}", rows.len()),
        rows_affected: rows.len() as u64,
        rows,
    }
}

/// The type's name as PostgreSQL's `format_type` gives it, for the type
/// the PostgreSQL port sends the column as (see [`super::types`]).
pub fn format_type(ty: DataType) -> &'static str {
    match ty {
        DataType::Bool => "boolean",
        DataType::Int => "bigint",
        DataType::Float => "double precision",
        DataType::Text => "text",
        DataType::Bytes => "bytea",
        DataType::Timestamp => "timestamp without time zone",
        DataType::Date => "date",
        DataType::TimestampTz => "timestamp with time zone",
        DataType::Numeric => "numeric",
        DataType::Uuid => "uuid",
        DataType::Jsonb => "jsonb",
        DataType::Time => "time without time zone",
        DataType::Interval => "interval",
    }
}

/// A default as `pg_get_expr` would print it.
fn default_expr(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Text(s) => format!("'{}'::text", s.replace('\'', "''")),
        other => format!("'{other}'"),
    })
}

/// Answers `q` from `tables` (every table of the catalog).
pub fn answer(q: &CatalogQuery, tables: &[TableDef]) -> Result<QueryResult, SqlError> {
    let by_oid = |oid: i64| tables.iter().find(|t| OID_BASE + i64::from(t.id) == oid);
    use DataType::{Bool, Int, Text};
    Ok(match q {
        CatalogQuery::List {
            tables: with_tables,
            pattern,
        } => {
            let rows = if *with_tables {
                matching(tables, pattern.as_deref())?
                    .into_iter()
                    .map(|t| {
                        vec![
                            text("public"),
                            text(&t.name),
                            text("table"),
                            text("spanlite"),
                        ]
                    })
                    .collect()
            } else {
                Vec::new()
            };
            result(
                &[
                    ("Schema", Text),
                    ("Name", Text),
                    ("Type", Text),
                    ("Owner", Text),
                ],
                rows,
            )
        }
        CatalogQuery::Find { pattern } => result(
            &[("oid", Int), ("nspname", Text), ("relname", Text)],
            matching(tables, Some(pattern))?
                .into_iter()
                .map(|t| {
                    vec![
                        Value::Int(OID_BASE + i64::from(t.id)),
                        text("public"),
                        text(&t.name),
                    ]
                })
                .collect(),
        ),
        CatalogQuery::Table(oid) => {
            let rows = by_oid(*oid)
                .map(|t| {
                    let has_index = !t.primary_key.is_empty() || !t.indexes.is_empty();
                    vec![
                        Value::Int(0),
                        text("r"),
                        Value::Bool(has_index),
                        Value::Bool(false),
                        Value::Bool(false),
                        Value::Bool(false),
                        Value::Bool(false),
                        Value::Bool(false),
                        Value::Bool(false),
                        text(""),
                        Value::Int(0),
                        text(""),
                        text("p"),
                        text("d"),
                        text("heap"),
                    ]
                })
                .into_iter()
                .collect();
            result(
                &[
                    ("relchecks", Int),
                    ("relkind", Text),
                    ("relhasindex", Bool),
                    ("relhasrules", Bool),
                    ("relhastriggers", Bool),
                    ("relrowsecurity", Bool),
                    ("relforcerowsecurity", Bool),
                    ("relhasoids", Bool),
                    ("relispartition", Bool),
                    ("?column?", Text),
                    ("reltablespace", Int),
                    ("reloftype", Text),
                    ("relpersistence", Text),
                    ("relreplident", Text),
                    ("amname", Text),
                ],
                rows,
            )
        }
        CatalogQuery::Columns(oid) => {
            let rows = by_oid(*oid)
                .map(|t| {
                    t.columns
                        .iter()
                        .map(|c| {
                            vec![
                                text(&c.name),
                                text(format_type(c.ty)),
                                c.default
                                    .as_ref()
                                    .and_then(default_expr)
                                    .map_or(Value::Null, Value::Text),
                                Value::Bool(!c.nullable),
                                Value::Null,
                                text(""),
                                text(""),
                            ]
                        })
                        .collect()
                })
                .unwrap_or_default();
            result(
                &[
                    ("attname", Text),
                    ("format_type", Text),
                    ("pg_get_expr", Text),
                    ("attnotnull", Bool),
                    ("attcollation", Text),
                    ("attidentity", Text),
                    ("attgenerated", Text),
                ],
                rows,
            )
        }
        CatalogQuery::Indexes(oid) => {
            let mut rows = Vec::new();
            if let Some(t) = by_oid(*oid) {
                let names = |cols: &[usize]| {
                    cols.iter()
                        .filter_map(|&i| t.columns.get(i).map(|c| c.name.clone()))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let mut index = |name: String, primary: bool, unique: bool, cols: &[usize]| {
                    let unique_word = if unique { "UNIQUE " } else { "" };
                    let def = format!(
                        "CREATE {unique_word}INDEX {name} ON public.{} USING btree ({})",
                        t.name,
                        names(cols)
                    );
                    let (condef, contype) = if primary {
                        (text(&format!("PRIMARY KEY ({})", names(cols))), text("p"))
                    } else {
                        (Value::Null, Value::Null)
                    };
                    let flag = |b: bool| if primary { Value::Bool(b) } else { Value::Null };
                    rows.push(vec![
                        text(&name),
                        Value::Bool(primary),
                        Value::Bool(unique),
                        Value::Bool(false),
                        Value::Bool(true),
                        Value::Text(def),
                        condef,
                        contype,
                        flag(false),
                        flag(false),
                        Value::Bool(false),
                        Value::Int(0),
                    ]);
                };
                if !t.primary_key.is_empty() {
                    index(format!("{}_pkey", t.name), true, true, &t.primary_key);
                }
                // psql's order: the primary key first, then by name.
                let primary = |i: &&spanlite_sql::IndexDef| t.primary_index == Some(i.id);
                if let Some(i) = t.indexes.iter().find(primary) {
                    index(i.name.clone(), true, true, &i.columns);
                }
                let mut secondary: Vec<_> = t.indexes.iter().filter(|i| !primary(i)).collect();
                secondary.sort_by(|a, b| a.name.cmp(&b.name));
                for i in secondary {
                    index(i.name.clone(), false, i.unique, &i.columns);
                }
            }
            result(
                &[
                    ("relname", Text),
                    ("indisprimary", Bool),
                    ("indisunique", Bool),
                    ("indisclustered", Bool),
                    ("indisvalid", Bool),
                    ("pg_get_indexdef", Text),
                    ("pg_get_constraintdef", Text),
                    ("contype", Text),
                    ("condeferrable", Bool),
                    ("condeferred", Bool),
                    ("indisreplident", Bool),
                    ("reltablespace", Int),
                ],
                rows,
            )
        }
        CatalogQuery::Nothing => result(&[("?column?", Text)], Vec::new()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psql_patterns() {
        assert_eq!(regex_matches("^(accounts)$", "accounts"), Some(true));
        assert_eq!(regex_matches("^(acc.*)$", "accounts"), Some(true));
        assert_eq!(regex_matches("^(acc.*)$", "bank"), Some(false));
        assert_eq!(regex_matches("^(a.c)$", "abc"), Some(true));
        assert_eq!(regex_matches("^(a\\$b)$", "a$b"), Some(true));
        assert_eq!(regex_matches("^(a|b)$", "a"), None);
        assert_eq!(regex_matches("^(.*b.*c)$", "abxc"), Some(true));
        assert_eq!(regex_matches("^(.*b.*c)$", "abxd"), Some(false));
        assert_eq!(regex_matches("^(a..)$", "ab"), Some(false));
    }

    /// A long pattern (a `\d` argument of 100,000 characters) neither
    /// overflows the stack nor takes exponential time: the matcher backtracks
    /// only to its last `.*`. Before, it recursed once per character and
    /// tried every split at every `.*` (this case overflowed the stack).
    #[test]
    fn a_long_pattern_matches_without_recursion() {
        let body = ".*a".repeat(50_000);
        let pattern = format!("^({body})$");
        let name = "a".repeat(49_999) + "b";
        let started = std::time::Instant::now();
        assert_eq!(regex_matches(&pattern, &name), Some(false));
        let name = "a".repeat(50_000);
        assert_eq!(regex_matches(&pattern, &name), Some(true));
        // Not a timing assertion: a note for whoever reads a slow run.
        eprintln!("long pattern: {:?}", started.elapsed());
    }

    #[test]
    fn recognizes_the_list_of_tables() {
        let q = "SELECT n.nspname as \"Schema\",\n  c.relname as \"Name\",\n  CASE c.relkind WHEN 'r' THEN 'table' END as \"Type\",\n  pg_catalog.pg_get_userbyid(c.relowner) as \"Owner\"\nFROM pg_catalog.pg_class c\n     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\nWHERE c.relkind IN ('r','p','')\n  AND c.relname OPERATOR(pg_catalog.~) '^(acc.*)$' COLLATE pg_catalog.default\nORDER BY 1,2;";
        assert_eq!(
            recognize(q),
            Some(CatalogQuery::List {
                tables: true,
                pattern: Some("^(acc.*)$".to_string())
            })
        );
        assert!(reads_pg_catalog("select * from pg_catalog.pg_type"));
        assert!(!reads_pg_catalog("select * from accounts"));
    }
}
