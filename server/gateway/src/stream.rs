//! A gateway's call stream to one peer node (`TabletCallStream.Calls`):
//! small Tablet calls travel as messages on one long-lived gRPC stream,
//! each with an id its answer repeats, instead of an HTTP/2 stream per
//! call (see `spanlite_node`'s `tablet_stream` for why).
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
//! the stream takes no new calls (the gateway opens a new one); a call
//! refused that way was not sent (`Unavailable`). A caller that gives up
//! (its deadline) removes its entry; a late answer for it is dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use spanlite_proto::tablet::tablet_call::Request as Call;
use spanlite_proto::tablet::tablet_call_stream_client::TabletCallStreamClient;
use spanlite_proto::tablet::{TabletCall, tablet_answer::Answer};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tonic::transport::Channel;

/// Calls queued for the stream before a caller waits to send.
const CALLS_QUEUED: usize = 1024;

/// Where a call's answer goes.
type Waiter = oneshot::Sender<Result<Answer, Status>>;

/// Calls waiting for their answers, by id; `None` once the stream broke.
type Pending = Mutex<Option<HashMap<u64, Waiter>>>;

/// One call stream to a peer. Dropping the last handle closes the
/// stream's sending side; the peer then ends it.
#[derive(Debug)]
pub(crate) struct CallStream {
    calls: mpsc::Sender<TabletCall>,
    pending: Arc<Pending>,
    next_id: AtomicU64,
    addr: String,
    /// Calls sent on every stream of the gateway.
    sent: Arc<AtomicU64>,
}

