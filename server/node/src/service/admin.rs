//! The gRPC `AdminService`: joining, bootstrapping (`init`), status,
//! splitting tablets, adding, removing and moving replicas (learner → voter
//! → remove, openraft membership changes), handing leadership off (by
//! stepping down: openraft 0.9 has no targeted transfer), creating and
//! destroying replicas (internal), and clock fault injection.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use spanlite_proto::admin::admin_service_client::AdminServiceClient;
use spanlite_proto::admin::admin_service_server::AdminService;
use spanlite_proto::admin::{
    CampaignRequest, CampaignResponse, DecommissionRequest, DecommissionResponse,
};
use spanlite_proto::admin::{
    ChangeReplicasRequest, ChangeReplicasResponse, CreateReplicaRequest, CreateReplicaResponse,
    DestroyReplicaRequest, DestroyReplicaResponse, InitRequest, InitResponse, JoinRequest,
    JoinResponse, MergeTabletsRequest, MergeTabletsResponse, ReplicaScan, ScanReplicasRequest,
    ScanReplicasResponse, SetClockSkewRequest, SetClockSkewResponse, SplitTabletRequest,
    SplitTabletResponse, StatusRequest, StatusResponse, TabletStatus, TransferLeaderRequest,
    TransferLeaderResponse,
};
use spanlite_proto::common::{self, NodeAddress};
use tonic::{Request, Response, Status};

use spanlite_storage::meta::TabletId;

use crate::NodeContext;
use spanlite_directory::{META_TABLET, TabletDescriptor, node_key};
use spanlite_replica::raft::{Node, NodeId};
use spanlite_txn::Mutation;

/// How many replicas init gives the meta tablet and the first data tablet.
const INIT_REPLICAS: usize = 3;

/// The Admin service of a node.
#[derive(Clone, Debug)]
pub struct AdminGrpc {
    ctx: Arc<NodeContext>,
    /// One replica change at a time per tablet (see `change_replicas`).
    replica_changes: Arc<std::sync::Mutex<HashMap<TabletId, Arc<tokio::sync::Mutex<()>>>>>,
}

impl AdminGrpc {
    /// The service of the node `ctx`.
    pub fn new(ctx: Arc<NodeContext>) -> Self {
        Self {
            ctx,
            replica_changes: Arc::default(),
        }
    }

    fn replica_change_lock(&self, tablet: TabletId) -> Arc<tokio::sync::Mutex<()>> {
        self.replica_changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(tablet)
            .or_default()
            .clone()
    }

    fn known_nodes(&self) -> Vec<NodeAddress> {
        self.ctx
            .cluster
            .nodes_in_join_order()
            .into_iter()
            .map(|(node_id, address)| NodeAddress { node_id, address })
            .collect()
    }

    /// Creates a replica of `d` on node `id` (here or over gRPC).
    async fn create_replica_on(
        &self,
        id: NodeId,
        addr: &str,
        d: &TabletDescriptor,
    ) -> Result<(), String> {
        if id == self.ctx.node_id {
            self.ctx.gateway.cache().insert(d.clone());
            return self
                .ctx
                .store
                .create_replica(d.id, d.range.clone(), 0)
                .await
                .map(drop)
                .map_err(|e| e.to_string());
        }
        let channel = self
            .ctx
            .store
            .peers()
            .channel(addr)
            .map_err(|e| e.to_string())?;
        let resp = AdminServiceClient::new(channel)
            .create_replica(CreateReplicaRequest {
                descriptor: Some(d.into()),
            })
            .await
            .map_err(|s| format!("node {id} at {addr}: {}", s.message()))?
            .into_inner();
        if resp.error.is_empty() {
            Ok(())
        } else {
            Err(format!("node {id} at {addr}: {}", resp.error))
        }
    }

