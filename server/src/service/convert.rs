//! Conversions between tablet errors and abort reasons and their wire form.

use spanlite_proto::common::{self, tablet_error::Kind};
use spanlite_txn::AbortReason;

use crate::tablet::TabletError;

/// An abort reason as the wire carries it.
pub fn abort_reason_to_wire(reason: AbortReason) -> common::AbortReason {
    use common::AbortReason as W;
    match reason {
        AbortReason::Wounded => W::Wounded,
        AbortReason::LockTimeout => W::LockTimeout,
        AbortReason::LeaderChanged => W::LeaderChanged,
        AbortReason::Idle => W::Idle,
        AbortReason::RolledBack => W::RolledBack,
        AbortReason::ReadChanged => W::ReadChanged,
        AbortReason::WriteConflict => W::WriteConflict,
        AbortReason::IntentConflict => W::IntentConflict,
        AbortReason::PresumedAbort => W::PresumedAbort,
        AbortReason::TabletMoved => W::TabletMoved,
        AbortReason::Unresolved => W::Unresolved,
        AbortReason::PrepareFailed => W::PrepareFailed,
    }
}

/// The abort reason of a wire code (an unknown or unset one: a participant
/// could not prepare, the most general retryable reason).
pub fn abort_reason_from_wire(code: i32) -> AbortReason {
    use common::AbortReason as W;
    match W::try_from(code).unwrap_or(W::Unspecified) {
        W::Wounded => AbortReason::Wounded,
        W::LockTimeout => AbortReason::LockTimeout,
        W::LeaderChanged => AbortReason::LeaderChanged,
        W::Idle => AbortReason::Idle,
        W::RolledBack => AbortReason::RolledBack,
        W::ReadChanged => AbortReason::ReadChanged,
        W::WriteConflict => AbortReason::WriteConflict,
        W::IntentConflict => AbortReason::IntentConflict,
        W::PresumedAbort => AbortReason::PresumedAbort,
        W::TabletMoved => AbortReason::TabletMoved,
        W::Unresolved => AbortReason::Unresolved,
        W::PrepareFailed | W::Unspecified => AbortReason::PrepareFailed,
    }
}

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
        TabletError::Storage { .. } | TabletError::Refused { .. } => {
            Kind::Internal(common::Internal {
                message: e.to_string(),
            })
        }
    };
    common::TabletError { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_abort_reason_round_trips_through_the_wire() {
        for r in AbortReason::ALL {
            assert_eq!(abort_reason_from_wire(abort_reason_to_wire(r) as i32), r);
        }
    }
}
