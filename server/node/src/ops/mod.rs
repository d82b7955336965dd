//! Operating a cluster: tablets that split on their own by size
//! ([`split`]), the node's metrics in the Prometheus format ([`metrics`]),
//! the samples behind the console's charts ([`history`]) and the HTTP port
//! with the web console ([`console`]).

pub(crate) mod console;
pub mod history;
pub mod metrics;
pub mod split;