    async fn init(&self, root_password_verifier: &str) -> Result<InitResponse, String> {
        let root_password = match root_password_verifier {
            "" => None,
            v => Some(
                spanlite_sql::password::ScramVerifier::parse(v)
                    .ok_or("the root password verifier is malformed")?
                    .to_text(),
            ),
        };
        let existing = self.ctx.cluster.cluster_id();
        if !existing.is_empty() {
            return Ok(InitResponse {
                error: format!("the cluster is already initialized (cluster id {existing})"),
                cluster_id: existing,
                already_initialized: true,
                ..Default::default()
            });
        }
        let nodes = self.ctx.cluster.nodes_in_join_order();
        if nodes.len() < INIT_REPLICAS {
            return Err(format!(
                "init needs {INIT_REPLICAS} nodes that have joined; node {} knows {}: {:?}. Start more nodes with --join {}",
                self.ctx.node_id,
                nodes.len(),
                nodes.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
                self.ctx.advertise
            ));
        }
        let chosen: Vec<(NodeId, String)> = nodes.into_iter().take(INIT_REPLICAS).collect();
        let ids: Vec<NodeId> = chosen.iter().map(|(n, _)| *n).collect();
        let meta = TabletDescriptor::meta(ids.clone());
        let data = TabletDescriptor::first_data(ids);
        for d in [&meta, &data] {
            for (id, addr) in &chosen {
                self.create_replica_on(*id, addr, d).await?;
            }
        }
        let members: BTreeMap<NodeId, Node> = chosen
            .iter()
            .map(|(id, addr)| (*id, Node { addr: addr.clone() }))
            .collect();
        for d in [&meta, &data] {
            let replica = self
                .ctx
                .store
                .replica(d.id)
                .ok_or_else(|| format!("tablet {} vanished during init", d.id))?;
            replica
                .raft()
                .initialize(members.clone())
                .await
                .map_err(|e| format!("tablet {}: initialize: {e}", d.id))?;
        }
        let cluster_id = new_cluster_id(self.ctx.node_id);
        self.ctx
            .learn(&cluster_id, &self.known_nodes(), Some(meta.clone()))
            .map_err(|e| e.to_string())?;
        self.ctx.gateway.cache().insert(data.clone());
        // The directory in the meta tablet: descriptors and node addresses.
        for d in [&meta, &data] {
            let value = spanlite_storage::meta::encode_value(d, "tablet descriptor")
                .map_err(|e| e.to_string())?;
            self.ctx
                .gateway
                .write(Mutation::Put {
                    key: d.key(),
                    value,
                })
                .await
                .map_err(|e| format!("writing descriptor of tablet {}: {e}", d.id))?;
        }
        for n in self.known_nodes() {
            self.ctx
                .gateway
                .write(Mutation::Put {
                    key: node_key(n.node_id),
                    value: n.address.into_bytes(),
                })
                .await
                .map_err(|e| format!("writing node address: {e}"))?;
        }
        // The administrator is built into the SQL catalog (a superuser that
        // exists without a record); its password, if given, is stored.
        if let Some(password) = root_password {
            self.store_root(password).await?;
        }
        tracing::info!(cluster_id, "cluster initialized");
        Ok(InitResponse {
            cluster_id,
            meta_tablet: Some((&meta).into()),
            error: String::new(),
            already_initialized: false,
        })
    }

    /// Stores root's role with its password verifier.
    async fn store_root(&self, password: String) -> Result<(), String> {
        let root = spanlite_sql::RoleDef {
            name: spanlite_sql::access::ADMIN.to_string(),
            login: true,
            superuser: true,
            create_role: true,
            password: Some(password),
            member_of: Default::default(),
        };
        self.ctx
            .gateway
            .write(Mutation::Put {
                key: spanlite_sql::access::role_key(&root.name),
                value: spanlite_sql::encode(&root).map_err(|e| e.to_string())?,
            })
            .await
            .map_err(|e| format!("writing the root user: {e}"))?;
        Ok(())
    }
}

