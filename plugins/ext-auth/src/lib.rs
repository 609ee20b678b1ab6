//! `ext-auth`: ask an external authorisation service about every request, in
//! the manner of Envoy's `ext_authz` (HTTP service mode).
//!
//! Config:
//! ```json
//! { "url": "http://auth.internal:8080/check",
//!   "headers": ["authorization", "cookie"],
//!   "include_path": true, "include_method": true, "request_body": false,
//!   "allow_headers": ["x-user-id"],
//!   "deny_headers": ["www-authenticate", "content-type", "location"],
//!   "timeout_ms": 200, "on_failure": "deny", "status_on_error": 503 }
//! ```
//! Only `url` is required; the values above are the defaults except
//! `allow_headers` (default none) and `timeout_ms` (default: what is left of
//! the hook's budget). The manifest entry must grant the service's authority
//! and give the hook time for the call:
//! ```json
//! { "name": "auth", "module": "ext-auth.wasm", "timeout_ms": 250,
//!   "grants": { "http": ["auth.internal:8080"] },
//!   "config": { "url": "http://auth.internal:8080/check", "allow_headers": ["x-user-id"] } }
//! ```
//!
//! For each request the plugin sends one check call to `url`: `GET`, or
//! `POST` with the client's request body when `request_body` is on (the link
//! then buffers request bodies, up to its `max_body_bytes`). The call carries
//! every value of the request headers named in `headers` (to forward
//! `content-type` with a body, list it), plus `x-original-method` (the
//! client's method) and `x-original-path` (the **normalised** path, without
//! the query) unless turned off. Nothing else of the client's request is sent;
//! `url` is used as written (its own path and query included).
//!
//! The service's answer decides:
//!
//! - **2xx**: the request goes on. For each name in `allow_headers`, the
//!   client's own values are removed and the service's values (if any) are
//!   set, so the origin can trust them. Nothing else is changed: forwarded
//!   credentials (`authorization`, `cookie`) stay on the request.
//! - **any other status** (3xx–5xx): the client gets that status, the
//!   service's body, and the service's headers named in `deny_headers`
//!   (`www-authenticate` for a 401 challenge, `location` for a redirect to a
//!   login page).
//! - **no usable answer** (timeout, connection refused, broken or invalid
//!   HTTP, a body over `max_body_bytes`, a status outside 200–599, or a call
//!   the host refused because the manifest does not grant `url`'s authority):
//!   with `"on_failure": "deny"` (the default) the client gets
//!   `status_on_error` (default 503, `text/plain`); with `"allow"` the request
//!   goes on, with the `allow_headers` removed (so a client cannot forge them
//!   while the service is down) and otherwise unchanged. Each failure is
//!   logged (a refused grant at error level: it is a configuration mistake).
//!
//! Give the link a `timeout_ms` comfortably above the plugin's `timeout_ms`:
//! the call's wait counts against the hook's budget, and the plugin needs a
//! little time left to apply `on_failure`; if the hook's own deadline passes
//! first, the link fails and its `on_error` policy answers instead.

use edgechain_sdk::http::{self, IncomingResponse, OutgoingRequest};
use edgechain_sdk::{
    Action, HeaderList, Level, Needs, Plugin, Request, Response, export_plugin, log,
};
use serde::Deserialize;
use std::time::Duration;

/// Header carrying the client's method to the service.
pub const ORIGINAL_METHOD: &str = "x-original-method";
/// Header carrying the client's normalised path to the service.
pub const ORIGINAL_PATH: &str = "x-original-path";

/// What a failed check call means.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Answer the client with `status_on_error` (fail closed).
    #[default]
    Deny,
    /// Let the request on without the `allow_headers` (fail open).
    Allow,
}

