//! Roles and privileges (see [`crate::access`]): CREATE/ALTER/DROP ROLE
//! and USER, GRANT/REVOKE of table privileges and of role memberships,
//! with PostgreSQL's rules and SQLSTATEs. They write the catalog in the
//! statement's transaction, so they commit or abort with it, and the
//! session treats them as schema changes (leases: a REVOKE, an ALTER ROLE
//! or a DROP ROLE waits until no node can still be using what it removed).

use std::collections::BTreeSet;

use sqlparser::ast::{
    Action, GrantObjects, Grantee, GranteeName, GranteesType, ObjectName, Password, Privileges,
    RoleOption, Statement,
};

use super::{QueryResult, done, table, tables};
use crate::access::{self, ADMIN, Access, PUBLIC, RoleDef, privilege};
use crate::catalog::{self, TableDef};
use crate::error::{Result, SqlError};
use crate::kv::KvTxn;
use crate::password::ScramVerifier;
use crate::syntax::{ident, object_name};

/// Who runs the statement and the roles as its transaction sees them.
async fn acting(txn: &mut dyn KvTxn) -> Result<(Option<String>, std::sync::Arc<Access>)> {
    let user = txn.user().map(str::to_string);
    Ok((user, txn.access().await?))
}

/// Ok when the acting user may manage roles (an internal caller may).
fn may_manage(access: &Access, user: Option<&str>, target_superuser: bool) -> Result<()> {
    match user {
        None => Ok(()),
        Some(u) => access.check_role_admin(u, target_superuser),
    }
}

fn reserved(name: &str) -> Result<()> {
    if name == PUBLIC || name == "none" || name.starts_with("pg_") || name.is_empty() {
        return Err(SqlError::reserved_name(format!(
            "role name \"{name}\" is reserved"
        )));
    }
    Ok(())
}

fn no_such_role(name: &str) -> SqlError {
    SqlError::undefined_object(format!("role \"{name}\" does not exist"))
}

/// Role `name` read through the transaction, locked for writing.
async fn read_role(txn: &mut dyn KvTxn, name: &str) -> Result<Option<RoleDef>> {
    match txn.get_for_update(&access::role_key(name)).await? {
        Some(bytes) => Ok(Some(catalog::decode(&bytes, "role")?)),
        // root exists without a record in a catalog older than roles.
        None if name == ADMIN => Ok(Access::default().role(ADMIN).cloned()),
        None => Ok(None),
    }
}

fn write_role(txn: &mut dyn KvTxn, role: &RoleDef) -> Result<()> {
    txn.put(access::role_key(&role.name), catalog::encode(role)?)
}

/// The verifier a PASSWORD clause sets (`None`: PASSWORD NULL).
fn password(p: &Password) -> Result<Option<String>> {
    match p {
        Password::NullPassword => Ok(None),
        Password::Password(sqlparser::ast::Expr::Value(v)) => match &v.value {
            sqlparser::ast::Value::SingleQuotedString(s) => {
                Ok(Some(ScramVerifier::from_clause(s)?.to_text()))
            }
            sqlparser::ast::Value::Null => Ok(None),
            other => Err(SqlError::syntax(format!(
                "PASSWORD takes a string literal, not {other}"
            ))),
        },
        Password::Password(e) => Err(SqlError::syntax(format!(
            "PASSWORD takes a string literal, not {e}"
        ))),
    }
}

fn unsupported_option(what: &str) -> SqlError {
    SqlError::not_supported(format!("role option {what} is not supported"))
}

