//! The hyper service on the proxy port: check what a proxy must refuse, take
//! the current chain, walk the request through it, forward to the next hop,
//! walk the response back, and tunnel upgraded connections.
//!
//! The request path does one atomic load of the chain pointer and never
//! touches the filesystem or a global lock.

pub mod body;
pub mod cached;
pub mod completion;
pub mod date;
pub mod front;
pub mod tunnel;

pub use body::{AnswerBody, BodyError, CacheBody, ForwardBody};

use crate::chain::body::declared_length;
use crate::chain::failure::host_response;
use crate::chain::walk::{RequestOutcome, ResponseWalk};
use crate::chain::{ChainSnapshot, SharedChain};
use crate::client_body::{self, BodyProgress, ClientBody, PREBUFFER_BYTES};
use crate::conn::ConnInfo;
use crate::convert;
use crate::telemetry::access::RequestFacts;
use crate::upstream::{Upstream, UpstreamError};
use bytes::Bytes;
use completion::{Completion, Observer, Pending, Report};
use http::{Request, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The body of every response the proxy sends.
pub type ProxyBody = Completion<Either<AnswerBody, Full<Bytes>>>;

/// Everything a request needs, shared by all connections.
pub struct Proxy {
    chain: SharedChain,
    upstream: Arc<Upstream<ForwardBody>>,
    observer: Observer,
    body_idle_timeout: Duration,
}

use cached::{Fetched, Forwarded, NextHop};

impl Proxy {
    /// A proxy serving `chain` in front of `upstream`, reporting finished
    /// requests to `observer`; request bodies that stall for
    /// `body_idle_timeout` are answered 408.
    pub fn new(
        chain: SharedChain,
        upstream: Upstream<ForwardBody>,
        observer: Observer,
        body_idle_timeout: Duration,
    ) -> Self {
        Proxy {
            chain,
            upstream: Arc::new(upstream),
            observer,
            body_idle_timeout,
        }
    }

    /// The chain handle (for reloads and readiness).
    pub fn chain(&self) -> &SharedChain {
        &self.chain
    }

    /// Serve one request from the connection `conn`. Always produces a
    /// response; if the client goes away first, the request is still
    /// reported (status 499).
    pub async fn handle(&self, req: Request<Incoming>, conn: ConnInfo) -> Response<ProxyBody> {
        let client_ip = Some(conn.peer.ip());
        let (mut parts, body) = req.into_parts();
        let facts = if self.observer.access.enabled() {
            RequestFacts::of(&parts, client_ip)
        } else {
            RequestFacts::default()
        };
        let mut report = Report::new(
            Pending::new(facts),
            self.observer.clone(),
            Some(conn.watch.clone()),
        );
        // One atomic load: the front door and the walk read the same chain.
        let chain = self.chain.load_full();
        let (resp, tunnel) = match front::check(&mut parts, chain.head_limits().escaped_slashes) {
            Ok(()) => {
                if let Some(len) = declared_length(&parts.headers) {
                    self.observer.metrics.request_bytes.inc_by(len);
                }
                let upgrade = tunnel::Upgrade::requested(&mut parts);
                let body = ClientBody::new(body, self.body_idle_timeout);
                let req = Request::from_parts(parts, body);
                match chain.cache() {
                    Some((at, cache)) => {
                        cached::forward_cached(
                            self,
                            &chain,
                            cache,
                            at,
                            req,
                            client_ip,
                            upgrade,
                            report.pending(),
                        )
                        .await
                    }
                    None => {
                        self.forward(&chain, req, client_ip, upgrade, report.pending())
                            .await
                    }
                }
            }
            Err(refusal) => (refusal.answer().map(Either::Right), None),
        };
        let (mut parts, mut body) = resp.into_parts();
        // This hop speaks HTTP/1.1, whatever the next hop spoke.
        parts.version = http::Version::HTTP_11;
        if parts.status == StatusCode::RESET_CONTENT {
            // 205 has no content (RFC 9110 §15.3.6), whoever set one: hyper
            // drops a body only for 204 and 304.
            body = Either::Right(Full::default());
            parts.headers.insert(
                http::header::CONTENT_LENGTH,
                http::HeaderValue::from_static("0"),
            );
        }
        if !parts.headers.contains_key(http::header::DATE) {
            let _ = parts.headers.try_insert(http::header::DATE, date::now());
        }
        let pending = report.pending();
        pending.status = parts.status.as_u16();
        if self.observer.access.enabled() {
            pending.content_type = parts.headers.get(http::header::CONTENT_TYPE).cloned();
            pending.header_bytes = head_bytes(&parts);
        }
        match tunnel {
            // The tunnel reports the request when it closes.
            Some(tunnel) => {
                tunnel::spawn(tunnel, report, conn.hold.clone());
                Response::from_parts(parts, Completion::unreported(body))
            }
            None => Response::from_parts(parts, report.into_body(body)),
        }
    }

    /// The chain, the next hop, and the chain again on the way back.
    async fn forward(
        &self,
        chain: &ChainSnapshot,
        req: Request<ClientBody<Incoming>>,
        client_ip: Option<std::net::IpAddr>,
        upgrade: Option<tunnel::Upgrade>,
        pending: &mut Pending,
    ) -> Forwarded {
        match chain.run_request(req, client_ip, &mut pending.walk).await {
            RequestOutcome::Forward(req, walk)
                if let Some(handler) = chain.terminal().filter(|_| walk.terminal_runs()) =>
            {
                match self.serve_terminal(handler, req, client_ip, pending).await {
                    Ok(resp) => (walk.run(resp, &mut pending.walk).await, None),
                    Err(answer) => (answer, None),
                }
            }
            RequestOutcome::Forward(req, walk) => {
                let (answer, tunnel, _) =
                    self.send_next(req, walk, client_ip, upgrade, pending).await;
                (answer, tunnel)
            }
            RequestOutcome::Answered(resp, walk) => {
                let resp = walk.run(resp, &mut pending.walk).await.map(|b| match b {
                    Either::Left(full) | Either::Right(full) => Either::Right(full),
                });
                (resp, None)
            }
            RequestOutcome::Rejected(resp) => (resp.map(Either::Right), None),
        }
    }
}

impl NextHop for Proxy {
    fn detached(&self) -> Proxy {
        Proxy {
            chain: self.chain.clone(),
            upstream: self.upstream.clone(),
            observer: self.observer.clone(),
            body_idle_timeout: self.body_idle_timeout,
        }
    }

    fn response_timeout(&self) -> Duration {
        self.upstream.settings().timeout
    }

    fn fetch_next<'a>(
        &'a self,
        chain: &'a ChainSnapshot,
        at: usize,
        req: Request<ForwardBody>,
        client_ip: Option<std::net::IpAddr>,
        upgrade: Option<tunnel::Upgrade>,
        pending: &'a mut Pending,
    ) -> std::pin::Pin<Box<dyn Future<Output = (Fetched, Option<tunnel::Tunnel>)> + Send + 'a>>
    {
        Box::pin(async move {
            let end = chain.filters().len();
            let req = req.map(body::Relay::new);
            match chain
                .run_request_range(at..end, req, client_ip, &mut pending.walk)
                .await
            {
                RequestOutcome::Forward(req, walk) => {
                    let req = req.map(body::flatten);
                    if let Some(handler) = chain.terminal().filter(|_| walk.terminal_runs()) {
                        return match self.serve_terminal(handler, req, client_ip, pending).await {
                            Ok(resp) => {
                                let resp = walk.run(resp, &mut pending.walk).await;
                                (Fetched::Next(resp), None)
                            }
                            Err(answer) => (Fetched::Other(answer, false), None),
                        };
                    }
                    let (resp, tunnel, from_next_hop) =
                        self.send_next(req, walk, client_ip, upgrade, pending).await;
                    if from_next_hop {
                        (Fetched::Next(resp), tunnel)
                    } else {
                        (Fetched::Other(resp, true), tunnel)
                    }
                }
                RequestOutcome::Answered(resp, walk) => {
                    let resp = walk.run(resp, &mut pending.walk).await.map(|b| match b {
                        Either::Left(full) | Either::Right(full) => Either::Right(full),
                    });
                    (Fetched::Other(resp, false), None)
                }
                RequestOutcome::Rejected(resp) => {
                    (Fetched::Other(resp.map(Either::Right), false), None)
                }
            }
        })
    }
}

