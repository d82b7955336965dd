//! Wire forms shared by the node's services and the gateway: abort reasons
//! (the proto enum `common.AbortReason`) and writes (`tablet.Mutation`),
//! both ways.

use spanlite_proto::common;
use spanlite_proto::tablet::{Mutation as WireMutation, mutation::Op};
use spanlite_txn::{AbortReason, Mutation};

/// A write as the wire carries it.
pub fn mutation_to_wire(m: Mutation) -> WireMutation {
    match m {
        Mutation::Put { key, value } => WireMutation {
            key,
            op: Some(Op::Put(value)),
        },
        Mutation::Delete { key } => WireMutation {
            key,
            op: Some(Op::Delete(true)),
        },
    }
}

/// The write a wire message carries; an error names what is missing.
pub fn mutation_from_wire(w: WireMutation) -> Result<Mutation, String> {
    match w.op {
        Some(Op::Put(value)) => Ok(Mutation::Put { key: w.key, value }),
        Some(Op::Delete(_)) => Ok(Mutation::Delete { key: w.key }),
        None => Err("a write without put or delete".to_string()),
    }
}

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
        AbortReason::SchemaChanged => W::SchemaChanged,
        AbortReason::SnapshotBehind => W::SnapshotBehind,
        AbortReason::ReadLocksExpired => W::ReadLocksExpired,
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
        W::SchemaChanged => AbortReason::SchemaChanged,
        W::SnapshotBehind => AbortReason::SnapshotBehind,
        W::ReadLocksExpired => AbortReason::ReadLocksExpired,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_round_trip_through_the_wire() {
        for m in [
            Mutation::Put {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
            },
            Mutation::Delete { key: b"k".to_vec() },
        ] {
            assert_eq!(mutation_from_wire(mutation_to_wire(m.clone())), Ok(m));
        }
        let empty = WireMutation {
            key: b"k".to_vec(),
            op: None,
        };
        assert!(mutation_from_wire(empty).is_err());
    }

    #[test]
    fn every_abort_reason_round_trips_through_the_wire() {
        for r in AbortReason::ALL {
            assert_eq!(abort_reason_from_wire(abort_reason_to_wire(r) as i32), r);
        }
    }
}