/// CREATE ROLE / CREATE USER (a role with LOGIN).
pub(super) async fn create_role(txn: &mut dyn KvTxn, stmt: &Statement) -> Result<QueryResult> {
    let Statement::CreateRole {
        names,
        if_not_exists,
        login,
        inherit,
        bypassrls,
        password: pw,
        superuser,
        create_db,
        create_role,
        replication,
        connection_limit,
        valid_until,
        in_role,
        in_group,
        role,
        user,
        admin,
        authorization_owner,
    } = stmt
    else {
        return Err(SqlError::internal("create_role on another statement"));
    };
    for (set, what) in [
        (*inherit == Some(false), "NOINHERIT"),
        (bypassrls.is_some(), "BYPASSRLS"),
        (create_db.is_some(), "CREATEDB"),
        (replication.is_some(), "REPLICATION"),
        (connection_limit.is_some(), "CONNECTION LIMIT"),
        (valid_until.is_some(), "VALID UNTIL"),
        (!admin.is_empty(), "ADMIN"),
        (authorization_owner.is_some(), "AUTHORIZATION"),
    ] {
        if set {
            return Err(unsupported_option(what));
        }
    }
    let (me, access) = acting(txn).await?;
    may_manage(&access, me.as_deref(), superuser.unwrap_or(false))?;
    let password = pw.as_ref().map(password).transpose()?.flatten();
    let member_of: BTreeSet<String> = in_role.iter().chain(in_group).map(ident).collect();
    let members: Vec<String> = role.iter().chain(user).map(ident).collect();
    for n in member_of.iter().chain(&members) {
        if read_role(txn, n).await?.is_none() {
            return Err(no_such_role(n));
        }
    }
    for n in names {
        let name = object_name(n)?;
        reserved(&name)?;
        if read_role(txn, &name).await?.is_some() {
            if *if_not_exists {
                continue;
            }
            return Err(SqlError::duplicate_object(format!(
                "role \"{name}\" already exists"
            )));
        }
        write_role(
            txn,
            &RoleDef {
                name: name.clone(),
                login: login.unwrap_or(false),
                superuser: superuser.unwrap_or(false),
                create_role: create_role.unwrap_or(false),
                password: password.clone(),
                member_of: member_of.clone(),
            },
        )?;
        for m in &members {
            if let Some(mut def) = read_role(txn, m).await? {
                def.member_of.insert(name.clone());
                write_role(txn, &def)?;
            }
        }
    }
    Ok(done("CREATE ROLE", 0))
}

/// ALTER ROLE / ALTER USER: options, password, RENAME TO.
pub(super) async fn alter_role(
    txn: &mut dyn KvTxn,
    name: &sqlparser::ast::Ident,
    operation: &sqlparser::ast::AlterRoleOperation,
) -> Result<QueryResult> {
    use sqlparser::ast::AlterRoleOperation as Op;
    let name = ident(name);
    let (me, access) = acting(txn).await?;
    let Some(mut def) = read_role(txn, &name).await? else {
        return Err(no_such_role(&name));
    };
    match operation {
        Op::WithOptions { options } => {
            let own_password = me.as_deref() == Some(name.as_str())
                && options.iter().all(|o| matches!(o, RoleOption::Password(_)));
            let makes_superuser = options
                .iter()
                .any(|o| matches!(o, RoleOption::SuperUser(true)));
            if !own_password {
                may_manage(&access, me.as_deref(), def.superuser || makes_superuser)?;
            }
            for o in options {
                match o {
                    RoleOption::Login(false) if name == ADMIN => {
                        return Err(SqlError::insufficient_privilege(
                            "the administrator root may always log in",
                        ));
                    }
                    RoleOption::Login(b) => def.login = *b,
                    RoleOption::SuperUser(b) => {
                        if !*b && name == ADMIN {
                            return Err(SqlError::insufficient_privilege(
                                "the administrator root stays a superuser",
                            ));
                        }
                        def.superuser = *b;
                    }
                    RoleOption::CreateRole(b) => def.create_role = *b,
                    RoleOption::Password(p) => def.password = password(p)?,
                    RoleOption::Inherit(true) => {}
                    other => return Err(unsupported_option(&other.to_string())),
                }
            }
            if def.name == ADMIN && !def.superuser {
                return Err(SqlError::insufficient_privilege(
                    "the administrator root stays a superuser",
                ));
            }
            write_role(txn, &def)?;
            Ok(done("ALTER ROLE", 0))
        }
        Op::RenameRole { role_name } => {
            may_manage(&access, me.as_deref(), def.superuser)?;
            let new = ident(role_name);
            reserved(&new)?;
            if name == ADMIN {
                return Err(SqlError::insufficient_privilege(
                    "the administrator root cannot be renamed",
                ));
            }
            if me.as_deref() == Some(name.as_str()) {
                return Err(SqlError::not_supported("session user cannot be renamed"));
            }
            if read_role(txn, &new).await?.is_some() {
                return Err(SqlError::duplicate_object(format!(
                    "role \"{new}\" already exists"
                )));
            }
            txn.delete(access::role_key(&name))?;
            def.name = new.clone();
            write_role(txn, &def)?;
            for mut other in all_roles(txn).await? {
                if other.member_of.remove(&name) {
                    other.member_of.insert(new.clone());
                    write_role(txn, &other)?;
                }
            }
            for t in access.tables_of(&name) {
                let bits = access.granted(t, &name);
                txn.delete(access::grant_key(t, &name))?;
                txn.put(access::grant_key(t, &new), catalog::encode(&bits)?)?;
            }
            Ok(done("ALTER ROLE", 0))
        }
        other => Err(SqlError::not_supported(format!("ALTER ROLE … {other}"))),
    }
}