impl AdminGrpc {
    /// Adds (learner, then voter) and/or removes a voter of `tablet`; both
    /// is a move. Runs on the leader; records the new descriptor.
    async fn change_replicas(
        &self,
        tablet: TabletId,
        add: NodeId,
        remove: NodeId,
    ) -> Result<TabletDescriptor, String> {
        if add == 0 && remove == 0 {
            return Err("nothing to change: give a node to add and/or one to remove".to_string());
        }
        if add == remove {
            return Err(format!("node {add} cannot be both added and removed"));
        }
        let replica = crate::ops::split::leader_replica(&self.ctx, tablet)?;
        // A merge needs both groups' voters to stay as they are (see
        // `ops::merge`).
        if let Some(into) = replica.applied().frozen_into() {
            return Err(format!(
                "tablet {tablet} is frozen for a merge into tablet {into}"
            ));
        }
        if let Some(r) = self
            .ctx
            .store
            .replicas()
            .into_iter()
            .find(|r| r.applied().frozen_into() == Some(tablet))
        {
            return Err(format!(
                "tablet {} is being merged into tablet {tablet}",
                r.tablet()
            ));
        }
        // One change of a tablet's replicas at a time on this leader: two
        // moves interleaved could each remove a voter the other counted on.
        let lock = self.replica_change_lock(tablet);
        let _one = lock.lock().await;
        let raft = replica.raft().clone();
        let (mut voters, learners): (BTreeSet<NodeId>, BTreeSet<NodeId>) = {
            let metrics = raft.metrics();
            let m = metrics.borrow();
            let membership = m.membership_config.membership();
            (
                membership.voter_ids().collect(),
                membership.learner_ids().collect(),
            )
        };
        self.ctx
            .gateway
            .refresh()
            .await
            .map_err(|e| e.to_string())?;
        let cache = self.ctx.gateway.cache();
        let old = cache
            .tablet(tablet)
            .ok_or_else(|| format!("tablet {tablet} is not in the directory"))?;
        // A request repeated after a partial success (the answer lost, a
        // step timed out) goes on from where the first one stopped. The
        // descriptor is written last, so a voter it does not list was
        // added by a request that did not finish: it is not added again
        // (a learner is only promoted), and a removal already done is not
        // asked for again. A node voting and listed was there before.
        if add != 0 && voters.contains(&add) && old.replicas.contains(&add) {
            let moved_already =
                remove != 0 && !voters.contains(&remove) && !old.replicas.contains(&remove);
            if moved_already {
                return Ok(old);
            }
            return Err(format!(
                "node {add} already holds a voting replica of tablet {tablet}"
            ));
        }
        let resumed = add != 0 && voters.contains(&add);
        if remove != 0 && !voters.contains(&remove) && !resumed {
            return Err(format!(
                "node {remove} holds no voting replica of tablet {tablet}"
            ));
        }
        if add != 0 && !voters.contains(&add) {
            if !learners.contains(&add) {
                let addr = cache
                    .node_addr(add)
                    .ok_or_else(|| format!("node {add} is not known to the cluster"))?;
                self.create_replica_on(add, &addr, &old).await?;
                // The new replica must start from a snapshot of the range,
                // not from the log: a tablet born of a split got its first
                // rows from its parent's log, not its own, so replaying its
                // log alone would leave them out.
                snapshot_and_purge(&raft).await?;
                raft.add_learner(add, Node { addr }, true)
                    .await
                    .map_err(|e| format!("adding node {add} as a learner: {e}"))?;
            }
            voters.insert(add);
            raft.change_membership(voters.clone(), false)
                .await
                .map_err(|e| format!("promoting node {add} to voter: {e}"))?;
        }
        if remove != 0 && voters.contains(&remove) {
            voters.remove(&remove);
            if voters.is_empty() {
                return Err("cannot remove the last replica".to_string());
            }
            raft.change_membership(voters.clone(), false)
                .await
                .map_err(|e| format!("removing node {remove}: {e}"))?;
            // The group no longer has the node. A node that is down (the
            // allocator replacing a dead node) keeps its copy until it
            // comes back and the allocator deletes the leftover
            // (`ops::allocator`). The new membership is recorded either way.
            if let Err(e) = self.destroy_replica_on(remove, tablet).await {
                tracing::warn!(tablet, node = remove, "{e}");
            }
        }
        let d = TabletDescriptor {
            id: tablet,
            range: replica.range(),
            replicas: voters.into_iter().collect(),
            generation: old.generation + 1,
        };
        let value = spanlite_storage::meta::encode_value(&d, "tablet descriptor")
            .map_err(|e| e.to_string())?;
        self.ctx
            .gateway
            .write(Mutation::Put {
                key: d.key(),
                value,
            })
            .await
            .map_err(|e| format!("replicas changed, but recording the descriptor failed: {e}"))?;
        cache.insert(d.clone());
        Ok(d)
    }

