//! Operating a cluster: tablets that split on their own by size
//! ([`split`]), the node's metrics in the Prometheus format ([`metrics`]),
//! the samples behind the console's charts ([`history`]), the HTTP port
//! with the web console ([`console`]), and the allocator that spreads
//! replicas and leaders, drains decommissioned nodes and replaces dead
//! ones ([`allocator`]), and merges of small, cold neighbours ([`merge`]).

pub mod allocator;
pub(crate) mod console;
pub mod history;
pub mod merge;
pub mod metrics;
pub mod split;
pub mod status;
