//! The escaped, terminated byte-string form used for strings and bytes.
//!
//! `0x00` becomes `0x00 0xff`; the string ends with `0x00 0x00`. Every other
//! byte is itself. Order is preserved (a shorter prefix ends with `0x00 0x00`,
//! below any continuation) and the form is prefix-free, so it can be followed
//! by more fields.

use super::error::{KeycodeError, Result};

/// Appends the escaped, terminated form of `bytes` to `out`.
pub fn encode_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 2);
    for &b in bytes {
        if b == 0x00 {
            out.extend_from_slice(&[0x00, 0xff]);
        } else {
            out.push(b);
        }
    }
    out.extend_from_slice(&[0x00, 0x00]);
}

/// Decodes an escaped, terminated byte string at the start of `input`;
/// returns the bytes and how many input bytes they used.
pub fn decode_bytes(input: &[u8]) -> Result<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        match input.get(i) {
            None => return Err(KeycodeError::Eof),
            Some(0x00) => match input.get(i + 1) {
                Some(0x00) => return Ok((out, i + 2)),
                Some(0xff) => {
                    out.push(0x00);
                    i += 2;
                }
                Some(b) => {
                    return Err(KeycodeError::Invalid {
                        offset: i + 1,
                        reason: format!("0x00 followed by {b:#04x} (expected 0x00 or 0xff)"),
                    });
                }
                None => return Err(KeycodeError::Eof),
            },
            Some(&b) => {
                out.push(b);
                i += 1;
            }
        }
    }
}
