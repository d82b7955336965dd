//! Opening the log: lock the directory, check the segment chain, cut a torn
//! tail, start the writer thread.
//!
//! ```text
//!   create dir ─▶ lock dir/LOCK ─▶ list segments ─▶ chain has no gap?
//!        ─▶ scan the last segment (tail.rs) ─▶ torn? set_len + fsync + fsync dir
//!        ─▶ spawn "wal-writer" at the end LSN (zeros after it are kept: the
//!           writer overwrites them, see segment.rs)
//! ```
//!
//! Only the last segment is validated here: older segments were sealed with
//! an fsync before the next one was created. Damage in them is found, as
//! [`WalError::Corruption`] naming segment and offset, by whoever reads them
//! (recovery scans the whole retained log right after open).

use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::PathBuf;

use super::handle::{Shared, spawn_writer};
use super::segment::{self, Segment};
use super::tail::scan_last_segment;
use super::{Lsn, Wal, WalError};

/// Default segment size: 64 MiB.
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;

/// Name of the lock file in the WAL directory.
const LOCK_FILE: &str = "LOCK";

/// Where and how the WAL lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalConfig {
    /// Directory of the segment files (created if missing).
    pub dir: PathBuf,
    /// Target segment size in bytes. A segment is closed when the next record
    /// would not fit; a record larger than this gets a segment of its own.
    pub segment_size: u64,
}

impl WalConfig {
    /// A WAL in `dir` with [`DEFAULT_SEGMENT_SIZE`] segments.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            segment_size: DEFAULT_SEGMENT_SIZE,
        }
    }
}

/// A torn tail found and cut off by [`Wal::open`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The (last) segment it was in.
    pub segment: PathBuf,
    /// Offset of the damaged record within the segment; the file now ends here.
    pub offset: u64,
    /// Bytes removed.
    pub bytes_dropped: u64,
}

/// What [`Wal::open`] found. Log it: it is the first line of recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenReport {
    /// End of the valid log: the LSN the next record will get.
    pub end_lsn: Lsn,
    /// The torn tail that was cut off, if any.
    pub torn_tail: Option<TornTail>,
    /// Segment files in the log.
    pub segments: usize,
}

impl Wal {
    /// Opens (or creates) the log in `config.dir`, cuts a torn tail, and
    /// starts the `wal-writer` thread.
    ///
    /// Errors: [`WalError::Corruption`] if the last segment is damaged before
    /// its tail or the segment chain has a gap (the node must stop);
    /// [`WalError::Locked`] if another `Wal` has the directory open;
    /// [`WalError::Io`] for file-system trouble.
    pub fn open(config: WalConfig) -> Result<(Wal, OpenReport), WalError> {
        let dir = config.dir.clone();
        fs::create_dir_all(&dir).map_err(WalError::io(format!("creating {}", dir.display())))?;
        let lock = lock_dir(&config)?;

        let mut segments = Vec::new();
        for (start, path) in segment::list(&dir)? {
            segments.push(segment::open(start, path)?);
        }
        check_chain(&segments)?;
        if segments.is_empty() {
            let first = segment::create(&dir, 0)
                .and_then(|s| segment::sync_dir(&dir).map(|()| s))
                .map_err(WalError::io(format!(
                    "creating the first segment in {}",
                    dir.display()
                )))?;
            segments.push(first);
        }
        let Some(last) = segments.last().cloned() else {
            return Err(WalError::Io {
                context: format!("opening {}", dir.display()),
                source: std::sync::Arc::new(std::io::Error::other("no segment after creating one")),
            });
        };

        let scan = scan_last_segment(&last)?;
        let torn_tail = match scan.torn_bytes {
            Some(bytes_dropped) => {
                segment::truncate(&dir, &last, scan.valid_len)?;
                tracing::warn!(
                    segment = %last.path.display(),
                    offset = scan.valid_len,
                    bytes_dropped,
                    "WAL: cut off a torn tail"
                );
                Some(TornTail {
                    segment: last.path.clone(),
                    offset: scan.valid_len,
                    bytes_dropped,
                })
            }
            None => None,
        };
        let end_lsn = last.start + scan.valid_len;
        let report = OpenReport {
            end_lsn,
            torn_tail,
            segments: segments.len(),
        };
        // After the records: the zeros written ahead (kept, the writer
        // overwrites them), or nothing.
        let file_len = segment::file_len(&last)?;
        let shared = Shared::new(config, segments, end_lsn, lock);
        let wal = spawn_writer(shared, last, end_lsn, file_len)?;
        Ok((wal, report))
    }
}

/// Takes the directory's advisory lock (held until the WAL is dropped).
fn lock_dir(config: &WalConfig) -> Result<File, WalError> {
    let path = config.dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(WalError::io(format!("opening {}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(WalError::Locked {
            dir: config.dir.clone(),
        }),
        Err(TryLockError::Error(e)) => Err(WalError::io(format!("locking {}", path.display()))(e)),
    }
}

/// Every segment must start where the previous one ends.
fn check_chain(segments: &[Segment]) -> Result<(), WalError> {
    for pair in segments.windows(2) {
        let end = pair[0].start + segment::file_len(&pair[0])?;
        if end != pair[1].start {
            return Err(WalError::Corruption {
                segment: pair[1].path.clone(),
                offset: 0,
                reason: format!(
                    "segment chain broken: {} ends at LSN {end} but the next segment starts at LSN {}",
                    pair[0].path.display(),
                    pair[1].start
                ),
            });
        }
    }
    Ok(())
}
