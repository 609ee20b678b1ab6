//! A plugin's decision checked and turned into HTTP types: what it may
//! contain is `edgechain_wire::decision`'s rule (the SDKs' harnesses apply
//! it too), the target under this host's `--escaped-slashes`, within the
//! operator's head limits. An invalid decision is named, so it is charged to
//! the link that made it.

use crate::convert::normalized_path;
use crate::limits::{self, HeadLimits};
use crate::plugin::bindings::{Request as WitRequest, Response as WitResponse};
use edgechain_wire::decision::{self as rules, Refusal};
use edgechain_wire::path::{self, EscapedSlashes, PathError};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery};
use http::{Method, StatusCode};

/// A plugin's decision that does not make valid HTTP.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidDecision {
    /// Method is not an HTTP token.
    #[error("invalid method `{0}`")]
    Method(String),
    /// `CONNECT` or `TRACE`, which the host never forwards.
    #[error("method `{0}` is never forwarded")]
    NotForwarded(String),
    /// Path is not origin-form, or cannot be normalised.
    #[error(
        "invalid path `{0}`: must be origin-form, starting with `/`, ASCII (percent-encode other bytes), without `..` above the root, NUL, backslashes or bad percent-encodings"
    )]
    Path(String),
    /// An encoded `/` in the path, refused by `--escaped-slashes`.
    #[error(
        "invalid path `{0}`: an encoded `/` (%2F) is refused by this host (--escaped-slashes); write `/` for a separator"
    )]
    EscapedSlash(String),
    /// Authority does not parse.
    #[error("invalid authority `{0}`")]
    Authority(String),
    /// Header name is not a token.
    #[error("invalid header name `{0}`")]
    HeaderName(String),
    /// The packed header block does not decode.
    #[error("{0}")]
    HeaderBlock(String),
    /// Header value has forbidden bytes (CR, LF, NUL...).
    #[error("invalid value for header `{0}`")]
    HeaderValue(String),
    /// Header is one the host manages.
    #[error("header `{0}` is managed by the host and may not be set by a plugin")]
    Managed(String),
    /// Status outside 200..=599.
    #[error("status {0} is not in 200..=599")]
    Status(u16),
    /// More header fields than the head limits allow.
    #[error("more than {0} header fields")]
    TooManyHeaders(usize),
    /// A head larger than the head limits allow.
    #[error("head larger than {0} bytes")]
    HeadTooLarge(usize),
}

/// Longest piece of a plugin's output quoted in an error (a plugin can
/// return megabytes; the log line stays small).
const QUOTE_BYTES: usize = 128;

/// `bytes` as text for an error message, cut at [`QUOTE_BYTES`].
fn quote(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(QUOTE_BYTES)];
    let mut text = String::from_utf8_lossy(cut).into_owned();
    if bytes.len() > QUOTE_BYTES {
        text.push('…');
    }
    text
}

/// A request decision, validated into HTTP types.
#[derive(Debug)]
pub struct ValidRequest {
    /// Method.
    pub method: Method,
    /// Path and query.
    pub path: PathAndQuery,
    /// The normalised path of `path`.
    pub normalized_path: String,
    /// New `Host` value, if any authority was given.
    pub host: Option<HeaderValue>,
    /// Plugin-visible headers.
    pub headers: HeaderMap,
}

/// Validate and convert a plugin's packed header block: at most
/// `max_headers` fields, and at most `max_bytes` of head once `used` bytes
/// (the start line) are counted. Each field follows
/// `edgechain_wire::decision::check_field`, the SDKs' rule too.
pub fn headers_from_wit(
    block: &[u8],
    max_headers: usize,
    max_bytes: usize,
    used: usize,
) -> Result<HeaderMap, InvalidDecision> {
    let mut map = HeaderMap::new();
    let mut bytes = used;
    for (count, field) in edgechain_wire::fields(block).enumerate() {
        let (name, value) = field.map_err(|e| InvalidDecision::HeaderBlock(e.to_string()))?;
        if count >= max_headers {
            return Err(InvalidDecision::TooManyHeaders(max_headers));
        }
        bytes = bytes.saturating_add(limits::field_bytes(name.len(), value.len()));
        if bytes > max_bytes {
            return Err(InvalidDecision::HeadTooLarge(max_bytes));
        }
        rules::check_field(name, value).map_err(refused)?;
        // `http` takes what the rule takes (the tests hold them together);
        // a name longer than it stores is still a bad name.
        let n =
            HeaderName::from_bytes(name).map_err(|_| InvalidDecision::HeaderName(quote(name)))?;
        let v = HeaderValue::from_bytes(value)
            .map_err(|_| InvalidDecision::HeaderValue(quote(name)))?;
        map.try_append(n, v)
            .map_err(|_| InvalidDecision::TooManyHeaders(max_headers))?;
    }
    Ok(map)
}

