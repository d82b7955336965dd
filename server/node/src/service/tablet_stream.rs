//! `TabletCallStream`: a peer gateway's Tablet calls, many at a time over
//! one stream (TiKV's batch-commands stream has the same purpose). A unary
//! gRPC call opens an HTTP/2 stream of its own — headers, a body, trailers,
//! and a server task per stream — which cost more CPU than a point read
//! itself; on this stream a call is one message each way.
//!
//! Each call runs the unary handler of [`TabletGrpc`] in a task of its
//! own, so answers leave in the order they are ready, each with its call's
//! id. The stream is authorized when it opens (the same interceptor as the
//! Tablet service: nodes only); a call names its sending node itself.

use spanlite_gateway::in_process;
use spanlite_proto::tablet::tablet_call::Request as Call;
use spanlite_proto::tablet::tablet_call_stream_server::TabletCallStream;
use spanlite_proto::tablet::tablet_service_server::TabletService;
use spanlite_proto::tablet::{CallStatus, TabletAnswer, TabletCall, tablet_answer::Answer};
use tonic::{Request, Response, Status, Streaming};

use super::TabletGrpc;

/// The stream service over a node's Tablet service.
#[derive(Clone, Debug)]
pub struct TabletCallsGrpc {
    tablets: TabletGrpc,
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl TabletCallsGrpc {
    /// Calls on streams run `tablets`' handlers; streams end when
    /// `stopping` turns true (an open stream would keep the gRPC server's
    /// graceful shutdown waiting for ever).
    pub fn new(tablets: TabletGrpc, stopping: tokio::sync::watch::Receiver<bool>) -> Self {
        // Each call runs in a task of its own that finishes even when the
        // stream ends (`serve_calls`): the handlers need not spawn again.
        Self {
            tablets: tablets.detached(),
            stopping,
        }
    }
}

/// Runs one call and returns its answer (the unary handler's request
/// names the sender, as the unary call's header would).
async fn answer(tablets: &TabletGrpc, call: TabletCall) -> TabletAnswer {
    let from = call.from_node;
    let answer = match call.request {
        Some(Call::Read(r)) => tablets
            .read(in_process(from, r))
            .await
            .map(|a| Answer::Read(a.into_inner())),
        Some(Call::Scan(r)) => tablets
            .scan(in_process(from, r))
            .await
            .map(|a| Answer::Scan(a.into_inner())),
        Some(Call::Prepare(r)) => tablets
            .prepare(in_process(from, r))
            .await
            .map(|a| Answer::Prepare(a.into_inner())),
        Some(Call::Commit(r)) => tablets
            .commit(in_process(from, r))
            .await
            .map(|a| Answer::Commit(a.into_inner())),
        Some(Call::Abort(r)) => tablets
            .abort(in_process(from, r))
            .await
            .map(|a| Answer::Abort(a.into_inner())),
        Some(Call::TxnStatus(r)) => tablets
            .txn_status(in_process(from, r))
            .await
            .map(|a| Answer::TxnStatus(a.into_inner())),
        None => Err(Status::invalid_argument("a tablet call without a request")),
    };
    TabletAnswer {
        id: call.id,
        answer: Some(answer.unwrap_or_else(|status| {
            Answer::Status(CallStatus {
                code: status.code() as i32,
                message: status.message().to_string(),
            })
        })),
    }
}

/// Polls a future, turning a panic in it into `Err` with its message (as
/// a task of its own reports one).
struct CatchUnwind<F>(std::pin::Pin<Box<F>>);

impl<F: std::future::Future> std::future::Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(payload) => std::task::Poll::Ready(Err(payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_string()))),
        }
    }
}

/// The answers of one stream.
pub type AnswerStream = spanlite_directory::call_stream::Answers<TabletAnswer>;

#[tonic::async_trait]
impl TabletCallStream for TabletCallsGrpc {
    type CallsStream = AnswerStream;

    async fn calls(
        &self,
        request: Request<Streaming<TabletCall>>,
    ) -> Result<Response<AnswerStream>, Status> {
        let tablets = self.tablets.clone();
        Ok(Response::new(spanlite_directory::call_stream::serve_calls(
            request.into_inner(),
            self.stopping.clone(),
            move |call| {
                let tablets = tablets.clone();
                let id = call.id;
                async move {
                    // The handlers run detached (no task of their own): a
                    // panic answers as a task's failure did, not silence.
                    CatchUnwind(Box::pin(answer(&tablets, call)))
                        .await
                        .unwrap_or_else(|why| TabletAnswer {
                            id,
                            answer: Some(Answer::Status(CallStatus {
                                code: tonic::Code::Internal as i32,
                                message: format!("the call's handler failed: {why}"),
                            })),
                        })
                }
            },
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::CatchUnwind;

    #[tokio::test]
    async fn a_panicking_handler_becomes_an_error_and_others_pass_through() {
        let ok = CatchUnwind(Box::pin(async { 7 })).await;
        assert_eq!(ok, Ok(7));
        let failed = CatchUnwind(Box::pin(async {
            tokio::task::yield_now().await;
            if ok.is_ok() {
                panic!("the handler broke");
            }
            7
        }))
        .await;
        assert_eq!(failed, Err("the handler broke".to_string()));
    }
}
