//! Multi-version concurrency control over an [`Engine`](crate::engine::Engine).
//!
//! Every committed write is a new *version* of its key, stamped with the
//! transaction's commit timestamp; nothing is overwritten in place. A read at
//! timestamp `ts` sees, per key, the newest version with `commit_ts ≤ ts`.
//!
//! ```text
//!   time ▲
//!     50 │            b=tomb
//!     40 │  a=3                      read@45 sees a=3, c=9 (b deleted)
//!     30 │                c=9        read@35 sees a=2, b=7, c=9
//!     20 │  a=2   b=7                read@25 sees a=2, b=7
//!     10 │  a=1                      read@5  sees nothing
//!        └──────────────────▶ keys
//!          a      b       c
//! ```
//!
//! Keys in the `versions` family are `escaped(user_key) ++ !commit_ts` (see
//! [`keys`]), so within one user key the newest version sorts first and a point
//! read is one seek.
//!
//! **Intents** are the provisional writes of a prepared transaction: at most one
//! per key, in their own column family, holding the txn id, the prepare
//! timestamp and the write (a value or a delete). `commit_intent` turns an intent
//! into a version at the commit timestamp and `abort_intent` drops it, each as
//! part of a caller-supplied [`WriteBatch`](crate::engine::WriteBatch) so the
//! state machine can add its applied index to the same atomic batch.
//!
//! A read at `ts` that meets an intent with `prepare_ts ≤ ts` does not skip it:
//! that transaction may still commit at a timestamp `≤ ts`, so the read returns
//! [`ReadOutcome::Blocked`] and the caller waits or resolves the intent. An
//! intent with `prepare_ts > ts` is invisible: its commit timestamp will be at
//! least its prepare timestamp.
//!
//! INVARIANT: reads look at intents *before* versions. Committing moves a write
//! from `intents` to `versions` in one atomic batch, so a reader either sees
//! the intent (and waits) or, having missed it, sees the version.
//!
//! **Garbage collection** below a watermark keeps, per key, every version above
//! the watermark and the newest version at or below it (unless that is a
//! tombstone, which then goes too); reads below the watermark are refused
//! ([`StorageError::BelowGcWatermark`](crate::StorageError)).
//!
//! Not here: locking (the txn crate's lock table decides who may write an
//! intent), reading one's own uncommitted writes (Spanner buffers writes at the
//! client until commit), and safe time.

mod gc;
mod intent;
mod keys;
mod read;
mod size;
mod store;
mod write;

pub use gc::GcStats;
pub use intent::{BlockingIntent, Intent, TxnId};
pub use keys::{decode_version_key, encode_intent_key, encode_version_key};
pub use read::{Change, ReadOutcome, Row, Version};
pub use size::RangeSize;
pub use store::Mvcc;