/// The host's error for a refusal of `edgechain_wire::decision`.
fn refused(refusal: Refusal<'_>) -> InvalidDecision {
    match refusal {
        Refusal::Method(m) => InvalidDecision::Method(quote(m.as_bytes())),
        Refusal::NotForwarded(m) => InvalidDecision::NotForwarded(m.to_owned()),
        Refusal::Path(t, PathError::EncodedSlash) => {
            InvalidDecision::EscapedSlash(quote(t.as_bytes()))
        }
        Refusal::Target(t) | Refusal::Path(t, _) => InvalidDecision::Path(quote(t.as_bytes())),
        Refusal::Authority(a) => InvalidDecision::Authority(quote(a.as_bytes())),
        Refusal::HeaderName(n) => InvalidDecision::HeaderName(quote(n)),
        Refusal::HeaderValue(n) => InvalidDecision::HeaderValue(quote(n)),
        Refusal::Managed(n) => InvalidDecision::Managed(quote(n).to_ascii_lowercase()),
        Refusal::Status(s) => InvalidDecision::Status(s),
    }
}

/// Validate a request a plugin passed on, within the request head limits.
/// What it may contain is `edgechain_wire::decision`'s rule (the SDKs'
/// harnesses apply it too), with the target checked under this host's
/// `--escaped-slashes`; the limits and the HTTP types are the host's own.
pub fn request_from_wit(
    req: &WitRequest,
    limits: &HeadLimits,
) -> Result<ValidRequest, InvalidDecision> {
    // Request line and Host: `METHOD target HTTP/1.1\r\n`, `host: x\r\n`.
    let start = req
        .method
        .len()
        .saturating_add(req.path_with_query.len())
        .saturating_add(11)
        .saturating_add(limits::field_bytes(4, req.authority.len()));
    if start > limits.max_request_head_bytes {
        return Err(InvalidDecision::HeadTooLarge(limits.max_request_head_bytes));
    }
    rules::check_method(&req.method).map_err(refused)?;
    let method = Method::from_bytes(req.method.as_bytes())
        .map_err(|_| InvalidDecision::Method(quote(req.method.as_bytes())))?;
    let target = req.path_with_query.as_str();
    let escaped_slashes = limits.escaped_slashes.for_decisions();
    rules::check_target_with(target, escaped_slashes).map_err(refused)?;
    let bad_path = || InvalidDecision::Path(quote(target.as_bytes()));
    // Forwarded as written, or (`decode`) with each `%2F` decoded; a
    // `#fragment` is never sent (the URI parser drops it).
    let sent = target.split('#').next().unwrap_or_default();
    let path = if escaped_slashes == EscapedSlashes::Decode && path::has_escaped_slash(sent) {
        PathAndQuery::from_maybe_shared(bytes::Bytes::from(path::decode_escaped_slashes(sent)))
    } else {
        PathAndQuery::try_from(target)
    }
    .map_err(|_| bad_path())?;
    let normalized_path = normalized_path(path.as_str()).map_err(|_| bad_path())?;
    rules::check_authority(&req.authority).map_err(refused)?;
    let host = if req.authority.is_empty() {
        None
    } else {
        let bad = || InvalidDecision::Authority(quote(req.authority.as_bytes()));
        let authority = Authority::try_from(req.authority.as_str()).map_err(|_| bad())?;
        Some(HeaderValue::from_str(authority.as_str()).map_err(|_| bad())?)
    };
    Ok(ValidRequest {
        method,
        path,
        normalized_path,
        host,
        headers: headers_from_wit(
            &req.headers,
            limits.max_headers,
            limits.max_request_head_bytes,
            start,
        )?,
    })
}

