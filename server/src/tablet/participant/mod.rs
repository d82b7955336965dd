//! The participant side of a transaction on a tablet leader (DESIGN.md
//! §6), one action per file, each idempotent:
//!
//! - `read.rs`: reads and scans under shared (or exclusive) locks;
//! - `prepare.rs`: 2PC phase one (write locks, intents and the prepare
//!   record through Raft);
//! - `commit.rs`: applying the coordinator's decision (intents become
//!   versions at the commit timestamp, or vanish) and releasing the locks;
//! - `abort.rs`: abort, whether the transaction only read here or prepared.
//!
//! ```text
//!   read(k)    ──▶ S lock k ──▶ latest value                              (locks kept)
//!   prepare(w) ──▶ X locks on w ──▶ prepared ──▶ Raft: Prepare{intents, locks, coordinator} @ p
//!   commit(s)  ──▶ Raft: Resolve{Commit s} ──▶ intents → versions @ s ──▶ release locks
//!   abort      ──▶ prepared? Raft: Resolve{Abort} ──▶ release locks
//!   in doubt   ──▶ (reaper) ask the coordinator tablet ──▶ commit(s) or abort
//! ```

mod abort;
mod commit;
mod prepare;
mod read;
