//! [`ClientOptions`]: timeouts, retry budget and session settings, built
//! with chained setters from the defaults.

use std::collections::HashMap;
use std::time::Duration;

/// How a [`Client`](crate::Client) connects and retries.
///
/// ```
/// use std::time::Duration;
/// use spanlite_client::ClientOptions;
///
/// let options = ClientOptions::default()
///     .connect_timeout(Duration::from_secs(1))
///     .transaction_deadline(Duration::from_secs(10))
///     .application_name("billing");
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct ClientOptions {
    pub(crate) connect_timeout: Duration,
    pub(crate) transaction_deadline: Duration,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) max_idle_sessions: usize,
    pub(crate) application_name: String,
    pub(crate) settings: HashMap<String, String>,
    pub(crate) tls: Option<tonic::transport::ClientTlsConfig>,
    /// The user sessions run as (empty: the client certificate's, or root).
    pub(crate) user: String,
    /// The user's password, if it logs in with one.
    pub(crate) password: String,
}

impl Default for ClientOptions {
    /// Connect timeout 3 s, transaction deadline 30 s, backoff from 5 ms up
    /// to 1 s, at most 16 idle sessions, application name `spanlite-client`,
    /// no session settings.
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            transaction_deadline: Duration::from_secs(30),
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_secs(1),
            max_idle_sessions: 16,
            application_name: "spanlite-client".to_string(),
            settings: HashMap::new(),
            tls: None,
            user: String::new(),
            password: String::new(),
        }
    }
}

impl ClientOptions {
    /// Connects over TLS with `user`'s client certificate from a certs dir
    /// as `spanlite cert` lays it out (`ca.crt`, `client.<user>.crt`,
    /// `client.<user>.key`; the key must not be readable by others). Node
    /// addresses then need no scheme (`https` is used).
    pub fn certs_dir(mut self, dir: &std::path::Path, user: &str) -> crate::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        use tonic::transport::{Certificate, ClientTlsConfig, Identity};
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path)
                .map_err(|e| crate::Error::Usage(format!("{}: {e}", path.display())))
        };
        let key_name = format!("client.{user}.key");
        let key_path = dir.join(&key_name);
        let mode = std::fs::metadata(&key_path)
            .map_err(|e| crate::Error::Usage(format!("{}: {e}", key_path.display())))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(crate::Error::Usage(format!(
                "{}: the key is readable by others (mode {:o}); chmod 600 it",
                key_path.display(),
                mode & 0o777
            )));
        }
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read("ca.crt")?))
            .identity(Identity::from_pem(
                read(&format!("client.{user}.crt"))?,
                read(&key_name)?,
            ));
        self.tls = Some(tls);
        self.user = user.to_string();
        Ok(self)
    }

    /// Connects over TLS checking the nodes' certificates against the CA
    /// in `ca_pem_file` (`ca.crt` of a certs dir), without a client
    /// certificate: log in with [`ClientOptions::password`].
    pub fn ca_certificate(mut self, ca_pem_file: &std::path::Path) -> crate::Result<Self> {
        use tonic::transport::{Certificate, ClientTlsConfig};
        let ca = std::fs::read(ca_pem_file)
            .map_err(|e| crate::Error::Usage(format!("{}: {e}", ca_pem_file.display())))?;
        self.tls = Some(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)));
        Ok(self)
    }

    /// Runs sessions as `user` (a role that may log in).
    pub fn user(mut self, user: &str) -> Self {
        self.user = user.to_string();
        self
    }

    /// Logs in with `password` (checked by the node against the user's
    /// SCRAM-SHA-256 verifier; use TLS on a network).
    pub fn password(mut self, password: &str) -> Self {
        self.password = password.to_string();
        self
    }

    /// How long opening a session on one node may take (TCP connect and the
    /// session's first response) before the next node is tried.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long [`Client::transaction`](crate::Client::transaction) keeps
    /// re-running a transaction that fails with a retryable error, counted
    /// from its first `BEGIN`. When the deadline would pass during the next
    /// backoff, the last error is returned.
    pub fn transaction_deadline(mut self, deadline: Duration) -> Self {
        self.transaction_deadline = deadline;
        self
    }

    /// The backoff between transaction attempts: the first wait is about
    /// `initial`, each next one twice the previous, at most `max`; each is
    /// jittered down by up to half, so clients that collided spread out.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// How many idle sessions the client keeps open for reuse; sessions
    /// returned beyond that are closed.
    pub fn max_idle_sessions(mut self, n: usize) -> Self {
        self.max_idle_sessions = n;
        self
    }

    /// The name every session reports (shown by `SHOW SESSIONS`).
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = name.into();
        self
    }

    /// A session setting (like `default_transaction_isolation`) every
    /// session starts with. Prefer this to `SET` through
    /// [`Client::execute`](crate::Client::execute), which would change one
    /// pooled session only.
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.insert(name.into(), value.into());
        self
    }
}
