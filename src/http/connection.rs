//! Connection hygiene below HTTP: at most `server.max_connections` connections at once (more
//! wait in the kernel's accept queue, never in a busy loop, even when the process is out of
//! file descriptors), at most `server.max_connections_per_address` from one address, and a
//! connection on which nothing moves either way for `server.idle_timeout_secs`, while no
//! request on it is being handled, is closed at once.
//!
//! A graceful close (what hyper offers) waits for a request that is half received: a client
//! that stalls mid-request would hold its connection (and a file descriptor) forever. Here the
//! socket itself fails with `TimedOut` when the quiet lasts too long, so hyper drops the
//! connection whatever state it is in. Progress in either direction counts, so a long download
//! to a slow reader, or an upload that keeps flowing, is never cut.
//!
//! hyper answers a request it cannot parse (400), whose head is too large (431) or whose target
//! is too long (414) itself, with an empty body. Those answers are rewritten here, on their way
//! out, into the JSON error every other answer is.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// Requests on one connection being handled now; while there are any, its quiet is not idle.
#[derive(Clone, Default)]
pub struct Busy(Arc<AtomicUsize>);

/// One request being handled; it ends when this is dropped.
pub struct Handling(Arc<AtomicUsize>);

impl Busy {
    pub fn enter(&self) -> Handling {
        self.0.fetch_add(1, Ordering::SeqCst);
        Handling(self.0.clone())
    }

    fn any(&self) -> bool {
        self.0.load(Ordering::SeqCst) > 0
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A socket that fails with `TimedOut` once nothing was read or written for `idle` while no
/// request was being handled; it holds its connection slot until it is dropped.
pub struct QuietLimit {
    inner: TcpStream,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    busy: Busy,
    /// A JSON answer being written in place of one of hyper's empty error answers, and how many
    /// bytes of hyper's to report written once it is out.
    rewriting: Option<Rewrite>,
    /// Whether anything was written yet. Only a connection's first write can be hyper's own
    /// error answer to a request it could not read: every later one may be a response body,
    /// whose bytes are the client's to choose and must pass untouched.
    wrote_any: bool,
    _slot: OwnedSemaphorePermit,
    _share: AddressShare,
}

struct Rewrite {
    bytes: Vec<u8>,
    written: usize,
    replaces: usize,
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
            busy: Busy::default(),
            rewriting: None,
            wrote_any: false,
            _slot: slot,
            _share: share,
        }
    }

    /// Counts the requests being handled on this connection (see [`Busy::enter`]).
    pub fn busy(&self) -> Busy {
        self.busy.clone()
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

    /// On a pending operation: fails once the quiet has lasted too long with no request being
    /// handled (a handler at work is not the client stalling).
    fn check_quiet(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        loop {
            match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) if self.busy.any() => self.progressed(),
                Poll::Ready(()) => {
                    return Poll::Ready(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "nothing sent or received within server.idle_timeout_secs",
                    ));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Writes `data`, or the JSON answer that replaces it when it is one of hyper's own empty
    /// error answers.
    fn write_or_rewrite(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if self.rewriting.is_none()
            && !self.wrote_any
            && let Some(json) = json_for_bare_error(data)
        {
            self.rewriting = Some(Rewrite {
                bytes: json,
                written: 0,
                replaces: data.len(),
            });
        }
        let Some(rewrite) = self.rewriting.as_mut() else {
            let polled = Pin::new(&mut self.inner).poll_write(cx, data);
            if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
                self.wrote_any = true;
            }
            return self.after_write(cx, polled);
        };
        while rewrite.written < rewrite.bytes.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &rewrite.bytes[rewrite.written..]) {
                Poll::Ready(Ok(n)) => {
                    if n == 0 {
                        return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                    }
                    rewrite.written += n;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return self.check_quiet(cx).map(Err),
            }
        }
        let replaces = rewrite.replaces;
        self.rewriting = None;
        self.wrote_any = true;
        self.progressed();
        Poll::Ready(Ok(replaces))
    }
}

/// hyper's automatic answer to a request it could not read: a status line, `content-length: 0`,
/// perhaps `connection: close` and a date, nothing else. The registry's own answers always
/// carry a content type, so they never look like this.
fn json_for_bare_error(data: &[u8]) -> Option<Vec<u8>> {
    let head = data.strip_suffix(b"\r\n\r\n")?;
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let (status, message) = match status_line.strip_prefix("HTTP/1.1 ")?.get(..3)? {
        "400" => ("400 Bad Request", "The request could not be parsed as HTTP".to_string()),
        "414" => ("414 URI Too Long", "The request target is too long".to_string()),
        "431" => (
            "431 Request Header Fields Too Large",
            "The request line and headers are larger than server.max_header_bytes, or there are more than server.max_headers of them".to_string(),
        ),
        _ => return None,
    };
    // Exactly what hyper sends: `content-length: 0`, a date in its fixed 29-character form,
    // perhaps `connection: close`; each once.
    let (mut length, mut date, mut connection) = (0, 0, 0);
    for line in lines {
        let (name, value) = line.split_once(": ")?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" if value == "0" => length += 1,
            "date" if value.len() == 29 && value.ends_with(" GMT") => date += 1,
            "connection" if value == "close" => connection += 1,
            _ => return None,
        }
    }
    if length != 1 || date > 1 || connection > 1 {
        return None;
    }
    let body = serde_json::to_string(&crate::error::ErrorBody { error: message }).ok()?;
    Some(
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
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
        self.write_or_rewrite(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    // Not vectored: hyper then writes each answer's head as one buffer of its own, which is
    // what lets an empty error answer be recognised and rewritten.
}

#[cfg(test)]
mod tests {
    use super::json_for_bare_error;

    #[test]
    fn only_hypers_empty_error_answers_are_rewritten() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 14:00:00 GMT\r\n\r\n";
        // A body chunk made to look like one has other lines, or the same line twice.
        let forged = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: x\r\ndate: padding padding padding\r\n\r\n";
        assert!(json_for_bare_error(forged).is_none());
        let json = String::from_utf8(json_for_bare_error(bare).unwrap()).unwrap();
        assert!(json.starts_with("HTTP/1.1 431 "), "{json}");
        let body = json.split("\r\n\r\n").nth(1).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(
            parsed["error"]
                .as_str()
                .unwrap()
                .contains("server.max_header_bytes")
        );
        assert!(json.contains(&format!("content-length: {}\r\n", body.len())));
        // The registry's own answers carry a content type; they pass untouched.
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n";
        assert!(json_for_bare_error(ours).is_none());
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert!(json_for_bare_error(ok).is_none());
    }
}
