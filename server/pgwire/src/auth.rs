//! Password authentication of the PostgreSQL port: SCRAM-SHA-256
//! (RFC 5802, RFC 7677), as PostgreSQL does it, so psql, libpq and every
//! driver log in with a password that never crosses the wire.
//!
//! ```text
//!   client                                   node
//!     ── StartupMessage ──────────────────────▶
//!     ◀── AuthenticationSASL ["SCRAM-SHA-256"]
//!     ── SASLInitialResponse  n,,n=,r=<cnonce> ▶          client-first
//!     ◀── SASLContinue  r=<cnonce><snonce>,s=<salt>,i=4096  server-first
//!     ── SASLResponse  c=biws,r=<nonce>,p=<ClientProof> ▶  client-final
//!            StoredKey == H(ClientProof ⊕ HMAC(StoredKey, AuthMessage))?
//!     ◀── SASLFinal  v=<ServerSignature>, AuthenticationOk      (or FATAL 28P01)
//! ```
//!
//! The node keeps a [`ScramVerifier`] (salt, StoredKey, ServerKey), not the
//! password. One password for every user name: the user name in the
//! startup message is accepted as given, as PostgreSQL's `password`
//! method with a single role would.
//!
//! Not here: channel binding (`SCRAM-SHA-256-PLUS`; there is no TLS),
//! per-user passwords, MD5 and cleartext passwords.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The SASL mechanism offered.
pub const MECHANISM: &str = "SCRAM-SHA-256";

/// PBKDF2 iterations (PostgreSQL's default `scram_iterations`).
pub const ITERATIONS: u32 = 4096;

/// How clients prove who they are on a node's PostgreSQL port.
#[derive(Clone, Default)]
pub enum Auth {
    /// Anyone who reaches the port is in (the default: keep the port on
    /// loopback or behind a firewall).
    #[default]
    Trust,
    /// SCRAM-SHA-256 against one password.
    Scram(ScramVerifier),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Trust => f.write_str("Trust"),
            Auth::Scram(_) => f.write_str("Scram(…)"),
        }
    }
}

impl Auth {
    /// SCRAM-SHA-256 with `password` (a fresh random salt).
    pub fn password(password: &str) -> Auth {
        Auth::Scram(ScramVerifier::new(password, rand::random(), ITERATIONS))
    }
}

/// What the server keeps of a password (RFC 5802 §3).
#[derive(Clone)]
pub struct ScramVerifier {
    salt: [u8; 16],
    iterations: u32,
    stored_key: [u8; 32],
    server_key: [u8; 32],
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // INVARIANT: HMAC takes keys of any length, so this never fails.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// PBKDF2-HMAC-SHA-256 with one output block (32 bytes): `Hi()` of RFC 5802.
fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(password, &first);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac(password, &u);
        for (o, x) in out.iter_mut().zip(u) {
            *o ^= x;
        }
    }
    out
}

impl ScramVerifier {
    /// The verifier of `password` with `salt` and `iterations`.
    ///
    /// NB: the password is used as given (PostgreSQL applies SASLprep
    /// first; the two agree on ASCII passwords).
    pub fn new(password: &str, salt: [u8; 16], iterations: u32) -> Self {
        let salted = salted_password(password.as_bytes(), &salt, iterations);
        Self {
            salt,
            iterations,
            stored_key: sha256(&hmac(&salted, b"Client Key")),
            server_key: hmac(&salted, b"Server Key"),
        }
    }
}

/// Why a SCRAM exchange failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScramError {
    /// The client's message does not follow the protocol (08P01).
    Malformed(String),
    /// The proof is wrong: a wrong password (28P01).
    WrongPassword,
}

/// The server's side of one exchange; the connection feeds it the
/// client's two messages in order.
#[derive(Debug)]
pub struct ScramServer<'a> {
    verifier: &'a ScramVerifier,
    /// `client-first-message-bare , server-first-message`, once sent.
    first: Option<(String, String)>,
    nonce: String,
}

impl std::fmt::Debug for ScramVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScramVerifier(…)")
    }
}

fn malformed(what: &str) -> ScramError {
    ScramError::Malformed(format!("malformed SCRAM message: {what}"))
}

/// The value of attribute `name` (`name=value`) in `part`.
fn attribute(part: Option<&str>, name: char) -> Result<&str, ScramError> {
    part.and_then(|p| p.strip_prefix(name))
        .and_then(|p| p.strip_prefix('='))
        .ok_or_else(|| malformed(&format!("expected the {name}= attribute")))
}

