//! The cache key: what makes two requests "the same resource" to the cache.
//!
//! The primary key is the method class (GET and HEAD share one, RFC 9111
//! §4: a HEAD is answered from a stored GET), the scheme, the normalised host
//! (lower case, no trailing dot, no default port), the normalised target
//! (the same path normalisation plugins match on, plus the query as sent),
//! and any key parts links added. `Vary` selects among variants stored under
//! one primary key by the values of the named request fields (secondary key).

use http::HeaderMap;
use http::header::{self, HeaderName};

/// Request fields an origin may read that the key does not include: a
/// response to a request carrying any of them is not stored unless the
/// response's `Vary` names it, so that one client's value cannot poison
/// what others get (see docs/caching.md, "Safety").
pub const UNKEYED_INPUTS: &[&str] = &[
    "x-forwarded-host",
    "x-forwarded-server",
    "x-forwarded-scheme",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-original-url",
    "x-rewrite-url",
    "x-original-host",
    "x-host",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "forwarded",
];

/// The scheme the client used: an absolute-form target's, else the
/// `X-Forwarded-Proto` a front TLS terminator set (`http` or `https`), else
/// `http`. It is part of the key, so that header cannot poison.
pub fn scheme<'a>(uri: &'a http::Uri, headers: &'a HeaderMap) -> &'a str {
    if let Some(s) = uri.scheme_str() {
        return s;
    }
    match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    }
}

