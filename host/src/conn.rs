//! One client connection: its socket, watched for the two timeouts a proxy
//! owes its clients, and what it holds while it lives.
//!
//! - **Keep-alive idle**: a connection with no request in progress is closed
//!   quietly after the idle timeout (75 s by default, as nginx; load
//!   balancers assume at least 60).
//! - **Header read**: once the first byte of a request head arrives, the whole
//!   head must arrive within the header timeout; otherwise the client gets
//!   `408 Request Timeout` and the connection closes.
//!
//! hyper's own header timeout runs from the moment it waits for a head, so it
//! would close idle keep-alive connections after a few seconds and never
//! answers 408; this module replaces it. The socket wrapper ([`WatchedIo`])
//! sees every read, the service marks when a request head is complete
//! ([`ConnWatch::busy`]) and when its response is done ([`ConnWatch::idle`]);
//! deadlines are computed only when a read would wait, so the request path
//! pays one timer reset per request, as it did with hyper's timer.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Default keep-alive idle timeout.
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(75);

const IDLE: u8 = 0;
const HEAD: u8 = 1;
const BUSY: u8 = 2;

/// Bytes of a request head kept to name it in the access log when the
/// listener rejects it (the request line, usually).
const SAMPLE_BYTES: usize = 256;

/// The answer to a head that did not arrive in time.
pub(crate) const TIMEOUT_ANSWER: &[u8] = b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 37\r\nconnection: close\r\n\r\nrequest headers not received in time\n";

/// The body's length in [`TIMEOUT_ANSWER`].
pub(crate) const TIMEOUT_ANSWER_BODY: usize = "request headers not received in time\n".len();

/// What a connection is doing, shared by its socket wrapper and its service.
#[derive(Debug)]
pub struct ConnWatch {
    origin: Instant,
    /// `origin` on the coarse clock (see [`coarse_nanos`]).
    origin_coarse: u64,
    state: AtomicU8,
    /// When the current state began, in nanoseconds since `origin`.
    since: AtomicU64,
    /// The start of the request head in progress.
    sample: Mutex<Vec<u8>>,
    /// A status the listener itself answered (408), for the access log.
    answered: AtomicU16,
    /// Bytes of the listener's own answer that reached the socket.
    answer_bytes: AtomicUsize,
    /// The server closed the connection at the drain timeout.
    cut_off: AtomicBool,
    keepalive: Duration,
    header_timeout: Duration,
}

impl ConnWatch {
    /// A new, idle connection.
    pub fn new(keepalive: Duration, header_timeout: Duration) -> Arc<ConnWatch> {
        Arc::new(ConnWatch {
            origin: Instant::now(),
            origin_coarse: coarse_nanos(),
            state: AtomicU8::new(IDLE),
            since: AtomicU64::new(0),
            sample: Mutex::new(Vec::new()),
            answered: AtomicU16::new(0),
            answer_bytes: AtomicUsize::new(0),
            cut_off: AtomicBool::new(false),
            keepalive,
            header_timeout,
        })
    }

    fn now(&self) -> u64 {
        coarse_nanos().saturating_sub(self.origin_coarse)
    }

    fn enter(&self, state: u8) {
        self.since.store(self.now(), Ordering::Relaxed);
        self.state.store(state, Ordering::Relaxed);
    }

    /// A request head is complete and being served: no connection timeout
    /// applies until its response is done.
    pub fn busy(&self) {
        self.state.store(BUSY, Ordering::Relaxed);
    }

    /// The response is done: the keep-alive idle timeout runs again.
    pub fn idle(&self) {
        self.enter(IDLE);
    }

    /// The first line of the request head received last, for logging a
    /// request the listener rejected.
    pub fn request_line(&self) -> String {
        let sample = self.sample.lock().map(|s| s.clone()).unwrap_or_default();
        let line = sample
            .split(|&b| b == b'\r' || b == b'\n')
            .next()
            .unwrap_or(&[]);
        String::from_utf8_lossy(line).into_owned()
    }

    /// The status the listener answered itself (408), if it did, and how
    /// many bytes of that answer reached the socket.
    pub fn answered(&self) -> Option<(u16, usize)> {
        match self.answered.load(Ordering::Relaxed) {
            0 => None,
            s => Some((s, self.answer_bytes.load(Ordering::Relaxed))),
        }
    }

    /// Mark the connection as closed by the server when the drain timeout
    /// passed, before what is in flight on it is dropped.
    pub fn cut_off(&self) {
        self.cut_off.store(true, Ordering::Release);
    }

    /// Whether the server cut the connection off at the drain timeout: a
    /// request ending unfinished on it did not lose its client.
    pub fn was_cut_off(&self) -> bool {
        self.cut_off.load(Ordering::Acquire)
    }

    /// Note bytes that arrived: the first ones after an idle period start a
    /// request head.
    fn received(&self, bytes: &[u8]) {
        if bytes.is_empty() || self.state.load(Ordering::Relaxed) != IDLE {
            return;
        }
        self.enter(HEAD);
        if let Ok(mut sample) = self.sample.lock() {
            sample.clear();
            sample.extend_from_slice(&bytes[..bytes.len().min(SAMPLE_BYTES)]);
        }
    }

    /// When a read waiting now must give up, and why.
    fn deadline(&self) -> (Instant, Expiry) {
        let since = Duration::from_nanos(self.since.load(Ordering::Relaxed));
        match self.state.load(Ordering::Relaxed) {
            IDLE => (self.origin + since + self.keepalive, Expiry::Idle),
            HEAD => (self.origin + since + self.header_timeout, Expiry::Head),
            // hyper reads ahead while a response is written. The connection
            // turns idle later, without another read: wake up no later than
            // an idle deadline could be, and look again.
            _ => (Instant::now() + self.keepalive, Expiry::Recheck),
        }
    }
}

