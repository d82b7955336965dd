//! The group-commit writer thread.
//!
//! ```text
//!  append ─┐                                          ┌─▶ waiter 1: lsns
//!  append ─┼─▶ queue ─▶ wal-writer: block for one, ───┼─▶ waiter 2
//!  append ─┘            drain the rest, encode all,   └─▶ waiter 3
//!  lazy ──▶ side list ─▶ (after the drained queue)
//!                       one write_all + one fdatasync
//! ```
//!
//! While one group is being fsynced, the next one queues up, so the number of
//! fsyncs per second stays at what the disk does and the appends per fsync
//! grow with the number of concurrent appenders. There is no artificial delay.
//!
//! INVARIANT: a waiter is completed only after the fdatasync covering all its
//! records returned successfully, and `Shared::durable` is advanced before
//! any waiter of the group is completed.
//! INVARIANT: records of one request are contiguous; requests are written in
//! arrival order.
//! HAZARD: a failed write or fsync fails the whole WAL for good. After a
//! failed fsync the kernel may have dropped the dirty pages and cleared the
//! error ("fsyncgate"); retrying would report success for lost data.

use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};

use tokio::sync::oneshot;

#[cfg(test)]
use super::handle::Fault;
use super::handle::{LAZY_WAIT, Shared};
use super::segment::{self, Segment};
use super::{AppendAck, Lsn, Record, WalError};

/// Stop draining the queue into one group past this many bytes, to bound the
/// write buffer and the latency of the first waiter.
const MAX_GROUP_BYTES: u64 = 16 << 20;

/// Where a request's result goes.
pub(crate) enum Reply {
    /// An [`super::AppendFuture`].
    Future(oneshot::Sender<Result<AppendAck, WalError>>),
    /// A thread blocked in `append_blocking`.
    Blocking(std::sync::mpsc::SyncSender<Result<AppendAck, WalError>>),
    /// An `append_with` callback, run on the writer thread.
    Callback(Box<dyn FnOnce(Result<AppendAck, WalError>) + Send>),
    /// Nobody waits (`append_lazy`).
    Ignore,
}

impl Reply {
    fn send(self, result: Result<AppendAck, WalError>) {
        // A waiter that went away no longer cares: nothing to do.
        match self {
            Reply::Future(tx) => drop(tx.send(result)),
            Reply::Blocking(tx) => drop(tx.send(result)),
            Reply::Callback(f) => f(result),
            Reply::Ignore => {}
        }
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reply::Future(_) => "Reply::Future",
            Reply::Blocking(_) => "Reply::Blocking",
            Reply::Callback(_) => "Reply::Callback",
            Reply::Ignore => "Reply::Ignore",
        })
    }
}

/// One append call.
#[derive(Debug)]
pub(crate) struct Request {
    pub records: Vec<Record>,
    pub reply: Reply,
}

impl Request {
    /// One request nobody waits for, of every lazy record in `lazy`
    /// (emptied), or `None` if there is none.
    pub(crate) fn lazy(lazy: &mut Vec<Record>) -> Option<Request> {
        (!lazy.is_empty()).then(|| Request {
            records: std::mem::take(lazy),
            reply: Reply::Ignore,
        })
    }

    fn framed_len(&self) -> u64 {
        self.records.iter().map(Record::framed_len).sum()
    }
}

/// State owned by the writer thread.
#[derive(Debug)]
pub(crate) struct Writer {
    shared: Arc<Shared>,
    /// The segment being written (also the last one in `Shared::segments`).
    active: Segment,
    /// LSN of the next byte written: the end of what was handed to the OS.
    next: Lsn,
    /// Length of the active segment's file: records up to `next`, then
    /// zeros written ahead ([`segment::PREALLOCATE`]).
    file_len: u64,
    /// Encoding buffer, reused across groups.
    buf: Vec<u8>,
    /// Bytes were handed to the OS and not yet synced: a group of lazy
    /// appends only (nobody waits on them) is written without an fsync,
    /// and the next group that someone waits on — an empty barrier
    /// included — syncs them with its own.
    unsynced: bool,
}

