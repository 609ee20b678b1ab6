//! Walking one request through a chain: `on-request` in order, then, once the
//! next hop has answered, `on-response` in reverse on the links that ran and
//! asked for it.
//!
//! Bodies stay streams unless a link declared it needs one; only then is the
//! body buffered, up to that link's `max_body_bytes`. Every failure goes
//! through the failing link's `on_error` policy, and every path ends in a
//! response.

use super::ChainSnapshot;
use crate::config::OnError;
use crate::limits::HeadLimits;
use crate::plugin::bindings::{Request as WitRequest, RequestAction, Response as WitResponse};
use crate::plugin::{FilterInstance, Link, LinkFailure};
use crate::proxy::client_body::ClientBodyFailed;
use crate::proxy::convert::{self, ValidRequest};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Either, Full, LengthLimitError, Limited};
use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A body that is either the original stream or one the chain rebuilt.
pub type ChainBody<B> = Either<B, Full<Bytes>>;

/// Where a request goes after `on-request`.
pub enum RequestOutcome<'c, B> {
    /// Send this request to the next hop, then finish with [`ResponseWalk::run`].
    Forward(http::Request<ChainBody<B>>, ResponseWalk<'c>),
    /// A link answered at the edge; finish with [`ResponseWalk::run`] so the
    /// links before it still see the response.
    Answered(Response<Full<Bytes>>, ResponseWalk<'c>),
    /// The chain failed the request (fail-closed link, body too large, bad
    /// client body): send this as is.
    Rejected(Response<Full<Bytes>>),
}

/// Instances waiting for the response phase, and the request they passed on.
pub struct ResponseWalk<'c> {
    pending: Vec<FilterInstance<'c>>,
    limits: &'c HeadLimits,
    /// The request as passed on; `None` when no link ran.
    request: Option<WitRequest>,
}

/// What the chain did to one request, for the access log and metrics.
#[derive(Debug, Default)]
pub struct WalkLog {
    /// One entry per hook call (or failure), in call order.
    pub links: Vec<LinkRecord>,
    /// The link that answered at the edge, if one did.
    pub answered_by: Option<Arc<str>>,
    /// Time spent getting instances and running hooks.
    pub plugin_time: Duration,
}

/// One link's part in a request.
#[derive(Debug, Clone)]
pub struct LinkRecord {
    /// The link's name.
    pub link: Arc<str>,
    /// `request` or `response`.
    pub phase: &'static str,
    /// `next`, `respond`, `ok`, `handle`, `failed:<cause>` (fail-closed),
    /// `skipped:<cause>` (fail-open) or `cancelled` (the client left while
    /// it ran).
    pub outcome: Cow<'static, str>,
}

impl WalkLog {
    pub(crate) fn record(
        &mut self,
        link: &Link,
        phase: &'static str,
        outcome: impl Into<Cow<'static, str>>,
    ) {
        self.links.push(LinkRecord {
            link: link.name_arc(),
            phase,
            outcome: outcome.into(),
        });
    }
}

/// The outcome logged for a hook call its request outlived no longer: the
/// client went away while the link ran, and the request's future was dropped.
pub const CANCELLED: &str = "cancelled";

/// A hook call under way. It is logged as [`CANCELLED`] from the start and
/// counted as such if dropped unfinished, so a call cut short by a client
/// that left (499) is in the access log's `links` and in the metrics; a
/// call that returns is taken back out with [`HookCall::returned`] and
/// recorded by its real outcome.
#[must_use = "a hook call must be marked returned, or it counts as cancelled"]
pub(crate) struct HookCall<'l> {
    link: &'l Link,
    started: Instant,
    returned: bool,
}

impl<'l> HookCall<'l> {
    /// Start a call of `link` in `phase`, timed from `started`.
    pub(crate) fn begin(
        link: &'l Link,
        phase: &'static str,
        started: Instant,
        log: &mut WalkLog,
    ) -> Self {
        log.record(link, phase, CANCELLED);
        HookCall {
            link,
            started,
            returned: false,
        }
    }

    /// The call returned: its provisional record is removed, for the caller
    /// to record what it did.
    pub(crate) fn returned(mut self, log: &mut WalkLog) {
        self.returned = true;
        // Nothing else records while the call runs: it is the last record.
        if log.links.last().is_some_and(|r| r.outcome == CANCELLED) {
            log.links.pop();
        }
    }
}

