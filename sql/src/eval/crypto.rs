//! The functions of the extensions Spanlite has built in (see
//! `statement::extensions`): uuid-ossp's UUIDs, and pgcrypto's digests,
//! HMACs, random bytes and Blowfish password hashes — PostgreSQL's
//! results and errors.

use base64::Engine;
use base64::engine::general_purpose::GeneralPurpose;
use hmac::{KeyInit, Mac};
use sha2::Digest;

use crate::error::{Result, SqlError};
use crate::plan::Func;
use crate::value::Value;

/// uuid-ossp's namespaces (RFC 4122, appendix C).
const NS_DNS: [u8; 16] = ns(0x10);
const NS_URL: [u8; 16] = ns(0x11);
const NS_OID: [u8; 16] = ns(0x12);
const NS_X500: [u8; 16] = ns(0x14);

/// `6ba7b8XX-9dad-11d1-80b4-00c04fd430c8`.
const fn ns(x: u8) -> [u8; 16] {
    [
        0x6b, 0xa7, 0xb8, x, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8,
    ]
}

/// pgcrypto's limit on `gen_random_bytes`.
const MAX_RANDOM_BYTES: i64 = 1024;

/// Blowfish cost `gen_salt('bf')` uses, and the range it takes.
const BF_DEFAULT_COST: i64 = 6;
const BF_COSTS: std::ops::RangeInclusive<i64> = 4..=31;

/// `f` of `values` (no NULLs) when it is one of these functions over
/// arguments it takes; `None` otherwise.
pub(super) fn function(f: Func, values: &[Value]) -> Result<Option<Value>> {
    Ok(Some(match (f, values) {
        (Func::UuidGenerateV1 | Func::UuidGenerateV1mc, []) => Value::Uuid(time_uuid()),
        (
            Func::UuidGenerateV3 | Func::UuidGenerateV5,
            [Value::Uuid(namespace), Value::Text(name)],
        ) => {
            let mut data = namespace.to_vec();
            data.extend_from_slice(name.as_bytes());
            let (digest, version) = if f == Func::UuidGenerateV3 {
                (md5::Md5::digest(&data).to_vec(), 0x30)
            } else {
                (sha1::Sha1::digest(&data).to_vec(), 0x50)
            };
            let mut u = [0u8; 16];
            u.copy_from_slice(&digest[..16]);
            u[6] = (u[6] & 0x0f) | version;
            u[8] = (u[8] & 0x3f) | 0x80;
            Value::Uuid(u)
        }
        (Func::UuidGenerateV3 | Func::UuidGenerateV5, [Value::Text(namespace), name]) => {
            let namespace = Value::Uuid(crate::value::parse_uuid(namespace)?);
            return function(f, &[namespace, name.clone()]);
        }
        (Func::UuidNil, []) => Value::Uuid([0; 16]),
        (Func::UuidNsDns, []) => Value::Uuid(NS_DNS),
        (Func::UuidNsUrl, []) => Value::Uuid(NS_URL),
        (Func::UuidNsOid, []) => Value::Uuid(NS_OID),
        (Func::UuidNsX500, []) => Value::Uuid(NS_X500),
        (Func::Digest, [data, Value::Text(kind)]) => Value::Bytes(digest(&bytes_of(data)?, kind)?),
        (Func::Hmac, [data, key, Value::Text(kind)]) => {
            Value::Bytes(hmac(&bytes_of(data)?, &bytes_of(key)?, kind)?)
        }
        (Func::GenRandomBytes, [Value::Int(n)]) => {
            if !(1..=MAX_RANDOM_BYTES).contains(n) {
                return Err(SqlError::external_routine(format!(
                    "Length not in range: {n} (gen_random_bytes takes 1 to {MAX_RANDOM_BYTES})"
                )));
            }
            Value::Bytes((0..*n).map(|_| rand::random::<u8>()).collect())
        }
        (Func::GenSalt, [Value::Text(kind), rest @ ..]) => {
            let cost = match rest {
                [] => None,
                [Value::Int(c)] => Some(*c),
                _ => return Ok(None),
            };
            Value::Text(gen_salt(kind, cost)?)
        }
        (Func::Crypt, [Value::Text(password), Value::Text(salt)]) => {
            Value::Text(crypt(password, salt)?)
        }
        _ => return Ok(None),
    }))
}