impl Proxy {
    /// Send a request to the next hop and walk its response back through
    /// `walk`; `false` when the next hop failed (the answer is ours).
    async fn send_next(
        &self,
        mut req: Request<ForwardBody>,
        walk: ResponseWalk<'_>,
        client_ip: Option<std::net::IpAddr>,
        upgrade: Option<tunnel::Upgrade>,
        pending: &mut Pending,
    ) -> (
        Response<Either<AnswerBody, Full<Bytes>>>,
        Option<tunnel::Tunnel>,
        bool,
    ) {
        convert::add_forwarded(req.headers_mut(), client_ip);
        if let Some(up) = &upgrade {
            up.ask_next_hop(req.headers_mut());
        }
        // Read a small body whole before the next hop is contacted, so the
        // origin never waits on a slow client for it.
        let progress = match prebuffer(req.body_mut(), self.body_idle_timeout).await {
            Ok(progress) => progress,
            Err(answer) => return (answer.map(Either::Right), None, false),
        };
        let sent = Instant::now();
        let deadline = response_deadline(progress.clone(), self.upstream.settings().timeout);
        let result = self.upstream.send(req, deadline).await;
        let took = sent.elapsed();
        pending.upstream_time = Some(took);
        self.observer
            .metrics
            .upstream_duration
            .observe(took.as_secs_f64());
        match result {
            Ok(mut resp) => {
                pending.upstream_status = Some(resp.status().as_u16());
                let tunnel = upgrade.and_then(|up| up.accepted(&mut resp));
                let resp = resp.map(Either::Left);
                let mut answer = walk.run(resp, &mut pending.walk).await;
                // A plugin that answered otherwise refused the switch: the
                // next hop's upgraded connection is dropped.
                let tunnel = tunnel.filter(|_| answer.status() == StatusCode::SWITCHING_PROTOCOLS);
                if let Some(t) = &tunnel {
                    t.answer_client(answer.headers_mut());
                }
                (answer, tunnel, true)
            }
            Err(UpstreamError::ClientBody(why)) => {
                // The client's body failed while it was sent: its fault,
                // answered as such; the next hop is not blamed.
                let failure = progress
                    .and_then(|p| p.failure(self.body_idle_timeout))
                    .unwrap_or(client_body::ClientBodyFailed::Malformed(why));
                (client_fault(&failure).map(Either::Right), None, false)
            }
            Err(e) => {
                self.observer.metrics.upstream_error(e.kind());
                (upstream_failure(&e).map(Either::Right), None, false)
            }
        }
    }
}