impl<'a> ScramServer<'a> {
    /// An exchange against `verifier`; `server_nonce` must be fresh and
    /// random for each exchange.
    pub fn new(verifier: &'a ScramVerifier, server_nonce: [u8; 18]) -> Self {
        Self {
            verifier,
            first: None,
            nonce: BASE64.encode(server_nonce),
        }
    }

    /// Takes the client-first-message; returns the server-first-message.
    pub fn client_first(&mut self, message: &[u8]) -> Result<String, ScramError> {
        let message = std::str::from_utf8(message).map_err(|_| malformed("not UTF-8"))?;
        // gs2-header: `n,,` (no channel binding) or `y,,` (the client could
        // but thinks the server cannot); `p=…` asks for binding we lack.
        let bare = match message.split_once(",,") {
            Some(("n" | "y", bare)) => bare,
            Some((h, _)) if h.starts_with('p') => {
                return Err(malformed("channel binding is not supported"));
            }
            _ => return Err(malformed("bad GS2 header")),
        };
        let mut parts = bare.split(',');
        let _user = attribute(parts.next(), 'n')?;
        let client_nonce = attribute(parts.next(), 'r')?;
        if client_nonce.is_empty() || client_nonce.contains(',') {
            return Err(malformed("empty client nonce"));
        }
        let server_first = format!(
            "r={client_nonce}{},s={},i={}",
            self.nonce,
            BASE64.encode(self.verifier.salt),
            self.verifier.iterations
        );
        self.nonce = format!("{client_nonce}{}", self.nonce);
        self.first = Some((bare.to_string(), server_first.clone()));
        Ok(server_first)
    }

    /// Takes the client-final-message; returns the server-final-message
    /// if the proof shows the password.
    pub fn client_final(&self, message: &[u8]) -> Result<String, ScramError> {
        let Some((client_first_bare, server_first)) = &self.first else {
            return Err(malformed("client-final before client-first"));
        };
        let message = std::str::from_utf8(message).map_err(|_| malformed("not UTF-8"))?;
        let (without_proof, proof) = message
            .rsplit_once(",p=")
            .ok_or_else(|| malformed("no proof"))?;
        let mut parts = without_proof.split(',');
        let binding = attribute(parts.next(), 'c')?;
        if binding != "biws" && binding != "eSws" {
            return Err(malformed("unexpected channel binding"));
        }
        if attribute(parts.next(), 'r')? != self.nonce {
            return Err(malformed("the nonce does not match"));
        }
        let proof = BASE64
            .decode(proof)
            .map_err(|_| malformed("proof is not base64"))?;
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = hmac(&self.verifier.stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() {
            return Err(ScramError::WrongPassword);
        }
        let client_key: Vec<u8> = proof.iter().zip(signature).map(|(p, s)| p ^ s).collect();
        // Constant-time comparison: no early exit on the first difference.
        let differs = sha256(&client_key)
            .iter()
            .zip(self.verifier.stored_key)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if differs != 0 {
            return Err(ScramError::WrongPassword);
        }
        let server_signature = hmac(&self.verifier.server_key, auth_message.as_bytes());
        Ok(format!("v={}", BASE64.encode(server_signature)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3's example exchange (user "user", password "pencil").
    #[test]
    fn rfc7677_example_exchange() {
        let salt: [u8; 16] = BASE64
            .decode("W22ZaJ0SNY7soEsUEjb6gQ==")
            .unwrap()
            .try_into()
            .unwrap();
        let verifier = ScramVerifier::new("pencil", salt, 4096);
        let mut server = ScramServer::new(&verifier, [0; 18]);
        // The RFC's server nonce is not 18 random bytes; set it directly.
        server.nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".to_string();
        let first = server
            .client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
            .unwrap();
        assert_eq!(
            first,
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let last = server
            .client_final(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                  p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            )
            .unwrap();
        assert_eq!(last, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");

        // A wrong proof (one bit off) is a wrong password, not a panic.
        assert_eq!(
            server.client_final(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                  p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVU="
            ),
            Err(ScramError::WrongPassword)
        );
        assert!(matches!(
            server.client_final(b"c=biws,r=other,p=AAAA"),
            Err(ScramError::Malformed(_))
        ));
        assert!(matches!(
            ScramServer::new(&verifier, [1; 18]).client_first(b"p=tls-server-end-point,,n=,r=x"),
            Err(ScramError::Malformed(_))
        ));
    }
}
