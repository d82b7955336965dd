//! Helpers shared by the storage crash tests.

use std::fs;
use std::path::{Path, PathBuf};

use spanlite_storage::wal::Lsn;

/// The WAL segment files in `dir` with their first LSNs, in LSN order.
pub fn segments(dir: &Path) -> Vec<(Lsn, PathBuf)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .map(|p| {
            (
                p.file_stem()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap(),
                p,
            )
        })
        .collect();
    v.sort();
    v
}
