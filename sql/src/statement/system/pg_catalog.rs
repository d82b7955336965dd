//! The rows of the `pg_catalog` relations.

use super::objects::*;
use super::relations::{RELATIONS, Rows, Snapshot};
use crate::access::{ADMIN, RoleDef};
use crate::catalog::{Column, RefAction};
use crate::compat::{FIRST_USER_OID, INFORMATION_SCHEMA, PG_CATALOG, PUBLIC, TYPES, oid_of};
use crate::value::Value;

// ---------------------------------------------------------------------------
// pg_catalog

pub(super) fn namespaces(_: &Snapshot) -> Rows {
    vec![
        vec![i(PG_CATALOG), t("pg_catalog"), i(10), null()],
        vec![i(PUBLIC), t("public"), i(10), null()],
        vec![
            i(INFORMATION_SCHEMA),
            t("information_schema"),
            i(10),
            null(),
        ],
    ]
}

/// A `pg_class` row's facts (the rest of its columns are the same for
/// every relation here).
struct Class<'a> {
    oid: i64,
    name: &'a str,
    namespace: i64,
    owner: i64,
    /// Access method: heap (2), btree (403), none (0).
    am: i64,
    kind: &'a str,
    natts: usize,
    has_index: bool,
    checks: usize,
    has_triggers: bool,
}

impl<'a> Class<'a> {
    /// A relation of `kind` in `public`, owned by the bootstrap superuser,
    /// with `natts` columns and no access method, index, check or trigger.
    fn new(oid: i64, name: &'a str, kind: &'a str, natts: usize) -> Self {
        Class {
            oid,
            name,
            namespace: PUBLIC,
            owner: 10,
            am: 0,
            kind,
            natts,
            has_index: false,
            checks: 0,
            has_triggers: false,
        }
    }

    fn row(&self) -> Vec<Value> {
        let kind = self.kind;
        vec![
            i(self.oid),
            t(self.name),
            i(self.namespace),
            i(0),
            i(0),
            i(self.owner),
            i(self.am),
            i(if kind == "v" { 0 } else { self.oid }),
            i(0),
            i(0),
            Value::Float(-1.0),
            i(0),
            i(0),
            b(self.has_index),
            b(false),
            t("p"),
            t(kind),
            i(self.natts as i64),
            i(self.checks as i64),
            b(false),
            b(self.has_triggers),
            b(false),
            b(false),
            b(false),
            b(true),
            t(if kind == "r" { "d" } else { "n" }),
            b(false),
            i(0),
            i(0),
            i(0),
            null(),
            null(),
            null(),
        ]
    }
}

pub(super) fn classes(s: &Snapshot) -> Rows {
    let mut out = Vec::new();
    for def in &s.tables {
        let owner = role_oid(&owner_of(s, def));
        let ixs = indexes_of(def);
        // PostgreSQL keeps foreign keys with triggers on both tables; psql
        // looks for them only where relhastriggers says so.
        let has_triggers = !def.foreign_keys.is_empty()
            || s.tables
                .iter()
                .any(|t| t.foreign_keys.iter().any(|fk| fk.parent == def.name));
        out.push(
            Class {
                owner,
                am: 2,
                has_index: !ixs.is_empty(),
                checks: def.checks.len(),
                has_triggers,
                ..Class::new(table_oid(&def.name), &def.name, "r", def.columns.len())
            }
            .row(),
        );
        for ix in &ixs {
            out.push(
                Class {
                    owner,
                    am: 403,
                    ..Class::new(index_oid(&ix.name), &ix.name, "i", ix.columns.len())
                }
                .row(),
            );
        }
    }
    for v in &s.views {
        out.push(Class::new(table_oid(&v.name), &v.name, "v", v.columns.len()).row());
    }
    for q in &s.sequences {
        out.push(Class::new(table_oid(&q.name), &q.name, "S", 3).row());
    }
    for r in RELATIONS {
        out.push(
            Class {
                namespace: r.namespace(),
                am: if r.kind == "r" { 2 } else { 0 },
                ..Class::new(r.oid(), r.name, r.kind, r.columns.len())
            }
            .row(),
        );
    }
    out
}

