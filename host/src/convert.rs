//! Conversions from hyper's types to the WIT records a plugin is given, and
//! the header rules of a correct proxy; a plugin's answer going the other way
//! is the `decision` room's.
//!
//! Plugins never see, and may not set, the headers the host manages: the
//! hop-by-hop set (RFC 9110 §7.6.1, plus those a `Connection` header names),
//! the framing headers (`content-length`, `transfer-encoding`), `host`
//! (carried as the request's `authority`) and `expect`. The host recomputes
//! framing, so a plugin cannot corrupt the HTTP stream.

use crate::plugin::bindings::{Request as WitRequest, Response as WitResponse};
use edgechain_wire::managed::{HOP_BY_HOP, is_managed};
use edgechain_wire::path;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::PathAndQuery;

/// Names listed in `Connection` headers; they are hop-by-hop for this message.
fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect()
}

/// Remove hop-by-hop headers (and those `Connection` names) in place. One
/// pass over the names finds them; only names present are removed (most
/// messages carry none, or only `connection`).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed = connection_listed(headers);
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|n| HOP_BY_HOP.contains(&n.as_str()) || listed.contains(n))
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(name);
    }
}

/// Append `client` to `X-Forwarded-For` and default `X-Forwarded-Proto`.
pub fn add_forwarded(headers: &mut HeaderMap, client: Option<std::net::IpAddr>) {
    use std::io::Write;
    if let Some(ip) = client {
        let xff = HeaderName::from_static("x-forwarded-for");
        // Built in one buffer: the prior values, then this client.
        let mut value = Vec::with_capacity(64);
        for prior in headers.get_all(&xff) {
            value.extend_from_slice(prior.as_bytes());
            value.extend_from_slice(b", ");
        }
        let _ = write!(value, "{ip}");
        if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(value)) {
            let _ = headers.try_insert(xff, v);
        }
    }
    let proto = HeaderName::from_static("x-forwarded-proto");
    if !headers.contains_key(&proto) {
        let _ = headers.try_insert(proto, HeaderValue::from_static("http"));
    }
}

/// The headers a plugin sees, packed (see `edgechain-wire`): everything but
/// the managed ones.
pub fn headers_to_wit(headers: &HeaderMap) -> Vec<u8> {
    let listed = connection_listed(headers);
    let mut block = Vec::with_capacity(packed_size(headers));
    for (n, v) in headers {
        if !is_managed(n.as_str()) && !listed.contains(n) {
            edgechain_wire::push(&mut block, n.as_str().as_bytes(), v.as_bytes());
        }
    }
    block
}

fn packed_size(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(n, v)| 8 + n.as_str().len() + v.len())
        .sum()
}

/// The WIT view of a client request (body not included).
pub fn request_to_wit(parts: &http::request::Parts) -> WitRequest {
    request_to_wit_normalized(parts, request_path(parts))
}

/// The authority a request names: its absolute-form target's, else its
/// `Host` (the front door made the two agree); empty if neither.
pub fn request_authority(parts: &http::request::Parts) -> &str {
    parts
        .uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| {
            parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .unwrap_or_default()
}

/// The normalised path of a request, the one plugins are given and `when`
/// rules match. The proxy refused targets that do not normalise before the
/// chain ran; the raw path is only a fallback for direct callers.
pub fn request_path(parts: &http::request::Parts) -> String {
    let pq = parts.uri.path_and_query().map_or("/", PathAndQuery::as_str);
    normalized_path(pq).unwrap_or_else(|_| path::path_of(pq).to_owned())
}

/// [`request_to_wit`] with the normalised path already computed (by
/// [`request_path`]).
pub fn request_to_wit_normalized(
    parts: &http::request::Parts,
    normalized_path: String,
) -> WitRequest {
    let path_with_query = parts
        .uri
        .path_and_query()
        .map_or("/", PathAndQuery::as_str)
        .to_owned();
    WitRequest {
        method: parts.method.as_str().to_owned(),
        normalized_path,
        path_with_query,
        authority: request_authority(parts).to_owned(),
        headers: headers_to_wit(&parts.headers),
        body: None,
    }
}

/// Whether a target's path normalises (without building it).
pub fn path_is_normal(path_with_query: &str) -> bool {
    path::check(path::path_of(path_with_query)).is_ok()
}

/// The normalised path plugins match on (see `edgechain_wire::path`).
pub fn normalized_path(path_with_query: &str) -> Result<String, path::PathError> {
    path::normalize(path::path_of(path_with_query))
}

/// The WIT view of a response (body not included).
pub fn response_to_wit(status: StatusCode, headers: &HeaderMap) -> WitResponse {
    WitResponse {
        status: status.as_u16(),
        headers: headers_to_wit(headers),
        body: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().uri("/p?q=1");
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(())
            .map(|r| r.into_parts().0)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn plugins_do_not_see_managed_or_connection_listed_headers() {
        let p = parts(&[
            ("host", "example.com"),
            ("connection", "keep-alive, x-secret"),
            ("x-secret", "1"),
            ("content-length", "3"),
            ("te", "trailers"),
            ("x-keep", "yes"),
        ]);
        let wit = request_to_wit(&p);
        assert_eq!(wit.authority, "example.com");
        assert_eq!(wit.path_with_query, "/p?q=1");
        assert_eq!(
            wit.headers,
            edgechain_wire::encode([(&b"x-keep"[..], &b"yes"[..])])
        );
    }

    #[test]
    fn strip_removes_hop_by_hop_and_listed() {
        let mut h = parts(&[
            ("connection", "x-a"),
            ("x-a", "1"),
            ("upgrade", "ws"),
            ("x-b", "2"),
        ])
        .headers;
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-b"));
    }

    #[test]
    fn forwarded_headers_append() {
        let ip = "192.0.2.7".parse().ok();
        let mut h = parts(&[("x-forwarded-for", "10.0.0.1")]).headers;
        add_forwarded(&mut h, ip);
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 192.0.2.7");
        assert_eq!(h["x-forwarded-proto"], "http");
        let mut h = parts(&[("x-forwarded-proto", "https")]).headers;
        add_forwarded(&mut h, ip);
        assert_eq!(h["x-forwarded-for"], "192.0.2.7");
        assert_eq!(h["x-forwarded-proto"], "https");
    }
}
