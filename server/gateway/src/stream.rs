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
//! by its answer, or with `Unavailable` when the stream breaks (every
//! pending call is failed then, and the stream takes no new calls: the
//! gateway opens a new one). A caller that gives up (its deadline) removes
//! its entry; a late answer for it is dropped.

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

/// Calls waiting for their answers, by id; `None` once the stream broke.
type Pending = Mutex<Option<HashMap<u64, oneshot::Sender<Result<Answer, Status>>>>>;

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
            let why = match client.calls(ReceiverStream::new(outgoing)).await {
                Ok(answers) => {
                    let mut answers = answers.into_inner();
                    loop {
                        match answers.message().await {
                            Ok(Some(a)) => {
                                let waiter =
                                    lock(&driver_pending).as_mut().and_then(|p| p.remove(&a.id));
                                if let (Some(waiter), Some(answer)) = (waiter, a.answer) {
                                    let answer = match answer {
                                        Answer::Status(s) => {
                                            Err(Status::new(s.code.into(), s.message))
                                        }
                                        answer => Ok(answer),
                                    };
                                    // The caller gave up meanwhile.
                                    let _ = waiter.send(answer);
                                }
                            }
                            Ok(None) => break "the peer ended it".to_string(),
                            Err(status) => break status.to_string(),
                        }
                    }
                }
                Err(status) => status.to_string(),
            };
            let broken = lock(&driver_pending).take().unwrap_or_default();
            tracing::debug!(%peer, %why, failed = broken.len(), "tablet call stream ended");
            for (_, waiter) in broken {
                let _ = waiter.send(Err(Status::unavailable(format!(
                    "the call stream to {peer} broke: {why}"
                ))));
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
        rx.await.unwrap_or_else(|_| Err(self.broken()))
    }

    fn broken(&self) -> Status {
        Status::unavailable(format!("the call stream to {} is closed", self.addr))
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

fn lock(pending: &Pending) -> std::sync::MutexGuard<'_, Option<HashMap<u64, PendingSender>>> {
    pending.lock().unwrap_or_else(PoisonError::into_inner)
}

type PendingSender = oneshot::Sender<Result<Answer, Status>>;

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
