//! Passwords as the catalog keeps them: SCRAM-SHA-256 verifiers (RFC 5802,
//! RFC 7677), in PostgreSQL's text form, so a password never has to be
//! stored and `ALTER ROLE … PASSWORD 'SCRAM-SHA-256$…'` (what psql's
//! `\password` sends) sets one without the node ever seeing it.
//!
//! ```text
//!   SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>     (base64)
//!   SaltedPassword = PBKDF2-HMAC-SHA-256(SASLprep(password), salt, i)
//!   StoredKey = H(HMAC(SaltedPassword, "Client Key"))
//!   ServerKey = HMAC(SaltedPassword, "Server Key")
//! ```
//!
//! The PostgreSQL port runs the SCRAM exchange against a verifier; the
//! gRPC SQL service, whose link is TLS, checks a password given in the
//! clear against it ([`ScramVerifier::matches`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::error::{Result, SqlError};

/// PBKDF2 iterations (PostgreSQL's default `scram_iterations`).
pub const ITERATIONS: u32 = 4096;

/// The text form's prefix.
const PREFIX: &str = "SCRAM-SHA-256$";

/// HMAC-SHA-256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // INVARIANT: HMAC takes keys of any length, so this never fails.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// True when `a == b`, in time that depends on their lengths only.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// PBKDF2-HMAC-SHA-256 with one output block (32 bytes): `Hi()` of RFC 5802.
pub fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac_sha256(password, &first);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac_sha256(password, &u);
        for (o, x) in out.iter_mut().zip(u) {
            *o ^= x;
        }
    }
    out
}

/// The password as SCRAM hashes it: SASLprep-normalised (RFC 4013), or as
/// given when it is not valid for SASLprep — as PostgreSQL does, so the
/// two agree on every password.
fn prepared(password: &str) -> Vec<u8> {
    match stringprep::saslprep(password) {
        Ok(p) => p.as_bytes().to_vec(),
        Err(_) => password.as_bytes().to_vec(),
    }
}

/// What the catalog keeps of a password (RFC 5802 §3).
#[derive(Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    /// The salt.
    pub salt: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// `H(ClientKey)`: a client proves it knows `ClientKey`.
    pub stored_key: [u8; 32],
    /// Signs the server's final message.
    pub server_key: [u8; 32],
}

impl std::fmt::Debug for ScramVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScramVerifier(…)")
    }
}

impl ScramVerifier {
    /// The verifier of `password` with `salt` and `iterations`.
    pub fn new(password: &str, salt: &[u8], iterations: u32) -> Self {
        let salted = salted_password(&prepared(password), salt, iterations);
        Self {
            salt: salt.to_vec(),
            iterations,
            stored_key: sha256(&hmac_sha256(&salted, b"Client Key")),
            server_key: hmac_sha256(&salted, b"Server Key"),
        }
    }

    /// The verifier of `password` with a fresh random salt.
    pub fn generate(password: &str) -> Self {
        let salt: [u8; 16] = rand::random();
        Self::new(password, &salt, ITERATIONS)
    }

    /// A verifier no password matches, the same for the same `user` and
    /// `secret`: what a login for a user that does not exist (or has no
    /// password) is checked against, so that it fails exactly as a wrong
    /// password does — same messages, same salt each time, same work.
    pub fn unmatchable(user: &str, secret: &[u8; 32]) -> Self {
        let salt = hmac_sha256(secret, user.as_bytes());
        Self {
            salt: salt[..16].to_vec(),
            iterations: ITERATIONS,
            stored_key: hmac_sha256(secret, &[b"stored:", user.as_bytes()].concat()),
            server_key: hmac_sha256(secret, &[b"server:", user.as_bytes()].concat()),
        }
    }

    /// PostgreSQL's text form.
    pub fn to_text(&self) -> String {
        format!(
            "{PREFIX}{}:{}${}:{}",
            self.iterations,
            BASE64.encode(&self.salt),
            BASE64.encode(self.stored_key),
            BASE64.encode(self.server_key)
        )
    }

    /// Parses the text form; `None` when `text` is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix(PREFIX)?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        let iterations: u32 = iterations.parse().ok().filter(|&i| i > 0)?;
        let salt = BASE64.decode(salt).ok().filter(|s| !s.is_empty())?;
        let stored_key = BASE64.decode(stored).ok()?.try_into().ok()?;
        let server_key = BASE64.decode(server).ok()?.try_into().ok()?;
        Some(Self {
            salt,
            iterations,
            stored_key,
            server_key,
        })
    }

    /// The verifier a `PASSWORD '…'` clause sets: the text form as given
    /// (a client that hashed the password itself), else the password's.
    /// Refuses an empty password, as PostgreSQL does not store one either.
    pub fn from_clause(given: &str) -> Result<Self> {
        if given.starts_with(PREFIX) {
            return Self::parse(given).ok_or_else(|| {
                SqlError::invalid_parameter("malformed SCRAM-SHA-256 password verifier")
            });
        }
        if given.is_empty() {
            return Err(SqlError::invalid_parameter("empty password"));
        }
        Ok(Self::generate(given))
    }

    /// True when `password` is this verifier's (a cleartext check, for a
    /// link that is already encrypted). Costs the PBKDF2 iterations.
    pub fn matches(&self, password: &str) -> bool {
        let salted = salted_password(&prepared(password), &self.salt, self.iterations);
        let stored = sha256(&hmac_sha256(&salted, b"Client Key"));
        constant_time_eq(&stored, &self.stored_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_checks_the_password() {
        let v = ScramVerifier::new("pencil", b"0123456789abcdef", 4096);
        let text = v.to_text();
        assert!(text.starts_with("SCRAM-SHA-256$4096:"));
        let back = ScramVerifier::parse(&text).unwrap();
        assert_eq!(back, v);
        assert!(back.matches("pencil"));
        assert!(!back.matches("pencil "));
        assert!(ScramVerifier::parse("SCRAM-SHA-256$0:AA==$AA==:AA==").is_none());
        assert!(ScramVerifier::parse("md5abc").is_none());
        assert!(ScramVerifier::from_clause("SCRAM-SHA-256$garbage").is_err());
        assert!(ScramVerifier::from_clause("").is_err());
        assert_eq!(ScramVerifier::from_clause(&text).unwrap(), v);
    }

    /// SASLprep maps non-ASCII spaces to a space and removes soft hyphens,
    /// so these are one password (as PostgreSQL hashes them).
    #[test]
    fn passwords_are_saslprep_normalised() {
        let salt = b"saltsaltsaltsalt";
        let plain = ScramVerifier::new("I X", salt, 16);
        assert_eq!(ScramVerifier::new("I\u{00AD}X", salt, 16).stored_key, {
            ScramVerifier::new("IX", salt, 16).stored_key
        });
        assert_eq!(ScramVerifier::new("I\u{2000}X", salt, 16), plain);
        // Not valid for SASLprep (a prohibited control character): hashed
        // as given rather than refused.
        assert!(ScramVerifier::new("a\u{0007}b", salt, 16).matches("a\u{0007}b"));
    }

    #[test]
    fn an_unmatchable_verifier_is_stable_per_user_and_matches_nothing() {
        let secret = [7u8; 32];
        let a = ScramVerifier::unmatchable("alice", &secret);
        assert_eq!(a, ScramVerifier::unmatchable("alice", &secret));
        assert_ne!(a.salt, ScramVerifier::unmatchable("bob", &secret).salt);
        assert!(!a.matches(""));
        assert!(!a.matches("alice"));
    }
}
