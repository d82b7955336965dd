//! Key ranges: what a tablet owns, what a scan or a range lock covers.

use std::fmt;
use std::ops::Bound;

use serde::{Deserialize, Serialize};
use spanlite_storage::engine::ScanRange;
use spanlite_storage::mvcc::encode_intent_key;

/// A half-open range of user keys `[start, end)`; an empty `end` means the
/// end of the keyspace.
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyRange {
    /// Inclusive lower bound (empty: the start of the keyspace).
    pub start: Vec<u8>,
    /// Exclusive upper bound (empty: the end of the keyspace).
    pub end: Vec<u8>,
}

impl KeyRange {
    /// The whole keyspace.
    pub fn all() -> Self {
        Self::default()
    }

    /// `[start, end)`.
    pub fn new(start: impl Into<Vec<u8>>, end: impl Into<Vec<u8>>) -> Self {
        Self {
            start: start.into(),
            end: end.into(),
        }
    }

    /// True when `key` lies in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && (self.end.is_empty() || key < self.end.as_slice())
    }

    /// True when `key` may split the range: strictly inside it.
    pub fn can_split_at(&self, key: &[u8]) -> bool {
        key > self.start.as_slice() && self.contains(key)
    }

    /// The range of the MVCC column families (`versions`, `intents`) that
    /// holds exactly the data of this range of user keys. Their keys begin
    /// with the escaped user key, which keeps order and is prefix-free.
    pub fn storage_range(&self) -> ScanRange {
        let start = if self.start.is_empty() {
            Bound::Unbounded
        } else {
            Bound::Included(encode_intent_key(&self.start))
        };
        let end = if self.end.is_empty() {
            Bound::Unbounded
        } else {
            Bound::Excluded(encode_intent_key(&self.end))
        };
        ScanRange::new(start, end)
    }
}

impl fmt::Debug for KeyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for KeyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |k: &[u8], f: &mut fmt::Formatter<'_>| -> fmt::Result {
            for &b in k {
                if b.is_ascii_graphic() {
                    write!(f, "{}", b as char)?;
                } else {
                    write!(f, "\\x{b:02x}")?;
                }
            }
            Ok(())
        };
        write!(f, "[")?;
        if self.start.is_empty() {
            write!(f, "-∞")?;
        } else {
            show(&self.start, f)?;
        }
        write!(f, ", ")?;
        if self.end.is_empty() {
            write!(f, "+∞")?;
        } else {
            show(&self.end, f)?;
        }
        write!(f, ")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_end_means_unbounded() {
        let r = KeyRange::new(b"b".to_vec(), Vec::new());
        assert!(!r.contains(b"a"));
        assert!(r.contains(b"b"));
        assert!(r.contains(b"zzzz"));
        assert!(KeyRange::all().contains(b""));
    }

    #[test]
    fn split_key_must_be_strictly_inside() {
        let r = KeyRange::new(b"b".to_vec(), b"d".to_vec());
        assert!(!r.can_split_at(b"b"));
        assert!(r.can_split_at(b"c"));
        assert!(!r.can_split_at(b"d"));
    }

    #[test]
    fn storage_range_holds_exactly_the_user_keys_versions() {
        use spanlite_storage::mvcc::encode_version_key;
        use spanlite_truetime::Timestamp;
        let r = KeyRange::new(b"b".to_vec(), b"d".to_vec());
        let s = r.storage_range();
        for (key, inside) in [
            (&b"a"[..], false),
            (b"b", true),
            (b"b\x00", true),
            (b"c\xff", true),
            (b"d", false),
            (b"d\x00", false),
        ] {
            for ts in [0, 1, u64::MAX] {
                let vk = encode_version_key(key, Timestamp::from_nanos(ts));
                assert_eq!(s.contains(&vk), inside, "{key:?}@{ts}");
            }
            assert_eq!(s.contains(&encode_intent_key(key)), inside);
        }
    }
}
