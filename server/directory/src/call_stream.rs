//! Calls between nodes as messages on one long-lived gRPC stream per peer,
//! each with an id its answer repeats, instead of an HTTP/2 stream per
//! call. A unary gRPC call opens a stream of its own — headers, a body,
//! trailers, a server task — which costs more CPU than a point read or a
//! small Raft append itself; on a call stream a call is one message each
//! way. The gateway's Tablet calls (`TabletCallStream.Calls`) and the Raft
//! transport's appends and votes (`RaftService.Calls`) both travel this
//! way (TiKV's batch-commands stream has the same purpose).
//!
//! Client side, [`CallStream`]:
//!
//! ```text
//!   call ──id──▶ pending[id] = oneshot ──▶ sender ══ stream ══▶ peer
//!   call ◀───── oneshot ◀── driver task ◀══ answers (any order) ══ peer
//! ```
//!
//! INVARIANT: a call registered in `pending` is completed exactly once —
//! by its answer, or when the stream ends: with `Unknown` (it may have
//! run) if the stream had opened, else with the error that kept it from
//! opening, as a unary call gets. Every pending call is failed then, and
//! the stream takes no new calls (the owner opens a new one); a call
//! refused that way was not sent (`Unavailable`). A caller that gives up
//! (its deadline) removes its entry; a late answer for it is dropped.
//!
//! Server side, [`serve_calls`]: each call runs in a task of its own and
//! sends its answer itself, so answers leave in the order they are ready.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

/// Calls queued for a stream before a caller waits to send.
const CALLS_QUEUED: usize = 1024;

/// Answers waiting to be written to one stream (server side). A caller
/// that stops reading holds up its own stream only.
const ANSWERS_QUEUED: usize = 256;

/// A message that answers the call with the same id.
pub trait Answered {
    /// The id of the call this answers.
    fn call_id(&self) -> u64;
}

impl Answered for spanlite_proto::tablet::TabletAnswer {
    fn call_id(&self) -> u64 {
        self.id
    }
}

impl Answered for spanlite_proto::raft::RaftAnswer {
    fn call_id(&self) -> u64 {
        self.id
    }
}

/// Where a call's answer goes.
type Waiter<A> = oneshot::Sender<Result<A, Status>>;

/// Calls waiting for their answers, by id; `None` once the stream broke.
type Pending<A> = Mutex<Option<HashMap<u64, Waiter<A>>>>;

/// One call stream to a peer, sending `C` and answered with `A`. Dropping
/// the last handle closes the stream's sending side; the peer then ends it.
#[derive(Debug)]
pub struct CallStream<C, A> {
    calls: mpsc::Sender<C>,
    pending: Arc<Pending<A>>,
    next_id: AtomicU64,
    addr: String,
    /// Calls sent on every stream of the owner.
    sent: Arc<AtomicU64>,
}

impl<C, A> CallStream<C, A>
where
    C: Send + 'static,
    A: Answered + Send + 'static,
{
    /// Opens a stream by `open` (to `addr`, named in errors): the call is
    /// made by a task of its own, and calls queue until it is set up.
    /// Needs a Tokio runtime.
    pub fn open<F, Fut>(open: F, addr: &str, sent: Arc<AtomicU64>) -> Arc<Self>
    where
        F: FnOnce(ReceiverStream<C>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<tonic::Streaming<A>, Status>> + Send + 'static,
    {
        let (calls, outgoing) = mpsc::channel(CALLS_QUEUED);
        let pending: Arc<Pending<A>> = Arc::new(Mutex::new(Some(HashMap::new())));
        let driver_pending = pending.clone();
        let peer = addr.to_string();
        tokio::spawn(async move {
            // What the calls still waiting get when the stream ends. NB: a
            // call's fate decides whether a commit may be retried
            // elsewhere (the gateway's `never_sent`): only a stream that
            // never opened may report what a unary call that could not
            // connect reports; once open, a call in flight may have run.
            let failure = match open(ReceiverStream::new(outgoing)).await {
                Ok(mut answers) => {
                    let why = loop {
                        match answers.message().await {
                            Ok(Some(a)) => {
                                let waiter = lock(&driver_pending)
                                    .as_mut()
                                    .and_then(|p| p.remove(&a.call_id()));
                                if let Some(waiter) = waiter {
                                    // The caller gave up meanwhile.
                                    let _ = waiter.send(Ok(a));
                                }
                            }
                            Ok(None) => break "the peer ended it".to_string(),
                            Err(status) => break status.message().to_string(),
                        }
                    };
                    Status::unknown(format!(
                        "the call stream to {peer} broke with the call in flight: {why}"
                    ))
                }
                // As a unary call on this channel would have failed.
                Err(status) => status,
            };
            let broken = lock(&driver_pending).take().unwrap_or_default();
            tracing::debug!(%peer, %failure, failed = broken.len(), "call stream ended");
            for (_, waiter) in broken {
                let _ = waiter.send(Err(failure.clone()));
            }
        });
        Arc::new(CallStream {
            calls,
            pending,
            next_id: AtomicU64::new(1),
            addr: addr.to_string(),
            sent,
        })
    }

    /// Whether the stream still takes calls.
    pub fn is_open(&self) -> bool {
        lock(&self.pending).is_some() && !self.calls.is_closed()
    }

    /// Sends the call `make(id)` makes and waits for its answer.
    pub async fn call(&self, make: impl FnOnce(u64) -> C) -> Result<A, Status> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        match lock(&self.pending).as_mut() {
            Some(pending) => pending.insert(id, tx),
            None => return Err(self.broken()),
        };
        let _forget = Forget { stream: self, id };
        if self.calls.send(make(id)).await.is_err() {
            return Err(self.broken());
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
        // Dropped unanswered only if the stream's task went away (a
        // panic): the call may have been sent.
        rx.await.unwrap_or_else(|_| {
            Err(Status::unknown(format!(
                "the call stream to {} lost the call",
                self.addr
            )))
        })
    }

    /// The call was not sent: the stream had ended (or its task had).
    fn broken(&self) -> Status {
        Status::unavailable(format!(
            "the call stream to {} is closed (not connected); the call was not sent",
            self.addr
        ))
    }
}

/// Removes a call's entry when its caller stops waiting (answered or not).
struct Forget<'a, C, A> {
    stream: &'a CallStream<C, A>,
    id: u64,
}

