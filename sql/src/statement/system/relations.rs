//! The system relations: their columns (PostgreSQL 15's, in its order; a
//! subset where Spanlite has nothing to say, documented per relation) and
//! their rows, computed from one [`Snapshot`] of the catalog.

use std::sync::Arc;

use super::super::views::ViewDef;
use crate::access::{ADMIN, Access, RoleDef, privilege};
use crate::catalog::{Column, RefAction, TableDef, Width};
use crate::compat::{
    FIRST_USER_OID, INFORMATION_SCHEMA, PG_CATALOG, PUBLIC, SessionInfo, TYPES, default_text,
    format_type, oid_of,
};
use crate::sequence::SequenceDef;
use crate::value::{DataType, Value};

/// The catalog as one statement sees it.
pub(crate) struct Snapshot {
    pub tables: Vec<TableDef>,
    pub views: Vec<ViewDef>,
    pub sequences: Vec<SequenceDef>,
    pub access: Arc<Access>,
    pub user: String,
    pub session: SessionInfo,
}

/// A column's type in a system relation.
const I: DataType = DataType::Int;
const T: DataType = DataType::Text;
const B: DataType = DataType::Bool;
const F: DataType = DataType::Float;

type Rows = Vec<Vec<Value>>;

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

    fn namespace(&self) -> i64 {
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

fn none(_: &Snapshot) -> Rows {
    Vec::new()
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
        none,
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
        none,
    ),
    rel(
        "pg_catalog",
        "pg_enum",
        "r",
        &[
            ("oid", I),
            ("enumtypid", I),
            ("enumsortorder", F),
            ("enumlabel", T),
        ],
        none,
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

const PG_CLASS: &[(&str, DataType)] = &[
    ("oid", I),
    ("relname", T),
    ("relnamespace", I),
    ("reltype", I),
    ("reloftype", I),
    ("relowner", I),
    ("relam", I),
    ("relfilenode", I),
    ("reltablespace", I),
    ("relpages", I),
    ("reltuples", F),
    ("relallvisible", I),
    ("reltoastrelid", I),
    ("relhasindex", B),
    ("relisshared", B),
    ("relpersistence", T),
    ("relkind", T),
    ("relnatts", I),
    ("relchecks", I),
    ("relhasrules", B),
    ("relhastriggers", B),
    ("relhassubclass", B),
    ("relrowsecurity", B),
    ("relforcerowsecurity", B),
    ("relispopulated", B),
    ("relreplident", T),
    ("relispartition", B),
    ("relrewrite", I),
    ("relfrozenxid", I),
    ("relminmxid", I),
    ("relacl", T),
    ("reloptions", T),
    ("relpartbound", T),
];

const PG_ATTRIBUTE: &[(&str, DataType)] = &[
    ("attrelid", I),
    ("attname", T),
    ("atttypid", I),
    ("attstattarget", I),
    ("attlen", I),
    ("attnum", I),
    ("attndims", I),
    ("attcacheoff", I),
    ("atttypmod", I),
    ("attbyval", B),
    ("attalign", T),
    ("attstorage", T),
    ("attcompression", T),
    ("attnotnull", B),
    ("atthasdef", B),
    ("atthasmissing", B),
    ("attidentity", T),
    ("attgenerated", T),
    ("attisdropped", B),
    ("attislocal", B),
    ("attinhcount", I),
    ("attcollation", I),
    ("attacl", T),
    ("attoptions", T),
    ("attfdwoptions", T),
    ("attmissingval", T),
];

const PG_TYPE: &[(&str, DataType)] = &[
    ("oid", I),
    ("typname", T),
    ("typnamespace", I),
    ("typowner", I),
    ("typlen", I),
    ("typbyval", B),
    ("typtype", T),
    ("typcategory", T),
    ("typispreferred", B),
    ("typisdefined", B),
    ("typdelim", T),
    ("typrelid", I),
    ("typelem", I),
    ("typarray", I),
    ("typalign", T),
    ("typstorage", T),
    ("typnotnull", B),
    ("typbasetype", I),
    ("typtypmod", I),
    ("typndims", I),
    ("typcollation", I),
    ("typdefault", T),
    ("typacl", T),
];

const PG_INDEX: &[(&str, DataType)] = &[
    ("indexrelid", I),
    ("indrelid", I),
    ("indnatts", I),
    ("indnkeyatts", I),
    ("indisunique", B),
    ("indnullsnotdistinct", B),
    ("indisprimary", B),
    ("indisexclusion", B),
    ("indimmediate", B),
    ("indisclustered", B),
    ("indisvalid", B),
    ("indcheckxmin", B),
    ("indisready", B),
    ("indislive", B),
    ("indisreplident", B),
    ("indkey", T),
    ("indcollation", T),
    ("indclass", T),
    ("indoption", T),
    ("indexprs", T),
    ("indpred", T),
];

const PG_CONSTRAINT: &[(&str, DataType)] = &[
    ("oid", I),
    ("conname", T),
    ("connamespace", I),
    ("contype", T),
    ("condeferrable", B),
    ("condeferred", B),
    ("convalidated", B),
    ("conrelid", I),
    ("contypid", I),
    ("conindid", I),
    ("conparentid", I),
    ("confrelid", I),
    ("confupdtype", T),
    ("confdeltype", T),
    ("confmatchtype", T),
    ("conislocal", B),
    ("coninhcount", I),
    ("connoinherit", B),
    ("conkey", T),
    ("confkey", T),
    ("conpfeqop", T),
    ("conppeqop", T),
    ("conffeqop", T),
    ("conexclop", T),
    ("conbin", T),
];

const PG_DATABASE: &[(&str, DataType)] = &[
    ("oid", I),
    ("datname", T),
    ("datdba", I),
    ("encoding", I),
    ("datlocprovider", T),
    ("datistemplate", B),
    ("datallowconn", B),
    ("datconnlimit", I),
    ("datfrozenxid", I),
    ("datminmxid", I),
    ("dattablespace", I),
    ("datcollate", T),
    ("datctype", T),
    ("daticulocale", T),
    ("datcollversion", T),
    ("datacl", T),
];

const PG_ROLES: &[(&str, DataType)] = &[
    ("rolname", T),
    ("rolsuper", B),
    ("rolinherit", B),
    ("rolcreaterole", B),
    ("rolcreatedb", B),
    ("rolcanlogin", B),
    ("rolreplication", B),
    ("rolconnlimit", I),
    ("rolpassword", T),
    ("rolvaliduntil", T),
    ("rolbypassrls", B),
    ("rolconfig", T),
    ("oid", I),
];

const PG_USER: &[(&str, DataType)] = &[
    ("usename", T),
    ("usesysid", I),
    ("usecreatedb", B),
    ("usesuper", B),
    ("userepl", B),
    ("usebypassrls", B),
    ("passwd", T),
    ("valuntil", T),
    ("useconfig", T),
];

const PG_SETTINGS: &[(&str, DataType)] = &[
    ("name", T),
    ("setting", T),
    ("unit", T),
    ("category", T),
    ("short_desc", T),
    ("extra_desc", T),
    ("context", T),
    ("vartype", T),
    ("source", T),
    ("min_val", T),
    ("max_val", T),
    ("enumvals", T),
    ("boot_val", T),
    ("reset_val", T),
    ("sourcefile", T),
    ("sourceline", I),
    ("pending_restart", B),
];

const PG_SEQUENCE: &[(&str, DataType)] = &[
    ("seqrelid", I),
    ("seqtypid", I),
    ("seqstart", I),
    ("seqincrement", I),
    ("seqmax", I),
    ("seqmin", I),
    ("seqcache", I),
    ("seqcycle", B),
];

const PG_PROC: &[(&str, DataType)] = &[
    ("oid", I),
    ("proname", T),
    ("pronamespace", I),
    ("proowner", I),
    ("prolang", I),
    ("procost", F),
    ("prorows", F),
    ("provariadic", I),
    ("prosupport", T),
    ("prokind", T),
    ("prosecdef", B),
    ("proleakproof", B),
    ("proisstrict", B),
    ("proretset", B),
    ("provolatile", T),
    ("proparallel", T),
    ("pronargs", I),
    ("pronargdefaults", I),
    ("prorettype", I),
    ("proargtypes", T),
    ("proallargtypes", T),
    ("proargmodes", T),
    ("proargnames", T),
    ("proargdefaults", T),
    ("protrftypes", T),
    ("prosrc", T),
    ("probin", T),
    ("prosqlbody", T),
    ("proconfig", T),
    ("proacl", T),
];

const PG_COLLATION: &[(&str, DataType)] = &[
    ("oid", I),
    ("collname", T),
    ("collnamespace", I),
    ("collowner", I),
    ("collprovider", T),
    ("collisdeterministic", B),
    ("collencoding", I),
    ("collcollate", T),
    ("collctype", T),
    ("colliculocale", T),
    ("collversion", T),
];

const PG_OPCLASS: &[(&str, DataType)] = &[
    ("oid", I),
    ("opcmethod", I),
    ("opcname", T),
    ("opcnamespace", I),
    ("opcowner", I),
    ("opcfamily", I),
    ("opcintype", I),
    ("opcdefault", B),
    ("opckeytype", I),
];

const PG_DEPEND: &[(&str, DataType)] = &[
    ("classid", I),
    ("objid", I),
    ("objsubid", I),
    ("refclassid", I),
    ("refobjid", I),
    ("refobjsubid", I),
    ("deptype", T),
];

const PG_TRIGGER: &[(&str, DataType)] = &[
    ("oid", I),
    ("tgrelid", I),
    ("tgparentid", I),
    ("tgname", T),
    ("tgfoid", I),
    ("tgtype", I),
    ("tgenabled", T),
    ("tgisinternal", B),
    ("tgconstrrelid", I),
    ("tgconstrindid", I),
    ("tgconstraint", I),
    ("tgdeferrable", B),
    ("tginitdeferred", B),
    ("tgnargs", I),
    ("tgattr", T),
    ("tgargs", T),
    ("tgqual", T),
    ("tgoldtable", T),
    ("tgnewtable", T),
];

const IS_SCHEMATA: &[(&str, DataType)] = &[
    ("catalog_name", T),
    ("schema_name", T),
    ("schema_owner", T),
    ("default_character_set_catalog", T),
    ("default_character_set_schema", T),
    ("default_character_set_name", T),
    ("sql_path", T),
];

const IS_TABLES: &[(&str, DataType)] = &[
    ("table_catalog", T),
    ("table_schema", T),
    ("table_name", T),
    ("table_type", T),
    ("self_referencing_column_name", T),
    ("reference_generation", T),
    ("user_defined_type_catalog", T),
    ("user_defined_type_schema", T),
    ("user_defined_type_name", T),
    ("is_insertable_into", T),
    ("is_typed", T),
    ("commit_action", T),
];

const IS_COLUMNS: &[(&str, DataType)] = &[
    ("table_catalog", T),
    ("table_schema", T),
    ("table_name", T),
    ("column_name", T),
    ("ordinal_position", I),
    ("column_default", T),
    ("is_nullable", T),
    ("data_type", T),
    ("character_maximum_length", I),
    ("character_octet_length", I),
    ("numeric_precision", I),
    ("numeric_precision_radix", I),
    ("numeric_scale", I),
    ("datetime_precision", I),
    ("interval_type", T),
    ("interval_precision", I),
    ("character_set_catalog", T),
    ("character_set_schema", T),
    ("character_set_name", T),
    ("collation_catalog", T),
    ("collation_schema", T),
    ("collation_name", T),
    ("domain_catalog", T),
    ("domain_schema", T),
    ("domain_name", T),
    ("udt_catalog", T),
    ("udt_schema", T),
    ("udt_name", T),
    ("scope_catalog", T),
    ("scope_schema", T),
    ("scope_name", T),
    ("maximum_cardinality", I),
    ("dtd_identifier", T),
    ("is_self_referencing", T),
    ("is_identity", T),
    ("identity_generation", T),
    ("identity_start", T),
    ("identity_increment", T),
    ("identity_maximum", T),
    ("identity_minimum", T),
    ("identity_cycle", T),
    ("is_generated", T),
    ("generation_expression", T),
    ("is_updatable", T),
];

const IS_KEY_COLUMN_USAGE: &[(&str, DataType)] = &[
    ("constraint_catalog", T),
    ("constraint_schema", T),
    ("constraint_name", T),
    ("table_catalog", T),
    ("table_schema", T),
    ("table_name", T),
    ("column_name", T),
    ("ordinal_position", I),
    ("position_in_unique_constraint", I),
];

const IS_TABLE_CONSTRAINTS: &[(&str, DataType)] = &[
    ("constraint_catalog", T),
    ("constraint_schema", T),
    ("constraint_name", T),
    ("table_catalog", T),
    ("table_schema", T),
    ("table_name", T),
    ("constraint_type", T),
    ("is_deferrable", T),
    ("initially_deferred", T),
    ("enforced", T),
    ("nulls_distinct", T),
];

const IS_REFERENTIAL_CONSTRAINTS: &[(&str, DataType)] = &[
    ("constraint_catalog", T),
    ("constraint_schema", T),
    ("constraint_name", T),
    ("unique_constraint_catalog", T),
    ("unique_constraint_schema", T),
    ("unique_constraint_name", T),
    ("match_option", T),
    ("update_rule", T),
    ("delete_rule", T),
];

const IS_SEQUENCES: &[(&str, DataType)] = &[
    ("sequence_catalog", T),
    ("sequence_schema", T),
    ("sequence_name", T),
    ("data_type", T),
    ("numeric_precision", I),
    ("numeric_precision_radix", I),
    ("numeric_scale", I),
    ("start_value", T),
    ("minimum_value", T),
    ("maximum_value", T),
    ("increment", T),
    ("cycle_option", T),
];

const IS_VIEWS: &[(&str, DataType)] = &[
    ("table_catalog", T),
    ("table_schema", T),
    ("table_name", T),
    ("view_definition", T),
    ("check_option", T),
    ("is_updatable", T),
    ("is_insertable_into", T),
    ("is_trigger_updatable", T),
    ("is_trigger_deletable", T),
    ("is_trigger_insertable_into", T),
];

// ---------------------------------------------------------------------------
// Values

fn i(n: i64) -> Value {
    Value::Int(n)
}

fn t(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

fn b(x: bool) -> Value {
    Value::Bool(x)
}

fn null() -> Value {
    Value::Null
}

fn yes_no(x: bool) -> Value {
    t(if x { "YES" } else { "NO" })
}

/// The OID of role `name` (the bootstrap superuser's is 10, as in
/// PostgreSQL).
pub(crate) fn role_oid(name: &str) -> i64 {
    if name == ADMIN {
        10
    } else {
        oid_of("role", name)
    }
}

/// Objects' OIDs.
pub(crate) fn table_oid(name: &str) -> i64 {
    oid_of("relation", name)
}

pub(crate) fn index_oid(name: &str) -> i64 {
    oid_of("relation", name)
}

pub(crate) fn constraint_oid(table: &str, name: &str) -> i64 {
    oid_of("constraint", &format!("{table}.{name}"))
}

fn type_oid_of(name: &str) -> i64 {
    oid_of("type", name)
}

/// The column's type as PostgreSQL's catalogs show it: (type oid,
/// typmod).
pub(crate) fn column_type(c: &Column) -> (i64, i64) {
    let oid = match (c.ty, c.width) {
        (DataType::Bool, _) => 16,
        (DataType::Int, Some(Width::Int2)) => 21,
        (DataType::Int, Some(Width::Int4)) => 23,
        (DataType::Int, _) => 20,
        (DataType::Float, _) => 701,
        (DataType::Text, Some(Width::Varchar(_))) => 1043,
        (DataType::Text, Some(Width::Char(_))) => 1042,
        (DataType::Text, _) => 25,
        (DataType::Bytes, _) => 17,
        (DataType::Timestamp, _) => 1114,
        (DataType::Date, _) => 1082,
        (DataType::TimestampTz, _) => 1184,
        (DataType::Numeric, _) => 1700,
        (DataType::Uuid, _) => 2950,
        (DataType::Jsonb, _) => 3802,
        (DataType::Time, _) => 1083,
        (DataType::Interval, _) => 1186,
    };
    let typmod = match c.width {
        Some(Width::Varchar(n) | Width::Char(n)) => n as i64 + 4,
        Some(Width::Numeric { precision, scale }) => {
            ((i64::from(precision) << 16) | i64::from(scale)) + 4
        }
        _ => -1,
    };
    (oid, typmod)
}

/// The type of a system relation's column.
fn system_type(ty: DataType) -> i64 {
    match ty {
        DataType::Int => 20,
        DataType::Bool => 16,
        DataType::Float => 701,
        _ => 25,
    }
}

/// The text a column's default shows as (`pg_get_expr(adbin)`,
/// `information_schema.columns.column_default`), if it has one.
pub(crate) fn column_default(c: &Column) -> Option<String> {
    if let Some(g) = &c.generated {
        return (!g.always).then(|| format!("nextval('{}'::regclass)", g.sequence));
    }
    let (oid, typmod) = column_type(c);
    c.default
        .as_ref()
        .filter(|v| **v != Value::Null)
        .map(|v| match (v, c.width) {
            // As a row stores it: with the column's scale.
            (Value::Numeric(n), Some(Width::Numeric { scale, .. })) if !n.0.is_sign_negative() => {
                let mut d = n.0;
                d.rescale(scale);
                d.to_string()
            }
            _ => default_text(v, &format_type(oid, Some(typmod))),
        })
}

/// The owner of table `def`: the role holding its OWNER privilege, or
/// the bootstrap superuser.
fn owner_of(s: &Snapshot, def: &TableDef) -> String {
    s.access
        .grants_on(def.id)
        .find(|(_, bits)| bits & privilege::OWNER != 0)
        .map_or_else(|| ADMIN.to_string(), |(r, _)| r.to_string())
}

/// True when the session's user has some privilege on `def` (what
/// `information_schema` shows a user).
fn visible(s: &Snapshot, def: &TableDef) -> bool {
    s.access.privileges(&s.user, def.id) != 0
}

/// The indexes of `def` as PostgreSQL has them: name, columns (attnums
/// from 1), unique, primary, valid. A primary key is the index
/// `<table>_pkey`.
pub(crate) struct IndexRow {
    pub name: String,
    pub columns: Vec<usize>,
    pub unique: bool,
    pub primary: bool,
    pub valid: bool,
}

pub(crate) fn indexes_of(def: &TableDef) -> Vec<IndexRow> {
    let mut out = Vec::new();
    if def.has_primary_key() {
        out.push(IndexRow {
            name: format!("{}_pkey", def.name),
            columns: def.primary_key.clone(),
            unique: true,
            primary: true,
            valid: true,
        });
    }
    for ix in &def.indexes {
        out.push(IndexRow {
            name: ix.name.clone(),
            columns: ix.columns.clone(),
            unique: ix.unique,
            primary: def.primary_index == Some(ix.id),
            valid: !ix.building,
        });
    }
    out
}

/// `CREATE [UNIQUE] INDEX …` as `pg_get_indexdef` gives it.
pub(crate) fn index_def(def: &TableDef, ix: &IndexRow) -> String {
    format!(
        "CREATE {}INDEX {} ON public.{} USING btree ({})",
        if ix.unique { "UNIQUE " } else { "" },
        crate::compat::quote_ident(&ix.name),
        crate::compat::quote_ident(&def.name),
        column_list(def, &ix.columns)
    )
}

fn column_list(def: &TableDef, columns: &[usize]) -> String {
    columns
        .iter()
        .filter_map(|c| def.columns.get(*c))
        .map(|c| crate::compat::quote_ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A constraint as PostgreSQL's catalog has it.
pub(crate) struct ConstraintRow {
    pub name: String,
    /// `p`, `u`, `f`, `c`.
    pub kind: &'static str,
    pub columns: Vec<usize>,
    /// Its index (`p`, `u`), by name.
    pub index: Option<String>,
    /// A foreign key's parent table and columns, and ON UPDATE / ON
    /// DELETE.
    pub parent: Option<(String, Vec<usize>, RefAction, RefAction)>,
    /// A CHECK's condition.
    pub check: Option<String>,
    pub validated: bool,
    /// `pg_get_constraintdef`.
    pub definition: String,
}

pub(crate) fn constraints_of(def: &TableDef, tables: &[TableDef]) -> Vec<ConstraintRow> {
    let mut out = Vec::new();
    for ix in indexes_of(def) {
        if !ix.unique || !ix.valid {
            continue;
        }
        let kind = if ix.primary { "p" } else { "u" };
        out.push(ConstraintRow {
            definition: format!(
                "{} ({})",
                if ix.primary { "PRIMARY KEY" } else { "UNIQUE" },
                column_list(def, &ix.columns)
            ),
            name: ix.name.clone(),
            kind,
            columns: ix.columns.clone(),
            index: Some(ix.name),
            parent: None,
            check: None,
            validated: true,
        });
    }
    let pending = |name: &str| {
        def.pending.iter().any(|p| match &p.item {
            crate::catalog::PendingItem::Check(n) | crate::catalog::PendingItem::ForeignKey(n) => {
                n == name
            }
            _ => false,
        })
    };
    for fk in &def.foreign_keys {
        let parent = tables.iter().find(|p| p.name == fk.parent);
        let parent_cols = parent.map_or_else(String::new, |p| column_list(p, &fk.parent_columns));
        let action = |a: RefAction| match a {
            RefAction::Refuse => "",
            RefAction::Cascade => "CASCADE",
            RefAction::SetNull => "SET NULL",
        };
        let mut definition = format!(
            "FOREIGN KEY ({}) REFERENCES {}({})",
            column_list(def, &fk.columns),
            crate::compat::quote_ident(&fk.parent),
            parent_cols
        );
        for (what, a) in [("UPDATE", fk.on_update), ("DELETE", fk.on_delete)] {
            if a != RefAction::Refuse {
                definition.push_str(&format!(" ON {what} {}", action(a)));
            }
        }
        out.push(ConstraintRow {
            name: fk.name.clone(),
            kind: "f",
            columns: fk.columns.clone(),
            index: None,
            parent: Some((
                fk.parent.clone(),
                fk.parent_columns.clone(),
                fk.on_update,
                fk.on_delete,
            )),
            check: None,
            validated: !pending(&fk.name),
            definition,
        });
    }
    for c in &def.checks {
        out.push(ConstraintRow {
            name: c.name.clone(),
            kind: "c",
            columns: Vec::new(),
            index: None,
            parent: None,
            check: Some(c.expr.clone()),
            validated: !pending(&c.name),
            definition: format!("CHECK (({}))", c.expr),
        });
    }
    out
}

fn attnums(columns: &[usize]) -> Vec<String> {
    columns.iter().map(|c| (c + 1).to_string()).collect()
}

// ---------------------------------------------------------------------------
// pg_catalog

fn namespaces(_: &Snapshot) -> Rows {
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

fn classes(s: &Snapshot) -> Rows {
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
fn attribute_row(
    relid: i64,
    name: &str,
    ty: i64,
    num: usize,
    typmod: i64,
    not_null: bool,
    has_default: bool,
    identity: &str,
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
        t(""),
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

fn attributes(s: &Snapshot) -> Rows {
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
                column_default(c).is_some(),
                identity,
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
            ));
        }
    }
    out
}

fn type_row(oid: i64, name: &str, len: i64, category: &str, elem: i64, array: i64) -> Vec<Value> {
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

fn types(_: &Snapshot) -> Rows {
    let mut out = Vec::new();
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

/// The default btree operator class of a column type.
fn opclass_of(ty: i64) -> i64 {
    type_oid_of(&format!("opclass {ty}"))
}

fn indexes(s: &Snapshot) -> Rows {
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

fn ref_action(a: RefAction) -> &'static str {
    match a {
        RefAction::Refuse => "a",
        RefAction::Cascade => "c",
        RefAction::SetNull => "n",
    }
}

fn constraints(s: &Snapshot) -> Rows {
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

fn attrdefs(s: &Snapshot) -> Rows {
    let mut out = Vec::new();
    for def in &s.tables {
        for (n, c) in def.columns.iter().enumerate() {
            if let Some(d) = column_default(c) {
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

fn databases(s: &Snapshot) -> Rows {
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

fn role_flags(r: &RoleDef) -> (bool, bool, bool) {
    (r.superuser, r.create_role, r.login)
}

fn roles(s: &Snapshot) -> Rows {
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

fn users(s: &Snapshot) -> Rows {
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

fn settings(s: &Snapshot) -> Rows {
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

fn access_methods(_: &Snapshot) -> Rows {
    vec![
        vec![i(2), t("heap"), t("heap_tableam_handler"), t("t")],
        vec![i(403), t("btree"), t("bthandler"), t("i")],
    ]
}

fn sequences(s: &Snapshot) -> Rows {
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

fn collations(_: &Snapshot) -> Rows {
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

fn opclasses(_: &Snapshot) -> Rows {
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

fn tablespaces(_: &Snapshot) -> Rows {
    vec![
        vec![i(1663), t("pg_default"), i(10), null(), null()],
        vec![i(1664), t("pg_global"), i(10), null(), null()],
    ]
}

/// A sequence owned by a column depends on it (`deptype` `a`, `i` for an
/// identity column), as PostgreSQL records it.
fn depends(s: &Snapshot) -> Rows {
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

fn pg_tables(s: &Snapshot) -> Rows {
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

fn pg_views(s: &Snapshot) -> Rows {
    s.views
        .iter()
        .map(|v| vec![t("public"), t(&v.name), t(ADMIN), t(format!(" {};", v.sql))])
        .collect()
}

fn pg_indexes(s: &Snapshot) -> Rows {
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

// ---------------------------------------------------------------------------
// information_schema

fn schemata(s: &Snapshot) -> Rows {
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

fn is_tables(s: &Snapshot) -> Rows {
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
fn type_columns(c: &Column) -> [Value; 8] {
    let (oid, _) = column_type(c);
    let udt = TYPES
        .iter()
        .find(|x| x.oid == oid)
        .map_or("text", |x| x.name);
    let sql = TYPES
        .iter()
        .find(|x| x.oid == oid)
        .map_or("text", |x| x.sql);
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

fn is_columns(s: &Snapshot) -> Rows {
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
                t("NEVER"),
                null(),
                t("YES"),
            ]);
        }
    }
    out
}

fn constraint_rows(s: &Snapshot) -> Vec<(&TableDef, ConstraintRow)> {
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

fn key_column_usage(s: &Snapshot) -> Rows {
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

fn table_constraints(s: &Snapshot) -> Rows {
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

fn rule(a: RefAction) -> &'static str {
    match a {
        RefAction::Refuse => "NO ACTION",
        RefAction::Cascade => "CASCADE",
        RefAction::SetNull => "SET NULL",
    }
}

fn referential_constraints(s: &Snapshot) -> Rows {
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

fn check_constraints(s: &Snapshot) -> Rows {
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

fn is_sequences(s: &Snapshot) -> Rows {
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

fn is_views(s: &Snapshot) -> Rows {
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
