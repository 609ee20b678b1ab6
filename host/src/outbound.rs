//! Outbound HTTP for plugins: the `edgechain:plugin/http` import.
//!
//! A plugin may call only the authorities its manifest entry grants
//! (`"grants": {"http": ["auth.internal:8080"]}`); anything else is refused
//! before a connection is attempted. Calls are plain HTTP/1.1 over keep-alive
//! connections pooled per authority and shared by every link (the same client
//! as the next hop's, [`crate::upstream`]). The wait counts against the
//! calling hook's `timeout_ms`, and other requests are served meanwhile (the
//! import is async). Responses are read whole, up to the link's
//! `max_body_bytes`.

use crate::convert;
use crate::limits::HeadLimits;
use crate::plugin::bindings::edgechain::plugin::http::{
    Error as HttpError, IncomingResponse, OutgoingRequest,
};
use crate::telemetry::metrics::PluginMetrics;
use crate::upstream::{Upstream, UpstreamError, UpstreamSettings};
use bytes::Bytes;
use dashmap::DashMap;
use http::header::{self, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The outbound clients of a process, one pool per authority.
pub struct Outbound {
    clients: DashMap<String, Arc<Upstream<Full<Bytes>>>>,
    metrics: Arc<PluginMetrics>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("authorities", &self.clients.len())
            .finish()
    }
}

/// What one link may do with outbound HTTP.
#[derive(Debug, Clone, Default)]
pub struct OutboundGrant {
    /// Authorities (`host:port`, lower-case) the link may call.
    pub authorities: Vec<String>,
    /// Largest response body the link is given.
    pub max_body_bytes: u64,
}

/// Fields a request from a plugin may carry.
const REQUEST_LIMITS: HeadLimits = HeadLimits {
    max_headers: crate::limits::DEFAULT_MAX_HEADERS,
    max_request_head_bytes: crate::limits::DEFAULT_MAX_REQUEST_HEAD_BYTES,
    max_response_head_bytes: crate::limits::DEFAULT_MAX_RESPONSE_HEAD_BYTES,
    // Only the fields are checked here: a call to a granted service is not
    // matched by any path rule.
    escaped_slashes: crate::limits::EscapedSlashPolicy::Keep,
};

impl Outbound {
    /// No clients yet; they are made on a link's first call to an authority.
    pub fn new(metrics: Arc<PluginMetrics>) -> Arc<Outbound> {
        Arc::new(Outbound {
            clients: DashMap::new(),
            metrics,
        })
    }

    fn client(&self, authority: &Authority) -> Arc<Upstream<Full<Bytes>>> {
        if let Some(c) = self.clients.get(authority.as_str()) {
            return c.clone();
        }
        let mut settings = UpstreamSettings::new(authority.clone());
        settings.max_idle = 64;
        self.clients
            .entry(authority.as_str().to_owned())
            .or_insert_with(|| Arc::new(Upstream::new(settings)))
            .clone()
    }

    /// Send `req` for link `link` with `grant`, giving up after `within`.
    pub async fn send(
        &self,
        link: &str,
        grant: &OutboundGrant,
        req: OutgoingRequest,
        within: Duration,
    ) -> Result<IncomingResponse, HttpError> {
        let started = Instant::now();
        let (authority, request) = match prepare(link, grant, req) {
            Ok(r) => r,
            Err(e) => {
                let authority = match &e {
                    HttpError::Denied(_) => "denied",
                    _ => "invalid",
                };
                self.metrics
                    .outbound(link, authority, outcome(&e), Duration::ZERO);
                return Err(e);
            }
        };
        let client = self.client(&authority);
        let result = tokio::time::timeout(within, async {
            let resp = client
                .send(request, tokio::time::sleep(within))
                .await
                .map_err(|e| match e {
                    UpstreamError::Connect(m) => HttpError::Connect(m),
                    UpstreamError::Timeout(_) => HttpError::Timeout,
                    UpstreamError::Protocol(m) | UpstreamError::ClientBody(m) => {
                        HttpError::Protocol(m)
                    }
                })?;
            let (parts, body) = resp.into_parts();
            let limit = usize::try_from(grant.max_body_bytes).unwrap_or(usize::MAX);
            let body = match Limited::new(body, limit).collect().await {
                Ok(c) => c.to_bytes(),
                Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                    return Err(HttpError::TooLarge);
                }
                Err(e) => return Err(HttpError::Protocol(e.to_string())),
            };
            let mut headers = parts.headers;
            convert::strip_hop_by_hop(&mut headers);
            headers.remove(header::CONTENT_LENGTH);
            Ok(IncomingResponse {
                status: parts.status.as_u16(),
                headers: convert::headers_to_wit(&headers),
                body: body.to_vec(),
            })
        })
        .await
        .unwrap_or(Err(HttpError::Timeout));
        let label = match &result {
            Ok(_) => "ok",
            Err(e) => outcome(e),
        };
        self.metrics
            .outbound(link, authority.as_str(), label, started.elapsed());
        result
    }
}