    async fn destroy_replica_on(&self, id: NodeId, tablet: TabletId) -> Result<(), String> {
        if id == self.ctx.node_id {
            return self
                .ctx
                .store
                .destroy_replica(tablet)
                .await
                .map_err(|e| e.to_string());
        }
        let resp = self
            .admin_of(id)?
            .destroy_replica(DestroyReplicaRequest { tablet_id: tablet })
            .await
            .map_err(|s| {
                format!(
                    "removed node {id} from the group, but it did not delete its replica: {}",
                    s.message()
                )
            })?
            .into_inner();
        if resp.error.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "removed node {id} from the group, but it did not delete its replica: {}",
                resp.error
            ))
        }
    }

    /// Hands leadership of `tablet` to `to` (`Replica::hand_off`): this
    /// leader stops serving, waits for `to` to hold its whole log, stops its
    /// heartbeats, and `to` is asked to stand for election as soon as the
    /// other voters' lease on this leader has run out — before their own
    /// election timers fire, so `to` wins unless it is slow or cut off (then
    /// whichever voter wins leads). Returns the new leader.
    async fn transfer_leader(&self, tablet: TabletId, to: NodeId) -> Result<NodeId, String> {
        let replica = crate::ops::split::leader_replica(&self.ctx, tablet)?;
        if to == self.ctx.node_id {
            return Ok(to);
        }
        let voters: BTreeSet<NodeId> = replica.voters().into_iter().collect();
        if !voters.contains(&to) {
            return Err(format!(
                "node {to} holds no voting replica of tablet {tablet}"
            ));
        }
        let timing = self.ctx.store.timing();
        let ask = async {
            let after = timing.election_max + timing.heartbeat / 2;
            if let Err(e) = self.campaign_on(to, tablet, after).await {
                tracing::warn!(tablet, to, "leadership hand-off: {e}");
            }
        };
        replica
            .hand_off(to, timing.election_min, timing.election_max * 4, ask)
            .await?
            .ok_or_else(|| "no new leader was elected in time; this node leads again".to_string())
    }

    /// The Admin service of node `id`, by its address in the directory.
    fn admin_of(
        &self,
        id: NodeId,
    ) -> Result<AdminServiceClient<tonic::transport::Channel>, String> {
        crate::ops::status::admin_client(&self.ctx, id)
    }

    /// Asks node `to` to stand for election for `tablet` after `after`.
    async fn campaign_on(
        &self,
        to: NodeId,
        tablet: TabletId,
        after: std::time::Duration,
    ) -> Result<(), String> {
        let resp = self
            .admin_of(to)?
            .campaign(CampaignRequest {
                tablet_id: tablet,
                after_millis: u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
            })
            .await
            .map_err(|s| s.message().to_string())?
            .into_inner();
        if resp.error.is_empty() {
            Ok(())
        } else {
            Err(resp.error)
        }
    }
}

impl AdminGrpc {
    /// Marks `node` decommissioned (unless `check_only`); returns how many
    /// replicas the directory still places on it, and whether it is marked.
    async fn decommission(&self, node: NodeId, check_only: bool) -> Result<(u64, bool), String> {
        let gateway = &self.ctx.gateway;
        gateway.refresh().await.map_err(|e| e.to_string())?;
        if gateway.cache().node_addr(node).is_none() {
            return Err(format!("node {node} is not known to the cluster"));
        }
        let key = spanlite_directory::decommissioned_key(node);
        if !check_only {
            gateway
                .write(Mutation::Put {
                    key: key.clone(),
                    value: Vec::new(),
                })
                .await
                .map_err(|e| format!("recording the decommission: {e}"))?;
            tracing::info!(node, "decommissioned: its replicas and leaders move off");
        }
        let marked = gateway
            .get(&key)
            .await
            .map_err(|e| e.to_string())?
            .is_some();
        let left = gateway
            .cache()
            .tablets()
            .iter()
            .filter(|d| d.replicas.contains(&node))
            .count();
        Ok((left as u64, marked))
    }
}