/// The plugin's configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Absolute `http://` URL of the check endpoint.
    pub url: String,
    /// Request headers forwarded to the service (every value).
    #[serde(default = "default_headers")]
    pub headers: Vec<String>,
    /// Send the normalised path as `x-original-path`.
    #[serde(default = "yes")]
    pub include_path: bool,
    /// Send the method as `x-original-method`.
    #[serde(default = "yes")]
    pub include_method: bool,
    /// Forward the request body (the check becomes a `POST`).
    #[serde(default)]
    pub request_body: bool,
    /// Service response headers set on an allowed request.
    #[serde(default)]
    pub allow_headers: Vec<String>,
    /// Service response headers passed to the client on a denial.
    #[serde(default = "default_deny_headers")]
    pub deny_headers: Vec<String>,
    /// Timeout of one check call, in milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u32>,
    /// What a failed call means.
    #[serde(default)]
    pub on_failure: OnFailure,
    /// Status answered on a failed call with `"on_failure": "deny"`.
    #[serde(default = "default_status_on_error")]
    pub status_on_error: u16,
}

fn default_headers() -> Vec<String> {
    vec!["authorization".into(), "cookie".into()]
}

fn default_deny_headers() -> Vec<String> {
    vec![
        "www-authenticate".into(),
        "content-type".into(),
        "location".into(),
    ]
}

fn default_status_on_error() -> u16 {
    503
}

fn yes() -> bool {
    true
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Lower-case and check the header names of config field `field`.
fn header_names(field: &str, names: Vec<String>) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        let lower = name.to_ascii_lowercase();
        if !is_token(&lower) {
            return Err(format!("{field}: `{name}` is not a valid header name"));
        }
        if edgechain_sdk::is_managed_header(&lower) {
            return Err(format!(
                "{field}: `{name}` is managed by the host and cannot be used here"
            ));
        }
        if !out.contains(&lower) {
            out.push(lower);
        }
    }
    Ok(out)
}

/// Check that `url` is an absolute `http://` URL with a usable authority.
fn check_url(url: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("url: `{url}` {why}"));
    if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return bad("contains spaces or control characters");
    }
    let Some(rest) = url
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("http://"))
        .map(|_| &url[7..])
    else {
        return bad("is not an absolute http:// URL (the host makes plain HTTP/1.1 calls only)");
    };
    if url.contains('#') {
        return bad("has a fragment");
    }
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    if authority.contains('@') {
        return bad("has user information; send credentials in a header instead");
    }
    let (host, port) = match authority.rsplit_once(':') {
        // An IPv6 literal without a port: `[::1]`.
        Some((_, p)) if p.ends_with(']') => (authority, None),
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    if host.is_empty() {
        return bad("has no host");
    }
    if let Some(p) = port
        && !p.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return bad("has an invalid port");
    }
    Ok(())
}

/// Calls the authorisation service for every request.
pub struct ExtAuth {
    config: Config,
}

impl ExtAuth {
    /// The check call for `req`. A forwarded body is moved into the call:
    /// the request passes on with `body: None`, which tells the host to
    /// keep the body it buffered (no copy back).
    fn check_request(&self, req: &mut Request) -> OutgoingRequest {
        let c = &self.config;
        let mut headers = HeaderList::default();
        for name in &c.headers {
            for value in req.headers.get_all(name) {
                headers.append(name, value);
            }
        }
        if c.include_method {
            headers.append(ORIGINAL_METHOD, &req.method);
        }
        if c.include_path {
            headers.append(ORIGINAL_PATH, req.path());
        }
        let method = if c.request_body { "POST" } else { "GET" };
        let mut call = OutgoingRequest::new(method, &c.url).with_headers(headers);
        if c.request_body {
            call = call.with_body(req.body.take().unwrap_or_default());
        }
        if let Some(ms) = c.timeout_ms {
            call = call.with_timeout(Duration::from_millis(ms.into()));
        }
        call
    }

