//! Outbound HTTP calls from a plugin: an auth service, a feature-flag API, a
//! lookup (the WIT `http` interface).
//!
//! Build an [`OutgoingRequest`], [`send`](OutgoingRequest::send) it, and read
//! the [`IncomingResponse`]; a call that produced no response is an
//! [`Error`].
//!
//! ```
//! use edgechain_sdk::http::{self, OutgoingRequest};
//! use std::time::Duration;
//!
//! # fn check(token: &str) -> Result<Option<String>, http::Error> {
//! let resp = OutgoingRequest::new("GET", "http://auth.internal:8080/check")
//!     .with_header("authorization", token)
//!     .with_timeout(Duration::from_millis(100))
//!     .send()?;
//! if !resp.is_success() {
//!     return Ok(None);
//! }
//! Ok(resp.header("x-user-id").map(str::to_owned))
//! # }
//! # // Natively, the test harness's fake host answers (see `testing`).
//! # let mut h = edgechain_sdk::testing::Harness::<Nothing>::new("null").unwrap();
//! # h.http_respond(
//! #     "http://auth.internal:8080/check",
//! #     http::IncomingResponse::new(200).with_header("x-user-id", "42"),
//! # );
//! # assert_eq!(check("Bearer t").unwrap().as_deref(), Some("42"));
//! # struct Nothing;
//! # impl edgechain_sdk::Plugin for Nothing {
//! #     type Config = ();
//! #     fn new(_: ()) -> Result<Self, String> { Ok(Nothing) }
//! # }
//! ```
//!
//! # The rules
//!
//! - **Grants.** A plugin may call only the authorities (`host:port`) its
//!   manifest entry grants: `"grants": {"http": ["auth.internal:8080"]}`.
//!   Anything else fails with [`Error::Denied`] before any connection is
//!   attempted, as does a URL that is not an absolute `http://` URL.
//! - **Plain HTTP/1.1**, over keep-alive connections the host pools; there is
//!   no TLS (`https://` is denied): call services inside your network.
//! - **Whole messages.** The call blocks the hook until the whole response is
//!   in. Its body is limited to the link's `max_body_bytes`
//!   ([`Error::TooLarge`] beyond).
//! - **Time.** The wait counts against the hook's `timeout_ms` (default 50 ms).
//!   [`OutgoingRequest::with_timeout`] bounds one call (capped by what is left
//!   of the hook's budget; without it the call may use all of it). Give the
//!   link a `timeout_ms` comfortably above your call's timeout so that the
//!   plugin still has time to act on an [`Error::Timeout`]; if the hook's own
//!   deadline passes first, the instance is stopped and the link's `on_error`
//!   policy answers.
//! - **Headers.** The host sets `host` from the URL and the framing headers
//!   (`content-length`, `transfer-encoding`) from the body; hop-by-hop headers
//!   are removed from the response.
//!
//! # Testing
//!
//! In native builds (`cargo test`) the calls go to the fake host of
//! [`crate::testing::Harness`]: register canned answers per URL with
//! [`Harness::http_respond`](crate::testing::Harness::http_respond),
//! [`http_fail`](crate::testing::Harness::http_fail) or
//! [`http_handler`](crate::testing::Harness::http_handler), and read what the
//! plugin sent with
//! [`http_requests`](crate::testing::Harness::http_requests). A URL with
//! nothing registered fails with [`Error::Denied`], as an authority missing
//! from the manifest's grants does in the real host.

use crate::headers::HeaderList;
use crate::sys::http as raw;
use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// An outbound request. Build it with [`OutgoingRequest::new`] and the
/// `with_*` methods, then [`send`](OutgoingRequest::send) it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRequest {
    /// Method, e.g. `GET` or `POST`.
    pub method: String,
    /// Absolute `http://` URL, e.g. `http://auth.internal:8080/check?x=1`.
    pub url: String,
    /// Header fields (names lower-case). `host` and the framing headers are
    /// set by the host.
    pub headers: HeaderList,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
    /// Give up after this long (capped by what is left of the hook's
    /// `timeout_ms`); `None` lets the call use all of it.
    pub timeout: Option<Duration>,
    /// A problem found while building (e.g. a body that failed to serialise),
    /// reported by `send` as [`Error::Invalid`].
    build_error: Option<String>,
}