/// Every role, read through the transaction.
async fn all_roles(txn: &mut dyn KvTxn) -> Result<Vec<RoleDef>> {
    let (start, end) = access::roles_range();
    txn.scan(&start, &end)
        .await?
        .iter()
        .map(|(_, v)| catalog::decode(v, "role"))
        .collect()
}

/// DROP ROLE / DROP USER.
pub(super) async fn drop_roles(
    txn: &mut dyn KvTxn,
    names: &[ObjectName],
    if_exists: bool,
) -> Result<QueryResult> {
    let (me, access) = acting(txn).await?;
    for n in names {
        let name = object_name(n)?;
        let Some(def) = read_role(txn, &name).await? else {
            if if_exists {
                continue;
            }
            return Err(no_such_role(&name));
        };
        if name == ADMIN {
            return Err(SqlError::insufficient_privilege(
                "the administrator root cannot be dropped",
            ));
        }
        if me.as_deref() == Some(name.as_str()) {
            return Err(SqlError::object_in_use("current user cannot be dropped"));
        }
        may_manage(&access, me.as_deref(), def.superuser)?;
        let held = access.tables_of(&name);
        if !held.is_empty() {
            let names: Vec<String> = tables(txn)
                .await?
                .into_iter()
                .filter(|t| held.contains(&t.id))
                .map(|t| {
                    let bits = access.granted(t.id, &name);
                    if bits & privilege::OWNER != 0 {
                        format!("owner of table {}", t.name)
                    } else {
                        format!("privileges for table {}", t.name)
                    }
                })
                .collect();
            return Err(SqlError::dependent_objects(format!(
                "role \"{name}\" cannot be dropped because some objects depend on it: {} (REVOKE them, or DROP the tables, first)",
                names.join(", ")
            )));
        }
        for mut other in all_roles(txn).await? {
            if other.member_of.remove(&name) {
                write_role(txn, &other)?;
            }
        }
        txn.delete(access::role_key(&name))?;
    }
    Ok(done("DROP ROLE", 0))
}

/// The role names of `grantees` (`PUBLIC` as [`PUBLIC`]); each must exist.
async fn grantee_names(txn: &mut dyn KvTxn, grantees: &[Grantee]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for g in grantees {
        let name = match (&g.grantee_type, &g.name) {
            (GranteesType::Public, _) => PUBLIC.to_string(),
            (
                GranteesType::None | GranteesType::Role | GranteesType::User,
                Some(GranteeName::ObjectName(n)),
            ) => {
                let name = object_name(n)?;
                if name != PUBLIC && read_role(txn, &name).await?.is_none() {
                    return Err(no_such_role(&name));
                }
                name
            }
            _ => return Err(SqlError::not_supported(format!("grantee {g}"))),
        };
        out.push(name);
    }
    Ok(out)
}

