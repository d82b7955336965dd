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

/// A node's Tablet service, remote or in this process.
#[derive(Clone)]
pub enum TabletClient {
    /// Over gRPC.
    Remote(TabletServiceClient<Channel>),
    /// The gateway's own node, called directly.
    Local(Arc<dyn TabletService>),
}

impl std::fmt::Debug for TabletClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TabletClient::Remote(_) => "TabletClient::Remote",
            TabletClient::Local(_) => "TabletClient::Local",
        })
    }
}

macro_rules! calls {
    ($($(#[$doc:meta])* $name:ident($req:ty) -> $resp:ty;)*) => {
        impl TabletClient {
            $(
                $(#[$doc])*
                pub async fn $name(&mut self, req: $req) -> Result<Response<$resp>, Status> {
                    match self {
                        TabletClient::Remote(c) => c.$name(req).await,
                        TabletClient::Local(s) => s.$name(Request::new(req)).await,
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
