//! Functions of bytes: `encode`/`decode` (hex, base64, escape), the SHA-2
//! digests, `to_hex`, `convert_to`/`convert_from` — with PostgreSQL's
//! output and its errors.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::Digest;

use crate::error::{Result, SqlError};
use crate::plan::Func;
use crate::value::{Value, parse_bytea};

/// PostgreSQL's base64 output breaks its lines after this many characters.
const BASE64_LINE: usize = 76;

/// `f` of `values` (no NULLs) when it is one of these functions over
/// arguments it takes; `None` otherwise.
pub(super) fn function(f: Func, values: &[Value]) -> Result<Option<Value>> {
    Ok(Some(match (f, values) {
        (Func::Encode, [Value::Bytes(b), Value::Text(format)]) => Value::Text(encode(b, format)?),
        (Func::Encode, [Value::Text(t), Value::Text(format)]) => {
            Value::Text(encode(&parse_bytea(t)?, format)?)
        }
        (Func::Decode, [Value::Text(t), Value::Text(format)]) => Value::Bytes(decode(t, format)?),
        (Func::Sha224 | Func::Sha256 | Func::Sha384 | Func::Sha512, [v]) => {
            let owned;
            let bytes: &[u8] = match v {
                Value::Bytes(b) => b,
                // An untyped literal, read as bytea.
                Value::Text(t) => {
                    owned = parse_bytea(t)?;
                    &owned
                }
                _ => return Ok(None),
            };
            Value::Bytes(match f {
                Func::Sha224 => sha2::Sha224::digest(bytes).to_vec(),
                Func::Sha256 => sha2::Sha256::digest(bytes).to_vec(),
                Func::Sha384 => sha2::Sha384::digest(bytes).to_vec(),
                _ => sha2::Sha512::digest(bytes).to_vec(),
            })
        }
        // An integer's two's complement: of 32 bits when it fits an
        // INTEGER (PostgreSQL's to_hex(int4)), else of 64.
        (Func::ToHex, [Value::Int(i)]) => Value::Text(match i32::try_from(*i) {
            Ok(small) => format!("{:x}", small as u32),
            Err(_) => format!("{:x}", *i as u64),
        }),
        (Func::ConvertTo, [Value::Text(t), Value::Text(encoding)]) => {
            Value::Bytes(convert_to(t, encoding)?)
        }
        (Func::ConvertFrom, [Value::Bytes(b), Value::Text(encoding)]) => {
            Value::Text(convert_from(b, encoding)?)
        }
        (Func::ConvertFrom, [Value::Text(t), Value::Text(encoding)]) => {
            Value::Text(convert_from(&parse_bytea(t)?, encoding)?)
        }
        _ => return Ok(None),
    }))
}

fn unrecognized(format: &str) -> SqlError {
    SqlError::invalid_parameter(format!("unrecognized encoding: \"{format}\""))
}

/// `encode(bytes, format)`.
fn encode(bytes: &[u8], format: &str) -> Result<String> {
    Ok(match format.to_ascii_lowercase().as_str() {
        "hex" => bytes.iter().map(|b| format!("{b:02x}")).collect(),
        "base64" => {
            let flat = BASE64.encode(bytes);
            let mut out = String::with_capacity(flat.len() + flat.len() / BASE64_LINE);
            for (i, c) in flat.chars().enumerate() {
                if i > 0 && i % BASE64_LINE == 0 {
                    out.push('\n');
                }
                out.push(c);
            }
            out
        }
        // As PostgreSQL's esc_encode: zero and high bytes in octal, a
        // backslash doubled, every other byte itself.
        "escape" => {
            let mut out = String::with_capacity(bytes.len());
            for &b in bytes {
                match b {
                    0 | 0x80..=0xff => out.push_str(&format!("\\{b:03o}")),
                    b'\\' => out.push_str("\\\\"),
                    _ => out.push(char::from(b)),
                }
            }
            out
        }
        _ => return Err(unrecognized(format)),
    })
}

