//! Tablet errors in their wire form (abort reasons: `spanlite_directory::wire`).

use spanlite_proto::common::{self, tablet_error::Kind};

use spanlite_directory::wire::abort_reason_to_wire;
use spanlite_replica::tablet::TabletError;

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
        // Replication failed before anything was committed (no quorum in
        // time): like a missing leader, the caller retries, maybe elsewhere.
        TabletError::Replication { tablet, .. } => Kind::NotLeader(common::NotLeader {
            tablet_id: *tablet,
            leader_hint: None,
        }),
        TabletError::NotFound(tablet) => {
            Kind::TabletNotFound(common::TabletNotFound { tablet_id: *tablet })
        }
        TabletError::WrongTablet { .. } => Kind::WrongTablet(common::WrongTablet { current: None }),
        TabletError::Aborted { reason, .. } => Kind::TxnAborted(common::TxnAborted {
            txn_id: None,
            reason: e.to_string(),
            code: abort_reason_to_wire(*reason) as i32,
        }),
        TabletError::ClockUnsynchronized(m) => {
            Kind::ClockUnsynchronized(common::ClockUnsynchronized { message: m.clone() })
        }
        TabletError::Ambiguous { .. } => Kind::Ambiguous(common::Ambiguous {
            message: e.to_string(),
        }),
        TabletError::Storage {
            source: spanlite_storage::StorageError::BelowGcWatermark { .. },
            ..
        } => Kind::SnapshotTooOld(common::SnapshotTooOld {
            message: e.to_string(),
        }),
        TabletError::Storage { .. } | TabletError::Refused { .. } => {
            Kind::Internal(common::Internal {
                message: e.to_string(),
            })
        }
    };
    common::TabletError { kind: Some(kind) }
}