impl Drop for HookCall<'_> {
    fn drop(&mut self) {
        if !self.returned {
            self.link.record_cancelled_call(self.started.elapsed());
        }
    }
}

enum Body<B> {
    Stream(B),
    Buffered(Vec<u8>),
}

pub(crate) enum Flow {
    Skip,
    Reject(Response<Full<Bytes>>),
}

/// A short plain-text response the host itself produces.
pub fn host_response(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(format!("{message}\n"))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Apply the link's policy to a failure: log it, then skip or reject.
pub(crate) fn on_failure(
    link: &Link,
    failure: &LinkFailure,
    phase: &'static str,
    log: &mut WalkLog,
) -> Flow {
    link.record_failure(failure);
    tracing::warn!(
        plugin = link.name(),
        cause = failure.cause(),
        phase,
        error = %failure,
        policy = ?link.on_error(),
        "plugin failed"
    );
    let flow = match (link.on_error(), failure) {
        (_, LinkFailure::BodyTooLarge(_)) if phase == "request" => Flow::Reject(host_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large",
        )),
        (_, LinkFailure::BodyTooLarge(_)) => Flow::Reject(host_response(
            StatusCode::BAD_GATEWAY,
            "response body too large",
        )),
        (OnError::FailOpen, _) => Flow::Skip,
        (OnError::FailClosed, LinkFailure::Instantiate(_)) => Flow::Reject(host_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "edge module unavailable",
        )),
        (OnError::FailClosed, _) => Flow::Reject(host_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "edge module failed",
        )),
    };
    let verdict = match flow {
        Flow::Skip => "skipped",
        Flow::Reject(_) => "failed",
    };
    log.record(link, phase, format!("{verdict}:{}", failure.cause()));
    flow
}

/// Buffer a body up to `limit` bytes.
async fn buffer<B>(body: B, limit: u64) -> Result<Vec<u8>, BufferError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes().into()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(BufferError::TooLarge),
        // A client body that stalled is a timeout (408), not a bad body.
        Err(e) if matches!(e.downcast_ref(), Some(ClientBodyFailed::Stalled(_))) => {
            Err(BufferError::TimedOut)
        }
        Err(e) => Err(BufferError::Read(e.to_string())),
    }
}

enum BufferError {
    TooLarge,
    Read(String),
    TimedOut,
}

/// Longest time to receive a whole body a link asked for. Without it a client
/// (or next hop) trickling a body would hold its instances and memory forever.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The body length a message declares in `Content-Length`, if valid.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

impl<B> Body<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// Make sure the body is in memory and within `limit`.
    async fn ensure_buffered(
        &mut self,
        limit: u64,
        declared: Option<u64>,
    ) -> Result<(), BufferError> {
        match self {
            Body::Buffered(b) if b.len() as u64 > limit => Err(BufferError::TooLarge),
            Body::Buffered(_) => Ok(()),
            Body::Stream(_) if declared.is_some_and(|n| n > limit) => Err(BufferError::TooLarge),
            Body::Stream(_) => {
                // Only a body that was read (partly) is lost on error, and the
                // caller then answers without forwarding it.
                let Body::Stream(s) = std::mem::replace(self, Body::Buffered(Vec::new())) else {
                    return Ok(());
                };
                match tokio::time::timeout(BODY_READ_TIMEOUT, buffer(s, limit)).await {
                    Ok(read) => {
                        *self = Body::Buffered(read?);
                        Ok(())
                    }
                    Err(_) => Err(BufferError::TimedOut),
                }
            }
        }
    }

    fn into_chain_body(
        self,
        headers: &mut HeaderMap,
        original_length: Option<HeaderValue>,
    ) -> ChainBody<B> {
        match self {
            Body::Stream(s) => {
                if let Some(len) = original_length {
                    // At most as many fields as the head limits allow.
                    let _ = headers.try_insert(header::CONTENT_LENGTH, len);
                }
                Either::Left(s)
            }
            Body::Buffered(b) => {
                let _ = headers.try_insert(header::CONTENT_LENGTH, HeaderValue::from(b.len()));
                Either::Right(Full::new(Bytes::from(b)))
            }
        }
    }
}

/// Validate a request a link passed on, unless its head is exactly what the
/// link was given (most links only look): comparing is far cheaper than
/// parsing every header again. `Ok(None)` means unchanged.
fn revalidate_request(
    given: &WitRequest,
    next: &WitRequest,
    limits: &HeadLimits,
) -> Result<Option<ValidRequest>, convert::InvalidDecision> {
    let unchanged = next.method == given.method
        && next.path_with_query == given.path_with_query
        && next.authority == given.authority
        && next.headers == given.headers;
    if unchanged {
        Ok(None)
    } else {
        convert::request_from_wit(next, limits).map(Some)
    }
}

