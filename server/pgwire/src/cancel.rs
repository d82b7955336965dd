//! Query cancellation: every session of a port gets a [`BackendKey`]
//! (sent to its client in BackendKeyData); a CancelRequest on a new
//! connection that quotes a session's key cancels that session's running
//! statement (57014). A wrong key is ignored, as PostgreSQL does, and the
//! cancelling connection is closed either way without an answer.
//!
//! ```text
//!   client A ── StartupMessage ─▶ session 7 ◀── BackendKeyData(7, secret)
//!   client A ── Query (blocks on a lock) ─▶ session 7 …
//!   client B ── CancelRequest(7, secret) ─▶ Cancels::cancel ─▶ Interrupt::request
//!                                           session 7 ─▶ A: ERROR 57014
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use spanlite_session::Interrupt;

/// What identifies a session to a CancelRequest: PostgreSQL's "process
/// id" (here a number unique on the port) and a random secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendKey {
    /// The session's number on this port.
    pub pid: i32,
    /// A random secret only the session's client knows.
    pub secret: i32,
}

/// The cancellable sessions of one port.
#[derive(Debug, Default)]
pub struct Cancels {
    last_pid: AtomicI32,
    sessions: Mutex<HashMap<i32, (i32, Arc<Interrupt>)>>,
}

impl Cancels {
    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<i32, (i32, Arc<Interrupt>)>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a session's interrupt; returns its key. The caller
    /// [`Cancels::forget`]s it when the session ends.
    pub fn register(&self, interrupt: Arc<Interrupt>) -> BackendKey {
        let mut sessions = self.sessions();
        let pid = loop {
            // Positive and unused (the counter wraps after 2^31 sessions).
            let pid = (self.last_pid.fetch_add(1, Ordering::Relaxed) & i32::MAX).max(1);
            if !sessions.contains_key(&pid) {
                break pid;
            }
        };
        let key = BackendKey {
            pid,
            secret: rand::random(),
        };
        sessions.insert(pid, (key.secret, interrupt));
        key
    }

    /// The session ended: its key cancels nothing any more.
    pub fn forget(&self, key: BackendKey) {
        self.sessions().remove(&key.pid);
    }

    /// Cancels the running statement of the session `key` names; false
    /// (and nothing happens) when no session has that key.
    pub fn cancel(&self, key: BackendKey) -> bool {
        let interrupt = match self.sessions().get(&key.pid) {
            Some((secret, interrupt)) if *secret == key.secret => interrupt.clone(),
            _ => return false,
        };
        interrupt.request();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_secret_cancels() {
        let cancels = Cancels::default();
        let a = cancels.register(Arc::default());
        let b = cancels.register(Arc::default());
        assert_ne!(a.pid, b.pid);
        let wrong = BackendKey {
            pid: a.pid,
            secret: a.secret.wrapping_add(1),
        };
        assert!(!cancels.cancel(wrong));
        assert!(cancels.cancel(a));
        cancels.forget(a);
        assert!(!cancels.cancel(a));
        assert!(cancels.cancel(b));
    }
}