impl Writer {
    /// A writer appending at `next` to `active`, whose file is `file_len`
    /// bytes long.
    pub(crate) fn new(shared: Arc<Shared>, active: Segment, next: Lsn, file_len: u64) -> Self {
        Self {
            shared,
            active,
            next,
            file_len,
            buf: Vec::new(),
            unsynced: false,
        }
    }

    /// Commits groups until the queue is closed and drained.
    pub(crate) fn run(mut self, rx: Receiver<Request>) {
        loop {
            // Closed: no append can come any more; lazy records left
            // behind are written too.
            let (group, closed) = match rx.recv_timeout(LAZY_WAIT) {
                Ok(first) => (self.gather(vec![first], &rx), false),
                Err(RecvTimeoutError::Timeout) => (self.gather(Vec::new(), &rx), false),
                Err(RecvTimeoutError::Disconnected) => (self.gather(Vec::new(), &rx), true),
            };
            if !group.is_empty() {
                self.commit(group);
            }
            if closed {
                break;
            }
        }
        // Closed: lazy records written last reach the disk too (a clean
        // shutdown keeps them).
        if self.unsynced && self.shared.failure().is_none() {
            match self.sync() {
                Ok(()) => self.shared.durable.store(self.next, Ordering::Release),
                Err(e) => {
                    tracing::warn!(error = %e, "WAL: syncing the last lazy records at close failed (they may be lost; nothing waited on them)");
                }
            }
        }
    }

    /// Adds what is queued behind `group` to it, up to [`MAX_GROUP_BYTES`],
    /// and then, if the queue was drained, the lazy records not yet queued
    /// (later than all of it, see `Shared::lazy`).
    fn gather(&self, mut group: Vec<Request>, rx: &Receiver<Request>) -> Vec<Request> {
        let mut lazy = self.shared.lazy();
        let mut bytes: u64 = group.iter().map(Request::framed_len).sum();
        while bytes < MAX_GROUP_BYTES {
            let Ok(req) = rx.try_recv() else {
                group.extend(Request::lazy(&mut lazy));
                break;
            };
            bytes += req.framed_len();
            group.push(req);
        }
        group
    }

    /// Writes one group and completes its waiters.
    fn commit(&mut self, group: Vec<Request>) {
        if let Some(cause) = self.shared.failure() {
            for req in group {
                req.reply.send(Err(WalError::Failed {
                    cause: cause.clone(),
                }));
            }
            return;
        }
        match self.write_group(&group) {
            Ok(acks) => {
                let stats = &self.shared.stats;
                stats.groups.fetch_add(1, Ordering::Relaxed);
                stats
                    .appends
                    .fetch_add(group.len() as u64, Ordering::Relaxed);
                stats.records.fetch_add(
                    group.iter().map(|r| r.records.len() as u64).sum(),
                    Ordering::Relaxed,
                );
                for (req, ack) in group.into_iter().zip(acks) {
                    req.reply.send(Ok(ack));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, segment = %self.active.path.display(), "WAL write failed; the WAL refuses appends until restart");
                let cause = Arc::new(e);
                self.shared.fail(cause.clone());
                for req in group {
                    req.reply.send(Err(WalError::Failed {
                        cause: cause.clone(),
                    }));
                }
            }
        }
        if self.buf.capacity() > 4 * MAX_GROUP_BYTES as usize {
            self.buf = Vec::new();
        }
    }