/// The normalised path the next link sees: the host's, never the plugin's
/// (moved out of `given`, which `next` replaces). A target whose encoded `/`
/// the host decoded is shown as it will be forwarded.
fn settle_normalized_path(
    given: &mut WitRequest,
    next: &mut WitRequest,
    valid: Option<&ValidRequest>,
) {
    next.normalized_path = match valid {
        Some(v) if next.path_with_query != given.path_with_query => {
            if edgechain_wire::path::has_escaped_slash(&next.path_with_query) {
                v.path.as_str().clone_into(&mut next.path_with_query);
            }
            v.normalized_path.clone()
        }
        _ => std::mem::take(&mut given.normalized_path),
    };
}

/// Like [`revalidate_request`], for a response head.
fn revalidate_response(
    given: &WitResponse,
    next: &WitResponse,
    limits: &HeadLimits,
) -> Result<Option<(StatusCode, HeaderMap)>, convert::InvalidDecision> {
    if next.status != given.status {
        return convert::response_from_wit(next, limits).map(Some);
    }
    if next.headers == given.headers {
        return Ok(None);
    }
    // A status the plugin kept is the next hop's (a 101 that switches
    // protocols included), not a decision of its own to check.
    let status = StatusCode::from_u16(next.status)
        .map_err(|_| convert::InvalidDecision::Status(next.status))?;
    Ok(Some((
        status,
        convert::response_headers_from_wit(next, limits)?,
    )))
}

/// Drop hop-by-hop headers (and `expect`, which this hop has answered), and
/// `content-length` unless the body is forwarded as is.
fn strip_request_headers(headers: &mut HeaderMap, keep_length: bool) {
    convert::strip_hop_by_hop(headers);
    headers.remove(header::EXPECT);
    if !keep_length {
        headers.remove(header::CONTENT_LENGTH);
    }
}

/// Call one hook with the body moved in only if the link asked for it; a
/// `None` body in the answer keeps the current one.
fn lend_body(slot: &mut Option<Vec<u8>>, body: &mut Body<impl Sized>, wants: bool) {
    if wants && let Body::Buffered(b) = body {
        *slot = Some(std::mem::take(b));
    }
}

fn settle_body<S>(body: &mut Body<S>, lent: Option<Vec<u8>>, answered: Option<Vec<u8>>) {
    match (answered, lent) {
        (Some(new), _) => *body = Body::Buffered(new),
        (None, Some(old)) => *body = Body::Buffered(old),
        (None, None) => {}
    }
}

