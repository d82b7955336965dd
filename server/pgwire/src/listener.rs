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

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use super::Connection;
use super::auth::Auth;
use super::cancel::Cancels;
use spanlite_session::SchemaCache;

/// TLS on a PostgreSQL port: the acceptor and what SCRAM channel binding
/// binds to.
#[derive(Clone)]
pub struct PgTls {
    acceptor: TlsAcceptor,
    /// `tls-server-end-point` data of the node's certificate.
    end_point: Arc<Vec<u8>>,
}

impl std::fmt::Debug for PgTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgTls(…)")
    }
}

/// What a connection knows of its TLS session.
#[derive(Clone, Debug)]
pub struct TlsPeer {
    /// The channel-binding data (the node's certificate's hash).
    pub end_point: Arc<Vec<u8>>,
    /// The common name of the client certificate the client proved it
    /// holds (checked against the cluster's CA), if it showed one.
    pub client_name: Option<String>,
}

/// TLS for PostgreSQL clients from a PEM certificate chain and key (the
/// node's certificate); client certificates of `ca_pem`'s CA are asked for
/// and checked, but not required. A port with it answers SSLRequest with
/// `S` and requires TLS: a client that does not ask for it gets FATAL 28000.
pub fn tls_acceptor(cert_pem: &[u8], key_pem: &[u8], ca_pem: &[u8]) -> Result<PgTls, String> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the certificate: {e}"))?;
    let end_point = certs
        .first()
        .map(|c| super::auth::end_point_binding(c.as_ref()))
        .ok_or("the certificate file holds no certificate")?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("the key: {e}"))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem) {
        roots
            .add(ca.map_err(|e| format!("the CA certificate: {e}"))?)
            .map_err(|e| format!("the CA certificate: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| format!("client certificate verifier: {e}"))?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    Ok(PgTls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        end_point: Arc::new(end_point),
    })
}

/// What every connection on one PostgreSQL port shares.
#[derive(Debug, Default)]
pub struct Port {
    /// How clients log in.
    pub auth: Auth,
    /// Derives the verifiers that logins for unknown users fail against
    /// (random per port, so nothing about them is predictable).
    pub secret: [u8; 32],
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

/// The connections of a port: open now, and accepted since it started
/// (the node's metrics; the gRPC port counts its own with it too).
#[derive(Debug, Default)]
pub struct ConnectionCount {
    open: std::sync::atomic::AtomicU64,
    accepted: std::sync::atomic::AtomicU64,
}

impl ConnectionCount {
    /// Connections open now.
    pub fn open(&self) -> u64 {
        self.open.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Connections accepted since the start.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts a connection open until the guard is dropped.
    pub fn enter(self: &Arc<Self>) -> ConnectionGuard {
        self.open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.accepted
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ConnectionGuard(self.clone())
    }
}

/// One open connection of a [`ConnectionCount`].
#[derive(Debug)]
pub struct ConnectionGuard(Arc<ConnectionCount>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0
            .open
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Serves PostgreSQL clients on `listener` with sessions on `gateway`,
/// logging them in as `auth` says, within `limits`, until `stopping` turns
/// true; counts its connections in `count`.
pub async fn serve(
    listener: TcpListener,
    schema: Arc<SchemaCache>,
    mut stopping: watch::Receiver<bool>,
    auth: Auth,
    limits: Limits,
    tls: Option<PgTls>,
    count: Arc<ConnectionCount>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let port = Arc::new(Port {
        auth,
        secret: rand::random(),
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
                let (schema, stopping, port) = (schema.clone(), stopping.clone(), port.clone());
                let slot = (slot, count.enter());
                match tls.clone() {
                    None => {
                        let conn =
                            Connection::new(stream, schema, stopping, port, None).with_client(peer);
                        tokio::spawn(async move {
                            conn.run().await;
                            drop(slot);
                        });
                    }
                    Some(acceptor) => {
                        tokio::spawn(async move {
                            let timeout = port.limits.login_timeout;
                            match tokio::time::timeout(timeout, negotiate(stream, &acceptor)).await
                            {
                                Ok(Ok(Negotiated::Tls(s))) => {
                                    let client_name = s
                                        .get_ref()
                                        .1
                                        .peer_certificates()
                                        .and_then(|c| c.first())
                                        .and_then(|c| {
                                            spanlite_directory::tls::common_name(c.as_ref())
                                        });
                                    let tls_peer = TlsPeer {
                                        end_point: acceptor.end_point.clone(),
                                        client_name,
                                    };
                                    Connection::new(*s, schema, stopping, port, Some(tls_peer))
                                        .with_client(peer)
                                        .run()
                                        .await;
                                }
                                Ok(Ok(Negotiated::Cancel(s))) => {
                                    Connection::new(s, schema, stopping, port, None).run().await;
                                }
                                Ok(Err(e)) => tracing::debug!(%peer, "pgwire: TLS: {e}"),
                                Err(_) => tracing::debug!(%peer, "pgwire: TLS: timed out"),
                            }
                            drop(slot);
                        });
                    }
                }
            }
            Err(e) => {
                tracing::warn!("pgwire: accepting a connection failed: {e}");
                // Out of file descriptors, say: do not spin.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// How a connection to a port that requires TLS began.
enum Negotiated {
    /// SSLRequest, `S`, a TLS handshake: the session runs over TLS.
    Tls(Box<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>),
    /// A CancelRequest (libpq sends them in the clear): served as is.
    Cancel(tokio::net::TcpStream),
}

/// The start of a connection to a port that requires TLS: the first packet
/// is looked at without being consumed; an SSLRequest is answered `S` and
/// the handshake done; a CancelRequest is let through; anything else gets
/// FATAL 28000 and the connection is closed.
async fn negotiate(mut stream: tokio::net::TcpStream, tls: &PgTls) -> std::io::Result<Negotiated> {
    use crate::message::{CANCEL_REQUEST, SSL_REQUEST};
    let mut first = [0u8; 8];
    loop {
        let n = stream.peek(&mut first).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if n == first.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let code = i32::from_be_bytes([first[4], first[5], first[6], first[7]]);
    if code == CANCEL_REQUEST {
        return Ok(Negotiated::Cancel(stream));
    }
    if code != SSL_REQUEST {
        let mut out = crate::message::Out::default();
        out.error(
            "FATAL",
            spanlite_sql::sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
            "this node accepts PostgreSQL clients over TLS only (sslmode=require or verify-full)",
        );
        stream.write_all(&out.buf).await?;
        let _ = stream.shutdown().await;
        return Err(std::io::Error::other("a client without TLS was refused"));
    }
    stream.read_exact(&mut first).await?;
    stream.write_all(b"S").await?;
    Ok(Negotiated::Tls(Box::new(
        tls.acceptor.accept(stream).await?,
    )))
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
