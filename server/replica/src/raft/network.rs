//! The Raft transport, client side: one openraft network factory per tablet
//! replica, all sharing one pool of gRPC channels (one per peer address), so
//! many groups reuse the same connections.
//!
//! Every message names its tablet and the node meant to receive it
//! (`RaftRequest`); payloads are openraft's own types encoded with postcard.
//! Snapshots go as one client stream of chunks (`InstallSnapshot`), not
//! openraft's chunk-per-RPC protocol, under our own deadline
//! ([`RaftTransportConfig::snapshot_timeout`]) instead of openraft's 200 ms
//! per chunk.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{
    Fatal, InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, ReplicationClosed,
    StreamingError, Timeout, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{OptionalSend, RPCTypes, Snapshot};
use serde::de::DeserializeOwned;
use spanlite_directory::call_stream::{CallStream, CallStreams};
use spanlite_proto::raft::raft_answer::Answer as StreamAnswer;
use spanlite_proto::raft::raft_reply::Result as ReplyResult;
use spanlite_proto::raft::raft_service_client::RaftServiceClient;
use spanlite_proto::raft::{
    RaftAnswer, RaftCall, RaftCallKind, RaftReply, RaftRequest, SnapshotChunk,
};
use spanlite_storage::meta::TabletId;
use tokio::sync::watch;
use tonic::transport::Channel;

use super::types::{Node, NodeId, RaftVote, TypeConfig};
use spanlite_directory::Peers;

/// Timeouts and chunking of the Raft transport.
#[derive(Clone, Debug)]
pub struct RaftTransportConfig {
    /// Deadline for sending and installing one whole snapshot.
    pub snapshot_timeout: Duration,
    /// Bytes of snapshot data per stream message.
    pub snapshot_chunk_bytes: usize,
    /// Pause after a peer was unreachable before openraft retries it.
    pub unreachable_backoff: Duration,
}

impl Default for RaftTransportConfig {
    fn default() -> Self {
        Self {
            snapshot_timeout: Duration::from_secs(120),
            snapshot_chunk_bytes: 1 << 20,
            unreachable_backoff: Duration::from_millis(200),
        }
    }
}

/// A node's Raft call streams to its peers, shared by every tablet's
/// group: appends and votes smaller than [`STREAMED_MAX`] travel on them
/// (`RaftService.Calls`), one message each way, instead of a unary gRPC
/// call each.
pub type RaftStreams = CallStreams<RaftCall, RaftAnswer>;

/// Appends and votes larger than this go as unary calls of their own: one
/// large message on a stream would hold up every small one behind it.
const STREAMED_MAX: usize = 64 << 10;

/// Makes openraft network clients for one tablet's group.
#[derive(Clone, Debug)]
pub struct TabletNetworkFactory {
    tablet: TabletId,
    node_id: NodeId,
    peers: Peers,
    streams: Arc<RaftStreams>,
    config: Arc<RaftTransportConfig>,
    /// Large AppendEntries still on their way, by target node.
    in_flight: Arc<Mutex<HashMap<NodeId, InFlight>>>,
}

/// What an AppendEntries answers.
type AppendResult =
    Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>>;

/// Payloads at least this large are sent once and awaited across
/// openraft's retries (see [`TabletNetwork::append_entries`]).
const LARGE_APPEND_BYTES: usize = 256 << 10;

/// A large AppendEntries sent and not answered yet: what it carries (the
/// leader's vote, the entry before it and its last entry) and where its
/// answer will be.
#[derive(Debug)]
struct InFlight {
    key: AppendKey,
    reply: watch::Receiver<Option<Answer>>,
}

/// An AppendEntries answer that can be handed to several waiters
/// (openraft's types do not clone: a reply is kept encoded, a failure as
/// its kind and text).
#[derive(Clone, Debug)]
enum Answer {
    Reply(Vec<u8>),
    Unreachable(String),
    Failed(String),
}

impl Answer {
    fn of(result: AppendResult) -> Answer {
        match result {
            Ok(r) => match postcard::to_stdvec(&r) {
                Ok(bytes) => Answer::Reply(bytes),
                Err(e) => Answer::Failed(e.to_string()),
            },
            Err(RPCError::Unreachable(u)) => Answer::Unreachable(u.to_string()),
            Err(e) => Answer::Failed(e.to_string()),
        }
    }