    /// Remove the client's `allow_headers`, then set the service's (if any).
    fn apply_allow_headers(&self, req: &mut Request, from: Option<&IncomingResponse>) {
        for name in &self.config.allow_headers {
            req.remove_header(name);
            for value in from.iter().flat_map(|r| r.headers.get_all(name)) {
                req.append_header(name, value);
            }
        }
    }

    /// The client's answer to a denial by the service.
    fn denial(&self, resp: IncomingResponse) -> Response {
        let mut out = Response::new(resp.status);
        for name in &self.config.deny_headers {
            for value in resp.headers.get_all(name) {
                out.append_header(name, value);
            }
        }
        if !resp.body.is_empty() {
            out.body = Some(resp.body);
        }
        out
    }

    /// A call that produced no usable answer: log `why` and apply
    /// `on_failure`.
    fn failure(&self, req: &mut Request, level: Level, why: &str) -> Action {
        match self.config.on_failure {
            OnFailure::Deny => {
                let status = self.config.status_on_error;
                log::log(
                    level,
                    &format!("{why}; answering {status} (on_failure: deny)"),
                );
                Action::Respond(Response::text(
                    status,
                    "authorisation service unavailable\n",
                ))
            }
            OnFailure::Allow => {
                log::log(
                    level,
                    &format!("{why}; letting the request through (on_failure: allow)"),
                );
                self.apply_allow_headers(req, None);
                Action::Next
            }
        }
    }
}

impl Plugin for ExtAuth {
    type Config = Config;

    fn new(mut config: Config) -> Result<Self, String> {
        check_url(&config.url)?;
        config.headers = header_names("headers", config.headers)?;
        for (on, name) in [
            (config.include_path, ORIGINAL_PATH),
            (config.include_method, ORIGINAL_METHOD),
        ] {
            if on && config.headers.iter().any(|h| h == name) {
                return Err(format!(
                    "headers: `{name}` is set by the plugin; a client's value is never forwarded"
                ));
            }
        }
        config.allow_headers = header_names("allow_headers", config.allow_headers)?;
        config.deny_headers = header_names("deny_headers", config.deny_headers)?;
        if config.timeout_ms == Some(0) {
            return Err("timeout_ms must be at least 1".into());
        }
        if !(400..=599).contains(&config.status_on_error) {
            return Err("status_on_error must be in 400..=599".into());
        }
        Ok(ExtAuth { config })
    }

    fn needs(&self) -> Needs {
        if self.config.request_body {
            Needs::REQUEST_BODY
        } else {
            Needs::empty()
        }
    }

    fn on_request(&mut self, req: &mut Request) -> Action {
        match self.check_request(req).send() {
            Ok(resp) if resp.is_success() => {
                self.apply_allow_headers(req, Some(&resp));
                Action::Next
            }
            Ok(resp) if (300..=599).contains(&resp.status) => Action::Respond(self.denial(resp)),
            Ok(resp) => {
                let why = format!(
                    "authorisation service {} answered status {}, which is not usable",
                    self.config.url, resp.status
                );
                self.failure(req, Level::Warn, &why)
            }
            Err(e) => {
                // A refused grant or a malformed call is a configuration
                // mistake, not an outage.
                let level = match e {
                    http::Error::Denied(_) | http::Error::Invalid(_) => Level::Error,
                    _ => Level::Warn,
                };
                let why = format!("authorisation call to {} failed: {e}", self.config.url);
                self.failure(req, level, &why)
            }
        }
    }
}

export_plugin!(ExtAuth);

#[cfg(test)]
mod tests {
    use super::*;
    use edgechain_sdk::testing::Harness;

    const URL: &str = "http://auth.internal:8080/check";