impl CallStream {
    /// Opens a stream on `channel` (to `addr`, named in errors): the call
    /// is made by a task of its own, and calls queue until it is set up.
    /// Needs a Tokio runtime.
    fn open(channel: Channel, addr: &str, sent: Arc<AtomicU64>) -> Arc<CallStream> {
        let (calls, outgoing) = mpsc::channel(CALLS_QUEUED);
        let pending: Arc<Pending> = Arc::new(Mutex::new(Some(HashMap::new())));
        let driver_pending = pending.clone();
        let peer = addr.to_string();
        tokio::spawn(async move {
            let mut client = TabletCallStreamClient::new(channel)
                .max_decoding_message_size(64 << 20)
                .max_encoding_message_size(256 << 20);
            // What the calls still waiting get when the stream ends. NB: a
            // call's fate decides whether a commit may be retried
            // elsewhere (`transaction::never_sent`): only a stream that
            // never opened may report what a unary call that could not
            // connect reports; once open, a call in flight may have run.
            let failure = match client.calls(ReceiverStream::new(outgoing)).await {
                Ok(answers) => {
                    let mut answers = answers.into_inner();
                    let why = loop {
                        match answers.message().await {
                            Ok(Some(a)) => {
                                let waiter =
                                    lock(&driver_pending).as_mut().and_then(|p| p.remove(&a.id));
                                if let Some(waiter) = waiter {
                                    let answer = match a.answer {
                                        Some(Answer::Status(s)) => {
                                            Err(Status::new(s.code.into(), s.message))
                                        }
                                        Some(answer) => Ok(answer),
                                        None => Err(Status::internal(format!(
                                            "{peer} answered call {} with nothing",
                                            a.id
                                        ))),
                                    };
                                    // The caller gave up meanwhile.
                                    let _ = waiter.send(answer);
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
            tracing::debug!(%peer, %failure, failed = broken.len(), "tablet call stream ended");
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
    pub(crate) fn is_open(&self) -> bool {
        lock(&self.pending).is_some() && !self.calls.is_closed()
    }

    /// Sends `request` (from node `from`, 0 for none) and waits for its
    /// answer.
    pub(crate) async fn call(&self, from: u64, request: Call) -> Result<Answer, Status> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        match lock(&self.pending).as_mut() {
            Some(pending) => pending.insert(id, tx),
            None => return Err(self.broken()),
        };
        let _forget = Forget { stream: self, id };
        let call = TabletCall {
            id,
            from_node: from,
            request: Some(request),
        };
        if self.calls.send(call).await.is_err() {
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
struct Forget<'a> {
    stream: &'a CallStream,
    id: u64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        if let Some(pending) = lock(&self.stream.pending).as_mut() {
            pending.remove(&self.id);
        }
    }
}

fn lock(pending: &Pending) -> std::sync::MutexGuard<'_, Option<HashMap<u64, Waiter>>> {
    pending.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A gateway's call streams, one per peer address.
#[derive(Debug, Default)]
pub(crate) struct CallStreams {
    streams: Mutex<HashMap<String, Arc<CallStream>>>,
    sent: Arc<AtomicU64>,
}

impl CallStreams {
    /// The open stream to `addr`, or a new one on `channel`. `None` outside
    /// a Tokio runtime.
    pub(crate) fn get(&self, addr: &str, channel: &Channel) -> Option<Arc<CallStream>> {
        tokio::runtime::Handle::try_current().ok()?;
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = streams.get(addr)
            && s.is_open()
        {
            return Some(s.clone());
        }
        let s = CallStream::open(channel.clone(), addr, self.sent.clone());
        streams.insert(addr.to_string(), s.clone());
        Some(s)
    }

    /// Calls sent on the streams so far.
    pub(crate) fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::never_sent;
    use spanlite_proto::tablet::tablet_call_stream_server::{
        TabletCallStream, TabletCallStreamServer,
    };
    use spanlite_proto::tablet::{CommitRequest, TabletAnswer};
    use std::pin::Pin;
    use tokio_stream::StreamExt;

    /// A peer that takes the stream, waits for one call, then fails the
    /// stream without answering (as a connection cut mid-call does).
    struct CutAfterOneCall;

    type Answers = Pin<Box<dyn tokio_stream::Stream<Item = Result<TabletAnswer, Status>> + Send>>;

    #[tonic::async_trait]
    impl TabletCallStream for CutAfterOneCall {
        type CallsStream = Answers;

        async fn calls(
            &self,
            request: tonic::Request<tonic::Streaming<TabletCall>>,
        ) -> Result<tonic::Response<Answers>, Status> {
            let mut calls = request.into_inner();
            let (tx, rx) = mpsc::channel(1);
            tokio::spawn(async move {
                let _ = calls.next().await;
                // Words a unary call's failure to connect would contain.
                let cut = Status::unavailable("connection reset; could not connect again");
                let _ = tx.send(Err(cut)).await;
            });
            Ok(tonic::Response::new(Box::pin(ReceiverStream::new(rx))))
        }
    }

    fn channel(addr: &str) -> Channel {
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy()
    }

    fn commit() -> Call {
        Call::Commit(CommitRequest::default())
    }

    /// Claim: a call in flight when its stream breaks is reported as
    /// possibly sent (a commit then counts as ambiguous, never retried
    /// elsewhere); a call to a peer nobody listens on, as not sent.
    #[tokio::test]
    async fn a_call_in_flight_on_a_broken_stream_may_have_been_sent() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TabletCallStreamServer::new(CutAfterOneCall))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let streams = CallStreams::default();
        let stream = streams.get(&addr, &channel(&addr)).unwrap();
        let status = stream.call(0, commit()).await.unwrap_err();
        assert!(
            !never_sent(&status),
            "a call lost in flight counted as never sent: {status:?}"
        );
        // The broken stream takes no more calls, and says they were not sent.
        let status = stream.call(0, commit()).await.unwrap_err();
        assert!(never_sent(&status), "{status:?}");
        assert!(!stream.is_open());
        server.abort();

        let nobody = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        let stream = streams.get(&nobody, &channel(&nobody)).unwrap();
        let status = stream.call(0, commit()).await.unwrap_err();
        assert!(never_sent(&status), "nobody listens: {status:?}");
    }
}
