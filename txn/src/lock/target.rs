//! What a lock covers: one key, or a range of keys (a scan).

/// A locked key or key range.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum LockTarget {
    /// One key.
    Key(Vec<u8>),
    /// Keys in `[start, end)`; an empty `end` means the end of the keyspace.
    /// Only shared range locks are taken (scans).
    Range {
        /// Inclusive start.
        start: Vec<u8>,
        /// Exclusive end (empty: unbounded).
        end: Vec<u8>,
    },
}

impl LockTarget {
    /// A key target.
    pub fn key(key: impl Into<Vec<u8>>) -> Self {
        LockTarget::Key(key.into())
    }

    /// A range target `[start, end)`.
    pub fn range(start: impl Into<Vec<u8>>, end: impl Into<Vec<u8>>) -> Self {
        LockTarget::Range {
            start: start.into(),
            end: end.into(),
        }
    }

    fn contains(start: &[u8], end: &[u8], key: &[u8]) -> bool {
        key >= start && (end.is_empty() || key < end)
    }

    /// True when the two targets share at least one key.
    pub fn overlaps(&self, other: &LockTarget) -> bool {
        use LockTarget::{Key, Range};
        match (self, other) {
            (Key(a), Key(b)) => a == b,
            (Key(k), Range { start, end }) | (Range { start, end }, Key(k)) => {
                Self::contains(start, end, k)
            }
            (Range { start: s1, end: e1 }, Range { start: s2, end: e2 }) => {
                let first_ends_before = !e1.is_empty() && e1.as_slice() <= s2.as_slice();
                let second_ends_before = !e2.is_empty() && e2.as_slice() <= s1.as_slice();
                !(first_ends_before || second_ends_before)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LockTarget;

    #[test]
    fn keys_overlap_only_themselves_and_ranges_that_hold_them() {
        let k = LockTarget::key(b"m".to_vec());
        assert!(k.overlaps(&LockTarget::key(b"m".to_vec())));
        assert!(!k.overlaps(&LockTarget::key(b"n".to_vec())));
        assert!(k.overlaps(&LockTarget::range(b"a".to_vec(), b"z".to_vec())));
        assert!(
            !k.overlaps(&LockTarget::range(b"a".to_vec(), b"m".to_vec())),
            "end is exclusive"
        );
        assert!(
            k.overlaps(&LockTarget::range(b"m".to_vec(), Vec::new())),
            "empty end is unbounded"
        );
    }

    #[test]
    fn ranges_overlap_unless_one_ends_before_the_other_starts() {
        let r = |s: &[u8], e: &[u8]| LockTarget::range(s.to_vec(), e.to_vec());
        assert!(r(b"a", b"m").overlaps(&r(b"l", b"z")));
        assert!(!r(b"a", b"m").overlaps(&r(b"m", b"z")));
        assert!(r(b"a", b"").overlaps(&r(b"x", b"y")));
        assert!(r(b"", b"").overlaps(&r(b"q", b"")));
    }
}
