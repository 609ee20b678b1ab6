//! The client's request body on its way to the next hop, watched so that a
//! client's fault is answered as one.
//!
//! - A body that stalls for longer than the idle timeout fails (the client
//!   gets 408), instead of holding a next-hop connection until the
//!   next hop's response timeout (504, blaming the origin).
//! - A malformed body (bad chunked encoding, a connection cut mid-body)
//!   fails as the client's (400), not as a next-hop failure (502).
//! - [`BodyProgress::sent`] tells when the whole body has been read, so the
//!   next hop's response timeout starts then, not while the client uploads.
//! - [`ClientBody::prebuffer`] reads a small body completely before the
//!   next hop is contacted, so the origin never waits on a slow client for
//!   it.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// Default longest pause between two pieces of a request body (nginx's
/// `client_body_timeout`).
pub const DEFAULT_BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest body read completely before the next hop is contacted.
pub const PREBUFFER_BYTES: usize = 64 * 1024;

/// Why the client's body failed; the answer is the client's fault.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientBodyFailed {
    /// The body could not be read (bad framing, connection cut).
    #[error("malformed request body: {0}")]
    Malformed(String),
    /// Nothing arrived for the idle timeout.
    #[error("request body stalled for {0:?}")]
    Stalled(Duration),
}

impl ClientBodyFailed {
    /// The status that answers it: 408 for a stall, 400 otherwise.
    pub fn status(&self) -> http::StatusCode {
        match self {
            ClientBodyFailed::Malformed(_) => http::StatusCode::BAD_REQUEST,
            ClientBodyFailed::Stalled(_) => http::StatusCode::REQUEST_TIMEOUT,
        }
    }
}

const SENDING: u8 = 0;
const DONE: u8 = 1;
const MALFORMED: u8 = 2;
const STALLED: u8 = 3;

/// How far the body got, shared with whoever waits for it.
#[derive(Debug, Default)]
pub struct BodyProgress {
    state: AtomicU8,
    finished: Notify,
}

impl BodyProgress {
    fn finish(&self, state: u8) {
        if self
            .state
            .compare_exchange(SENDING, state, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.finished.notify_waiters();
        }
    }

    /// Completes when the body has been read to its end or has failed.
    pub async fn sent(&self) {
        loop {
            let notified = self.finished.notified();
            if self.state.load(Ordering::Acquire) != SENDING {
                return;
            }
            notified.await;
        }
    }

    /// The failure, if the body failed.
    pub fn failure(&self, idle: Duration) -> Option<ClientBodyFailed> {
        match self.state.load(Ordering::Acquire) {
            MALFORMED => Some(ClientBodyFailed::Malformed("read failed".into())),
            STALLED => Some(ClientBodyFailed::Stalled(idle)),
            _ => None,
        }
    }
}

/// A client request body with an idle timeout and progress reporting.
pub struct ClientBody<B> {
    inner: B,
    /// Data read ahead by [`ClientBody::prebuffer`], yielded first.
    prefix: VecDeque<Bytes>,
    idle: Duration,
    deadline: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
    progress: Option<Arc<BodyProgress>>,
}

