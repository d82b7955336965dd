//! [`Durable`]: the future a write returns, resolved once the WAL fsync that
//! covers the write has returned — openraft's `LogFlushed` callback moment.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use super::RaftLogError;
use crate::wal::WalError;

/// Resolves once a write of the store is durable, or with the error that
/// failed the WAL. Owns nothing borrowed: it can be spawned.
///
/// Dropping it does not undo or cancel the write: the write took effect in
/// memory and was queued to the WAL when the method returned.
#[derive(Debug)]
#[must_use = "the write is queued either way; await this to learn when it is durable"]
pub struct Durable {
    state: State,
}

#[derive(Debug)]
enum State {
    Waiting(oneshot::Receiver<Result<(), WalError>>),
    Ready(Option<Result<(), RaftLogError>>),
}

impl Durable {
    /// A future completed by the sender (from a WAL completion callback).
    pub(super) fn waiting() -> (oneshot::Sender<Result<(), WalError>>, Durable) {
        let (tx, rx) = oneshot::channel();
        (
            tx,
            Durable {
                state: State::Waiting(rx),
            },
        )
    }

    /// An already-resolved future.
    pub(super) fn ready(result: Result<(), RaftLogError>) -> Durable {
        Durable {
            state: State::Ready(Some(result)),
        }
    }
}

impl Future for Durable {
    type Output = Result<(), RaftLogError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            // A dropped sender: the WAL went away without writing it.
            State::Waiting(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| Ok(r.unwrap_or(Err(WalError::Closed))?)),
            State::Ready(result) => Poll::Ready(
                result
                    .take()
                    .unwrap_or(Err(RaftLogError::Wal(WalError::Closed))),
            ),
        }
    }
}
