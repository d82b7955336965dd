//! The accept loop of a node's PostgreSQL port: one task and one
//! [`Connection`] (so one session) per client.
//!
//! INVARIANT: a failed accept or a misbehaving client never stops the
//! loop; only `stopping` does, and it also ends every connection (each
//! gets a FATAL 57P01 and its open transaction is rolled back).
//!
//! Limits ([`Limits`]): at most `max_connections` clients at once (one
//! more gets FATAL 53300 and is closed, as PostgreSQL's "too many
//! clients"), and a client has `login_timeout` to finish its startup and
//! authentication, with messages of at most
//! [`MAX_AUTH_MESSAGE`](crate::message::MAX_AUTH_MESSAGE) bytes until then.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

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
    /// Connection limits.
    pub limits: Limits,
}

/// How many clients a port serves and how long they may take to log in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Clients served at once (PostgreSQL's `max_connections`).
    pub max_connections: usize,
    /// Time from connecting to the end of authentication (PostgreSQL's
    /// `authentication_timeout`).
    pub login_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 100,
            login_timeout: Duration::from_secs(60),
        }
    }
}

/// Serves PostgreSQL clients on `listener` with sessions on `gateway`,
/// logging them in as `auth` says, within `limits`, until `stopping` turns
/// true.
pub async fn serve(
    listener: TcpListener,
    schema: Arc<SchemaCache>,
    mut stopping: watch::Receiver<bool>,
    auth: Auth,
    limits: Limits,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let port = Arc::new(Port {
        auth,
        cancels: Cancels::default(),
        limits,
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
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    tracing::info!(%peer, "pgwire: too many connections: refusing one");
                    tokio::spawn(refuse(stream, limits.max_connections));
                    continue;
                };
                let conn = Connection::new(stream, schema.clone(), stopping.clone(), port.clone());
                tokio::spawn(async move {
                    conn.run().await;
                    drop(slot);
                });
            }
            Err(e) => {
                tracing::warn!("pgwire: accepting a connection failed: {e}");
                // Out of file descriptors, say: do not spin.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Tells a client beyond `max_connections` so (FATAL 53300, before its
/// startup packet, as PostgreSQL does) and closes; a client that does not
/// read it is dropped after a second.
async fn refuse(mut stream: tokio::net::TcpStream, max: usize) {
    let mut out = crate::message::Out::default();
    out.error(
        "FATAL",
        spanlite_sql::sqlstate::TOO_MANY_CONNECTIONS,
        &format!("sorry, too many clients already (max_connections is {max})"),
    );
    let write = async {
        stream.write_all(&out.buf).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
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
