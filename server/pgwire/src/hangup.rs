//! A client that hangs up while its statement runs: noticed at once, not
//! when the statement ends. The statement is cancelled as a CancelRequest
//! would cancel it (57014 at its next await point), so a statement blocked
//! on a lock, or a long one, stops holding locks and doing work for nobody;
//! the connection then ends and the session rolls back its transaction.
//!
//! While the statement runs, the socket is read ahead ([`ReadAhead`]):
//! end of file is the hang-up, and bytes that arrive instead (a pipelining
//! client's next messages — the extended protocol's Sync is always there)
//! wait, in order, for the connection's reader, up to [`MAX_AHEAD`]. NB: a
//! client that shuts down only its sending side and still waits for the
//! answer looks the same as one that left; PostgreSQL clients do not do
//! that.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use spanlite_session::Interrupt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, BufReader, ReadBuf};

/// How much a running statement's connection reads ahead at most; past
/// it, it stops watching for a hang-up until the statement ends.
const MAX_AHEAD: usize = 1 << 20;

/// A connection's stream that can be read ahead of its reader: bytes read
/// early are handed to the next reads first.
#[derive(Debug)]
pub(crate) struct ReadAhead<S> {
    inner: S,
    ahead: Vec<u8>,
    /// Where the next read starts in `ahead`.
    at: usize,
    /// The peer's end of file (or a failed read) was seen reading ahead:
    /// reads end there once `ahead` is drained.
    ended: bool,
}

impl<S> ReadAhead<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            ahead: Vec::new(),
            at: 0,
            ended: false,
        }
    }
}

impl<S: AsyncRead + Unpin> ReadAhead<S> {
    /// Reads ahead what the client sends next: true when it has hung up
    /// (end of file, or the socket failed). Never ends once `MAX_AHEAD`
    /// bytes wait.
    async fn hung_up(&mut self) -> bool {
        if self.ended {
            return true;
        }
        if self.ahead.len() - self.at >= MAX_AHEAD {
            return std::future::pending().await;
        }
        let mut chunk = [0u8; 8192];
        match self.inner.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                self.ended = true;
                true
            }
            Ok(n) => {
                self.ahead.extend_from_slice(&chunk[..n]);
                false
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.ahead.len() {
            let n = buf.remaining().min(this.ahead.len() - this.at);
            buf.put_slice(&this.ahead[this.at..this.at + n]);
            this.at += n;
            if this.at == this.ahead.len() {
                this.ahead.clear();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        if this.ended {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// `work`'s output, with the client watched meanwhile: a hang-up requests
/// `interrupt` (the session's cancel) and `work` is awaited to its end.
pub(crate) async fn watching<S, T>(
    stream: &mut BufReader<ReadAhead<S>>,
    interrupt: &Interrupt,
    work: impl Future<Output = T>,
) -> T
where
    S: AsyncRead + Unpin,
{
    let mut work = std::pin::pin!(work);
    let mut watch = true;
    loop {
        tokio::select! {
            out = &mut work => return out,
            gone = stream.get_mut().hung_up(), if watch => {
                if gone {
                    tracing::debug!("pgwire: the client hung up during a statement; cancelling it");
                    interrupt.request();
                    watch = false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

    /// Bytes read ahead reach the reader in order, after what it had
    /// buffered; the end of file is seen by the watcher, then the reader.
    #[tokio::test]
    async fn read_ahead_keeps_order_and_sees_the_end() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut stream = BufReader::new(ReadAhead::new(server));
        client.write_all(b"one\n").await.unwrap();
        let mut line = String::new();
        stream.read_line(&mut line).await.unwrap();
        assert_eq!(line, "one\n");
        client.write_all(b"two\nthree\n").await.unwrap();
        assert!(!stream.get_mut().hung_up().await);
        drop(client);
        assert!(stream.get_mut().hung_up().await);
        let mut rest = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut rest)
            .await
            .unwrap();
        assert_eq!(rest, "two\nthree\n");
    }
}