    fn into_result(self) -> AppendResult {
        match self {
            Answer::Reply(bytes) => {
                postcard::from_bytes(&bytes).map_err(|e| RPCError::Network(NetworkError::new(&e)))
            }
            Answer::Unreachable(m) => Err(RPCError::Unreachable(unreachable(m))),
            Answer::Failed(m) => Err(RPCError::Network(NetworkError::new(
                &std::io::Error::other(m),
            ))),
        }
    }
}

type AppendKey = (
    RaftVote,
    Option<openraft::LogId<NodeId>>,
    Option<openraft::LogId<NodeId>>,
);

impl TabletNetworkFactory {
    /// Clients for `tablet`'s group on node `node_id`, over `peers` (small
    /// messages on `streams`).
    pub fn new(
        tablet: TabletId,
        node_id: NodeId,
        peers: Peers,
        streams: Arc<RaftStreams>,
        config: Arc<RaftTransportConfig>,
    ) -> Self {
        Self {
            tablet,
            node_id,
            peers,
            streams,
            config,
            in_flight: Arc::default(),
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for TabletNetworkFactory {
    type Network = TabletNetwork;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> TabletNetwork {
        // NB: openraft calls this often; it only clones a pooled channel.
        TabletNetwork {
            tablet: self.tablet,
            from: self.node_id,
            target,
            addr: node.addr.clone(),
            channel: self
                .peers
                .channel(&node.addr)
                .map_err(|e| format!("bad address {:?} of node {target}: {e}", node.addr)),
            peers: self.peers.clone(),
            streams: self.streams.clone(),
            config: self.config.clone(),
            in_flight: self.in_flight.clone(),
        }
    }
}

/// One tablet group's client to one peer.
#[derive(Debug)]
pub struct TabletNetwork {
    tablet: TabletId,
    from: NodeId,
    target: NodeId,
    /// The target's address (its call stream's key).
    addr: String,
    channel: Result<Channel, String>,
    peers: Peers,
    streams: Arc<RaftStreams>,
    config: Arc<RaftTransportConfig>,
    in_flight: Arc<Mutex<HashMap<NodeId, InFlight>>>,
}

fn unreachable(message: impl Into<String>) -> Unreachable {
    Unreachable::new(&std::io::Error::other(message.into()))
}

/// A gRPC failure as openraft sees it: a peer that is down (or has not
/// created the replica yet) is unreachable, so openraft backs off.
fn status_error<E: std::error::Error>(status: tonic::Status) -> RPCError<NodeId, Node, E> {
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::Unknown => {
            RPCError::Unreachable(Unreachable::new(&status))
        }
        _ => RPCError::Network(NetworkError::new(&status)),
    }
}

impl TabletNetwork {
    fn client(&self) -> Result<RaftServiceClient<Channel>, Unreachable> {
        if self.peers.is_blocked(self.target) {
            return Err(unreachable(format!(
                "link to node {} is blocked",
                self.target
            )));
        }
        match &self.channel {
            Ok(ch) => Ok(RaftServiceClient::new(ch.clone()).max_decoding_message_size(256 << 20)),
            Err(e) => Err(unreachable(e.clone())),
        }
    }

    /// A client that decodes this peer's replies, for a task of its own.
    fn decoder(&self) -> TabletNetwork {
        TabletNetwork {
            tablet: self.tablet,
            from: self.from,
            target: self.target,
            addr: self.addr.clone(),
            channel: self.channel.clone(),
            peers: self.peers.clone(),
            streams: self.streams.clone(),
            config: self.config.clone(),
            in_flight: self.in_flight.clone(),
        }
    }

    /// The call stream to the target (`None` outside a Tokio runtime or
    /// without a channel).
    fn stream(&self) -> Option<Arc<CallStream<RaftCall, RaftAnswer>>> {
        let channel = self.channel.as_ref().ok()?.clone();
        self.streams.get(&self.addr, move |calls| async move {
            RaftServiceClient::new(channel)
                .max_decoding_message_size(256 << 20)
                .calls(calls)
                .await
                .map(tonic::Response::into_inner)
        })
    }

    /// Sends `payload` as a `kind` message and returns the peer's reply:
    /// on the call stream when it is small, else as a unary call.
    async fn send(
        &self,
        kind: RaftCallKind,
        mut client: RaftServiceClient<Channel>,
        payload: Vec<u8>,
    ) -> Result<RaftReply, tonic::Status> {
        let request = self.request(payload);
        if request.payload.len() <= STREAMED_MAX
            && let Some(stream) = self.stream()
        {
            let answer = stream
                .call(|id| RaftCall {
                    id,
                    kind: kind as i32,
                    request: Some(request),
                })
                .await?;
            return match answer.answer {
                Some(StreamAnswer::Reply(reply)) => Ok(reply),
                Some(StreamAnswer::Failed(f)) => Err(tonic::Status::new(f.code.into(), f.message)),
                None => Err(tonic::Status::internal(format!(
                    "node {} answered Raft call {} with nothing",
                    self.target, answer.id
                ))),
            };
        }
        let reply = match kind {
            RaftCallKind::Vote => client.vote(request).await?,
            _ => client.append_entries(request).await?,
        };
        Ok(reply.into_inner())
    }

    fn request(&self, payload: Vec<u8>) -> RaftRequest {
        RaftRequest {
            tablet_id: self.tablet,
            target_node_id: self.target,
            payload,
        }
    }

    /// The peer's answer: openraft's `Result<T, E>` as the peer's handler
    /// returned it, or a transport-level refusal.
    fn decode_reply<T, E>(&self, reply: RaftReply) -> Result<T, RPCError<NodeId, Node, E>>
    where
        T: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        match reply.result {
            Some(ReplyResult::Payload(bytes)) => {
                match postcard::from_bytes::<Result<T, E>>(&bytes) {
                    Ok(Ok(t)) => Ok(t),
                    Ok(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
                    Err(e) => Err(RPCError::Network(NetworkError::new(&e))),
                }
            }
            // No such tablet there yet, wrong node at that address, or
            // shutting down: back off and retry.
            Some(ReplyResult::Error(e)) => Err(RPCError::Unreachable(unreachable(format!(
                "node {} refused tablet {}: {} ({})",
                self.target, self.tablet, e.message, e.code
            )))),
            None => Err(RPCError::Network(NetworkError::new(
                &std::io::Error::other("empty Raft reply"),
            ))),
        }
    }

    fn timeout(&self, action: RPCTypes, timeout: Duration) -> Timeout<NodeId> {
        Timeout {
            action,
            id: self.from,
            target: self.target,
            timeout,
        }
    }
}

impl RaftNetwork<TypeConfig> for TabletNetwork {
    /// NB: openraft 0.9 gives an AppendEntries one heartbeat interval
    /// (200 ms) and then sends it again. A large payload (a transaction of
    /// many MiB is one entry) can take a follower longer than that to
    /// decode and write, so it would be sent again and again, each attempt
    /// cut short. A large one is therefore sent once, in a task of its
    /// own, and a retry that carries the same entries (same vote, same
    /// entry before them, same last entry) waits for that answer instead
    /// of sending them again. The answer is the same either way: the
    /// follower's reply to exactly these entries.
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> AppendResult {
        let payload =
            postcard::to_stdvec(&rpc).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut client = self.client().map_err(RPCError::Unreachable)?;
        if payload.len() < LARGE_APPEND_BYTES {
            let reply = self
                .send(RaftCallKind::AppendEntries, client, payload)
                .await
                .map_err(status_error)?;
            return self.decode_reply(reply);
        }
        let key: AppendKey = (
            rpc.vote,
            rpc.prev_log_id,
            rpc.entries.last().map(|e| e.log_id),
        );
        let mut reply = {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match in_flight.get(&self.target) {
                Some(f) if f.key == key => f.reply.clone(),
                _ => {
                    let (tx, rx) = watch::channel(None);
                    let request = self.request(payload);
                    let decoder = self.decoder();
                    tokio::spawn(async move {
                        let answer = match client.append_entries(request).await {
                            Ok(reply) => decoder.decode_reply(reply.into_inner()),
                            Err(status) => Err(status_error(status)),
                        };
                        let _ = tx.send(Some(Answer::of(answer)));
                    });
                    in_flight.insert(
                        self.target,
                        InFlight {
                            key,
                            reply: rx.clone(),
                        },
                    );
                    rx
                }
            }
        };
        let answer = match reply.wait_for(Option::is_some).await {
            Ok(done) => done.clone(),
            Err(_) => None,
        };
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.target);
        answer.map_or_else(
            || {
                Err(RPCError::Network(NetworkError::new(
                    &std::io::Error::other("the AppendEntries task ended without an answer"),
                )))
            },
            Answer::into_result,
        )
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        let payload =
            postcard::to_stdvec(&rpc).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let client = self.client().map_err(RPCError::Unreachable)?;
        let reply = self
            .send(RaftCallKind::Vote, client, payload)
            .await
            .map_err(status_error)?;
        self.decode_reply(reply)
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Node, RaftError<NodeId, InstallSnapshotError>>,
    > {
        // NB: full_snapshot below replaces openraft's chunked protocol, so
        // openraft never calls this.
        Err(RPCError::Network(NetworkError::new(
            &std::io::Error::other(
                "chunked snapshot transfer is not used; snapshots are streamed whole",
            ),
        )))
    }

    async fn full_snapshot(
        &mut self,
        vote: RaftVote,
        snapshot: Snapshot<TypeConfig>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<NodeId>, StreamingError<TypeConfig, Fatal<NodeId>>> {
        let header = postcard::to_stdvec(&(vote, snapshot.meta.clone()))
            .map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        let data = snapshot.snapshot.into_inner();
        let chunks = chunk(
            self.tablet,
            self.target,
            header,
            &data,
            self.config.snapshot_chunk_bytes,
        );
        let mut client = self.client()?;
        let deadline = self.config.snapshot_timeout;
        let send = tokio::time::timeout(
            deadline,
            client.install_snapshot(tokio_stream::iter(chunks)),
        );
        let reply = tokio::select! {
            closed = cancel => return Err(StreamingError::Closed(closed)),
            sent = send => match sent {
                Err(_) => return Err(StreamingError::Timeout(self.timeout(RPCTypes::InstallSnapshot, deadline))),
                Ok(reply) => reply.map_err(|s| match status_error::<Fatal<NodeId>>(s) {
                    RPCError::Unreachable(u) => StreamingError::Unreachable(u),
                    RPCError::Network(n) => StreamingError::Network(n),
                    other => StreamingError::Network(NetworkError::new(&other)),
                })?,
            },
        };
        self.decode_reply::<SnapshotResponse<NodeId>, Fatal<NodeId>>(reply.into_inner())
            .map_err(|e| match e {
                RPCError::RemoteError(r) => StreamingError::RemoteError(r),
                RPCError::Unreachable(u) => StreamingError::Unreachable(u),
                RPCError::Network(n) => StreamingError::Network(n),
                RPCError::Timeout(t) => StreamingError::Timeout(t),
                RPCError::PayloadTooLarge(p) => StreamingError::Network(NetworkError::new(&p)),
            })
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(self.config.unreachable_backoff))
    }
}

/// Splits a snapshot into stream messages: the header rides on the first,
/// `done` on the last (one message if the data is empty).
fn chunk(
    tablet: TabletId,
    target: NodeId,
    header: Vec<u8>,
    data: &[u8],
    chunk_bytes: usize,
) -> Vec<SnapshotChunk> {
    let mut out = Vec::new();
    let mut header = Some(header);
    let mut offset = 0;
    loop {
        let end = (offset + chunk_bytes.max(1)).min(data.len());
        out.push(SnapshotChunk {
            tablet_id: tablet,
            target_node_id: target,
            header: header.take().unwrap_or_default(),
            offset: offset as u64,
            data: data[offset..end].to_vec(),
            done: end == data.len(),
        });
        if end == data.len() {
            return out;
        }
        offset = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_data_once_with_header_first_and_done_last() {
        for (len, size) in [(0, 4), (3, 4), (4, 4), (9, 4), (10, 1)] {
            let data: Vec<u8> = (0..len as u8).collect();
            let chunks = chunk(1, 2, vec![7], &data, size);
            assert_eq!(chunks[0].header, vec![7]);
            assert!(chunks[1..].iter().all(|c| c.header.is_empty()));
            assert!(chunks.last().unwrap().done);
            assert_eq!(chunks.iter().filter(|c| c.done).count(), 1);
            let joined: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();
            assert_eq!(joined, data);
            let mut expect = 0;
            for c in &chunks {
                assert_eq!(c.offset, expect);
                expect += c.data.len() as u64;
            }
        }
    }
}
