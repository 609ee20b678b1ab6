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

use super::convert;
use crate::chain::walk::host_response;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::uri::Authority;
use http::{Method, Response, StatusCode, Version};
use http_body_util::Full;

/// The methods this proxy forwards, as an `Allow` value.
pub const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS";

/// Why the proxy answers a request itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
        }
    }
}

/// Check a client request's method, target and `Host`.
pub fn check(parts: &mut http::request::Parts) -> Result<(), Refusal> {
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
    // Plugins match on the normalised path; a target that has none is
    // ambiguous (`..` above the root, `%00`, backslashes) and refused.
    if let Some(pq) = parts.uri.path_and_query()
        && !convert::path_is_normal(pq.as_str())
    {
        return Err(Refusal::Target);
    }
    Ok(())
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
        if authority.as_str().contains('@') || authority.host().is_empty() || !valid_port(authority)
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
                .is_some_and(|a| valid_port(&a));
            if valid {
                Ok(())
            } else {
                Err("invalid Host header")
            }
        }
    }
}

/// A port, if the authority has one, is digits of a number that fits in 16
/// bits.
pub(crate) fn valid_port(authority: &Authority) -> bool {
    let text = authority.as_str();
    let after_host = text.rsplit_once(']').map_or(text, |(_, rest)| rest);
    after_host.split_once(':').is_none_or(|(_, port)| {
        port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()
    })
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
        check(p).err().map(|r| r.answer().status().as_u16())
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
}