/// Builds a snapshot of the tablet as applied now and purges the log up to
/// it, so that a replica added next catches up from the snapshot (every
/// version of the range) rather than by replaying the log.
async fn snapshot_and_purge(raft: &spanlite_replica::raft::Raft) -> Result<(), String> {
    let applied = raft.metrics().borrow().last_applied.map_or(0, |l| l.index);
    raft.trigger()
        .snapshot()
        .await
        .map_err(|e| format!("building a snapshot: {e}"))?;
    let mut metrics = raft.metrics();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let index = loop {
        let built = metrics.borrow_and_update().snapshot.map(|s| s.index);
        if let Some(i) = built.filter(|i| *i >= applied) {
            break i;
        }
        if tokio::time::timeout_at(deadline, metrics.changed())
            .await
            .is_err()
        {
            return Err("no snapshot was built within 30 s".to_string());
        }
    };
    raft.trigger()
        .purge_log(index)
        .await
        .map_err(|e| format!("purging the log up to the snapshot: {e}"))
}

/// A cluster id: the bootstrapping node and the time, in hex.
fn new_cluster_id(node: NodeId) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{node:x}")
}

/// Membership and replica creation and destruction are the cluster's own
/// business: with TLS only a node certificate may ask (the admin user asks
/// for them through `ChangeReplicas`, which a node carries out). Without
/// TLS there is no name to check.
fn nodes_only<T>(request: &Request<T>) -> Result<(), Status> {
    use spanlite_directory::tls::{Callers, peer_name};
    match peer_name(request) {
        Some(name) if !Callers::Nodes.admit(&name) => Err(Status::permission_denied(format!(
            "user {name:?} may not call this (node certificates only)"
        ))),
        _ => Ok(()),
    }
}

#[tonic::async_trait]
impl AdminService for AdminGrpc {
    async fn join(&self, request: Request<JoinRequest>) -> Result<Response<JoinResponse>, Status> {
        nodes_only(&request)?;
        let req = request.into_inner();
        let node = req
            .node
            .ok_or_else(|| Status::invalid_argument("join without a node"))?;
        let ours = self.ctx.cluster.cluster_id();
        let refuse = |error: String| {
            Ok(Response::new(JoinResponse {
                cluster_id: ours.clone(),
                error,
                ..Default::default()
            }))
        };
        if !req.cluster_id.is_empty() && !ours.is_empty() && req.cluster_id != ours {
            return refuse(format!(
                "node {} belongs to cluster {}, this is cluster {ours}",
                node.node_id, req.cluster_id
            ));
        }
        if node.node_id == 0 {
            return refuse("node id 0 is not allowed".to_string());
        }
        // Checked before anything stores it (identity file, meta tablet).
        if let Err(e) = spanlite_directory::validate_address(&node.address) {
            return Err(Status::invalid_argument(e));
        }
        if let Err(e) = crate::identity::validate_cluster_id(&req.cluster_id) {
            return Err(Status::invalid_argument(e));
        }
        if node.node_id == self.ctx.node_id && node.address != self.ctx.advertise {
            return refuse(format!(
                "node id {} is already taken by the node at {}",
                node.node_id, self.ctx.advertise
            ));
        }
        let known_before = self
            .ctx
            .cluster
            .identity()
            .nodes
            .get(&node.node_id)
            .cloned();
        self.ctx
            .learn("", std::slice::from_ref(&node), None)
            .map_err(|e| Status::internal(e.to_string()))?;
        // An initialized cluster records the (new) address in the meta tablet.
        if !ours.is_empty() && known_before.as_deref() != Some(node.address.as_str()) {
            let gateway = self.ctx.gateway.clone();
            let (id, addr) = (node.node_id, node.address.clone());
            tokio::spawn(async move {
                let put = Mutation::Put {
                    key: node_key(id),
                    value: addr.into_bytes(),
                };
                if let Err(e) = gateway.write(put).await {
                    tracing::warn!(node = id, "recording node address: {e}");
                }
            });
        }
        Ok(Response::new(JoinResponse {
            cluster_id: ours,
            nodes: self.known_nodes(),
            error: String::new(),
            meta_tablet: self.ctx.cluster.meta().as_ref().map(Into::into),
        }))
    }