/// Nanoseconds on the monotonic clock at its coarse resolution (a few ms),
/// which costs a memory read instead of a clock read: connection timeouts
/// are counted in seconds, and are set twice per request.
pub(crate) fn coarse_nanos() -> u64 {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec through a valid pointer.
        if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) } == 0 {
            let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
            let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
            return secs.saturating_mul(1_000_000_000).saturating_add(nanos);
        }
    }
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    u64::try_from(
        START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_nanos(),
    )
    .unwrap_or(u64::MAX)
}

/// What a read deadline means when it passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// Idle for the keep-alive timeout: close quietly.
    Idle,
    /// A head took longer than the header timeout: 408.
    Head,
    /// Busy: no timeout; compute the deadline again.
    Recheck,
}

/// A client socket that enforces [`ConnWatch`]'s timeouts on its reads.
pub struct WatchedIo {
    stream: TcpStream,
    watch: Arc<ConnWatch>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl WatchedIo {
    /// Watch `stream` with `watch`.
    pub fn new(stream: TcpStream, watch: Arc<ConnWatch>) -> WatchedIo {
        WatchedIo {
            stream,
            watch,
            timer: None,
        }
    }

    /// Arm the timer for the current deadline; which deadline passed, if
    /// one did.
    fn expired(&mut self, cx: &mut Context<'_>) -> Option<Expiry> {
        loop {
            let (deadline, expiry) = self.watch.deadline();
            let timer = match self.timer.as_mut() {
                Some(t) => {
                    if t.deadline() != deadline {
                        t.as_mut().reset(deadline);
                    }
                    t
                }
                None => self
                    .timer
                    .insert(Box::pin(tokio::time::sleep_until(deadline))),
            };
            if timer.as_mut().poll(cx).is_pending() {
                return None;
            }
            if expiry != Expiry::Recheck {
                return Some(expiry);
            }
        }
    }
}

use std::future::Future;

impl AsyncRead for WatchedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                self.watch.received(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match self.expired(cx) {
                None | Some(Expiry::Recheck) => Poll::Pending,
                // Idle too long: close quietly, as if the client had.
                Some(Expiry::Idle) => Poll::Ready(Ok(())),
                Some(Expiry::Head) => {
                    // The head did not arrive in time. Nothing has been
                    // written for it, so answer 408 here (best effort: the
                    // socket's buffer is empty) and end the connection.
                    let sent = self.stream.try_write(TIMEOUT_ANSWER).unwrap_or(0);
                    self.watch.answered.store(408, Ordering::Relaxed);
                    self.watch.answer_bytes.store(sent, Ordering::Relaxed);
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "request headers not received in time",
                    )))
                }
            },
        }
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Counts what must finish before the server exits: connections and the
/// tunnels upgraded from them.
#[derive(Debug, Default)]
pub struct Drain {
    active: std::sync::atomic::AtomicUsize,
    done: tokio::sync::Notify,
}

impl Drain {
    /// Count one more live thing until the guard is dropped.
    pub fn enter(self: &Arc<Self>) -> DrainGuard {
        self.active.fetch_add(1, Ordering::AcqRel);
        DrainGuard(self.clone())
    }

    /// How many are live now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Completes when nothing is live.
    pub async fn finished(&self) {
        loop {
            let notified = self.done.notified();
            if self.active.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// See [`Drain::enter`].
#[derive(Debug)]
pub struct DrainGuard(Arc<Drain>);

impl Drop for DrainGuard {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.done.notify_waiters();
        }
    }
}

/// What a connection holds while anything of it lives (its service, or a
/// tunnel upgraded from it): its slot under `--max-connections` and its place
/// in the drain.
#[derive(Debug)]
pub struct ConnHold {
    _permit: tokio::sync::OwnedSemaphorePermit,
    _drain: DrainGuard,
}

impl ConnHold {
    /// Hold `permit` and `drain` together.
    pub fn new(permit: tokio::sync::OwnedSemaphorePermit, drain: DrainGuard) -> Arc<ConnHold> {
        Arc::new(ConnHold {
            _permit: permit,
            _drain: drain,
        })
    }
}

/// What a handler knows about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: std::net::SocketAddr,
    /// The connection's timeouts.
    pub watch: Arc<ConnWatch>,
    /// Keeps the connection counted while a tunnel from it lives.
    pub hold: Arc<ConnHold>,
    /// Turns true when the server starts draining.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deadlines_follow_the_connection_state() {
        let watch = ConnWatch::new(Duration::from_secs(75), Duration::from_secs(10));
        let start = Instant::now();
        // The coarse clock is a few milliseconds coarse.
        let about = |at: Instant, secs: u64| {
            let d = at.saturating_duration_since(start).as_secs_f64();
            (d - secs as f64).abs() < 0.5
        };
        let (at, expiry) = watch.deadline();
        assert_eq!(expiry, Expiry::Idle);
        assert!(about(at, 75));
        watch.received(b"GET / HTTP/1.1\r\nho");
        let (at, expiry) = watch.deadline();
        assert_eq!(expiry, Expiry::Head);
        assert!(
            about(at, 10),
            "a head has the header timeout from its first byte"
        );
        assert_eq!(watch.request_line(), "GET / HTTP/1.1");
        watch.received(b"st: a\r\n\r\n");
        assert_eq!(
            watch.request_line(),
            "GET / HTTP/1.1",
            "later reads keep the head's start"
        );
        watch.busy();
        assert_eq!(
            watch.deadline().1,
            Expiry::Recheck,
            "no timeout while serving"
        );
        watch.idle();
        assert_eq!(watch.deadline().1, Expiry::Idle);
    }
}
