//! Users, roles and privileges, stored in the replicated catalog next to
//! the table definitions (so a node's schema cache reads them in the same
//! scan, and every change to them is a schema change under leases).
//!
//! ```text
//!   0x02 'r' <role name>                   → RoleDef (postcard)
//!   0x02 'g' <table id u32 BE> <role name> → privilege bits (u8)
//! ```
//!
//! As in PostgreSQL: a user is a role that may log in; a role's privileges
//! are its own grants, those of every role it is a member of (transitively)
//! and those granted to `PUBLIC`; a superuser has every privilege; a
//! table's owner (its creator) has every privilege on it and alone (with
//! superusers) may drop it, index it, and grant on it. `root`, the
//! administrator, is created at `init`, and is a superuser even in a
//! catalog from before roles existed.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::catalog::{self, TableDef};
use crate::error::{Result, SqlError};

const ROLES: &[u8] = &[0x02, b'r'];
const GRANTS: &[u8] = &[0x02, b'g'];

/// The administrator: a superuser that always exists.
pub const ADMIN: &str = "root";
/// The pseudo-role every role is a member of.
pub const PUBLIC: &str = "public";

/// Privilege bits on a table.
pub mod privilege {
    /// Read rows (SELECT; the WHERE of UPDATE and DELETE).
    pub const SELECT: u8 = 1;
    /// Insert rows.
    pub const INSERT: u8 = 2;
    /// Update rows.
    pub const UPDATE: u8 = 4;
    /// Delete rows.
    pub const DELETE: u8 = 8;
    /// Every privilege on rows.
    pub const ALL: u8 = SELECT | INSERT | UPDATE | DELETE;
    /// Owns the table: drop it, index it, grant on it.
    pub const OWNER: u8 = 0x80;

    /// The SQL names of `bits`' row privileges.
    pub fn names(bits: u8) -> Vec<&'static str> {
        [
            (SELECT, "SELECT"),
            (INSERT, "INSERT"),
            (UPDATE, "UPDATE"),
            (DELETE, "DELETE"),
        ]
        .into_iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| n)
        .collect()
    }

    /// The bit of the privilege named `name` (upper case); TRUNCATE,
    /// REFERENCES and TRIGGER are the owner's here.
    pub fn bit(name: &str) -> Option<u8> {
        Some(match name {
            "SELECT" => SELECT,
            "INSERT" => INSERT,
            "UPDATE" => UPDATE,
            "DELETE" => DELETE,
            "TRUNCATE" | "REFERENCES" | "TRIGGER" => OWNER,
            _ => return None,
        })
    }
}

/// A role (a user, when it may log in).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDef {
    /// Its name.
    pub name: String,
    /// May log in (a user).
    pub login: bool,
    /// Has every privilege.
    pub superuser: bool,
    /// May create, alter and drop roles that are not superusers, and grant
    /// role memberships.
    pub create_role: bool,
    /// Its password's SCRAM-SHA-256 verifier (text form), if it has one.
    pub password: Option<String>,
    /// The roles it is a member of (and inherits the privileges of).
    pub member_of: BTreeSet<String>,
}

impl RoleDef {
    /// The built-in administrator.
    fn admin() -> Self {
        Self {
            name: ADMIN.to_string(),
            login: true,
            superuser: true,
            create_role: true,
            ..Self::default()
        }
    }
}

/// The catalog key of role `name`.
pub fn role_key(name: &str) -> Vec<u8> {
    [ROLES, name.as_bytes()].concat()
}

/// Every role's key.
pub fn roles_range() -> (Vec<u8>, Vec<u8>) {
    (ROLES.to_vec(), catalog::prefix_end(ROLES))
}

/// The key of `role`'s privileges on table `table`.
pub fn grant_key(table: u32, role: &str) -> Vec<u8> {
    [GRANTS, &table.to_be_bytes(), role.as_bytes()].concat()
}

/// The keys of the privileges on table `table`.
pub fn table_grants_range(table: u32) -> (Vec<u8>, Vec<u8>) {
    let prefix = [GRANTS, &table.to_be_bytes()].concat();
    let end = catalog::prefix_end(&prefix);
    (prefix, end)
}