    fn harness(extra: &str) -> Harness<ExtAuth> {
        let config = format!(r#"{{"url": "{URL}"{extra}}}"#);
        Harness::<ExtAuth>::new(&config).expect("config accepted")
    }

    fn client_request() -> Request {
        Request::new("DELETE", "/api/../admin//users?id=7")
            .with_header("authorization", "Bearer t0ken")
            .with_header("cookie", "a=1")
            .with_header("cookie", "b=2")
            .with_header("x-user-id", "forged")
            .with_header("x-other", "not forwarded")
    }

    fn body_text(r: &Response) -> &str {
        std::str::from_utf8(r.body.as_deref().unwrap_or_default()).unwrap_or("<binary>")
    }

    #[test]
    fn config_defaults() {
        let mut h = harness("");
        assert_eq!(h.needs(), Needs::empty());
        let c = &h.plugin().config;
        assert_eq!(c.headers, ["authorization", "cookie"]);
        assert!(c.include_path && c.include_method && !c.request_body);
        assert!(c.allow_headers.is_empty());
        assert_eq!(
            c.deny_headers,
            ["www-authenticate", "content-type", "location"]
        );
        assert_eq!(c.timeout_ms, None);
        assert_eq!(c.on_failure, OnFailure::Deny);
        assert_eq!(c.status_on_error, 503);
    }

    #[test]
    fn config_is_validated() {
        let err = |config: &str| Harness::<ExtAuth>::new(config).err().unwrap_or_default();
        assert!(err("{}").contains("missing field `url`"));
        assert!(err(r#"{"url": "https://a/"}"#).contains("not an absolute http://"));
        assert!(err(r#"{"url": "/check"}"#).contains("not an absolute http://"));
        assert!(err(r#"{"url": "http:///check"}"#).contains("no host"));
        assert!(err(r#"{"url": "http://a:99999/"}"#).contains("invalid port"));
        assert!(err(r#"{"url": "http://u:p@a/"}"#).contains("user information"));
        assert!(err(r#"{"url": "http://a/x y"}"#).contains("spaces"));
        assert!(err(r#"{"url": "http://a/", "headers": ["bad name"]}"#).contains("headers:"));
        assert!(
            err(r#"{"url": "http://a/", "allow_headers": ["Content-Length"]}"#)
                .contains("managed by the host")
        );
        assert!(
            err(r#"{"url": "http://a/", "deny_headers": ["transfer-encoding"]}"#)
                .contains("deny_headers:")
        );
        assert!(
            err(r#"{"url": "http://a/", "headers": ["x-original-path"]}"#)
                .contains("set by the plugin")
        );
        assert!(err(r#"{"url": "http://a/", "timeout_ms": 0}"#).contains("timeout_ms"));
        assert!(err(r#"{"url": "http://a/", "status_on_error": 200}"#).contains("400..=599"));
        assert!(err(r#"{"url": "http://a/", "on_failure": "maybe"}"#).contains("unknown variant"));
        assert!(err(r#"{"url": "http://a/", "timeout": 5}"#).contains("unknown field"));
        // Accepted spellings.
        for ok in [
            r#"{"url": "http://[::1]/x"}"#,
            r#"{"url": "http://[::1]:8080"}"#,
            r#"{"url": "HTTP://a:1?x=1", "headers": ["X-Api-Key"]}"#,
            r#"{"url": "http://a/", "include_path": false, "headers": ["x-original-path"]}"#,
        ] {
            assert!(Harness::<ExtAuth>::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn allowed_requests_get_the_allow_headers_and_keep_the_rest() {
        let mut h = harness(r#", "allow_headers": ["X-User-Id", "x-roles"]"#);
        h.http_respond(
            URL,
            IncomingResponse::new(200)
                .with_header("x-user-id", "42")
                .with_header("x-internal", "not copied")
                .with_body("ignored"),
        );
        let mut req = client_request();
        assert_eq!(h.on_request(&mut req), Action::Next);
        assert_eq!(req.header("x-user-id"), Some("42"), "forged value replaced");
        assert_eq!(req.headers.get_all("x-user-id").count(), 1);
        assert!(!req.headers.contains("x-roles"), "absent from the answer");
        assert!(!req.headers.contains("x-internal"));
        assert_eq!(req.header("authorization"), Some("Bearer t0ken"), "kept");
        assert_eq!(req.header("x-other"), Some("not forwarded"));
        assert_eq!(req.path_with_query(), "/api/../admin//users?id=7");

        let sent = h.http_requests();
        assert_eq!(sent.len(), 1);
        let call = &sent[0];
        assert_eq!((call.method.as_str(), call.url.as_str()), ("GET", URL));
        assert_eq!(call.body, None);
        assert_eq!(call.timeout, None);
        let names: Vec<_> = call.headers.iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "authorization",
                "cookie",
                "cookie",
                ORIGINAL_METHOD,
                ORIGINAL_PATH
            ]
        );
        let cookies: Vec<_> = call.headers.get_all("cookie").collect();
        assert_eq!(cookies, [b"a=1".as_slice(), b"b=2".as_slice()]);
    }

    #[test]
    fn a_denial_passes_status_body_and_chosen_headers() {
        let mut h = harness(r#", "allow_headers": ["x-user-id"]"#);
        h.http_respond(
            URL,
            IncomingResponse::new(401)
                .with_header("www-authenticate", "Bearer realm=\"api\"")
                .with_header("content-type", "application/json")
                .with_header("x-internal", "secret")
                .with_body(r#"{"error":"expired"}"#),
        );
        let Action::Respond(resp) = h.on_request(&mut client_request()) else {
            panic!("a 401 is answered to the client");
        };
        assert_eq!(resp.status, 401);
        assert_eq!(
            resp.header("www-authenticate"),
            Some("Bearer realm=\"api\"")
        );
        assert_eq!(resp.header("content-type"), Some("application/json"));
        assert!(!resp.headers.contains("x-internal"));
        assert_eq!(body_text(&resp), r#"{"error":"expired"}"#);
    }

    #[test]
    fn a_redirect_to_login_is_passed_on() {
        let mut h = harness("");
        h.http_respond(
            URL,
            IncomingResponse::new(302).with_header("location", "http://login.example/"),
        );
        let Action::Respond(resp) = h.on_request(&mut client_request()) else {
            panic!("a 302 is answered to the client");
        };
        assert_eq!(resp.status, 302);
        assert_eq!(resp.header("location"), Some("http://login.example/"));
        assert_eq!(resp.body, None, "an empty body stays empty");
    }

    #[test]
    fn a_timeout_denies_with_status_on_error_by_default() {
        let mut h = harness(r#", "timeout_ms": 40, "status_on_error": 403"#);
        h.http_fail(URL, http::Error::Timeout);
        let Action::Respond(resp) = h.on_request(&mut client_request()) else {
            panic!("fail closed");
        };
        assert_eq!(resp.status, 403);
        assert_eq!(body_text(&resp), "authorisation service unavailable\n");
        assert_eq!(
            h.http_requests()[0].timeout,
            Some(Duration::from_millis(40))
        );
        let (level, message) = h.logs().pop().expect("logged");
        assert_eq!(level, Level::Warn);
        assert!(
            message.ends_with("failed: http call timed out; answering 403 (on_failure: deny)"),
            "{message}"
        );
    }

    #[test]
    fn a_timeout_with_on_failure_allow_lets_the_request_on() {
        let mut h = harness(r#", "on_failure": "allow", "allow_headers": ["x-user-id"]"#);
        h.http_fail(URL, http::Error::Timeout);
        let mut req = client_request();
        assert_eq!(h.on_request(&mut req), Action::Next);
        assert!(!req.headers.contains("x-user-id"), "no forged identity");
        assert_eq!(req.header("authorization"), Some("Bearer t0ken"));
        assert_eq!(req.header("x-other"), Some("not forwarded"));
        assert!(
            h.logs()
                .iter()
                .any(|(l, m)| *l == Level::Warn && m.contains("on_failure: allow"))
        );
    }

    #[test]
    fn a_connect_failure_follows_the_failure_mode() {
        let mut h = harness("");
        h.http_fail(URL, http::Error::Connect("connection refused".into()));
        assert!(matches!(
            h.on_request(&mut client_request()),
            Action::Respond(ref r) if r.status == 503
        ));
        let mut h = harness(r#", "on_failure": "allow""#);
        h.http_fail(URL, http::Error::Connect("connection refused".into()));
        assert_eq!(h.on_request(&mut client_request()), Action::Next);
    }

    #[test]
    fn protocol_errors_too_large_bodies_and_odd_statuses_are_failures() {
        for answer in [
            Err(http::Error::Protocol("bad chunk".into())),
            Err(http::Error::TooLarge),
            Ok(IncomingResponse::new(600)),
            Ok(IncomingResponse::new(101)),
        ] {
            let mut h = harness("");
            h.http_handler(URL, move |_| answer.clone());
            assert!(matches!(
                h.on_request(&mut client_request()),
                Action::Respond(ref r) if r.status == 503
            ));
        }
    }

    #[test]
    fn an_ungranted_authority_is_a_failure_logged_as_an_error() {
        // Nothing registered for the URL: the fake host denies the call, as
        // the real one does when the manifest lacks the grant.
        let mut h = harness("");
        h.http_respond(
            "http://other.internal:8080/check",
            IncomingResponse::new(200),
        );
        assert!(matches!(
            h.on_request(&mut client_request()),
            Action::Respond(ref r) if r.status == 503
        ));
        let (level, message) = h.logs().pop().expect("logged");
        assert_eq!(level, Level::Error);
        assert!(message.contains("not granted"), "{message}");

        let mut h = harness(r#", "on_failure": "allow""#);
        assert_eq!(h.on_request(&mut client_request()), Action::Next);
    }

    #[test]
    fn path_and_method_are_forwarded_normalised_and_can_be_turned_off() {
        let mut h = harness("");
        h.http_respond(URL, IncomingResponse::new(204));
        let mut req = client_request().with_header(ORIGINAL_PATH, "/public");
        assert_eq!(h.on_request(&mut req), Action::Next);
        let call = &h.http_requests()[0];
        assert_eq!(call.header(ORIGINAL_METHOD), Some("DELETE"));
        assert_eq!(call.header(ORIGINAL_PATH), Some("/admin/users"));
        assert_eq!(
            call.headers.get_all(ORIGINAL_PATH).count(),
            1,
            "client's value dropped"
        );

        let mut h = harness(r#", "include_path": false, "include_method": false, "headers": []"#);
        h.http_respond(URL, IncomingResponse::new(200));
        assert_eq!(h.on_request(&mut client_request()), Action::Next);
        assert!(h.http_requests()[0].headers.is_empty());
    }

    #[test]
    fn the_request_body_is_forwarded_when_asked_for() {
        let mut h = harness(r#", "request_body": true, "headers": ["content-type"]"#);
        assert_eq!(h.needs(), Needs::REQUEST_BODY);
        h.http_handler(URL, |call| {
            let signed = call.body.as_deref() == Some(b"{\"amount\":5}".as_slice());
            Ok(IncomingResponse::new(if signed { 200 } else { 403 }))
        });
        let mut req = Request::new("POST", "/pay")
            .with_header("content-type", "application/json")
            .with_body("{\"amount\":5}");
        assert_eq!(h.on_request(&mut req), Action::Next);
        assert_eq!(
            req.body, None,
            "None: the host passes on the body it buffered"
        );
        let call = &h.http_requests()[0];
        assert_eq!(call.method, "POST");
        assert_eq!(call.header("content-type"), Some("application/json"));

        // A request without a body sends an empty one.
        let mut req = Request::get("/pay");
        assert!(matches!(h.on_request(&mut req), Action::Respond(ref r) if r.status == 403));
        assert_eq!(h.http_requests()[1].body.as_deref(), Some(b"".as_slice()));
    }
}
