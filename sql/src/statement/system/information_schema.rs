//! The rows of the `information_schema` views.

use super::objects::*;
use super::relations::{RELATIONS, Rows, Snapshot};
use crate::access::ADMIN;
use crate::catalog::{Column, RefAction, TableDef, Width};
use crate::compat::{PUBLIC, TYPES};
use crate::sequence::SequenceDef;
use crate::value::Value;

// ---------------------------------------------------------------------------
// information_schema

pub(super) fn schemata(s: &Snapshot) -> Rows {
    ["pg_catalog", "public", "information_schema"]
        .into_iter()
        .map(|n| {
            vec![
                t(&s.session.database),
                t(n),
                t(ADMIN),
                null(),
                null(),
                null(),
                null(),
            ]
        })
        .collect()
}

pub(super) fn is_tables(s: &Snapshot) -> Rows {
    let row = |schema: &str, name: &str, view: bool| {
        vec![
            t(&s.session.database),
            t(schema),
            t(name),
            t(if view { "VIEW" } else { "BASE TABLE" }),
            null(),
            null(),
            null(),
            null(),
            null(),
            yes_no(!view),
            t("NO"),
            null(),
        ]
    };
    let mut out: Rows = s
        .tables
        .iter()
        .filter(|d| visible(s, d))
        .map(|d| row("public", &d.name, false))
        .collect();
    out.extend(s.views.iter().map(|v| row("public", &v.name, true)));
    out.extend(
        RELATIONS
            .iter()
            .map(|r| row(r.schema, r.name, r.kind == "v")),
    );
    out
}

/// `information_schema.columns`'s type columns for a column: data_type,
/// character_maximum_length, character_octet_length, numeric_precision,
/// numeric_precision_radix, numeric_scale, datetime_precision, udt_name.
pub(super) fn type_columns(c: &Column) -> [Value; 8] {
    let (oid, _) = column_type(c);
    if let Some(element) = TYPES.iter().find(|x| x.array == oid) {
        // PostgreSQL's: ARRAY, the array type's name, no lengths.
        let mut out: [Value; 8] = std::array::from_fn(|_| null());
        out[0] = t("ARRAY");
        out[7] = t(format!("_{}", element.name));
        return out;
    }
    let builtin = TYPES.iter().find(|x| x.oid == oid);
    let (sql, udt) = match &c.enum_type {
        Some(e) => ("USER-DEFINED", e.name.as_str()),
        None => builtin.map_or(("text", "text"), |x| (x.sql, x.name)),
    };
    let (chars, octets) = match c.width {
        Some(Width::Varchar(n) | Width::Char(n)) => (i(n as i64), i(n as i64 * 4)),
        _ if oid == 25 => (null(), i(1_073_741_824)),
        _ => (null(), null()),
    };
    let (precision, radix, scale) = match (oid, c.width) {
        (21, _) => (i(16), i(2), i(0)),
        (23, _) => (i(32), i(2), i(0)),
        (20, _) => (i(64), i(2), i(0)),
        (701, _) => (i(53), i(2), null()),
        (1700, Some(Width::Numeric { precision, scale })) => {
            (i(i64::from(precision)), i(10), i(i64::from(scale)))
        }
        (1700, _) => (null(), i(10), null()),
        _ => (null(), null(), null()),
    };
    let datetime = match oid {
        1082 => i(0),
        1083 | 1114 | 1184 | 1186 => i(6),
        _ => null(),
    };
    [
        t(sql),
        chars,
        octets,
        precision,
        radix,
        scale,
        datetime,
        t(udt),
    ]
}

pub(super) fn is_columns(s: &Snapshot) -> Rows {
    let mut out = Vec::new();
    for def in s.tables.iter().filter(|d| visible(s, d)) {
        for (n, c) in def.columns.iter().enumerate() {
            let [
                data_type,
                chars,
                octets,
                precision,
                radix,
                scale,
                datetime,
                udt,
            ] = type_columns(c);
            let identity = c.generated.as_ref().filter(|g| g.always);
            let seq = identity.and_then(|g| s.sequences.iter().find(|q| q.name == g.sequence));
            let seq_field =
                |f: &dyn Fn(&SequenceDef) -> i64| seq.map_or(null(), |q| t(f(q).to_string()));
            out.push(vec![
                t(&s.session.database),
                t("public"),
                t(&def.name),
                t(&c.name),
                i(n as i64 + 1),
                column_default(c).map_or(null(), t),
                yes_no(c.nullable),
                data_type,
                chars,
                octets,
                precision,
                radix,
                scale,
                datetime,
                null(),
                null(),
                null(),
                null(),
                null(),
                null(),
                null(),
                null(),
                null(),
                null(),
                null(),
                t(&s.session.database),
                t("pg_catalog"),
                udt,
                null(),
                null(),
                null(),
                null(),
                t((n + 1).to_string()),
                t("NO"),
                yes_no(identity.is_some()),
                identity.map_or(null(), |_| t("ALWAYS")),
                seq_field(&|q| q.start),
                seq_field(&|q| q.increment),
                seq_field(&|q| q.max),
                seq_field(&|q| q.min),
                identity.map_or(null(), |_| t("NO")),
                t(if c.generation.is_some() {
                    "ALWAYS"
                } else {
                    "NEVER"
                }),
                c.generation.clone().map_or(null(), t),
                t("YES"),
            ]);
        }
    }
    out
}