    /// Encodes, writes and syncs one group; returns each request's ack.
    fn write_group(&mut self, group: &[Request]) -> io::Result<Vec<AppendAck>> {
        let segment_size = self.shared.config.segment_size;
        self.buf.clear();
        let mut acks = Vec::with_capacity(group.len());
        for req in group {
            let mut lsns = Vec::with_capacity(req.records.len());
            for record in &req.records {
                let len = record.framed_len();
                // Bytes in the active segment, counting those still buffered.
                let used = self.next - self.active.start + self.buf.len() as u64;
                // NB: an empty segment takes any record, so a record larger
                // than the segment size gets a segment of its own.
                if used > 0 && used + len > segment_size {
                    self.write_buf()?;
                    self.roll()?;
                }
                lsns.push(self.next + self.buf.len() as u64);
                // Lengths were checked when the request was queued.
                record
                    .encode_into(&mut self.buf)
                    .map_err(io::Error::other)?;
            }
            acks.push(AppendAck {
                lsns,
                end: self.next + self.buf.len() as u64,
            });
        }
        let wrote = !self.buf.is_empty();
        self.write_buf()?;
        // Lazy appends only: written, not synced (one fsync per commit
        // index a Raft group saves was up to a third of all fsyncs with
        // many groups per node); the durable end stays where it was.
        if group.iter().all(|r| matches!(r.reply, Reply::Ignore)) {
            self.unsynced |= wrote;
            return Ok(acks);
        }
        // Only empty requests and nothing unsynced: everything before them
        // is already durable.
        if wrote || self.unsynced {
            self.sync()?;
            self.unsynced = false;
        }
        self.shared.durable.store(self.next, Ordering::Release);
        Ok(acks)
    }

    /// Hands the buffer to the OS.
    fn write_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        #[cfg(test)]
        if self.shared.take_fault(Fault::Write) {
            return Err(io::Error::other("injected write failure"));
        }
        let at = self.next - self.active.start;
        self.active.file.write_all_at(&self.buf, at)?;
        let end = at + self.buf.len() as u64;
        self.file_len = self.file_len.max(end);
        self.preallocate(end)?;
        self.next += self.buf.len() as u64;
        self.shared
            .stats
            .bytes
            .fetch_add(self.buf.len() as u64, Ordering::Relaxed);
        self.buf.clear();
        Ok(())
    }

    /// Zero-fills the active segment from its end up to a chunk past `end`
    /// (the end of the records written), within the segment size, once
    /// `end` has come within half a chunk of the file's end. The next
    /// fdatasync carries the zeros and the file's new size; the syncs after
    /// it overwrite blocks the file already has.
    fn preallocate(&mut self, end: u64) -> io::Result<()> {
        static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
        let limit = self.shared.config.segment_size;
        if end + segment::PREALLOCATE / 2 <= self.file_len || self.file_len >= limit {
            return Ok(());
        }
        let target = (end + segment::PREALLOCATE).min(limit);
        while self.file_len < target {
            let n = (target - self.file_len).min(ZEROS.len() as u64) as usize;
            self.active.file.write_all_at(&ZEROS[..n], self.file_len)?;
            self.file_len += n as u64;
        }
        Ok(())
    }

    /// fdatasync of the active segment.
    fn sync(&mut self) -> io::Result<()> {
        #[cfg(test)]
        if self.shared.take_fault(Fault::Sync) {
            return Err(io::Error::other("injected fsync failure"));
        }
        self.active.file.sync_data()?;
        self.shared.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Seals the active segment (fsync) and starts a new one at `next`, made
    /// durable in the directory before anything is written to it.
    ///
    /// The sealed segment loses its zeros first (the chain's INVARIANT: it
    /// ends where the next one starts), durably before the next one exists.
    fn roll(&mut self) -> io::Result<()> {
        // NB: fdatasync makes a truncation durable too (a size change is
        // metadata a later read needs; fdatasync(2) names ftruncate).
        let used = self.next - self.active.start;
        if self.file_len > used {
            self.active.file.set_len(used)?;
            self.file_len = used;
        }
        self.sync()?;
        self.unsynced = false;
        let dir = &self.shared.config.dir;
        let fresh = segment::create(dir, self.next)?;
        segment::sync_dir(dir)?;
        self.shared.segments().push(fresh.clone());
        self.active = fresh;
        self.file_len = 0;
        Ok(())
    }
}
