//! The response body the client receives, wrapped so that when it has been
//! sent (or the client went away) the request is counted and its access log
//! line written, with the number of body bytes that actually left.

use crate::conn::ConnWatch;
use crate::telemetry::access::WalkLog;
use crate::telemetry::access::{AccessLog, Finished, RequestFacts, RequestLine};
use crate::telemetry::metrics::RequestMetrics;
use bytes::Bytes;
use http::HeaderValue;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

/// Where finished requests are reported.
#[derive(Debug, Clone)]
pub struct Observer {
    /// The access log.
    pub access: AccessLog,
    /// Traffic metrics.
    pub metrics: Arc<RequestMetrics>,
}

/// What the listener sent for a request it answered itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerAnswer {
    /// The status.
    pub status: u16,
    /// Its `Content-Type` (empty when it has none).
    pub content_type: &'static str,
    /// Bytes of the head.
    pub head_bytes: u64,
    /// Bytes of the body.
    pub body_bytes: u64,
}

impl ListenerAnswer {
    /// hyper's answer to a head it could not take: `status`, bodiless, and
    /// the connection closed (`HTTP/1.1 400 Bad Request`, `connection:
    /// close`, `content-length: 0`).
    pub fn hyper(status: u16) -> ListenerAnswer {
        let reason = http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let head =
            format!("HTTP/1.1 {status} {reason}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
        ListenerAnswer {
            status,
            content_type: "",
            head_bytes: head.len() as u64,
            body_bytes: 0,
        }
    }
}

impl Observer {
    /// Report a request the listener answered itself, before any handler ran
    /// (a malformed or oversized head, a head too slow, a connection over the
    /// cap): it is counted and logged like any other, with what was sent.
    pub fn rejected(&self, client: std::net::IpAddr, request_line: &str, sent: ListenerAnswer) {
        let status = sent.status;
        self.metrics.request(status, None);
        self.metrics.listener_rejection(status);
        if self.access.enabled() {
            let facts = RequestFacts {
                request: RequestLine::Raw(request_line.to_owned()),
                remote_addr: Some(client),
                ..RequestFacts::default()
            };
            let content_type = Some(sent.content_type)
                .filter(|t| !t.is_empty())
                .map(HeaderValue::from_static);
            self.access.write(&Finished {
                time: SystemTime::now(),
                facts: &facts,
                status,
                content_type: content_type.as_ref(),
                header_bytes: sent.head_bytes,
                body_bytes: sent.body_bytes,
                upstream_status: None,
                upstream_time: None,
                request_time: Duration::ZERO,
                walk: &WalkLog::default(),
                cause: None,
            });
        }
    }
}

/// Everything but the body size, gathered while the request is handled.
#[derive(Debug)]
pub struct Pending {
    /// Arrival.
    pub started: Instant,
    /// Logged request parts.
    pub facts: RequestFacts,
    /// Status sent; 499 until a response exists (the client went away).
    pub status: u16,
    /// `Content-Type` sent.
    pub content_type: Option<http::HeaderValue>,
    /// Estimated bytes of the response head.
    pub header_bytes: u64,
    /// The next hop's status, if asked.
    pub upstream_status: Option<u16>,
    /// Time to the next hop's headers.
    pub upstream_time: Option<Duration>,
    /// What the chain did.
    pub walk: WalkLog,
}

/// Status logged for a request whose client went away before the answer.
pub const CLIENT_CLOSED: u16 = 499;

/// Status logged for a request the server cut off at the drain timeout
/// before answering it (the connection was closed without an answer; the
/// server, not the client, ended it).
pub const DRAIN_CUT_OFF: u16 = 503;

impl Pending {
    /// A request that just arrived.
    pub fn new(facts: RequestFacts) -> Pending {
        Pending {
            started: Instant::now(),
            facts,
            status: CLIENT_CLOSED,
            content_type: None,
            header_bytes: 0,
            upstream_status: None,
            upstream_time: None,
            walk: WalkLog::default(),
        }
    }
}

/// Reports a request exactly once: when its body has been sent, or when it is
/// dropped unfinished (the handler was cancelled because the client left).
pub struct Report {
    pending: Box<Pending>,
    observer: Observer,
    /// The connection, told when the response is done (its keep-alive idle
    /// timeout runs again).
    conn: Option<Arc<ConnWatch>>,
    sent: u64,
    finished: bool,
}

impl Report {
    /// A report for `pending`, to `observer`, for a request that came on
    /// `conn`.
    pub fn new(pending: Pending, observer: Observer, conn: Option<Arc<ConnWatch>>) -> Report {
        Report {
            pending: Box::new(pending),
            observer,
            conn,
            sent: 0,
            finished: false,
        }
    }

    /// Count `bytes` more sent to the client (a tunnel's).
    pub fn count_sent(&mut self, bytes: u64) {
        self.sent = self.sent.saturating_add(bytes);
    }

    /// The request's facts so far.
    pub fn pending(&mut self) -> &mut Pending {
        &mut self.pending
    }

    /// Hand the report to the response body, which finishes it.
    pub fn into_body<B>(self, inner: B) -> Completion<B> {
        Completion {
            inner,
            report: Some(self),
        }
    }

    fn finish(&mut self) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        if let Some(conn) = &self.conn {
            conn.idle();
        }
        let (p, observer) = (&self.pending, &self.observer);
        let request_time = p.started.elapsed();
        // Ending before the body was sent whole: the server cut it off at
        // the drain timeout, or else the client left.
        let cut_off = self.conn.as_ref().is_some_and(|c| c.was_cut_off());
        let (status, cause) = match (cut_off, p.status) {
            (true, CLIENT_CLOSED) => (DRAIN_CUT_OFF, Some("drain_timeout")),
            (true, status) => (status, Some("drain_timeout")),
            (false, CLIENT_CLOSED) => (CLIENT_CLOSED, Some("client_closed")),
            (false, status) => (status, None),
        };
        let m = &observer.metrics;
        m.request(status, p.walk.answered_by.as_deref());
        m.response_bytes.inc_by(self.sent);
        m.duration.observe(request_time.as_secs_f64());
        if observer.access.enabled() {
            // The wall clock is read only for the log line.
            let time = SystemTime::now()
                .checked_sub(request_time)
                .unwrap_or(SystemTime::UNIX_EPOCH);
            observer.access.write(&Finished {
                time,
                facts: &p.facts,
                status,
                content_type: p.content_type.as_ref(),
                header_bytes: p.header_bytes,
                body_bytes: self.sent,
                upstream_status: p.upstream_status,
                upstream_time: p.upstream_time,
                request_time,
                walk: &p.walk,
                cause,
            });
        }
    }
}

impl Drop for Report {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A response body that reports the request when it is done.
pub struct Completion<B> {
    inner: B,
    report: Option<Report>,
}

impl<B> Completion<B> {
    /// A body whose request is reported elsewhere (a tunnel reports when it
    /// closes).
    pub fn unreported(inner: B) -> Completion<B> {
        Completion {
            inner,
            report: None,
        }
    }
}

impl<B> Body for Completion<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let Some(report) = this.report.as_mut() else {
            return polled;
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    report.sent += data.len() as u64;
                }
                if this.inner.is_end_stream() {
                    report.finish();
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => report.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