impl<C, A> Drop for Forget<'_, C, A> {
    fn drop(&mut self) {
        if let Some(pending) = lock(&self.stream.pending).as_mut() {
            pending.remove(&self.id);
        }
    }
}

fn lock<A>(pending: &Pending<A>) -> std::sync::MutexGuard<'_, Option<HashMap<u64, Waiter<A>>>> {
    pending.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Call streams, one per peer address.
#[derive(Debug)]
pub struct CallStreams<C, A> {
    streams: Mutex<HashMap<String, Arc<CallStream<C, A>>>>,
    sent: Arc<AtomicU64>,
}

impl<C, A> Default for CallStreams<C, A> {
    fn default() -> Self {
        Self {
            streams: Mutex::default(),
            sent: Arc::default(),
        }
    }
}

impl<C, A> CallStreams<C, A>
where
    C: Send + 'static,
    A: Answered + Send + 'static,
{
    /// The open stream to `addr`, or a new one opened by `open` (see
    /// [`CallStream::open`]). `None` outside a Tokio runtime.
    pub fn get<F, Fut>(&self, addr: &str, open: F) -> Option<Arc<CallStream<C, A>>>
    where
        F: FnOnce(ReceiverStream<C>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<tonic::Streaming<A>, Status>> + Send + 'static,
    {
        tokio::runtime::Handle::try_current().ok()?;
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = streams.get(addr)
            && s.is_open()
        {
            return Some(s.clone());
        }
        let s = CallStream::open(open, addr, self.sent.clone());
        streams.insert(addr.to_string(), s.clone());
        Some(s)
    }

    /// Calls sent on the streams so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Lets go of every stream: each closes its sending side once the
    /// calls still holding it are answered, and the peers end them.
    pub fn clear(&self) {
        self.streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// The answers of one served stream: they end when every call is
/// answered after the caller closed its side, or at once at a stop.
pub struct Answers<A> {
    answers: mpsc::Receiver<Result<A, Status>>,
    stop: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl<A> std::fmt::Debug for Answers<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answers").finish_non_exhaustive()
    }
}

impl<A> tokio_stream::Stream for Answers<A> {
    type Item = Result<A, Status>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if self.stop.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(None);
        }
        self.answers.poll_recv(cx)
    }
}

/// Serves one call stream: each call of `calls` runs `handle` in a task of
/// its own, which sends its answer itself, so answers go back in the order
/// they are ready (with no task between the handler and the stream). The
/// stream ends when the caller closes its side and every call is
/// answered, or at once when `stopping` turns true (an open stream would
/// keep the gRPC server's graceful shutdown waiting for ever); calls
/// still running then finish, and their answers are dropped.
pub fn serve_calls<C, A, H, Fut>(
    mut calls: tonic::Streaming<C>,
    stopping: watch::Receiver<bool>,
    handle: H,
) -> Answers<A>
where
    C: Send + 'static,
    A: Send + 'static,
    H: Fn(C) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = A> + Send + 'static,
{
    let (out, answers) = mpsc::channel::<Result<A, Status>>(ANSWERS_QUEUED);
    let handle = Arc::new(handle);
    let mut reader_stop = stopping.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                call = calls.next() => match call {
                    Some(Ok(call)) => {
                        let handle = handle.clone();
                        let out = out.clone();
                        tokio::spawn(async move {
                            let answer = handle(call).await;
                            // Dropped if the caller went away.
                            let _ = out.send(Ok(answer)).await;
                        });
                    }
                    // The caller closed its side (or the connection
                    // broke): the answers end once the calls in flight
                    // have sent theirs (their senders gone).
                    _ => return,
                },
                () = stopped(&mut reader_stop) => return,
            }
        }
    });
    let mut stopping = stopping;
    Answers {
        answers,
        stop: Box::pin(async move { stopped(&mut stopping).await }),
    }
}

/// Returns once `stopping` is (or turns) true; never if its sender is
/// gone without saying so.
pub async fn stopped(stopping: &mut watch::Receiver<bool>) {
    if stopping.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}
