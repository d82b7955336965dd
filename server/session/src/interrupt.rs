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
    /// or `deadline` (the statement timeout) passes first (`work` is then
    /// dropped at its current await point: the caller cleans up what it
    /// held).
    pub(crate) async fn race<T>(
        &self,
        deadline: Option<tokio::time::Instant>,
        work: impl Future<Output = Result<T, SqlError>>,
    ) -> Result<T, SqlError> {
        // Most statements that touch only this node finish in their first
        // poll: they take their result without registering for a cancel
        // (a cancel racing such a statement loses, as it would a moment
        // later).
        let mut work = std::pin::pin!(work);
        if let std::task::Poll::Ready(r) =
            std::future::poll_fn(|cx| std::task::Poll::Ready(work.as_mut().poll(cx))).await
        {
            return r;
        }
        let woken = self.wake.notified();
        tokio::pin!(woken);
        // Registered before the flag is read: a request between the two is
        // not lost.
        woken.as_mut().enable();
        if self.requested.load(Ordering::SeqCst) {
            return Err(canceled());
        }
        let timer = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = work => r,
            () = woken => Err(canceled()),
            () = timer => Err(timed_out()),
        }
    }
}

/// PostgreSQL's error for a statement past `statement_timeout`.
pub fn timed_out() -> SqlError {
    SqlError::query_canceled("canceling statement due to statement timeout")
}

/// A duration setting as PostgreSQL takes it (`statement_timeout`,
/// `idle_in_transaction_session_timeout`): milliseconds, or a number with a
/// unit (`ms`, `s`, `min`, `h`, `d`); `0` turns it off (`Ok(None)`).
pub fn duration_setting(value: &str) -> Result<Option<std::time::Duration>, String> {
    let v = value.trim().trim_matches('\'').trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (number, unit) = v.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("invalid value for a duration: \"{value}\""))?;
    let ms = match unit.trim() {
        "" | "ms" => n,
        "s" => n.saturating_mul(1_000),
        "min" => n.saturating_mul(60_000),
        "h" => n.saturating_mul(3_600_000),
        "d" => n.saturating_mul(86_400_000),
        other => return Err(format!("invalid unit \"{other}\" (use ms, s, min, h or d)")),
    };
    Ok((ms > 0).then(|| std::time::Duration::from_millis(ms)))
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
        let blocked = tokio::spawn(async move {
            j.race(None, std::future::pending::<Result<(), SqlError>>())
                .await
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        i.request();
        assert_eq!(blocked.await.unwrap().unwrap_err().code, "57014");
        // A request made while idle is cleared by the next statement.
        i.clear();
        assert_eq!(i.race(None, async { Ok(7) }).await, Ok(7));
    }

    #[tokio::test]
    async fn work_done_in_its_first_poll_wins_a_pending_request_and_other_work_does_not() {
        let i = Interrupt::default();
        i.request();
        assert_eq!(i.race(None, async { Ok(7) }).await, Ok(7));
        let waits = async {
            tokio::task::yield_now().await;
            Ok(8)
        };
        assert_eq!(i.race(None, waits).await.unwrap_err().code, "57014");
    }

    #[tokio::test]
    async fn a_deadline_ends_the_work_with_a_statement_timeout() {
        let i = Interrupt::default();
        let at = tokio::time::Instant::now() + std::time::Duration::from_millis(20);
        let e = i
            .race(Some(at), std::future::pending::<Result<(), SqlError>>())
            .await
            .unwrap_err();
        assert_eq!(e.code, "57014");
        assert_eq!(e.message, "canceling statement due to statement timeout");
    }

    #[test]
    fn duration_settings_read_as_postgresql_reads_them() {
        use std::time::Duration;
        assert_eq!(duration_setting("0"), Ok(None));
        assert_eq!(
            duration_setting("250"),
            Ok(Some(Duration::from_millis(250)))
        );
        assert_eq!(duration_setting("'5s'"), Ok(Some(Duration::from_secs(5))));
        assert_eq!(duration_setting("2min"), Ok(Some(Duration::from_secs(120))));
        assert!(duration_setting("5 parsecs").is_err());
        assert!(duration_setting("-1").is_err());
    }
}