/// A value's bytes: bytea as it is, text as its UTF-8 (pgcrypto takes
/// both).
fn bytes_of(v: &Value) -> Result<Vec<u8>> {
    match v {
        Value::Bytes(b) => Ok(b.clone()),
        Value::Text(t) => Ok(t.as_bytes().to_vec()),
        other => Err(SqlError::undefined_function(format!(
            "function of {} does not exist (pgcrypto takes text or bytea)",
            other
                .data_type()
                .map_or("unknown".into(), |t| t.to_string())
        ))),
    }
}

fn unknown_algorithm(kind: &str) -> SqlError {
    SqlError::invalid_parameter(format!("Cannot use \"{kind}\": No such hash algorithm"))
}

/// pgcrypto's `digest(data, type)`.
fn digest(data: &[u8], kind: &str) -> Result<Vec<u8>> {
    Ok(match kind.to_ascii_lowercase().as_str() {
        "md5" => md5::Md5::digest(data).to_vec(),
        "sha1" => sha1::Sha1::digest(data).to_vec(),
        "sha224" => sha2::Sha224::digest(data).to_vec(),
        "sha256" => sha2::Sha256::digest(data).to_vec(),
        "sha384" => sha2::Sha384::digest(data).to_vec(),
        "sha512" => sha2::Sha512::digest(data).to_vec(),
        _ => return Err(unknown_algorithm(kind)),
    })
}

/// pgcrypto's `hmac(data, key, type)`.
fn hmac(data: &[u8], key: &[u8], kind: &str) -> Result<Vec<u8>> {
    fn mac<M: Mac + KeyInit>(data: &[u8], key: &[u8]) -> Result<Vec<u8>> {
        // HMAC takes a key of any length: this never fails.
        let mut m = <M as KeyInit>::new_from_slice(key)
            .map_err(|e| SqlError::internal(format!("hmac key: {e}")))?;
        m.update(data);
        Ok(m.finalize().into_bytes().to_vec())
    }
    match kind.to_ascii_lowercase().as_str() {
        "md5" => mac::<hmac::Hmac<md5::Md5>>(data, key),
        "sha1" => mac::<hmac::Hmac<sha1::Sha1>>(data, key),
        "sha224" => mac::<hmac::Hmac<sha2::Sha224>>(data, key),
        "sha256" => mac::<hmac::Hmac<sha2::Sha256>>(data, key),
        "sha384" => mac::<hmac::Hmac<sha2::Sha384>>(data, key),
        "sha512" => mac::<hmac::Hmac<sha2::Sha512>>(data, key),
        _ => Err(unknown_algorithm(kind)),
    }
}

/// A version 1 UUID: 100-nanosecond intervals since 1582-10-15, a random
/// clock sequence, and a random node id with its multicast bit set (as
/// uuid-ossp's v1mc; this build reads no MAC address for v1).
fn time_uuid() -> [u8; 16] {
    // 1582-10-15 to 1970-01-01, in 100 ns.
    const GREGORIAN: u64 = 0x01B2_1DD2_1381_4000;
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| (d.as_nanos() / 100) as u64);
    let t = since_epoch + GREGORIAN;
    let mut u = [0u8; 16];
    u[0..4].copy_from_slice(&((t & 0xffff_ffff) as u32).to_be_bytes());
    u[4..6].copy_from_slice(&(((t >> 32) & 0xffff) as u16).to_be_bytes());
    u[6..8].copy_from_slice(&((((t >> 48) & 0x0fff) as u16) | 0x1000).to_be_bytes());
    let clock: u16 = rand::random();
    u[8..10].copy_from_slice(&((clock & 0x3fff) | 0x8000).to_be_bytes());
    let node: [u8; 6] = rand::random();
    u[10..16].copy_from_slice(&node);
    u[10] |= 0x01;
    u
}

/// Blowfish's base64 (`./A-Za-z0-9`, no padding).
fn bcrypt_base64() -> GeneralPurpose {
    GeneralPurpose::new(
        &base64::alphabet::BCRYPT,
        base64::engine::general_purpose::NO_PAD,
    )
}

