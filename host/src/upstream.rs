//! The client for the next hop: HTTP/1.1 over keep-alive connections that
//! this module pools itself, on hyper's `client::conn::http1`.
//!
//! Owning the pool keeps reuse explicit. A connection goes back to it only
//! when the response's framing was unambiguous and its body was read to the
//! end: a response with both `Content-Length` and `Transfer-Encoding`, one
//! that said `Connection: close`, one whose body the client abandoned, and
//! an upgraded (101) connection are never reused, so leftover bytes can never
//! be read as the next request's response. Failures become answers (502 when
//! the next hop refuses or breaks, 504 when it is too slow), never dropped
//! requests.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::uri::Authority;
use http::{Request, Response, Version};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Settings for the next-hop client.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// `HOST:PORT` of the next hop (resolved through /etc/hosts, then DNS).
    pub authority: Authority,
    /// Time allowed from the end of the request to the response headers.
    pub timeout: Duration,
    /// Time allowed to establish a connection.
    pub connect_timeout: Duration,
    /// Idle keep-alive connections kept.
    pub max_idle: usize,
    /// How long an idle connection is kept before it is closed.
    pub idle_timeout: Duration,
    /// Largest response head accepted from the next hop (else 502).
    pub max_response_head_bytes: usize,
    /// Most header fields accepted in a response from the next hop (else 502).
    pub max_response_headers: usize,
}

impl UpstreamSettings {
    /// Defaults for `authority`: 30 s response timeout, 5 s connect timeout,
    /// 256 idle connections kept for up to 90 s, response heads of at most
    /// 64 KiB and 100 fields (the limits plugins' answers are held to).
    pub fn new(authority: Authority) -> Self {
        UpstreamSettings {
            authority,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            max_idle: 256,
            idle_timeout: Duration::from_secs(90),
            max_response_head_bytes: crate::limits::DEFAULT_MAX_RESPONSE_HEAD_BYTES,
            max_response_headers: crate::limits::DEFAULT_MAX_HEADERS,
        }
    }
}

/// Why the next hop gave no response.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Could not connect (refused, unresolvable, connect timeout).
    #[error("cannot connect to next hop: {0}")]
    Connect(String),
    /// No response headers within the timeout.
    #[error("next hop did not answer within {0:?}")]
    Timeout(Duration),
    /// The connection broke or the response was not valid HTTP.
    #[error("next hop failed: {0}")]
    Protocol(String),
    /// Sending the request body failed because the client's body failed
    /// (malformed, or too slow): the client's fault, not the next hop's.
    #[error("the client's request body failed: {0}")]
    ClientBody(String),
}

impl UpstreamError {
    /// A short, stable label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Connect(_) => "connect",
            UpstreamError::Timeout(_) => "timeout",
            UpstreamError::Protocol(_) => "protocol",
            UpstreamError::ClientBody(_) => "client_body",
        }
    }
}

struct Idle<B> {
    sender: SendRequest<B>,
    since: Instant,
}

struct Pool<B> {
    idle: Mutex<Vec<Idle<B>>>,
    max_idle: usize,
    idle_timeout: Duration,
}

impl<B> Pool<B> {
    /// The most recently used idle connection still fresh and open.
    fn take(&self) -> Option<SendRequest<B>> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(c) = idle.pop() {
            if c.since.elapsed() < self.idle_timeout && !c.sender.is_closed() {
                return Some(c.sender);
            }
        }
        None
    }

    fn put(&self, sender: SendRequest<B>) {
        if sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() >= self.max_idle {
                // Drop the oldest: recently used connections are the warmest.
                idle.remove(0);
            }
            idle.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }
}

/// The next-hop client, generic over the request body type.
pub struct Upstream<B> {
    settings: UpstreamSettings,
    pool: Arc<Pool<B>>,
}