#[allow(clippy::too_many_arguments)]
pub(super) fn attribute_row(
    relid: i64,
    name: &str,
    ty: i64,
    num: usize,
    typmod: i64,
    not_null: bool,
    has_default: bool,
    identity: &str,
    generated: &str,
) -> Vec<Value> {
    let len = TYPES.iter().find(|x| x.oid == ty).map_or(-1, |x| x.len);
    let collation = if matches!(ty, 25 | 1042 | 1043) {
        100
    } else {
        0
    };
    vec![
        i(relid),
        t(name),
        i(ty),
        i(-1),
        i(len),
        i(num as i64),
        i(0),
        i(-1),
        i(typmod),
        b(len > 0 && len <= 8),
        t(if len == 8 { "d" } else { "i" }),
        t(if len > 0 { "p" } else { "x" }),
        t(""),
        b(not_null),
        b(has_default),
        b(false),
        t(identity),
        t(generated),
        b(false),
        b(true),
        i(0),
        i(collation),
        null(),
        null(),
        null(),
        null(),
    ]
}

pub(super) fn attributes(s: &Snapshot) -> Rows {
    let mut out = Vec::new();
    for def in &s.tables {
        let relid = table_oid(&def.name);
        for (n, c) in def.columns.iter().enumerate() {
            let (ty, typmod) = column_type(c);
            let identity = match &c.generated {
                Some(g) if g.always => "a",
                _ => "",
            };
            out.push(attribute_row(
                relid,
                &c.name,
                ty,
                n + 1,
                typmod,
                !c.nullable,
                column_default(c).is_some() || c.generation.is_some(),
                identity,
                if c.generation.is_some() { "s" } else { "" },
            ));
        }
        for ix in indexes_of(def) {
            for (n, col) in ix.columns.iter().enumerate() {
                if let Some(c) = def.columns.get(*col) {
                    let (ty, typmod) = column_type(c);
                    out.push(attribute_row(
                        index_oid(&ix.name),
                        &c.name,
                        ty,
                        n + 1,
                        typmod,
                        false,
                        false,
                        "",
                        "",
                    ));
                }
            }
        }
    }
    for r in RELATIONS {
        for (n, (name, ty)) in r.columns.iter().enumerate() {
            out.push(attribute_row(
                r.oid(),
                name,
                system_type(*ty),
                n + 1,
                -1,
                false,
                false,
                "",
                "",
            ));
        }
    }
    out
}

pub(super) fn type_row(
    oid: i64,
    name: &str,
    len: i64,
    category: &str,
    elem: i64,
    array: i64,
) -> Vec<Value> {
    let collation = if matches!(oid, 25 | 1042 | 1043 | 19) {
        100
    } else {
        0
    };
    vec![
        i(oid),
        t(name),
        i(PG_CATALOG),
        i(10),
        i(len),
        b(len > 0 && len <= 8),
        t("b"),
        t(category),
        b(matches!(oid, 16 | 25 | 701 | 1184 | 1186 | 26)),
        b(true),
        t(","),
        i(0),
        i(elem),
        i(array),
        t(if len == 8 { "d" } else { "i" }),
        t(if len > 0 { "p" } else { "x" }),
        b(false),
        i(0),
        i(-1),
        i(0),
        i(collation),
        null(),
        null(),
    ]
}

pub(super) fn types(s: &Snapshot) -> Rows {
    let mut out = Vec::new();
    for e in &s.enums {
        let array = crate::enums::array_oid(e);
        let mut row = type_row(i64::from(e.oid), &e.name, 4, "E", 0, array);
        row[2] = i(PUBLIC);
        row[6] = t("e");
        out.push(row);
        let mut row = type_row(array, &format!("_{}", e.name), -1, "A", i64::from(e.oid), 0);
        row[2] = i(PUBLIC);
        out.push(row);
    }
    for ty in TYPES {
        out.push(type_row(ty.oid, ty.name, ty.len, ty.category, 0, ty.array));
        out.push(type_row(
            ty.array,
            &format!("_{}", ty.name),
            -1,
            "A",
            ty.oid,
            0,
        ));
    }
    out
}

/// `pg_enum`: each enum type's labels.
pub(super) fn enum_labels(s: &Snapshot) -> Rows {
    s.enums
        .iter()
        .flat_map(|e| {
            e.labels.iter().map(|(label, sort)| {
                vec![
                    i(oid_of("enum label", &format!("{}.{label}", e.oid))),
                    i(i64::from(e.oid)),
                    Value::Float(f64::from(*sort)),
                    t(label),
                ]
            })
        })
        .collect()
}