pub(super) fn constraint_rows(s: &Snapshot) -> Vec<(&TableDef, ConstraintRow)> {
    s.tables
        .iter()
        .filter(|d| visible(s, d))
        .flat_map(|d| {
            constraints_of(d, &s.tables)
                .into_iter()
                .map(move |c| (d, c))
        })
        .collect()
}

pub(super) fn key_column_usage(s: &Snapshot) -> Rows {
    let mut out = Vec::new();
    for (def, c) in constraint_rows(s) {
        if c.kind == "c" {
            continue;
        }
        for (n, col) in c.columns.iter().enumerate() {
            let Some(column) = def.columns.get(*col) else {
                continue;
            };
            let in_unique = c.parent.as_ref().map(|(p, pcols, _, _)| {
                // The position of the referenced column in the parent's key.
                let parent = s.tables.iter().find(|x| &x.name == p);
                let key = parent.and_then(|p| {
                    indexes_of(p)
                        .into_iter()
                        .find(|ix| ix.unique && ix.columns.iter().all(|c| pcols.contains(c)))
                });
                key.and_then(|k| {
                    let want = pcols.get(n)?;
                    k.columns.iter().position(|c| c == want)
                })
                .map_or(null(), |p| i(p as i64 + 1))
            });
            out.push(vec![
                t(&s.session.database),
                t("public"),
                t(&c.name),
                t(&s.session.database),
                t("public"),
                t(&def.name),
                t(&column.name),
                i(n as i64 + 1),
                in_unique.unwrap_or(null()),
            ]);
        }
    }
    out
}

pub(super) fn table_constraints(s: &Snapshot) -> Rows {
    let row = |name: &str, table: &str, kind: &str| {
        vec![
            t(&s.session.database),
            t("public"),
            t(name),
            t(&s.session.database),
            t("public"),
            t(table),
            t(kind),
            t("NO"),
            t("NO"),
            t("YES"),
            if kind == "UNIQUE" || kind == "PRIMARY KEY" {
                t("YES")
            } else {
                null()
            },
        ]
    };
    let mut out = Vec::new();
    for (def, c) in constraint_rows(s) {
        let kind = match c.kind {
            "p" => "PRIMARY KEY",
            "u" => "UNIQUE",
            "f" => "FOREIGN KEY",
            _ => "CHECK",
        };
        out.push(row(&c.name, &def.name, kind));
    }
    // PostgreSQL shows each NOT NULL column as a CHECK constraint, named
    // after the schema's, the table's and the column's numbers.
    for def in s.tables.iter().filter(|d| visible(s, d)) {
        for (n, c) in def.columns.iter().enumerate() {
            if !c.nullable {
                let name = format!("{PUBLIC}_{}_{}_not_null", table_oid(&def.name), n + 1);
                out.push(row(&name, &def.name, "CHECK"));
            }
        }
    }
    out
}

pub(super) fn rule(a: RefAction) -> &'static str {
    match a {
        RefAction::Refuse => "NO ACTION",
        RefAction::Cascade => "CASCADE",
        RefAction::SetNull => "SET NULL",
    }
}

pub(super) fn referential_constraints(s: &Snapshot) -> Rows {
    let mut out = Vec::new();
    for (_, c) in constraint_rows(s) {
        let Some((parent, cols, upd, del)) = &c.parent else {
            continue;
        };
        let unique = s
            .tables
            .iter()
            .find(|p| &p.name == parent)
            .and_then(|p| {
                indexes_of(p).into_iter().find(|ix| {
                    ix.unique
                        && ix.columns.len() == cols.len()
                        && ix.columns.iter().all(|c| cols.contains(c))
                })
            })
            .map_or(null(), |ix| t(ix.name));
        out.push(vec![
            t(&s.session.database),
            t("public"),
            t(&c.name),
            t(&s.session.database),
            t("public"),
            unique,
            t("NONE"),
            t(rule(*upd)),
            t(rule(*del)),
        ]);
    }
    out
}

pub(super) fn check_constraints(s: &Snapshot) -> Rows {
    constraint_rows(s)
        .into_iter()
        .filter_map(|(_, c)| {
            let check = c.check?;
            Some(vec![
                t(&s.session.database),
                t("public"),
                t(&c.name),
                t(format!("({check})")),
            ])
        })
        .collect()
}

pub(super) fn is_sequences(s: &Snapshot) -> Rows {
    s.sequences
        .iter()
        .map(|q| {
            vec![
                t(&s.session.database),
                t("public"),
                t(&q.name),
                t("bigint"),
                i(64),
                i(2),
                i(0),
                t(q.start.to_string()),
                t(q.min.to_string()),
                t(q.max.to_string()),
                t(q.increment.to_string()),
                t("NO"),
            ]
        })
        .collect()
}

pub(super) fn is_views(s: &Snapshot) -> Rows {
    s.views
        .iter()
        .map(|v| {
            vec![
                t(&s.session.database),
                t("public"),
                t(&v.name),
                t(format!(" {};", v.sql)),
                t("NONE"),
                t("NO"),
                t("NO"),
                t("NO"),
                t("NO"),
                t("NO"),
            ]
        })
        .collect()
}
