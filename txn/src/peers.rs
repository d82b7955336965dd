//! How a tablet leader reaches other tablets for the 2PC steps it runs on
//! its own: asking a coordinator tablet for an outcome (termination
//! protocol), and telling a participant the decision. The server's gateway
//! implements it; the replica sees only this trait, never the gateway.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::TxnId;

use crate::twopc::Decision;

/// Why a peer could not be reached or answered (for logs; the caller
/// retries later either way).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerError(pub String);

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PeerError {}

/// A peer call in flight.
pub type PeerFuture<T> = Pin<Box<dyn Future<Output = Result<T, PeerError>> + Send>>;

/// Other tablets, as a leader needs them (see the module docs).
pub trait TxnPeers: Send + Sync + fmt::Debug + 'static {
    /// The outcome of `txn` recorded by `coordinator` (`None`: still being
    /// decided). Asking records an abort when nothing is recorded.
    fn status(&self, coordinator: TabletId, txn: TxnId) -> PeerFuture<Option<Decision>>;
    /// Tells `participant` the outcome of `txn`; done once it applied it.
    fn resolve(&self, participant: TabletId, txn: TxnId, decision: Decision) -> PeerFuture<()>;
}
