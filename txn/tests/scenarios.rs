//! Scenario tests of the transaction core, written as transcripts
//! (goldenscript, as toyDB's `testscripts/`): several nodes, each with its
//! own `ManualClock` and ε, several tablets with a leader and followers,
//! several transactions, and the protocol steps of `spanlite_txn::actions`
//! run exactly as a tablet leader runs them. Each script opens with the
//! claim it checks; `UPDATE_GOLDENFILES=1 cargo test` rewrites the
//! expected output, which is then read and checked in by hand.
//!
//! The world, driven step by step (nothing runs unless a command says so):
//!
//! ```text
//!   node A epsilon=6ms         one ManualClock + TrueTime + MVCC engine per node
//!   tablet X range=a..m leader=A followers=B
//!   time advance=3ms           true time moves; every node's clock with it
//!   t1: begin mode=2pl         a transaction (priority: true time at begin)
//!   t1: read x / write x=1 / commit
//!   r1: begin readonly         strong reads at a leader-chosen timestamp
//! ```
//!
//! Raft is a log per tablet applied at once on every replica (a follower
//! can be told to lag); a commit then waits for `TT.after(s)` on its
//! leader's node, which only `time advance` brings. Waiting operations
//! resume by themselves when what they wait for happens, and say so.

#[path = "scenario_world/mod.rs"]
mod world;

use world::World;

fn run(script: &str) {
    // This checkout's scripts (cargo sets the variable when it runs tests),
    // not those of the checkout the binary was built in.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let path = format!("{}/tests/scenarios/{script}.txt", manifest.display());
    goldenscript::run(&mut World::default(), &path).expect("goldenscript failed");
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run(stringify!($name));
            }
        )*
    };
}

scenarios!(
    ambiguous_commit,
    anomaly_dirty_reads_and_writes,
    anomaly_lost_update,
    anomaly_phantom,
    anomaly_read_skew,
    anomaly_write_skew,
    cancelled_lock_wait,
    clock_failure_in_commit_wait,
    commit_from_start_bound,
    commit_before_schema_lease,
    future_read_and_new_leader,
    last_ts_beyond_one_tablet,
    lease_votes,
    merge_forgets_no_locks_and_waits_for_prepared,
    prepared_waits_for_nothing,
    read_only_participant_needs_no_log_entry,
    retry_keeps_its_priority,
    skip_locked,
    split_forgets_no_locks,
    strong_read_needs_no_wait,
    unfenced_abort_racing_a_prepare,
    visible_before_commit_wait,
);
