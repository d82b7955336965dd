//! A node's sessions as `pg_stat_activity` shows them, and
//! `pg_cancel_backend(pid)` / `pg_terminate_backend(pid)`, which reach
//! them by the id their clients know them by (`pg_backend_pid()`).
//!
//! The sessions are the node's own, as a PostgreSQL server shows its own
//! backends: a session on another node is neither listed nor signalled.
//! Each session registers itself in its node's [`Backends`]; the statement
//! running knows who runs it and on which node ([`Caller`], ambient for
//! the statement as its time zone is: [`scoped`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use spanlite_truetime::Timestamp;

use crate::error::{Result, SqlError};

/// What `pg_stat_activity` shows of one session.
#[derive(Clone, Debug, Default)]
pub struct Activity {
    /// `pg_backend_pid()`.
    pub pid: i64,
    /// The database the client asked for.
    pub database: String,
    /// The role it runs as.
    pub user: String,
    /// Its `application_name`.
    pub application_name: String,
    /// The client's address and port, if it came over the network.
    pub client: Option<(String, i64)>,
    /// When it began.
    pub backend_start: Option<Timestamp>,
    /// When its transaction block began (none outside one).
    pub xact_start: Option<Timestamp>,
    /// When its last statement began.
    pub query_start: Option<Timestamp>,
    /// When `state` last changed.
    pub state_change: Option<Timestamp>,
    /// `active`, `idle`, `idle in transaction` or `idle in transaction
    /// (aborted)`.
    pub state: &'static str,
    /// Its running statement's text, or its last one's.
    pub query: String,
}

/// A session, as its node's [`Backends`] reaches it.
pub trait Backend: Send + Sync {
    /// What it is doing.
    fn activity(&self) -> Activity;
    /// Cancels its running statement (57014), if any.
    fn cancel(&self);
    /// Ends it: its running statement is cancelled and its connection
    /// closed (FATAL 57P01).
    fn terminate(&self);
}

/// The sessions of one node, by pid.
#[derive(Default)]
pub struct Backends {
    sessions: Mutex<BTreeMap<i64, Weak<dyn Backend>>>,
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backends")
            .field("sessions", &self.sessions().len())
            .finish()
    }
}

impl Backends {
    fn sessions(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, Weak<dyn Backend>>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lists `backend` as session `pid` (until [`Backends::unregister`],
    /// or until it is dropped).
    pub fn register(&self, pid: i64, backend: &Arc<dyn Backend>) {
        self.sessions().insert(pid, Arc::downgrade(backend));
    }

    /// Session `pid` ended.
    pub fn unregister(&self, pid: i64) {
        self.sessions().remove(&pid);
    }

    /// The sessions there are, by pid.
    pub fn activity(&self) -> Vec<Activity> {
        let live: Vec<Arc<dyn Backend>> = {
            let mut sessions = self.sessions();
            sessions.retain(|_, b| b.strong_count() > 0);
            sessions.values().filter_map(Weak::upgrade).collect()
        };
        live.iter().map(|b| b.activity()).collect()
    }

    fn get(&self, pid: i64) -> Option<Arc<dyn Backend>> {
        self.sessions().get(&pid).and_then(Weak::upgrade)
    }
}

/// Who runs the statement, and on which node.
#[derive(Debug)]
pub struct Caller {
    /// The role it runs as.
    pub user: String,
    /// Whether that role is a superuser.
    pub superuser: bool,
    /// Its node's sessions.
    pub backends: Arc<Backends>,
    /// The statement runs only to describe its result to a client (a
    /// Describe of a prepared statement): what it would do to other
    /// sessions, sequences or locks is not done ([`describing`]).
    pub describing: bool,
}

tokio::task_local! {
    /// The caller of the statement a session is running.
    static CALLER: Arc<Caller>;
}

/// `fut` run by `caller` (the session wraps each statement in it).
pub fn scoped<F: std::future::Future>(
    caller: Arc<Caller>,
    fut: F,
) -> impl std::future::Future<Output = F::Output> {
    CALLER.scope(caller, fut)
}

/// Whether the statement runs only to describe its result: its calls
/// that act (`pg_cancel_backend`, `nextval`, `pg_advisory_lock`,
/// `pg_sleep`) answer without acting.
pub fn describing() -> bool {
    CALLER.try_with(|c| c.describing).unwrap_or(false)
}

/// The sessions of the node the statement runs on (none outside a
/// session's statement).
pub fn activity() -> Vec<Activity> {
    CALLER
        .try_with(|c| c.backends.activity())
        .unwrap_or_default()
}

/// `pg_cancel_backend(pid)` (`terminate`: `pg_terminate_backend(pid)`):
/// false when no session of this node has that pid (PostgreSQL warns);
/// 42501 when the caller is neither a superuser nor the session's role.
pub fn signal(pid: i64, terminate: bool) -> Result<bool> {
    let Ok(caller) = CALLER.try_with(Arc::clone) else {
        return Err(SqlError::not_supported(
            "signalling a session outside a session's statement",
        ));
    };
    if caller.describing {
        return Ok(false);
    }
    let Some(target) = caller.backends.get(pid) else {
        return Ok(false);
    };
    if !caller.superuser && target.activity().user != caller.user {
        return Err(SqlError::insufficient_privilege(if terminate {
            "permission denied to terminate process: only a superuser or the session's own role may"
        } else {
            "permission denied to cancel query: only a superuser or the session's own role may"
        }));
    }
    if terminate {
        target.terminate();
    } else {
        target.cancel();
    }
    Ok(true)
}