impl<B> Upstream<B>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// A client with its own connection pool.
    pub fn new(settings: UpstreamSettings) -> Self {
        Upstream {
            pool: Arc::new(Pool {
                idle: Mutex::new(Vec::new()),
                max_idle: settings.max_idle,
                idle_timeout: settings.idle_timeout,
            }),
            settings,
        }
    }

    /// The settings in use.
    pub fn settings(&self) -> &UpstreamSettings {
        &self.settings
    }

    /// Idle connections in the pool now.
    pub fn idle_connections(&self) -> usize {
        self.pool.idle.lock().map_or(0, |i| i.len())
    }

    /// Send `req` (origin-form target) to the next hop as HTTP/1.1. A missing
    /// `Host` becomes the next hop's authority. `response_deadline` completes
    /// when the next hop has had too long to answer (see
    /// [`UpstreamSettings::timeout`]); its start is the caller's choice (the
    /// proxy starts it when the request body has been sent).
    pub async fn send(
        &self,
        mut req: Request<B>,
        response_deadline: impl Future<Output = ()>,
    ) -> Result<Response<UpstreamBody<B>>, UpstreamError> {
        *req.version_mut() = Version::HTTP_11;
        // The chain strips `Upgrade`; only a client's upgrade puts it back.
        let asked_to_switch = req.headers().contains_key(header::UPGRADE);
        if !req.headers().contains_key(header::HOST) {
            let host = HeaderValue::from_str(self.settings.authority.as_str())
                .map_err(|e| UpstreamError::Protocol(e.to_string()))?;
            let _ = req.headers_mut().try_insert(header::HOST, host);
        }
        let exchange = async {
            let mut req = req;
            // A pooled connection may have been closed by the next hop while
            // idle; a request it never sent is retried on a fresh one.
            let mut fresh = false;
            loop {
                let mut sender = match self.pool.take() {
                    Some(s) => s,
                    None => {
                        fresh = true;
                        self.connect().await?
                    }
                };
                if sender.ready().await.is_err() {
                    if fresh {
                        return Err(UpstreamError::Protocol(
                            "connection closed before the request".into(),
                        ));
                    }
                    continue;
                }
                match sender.try_send_request(req).await {
                    Ok(resp) => return Ok((resp, sender)),
                    Err(mut e) => match e.take_message() {
                        Some(unsent) if !fresh => req = unsent,
                        _ => return Err(classify(e.into_error())),
                    },
                }
            }
        };
        let (resp, sender) = tokio::select! {
            biased;
            r = exchange => r?,
            () = response_deadline => return Err(UpstreamError::Timeout(self.settings.timeout)),
        };
        self.check_head(&resp, asked_to_switch)?;
        Ok(self.finish(resp, sender))
    }

    /// Refuse a response head this hop must not pass on: a status outside
    /// HTTP's (hyper reads any three digits), a switch nobody asked for, a
    /// head over the response limits. It is the next hop's fault (502), not
    /// that of a plugin that later sees it.
    fn check_head(
        &self,
        resp: &Response<Incoming>,
        asked_to_switch: bool,
    ) -> Result<(), UpstreamError> {
        let status = resp.status().as_u16();
        if status > 599 {
            return Err(UpstreamError::Protocol(format!(
                "status {status} is not HTTP's"
            )));
        }
        if status == 101 && !asked_to_switch {
            return Err(UpstreamError::Protocol(
                "switched protocols on a request that did not ask to".into(),
            ));
        }
        // The field count is hyper's to enforce (`max_headers` on the
        // connection): a head with more fails to parse.
        let head = crate::limits::STATUS_LINE_BYTES
            .saturating_add(crate::limits::fields_bytes(resp.headers()));
        if head > self.settings.max_response_head_bytes {
            return Err(UpstreamError::Protocol(format!(
                "response head larger than {} bytes",
                self.settings.max_response_head_bytes
            )));
        }
        Ok(())
    }

    async fn connect(&self) -> Result<SendRequest<B>, UpstreamError> {
        let authority = self.settings.authority.as_str();
        let connect = async {
            let stream = TcpStream::connect(authority)
                .await
                .map_err(|e| UpstreamError::Connect(format!("{authority}: {e}")))?;
            let _ = stream.set_nodelay(true);
            let (sender, conn) = http1::Builder::new()
                .max_headers(self.settings.max_response_headers)
                .max_buf_size(
                    self.settings
                        .max_response_head_bytes
                        .saturating_add(8 * 1024)
                        .max(8 * 1024),
                )
                .handshake(TokioIo::new(stream))
                .await
                .map_err(|e| UpstreamError::Connect(error_chain(&e)))?;
            tokio::spawn(async move {
                if let Err(e) = conn.with_upgrades().await {
                    tracing::debug!(error = %e, "next-hop connection ended with an error");
                }
            });
            Ok(sender)
        };
        match tokio::time::timeout(self.settings.connect_timeout, connect).await {
            Ok(r) => r,
            Err(_) => Err(UpstreamError::Connect(format!(
                "{authority}: no connection within {:?}",
                self.settings.connect_timeout
            ))),
        }
    }

    /// Fix the response's framing for forwarding and decide whether its
    /// connection may be reused once its body is read to the end.
    fn finish(
        &self,
        mut resp: Response<Incoming>,
        sender: SendRequest<B>,
    ) -> Response<UpstreamBody<B>> {
        let headers = resp.headers();
        let ambiguous = headers.contains_key(header::TRANSFER_ENCODING)
            && headers.contains_key(header::CONTENT_LENGTH);
        if ambiguous {
            // RFC 9112 §6.3: Transfer-Encoding wins; the length must not be
            // forwarded, and the connection is not trusted again.
            resp.headers_mut().remove(header::CONTENT_LENGTH);
        }
        let closing = resp.headers().get_all(header::CONNECTION).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
        }) || resp.version() != Version::HTTP_11;
        let upgraded = resp.status() == http::StatusCode::SWITCHING_PROTOCOLS;
        let reusable = !(ambiguous || closing || upgraded);
        let (parts, inner) = resp.into_parts();
        let mut body = UpstreamBody {
            inner,
            back: reusable.then(|| (sender, self.pool.clone())),
        };
        body.release_if_done();
        Response::from_parts(parts, body)
    }
}

/// A next-hop response body. When it has been read to its end it gives its
/// connection back to the pool (if the response allowed reuse); dropped
/// earlier, it closes the connection.
pub struct UpstreamBody<B> {
    inner: Incoming,
    back: Option<(SendRequest<B>, Arc<Pool<B>>)>,
}

impl<B> UpstreamBody<B> {
    fn release_if_done(&mut self) {
        if self.inner.is_end_stream()
            && let Some((sender, pool)) = self.back.take()
        {
            pool.put(sender);
        }
    }
}

impl<B: Unpin> Body for UpstreamBody<B> {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(_))) => self.release_if_done(),
            Poll::Ready(None) => {
                if let Some((sender, pool)) = self.back.take() {
                    pool.put(sender);
                }
            }
            Poll::Ready(Some(Err(_))) => self.back = None,
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

/// A failed exchange: the client's body failing while hyper sent it is the
/// client's fault; anything else is the next hop's.
fn classify(e: hyper::Error) -> UpstreamError {
    let text = error_chain(&e);
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        if s.is::<crate::client_body::ClientBodyFailed>() {
            return UpstreamError::ClientBody(text);
        }
        source = s.source();
    }
    UpstreamError::Protocol(text)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
