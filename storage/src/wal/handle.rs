//! The `Wal` handle: append, durability, stats, retention, shutdown.
//!
//! ```text
//!   Wal (Clone) ──┬─ Arc<Shared>: segments, durable LSN, stats, failure ◀─┐
//!                 └─ Arc<Handle>: queue sender ──▶ "wal-writer" thread ───┘
//! ```
//!
//! `Wal` is cheap to clone (two `Arc`s); every clone is the same log. The
//! writer thread stops when the last clone is dropped, after it has written
//! every queued request. [`Wal::close`] stops it for every clone and waits.
//!
//! NB: dropping the last clone (or [`Wal::close`]) blocks until the queue is
//! written, one fsync or so: do it off the async executor if that matters.
//!
//! Locks: `Handle::tx` is taken before `Shared::lazy`; `Shared::segments`
//! is a leaf (nothing else is locked while it is held). The writer thread completes waiters while it
//! holds no lock, so an [`Wal::append_with`] callback may take its caller's
//! locks.

use std::fs::{self, File};
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
#[cfg(test)]
use std::sync::atomic::AtomicU8;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::segment::{self, Segment};
use super::writer::{Reply, Request, Writer};
use super::{Lsn, Record, WalConfig, WalError};

/// Acknowledgement of a durable append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendAck {
    /// LSN of each record of the call, in order (contiguous).
    pub lsns: Vec<Lsn>,
    /// First LSN after the call's records.
    pub end: Lsn,
}

/// Counters since open. The benchmark reports fsyncs/s from these.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Append requests completed successfully (lazy appends queued
    /// together between two others count as one).
    pub appends: u64,
    /// Records written.
    pub records: u64,
    /// Bytes written (framed).
    pub bytes: u64,
    /// fdatasync calls (one per group, plus one per segment roll).
    pub fsyncs: u64,
    /// Groups committed (one write + one fdatasync each).
    pub groups: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub appends: AtomicU64,
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub fsyncs: AtomicU64,
    pub groups: AtomicU64,
}

/// Test-only fault injection: the writer fails its next write or fsync.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Fault {
    None = 0,
    Write = 1,
    Sync = 2,
}

/// State shared by handles, readers and the writer thread.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: WalConfig,
    /// Segments in LSN order; the last one is being written. Never empty.
    segments: Mutex<Vec<Segment>>,
    /// End of the durable log. INVARIANT: every byte below it is fsynced.
    pub durable: AtomicU64,
    pub stats: Stats,
    /// Set once by the first failed write or fsync; never cleared.
    failed: OnceLock<Arc<io::Error>>,
    /// Records of lazy appends not yet queued: they wait for the next
    /// append someone waits on (queued ahead of it) or for the writer to
    /// take them (with its next group, or after [`LAZY_WAIT`] idle), so a
    /// lazy append costs the writer no wake-up and no write of its own.
    /// INVARIANT: every record here was appended after every request in
    /// the queue; a submitter holds this lock while it queues, and the
    /// writer while it drains the queue before taking these.
    lazy: Mutex<Vec<Record>>,
    /// The directory lock, released when the last user of `Shared` is gone.
    _lock: File,
    #[cfg(test)]
    fault: AtomicU8,
}

impl Shared {
    pub(crate) fn new(config: WalConfig, segments: Vec<Segment>, end: Lsn, lock: File) -> Self {
        Self {
            config,
            segments: Mutex::new(segments),
            durable: AtomicU64::new(end),
            stats: Stats::default(),
            failed: OnceLock::new(),
            lazy: Mutex::new(Vec::new()),
            _lock: lock,
            #[cfg(test)]
            fault: AtomicU8::new(Fault::None as u8),
        }
    }

    pub(crate) fn segments(&self) -> MutexGuard<'_, Vec<Segment>> {
        self.segments.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The lazy records not yet queued (see the field).
    pub(crate) fn lazy(&self) -> MutexGuard<'_, Vec<Record>> {
        self.lazy.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn failure(&self) -> Option<Arc<io::Error>> {
        self.failed.get().cloned()
    }

    pub(crate) fn fail(&self, cause: Arc<io::Error>) {
        let _ = self.failed.set(cause);
    }