impl Proxy {
    /// Answer with the chain's terminal `wasi:http` handler. A failure goes
    /// through its `on_error` policy: `fail-open` sends a bodiless request
    /// on to the next hop (a body already given to the handler cannot be
    /// sent again, so such a request is failed closed).
    async fn serve_terminal(
        &self,
        handler: &crate::plugin::Handler,
        mut req: Request<ForwardBody>,
        client_ip: Option<std::net::IpAddr>,
        pending: &mut Pending,
    ) -> Result<Response<AnswerBody>, Response<Either<AnswerBody, Full<Bytes>>>> {
        use crate::chain::failure::{Flow, HookCall, on_failure};
        convert::add_forwarded(req.headers_mut(), client_ip);
        let replay = (http_body::Body::is_end_stream(req.body())
            && handler.on_error() == crate::config::OnError::FailOpen)
            .then(|| {
                let mut again = Request::new(Either::Right(Full::default()));
                *again.method_mut() = req.method().clone();
                *again.uri_mut() = req.uri().clone();
                *again.headers_mut() = req.headers().clone();
                again
            });
        let started = Instant::now();
        let call = HookCall::begin(handler, "request", started, &mut pending.walk);
        let served = handler.handle(client_ip, req).await;
        call.returned(&mut pending.walk);
        let took = started.elapsed();
        pending.walk.plugin_time += took;
        handler.record_call(took);
        let failure = match served {
            Ok(resp) => {
                pending.walk.record(handler.name_arc(), "request", "handle");
                pending.walk.answered_by = Some(handler.name_arc());
                return Ok(resp.map(|b| Either::Right(Either::Left(b))));
            }
            Err(failure) => failure,
        };
        match (
            on_failure(handler, &failure, "request", &mut pending.walk),
            replay,
        ) {
            (Flow::Skip, Some(req)) => {
                let result = self
                    .upstream
                    .send(
                        req,
                        response_deadline(None, self.upstream.settings().timeout),
                    )
                    .await;
                match result {
                    Ok(resp) => {
                        pending.upstream_status = Some(resp.status().as_u16());
                        let mut resp = resp.map(Either::Left);
                        convert::strip_hop_by_hop(resp.headers_mut());
                        Ok(resp)
                    }
                    Err(e) => {
                        self.observer.metrics.upstream_error(e.kind());
                        Err(upstream_failure(&e).map(Either::Right))
                    }
                }
            }
            (Flow::Reject(answer), _) => Err(answer.map(Either::Right)),
            (Flow::Skip, None) => Err(host_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "edge module failed",
            )
            .map(Either::Right)),
        }
    }
}

