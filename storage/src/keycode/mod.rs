//! Order-preserving key encoding (keycode), after toydb's.
//!
//! `serialize(a) < serialize(b)` (bytewise) exactly when `a < b`, for the
//! types below and for tuples, structs and enums built from them, so RocksDB's
//! byte order is the order of our keys and range scans over encoded keys are
//! range scans over values.
//!
//! | type | encoding |
//! |---|---|
//! | `bool` | `0x00` / `0x01` |
//! | `u8`…`u128` | big-endian, fixed width |
//! | `i8`…`i128` | big-endian with the sign bit flipped |
//! | `f32`/`f64` | big-endian bits; positives: sign bit flipped; negatives: all bits flipped |
//! | `char` | as `u32` |
//! | `str`, bytes | `0x00` escaped as `0x00 0xff`, terminated by `0x00 0x00` |
//! | `Option<T>` | `None` = `0x00`; `Some(v)` = `0x01` then `v` (NULL sorts first) |
//! | enum variant | variant index as one byte, then its fields |
//! | tuple, struct | fields in order, no separators (each field is self-delimiting) |
//! | sequence | elements in order, no length: only valid as the *last* field |
//!
//! Floats: `-inf < negatives < -0.0 < +0.0 < positives < +inf < NaN`
//! (positive NaNs). `-0.0` and `+0.0` encode differently; callers that want them
//! equal must normalise first.
//!
//! Not supported (errors, never panics): maps, `deserialize_any`, enums with
//! more than 256 variants. Byte strings must be serialised with
//! `serialize_bytes` (e.g. `serde_bytes`), not as a sequence of `u8`.

mod bytes;
mod de;
mod error;
mod range;
mod ser;
#[cfg(test)]
mod tests;

pub use bytes::{decode_bytes, encode_bytes};
pub use de::deserialize;
pub use error::{KeycodeError, Result};
pub use range::{key_after, prefix_end, prefix_range, resume_after};
pub use ser::serialize;
