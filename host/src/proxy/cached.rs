//! The request path through a chain with an HTTP cache: the links before
//! it, the lookup, a hit served from the store or a miss sent on through
//! the links after it and the next hop (collapsed with concurrent misses),
//! stored as it streams, then the links before it on the way out. The proxy
//! lends the part after the cache through [`NextHop`].

use super::body::{AnswerBody, BodyError, CacheBody, ForwardBody};
use super::completion::Pending;
use super::tunnel;
use crate::cache::policy::Usable;
use crate::cache::{self, Cache, Served, collapse, tee};
use crate::chain::ChainSnapshot;
use crate::chain::failure::host_response;
use crate::chain::walk::{RequestOutcome, ResponseWalk};
use crate::client_body::ClientBody;
use crate::convert;
use crate::telemetry::access::RequestFacts;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use std::sync::Arc;
use std::time::Duration;

/// What `forward` produced besides the response: a tunnel to run.
pub type Forwarded = (
    Response<Either<AnswerBody, Full<Bytes>>>,
    Option<tunnel::Tunnel>,
);

/// What the cache needs of the proxy: the part of the chain after it and
/// the next hop, and a copy of itself for background revalidation.
pub trait NextHop: Send + Sync + Sized + 'static {
    /// Run the links after the cache (from filter `at`), then the next hop or
    /// the terminal handler, and the response back through those links.
    /// Boxed: the walk is generic over the request body, and rustc cannot
    /// prove the unboxed future `Send` through the two nested walks.
    #[allow(clippy::type_complexity)]
    fn fetch_next<'a>(
        &'a self,
        chain: &'a ChainSnapshot,
        at: usize,
        req: Request<ForwardBody>,
        client_ip: Option<std::net::IpAddr>,
        upgrade: Option<tunnel::Upgrade>,
        pending: &'a mut Pending,
    ) -> std::pin::Pin<Box<dyn Future<Output = (Fetched, Option<tunnel::Tunnel>)> + Send + 'a>>;

    /// The same next hop, for work that outlives the request that started it.
    fn detached(&self) -> Self;

    /// How long the next hop has to answer (a collapsed request waits as long).
    fn response_timeout(&self) -> Duration;
}

/// What the part of the chain after the cache produced.
pub enum Fetched {
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

/// A request through a chain with a cache after its first `at` links:
/// those run on every request; the cache answers what it can; the rest
/// of the chain and the next hop run on misses, and what they answer is
/// stored as it streams to the client (see docs/caching.md).
#[allow(clippy::too_many_arguments)]
pub async fn forward_cached<N: NextHop>(
    hop: &N,
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
        let (mut resp, tunnel) = match hop
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
        return (walk_back(before, resp, pending).await, tunnel);
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
                        revalidate_behind(hop, chain, cache, at, &parts, &entry, client_ip, job);
                    }
                    Some(Served::WhileRevalidate)
                }
                Usable::Validate => None,
            };
            if let Some(how) = served {
                return serve_stored(
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
                walk_back(before, resp.map(Either::Right), pending).await,
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
                    && cache::policy::usable(&entry.freshness(), &look.directives) == Usable::Fresh
                {
                    drop(g);
                    return serve_stored(
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
                let waited = tokio::time::timeout(hop.response_timeout(), collapse::wait(rx)).await;
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
    let (fetched, _) = hop
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
                return serve_stored(
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
            return (walk_back(before, resp, pending).await, None);
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
                return serve_stored(
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
            return serve_stored(
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
    (walk_back(before, resp, pending).await, None)
}

/// Serve a stored response through the links before the cache.
#[allow(clippy::too_many_arguments)]
async fn serve_stored(
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

/// Revalidate `entry` in the background (stale-while-revalidate): the
/// request goes through the links after the cache and the next hop with
/// the stored validators, and what comes back is stored.
#[allow(clippy::too_many_arguments)]
fn revalidate_behind<N: NextHop>(
    hop: &N,
    chain: &Arc<ChainSnapshot>,
    cache: &Arc<Cache>,
    at: usize,
    parts: &http::request::Parts,
    entry: &cache::store::Entry,
    client_ip: Option<std::net::IpAddr>,
    job: Revalidation,
) {
    let Revalidation { look, asked, guard } = job;
    let proxy = hop.detached();
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
