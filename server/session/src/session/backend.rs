//! The session as its node's `pg_stat_activity` lists it and
//! `pg_cancel_backend` / `pg_terminate_backend` reach it
//! ([`spanlite_sql::backends`]): a slot the session keeps up to date as
//! its statements start and end, registered under its pid once the port
//! gives it one.

use std::sync::{Arc, Mutex, PoisonError};

use spanlite_sql::backends::{Activity, Backend, Caller};
use spanlite_truetime::Timestamp;
use tokio::sync::watch;

use super::Session;
use crate::interrupt::Interrupt;

/// What a session shows of itself.
#[derive(Debug)]
pub(super) struct Slot {
    interrupt: Arc<Interrupt>,
    activity: Mutex<Activity>,
    /// Set when the session is to end (`pg_terminate_backend`).
    terminated: watch::Sender<bool>,
}

impl Backend for Slot {
    fn activity(&self) -> Activity {
        self.activity
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn cancel(&self) {
        self.interrupt.request();
    }

    fn terminate(&self) {
        self.terminated.send_replace(true);
        self.interrupt.request();
    }
}

/// Now, as the catalogs show times.
fn now() -> Option<Timestamp> {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(Timestamp::from_nanos(u64::try_from(since.as_nanos()).ok()?))
}

impl Slot {
    fn update(&self, change: impl FnOnce(&mut Activity)) {
        change(&mut self.activity.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

impl Session {
    /// Lists the session in its node's sessions as `pid` (the port's
    /// number for it), with the client's address if it has one.
    pub(super) fn register_backend(&mut self, pid: i64) {
        let at = now();
        let slot = Arc::new(Slot {
            interrupt: self.interrupt.clone(),
            activity: Mutex::new(Activity {
                pid,
                database: self.info.database.clone(),
                user: self.user.clone().unwrap_or_default(),
                application_name: self.setting("application_name").unwrap_or("").to_string(),
                client: self.client.clone(),
                backend_start: at,
                state_change: at,
                state: "idle",
                ..Activity::default()
            }),
            terminated: watch::channel(false).0,
        });
        let backend: Arc<dyn Backend> = slot.clone();
        self.schema.backends().register(pid, &backend);
        self.backend = Some(slot);
    }

    /// Takes the session off its node's list.
    pub(super) fn unregister_backend(&mut self) {
        if let Some(slot) = self.backend.take() {
            let pid = slot.activity().pid;
            self.schema.backends().unregister(pid);
        }
    }

    /// A statement of `text` starts.
    pub(super) fn statement_started(&self, text: &str) {
        if let Some(slot) = &self.backend {
            let at = now();
            let in_block = self.open.is_some();
            slot.update(|a| {
                a.state = "active";
                a.query_start = at;
                a.state_change = at;
                if !in_block {
                    a.xact_start = at;
                }
                if a.query != text {
                    a.query = text.to_string();
                }
            });
        }
    }

    /// The statements of a request ended: the session is idle, in a
    /// transaction block or not. Its role and application name are noted
    /// (a statement may have changed them).
    pub(super) fn statements_ended(&self) {
        if let Some(slot) = &self.backend {
            let state = match &self.open {
                None => "idle",
                Some(o) if o.failed => "idle in transaction (aborted)",
                Some(_) => "idle in transaction",
            };
            let user = self.user.as_deref().unwrap_or("");
            let app = self.setting("application_name").unwrap_or("");
            slot.update(|a| {
                if a.state != state {
                    a.state = state;
                    a.state_change = now();
                }
                if self.open.is_none() {
                    a.xact_start = None;
                } else if a.xact_start.is_none() {
                    a.xact_start = a.query_start;
                }
                if a.user != user {
                    a.user = user.to_string();
                }
                if a.application_name != app {
                    a.application_name = app.to_string();
                }
            });
        }
    }

    /// Who runs the session's statements, and its node's sessions.
    pub(super) fn caller(&mut self) -> Arc<Caller> {
        let version = self.settings_version;
        if let Some((v, c)) = &self.caller
            && *v == version
            && c.describing == self.describing
        {
            return c.clone();
        }
        let caller = Arc::new(Caller {
            user: self.user.clone().unwrap_or_default(),
            superuser: self.superuser,
            backends: self.schema.backends().clone(),
            describing: self.describing,
        });
        self.caller = Some((version, caller.clone()));
        caller
    }

    /// Runs `sql` with `params` only to learn its result's columns (a
    /// client's Describe of a prepared statement): its calls that act on
    /// other sessions, sequences or locks, or wait, answer without acting,
    /// and the settings it would change stay as they are
    /// ([`spanlite_sql::backends::describing`]).
    pub async fn run_describing(
        &mut self,
        sql: &str,
        params: &[spanlite_sql::Value],
    ) -> Vec<super::StatementResult> {
        self.describing = true;
        let out = self.run_with(sql, params).await;
        self.describing = false;
        out
    }

    /// Resolves when the session is to end (`pg_terminate_backend`); never
    /// for a session that no port registered.
    pub fn terminated(&self) -> impl std::future::Future<Output = ()> + use<> {
        let rx = self.backend.as_ref().map(|s| s.terminated.subscribe());
        async move {
            match rx {
                Some(mut rx) => {
                    if rx.wait_for(|t| *t).await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending().await,
            }
        }
    }

    /// Notes the client's address and port (`pg_stat_activity`), before
    /// [`Session::set_connection`].
    pub fn set_client(&mut self, addr: std::net::SocketAddr) {
        self.client = Some((addr.ip().to_string(), i64::from(addr.port())));
    }
}
