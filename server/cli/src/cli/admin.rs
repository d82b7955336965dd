//! `spanlite admin …` and `spanlite node …`: cluster administration over
//! the Admin service — status, splits, merges, replica moves, leadership
//! hand-offs, and draining a node.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use spanlite_proto::admin::admin_service_client::AdminServiceClient;
use spanlite_proto::admin::{
    ChangeReplicasRequest, MergeTabletsRequest, SplitTabletRequest, StatusRequest,
    TransferLeaderRequest,
};
use tonic::transport::Channel;

use super::connect;

#[derive(Debug, Args)]
pub(super) struct NodeArgs {
    /// Nodes to ask, comma-separated `host:port` (any live node will do).
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:7001")]
    url: Vec<String>,
    #[command(subcommand)]
    op: NodeOp,
}

#[derive(Debug, Subcommand)]
enum NodeOp {
    /// Drain node N: the allocator moves its replicas and leaderships to
    /// the other nodes, and it takes no new ones. Reports progress until
    /// no replica is left on it (or --no-wait).
    Decommission {
        /// The node's id.
        node: u64,
        /// Mark it and return at once.
        #[arg(long)]
        no_wait: bool,
        /// Give up waiting after this long (the node stays marked).
        #[arg(long, value_parser = humantime::parse_duration, default_value = "30m")]
        timeout: Duration,
    },
}

#[derive(Debug, Args)]
pub(super) struct AdminArgs {
    /// Nodes to ask, comma-separated `host:port`.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:7001")]
    url: Vec<String>,
    #[command(subcommand)]
    op: AdminOp,
}

#[derive(Debug, Subcommand)]
enum AdminOp {
    /// Print each node's tablets (range, leader or follower, term, applied
    /// index) and clock state.
    Status,
    /// Split a tablet at a key; the node among --url that leads it does it.
    Split {
        /// The tablet to split.
        #[arg(long)]
        tablet: u64,
        /// First key of the new right-hand tablet.
        #[arg(long)]
        at: String,
    },
    /// Merge a tablet with its right neighbour (both must have the same
    /// replicas); the tablet's leader among --url does it. Tablets also
    /// merge on their own when small and cold (--merge-after).
    Merge {
        /// The left tablet: it takes over its right neighbour's range.
        #[arg(long)]
        tablet: u64,
    },
    /// Add, remove or move (both) a tablet's replica; the tablet's leader
    /// among --url does it.
    Replicas {
        /// The tablet.
        #[arg(long)]
        tablet: u64,
        /// Node to add (as a learner, then a voter).
        #[arg(long, default_value_t = 0)]
        add: u64,
        /// Node to remove.
        #[arg(long, default_value_t = 0)]
        remove: u64,
    },
    /// Hand a tablet's leadership to another voter (the leader goes silent
    /// and `--to` campaigns first; prints who leads afterwards).
    TransferLeader {
        /// The tablet.
        #[arg(long)]
        tablet: u64,
        /// The voter that should lead.
        #[arg(long)]
        to: u64,
    },
}

fn show_range(r: Option<&spanlite_proto::common::KeyRange>) -> String {
    let r = r.cloned().unwrap_or_default();
    spanlite_directory::KeyRange::new(r.start, r.end).to_string()
}

