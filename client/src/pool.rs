//! The sessions of a client: which node a new session is opened on, the idle
//! sessions kept for reuse, and failover for statements run outside an
//! explicit transaction.
//!
//! ```text
//!   nodes:  [ A, B, C ]      a new session tries them in order from a
//!             ▲ next_node    rotating start (A,B,C then B,C,A …), each with
//!                            the connect timeout; the first that opens wins
//!
//!   idle:   [ s1(A), s2(B) ] reused last-in first-out; a session goes back
//!                            only if alive, idle (no transaction) and nothing
//!                            is in flight; a dead one is dropped, and so are
//!                            the idle sessions to its node (likely dead too)
//! ```
//!
//! NB: dropping a session closes its stream; the node then rolls back the
//! session's open transaction, if any. That is how a transaction the caller
//! abandoned is ended: its session never returns to the pool.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tonic::Status;
use tonic::transport::Endpoint;

use crate::error::{Error, Result};
use crate::options::ClientOptions;
use crate::prepared::Sql;
use crate::row::QueryResult;
use crate::session::{Failure, Session};
use crate::value::Value;

/// Sessions to a cluster's nodes.
#[derive(Debug)]
pub(crate) struct Pool {
    /// Node URLs with scheme, in the order given.
    nodes: Vec<Arc<str>>,
    /// Where the next new session starts trying.
    next_node: AtomicUsize,
    /// Sessions ready for reuse.
    idle: Mutex<Vec<Session>>,
    /// The client's options.
    pub(crate) options: ClientOptions,
}

impl Pool {
    /// A pool over `urls` (`host:port` or `http://host:port`); opens nothing.
    pub(crate) fn new(
        urls: impl IntoIterator<Item = impl Into<String>>,
        options: ClientOptions,
    ) -> Result<Self> {
        let nodes = urls
            .into_iter()
            .map(|url| node_url(url.into(), options.tls.is_some()))
            .collect::<Result<Vec<_>>>()?;
        if nodes.is_empty() {
            return Err(Error::Usage("no node address given".into()));
        }
        Ok(Self {
            nodes,
            next_node: AtomicUsize::new(0),
            idle: Mutex::new(Vec::new()),
            options,
        })
    }

    /// An idle session, or else a new one (see [`Pool::open`]).
    pub(crate) async fn acquire(&self, avoid: Option<&str>) -> Result<Session> {
        if let Some(session) = self.idle().pop() {
            return Ok(session);
        }
        self.open(avoid).await
    }

    /// Opens a session on the first node that answers, trying each once in
    /// order from a rotating start; `avoid` (a node that just failed) is
    /// tried last. Fails with the last node's [`Error::Connect`].
    pub(crate) async fn open(&self, avoid: Option<&str>) -> Result<Session> {
        let n = self.nodes.len();
        let start = self.next_node.fetch_add(1, Ordering::Relaxed);
        let rotated = (0..n).map(|i| &self.nodes[(start + i) % n]);
        let (preferred, avoided): (Vec<_>, Vec<_>) =
            rotated.partition(|node| Some(&***node) != avoid);
        let mut last = None;
        for node in preferred.into_iter().chain(avoided) {
            match Session::open(node.clone(), &self.options).await {
                Ok(session) => return Ok(session),
                Err(e) => {
                    tracing::warn!(%node, error = %e, "cannot open a session; trying the next node");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::Usage("no node address given".into())))
    }

    /// Takes a session back after use; it is kept only if reusable and there
    /// is room.
    pub(crate) fn release(&self, session: Session) {
        if !session.is_reusable() {
            return;
        }
        let mut idle = self.idle();
        if idle.len() < self.options.max_idle_sessions {
            idle.push(session);
        }
    }

    /// Drops the idle sessions to `node`, after one of its sessions broke.
    pub(crate) fn forget_node(&self, node: &str) {
        let dropped: Vec<Session> = {
            let mut idle = self.idle();
            let (keep, drop) = idle.drain(..).partition(|s| &**s.node() != node);
            *idle = keep;
            drop
        };
        if !dropped.is_empty() {
            tracing::debug!(node, sessions = dropped.len(), "dropped idle sessions");
        }
    }

    /// Runs one statement outside an explicit transaction, on an idle or new
    /// session, and returns the session with the result (the caller
    /// releases or keeps it).
    ///
    /// Failover: when the session turns out to be over before the request
    /// left, the statement is sent again on another session (another node
    /// first). When the stream breaks after it left, it is sent again only if
    /// `resend_after_loss` (the statement has no effects, or its effects die
    /// with the session); otherwise the result is [`Error::Ambiguous`]. At
    /// most one attempt per node, plus one, is made.
    pub(crate) async fn run_anywhere(
        &self,
        sql: Sql<'_>,
        params: &[Value],
        resend_after_loss: bool,
    ) -> Result<(Session, QueryResult)> {
        let mut avoid: Option<Arc<str>> = None;
        let mut last = Status::unavailable("no attempt made");
        for attempt in 1..=self.nodes.len() + 1 {
            let mut session = self.acquire(avoid.as_deref()).await?;
            let status = match session.run(sql, params).await {
                Ok(result) => return Ok((session, result)),
                Err(Failure::Sql(e)) => {
                    self.release(session);
                    return Err(e);
                }
                Err(Failure::NotSent(status)) => status,
                Err(Failure::Lost(status)) if resend_after_loss => status,
                Err(Failure::Lost(source)) => {
                    self.forget_node(session.node());
                    return Err(Error::Ambiguous { source });
                }
            };
            tracing::debug!(node = %session.node(), attempt, %status, "session broke; trying again elsewhere");
            self.forget_node(session.node());
            avoid = Some(session.node().clone());
            last = status;
        }
        Err(Error::Disconnected { source: last })
    }

    /// The idle list; a panic elsewhere while it was locked leaves it
    /// consistent (every operation on it is a single push, pop or swap).
    fn idle(&self) -> MutexGuard<'_, Vec<Session>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until every idle session has seen its node end the stream.
    #[cfg(test)]
    pub(crate) async fn wait_until_idle_sessions_ended(&self) {
        let mut sessions = std::mem::take(&mut *self.idle());
        for s in &mut sessions {
            s.wait_until_ended().await;
        }
        self.idle().extend(sessions);
    }

    /// The number of idle sessions.
    #[cfg(test)]
    pub(crate) fn idle_count(&self) -> usize {
        self.idle().len()
    }
}

/// `url` with a scheme (`http://`, or `https://` with TLS, if it has
/// none), checked to be a valid URI.
fn node_url(url: String, tls: bool) -> Result<Arc<str>> {
    let url = url.trim();
    let url = if url.contains("://") {
        url.to_string()
    } else if tls {
        format!("https://{url}")
    } else {
        format!("http://{url}")
    };
    Endpoint::from_shared(url.clone()).map_err(|e| Error::Connect {
        url: url.clone(),
        source: e.into(),
    })?;
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_get_a_scheme_and_are_checked() {
        assert_eq!(
            &*node_url("127.0.0.1:7000".into(), false).unwrap(),
            "http://127.0.0.1:7000"
        );
        assert_eq!(
            &*node_url(" http://h:1 ".into(), false).unwrap(),
            "http://h:1"
        );
        assert!(matches!(
            node_url("bad host:1".into(), false),
            Err(Error::Connect { .. })
        ));
    }

    #[test]
    fn a_pool_needs_a_node() {
        let none: [&str; 0] = [];
        assert!(matches!(
            Pool::new(none, ClientOptions::default()),
            Err(Error::Usage(_))
        ));
    }
}
