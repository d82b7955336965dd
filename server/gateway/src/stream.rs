//! A gateway's call stream to one peer node (`TabletCallStream.Calls`):
//! small Tablet calls travel as messages on one long-lived gRPC stream,
//! each with an id its answer repeats (`spanlite_directory::call_stream`,
//! where the stream's contract is stated).

use std::sync::Arc;

use spanlite_directory::call_stream;
use spanlite_proto::tablet::tablet_call::Request as Call;
use spanlite_proto::tablet::tablet_call_stream_client::TabletCallStreamClient;
use spanlite_proto::tablet::{TabletAnswer, TabletCall, tablet_answer::Answer};
use tonic::Status;
use tonic::transport::Channel;

/// One call stream to a peer's Tablet service.
pub(crate) type CallStream = call_stream::CallStream<TabletCall, TabletAnswer>;

/// Sends `request` (from node `from`, 0 for none) on `stream` and waits
/// for its answer; an answer that is a status fails as that status.
pub(crate) async fn call(stream: &CallStream, from: u64, request: Call) -> Result<Answer, Status> {
    let answer = stream
        .call(|id| TabletCall {
            id,
            from_node: from,
            request: Some(request),
        })
        .await?;
    match answer.answer {
        Some(Answer::Status(s)) => Err(Status::new(s.code.into(), s.message)),
        Some(answer) => Ok(answer),
        None => Err(Status::internal(format!(
            "a peer answered call {} with nothing",
            answer.id
        ))),
    }
}

/// A gateway's call streams, one per peer address.
#[derive(Debug, Default)]
pub(crate) struct CallStreams(call_stream::CallStreams<TabletCall, TabletAnswer>);

impl CallStreams {
    /// The open stream to `addr`, or a new one on `channel`. `None` outside
    /// a Tokio runtime.
    pub(crate) fn get(&self, addr: &str, channel: &Channel) -> Option<Arc<CallStream>> {
        let channel = channel.clone();
        self.0.get(addr, move |calls| async move {
            let mut client = TabletCallStreamClient::new(channel)
                .max_decoding_message_size(64 << 20)
                .max_encoding_message_size(256 << 20);
            client.calls(calls).await.map(tonic::Response::into_inner)
        })
    }

    /// Calls sent on the streams so far.
    pub(crate) fn sent(&self) -> u64 {
        self.0.sent()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit_once::never_sent;
    use spanlite_proto::tablet::tablet_call_stream_server::{
        TabletCallStream, TabletCallStreamServer,
    };
    use spanlite_proto::tablet::{CommitRequest, TabletAnswer};
    use std::pin::Pin;
    use tokio::sync::mpsc;
    use tokio_stream::StreamExt;
    use tokio_stream::wrappers::ReceiverStream;

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
        let status = call(&stream, 0, commit()).await.unwrap_err();
        assert!(
            !never_sent(&status),
            "a call lost in flight counted as never sent: {status:?}"
        );
        // The broken stream takes no more calls, and says they were not sent.
        let status = call(&stream, 0, commit()).await.unwrap_err();
        assert!(never_sent(&status), "{status:?}");
        assert!(!stream.is_open());
        server.abort();

        let nobody = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        let stream = streams.get(&nobody, &channel(&nobody)).unwrap();
        let status = call(&stream, 0, commit()).await.unwrap_err();
        assert!(never_sent(&status), "nobody listens: {status:?}");
    }
}