impl OutgoingRequest {
    /// A request with no headers, no body and no timeout of its own.
    pub fn new(method: &str, url: &str) -> Self {
        OutgoingRequest {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: HeaderList::default(),
            body: None,
            timeout: None,
            build_error: None,
        }
    }

    /// Builder: add a header value (keeping earlier values of `name`).
    pub fn with_header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Builder: replace the headers.
    pub fn with_headers(mut self, headers: HeaderList) -> Self {
        self.headers = headers;
        self
    }

    /// Builder: set the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Builder: set the body to `value` as JSON and `content-type` to
    /// `application/json` (unless already set). Should serialising fail,
    /// [`send`](OutgoingRequest::send) returns [`Error::Invalid`] without
    /// calling the host.
    pub fn with_json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => {
                if !self.headers.contains("content-type") {
                    self.headers.append("content-type", "application/json");
                }
                self.body = Some(body);
            }
            Err(e) => self.build_error = Some(format!("body is not serialisable as JSON: {e}")),
        }
        self
    }

    /// Builder: give up after `timeout` (rounded up to whole milliseconds,
    /// and capped by what is left of the hook's `timeout_ms`).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The first value of header `name` as UTF-8 text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get_str(name)
    }

    /// The authority (`host[:port]`) of an absolute `http://` URL, which is
    /// what a manifest grant names; `None` for any other URL.
    pub fn authority(&self) -> Option<&str> {
        authority_of(&self.url)
    }

    /// The body as UTF-8 text (invalid bytes replaced); empty without a body.
    pub fn body_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.body.as_deref().unwrap_or_default())
    }

    /// Send the request and wait for the whole response (see [`send`]).
    pub fn send(self) -> Result<IncomingResponse, Error> {
        send(self)
    }

    fn into_raw(self) -> raw::OutgoingRequest {
        raw::OutgoingRequest {
            method: self.method,
            url: self.url,
            headers: self.headers.into_packed(),
            body: self.body,
            timeout_ms: self.timeout.map(millis_ceil),
        }
    }

    #[cfg(not(target_family = "wasm"))]
    pub(crate) fn from_raw(r: &raw::OutgoingRequest) -> Self {
        OutgoingRequest {
            method: r.method.clone(),
            url: r.url.clone(),
            headers: HeaderList::from_packed(r.headers.clone()),
            body: r.body.clone(),
            timeout: r.timeout_ms.map(|ms| Duration::from_millis(ms.into())),
            build_error: None,
        }
    }
}

/// A response, read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingResponse {
    /// HTTP status code.
    pub status: u16,
    /// Header fields (names lower-case; hop-by-hop headers removed).
    pub headers: HeaderList,
    /// The whole body (at most the link's `max_body_bytes`).
    pub body: Vec<u8>,
}

impl IncomingResponse {
    /// An empty response with `status`. Plugins receive responses; this is
    /// for canned answers in tests.
    pub fn new(status: u16) -> Self {
        IncomingResponse {
            status,
            headers: HeaderList::default(),
            body: Vec::new(),
        }
    }

    /// Builder: add a header value.
    pub fn with_header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Builder: set the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of header `name` as UTF-8 text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get_str(name)
    }

    /// The body bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.body
    }

    /// The body as UTF-8 text, invalid bytes replaced by U+FFFD.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    fn from_raw(r: raw::IncomingResponse) -> Self {
        IncomingResponse {
            status: r.status,
            headers: HeaderList::from_packed(r.headers),
            body: r.body,
        }
    }

    #[cfg(not(target_family = "wasm"))]
    pub(crate) fn into_raw(self) -> raw::IncomingResponse {
        raw::IncomingResponse {
            status: self.status,
            headers: self.headers.into_packed(),
            body: self.body,
        }
    }
}

