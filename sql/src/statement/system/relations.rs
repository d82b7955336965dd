//! The system relations: their columns (PostgreSQL 15's, in its order; a
//! subset where Spanlite has nothing to say, documented per relation) and
//! their rows, computed from one [`Snapshot`] of the catalog.

use std::sync::Arc;

use super::super::views::ViewDef;
use crate::access::Access;
use crate::catalog::TableDef;
use crate::compat::{INFORMATION_SCHEMA, PG_CATALOG, SessionInfo, oid_of};
use crate::sequence::SequenceDef;
use crate::value::{DataType, Value};

use super::columns::*;
use super::information_schema::*;
use super::pg_catalog::*;

/// The catalog as one statement sees it.
pub(crate) struct Snapshot {
    pub tables: Vec<TableDef>,
    pub views: Vec<ViewDef>,
    pub sequences: Vec<SequenceDef>,
    pub extensions: Vec<crate::statement::extensions::ExtensionDef>,
    /// (table, column or empty, text).
    pub comments: Vec<crate::statement::comments::Comment>,
    pub enums: Vec<Arc<crate::enums::EnumType>>,
    pub access: Arc<Access>,
    pub user: String,
    pub session: SessionInfo,
}

/// A column's type in a system relation.
pub(super) const I: DataType = DataType::Int;
pub(super) const T: DataType = DataType::Text;
pub(super) const B: DataType = DataType::Bool;
pub(super) const F: DataType = DataType::Float;

pub(super) type Rows = Vec<Vec<Value>>;

/// A system relation: where it lives, its columns, its rows.
pub(crate) struct Relation {
    pub schema: &'static str,
    pub name: &'static str,
    pub columns: &'static [(&'static str, DataType)],
    pub rows: fn(&Snapshot) -> Rows,
    /// `'r'` for a catalog table, `'v'` for a view (as PostgreSQL has it).
    pub kind: &'static str,
}

impl Relation {
    /// Its OID: PostgreSQL's where it has a fixed one.
    pub fn oid(&self) -> i64 {
        match self.name {
            "pg_type" => 1247,
            "pg_attribute" => 1249,
            "pg_proc" => 1255,
            "pg_class" => 1259,
            "pg_database" => 1262,
            "pg_am" => 2601,
            "pg_attrdef" => 2604,
            "pg_constraint" => 2606,
            "pg_description" => 2609,
            "pg_index" => 2610,
            "pg_namespace" => 2615,
            "pg_sequence" => 2224,
            _ => oid_of(self.schema, self.name),
        }
    }

    pub(super) fn namespace(&self) -> i64 {
        if self.schema == "pg_catalog" {
            PG_CATALOG
        } else {
            INFORMATION_SCHEMA
        }
    }
}

const fn rel(
    schema: &'static str,
    name: &'static str,
    kind: &'static str,
    columns: &'static [(&'static str, DataType)],
    rows: fn(&Snapshot) -> Rows,
) -> Relation {
    Relation {
        schema,
        name,
        columns,
        rows,
        kind,
    }
}

pub(super) fn none(_: &Snapshot) -> Rows {
    Vec::new()
}

/// The comments on tables (`objsubid` 0) and their columns (the column's
/// number), as objects of `pg_class` (1259).
pub(super) fn pg_description(s: &Snapshot) -> Rows {
    s.comments
        .iter()
        .filter_map(|(table, column, text)| {
            let def = s.tables.iter().find(|d| &d.name == table)?;
            let subid = if column.is_empty() {
                0
            } else {
                def.columns.iter().position(|c| &c.name == column)? + 1
            };
            Some(vec![
                Value::Int(super::objects::table_oid(table)),
                Value::Int(1259),
                Value::Int(subid as i64),
                Value::Text(text.clone()),
            ])
        })
        .collect()
}

/// The sessions of the node the statement runs on
/// ([`crate::backends`]), as PostgreSQL lists its client backends.
fn pg_stat_activity(s: &Snapshot) -> Rows {
    let at = |t: Option<spanlite_truetime::Timestamp>| t.map_or(Value::Null, Value::TimestampTz);
    crate::backends::activity()
        .into_iter()
        .map(|a| {
            let role = match s.access.role(&a.user) {
                Some(_) => Value::Int(super::objects::role_oid(&a.user)),
                None => Value::Null,
            };
            vec![
                Value::Int(crate::compat::FIRST_USER_OID - 1),
                Value::Text(a.database),
                Value::Int(a.pid),
                Value::Null,
                role,
                Value::Text(a.user),
                Value::Text(a.application_name),
                a.client
                    .as_ref()
                    .map_or(Value::Null, |(addr, _)| Value::Text(addr.clone())),
                Value::Null,
                a.client
                    .as_ref()
                    .map_or(Value::Int(-1), |(_, port)| Value::Int(*port)),
                at(a.backend_start),
                at(a.xact_start),
                at(a.query_start),
                at(a.state_change),
                Value::Null,
                Value::Null,
                Value::Text(a.state.to_string()),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Text(a.query),
                Value::Text("client backend".into()),
            ]
        })
        .collect()
}

