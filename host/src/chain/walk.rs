//! Walking one request through a chain: `on-request` in order, then, once the
//! next hop has answered, `on-response` in reverse on the links that ran and
//! asked for it.
//!
//! Bodies are lent as [`super::body`] says, answers are checked as
//! [`super::revalidate`] says, and failures go through [`super::failure`];
//! every path ends in a response.

use super::ChainSnapshot;
use super::body::{Body, BufferError, ChainBody, declared_length, lend_body, settle_body};
use super::failure::{Flow, HookCall, host_response, on_failure};
use super::revalidate::{
    revalidate_request, revalidate_response, settle_normalized_path, strip_request_headers,
};
use crate::convert;
use crate::decision::{self, ValidRequest};
use crate::limits::HeadLimits;
use crate::plugin::bindings::{Request as WitRequest, RequestAction, Response as WitResponse};
use crate::plugin::{FilterInstance, LinkFailure};
use crate::telemetry::access::WalkLog;
use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Response, StatusCode};
use http_body_util::{Either, Full};
use std::net::IpAddr;
use std::time::Instant;

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
        self.run_request_range(0..self.filters().len(), req, client_ip, log)
            .await
    }

    /// Run `on-request` on the links in `range` (in order): with a cache in
    /// the chain, the links before it run first, then (on a miss) the links
    /// after it, each part with its own [`ResponseWalk`].
    pub async fn run_request_range<B>(
        &self,
        range: std::ops::Range<usize>,
        req: http::Request<B>,
        client_ip: Option<IpAddr>,
        log: &mut WalkLog,
    ) -> RequestOutcome<'_, B>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (mut parts, body) = req.into_parts();
        let filters = self.filters().get(range).unwrap_or_default();
        if filters.is_empty() {
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
        let body_limit = if filters.len() == self.filters().len() {
            self.request_body_limit()
        } else {
            filters
                .iter()
                .filter(|l| l.needs().request_body)
                .map(|l| l.spec().max_body_bytes)
                .max()
        };
        if let Some(limit) = body_limit {
            match body.ensure_buffered(limit, declared).await {
                Ok(()) => {}
                Err(BufferError::TooLarge) => {
                    // Over every body-reading link's limit: charge the first.
                    if let Some(link) = filters.iter().find(|l| l.needs().request_body) {
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
        for link in filters {
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
                            log.record(link.name_arc(), "request", "next");
                            if needs.response_phase {
                                pending.push(instance);
                            }
                            continue;
                        }
                        Err(e) => LinkFailure::Invalid(e.to_string()),
                    }
                }
                Ok(RequestAction::Respond(resp)) => {
                    match decision::response_from_wit(&resp, limits) {
                        Ok((status, headers)) => {
                            let body = resp.body.unwrap_or_default();
                            let mut answer = Response::new(Full::new(Bytes::from(body)));
                            *answer.status_mut() = status;
                            *answer.headers_mut() = headers;
                            log.record(link.name_arc(), "request", "respond");
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
                    }
                }
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
                        log.record(link.name_arc(), "response", "ok");
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
