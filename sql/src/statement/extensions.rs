//! Extensions: `CREATE EXTENSION [IF NOT EXISTS] name`, `DROP EXTENSION`,
//! and the rows of `pg_extension`. Spanlite loads no code: the extensions
//! it knows are those whose functions it has built in —
//!
//! - `plpgsql`, which every PostgreSQL database has (listed, as there;
//!   Spanlite runs no procedural functions: CREATE FUNCTION is not
//!   supported);
//! - `uuid-ossp`: `uuid_generate_v1`, `_v1mc`, `_v3`, `_v4`, `_v5`,
//!   `uuid_nil`, `uuid_ns_dns`, `_url`, `_oid`, `_x500` (v1 with a random
//!   node id, as v1mc: this build reads no MAC address);
//! - `pgcrypto`'s digests and random values: `digest`, `hmac`,
//!   `gen_random_bytes`, `gen_random_uuid`, and `crypt`/`gen_salt` with
//!   Blowfish (`bf`) salts — not its PGP or raw-cipher functions, nor
//!   `md5`/`des`/`xdes` salts.
//!
//! The functions are there whether or not the extension was created (as
//! `gen_random_uuid` is in PostgreSQL 13 and later); creating one records
//! it, so migrations that create it run and tools that list extensions
//! see it. Any other name is 0A000, as PostgreSQL says of an extension it
//! does not have.
//!
//! ```text
//!   0x02 'x' <name>  → ExtensionDef (postcard)
//! ```

use serde::{Deserialize, Serialize};
use sqlparser::ast::Ident;

use super::{QueryResult, done};
use crate::catalog;
use crate::error::{Result, SqlError};
use crate::kv::KvTxn;

const EXTENSIONS: &[u8] = &[0x02, b'x'];

/// The extensions Spanlite has, and the version each is, as PostgreSQL
/// 15 ships it.
const AVAILABLE: &[(&str, &str)] = &[
    ("plpgsql", "1.0"),
    ("uuid-ossp", "1.1"),
    ("pgcrypto", "1.3"),
];

/// An extension created in the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionDef {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
}

fn extension_key(name: &str) -> Vec<u8> {
    [EXTENSIONS, name.as_bytes()].concat()
}

/// Every extension created, read through the transaction (`plpgsql`
/// always among them).
pub(crate) async fn all_extensions(txn: &mut dyn KvTxn) -> Result<Vec<ExtensionDef>> {
    let (start, end) = (EXTENSIONS.to_vec(), catalog::prefix_end(EXTENSIONS));
    let mut out: Vec<ExtensionDef> = txn
        .scan(&start, &end)
        .await?
        .iter()
        .map(|(_, v)| catalog::decode(v, "extension"))
        .collect::<Result<_>>()?;
    if !out.iter().any(|e| e.name == "plpgsql") {
        out.insert(
            0,
            ExtensionDef {
                name: "plpgsql".into(),
                version: "1.0".into(),
            },
        );
    }
    Ok(out)
}

/// `CREATE EXTENSION [IF NOT EXISTS] name [VERSION v]`.
pub(super) async fn create_extension(
    txn: &mut dyn KvTxn,
    name: &Ident,
    if_not_exists: bool,
    version: Option<&Ident>,
) -> Result<QueryResult> {
    let name = name.value.clone();
    let Some((_, available)) = AVAILABLE.iter().find(|(n, _)| *n == name) else {
        return Err(SqlError::not_supported(format!(
            "extension \"{name}\" is not available (Spanlite has plpgsql, uuid-ossp and pgcrypto's digest and random functions)"
        )));
    };
    if let Some(v) = version
        && v.value != *available
    {
        return Err(SqlError::invalid_parameter(format!(
            "extension \"{name}\" has no installation script nor update path for version \"{}\"",
            v.value
        )));
    }
    if all_extensions(txn).await?.iter().any(|e| e.name == name) {
        if if_not_exists {
            return Ok(done("CREATE EXTENSION", 0));
        }
        return Err(SqlError::duplicate_object(format!(
            "extension \"{name}\" already exists"
        )));
    }
    let def = ExtensionDef {
        name: name.clone(),
        version: available.to_string(),
    };
    txn.put(extension_key(&name), catalog::encode(&def)?)?;
    Ok(done("CREATE EXTENSION", 0))
}

/// `DROP EXTENSION [IF EXISTS] name, …` (`plpgsql` stays: PostgreSQL's
/// functions in it cannot go either).
pub(super) async fn drop_extensions(
    txn: &mut dyn KvTxn,
    names: &[Ident],
    if_exists: bool,
) -> Result<QueryResult> {
    let existing = all_extensions(txn).await?;
    for name in names {
        let name = &name.value;
        if name == "plpgsql" {
            return Err(SqlError::dependent_objects(
                "cannot drop extension plpgsql because other objects depend on it",
            ));
        }
        if !existing.iter().any(|e| &e.name == name) {
            if if_exists {
                continue;
            }
            return Err(SqlError::undefined_object(format!(
                "extension \"{name}\" does not exist"
            )));
        }
        txn.delete(extension_key(name))?;
    }
    Ok(done("DROP EXTENSION", 0))
}
