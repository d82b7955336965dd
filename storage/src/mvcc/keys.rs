//! Key layouts of the MVCC column families.
//!
//! | family   | key                                      |
//! |----------|------------------------------------------|
//! | versions | `escaped(user_key) ++ (!commit_ts as u64 BE)` |
//! | intents  | `escaped(user_key)`                      |
//!
//! `escaped` is keycode's byte-string form (0x00 → 0x00 0xff, then 0x00 0x00),
//! which keeps user-key order and is prefix-free, so one user key's versions
//! are contiguous and never interleave with another key's. Storing `!ts`
//! makes the newest version of a key sort first.

use spanlite_truetime::Timestamp;

use crate::engine::Cf;
use crate::error::{Result, StorageError};
use crate::keycode;

/// The `versions` key of `user_key` at `ts`.
pub fn encode_version_key(user_key: &[u8], ts: Timestamp) -> Vec<u8> {
    let mut out = Vec::with_capacity(user_key.len() + 10);
    keycode::encode_bytes(&mut out, user_key);
    out.extend_from_slice(&(!ts.as_nanos()).to_be_bytes());
    out
}

/// Splits a `versions` key into user key and commit timestamp.
pub fn decode_version_key(key: &[u8]) -> Result<(Vec<u8>, Timestamp)> {
    let corrupt = |reason: String| StorageError::Corrupt {
        what: "version key",
        cf: Cf::Versions.name(),
        reason,
    };
    let (user_key, used) = keycode::decode_bytes(key).map_err(|e| corrupt(e.to_string()))?;
    let ts: [u8; 8] = key[used..].try_into().map_err(|_| {
        corrupt(format!(
            "expected 8 timestamp bytes, found {}",
            key.len() - used
        ))
    })?;
    Ok((user_key, Timestamp::from_nanos(!u64::from_be_bytes(ts))))
}

/// The commit timestamp of a `versions` key (its last 8 bytes).
pub(crate) fn version_key_ts(key: &[u8]) -> Result<Timestamp> {
    let ts: [u8; 8] = key
        .len()
        .checked_sub(8)
        .and_then(|at| key[at..].try_into().ok())
        .ok_or_else(|| StorageError::Corrupt {
            what: "version key",
            cf: Cf::Versions.name(),
            reason: format!("{} bytes, fewer than a timestamp", key.len()),
        })?;
    Ok(Timestamp::from_nanos(!u64::from_be_bytes(ts)))
}

/// The `intents` key of `user_key`; also the prefix of all its versions.
pub fn encode_intent_key(user_key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(user_key.len() + 2);
    keycode::encode_bytes(&mut out, user_key);
    out
}

/// The largest `versions` key of `user_key` (its version at timestamp 0).
pub(crate) fn last_version_key(user_key: &[u8]) -> Vec<u8> {
    let mut out = encode_intent_key(user_key);
    out.extend_from_slice(&[0xff; 8]);
    out
}
