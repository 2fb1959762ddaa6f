//! Connection hygiene below HTTP: at most `server.max_connections` connections at once (more
//! wait in the kernel's accept queue, never in a busy loop, even when the process is out of
//! file descriptors), and a connection on which nothing moves either way for
//! `server.idle_timeout_secs` is closed at once.
//!
//! poem's own idle timeout asks hyper for a graceful close, which waits for a request that is
//! half received: a client that sends half a request line, half its headers or part of a body
//! and then stalls would hold its connection (and a file descriptor) forever. Here the socket
//! itself fails with `TimedOut` when the quiet lasts too long, so hyper drops the connection
//! whatever state it is in. Progress in either direction counts, so a long download to a slow
//! reader, or an upload that keeps flowing, is never cut.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Accepts TCP connections, at most `max_connections` open at once, and wraps each in a
/// [`QuietLimit`].
pub struct HygienicAcceptor {
    inner: TcpAcceptor,
    idle: Duration,
    slots: Arc<Semaphore>,
}

impl HygienicAcceptor {
    pub fn new(inner: TcpAcceptor, idle: Duration, max_connections: usize) -> Self {
        Self {
            inner,
            idle,
            slots: Arc::new(Semaphore::new(max_connections.max(1))),
        }
    }
}

/// The process (or the system) has no file descriptor left for a new connection.
fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24)) // ENFILE, EMFILE
}

impl Acceptor for HygienicAcceptor {
    type Io = QuietLimit;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        // A slot first: with every slot taken, new connections wait in the accept queue.
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(io::Error::other)?;
        loop {
            match self.inner.accept().await {
                Ok((io, local, remote, scheme)) => {
                    return Ok((QuietLimit::new(io, self.idle, slot), local, remote, scheme));
                }
                // poem retries a failed accept at once; out of descriptors, that would spin a
                // core. Wait for connections to close instead.
                Err(e) if out_of_descriptors(&e) => {
                    tracing::warn!(error = %e, "out of file descriptors; not accepting for 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// A socket that fails with `TimedOut` once nothing was read or written for `idle`; it holds
/// its connection slot until it is dropped.
pub struct QuietLimit {
    inner: TcpStream,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    _slot: OwnedSemaphorePermit,
}

impl QuietLimit {
    fn new(inner: TcpStream, idle: Duration, slot: OwnedSemaphorePermit) -> Self {
        Self {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            _slot: slot,
        }
    }

    fn progressed(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }

    /// A write's outcome: bytes written are progress; a pending write may have waited too long.
    fn after_write(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match polled {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    self.progressed();
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.check_quiet(cx).map(Err),
        }
    }

    /// On a pending operation: fails once the quiet has lasted too long.
    fn check_quiet(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                "nothing sent or received within server.idle_timeout_secs",
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for QuietLimit {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.progressed();
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.check_quiet(cx).map(Err),
        }
    }
}

impl AsyncWrite for QuietLimit {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        self.after_write(cx, polled)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.after_write(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
