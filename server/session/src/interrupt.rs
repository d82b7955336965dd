//! Cancelling a session's running statement from elsewhere (PostgreSQL's
//! CancelRequest, which arrives on another connection).
//!
//! ```text
//!   canceller ── Interrupt::request ──▶ requested = true, wake waiters
//!   session   ── race(statement) ─────▶ statement's result, or
//!                                       57014 once requested (the statement's
//!                                       future is dropped at its await point)
//! ```
//!
//! A request reaches the statement running when it is made; the session
//! clears it when the next request starts, so a cancel that arrives
//! between statements cancels nothing (PostgreSQL: the same, give or take
//! a race).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use spanlite_sql::SqlError;
use tokio::sync::Notify;

/// A session's cancel flag, shared with whoever may cancel it.
#[derive(Debug, Default)]
pub struct Interrupt {
    requested: AtomicBool,
    wake: Notify,
}

impl Interrupt {
    /// Cancels the statement running now (if any): it ends with 57014.
    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
    }

    /// Forgets a request made while nothing ran.
    pub(crate) fn clear(&self) {
        self.requested.store(false, Ordering::SeqCst);
    }

    /// `work`'s result, or 57014 if a cancel is requested before it ends
    /// (`work` is then dropped at its current await point: the caller
    /// cleans up what it held).
    pub(crate) async fn race<T>(
        &self,
        work: impl Future<Output = Result<T, SqlError>>,
    ) -> Result<T, SqlError> {
        let woken = self.wake.notified();
        tokio::pin!(woken);
        // Registered before the flag is read: a request between the two is
        // not lost.
        woken.as_mut().enable();
        if self.requested.load(Ordering::SeqCst) {
            return Err(canceled());
        }
        tokio::select! {
            r = work => r,
            () = woken => Err(canceled()),
        }
    }
}

/// PostgreSQL's error for a cancelled statement.
pub fn canceled() -> SqlError {
    SqlError::query_canceled("canceling statement due to user request")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_ends_the_running_work_only() {
        let i = std::sync::Arc::new(Interrupt::default());
        let j = i.clone();
        let blocked =
            tokio::spawn(
                async move { j.race(std::future::pending::<Result<(), SqlError>>()).await },
            );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        i.request();
        assert_eq!(blocked.await.unwrap().unwrap_err().code, "57014");
        // A request made while idle is cleared by the next statement.
        i.clear();
        assert_eq!(i.race(async { Ok(7) }).await, Ok(7));
    }
}
