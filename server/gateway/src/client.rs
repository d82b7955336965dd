//! How a gateway reaches a node's Tablet service: over gRPC, or — for the
//! gateway's own node — in this process, with no serialization and no
//! socket (the local fast path: the request value is handed to the service
//! as is).
//!
//! Both ways run the same service code, so they answer alike; the local
//! one skips only the transport (and the transport's own failures).

use std::sync::Arc;

use spanlite_proto::tablet::tablet_service_client::TabletServiceClient;
use spanlite_proto::tablet::tablet_service_server::TabletService;
use spanlite_proto::tablet::{
    AbortRequest, AbortResponse, CommitRequest, CommitResponse, PrepareRequest, PrepareResponse,
    ReadRequest, ReadResponse, ScanRequest, ScanResponse, TxnStatusRequest, TxnStatusResponse,
};
use tonic::transport::Channel;

use crate::stream::CallStream;
use spanlite_proto::tablet::tablet_answer::Answer;
use spanlite_proto::tablet::tablet_call::Request as Call;
use tonic::{Request, Response, Status};

/// The request header naming the node whose gateway sent a tablet call
/// (where the load comes from; the allocator moves leadership toward it).
/// A hint only: nothing depends on it for correctness.
pub const FROM_NODE_HEADER: &str = "spanlite-from-node";

/// The sending node of a tablet call made in this process (a local call,
/// or one that came on a call stream): carried as a request extension,
/// with no header to format and parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FromNode(pub u64);

/// The sending node a tablet call names ([`FromNode`], or
/// [`FROM_NODE_HEADER`] over gRPC), if any.
pub fn from_node<T>(request: &Request<T>) -> Option<u64> {
    if let Some(FromNode(node)) = request.extensions().get::<FromNode>() {
        return Some(*node);
    }
    request
        .metadata()
        .get(FROM_NODE_HEADER)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// `req` as an in-process request naming `from` (0: none) as the sender.
pub fn in_process<T>(from: u64, req: T) -> Request<T> {
    let mut request = Request::new(req);
    if from != 0 {
        request.extensions_mut().insert(FromNode(from));
    }
    request
}

/// A node's Tablet service, remote or in this process, and the node this
/// gateway belongs to (named in each call; `None` for a gateway of no node).
#[derive(Clone, Debug)]
pub struct TabletClient {
    service: Service,
    from: Option<u64>,
}

#[derive(Clone)]
enum Service {
    /// Over gRPC.
    Remote(TabletServiceClient<Channel>),
    /// Small calls over the node's call stream, the rest (and scans, whose
    /// answers have no bound) over gRPC.
    Streamed(Arc<CallStream>, TabletServiceClient<Channel>),
    /// The gateway's own node, called directly.
    Local(Arc<dyn TabletService>),
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Service::Remote(_) => "TabletClient::Remote",
            Service::Streamed(..) => "TabletClient::Streamed",
            Service::Local(_) => "TabletClient::Local",
        })
    }
}

impl TabletClient {
    /// Calls over gRPC, naming `from` as the sender.
    pub fn remote(client: TabletServiceClient<Channel>, from: Option<u64>) -> Self {
        Self {
            service: Service::Remote(client),
            from,
        }
    }

    /// Calls over `stream`, or over gRPC (`client`) when a request is large.
    pub(crate) fn streamed(
        stream: Arc<CallStream>,
        client: TabletServiceClient<Channel>,
        from: Option<u64>,
    ) -> Self {
        Self {
            service: Service::Streamed(stream, client),
            from,
        }
    }

    /// Calls the node's own service in this process.
    pub fn local(service: Arc<dyn TabletService>, from: Option<u64>) -> Self {
        Self {
            service: Service::Local(service),
            from,
        }
    }

    /// Whether calls stay in this process.
    pub fn is_local(&self) -> bool {
        matches!(self.service, Service::Local(_))
    }
}

/// `req` as a request naming `from` as the sender.
fn with_from<T>(from: Option<u64>, req: T) -> Request<T> {
    let mut request = Request::new(req);
    if let Some(from) = from {
        request
            .metadata_mut()
            .insert(FROM_NODE_HEADER, tonic::metadata::MetadataValue::from(from));
    }
    request
}

/// Requests larger than this go over gRPC of their own, not the call
/// stream: one large message would hold up every small call behind it.
const STREAMED_MAX: usize = 64 << 10;

macro_rules! calls {
    ($($(#[$doc:meta])* $name:ident($req:ty) -> $resp:ty, $variant:ident, $streamed:expr;)*) => {
        impl TabletClient {
            $(
                $(#[$doc])*
                pub async fn $name(&mut self, req: $req) -> Result<Response<$resp>, Status> {
                    match &mut self.service {
                        Service::Streamed(stream, _)
                            if $streamed && prost::Message::encoded_len(&req) <= STREAMED_MAX =>
                        {
                            let from = self.from.unwrap_or(0);
                            match crate::stream::call(&**stream, from, Call::$variant(req)).await? {
                                Answer::$variant(answer) => Ok(Response::new(answer)),
                                other => Err(Status::internal(format!(
                                    "a {} call answered {other:?}",
                                    stringify!($name)
                                ))),
                            }
                        }
                        Service::Remote(c) | Service::Streamed(_, c) => {
                            let request = with_from(self.from, req);
                            c.$name(request).await
                        }
                        Service::Local(s) => {
                            let request = in_process(self.from.unwrap_or(0), req);
                            s.$name(request).await
                        }
                    }
                }
            )*
        }
    };
}

calls! {
    /// `TabletService.Read`.
    read(ReadRequest) -> ReadResponse, Read, true;
    /// `TabletService.Scan` (never on the call stream: its answer has no
    /// bound).
    scan(ScanRequest) -> ScanResponse, Scan, false;
    /// `TabletService.Prepare`.
    prepare(PrepareRequest) -> PrepareResponse, Prepare, true;
    /// `TabletService.Commit`.
    commit(CommitRequest) -> CommitResponse, Commit, true;
    /// `TabletService.Abort`.
    abort(AbortRequest) -> AbortResponse, Abort, true;
    /// `TabletService.TxnStatus`.
    txn_status(TxnStatusRequest) -> TxnStatusResponse, TxnStatus, true;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sender_is_named_in_process_and_over_grpc() {
        assert_eq!(from_node(&in_process(5, ())), Some(5));
        assert_eq!(from_node(&in_process(0, ())), None);
        assert_eq!(from_node(&with_from(Some(7), ())), Some(7));
        assert_eq!(from_node(&with_from(None, ())), None);
    }
}