/// The privilege bits of `privileges`.
fn privilege_bits(privileges: &Privileges) -> Result<u8> {
    match privileges {
        Privileges::All { .. } => Ok(privilege::ALL),
        Privileges::Actions(actions) => {
            let mut bits = 0;
            for a in actions {
                bits |= match a {
                    Action::Select { columns: None } => privilege::SELECT,
                    Action::Insert { columns: None } => privilege::INSERT,
                    Action::Update { columns: None } => privilege::UPDATE,
                    Action::Delete => privilege::DELETE,
                    other => {
                        return Err(SqlError::not_supported(format!(
                            "privilege {other}: table privileges are SELECT, INSERT, UPDATE, DELETE and ALL"
                        )));
                    }
                };
            }
            Ok(bits)
        }
    }
}

/// The tables `objects` names, each of which the acting user must own.
async fn granted_tables(
    txn: &mut dyn KvTxn,
    objects: &GrantObjects,
    me: Option<&str>,
    access: &Access,
) -> Result<Vec<TableDef>> {
    let defs = match objects {
        GrantObjects::Tables(names) => {
            let mut out = Vec::new();
            for n in names {
                out.push(std::sync::Arc::unwrap_or_clone(table(txn, n).await?));
            }
            out
        }
        GrantObjects::AllTablesInSchema { schemas } => {
            for s in schemas {
                let name = object_name(s)?;
                if name != "public" {
                    return Err(SqlError::undefined_object(format!(
                        "schema \"{name}\" does not exist"
                    )));
                }
            }
            tables(txn).await?
        }
        other => {
            return Err(SqlError::not_supported(format!(
                "GRANT/REVOKE on {other}: only tables"
            )));
        }
    };
    if let Some(me) = me {
        for def in &defs {
            if access.privileges(me, def.id) & privilege::OWNER == 0 {
                return Err(SqlError::insufficient_privilege(format!(
                    "permission denied for table {}",
                    def.name
                )));
            }
        }
    }
    Ok(defs)
}

/// GRANT … ON … TO …, and GRANT role TO role.
pub(super) async fn grant(txn: &mut dyn KvTxn, stmt: &Statement) -> Result<QueryResult> {
    let Statement::Grant {
        privileges,
        objects,
        grantees,
        with_grant_option,
        as_grantor,
        granted_by,
        current_grants,
    } = stmt
    else {
        return Err(SqlError::internal("grant on another statement"));
    };
    if *with_grant_option
        || as_grantor.is_some()
        || granted_by.is_some()
        || current_grants.is_some()
    {
        return Err(SqlError::not_supported(
            "GRANT … WITH GRANT OPTION / GRANTED BY",
        ));
    }
    let (me, access) = acting(txn).await?;
    let to = grantee_names(txn, grantees).await?;
    let Some(objects) = objects else {
        return grant_roles(txn, &access, me.as_deref(), privileges, &to, true).await;
    };
    let bits = privilege_bits(privileges)?;
    for def in granted_tables(txn, objects, me.as_deref(), &access).await? {
        for role in &to {
            let key = access::grant_key(def.id, role);
            let old: u8 = match txn.get_for_update(&key).await? {
                Some(b) => catalog::decode(&b, "privileges")?,
                None => 0,
            };
            txn.put(key, catalog::encode(&(old | bits))?)?;
        }
    }
    Ok(done("GRANT", 0))
}

/// REVOKE … ON … FROM …, and REVOKE role FROM role.
pub(super) async fn revoke(txn: &mut dyn KvTxn, stmt: &Statement) -> Result<QueryResult> {
    let Statement::Revoke {
        privileges,
        objects,
        grantees,
        granted_by,
        ..
    } = stmt
    else {
        return Err(SqlError::internal("revoke on another statement"));
    };
    if granted_by.is_some() {
        return Err(SqlError::not_supported("REVOKE … GRANTED BY"));
    }
    let (me, access) = acting(txn).await?;
    let from = grantee_names(txn, grantees).await?;
    let Some(objects) = objects else {
        return grant_roles(txn, &access, me.as_deref(), privileges, &from, false).await;
    };
    let bits = privilege_bits(privileges)?;
    for def in granted_tables(txn, objects, me.as_deref(), &access).await? {
        for role in &from {
            let key = access::grant_key(def.id, role);
            let old: u8 = match txn.get_for_update(&key).await? {
                Some(b) => catalog::decode(&b, "privileges")?,
                None => continue,
            };
            let new = old & !bits;
            if new == 0 {
                txn.delete(key)?;
            } else {
                txn.put(key, catalog::encode(&new)?)?;
            }
        }
    }
    Ok(done("REVOKE", 0))
}

