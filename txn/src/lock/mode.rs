//! Lock modes and their compatibility matrix.

use std::fmt;

/// How a transaction holds a lock.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum LockMode {
    /// Readers: many transactions may hold it together.
    Shared,
    /// A writer (or `SELECT … FOR UPDATE`): one transaction alone.
    Exclusive,
}

impl LockMode {
    /// The compatibility matrix (STYLE #9): may a lock in `self` be held by
    /// one transaction while another holds `other` on the same target?
    ///
    /// ```text
    ///                 held: Shared   Exclusive
    ///   asked Shared         yes      no
    ///   asked Exclusive      no       no
    /// ```
    ///
    /// A shared *range* lock (a scan) counts as `Shared` on every key inside
    /// the range, so a writer of such a key waits (no phantoms).
    pub fn compatible_with(self, other: LockMode) -> bool {
        matches!((self, other), (LockMode::Shared, LockMode::Shared))
    }

    /// True when holding `self` already gives what `wanted` asks for.
    pub fn covers(self, wanted: LockMode) -> bool {
        self >= wanted
    }
}

impl fmt::Display for LockMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LockMode::Shared => "shared",
            LockMode::Exclusive => "exclusive",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::LockMode::{Exclusive, Shared};

    #[test]
    fn shared_is_compatible_with_shared() {
        assert!(Shared.compatible_with(Shared));
    }

    #[test]
    fn shared_is_not_compatible_with_exclusive() {
        assert!(!Shared.compatible_with(Exclusive));
    }

    #[test]
    fn exclusive_is_not_compatible_with_shared() {
        assert!(!Exclusive.compatible_with(Shared));
    }

    #[test]
    fn exclusive_is_not_compatible_with_exclusive() {
        assert!(!Exclusive.compatible_with(Exclusive));
    }

    #[test]
    fn exclusive_covers_shared_but_not_the_reverse() {
        assert!(Exclusive.covers(Shared) && Exclusive.covers(Exclusive));
        assert!(Shared.covers(Shared) && !Shared.covers(Exclusive));
    }
}
