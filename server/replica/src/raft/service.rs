//! The Raft transport, server side: the node's one `RaftService`, which hands
//! each message to the Raft group of the tablet it names.

use std::io::Cursor;
use std::sync::Arc;

use openraft::Snapshot;
use openraft::raft::{AppendEntriesRequest, VoteRequest, VoteResponse};
use serde::Serialize;
use spanlite_proto::raft::raft_answer::Answer as StreamAnswer;
use spanlite_proto::raft::raft_reply::Result as ReplyResult;
use spanlite_proto::raft::raft_service_server::RaftService;
use spanlite_proto::raft::{
    RaftAnswer, RaftCall, RaftCallFailed, RaftCallKind, RaftError as WireError, RaftReply,
    RaftRequest, SnapshotChunk,
};
use spanlite_storage::meta::TabletId;
use tonic::{Request, Response, Status, Streaming};

use spanlite_proto::raft::{ClosedReply, ClosedTimestamps};
use spanlite_truetime::Timestamp;
use spanlite_txn::actions::safe_time::Closed;

use super::types::{Node, NodeId, Raft, RaftVote, TypeConfig};

/// Finds the Raft group of a tablet hosted on this node.
pub trait RaftRouter: Send + Sync + 'static {
    /// This node's id.
    fn node_id(&self) -> NodeId;
    /// The tablet's Raft group here, if this node hosts a replica of it.
    fn raft(&self, tablet: TabletId) -> Option<Raft>;
    /// False when this node's replica of `tablet` refuses any vote in
    /// `term` (it holds a lease: `spanlite_txn::lease`).
    fn vote_allowed(&self, tablet: TabletId, term: u64) -> bool;
    /// Hands a closed timestamp of `tablet` to its replica here; false if
    /// there is none.
    fn note_closed(&self, tablet: TabletId, closed: Closed) -> bool;
}

/// The largest snapshot a node accepts in one stream (it is held in memory
/// until installed): a peer cannot make it allocate more.
pub const MAX_SNAPSHOT_BYTES: usize = 1 << 30;

/// What the chunks of a snapshot stream carry, `first` included, checked
/// chunk by chunk: offsets contiguous, at most `cap` bytes in all (past it:
/// `ResourceExhausted`, before the chunk is copied).
async fn collect_chunks<S>(
    first: SnapshotChunk,
    rest: &mut S,
    cap: usize,
) -> Result<Vec<u8>, Status>
where
    S: chunk_source::ChunkSource,
{
    let mut data = Vec::new();
    let mut chunk = first;
    loop {
        if chunk.offset != data.len() as u64 {
            return Err(Status::invalid_argument(format!(
                "snapshot chunk at offset {} but {} bytes received",
                chunk.offset,
                data.len()
            )));
        }
        if data.len().saturating_add(chunk.data.len()) > cap {
            return Err(Status::resource_exhausted(format!(
                "snapshot larger than {cap} bytes"
            )));
        }
        data.extend_from_slice(&chunk.data);
        if chunk.done {
            return Ok(data);
        }
        chunk = rest
            .next_chunk()
            .await?
            .ok_or_else(|| Status::invalid_argument("snapshot stream ended before done"))?;
    }
}

mod chunk_source {
    use spanlite_proto::raft::SnapshotChunk;
    use tonic::{Status, Streaming};

    /// A source of snapshot chunks: the gRPC stream, or a test's list.
    pub(super) trait ChunkSource {
        async fn next_chunk(&mut self) -> Result<Option<SnapshotChunk>, Status>;
    }

    impl ChunkSource for Streaming<SnapshotChunk> {
        async fn next_chunk(&mut self) -> Result<Option<SnapshotChunk>, Status> {
            self.message().await
        }
    }

    impl ChunkSource for std::collections::VecDeque<SnapshotChunk> {
        async fn next_chunk(&mut self) -> Result<Option<SnapshotChunk>, Status> {
            Ok(self.pop_front())
        }
    }
}

