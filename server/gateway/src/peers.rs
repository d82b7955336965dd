//! The gateway as tablet leaders' way to reach other tablets for the 2PC
//! steps they run on their own ([`TxnPeers`]): asking a coordinator tablet
//! for an outcome, and telling a participant one.

use std::future::Future;
use std::time::Duration;

use crate::TabletClient;
use spanlite_proto::common::{self, tablet_error::Kind};
use spanlite_proto::tablet::{AbortRequest, CommitRequest, TxnMeta, TxnOutcome, TxnStatusRequest};
use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::TxnId;
use spanlite_txn::AbortReason;
use spanlite_txn::peers::{PeerError, PeerFuture, TxnPeers};
use spanlite_txn::twopc::Decision;

use super::route::WireResult;
use super::{Gateway, GatewayError};
use spanlite_directory::TabletDescriptor;

/// The wire form of a transaction id.
pub(super) fn wire_txn_id(txn: TxnId) -> common::TxnId {
    common::TxnId {
        id: txn.0.to_be_bytes().to_vec(),
    }
}

/// An error that ends the caller's attempt: the tablet is no longer where
/// the transaction found it (split or merged meanwhile).
fn tablet_moved(tablet: TabletId) -> common::TabletError {
    common::TabletError {
        kind: Some(Kind::TxnAborted(common::TxnAborted {
            txn_id: None,
            reason: format!("tablet {tablet} split or moved during the transaction"),
            code: spanlite_directory::wire::abort_reason_to_wire(AbortReason::TabletMoved) as i32,
        })),
    }
}

impl Gateway {
    /// Calls `f` on the leader of tablet `tablet` (by id), following hints
    /// like [`Gateway::call`]. Fails (aborted) if the tablet no longer owns
    /// the first key of its range as cached.
    pub(super) async fn call_tablet<T, F, Fut>(
        &self,
        tablet: TabletId,
        f: F,
    ) -> Result<(T, TabletDescriptor), GatewayError>
    where
        F: FnMut(TabletClient, TabletDescriptor) -> Fut,
        Fut: Future<Output = WireResult<T>>,
    {
        self.call_tablet_within(tablet, self.rpc_timeout(), f).await
    }

    /// [`Gateway::call_tablet`], waiting `rpc_timeout` for each answer.
    pub(super) async fn call_tablet_within<T, F, Fut>(
        &self,
        tablet: TabletId,
        rpc_timeout: Duration,
        mut f: F,
    ) -> Result<(T, TabletDescriptor), GatewayError>
    where
        F: FnMut(TabletClient, TabletDescriptor) -> Fut,
        Fut: Future<Output = WireResult<T>>,
    {
        let d = match self.cache().tablet(tablet) {
            Some(d) => d,
            None => {
                Box::pin(self.refresh()).await?;
                match self.cache().tablet(tablet) {
                    Some(d) => d,
                    // The transaction found it, so it was merged away since.
                    None if self
                        .get(&spanlite_directory::merged_tablet_key(tablet))
                        .await?
                        .is_some() =>
                    {
                        return Err(GatewayError::aborted(
                            AbortReason::TabletMoved,
                            format!("tablet {tablet} was merged into its left neighbour"),
                        ));
                    }
                    None => {
                        return Err(GatewayError::Unavailable(format!(
                            "tablet {tablet} is not known"
                        )));
                    }
                }
            }
        };
        self.call_within(&d.range.start, rpc_timeout, move |client, d| {
            let call = (d.id == tablet).then(|| f(client, d));
            async move {
                match call {
                    Some(call) => call.await,
                    None => Ok(Err(tablet_moved(tablet))),
                }
            }
        })
        .await
    }

    async fn status_of(
        &self,
        coordinator: TabletId,
        txn: TxnId,
    ) -> Result<Option<Decision>, GatewayError> {
        // A coordinator merged away froze with nothing decided and could
        // decide nothing afterwards (`Command::Freeze`): abort.
        if self.cache().tablet(coordinator).is_none() {
            Box::pin(self.refresh()).await?;
            if self.cache().tablet(coordinator).is_none()
                && self
                    .get(&spanlite_directory::merged_tablet_key(coordinator))
                    .await?
                    .is_some()
            {
                return Ok(Some(Decision::Abort));
            }
        }
        let (answer, _) = self
            .call_tablet(coordinator, |mut client, d| {
                let req = TxnStatusRequest {
                    tablet_id: d.id,
                    txn_id: Some(wire_txn_id(txn)),
                };
                async move {
                    let resp = client.txn_status(req).await?.into_inner();
                    Ok(match resp.error {
                        Some(e) => Err(e),
                        None => Ok((resp.outcome, resp.commit_ts)),
                    })
                }
            })
            .await?;
        match answer {
            (o, Some(ts)) if o == TxnOutcome::Committed as i32 => Ok(Some(Decision::Commit(
                spanlite_truetime::Timestamp::from_nanos(ts.nanos),
            ))),
            (o, _) if o == TxnOutcome::Aborted as i32 => Ok(Some(Decision::Abort)),
            (o, _) if o == TxnOutcome::Pending as i32 => Ok(None),
            (o, _) => Err(GatewayError::Failed(format!(
                "coordinator tablet {coordinator} answered outcome {o}"
            ))),
        }
    }

    /// Tells `participant` the outcome of `txn` (it applies it and releases
    /// the transaction's locks).
    pub(super) async fn resolve_at(
        &self,
        participant: TabletId,
        txn: TxnId,
        decision: Decision,
    ) -> Result<(), GatewayError> {
        let id = wire_txn_id(txn);
        self.call_tablet(participant, |mut client, d| {
            let id = id.clone();
            async move {
                let error = match decision {
                    Decision::Commit(ts) => {
                        let req = CommitRequest {
                            tablet_id: d.id,
                            generation: d.generation,
                            txn: Some(TxnMeta {
                                txn_id: Some(id),
                                // Unused by a participant's commit.
                                priority: Some(common::Timestamp { nanos: 0 }),
                                ..Default::default()
                            }),
                            commit_ts: Some(common::Timestamp {
                                nanos: ts.as_nanos(),
                            }),
                            ..Default::default()
                        };
                        client.commit(req).await?.into_inner().error
                    }
                    // Fenced: a prepare still waiting there for a lock is
                    // refused when it is granted, rather than preparing an
                    // orphan (`spanlite_txn::actions::resolve`).
                    Decision::Abort => {
                        let req = AbortRequest {
                            tablet_id: d.id,
                            txn_id: Some(id),
                            reason: "aborted".to_string(),
                            fence: true,
                        };
                        client.abort(req).await?.into_inner().error
                    }
                };
                Ok(match error {
                    Some(e) => Err(e),
                    None => Ok(()),
                })
            }
        })
        .await
        .map(drop)
    }
}

impl TxnPeers for Gateway {
    fn status(&self, coordinator: TabletId, txn: TxnId) -> PeerFuture<Option<Decision>> {
        let gateway = self.clone();
        Box::pin(async move {
            gateway
                .status_of(coordinator, txn)
                .await
                .map_err(|e| PeerError(e.to_string()))
        })
    }

    fn resolve(&self, participant: TabletId, txn: TxnId, decision: Decision) -> PeerFuture<()> {
        let gateway = self.clone();
        Box::pin(async move {
            gateway
                .resolve_at(participant, txn, decision)
                .await
                .map_err(|e| PeerError(e.to_string()))
        })
    }
}