/// The default btree operator class of a column type.
pub(super) fn opclass_of(ty: i64) -> i64 {
    type_oid_of(&format!("opclass {ty}"))
}

pub(super) fn indexes(s: &Snapshot) -> Rows {
    let mut out = Vec::new();
    for def in &s.tables {
        for ix in indexes_of(def) {
            let n = ix.columns.len() as i64;
            let vector = |f: &dyn Fn(&Column) -> i64| {
                ix.columns
                    .iter()
                    .filter_map(|c| def.columns.get(*c))
                    .map(|c| f(c).to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            out.push(vec![
                i(index_oid(&ix.name)),
                i(table_oid(&def.name)),
                i(n),
                i(n),
                b(ix.unique),
                b(false),
                b(ix.primary),
                b(false),
                b(true),
                b(false),
                b(ix.valid),
                b(false),
                b(true),
                b(true),
                b(false),
                t(attnums(&ix.columns).join(" ")),
                t(vector(&|c| {
                    if matches!(column_type(c).0, 25 | 1042 | 1043) {
                        100
                    } else {
                        0
                    }
                })),
                t(vector(&|c| opclass_of(column_type(c).0))),
                t(vector(&|_| 0)),
                null(),
                null(),
            ]);
        }
    }
    out
}

pub(super) fn ref_action(a: RefAction) -> &'static str {
    match a {
        RefAction::Refuse => "a",
        RefAction::Cascade => "c",
        RefAction::SetNull => "n",
    }
}

pub(super) fn constraints(s: &Snapshot) -> Rows {
    let mut out = Vec::new();
    for def in &s.tables {
        for c in constraints_of(def, &s.tables) {
            let keys = |cols: &[usize]| t(format!("{{{}}}", attnums(cols).join(",")));
            let (confrelid, confkey, upd, del) = match &c.parent {
                Some((p, cols, u, d)) => (
                    i(table_oid(p)),
                    keys(cols),
                    t(ref_action(*u)),
                    t(ref_action(*d)),
                ),
                None => (i(0), null(), t(" "), t(" ")),
            };
            out.push(vec![
                i(constraint_oid(&def.name, &c.name)),
                t(&c.name),
                i(PUBLIC),
                t(c.kind),
                b(false),
                b(false),
                b(c.validated),
                i(table_oid(&def.name)),
                i(0),
                i(c.index.as_deref().map_or(0, index_oid)),
                i(0),
                confrelid,
                upd,
                del,
                t(if c.parent.is_some() { "s" } else { " " }),
                b(true),
                i(0),
                b(false),
                if c.kind == "c" {
                    null()
                } else {
                    keys(&c.columns)
                },
                confkey,
                null(),
                null(),
                null(),
                null(),
                c.check.clone().map_or(null(), t),
            ]);
        }
    }
    out
}

pub(super) fn attrdefs(s: &Snapshot) -> Rows {
    let mut out = Vec::new();
    for def in &s.tables {
        for (n, c) in def.columns.iter().enumerate() {
            // A generated column's expression is its "default" here, as
            // in PostgreSQL (`attgenerated` tells them apart).
            if let Some(d) = column_default(c).or_else(|| c.generation.clone()) {
                out.push(vec![
                    i(oid_of("attrdef", &format!("{}.{}", def.name, c.name))),
                    i(table_oid(&def.name)),
                    i(n as i64 + 1),
                    t(d),
                ]);
            }
        }
    }
    out
}

pub(super) fn databases(s: &Snapshot) -> Rows {
    vec![vec![
        i(FIRST_USER_OID - 1),
        t(&s.session.database),
        i(10),
        i(6),
        t("c"),
        b(false),
        b(true),
        i(-1),
        i(0),
        i(0),
        i(1663),
        t("C.UTF-8"),
        t("C.UTF-8"),
        null(),
        null(),
        null(),
    ]]
}

pub(super) fn role_flags(r: &RoleDef) -> (bool, bool, bool) {
    (r.superuser, r.create_role, r.login)
}

pub(super) fn roles(s: &Snapshot) -> Rows {
    s.access
        .roles()
        .map(|r| {
            let (superuser, create_role, login) = role_flags(r);
            vec![
                t(&r.name),
                b(superuser),
                b(true),
                b(create_role || superuser),
                b(superuser),
                b(login),
                b(false),
                i(-1),
                t("********"),
                null(),
                b(superuser),
                null(),
                i(role_oid(&r.name)),
            ]
        })
        .collect()
}

pub(super) fn users(s: &Snapshot) -> Rows {
    s.access
        .roles()
        .filter(|r| r.login)
        .map(|r| {
            vec![
                t(&r.name),
                i(role_oid(&r.name)),
                b(r.superuser),
                b(r.superuser),
                b(false),
                b(r.superuser),
                t("********"),
                null(),
                null(),
            ]
        })
        .collect()
}

pub(super) fn settings(s: &Snapshot) -> Rows {
    s.session
        .settings
        .iter()
        .map(|(name, value)| {
            vec![
                t(name),
                t(value),
                null(),
                t("Spanlite"),
                t(""),
                null(),
                t("user"),
                t("string"),
                t("session"),
                null(),
                null(),
                null(),
                t(value),
                t(value),
                null(),
                null(),
                b(false),
            ]
        })
        .collect()
}

pub(super) fn access_methods(_: &Snapshot) -> Rows {
    vec![
        vec![i(2), t("heap"), t("heap_tableam_handler"), t("t")],
        vec![i(403), t("btree"), t("bthandler"), t("i")],
    ]
}

pub(super) fn sequences(s: &Snapshot) -> Rows {
    s.sequences
        .iter()
        .map(|q| {
            vec![
                i(table_oid(&q.name)),
                i(20),
                i(q.start),
                i(q.increment),
                i(q.max),
                i(q.min),
                i(q.cache),
                b(false),
            ]
        })
        .collect()
}

pub(super) fn collations(_: &Snapshot) -> Rows {
    [(100, "default", "d"), (950, "C", "c"), (951, "POSIX", "c")]
        .into_iter()
        .map(|(oid, name, provider)| {
            vec![
                i(oid),
                t(name),
                i(PG_CATALOG),
                i(10),
                t(provider),
                b(true),
                i(-1),
                if provider == "c" { t(name) } else { null() },
                if provider == "c" { t(name) } else { null() },
                null(),
                null(),
            ]
        })
        .collect()
}

pub(super) fn opclasses(_: &Snapshot) -> Rows {
    TYPES
        .iter()
        .map(|ty| {
            vec![
                i(opclass_of(ty.oid)),
                i(403),
                t(format!("{}_ops", ty.name)),
                i(PG_CATALOG),
                i(10),
                i(opclass_of(ty.oid)),
                i(ty.oid),
                b(true),
                i(0),
            ]
        })
        .collect()
}

pub(super) fn tablespaces(_: &Snapshot) -> Rows {
    vec![
        vec![i(1663), t("pg_default"), i(10), null(), null()],
        vec![i(1664), t("pg_global"), i(10), null(), null()],
    ]
}

/// A sequence owned by a column depends on it (`deptype` `a`, `i` for an
/// identity column), as PostgreSQL records it.
pub(super) fn depends(s: &Snapshot) -> Rows {
    let mut out = Vec::new();
    for def in &s.tables {
        for (n, c) in def.columns.iter().enumerate() {
            let Some(g) = &c.generated else { continue };
            let owned = s
                .sequences
                .iter()
                .any(|q| q.name == g.sequence && q.owned_by == Some(def.id));
            if owned {
                out.push(vec![
                    i(1259),
                    i(table_oid(&g.sequence)),
                    i(0),
                    i(1259),
                    i(table_oid(&def.name)),
                    i(n as i64 + 1),
                    t(if g.always { "i" } else { "a" }),
                ]);
            }
        }
    }
    out
}

pub(super) fn pg_tables(s: &Snapshot) -> Rows {
    s.tables
        .iter()
        .map(|def| {
            vec![
                t("public"),
                t(&def.name),
                t(owner_of(s, def)),
                null(),
                b(!indexes_of(def).is_empty()),
                b(false),
                b(false),
                b(false),
            ]
        })
        .collect()
}

pub(super) fn pg_views(s: &Snapshot) -> Rows {
    s.views
        .iter()
        .map(|v| vec![t("public"), t(&v.name), t(ADMIN), t(format!(" {};", v.sql))])
        .collect()
}

pub(super) fn pg_indexes(s: &Snapshot) -> Rows {
    let mut out = Vec::new();
    for def in &s.tables {
        for ix in indexes_of(def) {
            out.push(vec![
                t("public"),
                t(&def.name),
                t(&ix.name),
                null(),
                t(index_def(def, &ix)),
            ]);
        }
    }
    out
}
