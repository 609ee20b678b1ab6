//! The hyper service on the proxy port: check what a proxy must refuse, take
//! the current chain, walk the request through it, forward to the next hop,
//! walk the response back, and tunnel upgraded connections.
//!
//! The request path does one atomic load of the chain pointer and never
//! touches the filesystem or a global lock.

pub mod completion;
pub mod date;
pub mod front;
pub mod tunnel;

use crate::cache::policy::Usable;
use crate::cache::{self, Cache, Served, collapse, tee};
use crate::chain::body::{ChainBody, declared_length};
use crate::chain::failure::host_response;
use crate::chain::walk::{RequestOutcome, ResponseWalk};
use crate::chain::{ChainSnapshot, SharedChain};
use crate::client_body::{self, BodyProgress, ClientBody, PREBUFFER_BYTES};
use crate::conn::ConnInfo;
use crate::convert;
use crate::plugin::handler::HandlerBody;
use crate::telemetry::access::RequestFacts;
use crate::upstream::{Upstream, UpstreamBody, UpstreamError};
use bytes::Bytes;
use completion::{Completion, Observer, Pending, Report};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The request body as it goes to the next hop: the client's (watched), or
/// one the chain or the prebuffer rebuilt.
pub type ForwardBody = ChainBody<ClientBody<Incoming>>;

/// Where an answer's body comes from: the next hop, or a `wasi:http`
/// handler at the end of the chain.
pub type AnswerBody = Either<UpstreamBody<ForwardBody>, Either<HandlerBody, CacheBody>>;

/// A response the cache is storing while it streams (boxed: its layers
/// depend on the links around the cache; only misses pay for the box).
/// Its error is a named type: a boxed trait object inside the boxed body's
/// type defeats rustc's proof that the request's future is `Send`.
pub type CacheBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BodyError>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response the proxy sends.
pub type ProxyBody = Completion<Either<AnswerBody, Full<Bytes>>>;

/// Everything a request needs, shared by all connections.
pub struct Proxy {
    chain: SharedChain,
    upstream: Arc<Upstream<ForwardBody>>,
    observer: Observer,
    body_idle_timeout: Duration,
}

