//! Spanlite's gRPC services (DESIGN.md §8), generated from `proto/spanlite/`.
//!
//! | module   | service          | used by                                        |
//! |----------|------------------|------------------------------------------------|
//! | `common` | —                | shared types: timestamps, ranges, descriptors  |
//! | `time`   | `TimeService`    | clock sync against time masters                |
//! | `raft`   | `RaftService`    | openraft messages of every tablet on a node    |
//! | `tablet` | `TabletService`, `TabletCallStream` | reads, 2PC participant/coordinator, status |
//! | `sql`    | `SqlService`     | client sessions (shell, driver)                |
//! | `admin`  | `AdminService`   | join/init, status, split/move, fault injection |
//! | `kv`     | `KvService`      | raw key-value access for tools and tests       |
//!
//! Generated code only: conversions to domain types live with the code that
//! owns those types (the server crate), one small file per area.

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![allow(missing_debug_implementations)]

/// Shared message types.
#[allow(clippy::all)]
pub mod common {
    tonic::include_proto!("spanlite.common");
}

/// Time masters.
#[allow(clippy::all)]
pub mod time {
    tonic::include_proto!("spanlite.time");
}

/// Raft transport.
#[allow(clippy::all)]
pub mod raft {
    tonic::include_proto!("spanlite.raft");
}

/// Tablet reads and two-phase commit.
#[allow(clippy::all)]
pub mod tablet {
    tonic::include_proto!("spanlite.tablet");
}

/// SQL sessions.
#[allow(clippy::all)]
pub mod sql {
    tonic::include_proto!("spanlite.sql");

    /// The header of a node's answer to `Session` naming what its sessions
    /// support beyond the first protocol (comma-separated features).
    pub const SESSION_FEATURES_HEADER: &str = "spanlite-session-features";

    /// A session feature: `Query.begin` opens the transaction its query
    /// runs in (an older node ignores the field).
    pub const BEGIN_WITH_QUERY: &str = "begin-with-query";

    /// A session feature: the `cancel` request cancels a running query.
    pub const CANCEL: &str = "cancel";

    /// The features this version's nodes announce, as the header's value.
    pub const SESSION_FEATURES: &str = "begin-with-query,cancel";
}

/// Raw key-value access for tools.
#[allow(clippy::all)]
pub mod kv {
    tonic::include_proto!("spanlite.kv");
}

/// Administration and fault injection.
#[allow(clippy::all)]
pub mod admin {
    tonic::include_proto!("spanlite.admin");
}
