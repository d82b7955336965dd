//! The accept loop of a node's PostgreSQL port: one task and one
//! [`Connection`] (so one session) per client.
//!
//! INVARIANT: a failed accept or a misbehaving client never stops the
//! loop; only `stopping` does, and it also ends every connection (each
//! gets a FATAL 57P01 and its open transaction is rolled back).

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::Connection;
use super::auth::Auth;
use super::cancel::Cancels;
use spanlite_session::SchemaCache;

/// What every connection on one PostgreSQL port shares.
#[derive(Debug, Default)]
pub struct Port {
    /// How clients log in.
    pub auth: Auth,
    /// The sessions a CancelRequest can reach.
    pub cancels: Cancels,
}

/// Serves PostgreSQL clients on `listener` with sessions on `gateway`,
/// logging them in as `auth` says, until `stopping` turns true.
pub async fn serve(
    listener: TcpListener,
    schema: Arc<SchemaCache>,
    mut stopping: watch::Receiver<bool>,
    auth: Auth,
) {
    let port = Arc::new(Port {
        auth,
        cancels: Cancels::default(),
    });
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = stopped(&mut stopping) => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(%peer, "pgwire: dropping a connection: {e}");
                    continue;
                }
                let conn = Connection::new(stream, schema.clone(), stopping.clone(), port.clone());
                tokio::spawn(conn.run());
            }
            Err(e) => {
                tracing::warn!("pgwire: accepting a connection failed: {e}");
                // Out of file descriptors, say: do not spin.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Resolves once `stopping` is true (never, if its sender is gone).
pub(crate) async fn stopped(stopping: &mut watch::Receiver<bool>) {
    loop {
        if *stopping.borrow_and_update() {
            return;
        }
        if stopping.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
