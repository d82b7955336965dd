//! What every node of the cluster says about itself (Admin.Status), asked
//! of all at once: the console shows it, the allocator decides from it.

use std::collections::BTreeMap;
use std::time::Duration;

use spanlite_proto::admin::admin_service_client::AdminServiceClient;
use spanlite_proto::admin::{StatusRequest, StatusResponse};

use crate::NodeContext;

/// What one node said (or that it did not answer).
#[derive(Debug)]
pub struct NodeView {
    /// The node.
    pub id: u64,
    /// Its address.
    pub addr: String,
    /// What it said, or why it did not.
    pub status: Result<StatusResponse, String>,
}

/// The Admin service of node `node`, by its address in the directory.
pub(crate) fn admin_client(
    ctx: &NodeContext,
    node: u64,
) -> Result<AdminServiceClient<tonic::transport::Channel>, String> {
    let addr = ctx
        .gateway
        .cache()
        .node_addr(node)
        .ok_or_else(|| format!("node {node} is not known"))?;
    ctx.store
        .peers()
        .channel(&addr)
        .map(AdminServiceClient::new)
        .map_err(|e| e.to_string())
}

/// Asks every known node for its status, at most a second each, at once.
pub async fn cluster(ctx: &NodeContext) -> Vec<NodeView> {
    let _ = ctx.gateway.refresh().await;
    let nodes: BTreeMap<u64, String> = ctx.gateway.cache().nodes();
    let mut asks = tokio::task::JoinSet::new();
    for (id, addr) in nodes {
        let channel = ctx.store.peers().channel(&addr);
        asks.spawn(async move {
            let status = match channel {
                Err(e) => Err(e.to_string()),
                Ok(channel) => match tokio::time::timeout(
                    Duration::from_secs(1),
                    AdminServiceClient::new(channel).status(StatusRequest {}),
                )
                .await
                {
                    Ok(Ok(r)) => Ok(r.into_inner()),
                    Ok(Err(s)) => Err(s.message().to_string()),
                    Err(_) => Err("no answer within 1 s".to_string()),
                },
            };
            NodeView { id, addr, status }
        });
    }
    let mut views = Vec::new();
    while let Some(v) = asks.join_next().await {
        if let Ok(v) = v {
            views.push(v);
        }
    }
    views.sort_by_key(|v| v.id);
    views
}
