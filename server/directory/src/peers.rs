//! The pool of gRPC channels to the other nodes, shared by every tablet's
//! Raft group, the gateway, the closed-timestamp sender and time sync, with
//! the fault-injection hooks tests use to cut links.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use spanlite_txn::NodeId;
use tonic::transport::{Channel, Endpoint};

/// How this node dials its peers.
#[derive(Clone, Debug)]
pub struct PeersConfig {
    /// How long to wait for a TCP connection to a peer.
    pub connect_timeout: Duration,
    /// Fault injection: dial these addresses through others instead
    /// (`peer address → proxy address`), so a test harness can put a proxy
    /// it controls on every link between nodes. Empty in production.
    pub dial_via: HashMap<String, String>,
    /// Mutual TLS with the node's certificate (`None`: an insecure
    /// cluster, plain HTTP/2).
    pub tls: Option<crate::tls::TlsConfig>,
}

impl Default for PeersConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(1),
            dial_via: HashMap::new(),
            tls: None,
        }
    }
}

/// gRPC channels to peers, one per address, created lazily and shared by
/// every tablet's Raft group (and by other services that talk to peers).
#[derive(Clone, Debug)]
pub struct Peers {
    channels: Arc<Mutex<HashMap<String, Channel>>>,
    config: Arc<PeersConfig>,
    /// Fault injection: messages to these nodes are dropped (the peer
    /// looks unreachable). Empty unless a test or the Admin hook set it.
    blocked: Arc<Mutex<HashSet<NodeId>>>,
}

impl Peers {
    /// An empty pool.
    pub fn new(config: PeersConfig) -> Self {
        Self {
            channels: Arc::default(),
            config: Arc::new(config),
            blocked: Arc::default(),
        }
    }

    /// Fault injection: drop Raft messages to `nodes` from now on (until
    /// [`Peers::unblock_all`]). Blocking a node on every other node and every
    /// other node on it partitions it away.
    pub fn block(&self, nodes: impl IntoIterator<Item = NodeId>) {
        self.blocked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(nodes);
    }

    /// Ends every [`Peers::block`].
    pub fn unblock_all(&self) {
        self.blocked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// True when messages to `node` are dropped (fault injection).
    pub fn is_blocked(&self, node: NodeId) -> bool {
        self.blocked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&node)
    }

    /// The dialing settings.
    pub fn config(&self) -> &PeersConfig {
        &self.config
    }

    /// The channel to `addr` (`host:port`); connects on first use and
    /// reconnects by itself after failures.
    pub fn channel(&self, addr: &str) -> Result<Channel, tonic::transport::Error> {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(ch) = channels.get(addr) {
            return Ok(ch.clone());
        }
        let target = self.config.dial_via.get(addr).map_or(addr, String::as_str);
        let tls = self.config.tls.as_ref();
        let mut endpoint =
            Endpoint::from_shared(format!("{}://{target}", crate::tls::scheme(tls)))?;
        if let Some(tls) = tls {
            // The peer's certificate must name the address dialed for, even
            // through a proxy.
            let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            endpoint = endpoint.tls_config(tls.client().domain_name(host))?;
        }
        let ch = endpoint
            .connect_timeout(self.config.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_while_idle(true)
            .connect_lazy();
        channels.insert(addr.to_string(), ch.clone());
        Ok(ch)
    }
}
