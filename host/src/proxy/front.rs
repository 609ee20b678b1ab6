//! What the proxy answers itself before any plugin runs: requests a reverse
//! proxy must not forward, and targets whose meaning is ambiguous.
//!
//! - `CONNECT` (a tunnel to anywhere) and `TRACE` (reflects credentials back):
//!   405 with `Allow`.
//! - `OPTIONS *` (about the server as a whole): 200 with `Allow`; any other
//!   asterisk-form target: 400.
//! - HTTP/1.1 without `Host`, several `Host` headers, or a `Host` that is not
//!   an authority (RFC 9112 §3.2): 400. An absolute-form target's authority
//!   replaces `Host` (RFC 9112 §3.2.2), so plugins and the next hop agree.
//! - A path that cannot be normalised safely (see `edgechain_wire::path`),
//!   an authority-form target (`GET host:port`), or an absolute-form one
//!   whose scheme is not `http` or `https`: 400.
//! - An encoded `/` in the path, by the operator's
//!   [`EscapedSlashPolicy`]: 400 (the default), 308 to the decoded target,
//!   decoded in place, or kept.

use crate::chain::failure::host_response;
use crate::convert;
use crate::limits::EscapedSlashPolicy;
use bytes::Bytes;
use edgechain_wire::path;
use http::header::{self, HeaderValue};
use http::uri::Authority;
use http::{Method, Response, StatusCode, Version};
use http_body_util::Full;

/// The methods this proxy forwards, as an `Allow` value.
pub const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS";

/// Why the proxy answers a request itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `CONNECT` or `TRACE`: 405.
    Method,
    /// `OPTIONS *`: answered here, 200 with `Allow`.
    ServerOptions,
    /// `*` with another method: 400.
    Asterisk,
    /// A missing, repeated or invalid `Host`: 400.
    Host(&'static str),
    /// A path that cannot be normalised: 400.
    Target,
    /// An encoded `/` in the path, under [`EscapedSlashPolicy::Reject`]: 400.
    EscapedSlash,
    /// An encoded `/` in the path, under [`EscapedSlashPolicy::Redirect`]:
    /// 308 to this target, the same with `%2F` decoded.
    Redirect(HeaderValue),
}

impl Refusal {
    /// The answer the client gets.
    pub fn answer(self) -> Response<Full<Bytes>> {
        let with_allow = |mut resp: Response<Full<Bytes>>| {
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
            resp
        };
        match self {
            Refusal::Method => with_allow(host_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed by this proxy",
            )),
            Refusal::ServerOptions => with_allow(Response::new(Full::default())),
            Refusal::Asterisk => {
                host_response(StatusCode::BAD_REQUEST, "`*` is only a target for OPTIONS")
            }
            Refusal::Host(why) => host_response(StatusCode::BAD_REQUEST, why),
            Refusal::Target => host_response(StatusCode::BAD_REQUEST, "invalid request target"),
            Refusal::EscapedSlash => host_response(
                StatusCode::BAD_REQUEST,
                "an encoded `/` (%2F) in the path is refused",
            ),
            Refusal::Redirect(location) => {
                let mut resp =
                    host_response(StatusCode::PERMANENT_REDIRECT, "see the decoded target");
                resp.headers_mut().insert(header::LOCATION, location);
                resp
            }
        }
    }
}

/// Check a client request's method, target and `Host`; under
/// [`EscapedSlashPolicy::Decode`], decode the target's encoded `/` in place.
pub fn check(
    parts: &mut http::request::Parts,
    escaped_slashes: EscapedSlashPolicy,
) -> Result<(), Refusal> {
    if edgechain_wire::decision::is_not_forwarded(parts.method.as_str()) {
        return Err(Refusal::Method);
    }
    if parts.uri.path() == "*" && parts.uri.authority().is_none() {
        return Err(if parts.method == Method::OPTIONS {
            Refusal::ServerOptions
        } else {
            Refusal::Asterisk
        });
    }
    // Authority-form (`GET host:port`) is CONNECT's alone, and absolute-form
    // names an `http` or `https` resource (RFC 9112 §3.2).
    if parts.uri.authority().is_some() && !matches!(parts.uri.scheme_str(), Some("http" | "https"))
    {
        return Err(Refusal::Target);
    }
    check_host(parts).map_err(Refusal::Host)?;
    apply_escaped_slashes(parts, escaped_slashes)?;
    // Plugins match on the normalised path; a target that has none is
    // ambiguous (`..` above the root, `%00`, backslashes) and refused.
    if let Some(pq) = parts.uri.path_and_query()
        && !convert::path_is_normal(pq.as_str())
    {
        return Err(Refusal::Target);
    }
    Ok(())
}

