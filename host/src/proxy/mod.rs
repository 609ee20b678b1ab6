//! The hyper service on the proxy port: take the current chain, walk the
//! request through it, forward to the next hop, walk the response back.
//!
//! The request path does one atomic load of the chain pointer and never
//! touches the filesystem or a global lock.

pub mod completion;
pub mod convert;

use crate::chain::ChainSnapshot;
use crate::chain::walk::{ChainBody, RequestOutcome, declared_length, host_response};
use crate::telemetry::access::RequestFacts;
use crate::upstream::{Upstream, UpstreamError};
use arc_swap::ArcSwap;
use bytes::Bytes;
use completion::{Completion, Observer, Pending, Report};
use http::{Request, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// The body of every response the proxy sends.
pub type ProxyBody = Completion<Either<Incoming, Full<Bytes>>>;

/// The current chain, swapped atomically on reload.
pub type SharedChain = Arc<ArcSwap<ChainSnapshot>>;

/// Everything a request needs, shared by all connections.
pub struct Proxy {
    chain: SharedChain,
    upstream: Upstream<ChainBody<Incoming>>,
    observer: Observer,
}

impl Proxy {
    /// A proxy serving `chain` in front of `upstream`, reporting finished
    /// requests to `observer`.
    pub fn new(
        chain: SharedChain,
        upstream: Upstream<ChainBody<Incoming>>,
        observer: Observer,
    ) -> Self {
        Proxy {
            chain,
            upstream,
            observer,
        }
    }

    /// The chain handle (for reloads and readiness).
    pub fn chain(&self) -> &SharedChain {
        &self.chain
    }

    /// Serve one request from `client`. Always produces a response; if the
    /// client goes away first, the request is still reported (status 499).
    pub async fn handle(&self, req: Request<Incoming>, client: SocketAddr) -> Response<ProxyBody> {
        let client_ip = Some(client.ip());
        let (mut parts, body) = req.into_parts();
        let facts = if self.observer.access.enabled() {
            RequestFacts::of(&parts, client_ip)
        } else {
            RequestFacts::default()
        };
        let mut report = Report::new(Pending::new(facts), self.observer.clone());
        let resp = match normalise_host(&mut parts) {
            Ok(()) => {
                if let Some(len) = declared_length(&parts.headers) {
                    self.observer.metrics.request_bytes.inc_by(len);
                }
                let req = Request::from_parts(parts, body);
                self.forward(req, client_ip, report.pending()).await
            }
            Err(why) => host_response(StatusCode::BAD_REQUEST, why).map(Either::Right),
        };
        let (parts, body) = resp.into_parts();
        let pending = report.pending();
        pending.status = parts.status.as_u16();
        pending.content_type = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        pending.header_bytes = head_bytes(&parts);
        Response::from_parts(parts, report.into_body(body))
    }

    /// The chain, the next hop, and the chain again on the way back.
    async fn forward(
        &self,
        req: Request<Incoming>,
        client_ip: Option<std::net::IpAddr>,
        pending: &mut Pending,
    ) -> Response<Either<Incoming, Full<Bytes>>> {
        let chain = self.chain.load_full();
        match chain.run_request(req, client_ip, &mut pending.walk).await {
            RequestOutcome::Forward(mut req, walk) => {
                convert::add_forwarded(req.headers_mut(), client_ip);
                let sent = Instant::now();
                let result = self.upstream.send(req).await;
                let took = sent.elapsed();
                pending.upstream_time = Some(took);
                self.observer
                    .metrics
                    .upstream_duration
                    .observe(took.as_secs_f64());
                match result {
                    Ok(resp) => {
                        pending.upstream_status = Some(resp.status().as_u16());
                        walk.run(resp, &mut pending.walk).await
                    }
                    Err(e) => {
                        self.observer.metrics.upstream_error(e.kind());
                        upstream_failure(&e).map(Either::Right)
                    }
                }
            }
            RequestOutcome::Answered(resp, walk) => {
                walk.run(resp, &mut pending.walk).await.map(|b| match b {
                    Either::Left(full) | Either::Right(full) => Either::Right(full),
                })
            }
            RequestOutcome::Rejected(resp) => resp.map(Either::Right),
        }
    }
}

/// One `Host`, agreeing with the target: a request with several `Host`
/// headers is refused (RFC 9112 §3.2), and an absolute-form target's authority
/// replaces `Host` (RFC 9112 §3.2.2), so plugins and the next hop see the same
/// host.
fn normalise_host(parts: &mut http::request::Parts) -> Result<(), &'static str> {
    if parts.headers.get_all(http::header::HOST).iter().count() > 1 {
        return Err("more than one Host header");
    }
    if let Some(authority) = parts.uri.authority() {
        match http::HeaderValue::from_str(authority.as_str()) {
            Ok(v) => {
                parts
                    .headers
                    .try_insert(http::header::HOST, v)
                    .map_err(|_| "too many header fields")?;
            }
            Err(_) => return Err("invalid authority"),
        }
    }
    // Plugins match on the normalised path; a target that has none is
    // ambiguous (`..` above the root, `%00`, backslashes) and refused.
    if let Some(pq) = parts.uri.path_and_query()
        && pq.path().starts_with('/')
        && convert::normalized_path(pq.as_str()).is_err()
    {
        return Err("invalid request target");
    }
    Ok(())
}

/// The size of the response head on the wire, estimated: status line,
/// headers and the blank line (hyper adds `date` and may add framing).
fn head_bytes(parts: &http::response::Parts) -> u64 {
    let headers: usize = parts
        .headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    (17 + headers + 37 + 2) as u64
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