pub(super) async fn node(args: NodeArgs) -> Result<ExitCode, String> {
    let NodeOp::Decommission {
        node,
        no_wait,
        timeout,
    } = args.op;
    let ask = |check_only: bool| {
        let urls = args.url.clone();
        async move {
            let mut last = String::new();
            for url in &urls {
                let reply = match connect(url).await {
                    Ok(ch) => AdminServiceClient::new(ch)
                        .decommission(spanlite_proto::admin::DecommissionRequest {
                            node_id: node,
                            check_only,
                        })
                        .await
                        .map(tonic::Response::into_inner)
                        .map_err(|s| s.message().to_string()),
                    Err(e) => Err(e),
                };
                match reply {
                    Ok(r) if r.error.is_empty() => return Ok(r),
                    Ok(r) => last = format!("{url}: {}", r.error),
                    Err(e) => last = format!("{url}: {e}"),
                }
            }
            Err(last)
        }
    };
    let first = ask(false).await?;
    println!(
        "node {node} is decommissioned: {} replicas to move off",
        first.replicas_left
    );
    if no_wait {
        return Ok(ExitCode::SUCCESS);
    }
    let start = std::time::Instant::now();
    let mut left = first.replicas_left;
    while left > 0 {
        if start.elapsed() > timeout {
            return Err(format!(
                "node {node} still holds {left} replicas after {timeout:?} (it stays decommissioned; the allocator goes on)"
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        match ask(true).await {
            Ok(r) if r.replicas_left != left => {
                left = r.replicas_left;
                println!(
                    "node {node}: {left} replicas left ({:.0} s)",
                    start.elapsed().as_secs_f64()
                );
            }
            Ok(_) => {}
            Err(e) => eprintln!("asking for progress: {e}"),
        }
    }
    println!("node {node} holds no replicas: it can be stopped");
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn admin(args: AdminArgs) -> Result<ExitCode, String> {
    match args.op {
        AdminOp::Status => {
            for url in &args.url {
                let status = match connect(url).await {
                    Ok(ch) => AdminServiceClient::new(ch)
                        .status(StatusRequest {})
                        .await
                        .map(tonic::Response::into_inner)
                        .map_err(|s| s.message().to_string()),
                    Err(e) => Err(e),
                };
                match status {
                    Err(e) => println!("{url}: unreachable: {e}"),
                    Ok(s) => {
                        let node = s.node.unwrap_or_default();
                        let clock = if s.clock_error.is_empty() {
                            format!("ε={:?}", Duration::from_nanos(s.epsilon_nanos))
                        } else {
                            format!("clock: {}", s.clock_error)
                        };
                        println!(
                            "node {} at {} cluster {} {clock}",
                            node.node_id,
                            node.address,
                            if s.cluster_id.is_empty() {
                                "(not initialized)"
                            } else {
                                &s.cluster_id
                            }
                        );
                        for t in s.tablets {
                            let d = t.descriptor.unwrap_or_default();
                            println!(
                                "  tablet {:>4} {:<40} {} term {} applied {} voters {:?}",
                                d.tablet_id,
                                show_range(d.range.as_ref()),
                                if t.is_leader { "leader  " } else { "follower" },
                                t.term,
                                t.applied_index,
                                d.replicas
                            );
                        }
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AdminOp::Replicas {
            tablet,
            add,
            remove,
        } => {
            let req = ChangeReplicasRequest {
                tablet_id: tablet,
                add_node_id: add,
                remove_node_id: remove,
            };
            on_leader(&args.url, |ch| async move {
                let r = AdminServiceClient::new(ch)
                    .change_replicas(req)
                    .await
                    .map_err(|s| s.message().to_string())?
                    .into_inner();
                if !r.error.is_empty() {
                    return Err(r.error);
                }
                let d = r.descriptor.unwrap_or_default();
                Ok(format!("tablet {} voters {:?}", d.tablet_id, d.replicas))
            })
            .await
        }
        AdminOp::TransferLeader { tablet, to } => {
            on_leader(&args.url, |ch| async move {
                let r = AdminServiceClient::new(ch)
                    .transfer_leader(TransferLeaderRequest {
                        tablet_id: tablet,
                        to_node_id: to,
                    })
                    .await
                    .map_err(|s| s.message().to_string())?
                    .into_inner();
                if !r.error.is_empty() {
                    return Err(r.error);
                }
                Ok(format!(
                    "tablet {tablet} is now led by node {}",
                    r.leader_node_id
                ))
            })
            .await
        }
        AdminOp::Merge { tablet } => {
            on_leader(&args.url, |ch| async move {
                let r = AdminServiceClient::new(ch)
                    .merge_tablets(MergeTabletsRequest {
                        left_tablet_id: tablet,
                    })
                    .await
                    .map_err(|s| s.message().to_string())?
                    .into_inner();
                if !r.error.is_empty() {
                    return Err(r.error);
                }
                let d = r.merged.unwrap_or_default();
                Ok(format!(
                    "tablet {} {} (tablet {} merged into it)",
                    d.tablet_id,
                    show_range(d.range.as_ref()),
                    r.right_tablet_id
                ))
            })
            .await
        }
        AdminOp::Split { tablet, at } => {
            let mut errors = Vec::new();
            for url in &args.url {
                let resp = match connect(url).await {
                    Ok(ch) => AdminServiceClient::new(ch)
                        .split_tablet(SplitTabletRequest {
                            tablet_id: tablet,
                            split_key: at.clone().into_bytes(),
                        })
                        .await
                        .map(tonic::Response::into_inner)
                        .map_err(|s| s.message().to_string()),
                    Err(e) => Err(e),
                };
                match resp {
                    Ok(r) if r.error.is_empty() => {
                        let (l, r) = (r.left.unwrap_or_default(), r.right.unwrap_or_default());
                        println!(
                            "tablet {} {} | new tablet {} {}",
                            l.tablet_id,
                            show_range(l.range.as_ref()),
                            r.tablet_id,
                            show_range(r.range.as_ref())
                        );
                        return Ok(ExitCode::SUCCESS);
                    }
                    Ok(r) => errors.push(format!("{url}: {}", r.error)),
                    Err(e) => errors.push(format!("{url}: {e}")),
                }
            }
            Err(format!("split failed:\n  {}", errors.join("\n  ")))
        }
    }
}

/// Runs `call` against each of `urls` until one succeeds (the tablet's
/// leader); prints its answer, or fails with every node's error.
async fn on_leader<F, Fut>(urls: &[String], call: F) -> Result<ExitCode, String>
where
    F: Fn(Channel) -> Fut,
    Fut: std::future::Future<Output = Result<String, String>>,
{
    let mut errors = Vec::new();
    for url in urls {
        match connect(url).await {
            Ok(ch) => match call(ch).await {
                Ok(line) => {
                    println!("{line}");
                    return Ok(ExitCode::SUCCESS);
                }
                Err(e) => errors.push(format!("{url}: {e}")),
            },
            Err(e) => errors.push(e),
        }
    }
    Err(format!("failed on every node:\n  {}", errors.join("\n  ")))
}
