//! The response body the client receives, wrapped so that when it has been
//! sent (or the client went away) the request is counted and its access log
//! line written, with the number of body bytes that actually left.

use crate::chain::walk::WalkLog;
use crate::telemetry::access::{self, AccessLog, Finished, RequestFacts};
use crate::telemetry::metrics::RequestMetrics;
use bytes::Bytes;
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

/// Everything but the body size, gathered while the request was handled.
#[derive(Debug)]
pub struct Pending {
    /// Arrival.
    pub started: Instant,
    /// Arrival, wall clock.
    pub time: SystemTime,
    /// Logged request parts.
    pub facts: RequestFacts,
    /// Status sent.
    pub status: u16,
    /// `Content-Type` sent.
    pub content_type: String,
    /// Estimated bytes of the response head.
    pub header_bytes: u64,
    /// The next hop's status, if asked.
    pub upstream_status: Option<u16>,
    /// Time to the next hop's headers.
    pub upstream_time: Option<Duration>,
    /// What the chain did.
    pub walk: WalkLog,
}

/// A response body that reports the request when it is done.
pub struct Completion<B> {
    inner: B,
    sent: u64,
    report: Option<(Box<Pending>, Observer)>,
}

impl<B> Completion<B> {
    /// Wrap `inner`; `pending` is reported to `observer` once.
    pub fn new(inner: B, pending: Pending, observer: Observer) -> Self {
        Completion {
            inner,
            sent: 0,
            report: Some((Box::new(pending), observer)),
        }
    }

    fn finish(&mut self) {
        let Some((p, observer)) = self.report.take() else {
            return;
        };
        let request_time = p.started.elapsed();
        let m = &observer.metrics;
        m.request(p.status, p.walk.answered_by.as_deref());
        m.response_bytes.inc_by(self.sent);
        m.duration.observe(request_time.as_secs_f64());
        if observer.access.enabled() {
            observer.access.write(access::line(&Finished {
                time: p.time,
                facts: &p.facts,
                status: p.status,
                content_type: &p.content_type,
                header_bytes: p.header_bytes,
                body_bytes: self.sent,
                upstream_status: p.upstream_status,
                upstream_time: p.upstream_time,
                request_time,
                walk: &p.walk,
            }));
        }
    }
}

impl<B> Drop for Completion<B> {
    fn drop(&mut self) {
        self.finish();
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
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.sent += data.len() as u64;
                }
                if this.inner.is_end_stream() {
                    this.finish();
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => this.finish(),
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
