//! How a client logs in on the PostgreSQL port: as a role of the catalog
//! that may log in, proving it with the role's password by SCRAM-SHA-256
//! (RFC 5802, RFC 7677) as PostgreSQL does — with channel binding
//! (`SCRAM-SHA-256-PLUS`, `tls-server-end-point`, RFC 5929) over TLS — or,
//! over TLS, with a client certificate of the cluster's CA for that user
//! (`client.<user>.crt`), as PostgreSQL's `cert` method does.
//!
//! ```text
//!   client                                   node
//!     ── StartupMessage user=U ──────────────▶  role U read (strong read)
//!     ◀── AuthenticationSASL ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
//!     ── SASLInitialResponse  p=tls-server-end-point,,n=,r=<cnonce> ▶
//!     ◀── SASLContinue  r=<cnonce><snonce>,s=<salt>,i=4096
//!     ── SASLResponse  c=<b64(gs2 header ‖ H(server cert))>,r=<nonce>,p=<ClientProof> ▶
//!            StoredKey == H(ClientProof ⊕ HMAC(StoredKey, AuthMessage))?
//!     ◀── SASLFinal  v=<ServerSignature>, AuthenticationOk      (or FATAL 28P01)
//! ```
//!
//! A user that does not exist, or has no password, goes through the same
//! exchange against a verifier no password matches (the same salt every
//! time for the same name) and fails with the same message, after the same
//! work, as a wrong password: nothing tells an attacker which names exist.
//! Not here: MD5 and cleartext passwords.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use spanlite_sql::password::{ScramVerifier, constant_time_eq, hmac_sha256, sha256};

/// The SASL mechanism without channel binding.
pub const MECHANISM: &str = "SCRAM-SHA-256";
/// The SASL mechanism with channel binding (offered over TLS).
pub const MECHANISM_PLUS: &str = "SCRAM-SHA-256-PLUS";
/// The channel-binding type (RFC 5929): the hash of the server's
/// certificate.
const CHANNEL_BINDING: &str = "tls-server-end-point";

/// How clients prove who they are on a node's PostgreSQL port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Auth {
    /// No proof: a client logs in as any role that may log in (the
    /// insecure default: keep the port on loopback or behind a firewall).
    #[default]
    Trust,
    /// The role's password (SCRAM-SHA-256), or over TLS a client
    /// certificate for the user.
    Password,
}

/// Why a SCRAM exchange failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScramError {
    /// The client's message does not follow the protocol (08P01).
    Malformed(String),
    /// The proof is wrong: a wrong password (28P01).
    WrongPassword,
}

/// The `tls-server-end-point` channel-binding data of a DER certificate
/// (RFC 5929 §4.1): its hash with the hash function of its signature —
/// SHA-256 for MD5, SHA-1 and SHA-256 signatures, SHA-384 or SHA-512 for
/// those.
pub fn end_point_binding(cert_der: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let algorithm = x509_parser::parse_x509_certificate(cert_der)
        .map(|(_, c)| c.signature_algorithm.algorithm.to_id_string())
        .unwrap_or_default();
    match algorithm.as_str() {
        // ecdsa-with-SHA384, sha384WithRSAEncryption
        "1.2.840.10045.4.3.3" | "1.2.840.113549.1.1.12" => sha2::Sha384::digest(cert_der).to_vec(),
        // ecdsa-with-SHA512, sha512WithRSAEncryption
        "1.2.840.10045.4.3.4" | "1.2.840.113549.1.1.13" => sha2::Sha512::digest(cert_der).to_vec(),
        _ => sha256(cert_der).to_vec(),
    }
}