/// GRANT/REVOKE role [, …] TO/FROM role [, …] (the roles are the
/// "privileges": see `syntax::parse`).
async fn grant_roles(
    txn: &mut dyn KvTxn,
    access: &Access,
    me: Option<&str>,
    privileges: &Privileges,
    members: &[String],
    grant: bool,
) -> Result<QueryResult> {
    let Privileges::Actions(actions) = privileges else {
        return Err(SqlError::syntax("GRANT ALL needs ON <tables>"));
    };
    for a in actions {
        let Action::Role { role } = a else {
            return Err(SqlError::syntax(format!("GRANT {a} needs ON <tables>")));
        };
        let role = object_name(role)?;
        let Some(granted) = read_role(txn, &role).await? else {
            return Err(no_such_role(&role));
        };
        may_manage(access, me, granted.superuser)?;
        for m in members {
            if m == PUBLIC {
                return Err(SqlError::not_supported("role memberships of PUBLIC"));
            }
            let Some(mut member) = read_role(txn, m).await? else {
                return Err(no_such_role(m));
            };
            if grant {
                if access.roles_of(&role).contains(m) {
                    return Err(SqlError::invalid_grant(format!(
                        "role \"{m}\" is a member of role \"{role}\""
                    )));
                }
                member.member_of.insert(role.clone());
            } else if !member.member_of.remove(&role) {
                continue;
            }
            write_role(txn, &member)?;
        }
    }
    Ok(done(if grant { "GRANT ROLE" } else { "REVOKE ROLE" }, 0))
}

/// Ok when the statement's user owns `def` (or is a superuser, or an
/// internal caller): DROP TABLE, CREATE/DROP INDEX.
pub(super) async fn check_owner(txn: &mut dyn KvTxn, def: &TableDef) -> Result<()> {
    let Some(me) = txn.user().map(str::to_string) else {
        return Ok(());
    };
    let access = txn.access().await?;
    access.check(&me, def, privilege::OWNER)
}

/// Ok when the statement's user holds `bits` on `def` (or is an internal
/// caller).
pub(super) async fn check_privilege(txn: &mut dyn KvTxn, def: &TableDef, bits: u8) -> Result<()> {
    let Some(me) = txn.user().map(str::to_string) else {
        return Ok(());
    };
    let access = txn.access().await?;
    access.check(&me, def, bits)
}

/// Moves the grants on table id `from` to table id `to` (TRUNCATE).
pub(super) async fn move_grants(txn: &mut dyn KvTxn, from: u32, to: u32) -> Result<()> {
    let (start, end) = access::table_grants_range(from);
    for (k, v) in txn.scan(&start, &end).await? {
        let role = k.get(start.len()..).unwrap_or_default().to_vec();
        let role = String::from_utf8(role).map_err(|_| SqlError::internal("corrupt grant key"))?;
        txn.delete(k)?;
        txn.put(access::grant_key(to, &role), v)?;
    }
    Ok(())
}

/// Records the statement's user as the owner of the new table `id`.
pub(super) fn record_owner(txn: &mut dyn KvTxn, id: u32) -> Result<()> {
    let Some(me) = txn.user().map(str::to_string) else {
        return Ok(());
    };
    txn.put(
        access::grant_key(id, &me),
        catalog::encode(&privilege::OWNER)?,
    )
}

/// The grants on a table that is dropped go with it.
pub(super) async fn drop_grants(txn: &mut dyn KvTxn, def: &TableDef) -> Result<()> {
    super::ddl::delete_range(txn, access::table_grants_range(def.id)).await
}
