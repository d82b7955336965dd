//! TLS on gRPC: the certificate files of a certs dir and who a peer is.
//!
//! A certs dir is laid out as CockroachDB's (so tools find files by
//! convention; `spanlite cert` writes them):
//!
//! ```text
//!   ca.crt                      the cluster CA (every node and client trusts it)
//!   ca.key                      the CA's key (keep it elsewhere in production)
//!   node.crt, node.key          a node: CN=node, its hosts as subject alt names,
//!                               for serving and for dialing other nodes
//!   client.<user>.crt / .key    a user: CN=<user>
//! ```
//!
//! Every link is mutual TLS: a node serves with its node certificate and
//! asks callers for theirs (optional at the TLS layer, so a caller without
//! one gets a gRPC `Unauthenticated` rather than a failed handshake); it
//! dials other nodes with the same node certificate. [`peer_name`] tells a
//! request's caller by the CN of the certificate it proved it holds.
//! Keys must not be readable by others (mode 0600, as `spanlite cert`
//! writes them): a node or client refuses to load one that is.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// The CA certificate's file name.
pub const CA_CERT: &str = "ca.crt";
/// The CA key's file name.
pub const CA_KEY: &str = "ca.key";
/// The node certificate's file name.
pub const NODE_CERT: &str = "node.crt";
/// The node key's file name.
pub const NODE_KEY: &str = "node.key";
/// The common name of every node certificate.
pub const NODE_NAME: &str = "node";
/// The user with every privilege (cluster administration).
pub const ADMIN_USER: &str = "root";

/// The certificate and key file names of `user`'s client certificate.
pub fn client_files(user: &str) -> (String, String) {
    (format!("client.{user}.crt"), format!("client.{user}.key"))
}

/// One side's TLS material: the CA it trusts and the certificate it shows.
#[derive(Clone)]
pub struct TlsConfig {
    ca: Vec<u8>,
    cert: Vec<u8>,
    key: Vec<u8>,
    /// Whose certificate (for messages).
    pub name: String,
    /// Where it came from.
    pub dir: PathBuf,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("name", &self.name)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn read(dir: &Path, file: &str) -> Result<Vec<u8>, String> {
    let path = dir.join(file);
    std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads a key file, refusing one that others may read.
fn read_key(dir: &Path, file: &str) -> Result<Vec<u8>, String> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(file);
    let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{}: the key is readable by others (mode {mode:o}); chmod 600 it",
            path.display()
        ));
    }
    read(dir, file)
}

impl TlsConfig {
    /// A node's: `ca.crt`, `node.crt`, `node.key` of `dir`.
    pub fn node(dir: &Path) -> Result<Self, String> {
        Ok(Self {
            ca: read(dir, CA_CERT)?,
            cert: read(dir, NODE_CERT)?,
            key: read_key(dir, NODE_KEY)?,
            name: NODE_NAME.to_string(),
            dir: dir.to_path_buf(),
        })
    }

    /// `user`'s: `ca.crt`, `client.<user>.crt`, `client.<user>.key` of
    /// `dir`.
    pub fn user(dir: &Path, user: &str) -> Result<Self, String> {
        let (cert, key) = client_files(user);
        Ok(Self {
            ca: read(dir, CA_CERT)?,
            cert: read(dir, &cert)?,
            key: read_key(dir, &key)?,
            name: user.to_string(),
            dir: dir.to_path_buf(),
        })
    }

    /// This side's certificate and key, PEM (the PostgreSQL port serves
    /// with the node's).
    pub fn pem(&self) -> (&[u8], &[u8]) {
        (&self.cert, &self.key)
    }

    /// The CA's certificate, PEM (what client certificates are checked
    /// against on the PostgreSQL port).
    pub fn ca_pem(&self) -> &[u8] {
        &self.ca
    }

    /// Serving: this certificate, and callers' certificates checked against
    /// the CA when they show one.
    pub fn server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert, &self.key))
            .client_ca_root(Certificate::from_pem(&self.ca))
            .client_auth_optional(true)
    }

    /// Dialing: the server must prove it holds a certificate of the CA for
    /// the host dialed; this certificate is shown.
    pub fn client(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca))
            .identity(Identity::from_pem(&self.cert, &self.key))
    }
}

/// The URL scheme for dialing with or without TLS.
pub fn scheme(tls: Option<&TlsConfig>) -> &'static str {
    if tls.is_some() { "https" } else { "http" }
}

/// The common name of the certificate the caller of `request` proved it
/// holds (verified against the CA by the TLS handshake), if it showed one.
pub fn peer_name<T>(request: &tonic::Request<T>) -> Option<String> {
    let certs = request.peer_certs()?;
    let leaf = certs.first()?;
    common_name(leaf.as_ref())
}

/// The subject's common name of a DER certificate.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

/// Who may call a service, checked on every request when TLS is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Callers {
    /// Nodes only (Raft, tablets, time: the cluster's own traffic).
    Nodes,
    /// Nodes and the admin user (administration, raw key-value access).
    Admin,
    /// Any holder of a certificate of the cluster's CA.
    Users,
    /// Anyone who completes the TLS handshake: the service authenticates
    /// each session itself (the SQL service: a client certificate or a
    /// user's password).
    Sessions,
}

impl Callers {
    /// True when the holder of a certificate named `name` may call.
    pub fn admit(self, name: &str) -> bool {
        match self {
            Callers::Nodes => name == NODE_NAME,
            Callers::Admin => name == NODE_NAME || name == ADMIN_USER,
            Callers::Users | Callers::Sessions => true,
        }
    }
}

/// The interceptor that lets `callers` through: `Unauthenticated` without
/// a certificate, `PermissionDenied` with one of somebody else. Without TLS
/// (`tls` false: an insecure node) everyone is let through.
pub fn authorize(
    tls: bool,
    callers: Callers,
) -> impl Fn(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone {
    move |request: tonic::Request<()>| {
        if !tls || callers == Callers::Sessions {
            return Ok(request);
        }
        let Some(name) = peer_name(&request) else {
            return Err(tonic::Status::unauthenticated(
                "a client certificate of this cluster's CA is required",
            ));
        };
        if callers.admit(&name) {
            Ok(request)
        } else {
            Err(tonic::Status::permission_denied(format!(
                "user {name:?} may not call this service ({callers:?} only)"
            )))
        }
    }
}