/// `decode(text, format)`.
fn decode(text: &str, format: &str) -> Result<Vec<u8>> {
    match format.to_ascii_lowercase().as_str() {
        "hex" => {
            let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
            if let Some(bad) = digits.iter().find(|d| !d.is_ascii_hexdigit()) {
                return Err(SqlError::invalid_parameter(format!(
                    "invalid hexadecimal digit: \"{}\"",
                    char::from(*bad)
                )));
            }
            if !digits.len().is_multiple_of(2) {
                return Err(SqlError::invalid_parameter(
                    "invalid hexadecimal data: odd number of digits",
                ));
            }
            Ok(digits
                .chunks(2)
                .map(|pair| (hex_value(pair[0]) << 4) | hex_value(pair[1]))
                .collect())
        }
        "base64" => {
            let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            if let Some(bad) = compact
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')))
            {
                return Err(SqlError::invalid_parameter(format!(
                    "invalid symbol \"{bad}\" found while decoding base64 sequence"
                )));
            }
            BASE64
                .decode(compact.as_bytes())
                .map_err(|_| SqlError::invalid_parameter("invalid base64 end sequence"))
        }
        "escape" => parse_bytea(text)
            .map_err(|_| SqlError::invalid_text("invalid input syntax for type bytea")),
        _ => Err(unrecognized(format)),
    }
}

/// The value of one hexadecimal digit (checked before).
fn hex_value(d: u8) -> u8 {
    char::from(d)
        .to_digit(16)
        .and_then(|v| u8::try_from(v).ok())
        .unwrap_or(0)
}

/// The encodings `convert_to` and `convert_from` know, by PostgreSQL's
/// names (case and punctuation ignored).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Utf8,
    Latin1,
    SqlAscii,
}

fn encoding(name: &str, role: &str) -> Result<Encoding> {
    let key: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Ok(match key.as_str() {
        "utf8" | "unicode" => Encoding::Utf8,
        "latin1" | "iso88591" => Encoding::Latin1,
        "sqlascii" => Encoding::SqlAscii,
        _ => {
            return Err(SqlError::invalid_parameter(format!(
                "invalid {role} encoding name \"{name}\""
            )));
        }
    })
}

/// `convert_to(text, encoding)`.
fn convert_to(text: &str, name: &str) -> Result<Vec<u8>> {
    match encoding(name, "destination")? {
        Encoding::Utf8 | Encoding::SqlAscii => Ok(text.as_bytes().to_vec()),
        Encoding::Latin1 => text
            .chars()
            .map(|c| {
                u8::try_from(u32::from(c)).map_err(|_| {
                    let mut buf = [0u8; 4];
                    let shown: Vec<String> = c
                        .encode_utf8(&mut buf)
                        .bytes()
                        .map(|b| format!("0x{b:02x}"))
                        .collect();
                    SqlError::untranslatable_character(format!(
                        "character with byte sequence {} in encoding \"UTF8\" has no equivalent in encoding \"LATIN1\"",
                        shown.join(" ")
                    ))
                })
            })
            .collect(),
    }
}

/// `convert_from(bytes, encoding)`.
fn convert_from(bytes: &[u8], name: &str) -> Result<String> {
    match encoding(name, "source")? {
        Encoding::Latin1 => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
        Encoding::Utf8 | Encoding::SqlAscii => match std::str::from_utf8(bytes) {
            Ok(s) if !s.contains('\0') => Ok(s.to_string()),
            Ok(_) => Err(SqlError::character_not_in_repertoire(
                "invalid byte sequence for encoding \"UTF8\": 0x00",
            )),
            Err(e) => {
                let at = e.valid_up_to();
                let len = e.error_len().unwrap_or(bytes.len() - at).max(1);
                let shown: Vec<String> = bytes[at..(at + len).min(bytes.len())]
                    .iter()
                    .map(|b| format!("0x{b:02x}"))
                    .collect();
                Err(SqlError::character_not_in_repertoire(format!(
                    "invalid byte sequence for encoding \"UTF8\": {}",
                    shown.join(" ")
                )))
            }
        },
    }
}
