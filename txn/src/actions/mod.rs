//! The transaction protocol's steps on a tablet leader, one file per step
//! (TiKV's `storage/txn/actions` is the model). Each is a function over the
//! [`Leader`](crate::leader::Leader) state, its input and the time, and
//! returns what to propose to Raft (a [`Command`](crate::Command)) with
//! what it changed; none does I/O but reading MVCC storage, none waits.
//!
//! | step           | file            | proposes                      |
//! |----------------|-----------------|-------------------------------|
//! | locked read    | `read.rs`       | nothing (then read latest)    |
//! | snapshot read  | `timestamp.rs`  | nothing (then wait, read @ t) |
//! | lock phase     | `prepare.rs`    | nothing                       |
//! | prepare        | `prepare.rs`    | `Prepare` @ p                 |
//! | 1PC commit     | `commit.rs`     | `Write` @ s                   |
//! | decide         | `decide.rs`     | `Decide{Commit s}`            |
//! | status         | `decide.rs`     | `Decide{Abort}` (presumed)    |
//! | resolve, abort | `resolve.rs`    | `Resolve`                     |
//! | validate       | `validate.rs`   | nothing (part of the lock phase) |
//! | reap           | `reap.rs`       | nothing (aborts, asks, tells) |
//! | safe time      | `safe_time.rs`  | nothing (a closed timestamp)  |
//! | split          | `split.rs`      | `Split` with a floor          |
//! | freeze, merge  | `merge.rs`      | `Freeze`, `Merge` with floors |
//!
//! The caller proposes the command, waits for it to be applied and, for a
//! commit, for `TT.after(s)` (commit wait), then calls the step's
//! follow-up (`committed`, `decided`, `prepared`, `resolved`) under the same
//! lock as the step.

pub mod commit;
pub mod decide;
pub mod merge;
pub mod prepare;
pub mod read;
pub mod reap;
pub mod resolve;
pub mod safe_time;
pub mod split;
pub mod timestamp;
pub mod validate;
