//! Time masters over gRPC (DESIGN.md §5): the `TimeService` every node
//! serves, and [`GrpcTimeSource`], a master as the sync routine polls it.

use std::sync::Arc;
use std::time::Duration;

use spanlite_proto::common;
use spanlite_proto::time::time_service_client::TimeServiceClient;
use spanlite_proto::time::time_service_server::TimeService;
use spanlite_proto::time::{NowRequest, NowResponse};
use spanlite_truetime::{BoxFuture, MasterReading, SourceError, TimeSource, Timestamp, TrueTime};
use tonic::{Request, Response, Status};

use spanlite_directory::Peers;
use spanlite_txn::NodeId;

/// The Time service of a node.
#[derive(Clone, Debug)]
pub struct TimeGrpc {
    node_id: NodeId,
    is_master: bool,
    truetime: Arc<TrueTime>,
}

impl TimeGrpc {
    /// The service answering with `truetime`.
    pub fn new(node_id: NodeId, is_master: bool, truetime: Arc<TrueTime>) -> Self {
        Self {
            node_id,
            is_master,
            truetime,
        }
    }
}

#[tonic::async_trait]
impl TimeService for TimeGrpc {
    async fn now(&self, _request: Request<NowRequest>) -> Result<Response<NowResponse>, Status> {
        let mut resp = NowResponse {
            node_id: self.node_id,
            is_time_master: self.is_master,
            ..Default::default()
        };
        match self.truetime.now() {
            Ok(tt) => {
                resp.interval = Some(common::TtInterval {
                    earliest: Some(common::Timestamp {
                        nanos: tt.earliest.as_nanos(),
                    }),
                    latest: Some(common::Timestamp {
                        nanos: tt.latest.as_nanos(),
                    }),
                });
            }
            Err(e) => resp.error = e.to_string(),
        }
        Ok(Response::new(resp))
    }
}

/// A time master reached over gRPC.
#[derive(Debug)]
pub struct GrpcTimeSource {
    addr: String,
    peers: Peers,
    caller: NodeId,
}

impl GrpcTimeSource {
    /// The master at `addr`, polled by node `caller`.
    pub fn new(addr: String, peers: Peers, caller: NodeId) -> Self {
        Self {
            addr,
            peers,
            caller,
        }
    }
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> SourceError {
    SourceError::Unavailable(Box::new(e))
}

impl TimeSource for GrpcTimeSource {
    fn name(&self) -> &str {
        &self.addr
    }

    fn read(&self) -> BoxFuture<'_, Result<MasterReading, SourceError>> {
        Box::pin(async move {
            let channel = self.peers.channel(&self.addr).map_err(unavailable)?;
            let resp = TimeServiceClient::new(channel)
                .now(NowRequest {
                    caller_node_id: self.caller,
                })
                .await
                .map_err(unavailable)?
                .into_inner();
            let (Some(earliest), Some(latest)) = resp
                .interval
                .map(|i| (i.earliest, i.latest))
                .unwrap_or((None, None))
            else {
                return Err(unavailable(std::io::Error::other(format!(
                    "master gave no time: {}",
                    resp.error
                ))));
            };
            if latest.nanos < earliest.nanos {
                return Err(unavailable(std::io::Error::other(
                    "master sent an inverted interval",
                )));
            }
            let half = (latest.nanos - earliest.nanos) / 2;
            Ok(MasterReading {
                time: Timestamp::from_nanos(earliest.nanos + half),
                error: Duration::from_nanos(half),
            })
        })
    }
}
