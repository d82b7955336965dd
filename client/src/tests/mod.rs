//! Scenario tests of the driver against fake nodes ([`fake_node`]): each
//! test's first line says what it shows, then the steps, then what the
//! nodes received.

mod failover;
mod fake_node;
mod statements;
mod transactions;

use crate::{Client, ClientOptions};
use fake_node::FakeNode;

/// A client of `nodes`, in that order, with default options.
async fn connect(nodes: &[&FakeNode]) -> Client {
    connect_with(nodes, ClientOptions::default()).await
}

/// A client of `nodes`, in that order.
async fn connect_with(nodes: &[&FakeNode], options: ClientOptions) -> Client {
    Client::connect_with(nodes.iter().map(|n| n.addr.clone()), options)
        .await
        .unwrap()
}