impl ChainSnapshot {
    /// Run `on-request` on every link in order.
    pub async fn run_request<B>(
        &self,
        req: http::Request<B>,
        client_ip: Option<IpAddr>,
        log: &mut WalkLog,
    ) -> RequestOutcome<'_, B>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (mut parts, body) = req.into_parts();
        if self.filters().is_empty() {
            // Nothing to run: forward with only the proxy's own header rules.
            strip_request_headers(&mut parts.headers, true);
            let walk = ResponseWalk {
                pending: Vec::new(),
                limits: self.head_limits(),
                request: None,
            };
            return RequestOutcome::Forward(
                http::Request::from_parts(parts, Either::Left(body)),
                walk,
            );
        }
        let mut body = Body::Stream(body);
        let declared = declared_length(&parts.headers);
        // Read the body before any instance is taken, so a slow or oversized
        // body never holds instances; each link then checks its own limit.
        if let Some(limit) = self.request_body_limit() {
            match body.ensure_buffered(limit, declared).await {
                Ok(()) => {}
                Err(BufferError::TooLarge) => {
                    // Over every body-reading link's limit: charge the first.
                    if let Some(link) = self.filters().iter().find(|l| l.needs().request_body) {
                        let failure = LinkFailure::BodyTooLarge(link.spec().max_body_bytes);
                        if let Flow::Reject(r) = on_failure(link, &failure, "request", log) {
                            return RequestOutcome::Rejected(r);
                        }
                    }
                }
                Err(BufferError::TimedOut) => {
                    return RequestOutcome::Rejected(host_response(
                        StatusCode::REQUEST_TIMEOUT,
                        "request body not received in time",
                    ));
                }
                Err(BufferError::Read(e)) => {
                    tracing::debug!(error = %e, "client body read failed");
                    return RequestOutcome::Rejected(host_response(
                        StatusCode::BAD_REQUEST,
                        "cannot read request body",
                    ));
                }
            }
        }
        let limits = self.head_limits();
        let mut wit = convert::request_to_wit(&parts);
        let mut valid: Option<ValidRequest> = None;
        let mut pending = Vec::new();
        for link in self.filters() {
            let needs = link.needs();
            if needs.request_body {
                match body
                    .ensure_buffered(link.spec().max_body_bytes, declared)
                    .await
                {
                    Ok(()) => {}
                    Err(BufferError::TooLarge) => {
                        let failure = LinkFailure::BodyTooLarge(link.spec().max_body_bytes);
                        if let Flow::Reject(r) = on_failure(link, &failure, "request", log) {
                            return RequestOutcome::Rejected(r);
                        }
                    }
                    Err(BufferError::TimedOut) => {
                        return RequestOutcome::Rejected(host_response(
                            StatusCode::REQUEST_TIMEOUT,
                            "request body not received in time",
                        ));
                    }
                    Err(BufferError::Read(_)) => {
                        return RequestOutcome::Rejected(host_response(
                            StatusCode::BAD_REQUEST,
                            "cannot read request body",
                        ));
                    }
                }
            }
            let started = Instant::now();
            let call = HookCall::begin(link, "request", started, log);
            let mut instance = match link.instance(client_ip).await {
                Ok(i) => i,
                Err(failure) => {
                    call.returned(log);
                    log.plugin_time += started.elapsed();
                    match on_failure(link, &failure, "request", log) {
                        Flow::Skip => continue,
                        Flow::Reject(r) => return RequestOutcome::Rejected(r),
                    }
                }
            };
            lend_body(&mut wit.body, &mut body, needs.request_body);
            let result = instance.on_request(&wit).await;
            call.returned(log);
            let took = started.elapsed();
            log.plugin_time += took;
            link.record_call(took);
            let lent = wit.body.take();
            let failure = match result {
                Ok(RequestAction::Next(mut next)) => {
                    match revalidate_request(&wit, &next, limits) {
                        Ok(v) => {
                            settle_normalized_path(&mut wit, &mut next, v.as_ref());
                            settle_body(&mut body, lent, next.body.take());
                            // An unchanged head keeps the last validated one.
                            if let Some(v) = v {
                                valid = Some(v);
                            }
                            wit = next;
                            log.record(link, "request", "next");
                            if needs.response_phase {
                                pending.push(instance);
                            }
                            continue;
                        }
                        Err(e) => LinkFailure::Invalid(e.to_string()),
                    }
                }
                Ok(RequestAction::Respond(resp)) => match convert::response_from_wit(&resp, limits)
                {
                    Ok((status, headers)) => {
                        let body = resp.body.unwrap_or_default();
                        let mut answer = Response::new(Full::new(Bytes::from(body)));
                        *answer.status_mut() = status;
                        *answer.headers_mut() = headers;
                        log.record(link, "request", "respond");
                        log.answered_by = Some(link.name_arc());
                        return RequestOutcome::Answered(
                            answer,
                            ResponseWalk {
                                pending,
                                limits,
                                request: Some(wit),
                            },
                        );
                    }
                    Err(e) => LinkFailure::Invalid(e.to_string()),
                },
                Err(failure) => failure,
            };
            // The link failed: restore what it was lent and apply its policy.
            instance.poison();
            settle_body(&mut body, lent, None);
            if let Flow::Reject(r) = on_failure(link, &failure, "request", log) {
                return RequestOutcome::Rejected(r);
            }
        }
        let original_length = parts.headers.get(header::CONTENT_LENGTH).cloned();
        if let Some(v) = valid {
            parts.method = v.method;
            let mut uri = http::uri::Parts::default();
            uri.path_and_query = Some(v.path);
            parts.uri = http::Uri::from_parts(uri).unwrap_or_default();
            let mut headers = v.headers;
            if let Some(host) = v.host {
                let _ = headers.try_insert(header::HOST, host);
            }
            parts.headers = headers;
        } else {
            // No link rewrote anything: keep the client's headers minus the
            // managed ones, exactly as an unconfigured proxy would.
            strip_request_headers(&mut parts.headers, false);
        }
        let body = body.into_chain_body(&mut parts.headers, original_length);
        RequestOutcome::Forward(
            http::Request::from_parts(parts, body),
            ResponseWalk {
                pending,
                limits,
                request: Some(wit),
            },
        )
    }
}