    /// Takes the injected fault if it is `fault`.
    #[cfg(test)]
    pub(crate) fn take_fault(&self, fault: Fault) -> bool {
        self.fault
            .compare_exchange(
                fault as u8,
                Fault::None as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }
}

/// The node write-ahead log. See the module docs of [`crate::wal`].
#[derive(Clone, Debug)]
pub struct Wal {
    pub(crate) shared: Arc<Shared>,
    handle: Arc<Handle>,
}

/// Owns the writer's queue and thread; dropping it stops the thread.
#[derive(Debug)]
struct Handle {
    tx: Mutex<Option<Sender<Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Handle {
    /// Closes the queue and waits for the writer to drain it.
    fn shutdown(&self) {
        drop(
            self.tx
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            // NB: if the last handle is dropped on the writer thread itself
            // (inside an `append_with` callback), joining would deadlock; the
            // thread exits on its own once the queue is closed.
            if thread.thread().id() != std::thread::current().id() {
                // The writer returns errors to waiters and never panics by
                // design; if it did, there is nothing left to clean up.
                let _ = thread.join();
            }
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// How long lazy records wait for a group to ride with before the writer
/// writes them on their own.
pub(crate) const LAZY_WAIT: std::time::Duration = std::time::Duration::from_millis(10);

/// Starts the writer thread for an opened log.
pub(crate) fn spawn_writer(
    shared: Shared,
    active: Segment,
    end: Lsn,
    file_len: u64,
) -> Result<Wal, WalError> {
    let shared = Arc::new(shared);
    let (tx, rx) = mpsc::channel();
    let writer = Writer::new(shared.clone(), active, end, file_len);
    let thread = std::thread::Builder::new()
        .name("wal-writer".into())
        .spawn(move || writer.run(rx))
        .map_err(WalError::io("starting the wal-writer thread"))?;
    let handle = Arc::new(Handle {
        tx: Mutex::new(Some(tx)),
        thread: Mutex::new(Some(thread)),
    });
    Ok(Wal { shared, handle })
}

/// Resolves when an append is durable, or failed. Owns nothing borrowed, so
/// it can be moved into a spawned task.
///
/// Dropping it does not cancel the append: the records are written anyway.
#[derive(Debug)]
#[must_use = "the append is queued either way; await this to learn when it is durable"]
pub struct AppendFuture {
    state: FutureState,
}

#[derive(Debug)]
enum FutureState {
    Waiting(oneshot::Receiver<Result<AppendAck, WalError>>),
    Ready(Option<Result<AppendAck, WalError>>),
}

impl AppendFuture {
    fn ready(result: Result<AppendAck, WalError>) -> Self {
        Self {
            state: FutureState::Ready(Some(result)),
        }
    }
}

impl Future for AppendFuture {
    type Output = Result<AppendAck, WalError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            // A dropped sender means the writer went away without writing it.
            FutureState::Waiting(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or(Err(WalError::Closed))),
            FutureState::Ready(result) => {
                Poll::Ready(result.take().unwrap_or(Err(WalError::Closed)))
            }
        }
    }
}

impl Wal {
    /// Queues a request, or gives it back with the reason it was refused.
    fn submit(&self, records: Vec<Record>, reply: Reply) -> Result<(), (WalError, Reply)> {
        if let Err(e) = records.iter().try_for_each(|r| r.stored_len().map(drop)) {
            return Err((e, reply));
        }
        if let Some(cause) = self.shared.failure() {
            return Err((WalError::Failed { cause }, reply));
        }
        let tx = self
            .handle
            .tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(tx) = tx.as_ref() else {
            return Err((WalError::Closed, reply));
        };
        let mut lazy = self.shared.lazy();
        if matches!(reply, Reply::Ignore) {
            lazy.extend(records);
            return Ok(());
        }
        if let Some(earlier) = Request::lazy(&mut lazy)
            && tx.send(earlier).is_err()
        {
            return Err((WalError::Closed, reply));
        }
        tx.send(Request { records, reply })
            .map_err(|mpsc::SendError(req)| (WalError::Closed, req.reply))
    }

    /// Appends `records`, contiguously and in order, after every request that
    /// arrived before. The future resolves with their LSNs only once they are
    /// durable (fdatasync'ed), or with the error that failed the WAL.
    ///
    /// Example: `let lsn = wal.append(vec![Record::new(RecordKind::CheckpointBegin, body)]).await?.lsns[0];`
    pub fn append(&self, records: Vec<Record>) -> AppendFuture {
        let (tx, rx) = oneshot::channel();
        match self.submit(records, Reply::Future(tx)) {
            Ok(()) => AppendFuture {
                state: FutureState::Waiting(rx),
            },
            Err((e, _)) => AppendFuture::ready(Err(e)),
        }
    }

    /// [`Wal::append`] for threads outside async code; blocks until durable.
    /// Works with or without a tokio runtime (do not call it on a runtime
    /// worker thread: it blocks for an fsync).
    pub fn append_blocking(&self, records: Vec<Record>) -> Result<AppendAck, WalError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit(records, Reply::Blocking(tx))
            .map_err(|(e, _)| e)?;
        rx.recv().unwrap_or(Err(WalError::Closed))
    }

    /// Queues `records` and calls `on_durable` once they are durable (or with
    /// the error that failed the WAL). Returns an error, without calling
    /// `on_durable`, if the request is refused up front.
    ///
    /// HAZARD: `on_durable` runs on the `wal-writer` thread and delays every
    /// other waiter: keep it short, never block in it, and never call
    /// [`Wal::append_blocking`] or [`Wal::close`] from it (they wait for the
    /// thread that runs it).
    pub fn append_with(
        &self,
        records: Vec<Record>,
        on_durable: impl FnOnce(Result<AppendAck, WalError>) + Send + 'static,
    ) -> Result<(), WalError> {
        self.submit(records, Reply::Callback(Box::new(on_durable)))
            .map_err(|(e, _)| e)
    }

    /// Queues `records` without waiting for them (lazily durable: the group
    /// commit that carries them, or any later one, makes them durable).
    /// They reach the file with the next group, or within [`LAZY_WAIT`]
    /// when nothing else is appended; an append or close after them writes
    /// them first.
    pub fn append_lazy(&self, records: Vec<Record>) -> Result<(), WalError> {
        self.submit(records, Reply::Ignore).map_err(|(e, _)| e)
    }

    /// End of the durable log: every record below it is on disk.
    pub fn durable_lsn(&self) -> Lsn {
        self.shared.durable.load(Ordering::Acquire)
    }

    /// First LSN of the oldest retained segment.
    pub fn first_lsn(&self) -> Lsn {
        self.shared.segments().first().map_or(0, |s| s.start)
    }

    /// Counters since open.
    pub fn stats(&self) -> WalStats {
        let s = &self.shared.stats;
        WalStats {
            appends: s.appends.load(Ordering::Relaxed),
            records: s.records.load(Ordering::Relaxed),
            bytes: s.bytes.load(Ordering::Relaxed),
            fsyncs: s.fsyncs.load(Ordering::Relaxed),
            groups: s.groups.load(Ordering::Relaxed),
        }
    }

    /// True once a write or fsync has failed: every append now fails with
    /// [`WalError::Failed`].
    pub fn is_failed(&self) -> bool {
        self.shared.failure().is_some()
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.shared.config.dir
    }

    /// Deletes, oldest first, every segment whose end is at or below `lsn`,
    /// never the active one, and fsyncs the directory. Returns how many were
    /// deleted. Reads below the new [`Wal::first_lsn`] then fail with
    /// [`WalError::Truncated`]; iterators already running finish.
    ///
    /// Precondition: no record below `lsn` is needed any more (the checkpoint
    /// computes `lsn` as the minimum over every user of the log).
    pub fn remove_segments_below(&self, lsn: Lsn) -> Result<usize, WalError> {
        let doomed: Vec<Segment> = {
            let mut segments = self.shared.segments();
            let n = segments
                .windows(2)
                .take_while(|pair| pair[1].start <= lsn)
                .count();
            segments.drain(..n).collect()
        };
        if doomed.is_empty() {
            return Ok(0);
        }
        // NB: oldest first, so a crash part-way leaves a contiguous chain.
        for seg in &doomed {
            match fs::remove_file(&seg.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(WalError::io(format!("removing {}", seg.path.display()))(e)),
            }
        }
        segment::sync_dir(self.dir()).map_err(WalError::io(format!(
            "syncing directory {}",
            self.dir().display()
        )))?;
        Ok(doomed.len())
    }

    /// Stops the writer thread after it has written every queued request, and
    /// waits for it. Affects every clone: later appends fail with
    /// [`WalError::Closed`]. Reads keep working.
    pub fn close(self) {
        self.handle.shutdown();
    }

    /// Makes the writer fail its next write (`Fault::Write`) or fsync.
    #[cfg(test)]
    pub(crate) fn inject_fault(&self, fault: Fault) {
        self.shared.fault.store(fault as u8, Ordering::Release);
    }
}
