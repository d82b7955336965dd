//! Ranges of encoded keys.

use std::ops::Bound;

/// The smallest key greater than every key starting with `prefix`, or `None`
/// when there is none (the prefix is empty or all `0xff`).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The least key after `key` (`key` and a zero byte): `[key, key_after(key))`
/// holds `key` alone, and a read cut short after `key` goes on from it.
pub fn key_after(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

/// Where the rest of a scan's range lies after it gave `last`: forwards the
/// rest begins at `key_after(last)`, backwards it ends at `last` (exclusive).
pub fn resume_after(last: &[u8], reverse: bool) -> Vec<u8> {
    if reverse {
        last.to_vec()
    } else {
        key_after(last)
    }
}

/// The range of all keys that start with `prefix`.
pub fn prefix_range(prefix: &[u8]) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let end = match prefix_end(prefix) {
        Some(end) => Bound::Excluded(end),
        None => Bound::Unbounded,
    };
    (Bound::Included(prefix.to_vec()), end)
}
