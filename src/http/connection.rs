//! Connection hygiene below HTTP: at most `server.max_connections` connections at once (more
//! wait in the kernel's accept queue, never in a busy loop, even when the process is out of
//! file descriptors), at most `server.max_connections_per_address` from one address, and a
//! connection on which nothing moves either way for
//! `server.idle_timeout_secs` is closed at once.
//!
//! poem's own idle timeout asks hyper for a graceful close, which waits for a request that is
//! half received: a client that sends half a request line, half its headers or part of a body
//! and then stalls would hold its connection (and a file descriptor) forever. Here the socket
//! itself fails with `TimedOut` when the quiet lasts too long, so hyper drops the connection
//! whatever state it is in. Progress in either direction counts, so a long download to a slow
//! reader, or an upload that keeps flowing, is never cut.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Accepts TCP connections, at most `max_connections` open at once and `per_address` from one
/// client address (beyond that a new one is closed at once, so one host cannot take every
/// slot), and wraps each in a [`QuietLimit`].
pub struct HygienicAcceptor {
    inner: TcpAcceptor,
    idle: Duration,
    slots: Arc<Semaphore>,
    per_address: usize,
    exempt: Vec<IpAddr>,
    open: OpenCounts,
}

/// Open connections per client address.
type OpenCounts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// How the acceptor bounds connections.
pub struct ConnectionLimits {
    pub idle: Duration,
    pub max_connections: usize,
    pub per_address: usize,
    /// Addresses the per-address cap does not apply to (`rate.exempt`).
    pub exempt: Vec<IpAddr>,
}

impl HygienicAcceptor {
    pub fn new(inner: TcpAcceptor, limits: ConnectionLimits) -> Self {
        Self {
            inner,
            idle: limits.idle,
            slots: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            per_address: limits.per_address.max(1),
            exempt: limits.exempt,
            open: Arc::default(),
        }
    }

    /// Counts a connection from `ip`, or `None` when that address already has its share.
    fn admit(&self, ip: Option<IpAddr>) -> Option<AddressShare> {
        let Some(ip) = ip.filter(|ip| !self.exempt.contains(ip)) else {
            return Some(AddressShare(None));
        };
        let mut open = self.open.lock().expect("connection counts");
        let n = open.entry(ip).or_insert(0);
        if *n >= self.per_address {
            return None;
        }
        *n += 1;
        Some(AddressShare(Some((self.open.clone(), ip))))
    }
}

/// One connection's place in its address's count; given back when the connection closes.
struct AddressShare(Option<(OpenCounts, IpAddr)>);

impl Drop for AddressShare {
    fn drop(&mut self) {
        if let Some((open, ip)) = &self.0 {
            let mut open = open.lock().expect("connection counts");
            if let Some(n) = open.get_mut(ip) {
                *n -= 1;
                if *n == 0 {
                    open.remove(ip);
                }
            }
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
                    let ip = remote.as_socket_addr().map(|a| a.ip());
                    let Some(share) = self.admit(ip) else {
                        // Over its address's share: closed at once, the slot kept for the next.
                        tracing::debug!(client = ?ip, "connection refused: too many from one address");
                        drop(io);
                        continue;
                    };
                    return Ok((
                        QuietLimit::new(io, self.idle, slot, share),
                        local,
                        remote,
                        scheme,
                    ));
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
    _share: AddressShare,
}

impl QuietLimit {
    fn new(
        inner: TcpStream,
        idle: Duration,
        slot: OwnedSemaphorePermit,
        share: AddressShare,
    ) -> Self {
        Self {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            _slot: slot,
            _share: share,
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