/// What `forward` produced besides the response: a tunnel to run.
type Forwarded = (
    Response<Either<AnswerBody, Full<Bytes>>>,
    Option<tunnel::Tunnel>,
);

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

    /// The same proxy, for work that outlives the request that started it
    /// (a background revalidation).
    fn detached(&self) -> Proxy {
        Proxy {
            chain: self.chain.clone(),
            upstream: self.upstream.clone(),
            observer: self.observer.clone(),
            body_idle_timeout: self.body_idle_timeout,
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
                        self.forward_cached(
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
            RequestOutcome::Forward(req, walk) if let Some(handler) = chain.terminal() => {
                match self.serve_terminal(handler, req, client_ip, pending).await {
                    Ok(resp) => (walk.run(resp, &mut pending.walk).await, None),
                    Err(answer) => (answer, None),
                }
            }
            RequestOutcome::Forward(mut req, walk) => {
                convert::add_forwarded(req.headers_mut(), client_ip);
                if let Some(up) = &upgrade {
                    up.ask_next_hop(req.headers_mut());
                }
                // Read a small body whole before the next hop is contacted,
                // so the origin never waits on a slow client for it.
                let progress = match prebuffer(req.body_mut(), self.body_idle_timeout).await {
                    Ok(progress) => progress,
                    Err(answer) => return (answer.map(Either::Right), None),
                };
                let sent = Instant::now();
                let deadline =
                    response_deadline(progress.clone(), self.upstream.settings().timeout);
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
                        // A plugin that answered otherwise refused the switch:
                        // the next hop's upgraded connection is dropped.
                        let tunnel =
                            tunnel.filter(|_| answer.status() == StatusCode::SWITCHING_PROTOCOLS);
                        if let Some(t) = &tunnel {
                            t.answer_client(answer.headers_mut());
                        }
                        (answer, tunnel)
                    }
                    Err(UpstreamError::ClientBody(why)) => {
                        // The client's body failed while it was sent: its
                        // fault, answered as such; the next hop is not blamed.
                        let failure = progress
                            .and_then(|p| p.failure(self.body_idle_timeout))
                            .unwrap_or(client_body::ClientBodyFailed::Malformed(why));
                        (client_fault(&failure).map(Either::Right), None)
                    }
                    Err(e) => {
                        self.observer.metrics.upstream_error(e.kind());
                        (upstream_failure(&e).map(Either::Right), None)
                    }
                }
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

/// What the part of the chain after the cache produced.
enum Fetched {
    /// A response from the next hop (or the handler standing in for it),
    /// after the links behind the cache saw it.
    Next(Response<Either<AnswerBody, Full<Bytes>>>),
    /// A link behind the cache answered or rejected, or the next hop failed
    /// (`true`: the next hop's fault): not storable.
    Other(Response<Either<AnswerBody, Full<Bytes>>>, bool),
}

/// A background revalidation: the key it refreshes, what the links before
/// the cache asked, and the collapse guard it holds until done.
struct Revalidation {
    look: cache::Lookup,
    asked: crate::cache_directives::CacheDirectives,
    guard: collapse::FlightGuard,
}

/// Methods whose non-error responses invalidate what the cache holds for
/// their target (RFC 9111 §4.4).
fn unsafe_method(m: &http::Method) -> bool {
    !matches!(
        *m,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS | http::Method::TRACE
    )
}

impl Proxy {
    /// A request through a chain with a cache after its first `at` links:
    /// those run on every request; the cache answers what it can; the rest
    /// of the chain and the next hop run on misses, and what they answer is
    /// stored as it streams to the client (see docs/caching.md).
    #[allow(clippy::too_many_arguments)]
    async fn forward_cached(
        &self,
        chain: &Arc<ChainSnapshot>,
        cache: &Arc<Cache>,
        at: usize,
        req: Request<ClientBody<Incoming>>,
        client_ip: Option<std::net::IpAddr>,
        upgrade: Option<tunnel::Upgrade>,
        pending: &mut Pending,
    ) -> Forwarded {
        let (req, before) = match chain
            .run_request_range(0..at, req, client_ip, &mut pending.walk)
            .await
        {
            RequestOutcome::Forward(req, walk) => (req, walk),
            RequestOutcome::Answered(resp, walk) => {
                let resp = walk.run(resp, &mut pending.walk).await.map(|b| match b {
                    Either::Left(full) | Either::Right(full) => Either::Right(full),
                });
                return (resp, None);
            }
            RequestOutcome::Rejected(resp) => return (resp.map(Either::Right), None),
        };
        let (mut parts, body) = req.into_parts();
        let asked = pending.walk.cache_directives.clone();
        let look = cache.lookup(&parts, &asked);
        let method = parts.method.clone();
        let cacheable_method = matches!(method, http::Method::GET | http::Method::HEAD);
        let pass = if upgrade.is_some() {
            Some("upgrade")
        } else if asked.bypass {
            Some("bypass")
        } else if !cacheable_method {
            Some("method")
        } else {
            None
        };
        if let Some(why) = pass {
            // Straight through, as if there were no cache.
            pending.walk.cache = Some(if why == "bypass" { "bypass" } else { "pass" });
            cache.metrics().misses.inc();
            let req = Request::from_parts(parts, body);
            let (host, scheme) = (
                host_of(req.headers()),
                cache::key::scheme(req.uri(), req.headers()).to_owned(),
            );
            let (mut resp, tunnel) = match self
                .fetch_next(chain, at, req, client_ip, upgrade, pending)
                .await
            {
                (Fetched::Next(r) | Fetched::Other(r, _), t) => (r, t),
            };
            let status = resp.status();
            if unsafe_method(&method) && (status.is_success() || status.is_redirection()) {
                cache.invalidate(&look, &asked, &host, &scheme, resp.headers());
            }
            strip_cache_fields(cache, resp.headers_mut());
            resp.headers_mut().insert(
                cache::CACHE_STATUS,
                cache::forwarded_status(
                    if why == "bypass" { "bypass" } else { "method" },
                    Some(status.as_u16()),
                    Err(if why == "method" { "" } else { why }),
                ),
            );
            return (self.walk_back(before, resp, pending).await, tunnel);
        }
        let head_only = method == http::Method::HEAD;
        // Requests whose response could not serve others neither lead nor
        // follow a collapsed fetch, and do not mark the key hit-for-pass.
        let solo = head_only
            || look.directives.no_store
            || parts.headers.contains_key(http::header::RANGE)
            || parts.headers.contains_key(http::header::AUTHORIZATION)
            || parts.headers.contains_key(http::header::IF_NONE_MATCH)
            || parts.headers.contains_key(http::header::IF_MODIFIED_SINCE)
            || cache::key::unkeyed_input(&parts.headers, &[]).is_some();
        let mut guard = None;
        let mut collapsed = false;
        let mut stale: Option<Arc<cache::store::Entry>> = None;
        for round in 0..2 {
            if let Some(entry) = cache.store().lookup(&look.primary, &parts.headers) {
                let served = match cache::policy::usable(&entry.freshness(), &look.directives) {
                    Usable::Fresh if collapsed => Some(Served::Collapsed),
                    Usable::Fresh => Some(Served::Hit),
                    Usable::StaleAccepted => Some(Served::StaleAccepted),
                    Usable::WhileRevalidate => {
                        if let collapse::Join::Leader(g) = cache.flights().join(&look.primary) {
                            let job = Revalidation {
                                look: look.clone(),
                                asked: asked.clone(),
                                guard: g,
                            };
                            self.revalidate_behind(
                                chain, cache, at, &parts, &entry, client_ip, job,
                            );
                        }
                        Some(Served::WhileRevalidate)
                    }
                    Usable::Validate => None,
                };
                if let Some(how) = served {
                    return self
                        .serve_stored(
                            cache,
                            &entry,
                            &parts.headers,
                            head_only,
                            how,
                            before,
                            pending,
                        )
                        .await;
                }
                stale = Some(entry);
                break;
            }
            if look.directives.only_if_cached {
                pending.walk.cache = Some("miss");
                let mut resp = host_response(
                    StatusCode::GATEWAY_TIMEOUT,
                    "not in the cache (only-if-cached)",
                );
                resp.headers_mut().insert(
                    cache::CACHE_STATUS,
                    cache::forwarded_status("miss", None, Err("only-if-cached")),
                );
                return (
                    self.walk_back(before, resp.map(Either::Right), pending)
                        .await,
                    None,
                );
            }
            if round > 0 || solo || cache.is_pass(&look.primary) {
                break;
            }
            match cache.flights().join(&look.primary) {
                collapse::Join::Leader(g) => {
                    // The fetch before ours may have stored it since we looked.
                    if let Some(entry) = cache.store().lookup(&look.primary, &parts.headers)
                        && cache::policy::usable(&entry.freshness(), &look.directives)
                            == Usable::Fresh
                    {
                        drop(g);
                        return self
                            .serve_stored(
                                cache,
                                &entry,
                                &parts.headers,
                                head_only,
                                Served::Hit,
                                before,
                                pending,
                            )
                            .await;
                    }
                    guard = Some(g);
                    break;
                }
                collapse::Join::Follower(rx) => {
                    cache.metrics().collapsed.inc();
                    collapsed = true;
                    let waited =
                        tokio::time::timeout(self.upstream.settings().timeout, collapse::wait(rx))
                            .await;
                    if waited.is_err() {
                        break;
                    }
                }
            }
        }
        cache.metrics().misses.inc();
        // Validate what is stored with our own conditionals; the client's
        // are answered from the result.
        let client_conditionals = stale.is_some().then(|| {
            let mut kept = HeaderMap::new();
            for name in [http::header::IF_NONE_MATCH, http::header::IF_MODIFIED_SINCE] {
                if let Some(v) = parts.headers.remove(&name) {
                    kept.insert(name, v);
                }
            }
            for (name, value) in stale
                .iter()
                .flat_map(|e| cache::policy::validators(&e.headers))
            {
                parts.headers.insert(name, value);
            }
            kept
        });
        let request_head = parts.headers.clone();
        let fwd = if stale.is_some() {
            if look.directives.no_cache {
                "request"
            } else {
                "stale"
            }
        } else {
            "uri-miss"
        };
        let request_time = std::time::SystemTime::now();
        let req = Request::from_parts(parts, body);
        let (fetched, _) = self
            .fetch_next(chain, at, req, client_ip, None, pending)
            .await;
        let resp = match fetched {
            Fetched::Next(resp) => resp,
            Fetched::Other(resp, next_hop_failed) => {
                if next_hop_failed
                    && let Some(entry) = &stale
                    && cache::policy::stale_if_error(&entry.freshness(), &look.directives)
                {
                    cache.metrics().stale.inc();
                    return self
                        .serve_stored(
                            cache,
                            entry,
                            client_conditionals.as_ref().unwrap_or(&request_head),
                            head_only,
                            Served::OnError(None),
                            before,
                            pending,
                        )
                        .await;
                }
                pending.walk.cache = Some("miss");
                let mut resp = resp;
                strip_cache_fields(cache, resp.headers_mut());
                let status = resp.status().as_u16();
                resp.headers_mut().insert(
                    cache::CACHE_STATUS,
                    cache::forwarded_status(fwd, Some(status), Err("")),
                );
                return (self.walk_back(before, resp, pending).await, None);
            }
        };
        let (mut head, body) = resp.into_parts();
        if let Some(entry) = &stale {
            let status = head.status.as_u16();
            if head.status == StatusCode::NOT_MODIFIED {
                // Merge the 304 into what is stored and serve that.
                let updated =
                    cache.refreshed(entry, &head, &pending.walk.cache_directives, request_time);
                cache.store().insert(&look.primary, &request_head, updated);
                if let Some(entry) = cache.store().lookup(&look.primary, &request_head) {
                    pending.walk.cache = Some("revalidated");
                    let conditionals = client_conditionals.unwrap_or_default();
                    return self
                        .serve_stored(
                            cache,
                            &entry,
                            &conditionals,
                            head_only,
                            Served::Revalidated,
                            before,
                            pending,
                        )
                        .await;
                }
            } else if matches!(status, 500 | 502 | 503 | 504)
                && cache::policy::stale_if_error(&entry.freshness(), &look.directives)
            {
                cache.metrics().stale.inc();
                return self
                    .serve_stored(
                        cache,
                        entry,
                        client_conditionals.as_ref().unwrap_or(&request_head),
                        head_only,
                        Served::OnError(Some(status)),
                        before,
                        pending,
                    )
                    .await;
            }
        }
        pending.walk.cache = Some("miss");
        let admitted = if head_only {
            Err("head")
        } else {
            cache.admit(
                &look,
                &http::Method::GET,
                &request_head,
                &mut head,
                &pending.walk.cache_directives,
                request_time,
            )
        };
        let status = head.status.as_u16();
        let stored = admitted.as_ref().map(|_| ()).map_err(|w| *w);
        head.headers.insert(
            cache::CACHE_STATUS,
            cache::forwarded_status(fwd, Some(status), stored),
        );
        let resp = match admitted {
            Ok(entry)
                if head.status == StatusCode::NO_CONTENT
                    || crate::chain::body::declared_length(&head.headers) == Some(0) =>
            {
                // No body to wait for (hyper never polls a 204's): stored now.
                let vary_request = vary_fields(&entry.vary, &request_head);
                cache.store().insert(&look.primary, &vary_request, entry);
                drop(guard);
                Response::from_parts(head, body)
            }
            Ok(entry) => {
                let expected = crate::chain::body::declared_length(&head.headers);
                let vary_request = vary_fields(&entry.vary, &request_head);
                let to = tee::Destination {
                    store: cache.store().clone(),
                    primary: look.primary.clone(),
                    request: vary_request,
                    entry,
                    max_bytes: (cache.spec().max_object_mb * 1024 * 1024) as usize,
                    guard,
                };
                let tee = tee::TeeBody::new(body, to, expected);
                let body: CacheBody = http_body_util::BodyExt::boxed_unsync(
                    http_body_util::BodyExt::map_err(tee, BodyError),
                );
                Response::from_parts(head, Either::Left(Either::Right(Either::Right(body))))
            }
            Err(_) => {
                if guard.is_some() {
                    cache.mark_pass(&look.primary);
                }
                drop(guard);
                Response::from_parts(head, body)
            }
        };
        (self.walk_back(before, resp, pending).await, None)
    }

    /// Serve a stored response through the links before the cache.
    #[allow(clippy::too_many_arguments)]
    async fn serve_stored(
        &self,
        cache: &Cache,
        entry: &cache::store::Entry,
        request: &HeaderMap,
        head_only: bool,
        how: Served,
        before: ResponseWalk<'_>,
        pending: &mut Pending,
    ) -> Forwarded {
        match how {
            Served::Hit | Served::Collapsed => {
                cache.metrics().hits.inc();
                pending.walk.cache = Some(if how == Served::Hit {
                    "hit"
                } else {
                    "collapsed"
                });
            }
            Served::StaleAccepted | Served::WhileRevalidate => {
                cache.metrics().hits.inc();
                cache.metrics().stale.inc();
                pending.walk.cache = Some("stale");
            }
            Served::OnError(_) => pending.walk.cache = Some("stale"),
            Served::Revalidated => {}
        }
        let resp = cache.serve(entry, request, head_only, how);
        if before.is_empty() {
            return (resp.map(Either::Right), None);
        }
        let resp = before.run(resp, &mut pending.walk).await.map(|b| match b {
            Either::Left(full) | Either::Right(full) => Either::Right(full),
        });
        (resp, None)
    }

    /// Run the links before the cache on a response on its way out.
    async fn walk_back(
        &self,
        before: ResponseWalk<'_>,
        resp: Response<Either<AnswerBody, Full<Bytes>>>,
        pending: &mut Pending,
    ) -> Response<Either<AnswerBody, Full<Bytes>>> {
        if before.is_empty() {
            let mut resp = resp;
            convert::strip_hop_by_hop(resp.headers_mut());
            return resp;
        }
        before.run(resp, &mut pending.walk).await.map(|b| match b {
            Either::Left(inner) => inner,
            Either::Right(full) => Either::Right(full),
        })
    }

    /// The part of the chain after the cache, then the next hop (or the
    /// terminal handler), and the response back through those links.
    ///
    /// Boxed: the walk is generic over the request body, and rustc cannot
    /// prove the unboxed future `Send` through the two nested walks.
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
            let req = req.map(|inner| Relay { inner });
            match chain
                .run_request_range(at..end, req, client_ip, &mut pending.walk)
                .await
            {
                RequestOutcome::Forward(req, walk) => {
                    let req = req.map(flatten);
                    if let Some(handler) = chain.terminal() {
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

    /// Revalidate `entry` in the background (stale-while-revalidate): the
    /// request goes through the links after the cache and the next hop with
    /// the stored validators, and what comes back is stored.
    #[allow(clippy::too_many_arguments)]
    fn revalidate_behind(
        &self,
        chain: &Arc<ChainSnapshot>,
        cache: &Arc<Cache>,
        at: usize,
        parts: &http::request::Parts,
        entry: &cache::store::Entry,
        client_ip: Option<std::net::IpAddr>,
        job: Revalidation,
    ) {
        let Revalidation { look, asked, guard } = job;
        let proxy = self.detached();
        let (chain, cache) = (chain.clone(), cache.clone());
        let mut req = Request::new(Either::Right(Full::default()));
        *req.method_mut() = http::Method::GET;
        *req.uri_mut() = parts.uri.clone();
        *req.headers_mut() = parts.headers.clone();
        req.headers_mut().remove(http::header::IF_NONE_MATCH);
        req.headers_mut().remove(http::header::IF_MODIFIED_SINCE);
        for (name, value) in cache::policy::validators(&entry.headers) {
            req.headers_mut().insert(name, value);
        }
        tokio::spawn(async move {
            let mut pending = Pending::new(RequestFacts::default());
            // What the links before the cache asked for the request this
            // one stands in for (the links after it record anew).
            pending.walk.cache_directives = asked;
            let (parts, body) = req.into_parts();
            let request_head = parts.headers.clone();
            let request_time = std::time::SystemTime::now();
            let (fetched, _) = proxy
                .fetch_next(
                    &chain,
                    at,
                    Request::from_parts(parts, body),
                    client_ip,
                    None,
                    &mut pending,
                )
                .await;
            let Fetched::Next(resp) = fetched else {
                return;
            };
            let (mut head, body) = resp.into_parts();
            if head.status == StatusCode::NOT_MODIFIED {
                if let Some(old) = cache.store().lookup(&look.primary, &request_head) {
                    let updated =
                        cache.refreshed(&old, &head, &pending.walk.cache_directives, request_time);
                    cache.store().insert(&look.primary, &request_head, updated);
                }
                drop(guard);
                return;
            }
            let Ok(entry) = cache.admit(
                &look,
                &http::Method::GET,
                &request_head,
                &mut head,
                &pending.walk.cache_directives,
                request_time,
            ) else {
                drop(guard);
                return;
            };
            let to = tee::Destination {
                store: cache.store().clone(),
                primary: look.primary.clone(),
                request: vary_fields(&entry.vary, &request_head),
                entry,
                max_bytes: (cache.spec().max_object_mb * 1024 * 1024) as usize,
                guard: Some(guard),
            };
            let expected = crate::chain::body::declared_length(&head.headers);
            let tee = tee::TeeBody::new(body, to, expected);
            let _ = http_body_util::BodyExt::collect(tee).await;
        });
    }

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
                let tunnel = tunnel.filter(|_| answer.status() == StatusCode::SWITCHING_PROTOCOLS);
                if let Some(t) = &tunnel {
                    t.answer_client(answer.headers_mut());
                }
                (answer, tunnel, true)
            }
            Err(UpstreamError::ClientBody(why)) => {
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

pin_project_lite::pin_project! {
    /// A request body on its way through the links after the cache. Its
    /// error is a named type: with `Either`'s boxed error, rustc cannot prove
    /// the walk's future `Send` (a higher-ranked lifetime limitation).
    struct Relay {
        #[pin]
        inner: ForwardBody,
    }
}

/// An error of a body the cache relays ([`CacheBody`], the request body
/// through the links after the cache).
#[derive(Debug)]
pub struct BodyError(BoxError);

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for BodyError {}

impl http_body::Body for Relay {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BodyError>>> {
        self.project().inner.poll_frame(cx).map_err(BodyError)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// One body type for the request the links after the cache passed on.
fn flatten(body: ChainBody<Relay>) -> ForwardBody {
    match body {
        Either::Left(relay) => relay.inner,
        Either::Right(full) => Either::Right(full),
    }
}

/// The request's `Host`, for invalidating `Location` on the same host.
fn host_of(headers: &HeaderMap) -> String {
    headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// The request fields a response's `Vary` names (the variant's selector).
fn vary_fields(names: &[http::header::HeaderName], request: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in names {
        for v in request.get_all(name) {
            out.append(name.clone(), v.clone());
        }
    }
    out
}

/// Remove the fields meant for this cache alone from a response passed on
/// without storing.
fn strip_cache_fields(cache: &Cache, headers: &mut HeaderMap) {
    let targeted =
        http::header::HeaderName::from_bytes(cache.spec().targeted_field.as_bytes()).ok();
    for name in targeted.iter().chain([
        &cache::policy::SURROGATE_CONTROL,
        &cache::SURROGATE_KEY,
        &cache::CACHE_TAG,
    ]) {
        headers.remove(name);
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