    async fn init(&self, request: Request<InitRequest>) -> Result<Response<InitResponse>, Status> {
        match self.init(&request.get_ref().root_password_verifier).await {
            Ok(resp) => Ok(Response::new(resp)),
            Err(error) => Ok(Response::new(InitResponse {
                error,
                ..Default::default()
            })),
        }
    }

    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let mut tablets = Vec::new();
        let sizes = self.ctx.sizes.all();
        let rpcs = self.ctx.store.metrics().snapshot().rpcs;
        for r in self.ctx.store.replicas() {
            let size = sizes.get(&r.tablet()).cloned().unwrap_or_default();
            let requests = rpcs
                .iter()
                .filter(|((_, t), _)| *t == r.tablet())
                .map(|(_, n)| n)
                .sum();
            let m = r.raft().metrics().borrow().clone();
            let voters: Vec<NodeId> = m.membership_config.membership().voter_ids().collect();
            let applied = r.applied();
            tablets.push(TabletStatus {
                descriptor: Some(common::TabletDescriptor {
                    tablet_id: r.tablet(),
                    range: Some(common::KeyRange {
                        start: r.range().start,
                        end: r.range().end,
                    }),
                    replicas: voters,
                    learners: m.membership_config.membership().learner_ids().collect(),
                    generation: r.generation(),
                }),
                is_leader: r.is_serving(),
                term: m.current_term,
                applied_index: applied.index,
                safe_time: Some(common::Timestamp {
                    nanos: r.follower_safe_time().as_nanos(),
                }),
                raft_leader: m.current_leader.unwrap_or(0),
                raft_state: format!("{:?}", m.state),
                raft_metrics: format!("{m:?}"),
                size_bytes: size.bytes,
                keys: size.keys,
                requests,
                requests_from: self
                    .ctx
                    .store
                    .metrics()
                    .sources(r.tablet())
                    .into_iter()
                    .collect(),
                frozen_into: applied.frozen_into().unwrap_or(0),
                frozen_floor_nanos: applied.frozen.map_or(0, |f| f.floor.as_nanos()),
            });
        }
        let sync = self.ctx.sync.status();
        let tt = self.ctx.store.truetime();
        let (now, epsilon, clock_error) = match (tt.now(), tt.epsilon()) {
            (Ok(i), Ok(e)) => (
                Some(common::TtInterval {
                    earliest: Some(common::Timestamp {
                        nanos: i.earliest.as_nanos(),
                    }),
                    latest: Some(common::Timestamp {
                        nanos: i.latest.as_nanos(),
                    }),
                }),
                u64::try_from(e.as_nanos()).unwrap_or(u64::MAX),
                String::new(),
            ),
            (Err(e), _) | (_, Err(e)) => (None, 0, e.to_string()),
        };
        Ok(Response::new(StatusResponse {
            node: Some(NodeAddress {
                node_id: self.ctx.node_id,
                address: self.ctx.advertise.clone(),
            }),
            cluster_id: self.ctx.cluster.cluster_id(),
            tablets,
            now,
            epsilon_nanos: epsilon,
            clock_error,
            masters_accepted: sync.accepted,
            masters_rejected: sync
                .rejected
                .into_iter()
                .map(|(m, why)| format!("{m}: {why}"))
                .collect(),
        }))
    }

    async fn split_tablet(
        &self,
        request: Request<SplitTabletRequest>,
    ) -> Result<Response<SplitTabletResponse>, Status> {
        let req = request.into_inner();
        match crate::ops::split::split_tablet(&self.ctx, req.tablet_id, req.split_key).await {
            Ok((left, right)) => Ok(Response::new(SplitTabletResponse {
                left: Some((&left).into()),
                right: Some((&right).into()),
                error: String::new(),
            })),
            Err(error) => Ok(Response::new(SplitTabletResponse {
                error,
                ..Default::default()
            })),
        }
    }

    async fn merge_tablets(
        &self,
        request: Request<MergeTabletsRequest>,
    ) -> Result<Response<MergeTabletsResponse>, Status> {
        let req = request.into_inner();
        match crate::ops::merge::merge_tablets(&self.ctx, req.left_tablet_id).await {
            Ok((merged, right)) => Ok(Response::new(MergeTabletsResponse {
                merged: Some((&merged).into()),
                right_tablet_id: right,
                error: String::new(),
            })),
            Err(error) => Ok(Response::new(MergeTabletsResponse {
                error,
                ..Default::default()
            })),
        }
    }

    async fn change_replicas(
        &self,
        request: Request<ChangeReplicasRequest>,
    ) -> Result<Response<ChangeReplicasResponse>, Status> {
        let req = request.into_inner();
        Ok(Response::new(
            match self
                .change_replicas(req.tablet_id, req.add_node_id, req.remove_node_id)
                .await
            {
                Ok(d) => ChangeReplicasResponse {
                    descriptor: Some((&d).into()),
                    error: String::new(),
                },
                Err(error) => ChangeReplicasResponse {
                    descriptor: None,
                    error,
                },
            },
        ))
    }

    async fn transfer_leader(
        &self,
        request: Request<TransferLeaderRequest>,
    ) -> Result<Response<TransferLeaderResponse>, Status> {
        let req = request.into_inner();
        Ok(Response::new(
            match self.transfer_leader(req.tablet_id, req.to_node_id).await {
                Ok(leader) => TransferLeaderResponse {
                    error: String::new(),
                    leader_node_id: leader,
                },
                Err(error) => TransferLeaderResponse {
                    error,
                    leader_node_id: 0,
                },
            },
        ))
    }

    async fn decommission(
        &self,
        request: Request<DecommissionRequest>,
    ) -> Result<Response<DecommissionResponse>, Status> {
        let req = request.into_inner();
        Ok(Response::new(
            match self.decommission(req.node_id, req.check_only).await {
                Ok((replicas_left, decommissioned)) => DecommissionResponse {
                    error: String::new(),
                    replicas_left,
                    decommissioned,
                },
                Err(error) => DecommissionResponse {
                    error,
                    ..Default::default()
                },
            },
        ))
    }

    async fn scan_replicas(
        &self,
        request: Request<ScanReplicasRequest>,
    ) -> Result<Response<ScanReplicasResponse>, Status> {
        let range = request
            .into_inner()
            .range
            .map(|r| spanlite_directory::KeyRange::new(r.start, r.end))
            .unwrap_or_default();
        let mut replicas = Vec::new();
        for r in self.ctx.store.replicas() {
            let own = r.range();
            let overlaps = (range.end.is_empty() || own.start < range.end)
                && (own.end.is_empty() || range.start < own.end);
            if !overlaps {
                continue;
            }
            let applied_index = r.applied().index;
            let pairs = r
                .scan_local(&range)
                .map_err(|e| Status::unavailable(e.to_string()))?
                .into_iter()
                .map(|(key, value)| common::KeyValuePair { key, value })
                .collect();
            replicas.push(ReplicaScan {
                tablet_id: r.tablet(),
                applied_index,
                pairs,
            });
        }
        Ok(Response::new(ScanReplicasResponse { replicas }))
    }

    async fn campaign(
        &self,
        request: Request<CampaignRequest>,
    ) -> Result<Response<CampaignResponse>, Status> {
        nodes_only(&request)?;
        let req = request.into_inner();
        let Some(replica) = self.ctx.store.replica(req.tablet_id) else {
            return Ok(Response::new(CampaignResponse {
                error: format!(
                    "node {} hosts no replica of tablet {}",
                    self.ctx.node_id, req.tablet_id
                ),
            }));
        };
        if !replica.voters().contains(&self.ctx.node_id) {
            return Ok(Response::new(CampaignResponse {
                error: format!(
                    "node {}'s replica of tablet {} does not vote",
                    self.ctx.node_id, req.tablet_id
                ),
            }));
        }
        let timing = self.ctx.store.timing();
        // Bounded: at most a few seconds, whatever the request says.
        let after = std::time::Duration::from_millis(req.after_millis).min(timing.election_max * 4);
        let won = replica
            .campaign(after, timing.heartbeat, timing.election_min)
            .await;
        Ok(Response::new(CampaignResponse {
            error: if won {
                String::new()
            } else {
                format!(
                    "node {} did not win the election for tablet {}",
                    self.ctx.node_id, req.tablet_id
                )
            },
        }))
    }

    async fn destroy_replica(
        &self,
        request: Request<DestroyReplicaRequest>,
    ) -> Result<Response<DestroyReplicaResponse>, Status> {
        nodes_only(&request)?;
        let tablet = request.into_inner().tablet_id;
        let error = match self.ctx.store.destroy_replica(tablet).await {
            Ok(()) => String::new(),
            Err(e) => e.to_string(),
        };
        Ok(Response::new(DestroyReplicaResponse { error }))
    }

    async fn set_clock_skew(
        &self,
        request: Request<SetClockSkewRequest>,
    ) -> Result<Response<SetClockSkewResponse>, Status> {
        if !self.ctx.fault_injection {
            return Ok(Response::new(SetClockSkewResponse {
                error: "fault injection is disabled on this node (start it with --enable-fault-injection)"
                    .to_string(),
            }));
        }
        let req = request.into_inner();
        if !req.drift_ppm.is_finite() || req.drift_ppm.abs() >= 1_000_000.0 {
            return Ok(Response::new(SetClockSkewResponse {
                error: format!("drift {} ppm is out of range", req.drift_ppm),
            }));
        }
        self.ctx.clock.set_offset_nanos(req.offset_nanos);
        self.ctx.clock.set_drift_ppm(req.drift_ppm);
        tracing::warn!(
            offset_ns = req.offset_nanos,
            drift_ppm = req.drift_ppm,
            "clock skew injected"
        );
        Ok(Response::new(SetClockSkewResponse {
            error: String::new(),
        }))
    }

    async fn create_replica(
        &self,
        request: Request<CreateReplicaRequest>,
    ) -> Result<Response<CreateReplicaResponse>, Status> {
        nodes_only(&request)?;
        let d = request
            .into_inner()
            .descriptor
            .map(|d| TabletDescriptor::from(&d))
            .ok_or_else(|| Status::invalid_argument("CreateReplica without a descriptor"))?;
        // A decommissioned node takes no new replicas (an allocator that has
        // not seen the mark yet is refused here). Not asked during init (the
        // meta tablet is being made: the read would wait for it), and not
        // waited on for long: the allocator never picks a marked node.
        let decommissioned = !self.ctx.cluster.cluster_id().is_empty()
            && matches!(
                tokio::time::timeout(
                    std::time::Duration::from_secs(2),
                    self.ctx
                        .gateway
                        .get(&spanlite_directory::decommissioned_key(self.ctx.node_id)),
                )
                .await,
                Ok(Ok(Some(_)))
            );
        if decommissioned {
            return Ok(Response::new(CreateReplicaResponse {
                error: format!(
                    "node {} is decommissioned and takes no new replicas",
                    self.ctx.node_id
                ),
            }));
        }
        self.ctx.gateway.cache().insert(d.clone());
        if d.id == META_TABLET {
            self.ctx
                .learn("", &[], Some(d.clone()))
                .map_err(|e| Status::internal(e.to_string()))?;
        }
        let error = match self
            .ctx
            .store
            .create_replica(d.id, d.range.clone(), 0)
            .await
        {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        };
        Ok(Response::new(CreateReplicaResponse { error }))
    }
}