/// The gRPC `RaftService` of a node.
#[derive(Clone)]
pub struct RaftGrpc {
    router: Arc<dyn RaftRouter>,
    /// Turns true when the node stops: call streams end then.
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl std::fmt::Debug for RaftGrpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftGrpc")
            .field("node_id", &self.router.node_id())
            .finish()
    }
}

impl RaftGrpc {
    /// A service routing by `router`, whose call streams end when
    /// `stopping` turns true (an open stream would keep the gRPC server's
    /// graceful shutdown waiting for ever).
    pub fn new(router: Arc<dyn RaftRouter>, stopping: tokio::sync::watch::Receiver<bool>) -> Self {
        Self { router, stopping }
    }

    /// Runs one call of a `Calls` stream as its unary RPC would.
    async fn answer(&self, call: RaftCall) -> RaftAnswer {
        let reply = match (RaftCallKind::try_from(call.kind), call.request) {
            (_, None) => Err(Status::invalid_argument("a Raft call without a request")),
            (Ok(RaftCallKind::AppendEntries), Some(r)) => {
                self.append_entries(Request::new(r)).await
            }
            (Ok(RaftCallKind::Vote), Some(r)) => self.vote(Request::new(r)).await,
            _ => Err(Status::invalid_argument(format!(
                "a Raft call of unknown kind {}",
                call.kind
            ))),
        };
        RaftAnswer {
            id: call.id,
            answer: Some(match reply {
                Ok(reply) => StreamAnswer::Reply(reply.into_inner()),
                Err(status) => StreamAnswer::Failed(RaftCallFailed {
                    code: status.code() as i32,
                    message: status.message().to_string(),
                }),
            }),
        }
    }

    /// The tablet's group, or the refusal to send back.
    fn route(&self, tablet: TabletId, target: NodeId) -> Result<Raft, RaftReply> {
        let refuse = |code: &str, message: String| RaftReply {
            result: Some(ReplyResult::Error(WireError {
                code: code.to_string(),
                message,
            })),
        };
        let me = self.router.node_id();
        if target != me {
            return Err(refuse(
                "wrong_node",
                format!("message for node {target} reached node {me}"),
            ));
        }
        self.router.raft(tablet).ok_or_else(|| {
            refuse(
                "tablet_not_found",
                format!("node {me} hosts no replica of tablet {tablet}"),
            )
        })
    }
}

fn payload_reply<T: Serialize>(result: &T) -> Result<Response<RaftReply>, Status> {
    let bytes = postcard::to_stdvec(result)
        .map_err(|e| Status::internal(format!("cannot encode Raft reply: {e}")))?;
    Ok(Response::new(RaftReply {
        result: Some(ReplyResult::Payload(bytes)),
    }))
}

fn bad_payload(what: &str, e: postcard::Error) -> Status {
    Status::invalid_argument(format!("{what} does not decode: {e}"))
}

#[tonic::async_trait]
impl RaftService for RaftGrpc {
    type CallsStream = spanlite_directory::call_stream::Answers<RaftAnswer>;

    async fn calls(
        &self,
        request: Request<Streaming<RaftCall>>,
    ) -> Result<Response<Self::CallsStream>, Status> {
        let service = self.clone();
        Ok(Response::new(spanlite_directory::call_stream::serve_calls(
            request.into_inner(),
            self.stopping.clone(),
            move |call| {
                let service = service.clone();
                async move { service.answer(call).await }
            },
        )))
    }

    async fn append_entries(
        &self,
        request: Request<RaftRequest>,
    ) -> Result<Response<RaftReply>, Status> {
        let req = request.into_inner();
        let raft = match self.route(req.tablet_id, req.target_node_id) {
            Ok(raft) => raft,
            Err(refusal) => return Ok(Response::new(refusal)),
        };
        let rpc: AppendEntriesRequest<TypeConfig> =
            postcard::from_bytes(&req.payload).map_err(|e| bad_payload("AppendEntries", e))?;
        payload_reply(&raft.append_entries(rpc).await)
    }