impl<B> ClientBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    /// Watch `inner`, failing it after `idle` without data.
    pub fn new(inner: B, idle: Duration) -> Self {
        let progress = (!inner.is_end_stream()).then(Arc::default);
        ClientBody {
            inner,
            prefix: VecDeque::new(),
            idle,
            deadline: None,
            timer: None,
            progress,
        }
    }

    /// The body's progress, if it has a body at all.
    pub fn progress(&self) -> Option<Arc<BodyProgress>> {
        self.progress.clone()
    }

    /// The idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        self.idle
    }

    /// Read ahead up to `limit` bytes; `Ok(true)` if that was the whole body.
    pub async fn prebuffer(&mut self, limit: usize) -> Result<bool, ClientBodyFailed> {
        let mut read = 0usize;
        while read <= limit {
            if self.inner_done() {
                return Ok(true);
            }
            match std::future::poll_fn(|cx| self.poll_inner(cx)).await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        read = read.saturating_add(data.len());
                        self.prefix.push_back(data);
                    }
                }
                Some(Err(e)) => return Err(e),
                None => return Ok(true),
            }
        }
        Ok(self.inner_done())
    }

    /// The whole body, if [`ClientBody::prebuffer`] read all of it.
    pub fn take_complete(&mut self) -> Option<Bytes> {
        if !self.inner_done() {
            return None;
        }
        let total: usize = self.prefix.iter().map(Bytes::len).sum();
        let mut all = bytes::BytesMut::with_capacity(total);
        for chunk in self.prefix.drain(..) {
            all.extend_from_slice(&chunk);
        }
        Some(all.freeze())
    }

    fn inner_done(&self) -> bool {
        self.inner.is_end_stream()
            || self
                .progress
                .as_ref()
                .is_none_or(|p| p.state.load(Ordering::Acquire) == DONE)
    }

    fn fail(&self, state: u8) {
        if let Some(p) = &self.progress {
            p.finish(state);
        }
    }

    fn poll_inner(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ClientBodyFailed>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                self.deadline = None;
                if self.inner.is_end_stream() {
                    self.fail(DONE);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                self.fail(DONE);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                self.fail(MALFORMED);
                Poll::Ready(Some(Err(ClientBodyFailed::Malformed(e.to_string()))))
            }
            Poll::Pending => {
                let deadline = *self
                    .deadline
                    .get_or_insert_with(|| Instant::now() + self.idle);
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
                if timer.as_mut().poll(cx).is_ready() {
                    self.fail(STALLED);
                    return Poll::Ready(Some(Err(ClientBodyFailed::Stalled(self.idle))));
                }
                Poll::Pending
            }
        }
    }
}

impl<B> Body for ClientBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = ClientBodyFailed;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ClientBodyFailed>>> {
        if let Some(data) = self.prefix.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if self.inner_done() {
            return Poll::Ready(None);
        }
        self.poll_inner(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_empty() && self.inner_done()
    }

    fn size_hint(&self) -> SizeHint {
        let ahead: u64 = self.prefix.iter().map(|b| b.len() as u64).sum();
        let inner = self.inner.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower().saturating_add(ahead));
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper.saturating_add(ahead));
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body that yields `chunks`, then ends, or stays pending forever.
    struct Script {
        chunks: VecDeque<Result<&'static str, &'static str>>,
        hang: bool,
    }

    impl Body for Script {
        type Data = Bytes;
        type Error = &'static str;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, &'static str>>> {
            match self.chunks.pop_front() {
                Some(c) => Poll::Ready(Some(
                    c.map(|s| Frame::data(Bytes::from_static(s.as_bytes()))),
                )),
                None if self.hang => Poll::Pending,
                None => Poll::Ready(None),
            }
        }
    }

    fn script(chunks: Vec<Result<&'static str, &'static str>>, hang: bool) -> Script {
        Script {
            chunks: chunks.into(),
            hang,
        }
    }

    #[tokio::test]
    async fn a_small_body_is_read_ahead_whole() {
        let mut body = ClientBody::new(
            script(vec![Ok("ab"), Ok("cd")], false),
            Duration::from_secs(5),
        );
        let progress = body.progress().expect("has a body");
        assert!(matches!(body.prebuffer(1024).await, Ok(true)));
        assert_eq!(body.take_complete().as_deref(), Some(&b"abcd"[..]));
        progress.sent().await;
    }

    #[tokio::test]
    async fn a_large_body_keeps_what_was_read_ahead() {
        let mut body = ClientBody::new(
            script(vec![Ok("abc"), Ok("def"), Ok("ghi")], false),
            Duration::from_secs(5),
        );
        assert!(matches!(body.prebuffer(2).await, Ok(false)));
        assert!(body.take_complete().is_none());
        let all = body.collect().await.map(|c| c.to_bytes());
        assert_eq!(all.ok().as_deref(), Some(&b"abcdefghi"[..]));
    }

    #[tokio::test]
    async fn a_broken_body_is_the_clients_fault() {
        let body = ClientBody::new(
            script(vec![Ok("ab"), Err("bad chunk")], false),
            Duration::from_secs(5),
        );
        let progress = body.progress().expect("has a body");
        let err = body.collect().await.expect_err("fails");
        assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
        assert!(progress.failure(Duration::ZERO).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_times_out() {
        let body = ClientBody::new(script(vec![Ok("ab")], true), Duration::from_secs(60));
        let progress = body.progress().expect("has a body");
        let err = body.collect().await.expect_err("times out");
        assert_eq!(err.status(), http::StatusCode::REQUEST_TIMEOUT);
        progress.sent().await;
    }
}
