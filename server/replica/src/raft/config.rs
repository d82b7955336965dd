//! openraft settings for many Raft groups per node on small machines.
//!
//! Every replica of every tablet runs a tick timer, and every leader sends a
//! heartbeat to each follower per tick; openraft 0.9 does not merge
//! heartbeats across groups. So the heartbeat is slow enough that a node
//! with dozens of idle tablets stays near idle, and elections are a few
//! heartbeats long (and the leader lease shorter than the minimum election
//! timeout; see `crate::tablet::lease`).

use std::sync::Arc;
use std::time::Duration;

use openraft::{Config, SnapshotPolicy};

/// Heartbeat and election timing of every tablet group on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RaftTiming {
    /// Leader → follower heartbeat period (also openraft's AppendEntries
    /// timeout, which must cover a follower's fsync).
    pub heartbeat: Duration,
    /// Followers start an election after a random timeout in
    /// `[election_min, election_max)` without hearing from a leader.
    pub election_min: Duration,
    /// See `election_min`.
    pub election_max: Duration,
    /// Build a snapshot (and let the log prefix go) after this many entries.
    pub snapshot_every: u64,
}

impl Default for RaftTiming {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_millis(200),
            election_min: Duration::from_millis(1000),
            election_max: Duration::from_millis(1500),
            snapshot_every: 10_000,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The openraft config shared by every group on the node.
///
/// Errors: the timing is inconsistent (election timeouts not above the
/// heartbeat, or min ≥ max).
pub fn raft_config(timing: RaftTiming) -> Result<Arc<Config>, openraft::ConfigError> {
    let config = Config {
        cluster_name: "spanlite".to_string(),
        heartbeat_interval: millis(timing.heartbeat),
        election_timeout_min: millis(timing.election_min),
        election_timeout_max: millis(timing.election_max),
        // Snapshots replace the log prefix after this many entries; the
        // purge-after-flush rule holds because building one flushes.
        snapshot_policy: SnapshotPolicy::LogsSinceLast(timing.snapshot_every),
        max_in_snapshot_log_to_keep: timing.snapshot_every / 10,
        purge_batch_size: 256,
        max_payload_entries: 512,
        // Unused (snapshots are streamed whole, see `network`), but keep
        // openraft's own per-chunk timer generous anyway.
        install_snapshot_timeout: 60_000,
        ..Config::default()
    };
    Ok(Arc::new(config.validate()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_timing_is_valid() {
        let c = raft_config(RaftTiming::default()).unwrap();
        assert!(c.election_timeout_min > c.heartbeat_interval * 3);
    }

    #[test]
    fn election_timeout_below_heartbeat_is_refused() {
        let bad = RaftTiming {
            heartbeat: Duration::from_millis(500),
            election_min: Duration::from_millis(100),
            election_max: Duration::from_millis(200),
            snapshot_every: 100,
        };
        assert!(raft_config(bad).is_err());
    }
}
