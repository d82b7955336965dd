//! A transaction's commit call, sent at most once: an attempt that got no
//! answer may have committed, and sending it again could apply the
//! transaction twice; only a refusal the leader gave before proposing
//! anything (not the leader, wrong tablet, clock unsynchronized) or a call
//! that never left this node lets the gateway send it again. `Sent` keeps
//! what became of the attempt in flight for the error that reports the
//! outcome unknown.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use spanlite_proto::common::{self, tablet_error::Kind};
use spanlite_proto::tablet::CommitRequest;
use spanlite_truetime::Timestamp;

use super::GatewayError;

/// Outcome of a commit attempt so far (for not re-sending an ambiguous one).
const NOT_SENT: u8 = 0;
const IN_FLIGHT: u8 = 1;

pub(crate) fn internal(message: String) -> common::TabletError {
    common::TabletError {
        kind: Some(Kind::Internal(common::Internal { message })),
    }
}

fn ambiguous(message: String) -> common::TabletError {
    common::TabletError {
        kind: Some(Kind::Ambiguous(common::Ambiguous { message })),
    }
}

/// True when a call failed before the request left this node (no
/// connection could be made: the node is down), so it cannot have taken
/// effect anywhere.
pub(crate) fn never_sent(status: &tonic::Status) -> bool {
    // Refused by the server's decoder or the client's encoder for its
    // size: no handler ever saw it.
    if matches!(
        status.code(),
        tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
    ) && status.message().to_lowercase().contains("message length")
    {
        return true;
    }
    if status.code() != tonic::Code::Unavailable {
        return false;
    }
    let mut text = status.message().to_lowercase();
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        text.push_str(&e.to_string().to_lowercase());
        source = e.source();
    }
    text.contains("connect")
}

/// Whether a commit request may have reached a leader (see [`once_only`]),
/// and what became of the attempt that got no answer (for the error that
/// reports the outcome unknown: a timeout, a broken connection, a leader
/// that stepped down mid-proposal are different stories).
#[derive(Clone, Debug, Default)]
pub(crate) struct Sent(Arc<AtomicU8>, Arc<std::sync::Mutex<Option<String>>>);

impl Sent {
    /// True when a commit attempt got no answer: it may have committed.
    pub(crate) fn maybe(&self) -> bool {
        self.0.load(Ordering::SeqCst) == IN_FLIGHT
    }

    /// Notes why the attempt in flight may have committed without an
    /// outcome: first that it was sent (if its call is then dropped, at
    /// the caller's time limit, that is the story), then how it failed.
    /// Only one attempt is ever in flight: later ones are refused unsent.
    fn lost(&self, why: String) {
        *self
            .1
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why);
    }

    /// What [`Sent::lost`] noted, for an error message.
    fn why_lost(&self) -> String {
        match &*self
            .1
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            Some(why) => why.clone(),
            None => "no answer".to_string(),
        }
    }

    /// A failed commit call as the client must see it: if an attempt may
    /// have committed, the outcome is unknown (never "unavailable", which
    /// invites a retry that could apply the transaction twice).
    pub(crate) fn outcome<T>(&self, result: Result<T, GatewayError>) -> Result<T, GatewayError> {
        match result {
            Err(GatewayError::Unavailable(m)) if self.maybe() => {
                Err(GatewayError::Ambiguous(format!(
                    "the commit was sent and no answer came ({}): {m}",
                    self.why_lost()
                )))
            }
            other => other,
        }
    }
}

