//! Conversions between tablet errors and their wire form.

use spanlite_proto::common::{self, tablet_error::Kind};

use crate::tablet::TabletError;

/// A tablet error as the Tablet service reports it.
pub fn tablet_error_to_wire(e: &TabletError) -> common::TabletError {
    let kind = match e {
        TabletError::NotLeader {
            tablet,
            leader,
            leader_addr,
        } => Kind::NotLeader(common::NotLeader {
            tablet_id: *tablet,
            leader_hint: leader.map(|id| common::NodeAddress {
                node_id: id,
                address: leader_addr.clone().unwrap_or_default(),
            }),
        }),
        // Replication failed (no quorum in time): like a missing leader, the
        // caller retries, possibly elsewhere.
        TabletError::Replication { tablet, .. } => Kind::NotLeader(common::NotLeader {
            tablet_id: *tablet,
            leader_hint: None,
        }),
        TabletError::NotFound(tablet) => {
            Kind::TabletNotFound(common::TabletNotFound { tablet_id: *tablet })
        }
        TabletError::WrongTablet { .. } => Kind::WrongTablet(common::WrongTablet { current: None }),
        TabletError::TxnAborted { reason, .. } => Kind::TxnAborted(common::TxnAborted {
            txn_id: None,
            reason: reason.clone(),
        }),
        TabletError::ClockUnsynchronized(m) => {
            Kind::ClockUnsynchronized(common::ClockUnsynchronized { message: m.clone() })
        }
        // An intent that did not resolve in time: the transaction retries.
        TabletError::Locked { .. } => Kind::TxnAborted(common::TxnAborted {
            txn_id: None,
            reason: e.to_string(),
        }),
        TabletError::Storage { .. }
        | TabletError::Refused { .. }
        | TabletError::Ambiguous { .. } => Kind::Internal(common::Internal {
            message: e.to_string(),
        }),
    };
    common::TabletError { kind: Some(kind) }
}
