//! How a query's rows are compared with the expected result, beyond the
//! crate's default (rows as space-separated lines, whitespace collapsed,
//! `<slt:ignore>` fragments):
//!
//! - **Hashed results.** An expected result `N values hashing to H` is
//!   compared with the MD5 of the actual values (each followed by `\n`, in
//!   row order after sorting), whatever the file's `hash-threshold`.
//!   SQLite's corpus hashes every result of more than 8 values without
//!   always saying `hash-threshold 8`; files written by hand keep their
//!   results readable.
//! - **One value per line.** SQLite's corpus writes each value of a row on
//!   its own line; that layout is accepted as well as one row per line.
//!
//! ```text
//!   actual rows (sorted)          expected lines            match?
//!   [1, a] [2, b]                 "1 a" "2 b"               yes (row-wise)
//!   [1, a] [2, b]                 "1" "a" "2" "b"           yes (value-wise)
//!   [1, a] [2, b]                 "4 values hashing to …"   if MD5("1\na\n2\nb\n") matches
//! ```

use md5::{Digest, Md5};
use sqllogictest::{Normalizer, default_validator};

/// The runner's validator: see the module documentation.
pub fn validator(normalizer: Normalizer, actual: &[Vec<String>], expected: &[String]) -> bool {
    if let [line] = expected
        && let Some((count, hash)) = hashed(line)
        && !is_hashed(actual)
    {
        return values(actual).count() == count && md5_of(actual) == hash;
    }
    default_validator(normalizer, actual, expected) || value_wise(normalizer, actual, expected)
}

/// `N values hashing to H` as (N, H).
fn hashed(line: &str) -> Option<(usize, &str)> {
    let (count, hash) = line.trim().split_once(" values hashing to ")?;
    let hash = hash.trim();
    if hash.len() == 32 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        Some((count.parse().ok()?, hash))
    } else {
        None
    }
}

/// True when the runner already hashed the rows (past `hash-threshold`).
fn is_hashed(actual: &[Vec<String>]) -> bool {
    matches!(actual, [row] if matches!(row.as_slice(), [v] if hashed(v).is_some()))
}

fn values(actual: &[Vec<String>]) -> impl Iterator<Item = &String> {
    actual.iter().flatten()
}

fn md5_of(actual: &[Vec<String>]) -> String {
    let mut md5 = Md5::new();
    for v in values(actual) {
        md5.update(v.as_bytes());
        md5.update(b"\n");
    }
    md5.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn value_wise(normalizer: Normalizer, actual: &[Vec<String>], expected: &[String]) -> bool {
    let actual: Vec<String> = values(actual).map(normalizer).collect();
    let expected: Vec<String> = expected.iter().map(normalizer).collect();
    actual == expected
}

#[cfg(test)]
mod tests {
    use sqllogictest::default_normalizer;

    use super::*;

    fn rows(rows: &[&[&str]]) -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| r.iter().map(|v| v.to_string()).collect())
            .collect()
    }

    fn lines(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn rows_match_one_row_or_one_value_per_line() {
        let actual = rows(&[&["1", "a b"], &["2", "NULL"]]);
        let check = |expected: &[&str]| validator(default_normalizer, &actual, &lines(expected));
        assert!(check(&["1 a b", "2 NULL"]));
        assert!(check(&["1", "a b", "2", "NULL"]));
        assert!(!check(&["1 a b", "2 x"]));
        assert!(!check(&["1", "a b", "2"]));
    }

    #[test]
    fn hashed_results_compare_the_md5_of_the_values() {
        // MD5("1\n2\n3\n"), as sqllogictest computes it.
        let expected = lines(&["3 values hashing to c0710d6b4f15dfa88f600b0e6b624077"]);
        let actual = rows(&[&["1"], &["2"], &["3"]]);
        assert!(validator(default_normalizer, &actual, &expected));
        let fewer = rows(&[&["1"], &["2"]]);
        assert!(!validator(default_normalizer, &fewer, &expected));
        let other = rows(&[&["1"], &["2"], &["4"]]);
        assert!(!validator(default_normalizer, &other, &expected));
        // Rows the runner hashed itself compare as text.
        assert!(validator(
            default_normalizer,
            &rows(&[&[&expected[0]]]),
            &expected
        ));
    }
}