/// `gen_salt(type [, iterations])`: a Blowfish salt (`bf`); the others
/// pgcrypto knows (`md5`, `des`, `xdes`) are 0A000 here.
fn gen_salt(kind: &str, cost: Option<i64>) -> Result<String> {
    match kind.to_ascii_lowercase().as_str() {
        "bf" => {
            let cost = cost.unwrap_or(BF_DEFAULT_COST);
            if !BF_COSTS.contains(&cost) {
                return Err(SqlError::invalid_parameter(format!(
                    "gen_salt: Incorrect number of rounds ({cost})"
                )));
            }
            let salt: [u8; 16] = rand::random();
            Ok(format!("$2a${cost:02}${}", bcrypt_base64().encode(salt)))
        }
        "md5" | "des" | "xdes" => Err(SqlError::not_supported(format!(
            "gen_salt('{kind}'): Spanlite's crypt() has Blowfish ('bf') salts only"
        ))),
        _ => Err(SqlError::invalid_parameter(format!(
            "gen_salt: Unknown salt algorithm \"{kind}\""
        ))),
    }
}

/// `crypt(password, salt)` for a Blowfish salt or hash (`$2a$`, `$2b$`,
/// `$2x$`, `$2y$` and the cost, then 22 characters of salt): the hash, so
/// `crypt(password, stored) = stored` checks a password.
fn crypt(password: &str, salt: &str) -> Result<String> {
    if !salt.starts_with("$2") {
        return Err(SqlError::not_supported(
            "crypt() of a salt other than Blowfish's ('$2a$…': gen_salt('bf'))",
        ));
    }
    let bad = || SqlError::invalid_parameter("invalid salt");
    let mut parts = salt.splitn(4, '$');
    let (Some(""), Some(variant), Some(cost), Some(rest)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let version = match variant {
        "2a" => bcrypt::Version::TwoA,
        "2b" => bcrypt::Version::TwoB,
        "2x" => bcrypt::Version::TwoX,
        "2y" => bcrypt::Version::TwoY,
        _ => return Err(bad()),
    };
    let cost: u32 = cost.parse().map_err(|_| bad())?;
    let salt_text = rest.get(..22).ok_or_else(bad)?;
    let decoded = bcrypt_base64().decode(salt_text).map_err(|_| bad())?;
    let salt: [u8; 16] = decoded
        .get(..16)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(bad)?;
    let hash = bcrypt::hash_with_salt(password.as_bytes(), cost, salt).map_err(|_| bad())?;
    Ok(hash.format_for_version(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn name_based_uuids_are_uuid_ossps() {
        // uuid_generate_v3(uuid_ns_dns(), 'www.example.com') and v5, as
        // PostgreSQL's uuid-ossp gives them.
        let dns = Value::Uuid(NS_DNS);
        let name = Value::Text("www.example.com".into());
        let v3 = function(Func::UuidGenerateV3, &[dns.clone(), name.clone()])
            .unwrap()
            .unwrap();
        assert_eq!(v3.to_string(), "5df41881-3aed-3515-88a7-2f4a814cf09e");
        let v5 = function(Func::UuidGenerateV5, &[dns, name])
            .unwrap()
            .unwrap();
        assert_eq!(v5.to_string(), "2ed6657d-e927-568b-95e1-2665a8aea6a2");
    }

    #[test]
    fn digests_hmacs_and_blowfish_hashes_are_pgcryptos() {
        assert_eq!(
            hex(&digest(b"abc", "sha1").unwrap()),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&hmac(
                b"The quick brown fox jumps over the lazy dog",
                b"key",
                "md5"
            )
            .unwrap()),
            "80070713463e7749b90c2dc24911e275"
        );
        assert_eq!(digest(b"abc", "sha3").unwrap_err().code, "22023");
        let salt = gen_salt("bf", Some(4)).unwrap();
        assert!(salt.starts_with("$2a$04$") && salt.len() == 29, "{salt}");
        let stored = crypt("secret", &salt).unwrap();
        assert_eq!(crypt("secret", &stored).unwrap(), stored);
        assert_ne!(crypt("Secret", &stored).unwrap(), stored);
        assert_eq!(gen_salt("md5", None).unwrap_err().code, "0A000");
        assert_eq!(crypt("x", "nonsense").unwrap_err().code, "0A000");
        assert_eq!(crypt("x", "$2a$06$abc").unwrap_err().code, "22023");
    }
}