/// Read the client's body ahead, up to [`PREBUFFER_BYTES`] and within
/// `within`: a body that fits is sent whole; a larger one streams on (its
/// progress returned, so the next hop's response timeout can wait for it).
async fn prebuffer(
    body: &mut ForwardBody,
    within: Duration,
) -> Result<Option<Arc<BodyProgress>>, Response<Full<Bytes>>> {
    let Either::Left(client) = body else {
        return Ok(None);
    };
    if http_body::Body::is_end_stream(client) {
        return Ok(None);
    }
    let read = tokio::time::timeout(within, client.prebuffer(PREBUFFER_BYTES)).await;
    match read {
        Ok(Ok(true)) => {
            let whole = client.take_complete().unwrap_or_default();
            *body = Either::Right(Full::new(whole));
            Ok(None)
        }
        Ok(Ok(false)) => Ok(client.progress()),
        Ok(Err(failure)) => Err(client_fault(&failure)),
        Err(_) => Err(client_fault(&client_body::ClientBodyFailed::Stalled(
            within,
        ))),
    }
}

/// Completes when the next hop has had `timeout` since the request body
/// (if one is still streaming) was sent.
async fn response_deadline(progress: Option<Arc<BodyProgress>>, timeout: Duration) {
    if let Some(p) = progress {
        p.sent().await;
    }
    tokio::time::sleep(timeout).await;
}

/// The size of the response head on the wire, estimated: status line,
/// headers and the blank line (hyper adds `date` and may add framing).
fn head_bytes(parts: &http::response::Parts) -> u64 {
    let headers = crate::limits::fields_bytes(&parts.headers);
    (17 + headers + 37 + 2) as u64
}

fn client_fault(failure: &client_body::ClientBodyFailed) -> Response<Full<Bytes>> {
    tracing::debug!(error = %failure, "client request body failed");
    let mut resp = match failure {
        client_body::ClientBodyFailed::Stalled(_) => host_response(
            StatusCode::REQUEST_TIMEOUT,
            "request body not received in time",
        ),
        client_body::ClientBodyFailed::Malformed(_) => {
            host_response(StatusCode::BAD_REQUEST, "malformed request body")
        }
    };
    // The rest of the body cannot be trusted to frame the next request.
    resp.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    resp
}

fn upstream_failure(e: &UpstreamError) -> Response<Full<Bytes>> {
    tracing::warn!(kind = e.kind(), error = %e, "next hop failed");
    match e {
        UpstreamError::Timeout(_) => {
            host_response(StatusCode::GATEWAY_TIMEOUT, "next hop timed out")
        }
        _ => host_response(StatusCode::BAD_GATEWAY, "next hop unavailable"),
    }
}