    async fn vote(&self, request: Request<RaftRequest>) -> Result<Response<RaftReply>, Status> {
        let req = request.into_inner();
        let raft = match self.route(req.tablet_id, req.target_node_id) {
            Ok(raft) => raft,
            Err(refusal) => return Ok(Response::new(refusal)),
        };
        let rpc: VoteRequest<NodeId> =
            postcard::from_bytes(&req.payload).map_err(|e| bad_payload("Vote", e))?;
        if !self
            .router
            .vote_allowed(req.tablet_id, rpc.vote.leader_id().term)
        {
            // This replica holds a lease: granting would let a new leader
            // be elected while it still serves (leases must be disjoint).
            let refusal: Result<VoteResponse<NodeId>, openraft::error::RaftError<NodeId>> =
                Ok(VoteResponse {
                    vote: raft.metrics().borrow().vote,
                    vote_granted: false,
                    last_log_id: None,
                });
            return payload_reply(&refusal);
        }
        payload_reply(&raft.vote(rpc).await)
    }

    async fn close_timestamps(
        &self,
        request: Request<ClosedTimestamps>,
    ) -> Result<Response<ClosedReply>, Status> {
        let req = request.into_inner();
        let me = self.router.node_id();
        if req.target_node_id != me {
            return Err(Status::failed_precondition(format!(
                "closed timestamps for node {} reached node {me}",
                req.target_node_id
            )));
        }
        let mut unknown = Vec::new();
        for t in req.tablets {
            let closed = Closed {
                ts: Timestamp::from_nanos(t.closed_ts),
                index: t.applied_index,
            };
            if !self.router.note_closed(t.tablet_id, closed) {
                unknown.push(t.tablet_id);
            }
        }
        Ok(Response::new(ClosedReply {
            unknown_tablets: unknown,
        }))
    }

    async fn install_snapshot(
        &self,
        request: Request<Streaming<SnapshotChunk>>,
    ) -> Result<Response<RaftReply>, Status> {
        let mut stream = request.into_inner();
        let Some(first) = stream.message().await? else {
            return Err(Status::invalid_argument("empty snapshot stream"));
        };
        let raft = match self.route(first.tablet_id, first.target_node_id) {
            Ok(raft) => raft,
            Err(refusal) => return Ok(Response::new(refusal)),
        };
        let (vote, meta): (RaftVote, openraft::SnapshotMeta<NodeId, Node>) =
            postcard::from_bytes(&first.header).map_err(|e| bad_payload("snapshot header", e))?;
        let data = collect_chunks(first, &mut stream, MAX_SNAPSHOT_BYTES).await?;
        let snapshot = Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        };
        payload_reply(&raft.install_full_snapshot(vote, snapshot).await)
    }
}

#[cfg(test)]
mod chunk_tests {
    use super::*;

    fn chunk(offset: u64, len: usize, done: bool) -> SnapshotChunk {
        SnapshotChunk {
            offset,
            data: vec![7; len],
            done,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_snapshot_stream_is_bounded_and_contiguous() {
        let mut rest: std::collections::VecDeque<_> =
            [chunk(4, 4, false), chunk(8, 2, true)].into();
        let data = collect_chunks(chunk(0, 4, false), &mut rest, 10)
            .await
            .unwrap();
        assert_eq!(data.len(), 10);
        // One byte more than the cap: refused before it is copied.
        let mut rest: std::collections::VecDeque<_> =
            [chunk(4, 4, false), chunk(8, 3, true)].into();
        let e = collect_chunks(chunk(0, 4, false), &mut rest, 10)
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
        // A gap, and a stream that ends early.
        let mut rest: std::collections::VecDeque<_> = [chunk(5, 4, true)].into();
        let e = collect_chunks(chunk(0, 4, false), &mut rest, 10)
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        let mut rest = std::collections::VecDeque::new();
        let e = collect_chunks(chunk(0, 4, false), &mut rest, 10)
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
    }
}