/// The server's side of one exchange; the connection feeds it the
/// client's two messages in order.
#[derive(Debug)]
pub struct ScramServer<'a> {
    verifier: &'a ScramVerifier,
    /// Over TLS: the channel-binding data (and so `-PLUS` was offered).
    binding: Option<&'a [u8]>,
    /// The client chose `SCRAM-SHA-256-PLUS`.
    plus: bool,
    /// The GS2 header the client sent (its final message must echo it).
    gs2_header: String,
    /// `client-first-message-bare , server-first-message`, once sent.
    first: Option<(String, String)>,
    nonce: String,
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
    /// An exchange against `verifier` by `mechanism` (one of those
    /// offered); `binding` is the channel-binding data when the connection
    /// is TLS. `server_nonce` must be fresh and random for each exchange.
    pub fn new(
        verifier: &'a ScramVerifier,
        mechanism: &str,
        binding: Option<&'a [u8]>,
        server_nonce: [u8; 18],
    ) -> Result<Self, ScramError> {
        let plus = match mechanism {
            MECHANISM => false,
            MECHANISM_PLUS if binding.is_some() => true,
            other => {
                return Err(ScramError::Malformed(format!(
                    "SASL mechanism {other:?} is not offered here"
                )));
            }
        };
        Ok(Self {
            verifier,
            binding,
            plus,
            gs2_header: String::new(),
            first: None,
            nonce: BASE64.encode(server_nonce),
        })
    }

    /// Takes the client-first-message; returns the server-first-message.
    pub fn client_first(&mut self, message: &[u8]) -> Result<String, ScramError> {
        let message = std::str::from_utf8(message).map_err(|_| malformed("not UTF-8"))?;
        // gs2-header = cbind-flag "," [authzid] ","
        let mut parts = message.splitn(3, ',');
        let (Some(flag), Some(authzid), Some(bare)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("bad GS2 header"));
        };
        if !authzid.is_empty() && !authzid.starts_with("a=") {
            return Err(malformed("bad GS2 header"));
        }
        match flag {
            // The client chose not to bind. Fine without -PLUS…
            "n" if !self.plus => {}
            // …or it thinks the server cannot: over TLS we offered -PLUS,
            // so someone in between took it away.
            "y" if !self.plus && self.binding.is_none() => {}
            "y" if !self.plus => {
                return Err(ScramError::Malformed(
                    "SCRAM channel binding negotiation error: the server offered SCRAM-SHA-256-PLUS"
                        .to_string(),
                ));
            }
            f if f.starts_with("p=") && self.plus => {
                if &f[2..] != CHANNEL_BINDING {
                    return Err(ScramError::Malformed(format!(
                        "unsupported SCRAM channel-binding type {:?}",
                        &f[2..]
                    )));
                }
            }
            _ => {
                return Err(ScramError::Malformed(
                    "SCRAM channel-binding flag does not match the mechanism".to_string(),
                ));
            }
        }
        self.gs2_header = format!("{flag},{authzid},");
        let mut parts = bare.split(',');
        let _user = attribute(parts.next(), 'n')?;
        let client_nonce = attribute(parts.next(), 'r')?;
        if client_nonce.is_empty() || client_nonce.contains(',') {
            return Err(malformed("empty client nonce"));
        }
        let server_first = format!(
            "r={client_nonce}{},s={},i={}",
            self.nonce,
            BASE64.encode(&self.verifier.salt),
            self.verifier.iterations
        );
        self.nonce = format!("{client_nonce}{}", self.nonce);
        self.first = Some((bare.to_string(), server_first.clone()));
        Ok(server_first)
    }

    /// Takes the client-final-message; returns the server-final-message
    /// if the proof shows the password (and, with -PLUS, the client saw
    /// this server's certificate).
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
        let mut expected = self.gs2_header.as_bytes().to_vec();
        if self.plus {
            expected.extend_from_slice(self.binding.unwrap_or_default());
        }
        if binding != BASE64.encode(&expected) {
            return Err(ScramError::Malformed(
                "SCRAM channel binding check failed".to_string(),
            ));
        }
        if attribute(parts.next(), 'r')? != self.nonce {
            return Err(malformed("the nonce does not match"));
        }
        let proof = BASE64
            .decode(proof)
            .map_err(|_| malformed("proof is not base64"))?;
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = hmac_sha256(&self.verifier.stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() {
            return Err(ScramError::WrongPassword);
        }
        let client_key: Vec<u8> = proof.iter().zip(signature).map(|(p, s)| p ^ s).collect();
        // Constant-time comparison: no early exit on the first difference.
        if !constant_time_eq(&sha256(&client_key), &self.verifier.stored_key) {
            return Err(ScramError::WrongPassword);
        }
        let server_signature = hmac_sha256(&self.verifier.server_key, auth_message.as_bytes());
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
        let verifier = ScramVerifier::new("pencil", &salt, 4096);
        let mut server = ScramServer::new(&verifier, MECHANISM, None, [0; 18]).unwrap();
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
            ScramServer::new(&verifier, MECHANISM, None, [1; 18])
                .unwrap()
                .client_first(b"p=tls-server-end-point,,n=,r=x"),
            Err(ScramError::Malformed(_))
        ));
    }

    /// The client's side, as libpq computes it: the final message for
    /// `gs2` (and the binding data `cb`) after `server_first`.
    fn client_final(
        password: &str,
        gs2: &str,
        cb: &[u8],
        client_first_bare: &str,
        server_first: &str,
    ) -> String {
        let mut fields = server_first.split(',');
        let nonce = fields.next().unwrap().strip_prefix("r=").unwrap();
        let salt = BASE64
            .decode(fields.next().unwrap().strip_prefix("s=").unwrap())
            .unwrap();
        let iterations: u32 = fields
            .next()
            .unwrap()
            .strip_prefix("i=")
            .unwrap()
            .parse()
            .unwrap();
        let salted =
            spanlite_sql::password::salted_password(password.as_bytes(), &salt, iterations);
        let client_key = hmac_sha256(&salted, b"Client Key");
        let stored_key = sha256(&client_key);
        let c = BASE64.encode([gs2.as_bytes(), cb].concat());
        let without_proof = format!("c={c},r={nonce}");
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = hmac_sha256(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(signature)
            .map(|(k, s)| k ^ s)
            .collect();
        format!("{without_proof},p={}", BASE64.encode(proof))
    }

    /// SCRAM-SHA-256-PLUS: the client binds the exchange to the server
    /// certificate it saw; a man in the middle (another certificate) and a
    /// downgrade (`y`: "I could bind, you said you cannot") both fail.
    #[test]
    fn channel_binding_binds_the_server_certificate_and_refuses_downgrades() {
        let verifier = ScramVerifier::new("pencil", b"0123456789abcdef", 4096);
        let ours = vec![1u8; 32];
        let bare = "n=,r=abc";
        let run = |gs2: &str, cb: &[u8], mechanism: &str| -> Result<String, ScramError> {
            let mut server = ScramServer::new(&verifier, mechanism, Some(&ours), [5; 18])?;
            let first = server.client_first(format!("{gs2}{bare}").as_bytes())?;
            server.client_final(client_final("pencil", gs2, cb, bare, &first).as_bytes())
        };
        let gs2 = "p=tls-server-end-point,,";
        assert!(run(gs2, &ours, MECHANISM_PLUS).is_ok());
        // A proxy terminating TLS with its own certificate.
        assert!(matches!(
            run(gs2, &[2u8; 32], MECHANISM_PLUS),
            Err(ScramError::Malformed(m)) if m.contains("channel binding check failed")
        ));
        // Downgrade: over TLS the server offered -PLUS.
        assert!(matches!(
            run("y,,", &[], MECHANISM),
            Err(ScramError::Malformed(m)) if m.contains("negotiation")
        ));
        // Not binding by choice is allowed.
        assert!(run("n,,", &[], MECHANISM).is_ok());
        // -PLUS with a flag that does not bind, or without TLS.
        assert!(run("n,,", &[], MECHANISM_PLUS).is_err());
        assert!(ScramServer::new(&verifier, MECHANISM_PLUS, None, [0; 18]).is_err());
        // A wrong password with binding is a wrong password.
        let mut server = ScramServer::new(&verifier, MECHANISM_PLUS, Some(&ours), [5; 18]).unwrap();
        let first = server
            .client_first(format!("{gs2}{bare}").as_bytes())
            .unwrap();
        assert_eq!(
            server.client_final(client_final("pencil!", gs2, &ours, bare, &first).as_bytes()),
            Err(ScramError::WrongPassword)
        );
    }
}