/// Validate a response a plugin answered with or rewrote, within the
/// response head limits.
pub fn response_from_wit(
    resp: &WitResponse,
    limits: &HeadLimits,
) -> Result<(StatusCode, HeaderMap), InvalidDecision> {
    rules::check_status(resp.status).map_err(refused)?;
    let status =
        StatusCode::from_u16(resp.status).map_err(|_| InvalidDecision::Status(resp.status))?;
    Ok((status, response_headers_from_wit(resp, limits)?))
}

/// Validate the header fields of a response a plugin rewrote, within the
/// response head limits.
pub fn response_headers_from_wit(
    resp: &WitResponse,
    limits: &HeadLimits,
) -> Result<HeaderMap, InvalidDecision> {
    headers_from_wit(
        &resp.headers,
        limits.max_headers,
        limits.max_response_head_bytes,
        crate::limits::STATUS_LINE_BYTES,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::HeadLimits;
    use edgechain_wire::managed::is_managed;

    fn wit(path: &str, authority: &str, headers: &[(&str, &[u8])]) -> WitRequest {
        WitRequest {
            method: "GET".into(),
            path_with_query: path.into(),
            normalized_path: path.into(),
            authority: authority.into(),
            headers: edgechain_wire::encode(headers.iter().map(|(n, v)| (n.as_bytes(), *v))),
            body: None,
        }
    }

    #[test]
    fn invalid_decisions_are_named() {
        let cases: [(WitRequest, InvalidDecision); 6] = [
            (wit("nope", "a", &[]), InvalidDecision::Path("nope".into())),
            (
                wit("/", "a b", &[]),
                InvalidDecision::Authority("a b".into()),
            ),
            (
                wit("/", "a", &[("bad name", b"v")]),
                InvalidDecision::HeaderName("bad name".into()),
            ),
            (
                wit("/", "a", &[("x", b"a\r\nb")]),
                InvalidDecision::HeaderValue("x".into()),
            ),
            (
                wit("/", "a", &[("Content-Length", b"1")]),
                InvalidDecision::Managed("content-length".into()),
            ),
            (
                wit("/", "u@a", &[]),
                InvalidDecision::Authority("u@a".into()),
            ),
        ];
        for (req, want) in cases {
            assert_eq!(
                request_from_wit(&req, &HeadLimits::default()).err(),
                Some(want)
            );
        }
        let mut truncated = wit("/", "a", &[("x", b"1")]);
        truncated.headers.pop();
        assert!(matches!(
            request_from_wit(&truncated, &HeadLimits::default()),
            Err(InvalidDecision::HeaderBlock(_))
        ));
        let mut m = wit("/", "a", &[]);
        m.method = "GE T".into();
        assert!(matches!(
            request_from_wit(&m, &HeadLimits::default()),
            Err(InvalidDecision::Method(_))
        ));
    }

    #[test]
    fn decisions_follow_the_escaped_slash_policy() {
        use crate::limits::EscapedSlashPolicy::*;
        let req = wit("/x/..%2fadmin?q=%2F", "a", &[]);
        let convert = |escaped_slashes| {
            let limits = HeadLimits {
                escaped_slashes,
                ..HeadLimits::default()
            };
            request_from_wit(&req, &limits).map(|v| (v.path.to_string(), v.normalized_path))
        };
        for policy in [Reject, Redirect] {
            assert_eq!(
                convert(policy),
                Err(InvalidDecision::EscapedSlash(req.path_with_query.clone()))
            );
        }
        assert_eq!(
            convert(Decode),
            Ok(("/x/../admin?q=%2F".into(), "/admin".into()))
        );
        assert_eq!(
            convert(Keep),
            Ok((req.path_with_query.clone(), "/x/..%2Fadmin".into()))
        );
    }

    #[test]
    fn valid_request_converts() {
        let v = request_from_wit(
            &wit("/x?y", "example.com:8080", &[("X-Up", b"1")]),
            &HeadLimits::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v.path.as_str(), "/x?y");
        assert_eq!(
            v.host.as_ref().map(|h| h.as_bytes()),
            Some(b"example.com:8080".as_slice())
        );
        assert_eq!(v.headers["x-up"], "1");
    }

    #[test]
    fn response_status_range() {
        let r = |status| WitResponse {
            status,
            headers: Vec::new(),
            body: None,
        };
        assert_eq!(
            response_from_wit(&r(101), &HeadLimits::default()).err(),
            Some(InvalidDecision::Status(101))
        );
        assert_eq!(
            response_from_wit(&r(600), &HeadLimits::default()).err(),
            Some(InvalidDecision::Status(600))
        );
        assert!(response_from_wit(&r(302), &HeadLimits::default()).is_ok());
    }

    /// The host gives every verdict of the wire rules' shared vectors (the
    /// SDKs' suites read the same file), with its default limits.
    #[test]
    fn the_host_gives_the_shared_vectors_verdicts() {
        use serde_json::Value;
        let vectors: Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../wire/vectors.json"
        )))
        .unwrap_or_else(|e| panic!("wire/vectors.json: {e}"));
        // The host names fewer classes than the rules: every path refusal
        // but an encoded `/` is one `Path`.
        let class = |verdict: &str| {
            match verdict {
                "target" => "path",
                "path:encoded-slash" => "escaped-slash",
                v if v.starts_with("path:") => "path",
                v => v,
            }
            .to_owned()
        };
        let host = |r: Result<(), InvalidDecision>| match r {
            Ok(()) => "ok",
            Err(InvalidDecision::Method(_)) => "method",
            Err(InvalidDecision::NotForwarded(_)) => "not-forwarded",
            Err(InvalidDecision::Path(_)) => "path",
            Err(InvalidDecision::EscapedSlash(_)) => "escaped-slash",
            Err(InvalidDecision::Authority(_)) => "authority",
            Err(InvalidDecision::HeaderName(_)) => "header-name",
            Err(InvalidDecision::HeaderValue(_)) => "header-value",
            Err(InvalidDecision::Managed(_)) => "managed",
            Err(InvalidDecision::Status(_)) => "status",
            Err(e) => panic!("not a rule's refusal: {e}"),
        };
        let text = |entry: &Value, key: &str| {
            entry[key]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| panic!("{entry}: no {key}"))
        };
        let request = |method: &str, path: &str, authority: &str, field: (&str, &str)| {
            let req = WitRequest {
                method: method.into(),
                normalized_path: String::new(),
                path_with_query: path.into(),
                authority: authority.into(),
                headers: edgechain_wire::encode([(field.0.as_bytes(), field.1.as_bytes())]),
                body: None,
            };
            request_from_wit(&req, &HeadLimits::default()).map(drop)
        };
        let decide = |part: &str, e: &Value| match part {
            "method" => request(&text(e, "method"), "/", "h", ("x", "")),
            "target" => request("GET", &text(e, "target"), "h", ("x", "")),
            "authority" => request("GET", "/", &text(e, "authority"), ("x", "")),
            "field" => request("GET", "/", "h", (&text(e, "name"), &text(e, "value"))),
            _ => {
                let status = e["status"].as_u64().and_then(|s| u16::try_from(s).ok());
                let status = status.unwrap_or_else(|| panic!("{e}: no status"));
                let resp = WitResponse {
                    status,
                    headers: Vec::new(),
                    body: None,
                };
                response_from_wit(&resp, &HeadLimits::default()).map(drop)
            }
        };
        let mut checked = 0;
        for part in ["method", "target", "authority", "field", "status"] {
            let Some(Value::Array(entries)) = vectors.pointer(&format!("/decision/{part}")) else {
                panic!("wire/vectors.json has no decision.{part}");
            };
            for entry in entries {
                let verdict = class(&text(entry, "verdict"));
                assert_eq!(host(decide(part, entry)), verdict, "{part}: {entry}");
                checked += 1;
            }
        }
        assert!(checked > 50, "only {checked} vectors");
    }

    mod generated {
        use super::*;
        use proptest::prelude::*;

        fn small_limits() -> HeadLimits {
            HeadLimits {
                max_headers: 8,
                max_request_head_bytes: 512,
                max_response_head_bytes: 512,
                ..HeadLimits::default()
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1000))]

            /// Any decision a plugin can return converts or is refused; what
            /// converts is valid HTTP within the limits.
            #[test]
            fn any_request_decision_converts_or_is_refused(
                method in "[ -~]{0,12}",
                path in "(/|[ -~]){0,60}",
                authority in "[ -~]{0,30}",
                fields in proptest::collection::vec(
                    (proptest::collection::vec(any::<u8>(), 0..16), proptest::collection::vec(any::<u8>(), 0..64)),
                    0..12,
                ),
                garbage in proptest::collection::vec(any::<u8>(), 0..8),
            ) {
                let mut headers = edgechain_wire::encode(fields.iter().map(|(n, v)| (n.as_slice(), v.as_slice())));
                headers.extend_from_slice(&garbage);
                let req = WitRequest {
                    method,
                    normalized_path: String::new(),
                    path_with_query: path,
                    authority,
                    headers,
                    body: None,
                };
                let limits = small_limits();
                if let Ok(v) = request_from_wit(&req, &limits) {
                    prop_assert!(v.headers.len() <= limits.max_headers);
                    prop_assert!(v.path.as_str().starts_with('/'));
                    prop_assert!(normalized_path(v.path.as_str()).is_ok());
                    prop_assert!(v.headers.keys().all(|n| !is_managed(n.as_str())));
                }
            }

            /// The SDKs' test harnesses check decisions with
            /// `edgechain_wire::decision`; it must accept what the host
            /// accepts and refuse what it refuses.
            #[test]
            fn the_wire_rules_agree_with_the_host(
                method in "[A-Za-z /!-]{0,6}|CONNECT|TRACE|connect",
                path in "/?[/a-z0-9%.?#:@\\[\\] <>\"`{}\\\\é\u{7f}-]{0,16}",
                authority in "[a-z0-9.:@\\[\\]% /?#_-]{0,12}|\\[::1\\]:[0-9+]{0,6}|[a-z]{1,3}:[0-9+]{0,6}",
                name in "[A-Za-z -]{0,8}|host|Content-Length|connection",
                value in proptest::collection::vec(any::<u8>(), 0..6),
                status in 0u16..700,
            ) {
                use edgechain_wire::decision as wire;
                // One part varies at a time, the others valid, so every
                // disagreement shows.
                let host_accepts = |method: &str, path: &str, authority: &str, name: &str, value: &[u8]| {
                    let req = WitRequest {
                        method: method.into(),
                        normalized_path: String::new(),
                        path_with_query: path.into(),
                        authority: authority.into(),
                        headers: edgechain_wire::encode([(name.as_bytes(), value)]),
                        body: None,
                    };
                    request_from_wit(&req, &HeadLimits::default()).is_ok()
                };
                prop_assert_eq!(host_accepts(&method, "/", "h", "x", b""), wire::check_method(&method).is_ok(), "method {:?}", method);
                prop_assert_eq!(host_accepts("GET", &path, "h", "x", b""), wire::check_target(&path).is_ok(), "path {:?}", path);
                prop_assert_eq!(host_accepts("GET", "/", &authority, "x", b""), wire::check_authority(&authority).is_ok(), "authority {:?}", authority);
                prop_assert_eq!(host_accepts("GET", "/", "h", &name, &value), wire::check_field(name.as_bytes(), &value).is_ok(), "field {:?}: {:?}", name, value);
                let resp = WitResponse { status, headers: Vec::new(), body: None };
                prop_assert_eq!(
                    response_from_wit(&resp, &HeadLimits::default()).is_ok(),
                    wire::check_status(status).is_ok()
                );
            }

            /// The host checks decisions with `edgechain_wire::decision`
            /// and then builds `http` types: the rules must take exactly
            /// what `http` takes (with the host's port and userinfo rules),
            /// so that building never refuses what the rules accepted, and
            /// the rules refuse nothing a valid message could hold.
            #[test]
            fn the_wire_rules_agree_with_http(
                method in "[ -~]{0,8}|CONNECT|TRACE|G\u{e9}T",
                path in "/?([/a-z0-9%.?#:@\\[\\] <>\"`{}|^\\\\\u{e9}\u{7f}\t-]|%2[fF]|\\.\\.){0,16}",
                authority in "[ -~]{0,12}|\\[::1\\]:[0-9+]{0,6}|[a-z]{1,3}:[0-9+]{0,6}",
                name in proptest::collection::vec(any::<u8>(), 0..6),
                value in proptest::collection::vec(any::<u8>(), 0..6),
                status in any::<u16>(),
            ) {
                use edgechain_wire::decision as wire;
                let http_method = Method::from_bytes(method.as_bytes()).is_ok()
                    && !matches!(method.as_str(), "CONNECT" | "TRACE");
                prop_assert_eq!(wire::check_method(&method).is_ok(), http_method, "method {:?}", method);
                // As each `--escaped-slashes` policy forwards the target.
                let sent = path.split('#').next().unwrap_or_default();
                let parses = |t: &str| {
                    PathAndQuery::try_from(t).is_ok_and(|p| normalized_path(p.as_str()).is_ok())
                };
                for policy in [EscapedSlashes::Reject, EscapedSlashes::Decode, EscapedSlashes::Keep] {
                    let http_path = path.starts_with('/')
                        && sent.is_ascii()
                        && match policy {
                            _ if !path::has_escaped_slash(sent) => parses(&path),
                            EscapedSlashes::Reject => false,
                            EscapedSlashes::Decode => parses(&path::decode_escaped_slashes(sent)),
                            EscapedSlashes::Keep => parses(&path),
                        };
                    prop_assert_eq!(wire::check_target_with(&path, policy).is_ok(), http_path, "path {:?} ({:?})", path, policy);
                }
                prop_assert_eq!(wire::check_target(&path).is_ok(), wire::check_target_with(&path, EscapedSlashes::Reject).is_ok());
                let http_authority = authority.is_empty()
                    || Authority::try_from(authority.as_str()).is_ok_and(|a| {
                        !a.as_str().contains('@') && crate::limits::valid_port(&a)
                    });
                prop_assert_eq!(wire::check_authority(&authority).is_ok(), http_authority, "authority {:?}", authority);
                let http_field = HeaderName::from_bytes(&name).is_ok_and(|n| !is_managed(n.as_str()))
                    && HeaderValue::from_bytes(&value).is_ok();
                prop_assert_eq!(wire::check_field(&name, &value).is_ok(), http_field, "field {:?}: {:?}", name, value);
                let http_status = StatusCode::from_u16(status).is_ok() && (200..=599).contains(&status);
                prop_assert_eq!(wire::check_status(status).is_ok(), http_status);
            }

            #[test]
            fn any_response_decision_converts_or_is_refused(
                status in any::<u16>(),
                block in proptest::collection::vec(any::<u8>(), 0..600),
            ) {
                let resp = WitResponse { status, headers: block, body: None };
                let limits = small_limits();
                if let Ok((status, headers)) = response_from_wit(&resp, &limits) {
                    prop_assert!((200..=599).contains(&status.as_u16()));
                    prop_assert!(headers.len() <= limits.max_headers);
                }
            }
        }

        #[test]
        fn a_hundred_thousand_fields_are_refused_without_building_them() {
            let many: Vec<(String, &[u8])> = (0..100_000)
                .map(|i| (format!("x-{i}"), &b"1"[..]))
                .collect();
            let block = edgechain_wire::encode(many.iter().map(|(n, v)| (n.as_bytes(), *v)));
            let resp = WitResponse {
                status: 200,
                headers: block,
                body: None,
            };
            assert_eq!(
                response_from_wit(&resp, &HeadLimits::default()).err(),
                Some(InvalidDecision::TooManyHeaders(100))
            );
        }
    }
}