/// Why a call produced no response: the cases of the WIT `http.error`
/// variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The URL's authority is not granted to this link, or the URL is not an
    /// absolute `http://` URL. Nothing was sent.
    Denied(String),
    /// The request itself is invalid (method, header, URL). Nothing was sent.
    Invalid(String),
    /// No connection could be made.
    Connect(String),
    /// No complete response in time.
    Timeout,
    /// The response body was larger than the link's `max_body_bytes`.
    TooLarge,
    /// The connection broke or the response was not valid HTTP.
    Protocol(String),
}

impl Error {
    /// The WIT case name: `denied`, `invalid`, `connect`, `timeout`,
    /// `too-large` or `protocol` (stable; handy in logs and metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Denied(_) => "denied",
            Error::Invalid(_) => "invalid",
            Error::Connect(_) => "connect",
            Error::Timeout => "timeout",
            Error::TooLarge => "too-large",
            Error::Protocol(_) => "protocol",
        }
    }

    fn from_raw(e: raw::Error) -> Self {
        match e {
            raw::Error::Denied(m) => Error::Denied(m),
            raw::Error::Invalid(m) => Error::Invalid(m),
            raw::Error::Connect(m) => Error::Connect(m),
            raw::Error::Timeout => Error::Timeout,
            raw::Error::TooLarge => Error::TooLarge,
            raw::Error::Protocol(m) => Error::Protocol(m),
        }
    }

    #[cfg(not(target_family = "wasm"))]
    pub(crate) fn into_raw(self) -> raw::Error {
        match self {
            Error::Denied(m) => raw::Error::Denied(m),
            Error::Invalid(m) => raw::Error::Invalid(m),
            Error::Connect(m) => raw::Error::Connect(m),
            Error::Timeout => raw::Error::Timeout,
            Error::TooLarge => raw::Error::TooLarge,
            Error::Protocol(m) => raw::Error::Protocol(m),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Denied(m) => write!(f, "http call denied: {m}"),
            Error::Invalid(m) => write!(f, "invalid http request: {m}"),
            Error::Connect(m) => write!(f, "http connect failed: {m}"),
            Error::Timeout => f.write_str("http call timed out"),
            Error::TooLarge => f.write_str("http response body too large"),
            Error::Protocol(m) => write!(f, "http protocol error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Send `req` and wait for the whole response. A response with any status
/// (404, 500...) is `Ok`; `Err` means there was no response.
pub fn send(req: OutgoingRequest) -> Result<IncomingResponse, Error> {
    if let Some(problem) = req.build_error {
        return Err(Error::Invalid(problem));
    }
    raw::send(&req.into_raw())
        .map(IncomingResponse::from_raw)
        .map_err(Error::from_raw)
}

/// `GET url` with no headers: `OutgoingRequest::new("GET", url).send()`.
pub fn get(url: &str) -> Result<IncomingResponse, Error> {
    OutgoingRequest::new("GET", url).send()
}

/// `POST body to url`: `OutgoingRequest::new("POST", url).with_body(body).send()`.
pub fn post(url: &str, body: impl Into<Vec<u8>>) -> Result<IncomingResponse, Error> {
    OutgoingRequest::new("POST", url).with_body(body).send()
}

/// The authority of an absolute `http://` URL (scheme case-insensitive), if
/// non-empty.
pub(crate) fn authority_of(url: &str) -> Option<&str> {
    let scheme = url.get(..7)?;
    if !scheme.eq_ignore_ascii_case("http://") {
        return None;
    }
    let rest = &url[7..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|a| !a.is_empty())
}

fn millis_ceil(d: Duration) -> u32 {
    let ms = d.as_nanos().div_ceil(1_000_000);
    u32::try_from(ms).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_of_absolute_http_urls_only() {
        assert_eq!(
            authority_of("http://auth.internal:8080/check?x=1"),
            Some("auth.internal:8080")
        );
        assert_eq!(authority_of("HTTP://a?x"), Some("a"));
        assert_eq!(authority_of("http://a#f"), Some("a"));
        assert_eq!(authority_of("http:///path"), None);
        assert_eq!(authority_of("https://a/"), None);
        assert_eq!(authority_of("/relative"), None);
        assert_eq!(authority_of("ht"), None);
    }

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        assert_eq!(millis_ceil(Duration::from_micros(1)), 1);
        assert_eq!(millis_ceil(Duration::from_millis(20)), 20);
        assert_eq!(millis_ceil(Duration::ZERO), 0);
        assert_eq!(millis_ceil(Duration::from_secs(u64::MAX)), u32::MAX);
    }

    #[test]
    fn the_builder_fills_the_wit_record() {
        let req = OutgoingRequest::new("POST", "http://svc:1/x")
            .with_header("X-A", "1")
            .with_json(&serde_json::json!({"k": 1}))
            .with_timeout(Duration::from_millis(15));
        assert_eq!(req.header("content-type"), Some("application/json"));
        assert_eq!(req.body_text(), r#"{"k":1}"#);
        let raw = req.clone().into_raw();
        assert_eq!(raw.timeout_ms, Some(15));
        assert_eq!(OutgoingRequest::from_raw(&raw), req);
    }

    #[test]
    fn a_json_body_keeps_an_explicit_content_type() {
        let req = OutgoingRequest::new("POST", "http://svc:1/x")
            .with_header("content-type", "application/vnd.x+json")
            .with_json(&[1, 2]);
        assert_eq!(req.headers.get_all("content-type").count(), 1);
        assert_eq!(req.header("content-type"), Some("application/vnd.x+json"));
    }

    #[test]
    fn a_body_that_cannot_be_json_fails_without_a_call() {
        use std::collections::BTreeMap;
        // JSON object keys must be strings.
        let map: BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let err = OutgoingRequest::new("POST", "http://svc:1/x")
            .with_json(&map)
            .send()
            .expect_err("not serialisable");
        assert_eq!(err.kind(), "invalid");
        assert!(err.to_string().contains("JSON"), "{err}");
    }

    #[test]
    fn response_helpers() {
        let resp = IncomingResponse::new(201)
            .with_header("Content-Type", "application/json")
            .with_body(r#"{"user":"ann"}"#);
        assert!(resp.is_success());
        assert!(!IncomingResponse::new(302).is_success());
        assert_eq!(resp.header("content-type"), Some("application/json"));
        assert_eq!(resp.text(), r#"{"user":"ann"}"#);
        let v: serde_json::Value = resp.json().expect("json");
        assert_eq!(v["user"], "ann");
        assert_eq!(
            IncomingResponse::new(200).with_body(vec![0xff]).text(),
            "\u{fffd}"
        );
    }

    #[test]
    fn errors_display_and_round_trip_the_wit_variant() {
        let all = [
            Error::Denied("d".into()),
            Error::Invalid("i".into()),
            Error::Connect("c".into()),
            Error::Timeout,
            Error::TooLarge,
            Error::Protocol("p".into()),
        ];
        let kinds: Vec<_> = all.iter().map(Error::kind).collect();
        assert_eq!(
            kinds,
            [
                "denied",
                "invalid",
                "connect",
                "timeout",
                "too-large",
                "protocol"
            ]
        );
        assert_eq!(Error::Timeout.to_string(), "http call timed out");
        assert_eq!(
            Error::Connect("refused".into()).to_string(),
            "http connect failed: refused"
        );
        for e in all {
            assert_eq!(Error::from_raw(e.clone().into_raw()), e);
        }
    }
}