/// A commit call for [`Gateway::call`] that sends `make(descriptor)` at
/// most once unless refused before anything was proposed (not the leader,
/// wrong tablet): an attempt that got no answer may have committed, and
/// sending again could apply the transaction twice.
pub(crate) fn once_only(
    sent: &Sent,
    make: impl Fn(&spanlite_directory::TabletDescriptor) -> CommitRequest,
) -> impl FnMut(
    crate::TabletClient,
    spanlite_directory::TabletDescriptor,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = super::route::WireResult<Timestamp>> + Send>,
> {
    let sent = sent.clone();
    move |mut client, d| {
        let req = make(&d);
        let sent = sent.clone();
        Box::pin(async move {
            let state = &sent.0;
            if state.swap(IN_FLIGHT, Ordering::SeqCst) == IN_FLIGHT {
                return Ok(Err(ambiguous(format!(
                    "an earlier attempt got no answer ({})",
                    sent.why_lost()
                ))));
            }
            let sent_at = std::time::Instant::now();
            sent.lost(format!(
                "tablet {}: sent, and no answer came within the call's time limit",
                d.id
            ));
            let resp = match client.commit(req).await {
                Ok(resp) => resp.into_inner(),
                Err(status) => {
                    if never_sent(&status) {
                        state.store(NOT_SENT, Ordering::SeqCst);
                    } else {
                        sent.lost(format!(
                            "tablet {}: {:?} after {:?}: {}",
                            d.id,
                            status.code(),
                            sent_at.elapsed(),
                            status.message()
                        ));
                    }
                    return Err(status);
                }
            };
            match (resp.error, resp.commit_ts) {
                // Refusals before anything was proposed: safe to retry.
                // (A leader reads its clock for a commit only before it
                // proposes; commit wait rides out a failing clock.)
                (Some(e), _) => {
                    if matches!(
                        e.kind,
                        Some(
                            Kind::NotLeader(_)
                                | Kind::WrongTablet(_)
                                | Kind::TabletNotFound(_)
                                | Kind::ClockUnsynchronized(_)
                        )
                    ) {
                        state.store(NOT_SENT, Ordering::SeqCst);
                    } else {
                        sent.lost(format!("tablet {}: {:?}", d.id, e.kind));
                    }
                    Ok(Err(e))
                }
                (None, Some(ts)) => Ok(Ok(Timestamp::from_nanos(ts.nanos))),
                (None, None) => Ok(Err(internal("commit without a timestamp".to_string()))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spanlite_proto::tablet::tablet_service_server::TabletService;
    use spanlite_proto::tablet::{
        AbortRequest, AbortResponse, CommitResponse, PrepareRequest, ReadRequest, ReadResponse,
        ScanRequest, ScanResponse, TxnStatusRequest, TxnStatusResponse,
    };
    use tonic::{Request, Response, Status};

    /// A leader whose clock fails for its first commit, then recovers.
    #[derive(Default)]
    struct ClockFailsOnce(std::sync::atomic::AtomicU32);

    #[tonic::async_trait]
    impl TabletService for ClockFailsOnce {
        async fn read(&self, _: Request<ReadRequest>) -> Result<Response<ReadResponse>, Status> {
            Err(Status::unimplemented("read"))
        }
        async fn scan(&self, _: Request<ScanRequest>) -> Result<Response<ScanResponse>, Status> {
            Err(Status::unimplemented("scan"))
        }
        async fn prepare(
            &self,
            _: Request<PrepareRequest>,
        ) -> Result<Response<spanlite_proto::tablet::PrepareResponse>, Status> {
            Err(Status::unimplemented("prepare"))
        }
        async fn commit(
            &self,
            _: Request<CommitRequest>,
        ) -> Result<Response<CommitResponse>, Status> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            Ok(Response::new(if n == 0 {
                CommitResponse {
                    commit_ts: None,
                    error: Some(common::TabletError {
                        kind: Some(Kind::ClockUnsynchronized(common::ClockUnsynchronized {
                            message: "the local clock went back".to_string(),
                        })),
                    }),
                }
            } else {
                CommitResponse {
                    commit_ts: Some(common::Timestamp { nanos: 42 }),
                    error: None,
                }
            }))
        }
        async fn abort(&self, _: Request<AbortRequest>) -> Result<Response<AbortResponse>, Status> {
            Err(Status::unimplemented("abort"))
        }
        async fn txn_status(
            &self,
            _: Request<TxnStatusRequest>,
        ) -> Result<Response<TxnStatusResponse>, Status> {
            Err(Status::unimplemented("txn_status"))
        }
    }

    /// Claim: a commit a leader refused because its clock failed was never
    /// proposed, so the gateway sends it again (to a leader whose clock
    /// recovered) instead of reporting its outcome unknown. (Seen in
    /// `make test`: the machine's clock stepped back 3.7 ms during the merge
    /// test's transfers, and a transfer failed with 40003.)
    #[tokio::test]
    async fn a_commit_refused_for_the_clock_is_sent_again() {
        let leader: Arc<dyn TabletService> = Arc::new(ClockFailsOnce::default());
        let sent = Sent::default();
        let mut attempt = once_only(&sent, |d| CommitRequest {
            tablet_id: d.id,
            ..Default::default()
        });
        let d = spanlite_directory::TabletDescriptor {
            id: 7,
            range: spanlite_directory::KeyRange::new(Vec::new(), Vec::new()),
            replicas: vec![1],
            generation: 1,
        };
        let first = attempt(crate::TabletClient::local(leader.clone(), None), d.clone())
            .await
            .unwrap();
        assert!(
            matches!(&first, Err(e) if matches!(e.kind, Some(Kind::ClockUnsynchronized(_)))),
            "{first:?}"
        );
        assert!(
            !sent.maybe(),
            "a refusal before proposing counted as maybe committed"
        );
        let second = attempt(crate::TabletClient::local(leader, None), d)
            .await
            .unwrap();
        assert_eq!(second, Ok(Timestamp::from_nanos(42)));
    }
}