/// `host` as the key spells it: lower case, no trailing dot, no port when it
/// is the scheme's default.
pub fn normal_host(host: &str, scheme: &str) -> String {
    let (name, port) = match host.rsplit_once(':') {
        // An IPv6 literal without a port ends in `]`.
        Some((n, p)) if !p.contains(']') => (n, Some(p)),
        _ => (host, None),
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    let default = match scheme {
        "https" => 443,
        _ => 80,
    };
    let mut out = name.to_ascii_lowercase();
    match port.map(|p| (p, p.parse::<u16>())) {
        None | Some(("", _)) => {}
        Some((_, Ok(n))) if n == default => {}
        Some((_, Ok(n))) => out.push_str(&format!(":{n}")),
        Some((p, Err(_))) => {
            out.push(':');
            out.push_str(p);
        }
    }
    out
}

/// The URL part of the key (`scheme://host/normalised-path?query`), which
/// purge by URL and invalidation match on.
pub fn url(scheme: &str, host: &str, path_and_query: &str) -> String {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let path = edgechain_wire::path::normalize(path).unwrap_or_else(|_| path.to_owned());
    let mut out = String::with_capacity(scheme.len() + host.len() + path_and_query.len() + 4);
    out.push_str(scheme);
    out.push_str("://");
    out.push_str(&normal_host(host, scheme));
    out.push_str(if path.is_empty() { "/" } else { &path });
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// The primary key for `url` with the link-added `parts`. Parts are
/// length-prefixed so no choice of parts can collide with another URL.
pub fn primary(url: &str, parts: &[String]) -> String {
    let mut out = String::with_capacity(url.len() + 8);
    out.push_str("GET ");
    out.push_str(url);
    for p in parts {
        out.push_str(&format!("\n{}:{p}", p.len()));
    }
    out
}

/// What `Vary` names: `None` for `Vary: *` (never matches a later request,
/// so such a response is not stored).
pub fn vary_names(headers: &HeaderMap) -> Option<Vec<HeaderName>> {
    let mut names = Vec::new();
    for line in headers.get_all(header::VARY) {
        let text = line.to_str().ok()?;
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item == "*" {
                return None;
            }
            let name = HeaderName::from_bytes(item.as_bytes()).ok()?;
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    Some(names)
}

/// The secondary key: the values of the `names` fields in `request`, each
/// line joined by `, ` with whitespace around commas folded, absent fields
/// distinct from empty ones.
pub fn secondary(names: &[HeaderName], request: &HeaderMap) -> String {
    let mut out = String::new();
    for name in names {
        out.push('\n');
        out.push_str(name.as_str());
        let mut first = true;
        for v in request.get_all(name) {
            out.push(if first { '=' } else { ',' });
            first = false;
            let text = String::from_utf8_lossy(v.as_bytes());
            let folded: Vec<&str> = text.split(',').map(str::trim).collect();
            out.push_str(&folded.join(","));
        }
    }
    out
}

/// The first unkeyed input `request` carries that `vary` does not name.
pub fn unkeyed_input<'a>(request: &HeaderMap, vary: &[HeaderName]) -> Option<&'a str> {
    UNKEYED_INPUTS
        .iter()
        .copied()
        .find(|n| request.contains_key(*n) && !vary.iter().any(|v| v.as_str() == *n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn hosts_fold_case_trailing_dot_and_default_port() {
        for same in [
            "example.com",
            "EXAMPLE.com",
            "example.com.",
            "Example.COM.:80",
            "example.com:80",
            "example.com:080",
        ] {
            assert_eq!(normal_host(same, "http"), "example.com", "{same}");
        }
        assert_eq!(normal_host("example.com:443", "https"), "example.com");
        assert_eq!(normal_host("example.com:443", "http"), "example.com:443");
        assert_eq!(normal_host("example.com:8080", "http"), "example.com:8080");
        assert_eq!(normal_host("[::1]", "http"), "[::1]");
        assert_eq!(normal_host("[::1]:80", "http"), "[::1]");
    }

    #[test]
    fn url_normalises_the_path_and_keeps_the_query() {
        let a = url("http", "A.example", "/x/./y/../%7Ez?b=1&a=2");
        assert_eq!(a, "http://a.example/x/~z?b=1&a=2");
        assert_ne!(a, url("https", "a.example", "/x/~z?b=1&a=2"));
        assert_ne!(a, url("http", "b.example", "/x/~z?b=1&a=2"));
        assert_ne!(a, url("http", "a.example", "/x/~z?a=2&b=1"));
        assert_eq!(url("http", "a", ""), "http://a/");
    }

    #[test]
    fn key_parts_cannot_collide_with_urls_or_each_other() {
        let u = "http://a/x";
        assert_ne!(primary(u, &[]), primary(u, &["t".into()]));
        assert_ne!(
            primary(u, &["a\n1:b".into()]),
            primary(u, &["a".into(), "b".into()])
        );
    }

    #[test]
    fn vary_selects_by_named_values() {
        let mut resp = HeaderMap::new();
        resp.append(
            header::VARY,
            HeaderValue::from_static("Accept-Encoding, x-b"),
        );
        resp.append(header::VARY, HeaderValue::from_static("accept-encoding"));
        let names = vary_names(&resp).unwrap_or_default();
        assert_eq!(names.len(), 2);
        let mut r1 = HeaderMap::new();
        r1.insert("accept-encoding", HeaderValue::from_static("gzip ,br"));
        let mut r2 = HeaderMap::new();
        r2.insert("accept-encoding", HeaderValue::from_static("gzip, br"));
        assert_eq!(secondary(&names, &r1), secondary(&names, &r2));
        r2.insert("x-b", HeaderValue::from_static(""));
        assert_ne!(secondary(&names, &r1), secondary(&names, &r2));
        resp.insert(header::VARY, HeaderValue::from_static("*"));
        assert_eq!(vary_names(&resp), None);
    }

    #[test]
    fn every_unkeyed_input_is_caught_unless_varied_on() {
        for name in UNKEYED_INPUTS {
            let mut req = HeaderMap::new();
            req.insert(*name, HeaderValue::from_static("evil.example"));
            assert_eq!(unkeyed_input(&req, &[]), Some(*name));
            let vary = [HeaderName::from_static(name)];
            assert_eq!(unkeyed_input(&req, &vary), None);
        }
        let mut req = HeaderMap::new();
        req.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(unkeyed_input(&req, &[]), None, "the scheme is keyed");
        assert_eq!(scheme(&"/x".parse().unwrap_or_default(), &req), "https");
    }
}
