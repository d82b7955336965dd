//! TCP proxies the harness puts on every link between nodes, so it can cut
//! links one way or both (partitions) without touching the kernel.
//!
//! Node `i` reaches node `j` through the proxy of link `(i, j)` (the node
//! is started with `--dial-via j=proxy`). While a link is cut its proxy
//! drops the connections it carries and holds new ones open without
//! forwarding a byte — like packets lost on the wire: the node sees
//! timeouts, not refusals.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One proxied link.
#[derive(Debug)]
struct Link {
    /// Where the proxy listens.
    addr: String,
    cut: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// The proxies of every ordered pair of nodes.
#[derive(Debug, Default)]
pub struct Proxies {
    links: HashMap<(usize, usize), Link>,
}

/// Forwards one connection until either side closes or the link is cut.
async fn forward(mut inbound: TcpStream, target: String, mut cut: watch::Receiver<bool>) {
    if *cut.borrow() {
        // Held, silent, until the link heals; then closed.
        let _ = cut.wait_for(|c| !*c).await;
        let _ = inbound.shutdown().await;
        return;
    }
    let Ok(mut outbound) = TcpStream::connect(&target).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
        _ = cut.wait_for(|c| *c) => {}
    }
}

async fn serve(listener: TcpListener, target: String, cut: watch::Receiver<bool>) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(forward(inbound, target.clone(), cut.clone()));
    }
}

impl Proxies {
    /// No links yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the proxy of link `(from, to)` forwarding to `target`; returns
    /// the address it listens on.
    pub async fn add(&mut self, from: usize, to: usize, target: String) -> std::io::Result<String> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?.to_string();
        let (cut, rx) = watch::channel(false);
        let task = tokio::spawn(serve(listener, target, rx));
        self.links.insert(
            (from, to),
            Link {
                addr: addr.clone(),
                cut,
                task,
            },
        );
        Ok(addr)
    }

    /// The address of the proxy of link `(from, to)`.
    pub fn addr(&self, from: usize, to: usize) -> Option<&str> {
        self.links.get(&(from, to)).map(|l| l.addr.as_str())
    }

    /// Cuts (or heals) link `(from, to)`.
    pub fn set_cut(&self, from: usize, to: usize, cut: bool) {
        if let Some(l) = self.links.get(&(from, to)) {
            l.cut.send_replace(cut);
        }
    }

    /// Cuts every link between nodes of different `groups` (both ways);
    /// links within a group are healed. A node in no group is cut off from
    /// everyone.
    pub fn partition(&self, groups: &[Vec<usize>]) {
        let group_of = |n: usize| groups.iter().position(|g| g.contains(&n));
        for &(from, to) in self.links.keys() {
            let same = matches!((group_of(from), group_of(to)), (Some(a), Some(b)) if a == b);
            self.set_cut(from, to, !same);
        }
    }

    /// Cuts exactly the links in `cut` (both directions), heals the rest.
    pub fn cut_pairs(&self, cut: &[(usize, usize)]) {
        for &(from, to) in self.links.keys() {
            let c = cut
                .iter()
                .any(|&(a, b)| (a, b) == (from, to) || (b, a) == (from, to));
            self.set_cut(from, to, c);
        }
    }

    /// Heals every link.
    pub fn heal(&self) {
        for l in self.links.values() {
            l.cut.send_replace(false);
        }
    }

    /// True when some link is cut.
    pub fn any_cut(&self) -> bool {
        self.links.values().any(|l| *l.cut.borrow())
    }
}

impl Drop for Proxies {
    fn drop(&mut self) {
        for l in self.links.values() {
            l.task.abort();
        }
    }
}

/// Shared handle (the nemesis and the harness both use it).
pub type SharedProxies = Arc<Proxies>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncReadExt;

    async fn echo_server() -> String {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(addr: &str) -> bool {
        let Ok(Ok(mut s)) =
            tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr)).await
        else {
            return false;
        };
        if s.write_all(b"ping").await.is_err() {
            return false;
        }
        let mut buf = [0u8; 4];
        matches!(
            tokio::time::timeout(Duration::from_millis(300), s.read_exact(&mut buf)).await,
            Ok(Ok(_)) if &buf == b"ping"
        )
    }

    #[tokio::test]
    async fn a_cut_link_carries_nothing_until_healed() {
        let target = echo_server().await;
        let mut p = Proxies::new();
        let addr = p.add(0, 1, target).await.unwrap();
        p.add(1, 0, "127.0.0.1:1".into()).await.unwrap();
        assert!(round_trip(&addr).await);
        p.partition(&[vec![0], vec![1]]);
        assert!(p.any_cut());
        assert!(!round_trip(&addr).await, "a cut link forwarded data");
        p.heal();
        assert!(round_trip(&addr).await);
        p.cut_pairs(&[(1, 0)]);
        assert!(!round_trip(&addr).await, "cut_pairs cuts both directions");
    }
}
