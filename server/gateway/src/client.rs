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
use tonic::{Request, Response, Status};

/// The request header naming the node whose gateway sent a tablet call
/// (where the load comes from; the allocator moves leadership toward it).
/// A hint only: nothing depends on it for correctness.
pub const FROM_NODE_HEADER: &str = "spanlite-from-node";

/// The sending node a tablet call names in [`FROM_NODE_HEADER`], if any.
pub fn from_node<T>(request: &Request<T>) -> Option<u64> {
    request
        .metadata()
        .get(FROM_NODE_HEADER)?
        .to_str()
        .ok()?
        .parse()
        .ok()
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
    /// The gateway's own node, called directly.
    Local(Arc<dyn TabletService>),
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Service::Remote(_) => "TabletClient::Remote",
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

    fn request<T>(&self, req: T) -> Request<T> {
        let mut request = Request::new(req);
        if let Some(from) = self.from {
            request
                .metadata_mut()
                .insert(FROM_NODE_HEADER, tonic::metadata::MetadataValue::from(from));
        }
        request
    }
}

macro_rules! calls {
    ($($(#[$doc:meta])* $name:ident($req:ty) -> $resp:ty;)*) => {
        impl TabletClient {
            $(
                $(#[$doc])*
                pub async fn $name(&mut self, req: $req) -> Result<Response<$resp>, Status> {
                    let request = self.request(req);
                    match &mut self.service {
                        Service::Remote(c) => c.$name(request).await,
                        Service::Local(s) => s.$name(request).await,
                    }
                }
            )*
        }
    };
}

calls! {
    /// `TabletService.Read`.
    read(ReadRequest) -> ReadResponse;
    /// `TabletService.Scan`.
    scan(ScanRequest) -> ScanResponse;
    /// `TabletService.Prepare`.
    prepare(PrepareRequest) -> PrepareResponse;
    /// `TabletService.Commit`.
    commit(CommitRequest) -> CommitResponse;
    /// `TabletService.Abort`.
    abort(AbortRequest) -> AbortResponse;
    /// `TabletService.TxnStatus`.
    txn_status(TxnStatusRequest) -> TxnStatusResponse;
}