/// Make the plugins' reading of an encoded `/` and the next hop's agree, by
/// `policy` (see [`EscapedSlashPolicy`]).
fn apply_escaped_slashes(
    parts: &mut http::request::Parts,
    policy: EscapedSlashPolicy,
) -> Result<(), Refusal> {
    let Some(target) = parts.uri.path_and_query() else {
        return Ok(());
    };
    if policy == EscapedSlashPolicy::Keep || !path::has_escaped_slash(target.as_str()) {
        return Ok(());
    }
    let decoded = path::decode_escaped_slashes(target.as_str());
    if !convert::path_is_normal(&decoded) {
        return Err(Refusal::Target);
    }
    match policy {
        EscapedSlashPolicy::Reject | EscapedSlashPolicy::Keep => Err(Refusal::EscapedSlash),
        EscapedSlashPolicy::Redirect => HeaderValue::from_str(&decoded)
            .map_or(Err(Refusal::Target), |v| Err(Refusal::Redirect(v))),
        EscapedSlashPolicy::Decode => {
            let mut uri = std::mem::take(&mut parts.uri).into_parts();
            uri.path_and_query = Some(decoded.parse().map_err(|_| Refusal::Target)?);
            parts.uri = http::Uri::from_parts(uri).map_err(|_| Refusal::Target)?;
            Ok(())
        }
    }
}