impl<'c> ResponseWalk<'c> {
    /// A walk with nothing to do (for a chain with no response-phase links).
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Run `on-response` on the pending links, last first, and build the
    /// response for the client.
    pub async fn run<B>(self, resp: Response<B>, log: &mut WalkLog) -> Response<ChainBody<B>>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let ResponseWalk {
            mut pending,
            limits,
            request,
        } = self;
        let (mut parts, body) = resp.into_parts();
        let Some(request) = request.filter(|_| !pending.is_empty()) else {
            convert::strip_hop_by_hop(&mut parts.headers);
            return Response::from_parts(parts, Either::Left(body));
        };
        // HEAD answers and 1xx/204/304 carry no body: nothing to buffer, and
        // Content-Length describes the representation, not this message.
        let bodiless = request.method.eq_ignore_ascii_case("HEAD")
            || matches!(parts.status.as_u16(), 100..=199 | 204 | 304);
        let original_length = parts.headers.get(header::CONTENT_LENGTH).cloned();
        let declared = declared_length(&parts.headers);
        let mut body = Body::Stream(body);
        let mut wit: WitResponse = convert::response_to_wit(parts.status, &parts.headers);
        let mut rewritten: Option<(StatusCode, HeaderMap)> = None;
        while let Some(mut instance) = pending.pop() {
            let link = instance.filter();
            let needs = link.needs();
            if needs.response_body && !bodiless {
                match body
                    .ensure_buffered(link.spec().max_body_bytes, declared)
                    .await
                {
                    Ok(()) => {}
                    Err(BufferError::TooLarge) => {
                        let f = LinkFailure::BodyTooLarge(link.spec().max_body_bytes);
                        if let Flow::Reject(r) = on_failure(link, &f, "response", log) {
                            return r.map(Either::Right);
                        }
                    }
                    Err(BufferError::Read(e)) => {
                        tracing::warn!(error = %e, "upstream body read failed");
                        return host_response(StatusCode::BAD_GATEWAY, "upstream body failed")
                            .map(Either::Right);
                    }
                    Err(BufferError::TimedOut) => {
                        return host_response(
                            StatusCode::GATEWAY_TIMEOUT,
                            "upstream body not received in time",
                        )
                        .map(Either::Right);
                    }
                }
            }
            lend_body(&mut wit.body, &mut body, needs.response_body && !bodiless);
            let started = Instant::now();
            let call = HookCall::begin(link, "response", started, log);
            let result = instance.on_response(&request, &wit).await;
            call.returned(log);
            let took = started.elapsed();
            log.plugin_time += took;
            link.record_call(took);
            let lent = wit.body.take();
            let failure = match result {
                Ok(mut next) => match revalidate_response(&wit, &next, limits) {
                    Ok(head) => {
                        settle_body(&mut body, lent, next.body.take());
                        if let Some(head) = head {
                            rewritten = Some(head);
                        }
                        wit = next;
                        log.record(link, "response", "ok");
                        continue;
                    }
                    Err(e) => LinkFailure::Invalid(e.to_string()),
                },
                Err(failure) => failure,
            };
            instance.poison();
            settle_body(&mut body, lent, None);
            let link = instance.filter();
            if let Flow::Reject(r) = on_failure(link, &failure, "response", log) {
                return r.map(Either::Right);
            }
        }
        if let Some((status, headers)) = rewritten {
            parts.status = status;
            parts.headers = headers;
        } else {
            convert::strip_hop_by_hop(&mut parts.headers);
            parts.headers.remove(header::CONTENT_LENGTH);
        }
        let no_content = matches!(parts.status.as_u16(), 100..=199 | 204);
        if bodiless || no_content || parts.status == StatusCode::NOT_MODIFIED {
            // Any body a plugin set is dropped; the length header is kept only
            // where HTTP allows it (HEAD, 304).
            if let Some(len) = original_length.filter(|_| !no_content) {
                let _ = parts.headers.try_insert(header::CONTENT_LENGTH, len);
            }
            let body = match body {
                Body::Stream(s) => Either::Left(s),
                Body::Buffered(_) => Either::Right(Full::default()),
            };
            return Response::from_parts(parts, body);
        }
        let body = body.into_chain_body(&mut parts.headers, original_length);
        Response::from_parts(parts, body)
    }
}