/// Every privilege key.
pub fn grants_range() -> (Vec<u8>, Vec<u8>) {
    (GRANTS.to_vec(), catalog::prefix_end(GRANTS))
}

/// The table id and role of a privilege key.
fn parse_grant_key(key: &[u8]) -> Option<(u32, String)> {
    let rest = key.strip_prefix(GRANTS)?;
    let id = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
    let role = String::from_utf8(rest.get(4..)?.to_vec()).ok()?;
    Some((id, role))
}

/// The roles and privileges as one read of the catalog saw them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    roles: BTreeMap<String, RoleDef>,
    /// Per table id: per role, its privilege bits.
    grants: BTreeMap<u32, BTreeMap<String, u8>>,
}

impl Default for Access {
    fn default() -> Self {
        Self::decode(&[]).unwrap_or_else(|_| unreachable!("nothing to decode"))
    }
}

impl Access {
    /// The roles and grants among `pairs` (other keys are skipped).
    pub fn decode(pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<Self> {
        let mut roles = BTreeMap::new();
        let mut grants: BTreeMap<u32, BTreeMap<String, u8>> = BTreeMap::new();
        for (k, v) in pairs {
            if k.starts_with(ROLES) {
                let role: RoleDef = catalog::decode(v, "role")?;
                roles.insert(role.name.clone(), role);
            } else if k.starts_with(GRANTS) {
                let (table, role) = parse_grant_key(k)
                    .ok_or_else(|| SqlError::internal("corrupt privilege key"))?;
                let bits: u8 = catalog::decode(v, "privileges")?;
                grants.entry(table).or_default().insert(role, bits);
            }
        }
        roles
            .entry(ADMIN.to_string())
            .or_insert_with(RoleDef::admin);
        Ok(Self { roles, grants })
    }

    /// Role `name`, if it exists.
    pub fn role(&self, name: &str) -> Option<&RoleDef> {
        self.roles.get(name)
    }

    /// Every role, by name.
    pub fn roles(&self) -> impl Iterator<Item = &RoleDef> {
        self.roles.values()
    }

    /// True when `user` is a superuser.
    pub fn is_superuser(&self, user: &str) -> bool {
        self.role(user).is_some_and(|r| r.superuser)
    }

    /// `user`, every role it is a member of (transitively), and `PUBLIC`.
    pub fn roles_of(&self, user: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::from([PUBLIC.to_string()]);
        let mut todo = vec![user.to_string()];
        while let Some(r) = todo.pop() {
            if !out.insert(r.clone()) {
                continue;
            }
            if let Some(def) = self.roles.get(&r) {
                todo.extend(def.member_of.iter().cloned());
            }
        }
        out
    }

    /// The privileges on table `table` granted to `role` itself.
    pub fn granted(&self, table: u32, role: &str) -> u8 {
        self.grants
            .get(&table)
            .and_then(|g| g.get(role))
            .copied()
            .unwrap_or(0)
    }

    /// Every role with privileges on `table`, and its bits.
    pub fn grants_on(&self, table: u32) -> impl Iterator<Item = (&str, u8)> {
        self.grants
            .get(&table)
            .into_iter()
            .flatten()
            .map(|(r, b)| (r.as_str(), *b))
    }

    /// Every table `role` has privileges on.
    pub fn tables_of(&self, role: &str) -> Vec<u32> {
        self.grants
            .iter()
            .filter(|(_, g)| g.contains_key(role))
            .map(|(t, _)| *t)
            .collect()
    }

    /// `user`'s privileges on `table`: its own, its roles', PUBLIC's; all
    /// of them for a superuser or the owner (or a member of the owner).
    pub fn privileges(&self, user: &str, table: u32) -> u8 {
        if self.is_superuser(user) {
            return privilege::ALL | privilege::OWNER;
        }
        let mut bits = self
            .roles_of(user)
            .iter()
            .fold(0, |acc, r| acc | self.granted(table, r));
        if bits & privilege::OWNER != 0 {
            bits |= privilege::ALL;
        }
        bits
    }

    /// Ok when `user` holds every privilege of `needed` on `table`, else
    /// 42501 as PostgreSQL words it.
    pub fn check(&self, user: &str, table: &TableDef, needed: u8) -> Result<()> {
        if self.privileges(user, table.id) & needed == needed {
            return Ok(());
        }
        Err(if needed & privilege::OWNER != 0 {
            SqlError::insufficient_privilege(format!("must be owner of table {}", table.name))
        } else {
            SqlError::insufficient_privilege(format!("permission denied for table {}", table.name))
        })
    }

    /// Ok when `user` may create, alter or drop roles (a superuser, or a
    /// role with CREATEROLE for roles that are not superusers).
    pub fn check_role_admin(&self, user: &str, target_superuser: bool) -> Result<()> {
        let Some(me) = self.role(user) else {
            return Err(SqlError::insufficient_privilege(
                "permission denied: the current user does not exist",
            ));
        };
        if me.superuser || (me.create_role && !target_superuser) {
            return Ok(());
        }
        Err(SqlError::insufficient_privilege(if target_superuser {
            "must be superuser to change superuser roles"
        } else {
            "permission denied to create, alter or drop roles (needs CREATEROLE)"
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(k: Vec<u8>, v: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
        (k, v)
    }

    fn role(name: &str, member_of: &[&str]) -> RoleDef {
        RoleDef {
            name: name.into(),
            login: true,
            member_of: member_of.iter().map(|s| s.to_string()).collect(),
            ..RoleDef::default()
        }
    }

    #[test]
    fn privileges_come_from_the_role_its_roles_public_and_ownership() {
        let enc = |r: &RoleDef| catalog::encode(r).unwrap();
        let pairs = vec![
            pair(role_key("alice"), enc(&role("alice", &["readers"]))),
            pair(role_key("readers"), enc(&role("readers", &["base"]))),
            pair(role_key("base"), enc(&role("base", &[]))),
            pair(role_key("bob"), enc(&role("bob", &[]))),
            pair(
                grant_key(7, "base"),
                catalog::encode(&privilege::SELECT).unwrap(),
            ),
            pair(
                grant_key(7, "public"),
                catalog::encode(&privilege::INSERT).unwrap(),
            ),
            pair(
                grant_key(8, "bob"),
                catalog::encode(&privilege::OWNER).unwrap(),
            ),
        ];
        let access = Access::decode(&pairs).unwrap();
        assert_eq!(
            access.privileges("alice", 7),
            privilege::SELECT | privilege::INSERT
        );
        assert_eq!(access.privileges("bob", 7), privilege::INSERT);
        assert_eq!(
            access.privileges("bob", 8),
            privilege::ALL | privilege::OWNER
        );
        assert_eq!(access.privileges("alice", 8), 0);
        // root exists without a record, as a superuser.
        assert!(access.is_superuser(ADMIN));
        assert_eq!(access.privileges(ADMIN, 8) & privilege::ALL, privilege::ALL);
        let t = TableDef {
            id: 8,
            name: "t".into(),
            columns: vec![],
            primary_key: vec![],
            indexes: vec![],
            next_index_id: 1,
            checks: vec![],
            foreign_keys: vec![],
            layout: vec![],
            pending: vec![],
            primary_index: None,
        };
        let e = access.check("alice", &t, privilege::SELECT).unwrap_err();
        assert_eq!(e.code, "42501");
        assert_eq!(e.message, "permission denied for table t");
        assert!(access.check("bob", &t, privilege::DELETE).is_ok());
        assert_eq!(access.tables_of("bob"), vec![8]);
    }

    #[test]
    fn membership_cycles_do_not_loop() {
        let enc = |r: &RoleDef| catalog::encode(r).unwrap();
        let pairs = vec![
            pair(role_key("a"), enc(&role("a", &["b"]))),
            pair(role_key("b"), enc(&role("b", &["a"]))),
        ];
        let access = Access::decode(&pairs).unwrap();
        assert_eq!(
            access.roles_of("a"),
            BTreeSet::from(["a".to_string(), "b".to_string(), "public".to_string()])
        );
    }
}