/// One valid `Host`, agreeing with the target.
fn check_host(parts: &mut http::request::Parts) -> Result<(), &'static str> {
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    let host = hosts.next().cloned();
    if hosts.next().is_some() {
        return Err("more than one Host header");
    }
    if let Some(authority) = parts.uri.authority() {
        // The same rules as for a `Host` header: it becomes one.
        if authority.as_str().contains('@')
            || authority.host().is_empty()
            || !crate::limits::valid_port(authority)
        {
            return Err("invalid authority");
        }
        let value = HeaderValue::from_str(authority.as_str()).map_err(|_| "invalid authority")?;
        parts
            .headers
            .try_insert(header::HOST, value)
            .map_err(|_| "too many header fields")?;
        return Ok(());
    }
    match host {
        None if parts.version >= Version::HTTP_11 => Err("missing Host header"),
        None => Ok(()),
        Some(value) => {
            let valid = value
                .to_str()
                .ok()
                .filter(|h| !h.is_empty() && !h.contains('@'))
                .and_then(|h| h.parse::<Authority>().ok())
                .is_some_and(|a| crate::limits::valid_port(&a));
            if valid {
                Ok(())
            } else {
                Err("invalid Host header")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, target: &str, version: Version, hosts: &[&str]) -> http::request::Parts {
        let mut b = http::Request::builder()
            .method(method)
            .uri(target)
            .version(version);
        for h in hosts {
            b = b.header("host", *h);
        }
        b.body(())
            .map(|r| r.into_parts().0)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn status(p: &mut http::request::Parts) -> Option<u16> {
        check(p, EscapedSlashPolicy::default())
            .err()
            .map(|r| r.answer().status().as_u16())
    }

    #[test]
    fn methods_and_targets_a_proxy_must_not_forward() {
        let v = Version::HTTP_11;
        assert_eq!(
            status(&mut parts(
                "CONNECT",
                "example.com:443",
                v,
                &["example.com:443"]
            )),
            Some(405)
        );
        assert_eq!(status(&mut parts("TRACE", "/", v, &["a"])), Some(405));
        assert_eq!(status(&mut parts("OPTIONS", "*", v, &["a"])), Some(200));
        assert_eq!(status(&mut parts("GET", "*", v, &["a"])), Some(400));
        assert_eq!(status(&mut parts("OPTIONS", "/x", v, &["a"])), None);
        // Authority-form is CONNECT's; absolute-form is for http(s) resources.
        for target in ["internal.example:8080", "ftp://a.example/x"] {
            assert_eq!(
                status(&mut parts("GET", target, v, &["a"])),
                Some(400),
                "{target}"
            );
        }
        assert_eq!(
            status(&mut parts("GET", "https://a.example/x", v, &["a"])),
            None
        );
    }

    #[test]
    fn host_must_be_one_valid_authority() {
        let v = Version::HTTP_11;
        assert_eq!(status(&mut parts("GET", "/", v, &[])), Some(400), "missing");
        assert_eq!(
            status(&mut parts("GET", "/", Version::HTTP_10, &[])),
            None,
            "HTTP/1.0 may omit it"
        );
        assert_eq!(
            status(&mut parts("GET", "/", v, &["a", "b"])),
            Some(400),
            "two"
        );
        for bad in [
            "",
            "a b",
            "user@host",
            "host:port",
            "host:99999",
            "host:+80",
            "host:",
            "a/b",
            "[::1",
        ] {
            assert_eq!(
                status(&mut parts("GET", "/", v, &[bad])),
                Some(400),
                "{bad:?}"
            );
        }
        for good in ["example.com", "example.com:8080", "127.0.0.1", "[::1]:80"] {
            assert_eq!(status(&mut parts("GET", "/", v, &[good])), None, "{good:?}");
        }
        for bad in [
            "http://a.example:99999/",
            "http://a.example:+80/",
            "http://:80/",
        ] {
            assert_eq!(
                status(&mut parts("GET", bad, v, &["a"])),
                Some(400),
                "{bad}"
            );
        }
        let mut absolute = parts("GET", "http://target.example/x", v, &["other"]);
        assert_eq!(status(&mut absolute), None);
        assert_eq!(absolute.headers["host"], "target.example");
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        let v = Version::HTTP_11;
        assert_eq!(
            status(&mut parts("GET", "/../etc/passwd", v, &["a"])),
            Some(400)
        );
        assert_eq!(status(&mut parts("GET", "/a%00b", v, &["a"])), Some(400));
        assert_eq!(status(&mut parts("GET", "/%61dmin", v, &["a"])), None);
    }

    #[test]
    fn escaped_slashes_by_policy() {
        use EscapedSlashPolicy::*;
        let v = Version::HTTP_11;
        let run = |policy, target: &str| {
            let mut p = parts("GET", target, v, &["a"]);
            let verdict = check(&mut p, policy).map_err(|r| {
                let resp = r.answer();
                let location = resp.headers().get(header::LOCATION).cloned();
                (resp.status().as_u16(), location)
            });
            (verdict, p.uri.to_string())
        };
        for target in ["/%2Fadmin/x", "/x/..%2fadmin", "http://h/%2fadmin?q=%2F"] {
            assert_eq!(run(Reject, target).0, Err((400, None)), "{target}");
        }
        assert_eq!(
            run(Redirect, "/x/..%2Fadmin?q=%2F").0,
            Err((308, Some(HeaderValue::from_static("/x/../admin?q=%2F"))))
        );
        assert_eq!(
            run(Decode, "/x/..%2Fadmin?q=%2F"),
            (Ok(()), "/x/../admin?q=%2F".to_owned())
        );
        assert_eq!(
            run(Decode, "http://h/%2fadmin"),
            (Ok(()), "http://h//admin".to_owned())
        );
        assert_eq!(run(Keep, "/%2Fadmin"), (Ok(()), "/%2Fadmin".to_owned()));
        // Decoded, a path that climbs above the root is ambiguous in every policy.
        for policy in [Reject, Redirect, Decode] {
            assert_eq!(run(policy, "/..%2F..%2Fetc").0, Err((400, None)));
        }
        // Double encoding is data in every policy.
        for policy in [Reject, Redirect, Decode, Keep] {
            assert_eq!(
                run(policy, "/%252Fadmin"),
                (Ok(()), "/%252Fadmin".to_owned())
            );
        }
    }
}