impl Outbound {
    /// Send a request a `wasi:http` guest made (its body read whole, up to
    /// the link's `max_body_bytes`), under the same grant as the `http`
    /// import; the response streams.
    pub async fn send_wasi(
        &self,
        link: &str,
        grant: &OutboundGrant,
        request: Request<wasmtime_wasi_http::WasiBody>,
        within: Duration,
    ) -> wasmtime_wasi_http::Result<http::Response<crate::upstream::UpstreamBody<Full<Bytes>>>>
    {
        use wasmtime_wasi_http::Error as E;
        let started = Instant::now();
        let (parts, body) = request.into_parts();
        let authority = parts
            .uri
            .authority()
            .map(|a| a.as_str().to_ascii_lowercase())
            .unwrap_or_default();
        let named = if authority.contains(':') {
            authority
        } else {
            format!("{authority}:80")
        };
        if parts.uri.scheme() != Some(&Scheme::HTTP) || !grant.authorities.contains(&named) {
            self.metrics
                .outbound(link, "denied", "denied", Duration::ZERO);
            return Err(E::HttpRequestDenied);
        }
        let limit = usize::try_from(grant.max_body_bytes).unwrap_or(usize::MAX);
        let body = Limited::new(body, limit)
            .collect()
            .await
            .map_err(|_| E::HttpRequestBodySize(Some(grant.max_body_bytes)))?
            .to_bytes();
        let authority: Authority = named.parse().map_err(|_| E::HttpRequestUriInvalid)?;
        let mut request = Request::from_parts(parts, Full::new(body));
        *request.uri_mut() = Uri::from(
            request
                .uri()
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
        );
        let client = self.client(&authority);
        let result = client.send(request, tokio::time::sleep(within)).await;
        let label = match &result {
            Ok(_) => "ok",
            Err(UpstreamError::Connect(_)) => "connect",
            Err(UpstreamError::Timeout(_)) => "timeout",
            Err(_) => "protocol",
        };
        self.metrics
            .outbound(link, authority.as_str(), label, started.elapsed());
        result.map_err(|e| match e {
            UpstreamError::Connect(_) => E::ConnectionRefused,
            UpstreamError::Timeout(_) => E::ConnectionReadTimeout,
            other => E::InternalError(Some(other.to_string())),
        })
    }
}

fn outcome(e: &HttpError) -> &'static str {
    match e {
        HttpError::Denied(_) => "denied",
        HttpError::Invalid(_) => "invalid",
        HttpError::Connect(_) => "connect",
        HttpError::Timeout => "timeout",
        HttpError::TooLarge => "too_large",
        HttpError::Protocol(_) => "protocol",
    }
}