/// The extensions created (`plpgsql` always), owned by the administrator,
/// in `pg_catalog` as PostgreSQL puts `plpgsql`, the others in `public`.
fn pg_extension(s: &Snapshot) -> Rows {
    s.extensions
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let schema = if e.name == "plpgsql" {
                crate::compat::PG_CATALOG
            } else {
                crate::compat::PUBLIC
            };
            vec![
                Value::Int(13_500 + i as i64),
                Value::Text(e.name.clone()),
                Value::Int(10),
                Value::Int(schema),
                Value::Bool(e.name != "plpgsql"),
                Value::Text(e.version.clone()),
                Value::Null,
                Value::Null,
            ]
        })
        .collect()
}

/// Every system relation.
pub(crate) static RELATIONS: &[Relation] = &[
    rel(
        "pg_catalog",
        "pg_namespace",
        "r",
        &[("oid", I), ("nspname", T), ("nspowner", I), ("nspacl", T)],
        namespaces,
    ),
    rel("pg_catalog", "pg_class", "r", PG_CLASS, classes),
    rel("pg_catalog", "pg_attribute", "r", PG_ATTRIBUTE, attributes),
    rel("pg_catalog", "pg_type", "r", PG_TYPE, types),
    rel("pg_catalog", "pg_index", "r", PG_INDEX, indexes),
    rel(
        "pg_catalog",
        "pg_constraint",
        "r",
        PG_CONSTRAINT,
        constraints,
    ),
    rel(
        "pg_catalog",
        "pg_attrdef",
        "r",
        &[("oid", I), ("adrelid", I), ("adnum", I), ("adbin", T)],
        attrdefs,
    ),
    rel(
        "pg_catalog",
        "pg_description",
        "r",
        &[
            ("objoid", I),
            ("classoid", I),
            ("objsubid", I),
            ("description", T),
        ],
        pg_description,
    ),
    rel("pg_catalog", "pg_database", "r", PG_DATABASE, databases),
    rel("pg_catalog", "pg_roles", "v", PG_ROLES, roles),
    rel("pg_catalog", "pg_user", "v", PG_USER, users),
    rel("pg_catalog", "pg_settings", "v", PG_SETTINGS, settings),
    rel(
        "pg_catalog",
        "pg_am",
        "r",
        &[("oid", I), ("amname", T), ("amhandler", T), ("amtype", T)],
        access_methods,
    ),
    rel("pg_catalog", "pg_sequence", "r", PG_SEQUENCE, sequences),
    rel("pg_catalog", "pg_enum", "r", PG_ENUM, enum_labels),
    rel("pg_catalog", "pg_proc", "r", PG_PROC, none),
    rel("pg_catalog", "pg_collation", "r", PG_COLLATION, collations),
    rel("pg_catalog", "pg_opclass", "r", PG_OPCLASS, opclasses),
    rel(
        "pg_catalog",
        "pg_tablespace",
        "r",
        &[
            ("oid", I),
            ("spcname", T),
            ("spcowner", I),
            ("spcacl", T),
            ("spcoptions", T),
        ],
        tablespaces,
    ),
    rel("pg_catalog", "pg_depend", "r", PG_DEPEND, depends),
    rel(
        "pg_catalog",
        "pg_inherits",
        "r",
        &[
            ("inhrelid", I),
            ("inhparent", I),
            ("inhseqno", I),
            ("inhdetachpending", B),
        ],
        none,
    ),
    rel("pg_catalog", "pg_trigger", "r", PG_TRIGGER, none),
    rel(
        "pg_catalog",
        "pg_policy",
        "r",
        &[
            ("oid", I),
            ("polname", T),
            ("polrelid", I),
            ("polcmd", T),
            ("polpermissive", B),
            ("polroles", T),
            ("polqual", T),
            ("polwithcheck", T),
        ],
        none,
    ),
    rel(
        "pg_catalog",
        "pg_rewrite",
        "r",
        &[
            ("oid", I),
            ("rulename", T),
            ("ev_class", I),
            ("ev_type", T),
            ("ev_enabled", T),
            ("is_instead", B),
            ("ev_qual", T),
            ("ev_action", T),
        ],
        none,
    ),
    rel(
        "pg_catalog",
        "pg_statistic_ext",
        "r",
        &[
            ("oid", I),
            ("stxrelid", I),
            ("stxname", T),
            ("stxnamespace", I),
            ("stxowner", I),
            ("stxstattarget", I),
            ("stxkeys", T),
            ("stxkind", T),
            ("stxexprs", T),
        ],
        none,
    ),
    rel(
        "pg_catalog",
        "pg_publication",
        "r",
        &[
            ("oid", I),
            ("pubname", T),
            ("pubowner", I),
            ("puballtables", B),
            ("pubinsert", B),
            ("pubupdate", B),
            ("pubdelete", B),
            ("pubtruncate", B),
            ("pubviaroot", B),
        ],
        none,
    ),
    rel(
        "pg_catalog",
        "pg_publication_rel",
        "r",
        &[
            ("oid", I),
            ("prpubid", I),
            ("prrelid", I),
            ("prqual", T),
            ("prattrs", T),
        ],
        none,
    ),
    rel(
        "pg_catalog",
        "pg_publication_namespace",
        "r",
        &[("oid", I), ("pnpubid", I), ("pnnspid", I)],
        none,
    ),
    rel(
        "pg_catalog",
        "pg_stat_activity",
        "v",
        &[
            ("datid", I),
            ("datname", T),
            ("pid", I),
            ("leader_pid", I),
            ("usesysid", I),
            ("usename", T),
            ("application_name", T),
            ("client_addr", T),
            ("client_hostname", T),
            ("client_port", I),
            ("backend_start", DataType::TimestampTz),
            ("xact_start", DataType::TimestampTz),
            ("query_start", DataType::TimestampTz),
            ("state_change", DataType::TimestampTz),
            ("wait_event_type", T),
            ("wait_event", T),
            ("state", T),
            ("backend_xid", T),
            ("backend_xmin", T),
            ("query_id", I),
            ("query", T),
            ("backend_type", T),
        ],
        pg_stat_activity,
    ),
    rel(
        "pg_catalog",
        "pg_extension",
        "r",
        &[
            ("oid", I),
            ("extname", T),
            ("extowner", I),
            ("extnamespace", I),
            ("extrelocatable", B),
            ("extversion", T),
            ("extconfig", T),
            ("extcondition", T),
        ],
        pg_extension,
    ),
    rel(
        "pg_catalog",
        "pg_tables",
        "v",
        &[
            ("schemaname", T),
            ("tablename", T),
            ("tableowner", T),
            ("tablespace", T),
            ("hasindexes", B),
            ("hasrules", B),
            ("hastriggers", B),
            ("rowsecurity", B),
        ],
        pg_tables,
    ),
    rel(
        "pg_catalog",
        "pg_views",
        "v",
        &[
            ("schemaname", T),
            ("viewname", T),
            ("viewowner", T),
            ("definition", T),
        ],
        pg_views,
    ),
    rel(
        "pg_catalog",
        "pg_indexes",
        "v",
        &[
            ("schemaname", T),
            ("tablename", T),
            ("indexname", T),
            ("tablespace", T),
            ("indexdef", T),
        ],
        pg_indexes,
    ),
    rel("information_schema", "schemata", "v", IS_SCHEMATA, schemata),
    rel("information_schema", "tables", "v", IS_TABLES, is_tables),
    rel("information_schema", "columns", "v", IS_COLUMNS, is_columns),
    rel(
        "information_schema",
        "key_column_usage",
        "v",
        IS_KEY_COLUMN_USAGE,
        key_column_usage,
    ),
    rel(
        "information_schema",
        "table_constraints",
        "v",
        IS_TABLE_CONSTRAINTS,
        table_constraints,
    ),
    rel(
        "information_schema",
        "referential_constraints",
        "v",
        IS_REFERENTIAL_CONSTRAINTS,
        referential_constraints,
    ),
    rel(
        "information_schema",
        "check_constraints",
        "v",
        &[
            ("constraint_catalog", T),
            ("constraint_schema", T),
            ("constraint_name", T),
            ("check_clause", T),
        ],
        check_constraints,
    ),
    rel(
        "information_schema",
        "sequences",
        "v",
        IS_SEQUENCES,
        is_sequences,
    ),
    rel("information_schema", "views", "v", IS_VIEWS, is_views),
];
