//! Wire forms shared by the node's services and the gateway: abort reasons
//! (the proto enum `common.AbortReason`) both ways.

use spanlite_proto::common;
use spanlite_txn::AbortReason;

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