/// Check the URL against the grant and build the request.
fn prepare(
    link: &str,
    grant: &OutboundGrant,
    req: OutgoingRequest,
) -> Result<(Authority, Request<Full<Bytes>>), HttpError> {
    let uri: Uri = req
        .url
        .parse()
        .map_err(|_| HttpError::Invalid(format!("`{}` is not a URL", req.url)))?;
    if uri.scheme() != Some(&Scheme::HTTP) {
        return Err(HttpError::Denied(format!(
            "`{}`: only absolute http:// URLs can be called",
            req.url
        )));
    }
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| HttpError::Denied(format!("`{}` has no authority", req.url)))?;
    // Grants name host:port; a URL without a port means port 80.
    let named = if authority.port().is_some() {
        authority.as_str().to_ascii_lowercase()
    } else {
        format!("{}:80", authority.as_str().to_ascii_lowercase())
    };
    if !grant.authorities.contains(&named) {
        return Err(HttpError::Denied(format!(
            "`{named}` is not granted to link `{link}` (manifest: \"grants\": {{\"http\": [\"{named}\"]}})"
        )));
    }
    let authority: Authority = named
        .parse()
        .map_err(|_| HttpError::Invalid(format!("`{named}` is not an authority")))?;
    let method = Method::from_bytes(req.method.as_bytes())
        .map_err(|_| HttpError::Invalid(format!("`{}` is not a method", req.method)))?;
    let headers = crate::decision::headers_from_wit(
        &req.headers,
        REQUEST_LIMITS.max_headers,
        REQUEST_LIMITS.max_request_head_bytes,
        0,
    )
    .map_err(|e| HttpError::Invalid(e.to_string()))?;
    let path = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let mut request = Request::new(Full::new(Bytes::from(req.body.unwrap_or_default())));
    *request.method_mut() = method;
    *request.uri_mut() = Uri::from(path);
    *request.headers_mut() = headers;
    let host = HeaderValue::from_str(
        uri.authority()
            .map_or(authority.as_str(), Authority::as_str),
    )
    .map_err(|e| HttpError::Invalid(e.to_string()))?;
    let _ = request.headers_mut().try_insert(header::HOST, host);
    Ok((authority, request))
}

/// The link's side of `wasi:http/outgoing-handler`: only granted
/// authorities, over the same pooled client as the `http` import.
pub struct Egress {
    outbound: Arc<Outbound>,
    link: Arc<str>,
    grant: Arc<OutboundGrant>,
}

impl Egress {
    /// Egress for the link named `link`, which may call what `grant` says.
    pub fn new(outbound: Arc<Outbound>, link: Arc<str>, grant: Arc<OutboundGrant>) -> Egress {
        Egress {
            outbound,
            link,
            grant,
        }
    }
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<wasmtime_wasi_http::WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl wasmtime_wasi_http::WasiHttpHooks for Egress {
    fn is_supported_scheme(&mut self, scheme: &http::uri::Scheme) -> bool {
        *scheme == http::uri::Scheme::HTTP
    }

    fn default_scheme(&mut self) -> Option<http::uri::Scheme> {
        Some(http::uri::Scheme::HTTP)
    }

    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendFuture {
        let (outbound, link, grant) =
            (self.outbound.clone(), self.link.clone(), self.grant.clone());
        Box::new(async move {
            let within = options
                .and_then(|o| o.first_byte_timeout)
                .unwrap_or(Duration::from_secs(30));
            let resp = outbound.send_wasi(&link, &grant, request, within).await?;
            let resp = resp.map(|b| {
                b.map_err(|e| wasmtime_wasi_http::Error::InternalError(Some(e.to_string())))
                    .boxed_unsync()
            });
            Ok((
                resp,
                Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(authorities: &[&str]) -> OutboundGrant {
        OutboundGrant {
            authorities: authorities.iter().map(|a| (*a).to_owned()).collect(),
            max_body_bytes: 1024,
        }
    }

    fn req(url: &str) -> OutgoingRequest {
        OutgoingRequest {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout_ms: None,
        }
    }

    #[test]
    fn only_granted_http_authorities_are_called() {
        let g = grant(&["auth.internal:8080", "flags:80"]);
        assert!(prepare("l", &g, req("http://auth.internal:8080/check?x=1")).is_ok());
        assert!(prepare("l", &g, req("http://AUTH.internal:8080/")).is_ok());
        assert!(
            prepare("l", &g, req("http://flags/v1")).is_ok(),
            "port 80 by default"
        );
        for url in [
            "http://auth.internal:8081/",
            "http://other:8080/",
            "https://auth.internal:8080/",
            "http://user@auth.internal:8080/",
        ] {
            assert!(
                matches!(prepare("l", &g, req(url)), Err(HttpError::Denied(_))),
                "{url}"
            );
        }
        assert!(matches!(
            prepare("l", &g, req("not a url")),
            Err(HttpError::Invalid(_))
        ));
        let (_, built) = prepare("l", &g, req("http://auth.internal:8080/check?x=1")).expect("ok");
        assert_eq!(built.uri(), "/check?x=1");
        assert_eq!(built.headers()["host"], "auth.internal:8080");
    }
}
