//! Unit-test a plugin natively, with a plain `cargo test`.
//!
//! A native build has no host to import from, so this module stands in for
//! it: [`Harness`] builds your plugin from a JSON config exactly as the host's
//! `init` does, runs its hooks, and backs [`crate::kv`], [`crate::log`],
//! [`crate::context`], [`crate::http`] and [`crate::cache`] with an in-memory
//! fake you can set up and inspect. Each test thread has its own fake host, so tests stay
//! independent when `cargo test` runs them in parallel.
//!
//! Outbound HTTP calls are answered from what the test registered per URL
//! ([`Harness::http_respond`], [`Harness::http_fail`],
//! [`Harness::http_handler`]); a URL with nothing registered fails with
//! [`crate::http::Error::Denied`], as a call to an authority the manifest does
//! not grant does in the real host. [`Harness::http_requests`] shows what was
//! sent.
//!
//! Cache calls are checked as the host checks them (the phase, the limits)
//! and recorded per request: [`Harness::on_request`] starts a new record,
//! [`Harness::on_response`] adds to it, and [`Harness::cache`] shows it, so
//! a test can assert that the plugin bypassed the cache, added a key part or
//! set a TTL.
//!
//! ```
//! use edgechain_sdk::testing::Harness;
//! use edgechain_sdk::{Action, Plugin, Request, Response};
//!
//! struct Deny;
//! impl Plugin for Deny {
//!     type Config = ();
//!     fn new(_: ()) -> Result<Self, String> {
//!         Ok(Deny)
//!     }
//!     fn on_request(&mut self, req: &mut Request) -> Action {
//!         if req.path().starts_with("/admin") {
//!             return Action::Respond(Response::text(403, "no\n"));
//!         }
//!         Action::Next
//!     }
//! }
//!
//! let mut h = Harness::<Deny>::new("null").unwrap();
//! let mut req = Request::get("/admin/users");
//! assert!(matches!(h.on_request(&mut req), Action::Respond(r) if r.status == 403));
//! ```
//!
//! Every decision is checked the way the host checks it ([`check_request`],
//! [`check_response`]): a method, target, authority, header or status the
//! host would refuse (failing the link) panics the test with the reason.
//! [`Harness::check_decisions`] turns that off, for a test about what the
//! plugin does with such a decision.
//!
//! A link can be scoped in the manifest (`when`, `unless`): the host then
//! never calls it for requests out of scope. [`Scope`] reads that rule with
//! the host's own code, and [`Harness::set_scope`] plus
//! [`Harness::reaches`] say whether a request would reach the link.
//!
//! This exercises your Rust code, not the wasm build: to run the component in
//! a real host, load it with `edgechain dev` or `edgechain validate`.

use crate::http::{Error as HttpError, IncomingResponse, OutgoingRequest};
use crate::{Action, Level, Needs, Plugin, Request, Response};
use edgechain_wire::cache::Phase;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

/// Where a link applies: a manifest entry's `when` and `unless`, read and
/// decided by the same code as the host's (`edgechain_wire::scope`).
#[derive(Debug, Clone)]
pub struct Scope(Option<edgechain_wire::scope::Scope<String>>);

impl Scope {
    /// The scope of a manifest entry (JSON text of the entry, or of an
    /// object holding only `when` and/or `unless`). The error is what
    /// `edgechain validate` would say about the rule.
    pub fn from_entry(entry: &str) -> Result<Scope, String> {
        let value: serde_json::Value =
            serde_json::from_str(entry).map_err(|e| format!("entry: {e}"))?;
        edgechain_wire::scope::from_json(value.get("when"), value.get("unless"))
            .map(Scope)
            .map_err(|e| e.to_string())
    }

    /// Whether `req` (as the client sent it) would reach the link: the host
    /// decides on its method, authority, normalised path and headers.
    pub fn reaches(&self, req: &Request) -> bool {
        let Some(scope) = &self.0 else {
            return true;
        };
        let facts = edgechain_wire::scope::Facts::new(&req.method, &req.authority, req.path());
        scope.applies(&facts, &ScopeHeaders(&req.headers))
    }
}

struct ScopeHeaders<'a>(&'a crate::HeaderList);

impl edgechain_wire::scope::HeaderSource<String> for ScopeHeaders<'_> {
    fn any_value(&self, name: &String, f: impl FnMut(&[u8]) -> bool) -> bool {
        self.0.get_all(name).any(f)
    }
}

/// One plugin value plus the fake host it talks to.
pub struct Harness<P: Plugin> {
    plugin: P,
    config: String,
    check: bool,
    scope: Scope,
}

/// Why the host would refuse `req` as a decision (`Action::Next`), if it would.
/// The harness panics with this; call it yourself to assert on a refusal.
/// Operator limits (header count, head size) are not applied.
pub fn check_request(req: &Request) -> Result<(), String> {
    use edgechain_wire::decision as rules;
    rules::check_method(&req.method)
        .and(rules::check_target(req.path_with_query()))
        .and(rules::check_authority(&req.authority))
        .map_err(|r| r.to_string())?;
    check_headers(&req.headers)
}

/// Why the host would refuse `resp` as an answer or a rewritten response, if
/// it would. (A rewritten response that keeps the next hop's status, a 101
/// included, has only its headers checked.)
pub fn check_response(resp: &Response) -> Result<(), String> {
    edgechain_wire::decision::check_status(resp.status).map_err(|r| r.to_string())?;
    check_headers(&resp.headers)
}

fn check_headers(headers: &crate::HeaderList) -> Result<(), String> {
    headers.iter().try_for_each(|(name, value)| {
        edgechain_wire::decision::check_field(name.as_bytes(), value).map_err(|r| r.to_string())
    })
}

fn host_accepts(decision: Result<(), String>) {
    if let Err(why) = decision {
        panic!("the host would refuse this decision and fail the link: {why}");
    }
}

impl<P: Plugin> Harness<P> {
    /// Build the plugin from `config` (JSON text, `null` for none) the way the
    /// host's `init` does, on a fresh fake host for this thread. The error is
    /// the message the operator would see for a rejected chain.
    pub fn new(config: &str) -> Result<Self, String> {
        FAKE.with(|f| {
            *f.borrow_mut() = FakeHost {
                config: config.to_owned(),
                ..FakeHost::default()
            }
        });
        let plugin = crate::runtime::build_in_init::<P>(config)?;
        Ok(Harness {
            plugin,
            config: config.to_owned(),
            check: true,
            scope: Scope(None),
        })
    }

    /// Scope the link as manifest entry `entry` does (its `when` and
    /// `unless`; see [`Scope::from_entry`]), for [`Harness::reaches`].
    pub fn set_scope(&mut self, entry: &str) -> Result<(), String> {
        self.scope = Scope::from_entry(entry)?;
        Ok(())
    }

    /// Whether `req` would reach this link under its scope (every request
    /// does when none was set). The hooks run whatever this says, so a test
    /// can still call them on any request.
    pub fn reaches(&self, req: &Request) -> bool {
        self.scope.reaches(req)
    }

    /// What the plugin declares it needs, as `init` reports it.
    pub fn needs(&self) -> Needs {
        self.plugin.needs()
    }

    /// Run `on_request` on `req`.
    ///
    /// # Panics
    ///
    /// When the host would refuse the decision (see [`check_request`]),
    /// unless [`Harness::check_decisions`] turned the checks off.
    pub fn on_request(&mut self, req: &mut Request) -> Action {
        FAKE.with(|f| {
            let mut f = f.borrow_mut();
            f.cache = CacheRecord::default();
            f.phase = Phase::Request;
        });
        let action = self.plugin.on_request(req);
        FAKE.with(|f| f.borrow_mut().phase = Phase::Outside);
        if self.check {
            host_accepts(match &action {
                Action::Next => check_request(req),
                Action::Respond(resp) => check_response(resp),
            });
        }
        action
    }

    /// Run `on_response` on `resp` for the request `req` and return the result.
    ///
    /// # Panics
    ///
    /// When the host would refuse the response (see [`check_response`]),
    /// unless [`Harness::check_decisions`] turned the checks off.
    pub fn on_response(&mut self, req: &Request, mut resp: Response) -> Response {
        let given = resp.status;
        FAKE.with(|f| f.borrow_mut().phase = Phase::Response);
        self.plugin.on_response(req, &mut resp);
        FAKE.with(|f| f.borrow_mut().phase = Phase::Outside);
        if self.check {
            // A status the plugin kept is the next hop's (a 101 included).
            host_accepts(if resp.status == given {
                check_headers(&resp.headers)
            } else {
                check_response(&resp)
            });
        }
        resp
    }

    /// Check every decision as the host does (the default), or not.
    pub fn check_decisions(&mut self, on: bool) {
        self.check = on;
    }

    /// Replace the plugin with a new value built from the same config, as a
    /// fresh per-request instance that was not pre-initialised builds it
    /// ([`crate::built_by_init`] is `false`). The key-value store is kept: it
    /// belongs to the host, not to the instance.
    pub fn fresh_instance(&mut self) -> Result<(), String> {
        self.plugin = crate::runtime::build::<P>(&self.config)?;
        Ok(())
    }

    /// The plugin value, for assertions on its own state.
    pub fn plugin(&mut self) -> &mut P {
        &mut self.plugin
    }

    /// Make [`crate::context::client_ip`] return `ip` from now on.
    pub fn set_client_ip(&mut self, ip: IpAddr) {
        FAKE.with(|f| f.borrow_mut().client_ip = Some(ip));
    }

    /// Make [`crate::context::link_name`] return `name` (default: `test`).
    pub fn set_link_name(&mut self, name: &str) {
        FAKE.with(|f| f.borrow_mut().name = Some(name.to_owned()));
    }

    /// Move the fake store's clock forward, expiring entries whose TTL passed.
    pub fn advance_clock(&mut self, by: Duration) {
        FAKE.with(|f| f.borrow_mut().now_ms += millis(by));
    }

    /// Every message the plugin logged so far, oldest first.
    pub fn logs(&self) -> Vec<(Level, String)> {
        FAKE.with(|f| f.borrow().logs.clone())
    }

    /// The value the plugin stored under `key`, if present and not expired.
    pub fn kv_get(&self, key: &str) -> Option<Vec<u8>> {
        fake::kv::get(key)
    }

    /// Answer outbound calls to `url` with `response` (a copy per call).
    ///
    /// `url` is matched against the whole request URL; a `url` ending in `*`
    /// matches every URL starting with the rest (`http://auth:8080/*`). When
    /// several registrations match, the latest wins, so a test can override
    /// an earlier answer. A URL that matches nothing fails with
    /// [`HttpError::Denied`], like an authority missing from the manifest's
    /// `grants`.
    pub fn http_respond(&mut self, url: &str, response: IncomingResponse) {
        self.http_handler(url, move |_| Ok(response.clone()));
    }

    /// Make outbound calls to `url` fail with `error` (e.g.
    /// [`HttpError::Timeout`], [`HttpError::Connect`]); `url` is matched as in
    /// [`Harness::http_respond`].
    pub fn http_fail(&mut self, url: &str, error: HttpError) {
        self.http_handler(url, move |_| Err(error.clone()));
    }

    /// Answer outbound calls to `url` (matched as in [`Harness::http_respond`])
    /// with whatever `handler` returns for the request sent. The handler may
    /// use [`crate::kv`] and [`crate::log`].
    pub fn http_handler(
        &mut self,
        url: &str,
        handler: impl FnMut(&OutgoingRequest) -> Result<IncomingResponse, HttpError> + 'static,
    ) {
        let route = Route {
            pattern: url.to_owned(),
            handler: Rc::new(RefCell::new(handler)),
        };
        FAKE.with(|f| f.borrow_mut().http_routes.push(route));
    }

    /// What the plugin asked of the cache for the current request: since the
    /// last [`Harness::on_request`], through the [`Harness::on_response`]
    /// that follows it. Refused calls are not in it (the plugin got the
    /// error).
    pub fn cache(&self) -> CacheRecord {
        FAKE.with(|f| f.borrow().cache.clone())
    }

    /// Every outbound request the plugin sent so far, oldest first, including
    /// those that failed (denied ones too).
    pub fn http_requests(&self) -> Vec<OutgoingRequest> {
        FAKE.with(|f| f.borrow().http_sent.clone())
    }
}

/// What a plugin asked of the cache for one request, as the host records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheRecord {
    /// Key parts, in call order ([`crate::cache::add_key`]).
    pub key_parts: Vec<String>,
    /// Whether the plugin called [`crate::cache::bypass`].
    pub bypass: bool,
    /// The TTL of the latest [`crate::cache::set_ttl`], in whole seconds.
    pub ttl: Option<Duration>,
    /// Distinct surrogate keys, in the order first added
    /// ([`crate::cache::add_surrogate_keys`]).
    pub surrogate_keys: Vec<String>,
}

type Handler = Rc<RefCell<dyn FnMut(&OutgoingRequest) -> Result<IncomingResponse, HttpError>>>;

/// A registered answer for outbound calls.
struct Route {
    /// A whole URL, or a prefix followed by `*`.
    pattern: String,
    handler: Handler,
}

impl Route {
    fn matches(&self, url: &str) -> bool {
        match self.pattern.strip_suffix('*') {
            Some(prefix) => url.starts_with(prefix),
            None => url == self.pattern,
        }
    }
}

#[derive(Default)]
struct FakeHost {
    config: String,
    name: Option<String>,
    client_ip: Option<IpAddr>,
    logs: Vec<(Level, String)>,
    kv: HashMap<String, Entry>,
    now_ms: u64,
    http_routes: Vec<Route>,
    http_sent: Vec<OutgoingRequest>,
    phase: Phase,
    cache: CacheRecord,
}

struct Entry {
    value: Vec<u8>,
    expires_ms: Option<u64>,
}

thread_local! {
    static FAKE: RefCell<FakeHost> = RefCell::new(FakeHost::default());
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Native stand-ins for the WIT imports, with the imports' signatures.
pub(crate) mod fake {
    use super::FAKE;

    pub(crate) mod host {
        use super::FAKE;
        use crate::Level;

        pub(crate) fn log(level: Level, message: &str) {
            FAKE.with(|f| f.borrow_mut().logs.push((level, message.to_owned())));
        }

        pub(crate) fn config() -> String {
            FAKE.with(|f| f.borrow().config.clone())
        }

        pub(crate) fn name() -> String {
            FAKE.with(|f| f.borrow().name.clone().unwrap_or_else(|| "test".into()))
        }

        pub(crate) fn client_ip() -> String {
            FAKE.with(|f| f.borrow().client_ip.map(|ip| ip.to_string()))
                .unwrap_or_default()
        }
    }

    pub(crate) mod kv {
        use super::FAKE;
        use crate::testing::Entry;

        fn live<R>(key: &str, f: impl FnOnce(Option<&mut Entry>) -> R) -> R {
            FAKE.with(|host| {
                let mut host = host.borrow_mut();
                let now = host.now_ms;
                if host
                    .kv
                    .get(key)
                    .and_then(|e| e.expires_ms)
                    .is_some_and(|t| t <= now)
                {
                    host.kv.remove(key);
                }
                f(host.kv.get_mut(key))
            })
        }

        fn expiry(ttl_ms: Option<u64>) -> Option<u64> {
            let now = FAKE.with(|f| f.borrow().now_ms);
            ttl_ms.map(|t| now.saturating_add(t))
        }

        pub(crate) fn get(key: &str) -> Option<Vec<u8>> {
            live(key, |e| e.map(|e| e.value.clone()))
        }

        /// The host's cap on live entries per namespace.
        const MAX_ENTRIES: usize = 100_000;

        /// Refuse a new key in a full namespace (expired entries swept first),
        /// as the host does.
        fn room_for(key: &str) -> Result<(), String> {
            FAKE.with(|host| {
                let mut host = host.borrow_mut();
                if host.kv.contains_key(key) || host.kv.len() < MAX_ENTRIES {
                    return Ok(());
                }
                let now = host.now_ms;
                host.kv.retain(|_, e| e.expires_ms.is_none_or(|t| t > now));
                if host.kv.len() < MAX_ENTRIES {
                    Ok(())
                } else {
                    Err(format!("store is full ({MAX_ENTRIES} entries)"))
                }
            })
        }

        pub(crate) fn set(key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<(), String> {
            room_for(key)?;
            let entry = Entry {
                value: value.to_vec(),
                expires_ms: expiry(ttl_ms),
            };
            FAKE.with(|f| f.borrow_mut().kv.insert(key.to_owned(), entry));
            Ok(())
        }

        pub(crate) fn increment(key: &str, delta: i64, ttl_ms: Option<u64>) -> Result<i64, String> {
            room_for(key)?;
            let new_key_expiry = expiry(ttl_ms);
            let (old, expires_ms) = live(key, |entry| match entry {
                None => Ok((0, new_key_expiry)),
                Some(e) => std::str::from_utf8(&e.value)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                    .map(|n| (n, e.expires_ms))
                    .ok_or_else(|| format!("value of `{key}` is not an integer")),
            })?;
            let new = old
                .checked_add(delta)
                .ok_or_else(|| format!("incrementing `{key}` overflows"))?;
            let entry = Entry {
                value: new.to_string().into_bytes(),
                expires_ms,
            };
            FAKE.with(|f| f.borrow_mut().kv.insert(key.to_owned(), entry));
            Ok(new)
        }

        pub(crate) fn delete(key: &str) -> bool {
            live(key, |e| e.is_some()) && FAKE.with(|f| f.borrow_mut().kv.remove(key).is_some())
        }
    }

    pub(crate) mod cache {
        use super::FAKE;
        pub(crate) use crate::bindings::edgechain::plugin::cache::CacheError;
        use edgechain_wire::cache::{self as rules, CacheRefusal, Call};
        use std::time::Duration;

        /// Check the phase, then record with the host's rules.
        fn record(
            call: Call,
            f: impl FnOnce(&mut crate::testing::CacheRecord) -> Result<(), CacheRefusal>,
        ) -> Result<(), CacheError> {
            FAKE.with(|host| {
                let mut host = host.borrow_mut();
                call.check_phase(host.phase)
                    .and_then(|()| f(&mut host.cache))
                    .map_err(|r| match r {
                        CacheRefusal::WrongPhase(..) => CacheError::WrongPhase,
                        other => CacheError::Invalid(other.to_string()),
                    })
            })
        }

        pub(crate) fn add_key(part: &str) -> Result<(), CacheError> {
            record(Call::AddKey, |c| {
                rules::push_key_part(&mut c.key_parts, part.to_owned())
            })
        }

        pub(crate) fn bypass() -> Result<(), CacheError> {
            record(Call::Bypass, |c| {
                c.bypass = true;
                Ok(())
            })
        }

        pub(crate) fn set_ttl(seconds: u32) -> Result<(), CacheError> {
            record(Call::SetTtl, |c| {
                rules::check_ttl(seconds)?;
                c.ttl = Some(Duration::from_secs(u64::from(seconds)));
                Ok(())
            })
        }

        pub(crate) fn add_surrogate_keys(keys: &[String]) -> Result<(), CacheError> {
            record(Call::AddSurrogateKeys, |c| {
                rules::add_surrogate_keys(&mut c.surrogate_keys, keys.to_vec())
            })
        }
    }

    pub(crate) mod http {
        use super::FAKE;
        pub(crate) use crate::bindings::edgechain::plugin::http::{
            Error, IncomingResponse, OutgoingRequest,
        };
        use crate::http::{Error as HttpError, OutgoingRequest as Sent, authority_of};

        /// Like the host: check the URL and the grant, then the request, then
        /// answer from the test's registrations.
        pub(crate) fn send(req: &OutgoingRequest) -> Result<IncomingResponse, Error> {
            let sent = Sent::from_raw(req);
            let handler = FAKE.with(|f| {
                let mut f = f.borrow_mut();
                f.http_sent.push(sent.clone());
                f.http_routes
                    .iter()
                    .rev()
                    .find(|r| r.matches(&sent.url))
                    .map(|r| r.handler.clone())
            });
            let Some(authority) = authority_of(&sent.url) else {
                return Err(Error::Denied(format!(
                    "`{}` is not an absolute http:// URL",
                    sent.url
                )));
            };
            let Some(handler) = handler else {
                return Err(Error::Denied(format!(
                    "`{authority}` is not granted to this link (the test harness has no \
                     answer registered for `{}`)",
                    sent.url
                )));
            };
            check(&sent).map_err(HttpError::into_raw)?;
            // Not holding `FAKE`: the handler may use kv or log.
            let answer = (handler.borrow_mut())(&sent);
            answer.map(|r| r.into_raw()).map_err(HttpError::into_raw)
        }

        fn check(req: &Sent) -> Result<(), HttpError> {
            if !is_token(&req.method) {
                return Err(HttpError::Invalid(format!(
                    "method `{}` is not an HTTP token",
                    req.method
                )));
            }
            for (name, value) in req.headers.iter() {
                if !is_token(name) {
                    return Err(HttpError::Invalid(format!(
                        "header name `{name}` is not an HTTP token"
                    )));
                }
                if value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
                    return Err(HttpError::Invalid(format!(
                        "header `{name}` has a CR, LF or NUL in its value"
                    )));
                }
            }
            Ok(())
        }

        fn is_token(s: &str) -> bool {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{context, kv, log};

    struct Counter {
        seen: u32,
    }

    impl Plugin for Counter {
        type Config = ();
        fn new(_: ()) -> Result<Self, String> {
            Ok(Counter { seen: 0 })
        }
        fn on_request(&mut self, req: &mut Request) -> Action {
            self.seen += 1;
            let ip = context::client_ip()
                .map(|ip| ip.to_string())
                .unwrap_or_default();
            let n = kv::increment(&ip, 1, Some(Duration::from_secs(10))).unwrap_or(-1);
            log::info(&format!("{} #{n}", context::link_name()));
            req.set_header("x-count", n.to_string());
            Action::Next
        }
    }

    #[test]
    fn kv_log_and_context_are_backed_by_the_fake_host() {
        let mut h = Harness::<Counter>::new("null").expect("builds");
        h.set_client_ip("192.0.2.7".parse().expect("ip"));
        h.set_link_name("count");
        for expected in ["1", "2"] {
            let mut req = Request::get("/");
            assert_eq!(h.on_request(&mut req), Action::Next);
            assert_eq!(req.header("x-count"), Some(expected));
        }
        assert_eq!(h.kv_get("192.0.2.7").as_deref(), Some(&b"2"[..]));
        assert_eq!(
            h.logs().last(),
            Some(&(Level::Info, "count #2".to_string()))
        );
        h.fresh_instance().expect("rebuilds");
        assert_eq!(h.plugin().seen, 0, "a fresh instance starts over");
        h.advance_clock(Duration::from_secs(10));
        assert_eq!(h.kv_get("192.0.2.7"), None, "ttl expired");
    }

    #[test]
    fn increment_keeps_expiry_and_rejects_non_integers() {
        let _h = Harness::<Counter>::new("null").expect("builds");
        assert_eq!(fake::kv::set("k", b"x", None), Ok(()));
        assert!(fake::kv::increment("k", 1, None).is_err());
        assert_eq!(fake::kv::increment("n", 5, Some(100)), Ok(5));
        assert_eq!(
            fake::kv::increment("n", i64::MAX, None).map_err(|_| ()),
            Err(())
        );
        assert!(fake::kv::delete("n"));
        assert!(!fake::kv::delete("n"));
    }

    struct Caller;
    impl Plugin for Caller {
        type Config = ();
        fn new(_: ()) -> Result<Self, String> {
            Ok(Caller)
        }
        fn on_request(&mut self, req: &mut Request) -> Action {
            let url = format!("http://svc.internal:8080{}", req.path_with_query());
            match crate::http::OutgoingRequest::new(&req.method, &url)
                .with_header("x-from", "caller")
                .with_timeout(Duration::from_millis(20))
                .send()
            {
                Ok(r) => Action::Respond(Response::new(r.status).with_body(r.body)),
                Err(e) => Action::Respond(Response::text(502, e.to_string())),
            }
        }
    }

    fn answer(h: &mut Harness<Caller>, method: &str, target: &str) -> (u16, String) {
        match h.on_request(&mut Request::new(method, target)) {
            Action::Respond(r) => (
                r.status,
                String::from_utf8_lossy(r.body.as_deref().unwrap_or_default()).into_owned(),
            ),
            Action::Next => (0, String::new()),
        }
    }

    #[test]
    fn http_calls_are_answered_from_registrations_and_recorded() {
        let mut h = Harness::<Caller>::new("null").expect("builds");
        h.http_respond(
            "http://svc.internal:8080/a",
            IncomingResponse::new(200).with_body("from a"),
        );
        h.http_fail("http://svc.internal:8080/slow", HttpError::Timeout);
        assert_eq!(answer(&mut h, "GET", "/a"), (200, "from a".into()));
        assert_eq!(
            answer(&mut h, "GET", "/slow"),
            (502, "http call timed out".into())
        );
        let sent = h.http_requests();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].url, "http://svc.internal:8080/a");
        assert_eq!(sent[0].header("x-from"), Some("caller"));
        assert_eq!(sent[0].timeout, Some(Duration::from_millis(20)));
        assert_eq!(sent[0].authority(), Some("svc.internal:8080"));
    }

    #[test]
    fn the_latest_matching_registration_wins_and_star_is_a_prefix() {
        let mut h = Harness::<Caller>::new("null").expect("builds");
        h.http_respond(
            "http://svc.internal:8080/*",
            IncomingResponse::new(404).with_body("any"),
        );
        assert_eq!(answer(&mut h, "GET", "/x?y=1"), (404, "any".into()));
        h.http_respond("http://svc.internal:8080/x", IncomingResponse::new(204));
        assert_eq!(answer(&mut h, "GET", "/x").0, 204);
        assert_eq!(answer(&mut h, "GET", "/x?y=1").0, 404, "exact means exact");
    }

    #[test]
    fn an_unregistered_url_is_denied_like_an_ungranted_authority() {
        let mut h = Harness::<Caller>::new("null").expect("builds");
        let (status, body) = answer(&mut h, "GET", "/a");
        assert_eq!(status, 502);
        assert!(
            body.starts_with("http call denied: `svc.internal:8080` is not granted"),
            "{body}"
        );
        assert_eq!(h.http_requests().len(), 1, "denied calls are recorded too");
        let err = crate::http::get("https://svc.internal/").expect_err("not http://");
        assert!(matches!(err, HttpError::Denied(ref m) if m.contains("absolute http://")));
    }

    #[test]
    fn invalid_requests_are_refused_before_the_handler() {
        let mut h = Harness::<Caller>::new("null").expect("builds");
        h.http_respond("http://svc.internal:8080/*", IncomingResponse::new(200));
        assert_eq!(answer(&mut h, "GET", "/ok").0, 200);
        let (status, body) = answer(&mut h, "BAD METHOD", "/a");
        assert_eq!(status, 502);
        assert!(body.starts_with("invalid http request: method"), "{body}");
        let err = crate::http::OutgoingRequest::new("GET", "http://svc.internal:8080/")
            .with_header("x-bad", "a\r\nb")
            .send()
            .expect_err("CRLF");
        assert_eq!(err.kind(), "invalid");
    }

    #[test]
    fn a_handler_sees_the_request_and_may_use_the_host() {
        let mut h = Harness::<Caller>::new("null").expect("builds");
        h.http_handler("http://svc.internal:8080/*", |req| {
            let n = kv::increment("calls", 1, None).unwrap_or(-1);
            log::debug("fake service called");
            Ok(IncomingResponse::new(200).with_body(format!("{} #{n}", req.method)))
        });
        assert_eq!(answer(&mut h, "POST", "/p"), (200, "POST #1".into()));
        assert_eq!(answer(&mut h, "PUT", "/p"), (200, "PUT #2".into()));
        assert_eq!(h.logs().len(), 2);
    }

    #[test]
    fn a_rejected_config_gives_the_operator_message() {
        struct Strict;
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Cfg {
            #[allow(dead_code)]
            limit: u32,
        }
        impl Plugin for Strict {
            type Config = Cfg;
            fn new(_: Cfg) -> Result<Self, String> {
                Ok(Strict)
            }
        }
        let err = Harness::<Strict>::new(r#"{"limt": 1}"#)
            .err()
            .unwrap_or_default();
        assert!(err.starts_with("invalid config:"), "{err}");
    }

    /// Asks the cache what its config says, in both hooks, and reports each
    /// answer in a header.
    struct Cacher(Vec<String>);

    impl Cacher {
        fn ask(&self, hook: &str) -> String {
            use crate::cache;
            let mut answers = Vec::new();
            for step in &self.0 {
                let (h, what) = step.split_once(':').unwrap_or(("", step));
                if h != hook {
                    continue;
                }
                let result = match what.split_once('=') {
                    Some(("key", part)) => cache::add_key(part),
                    Some(("ttl", s)) => cache::set_ttl(Duration::from_secs(s.parse().unwrap_or(0))),
                    Some(("tags", tags)) => cache::add_surrogate_keys(tags.split(' ')),
                    _ => cache::bypass(),
                };
                answers.push(result.map_or_else(|e| e.kind().to_owned(), |()| "ok".into()));
            }
            answers.join(",")
        }
    }

    impl Plugin for Cacher {
        type Config = Vec<String>;
        fn new(steps: Vec<String>) -> Result<Self, String> {
            let me = Cacher(steps);
            let answer = me.ask("new");
            if !answer.is_empty() && answer != "wrong-phase" {
                return Err(format!("in new: {answer}"));
            }
            Ok(me)
        }
        fn needs(&self) -> Needs {
            Needs::RESPONSE_PHASE
        }
        fn on_request(&mut self, req: &mut Request) -> Action {
            let answers = self.ask("req");
            req.set_header("x-cache-answers", answers);
            Action::Next
        }
        fn on_response(&mut self, _req: &Request, resp: &mut Response) {
            let answers = self.ask("resp");
            resp.set_header("x-cache-answers", answers);
        }
    }

    #[test]
    fn cache_calls_are_recorded_per_request_with_the_hosts_rules() {
        let config = serde_json::json!([
            "new:bypass",
            "req:key=tenant-a",
            "req:key=",
            "req:key=bad\nline",
            "req:bypass",
            "req:ttl=60",
            "req:tags=a b a",
            "resp:key=late",
            "resp:bypass",
            "resp:ttl=30",
            "resp:ttl=99999999",
            "resp:tags=b c",
            "resp:tags=d e,f",
        ])
        .to_string();
        let mut h = Harness::<Cacher>::new(&config).expect("a call in new is refused, not fatal");
        let mut req = Request::get("/");
        h.on_request(&mut req);
        assert_eq!(
            req.header("x-cache-answers"),
            Some("ok,ok,invalid,ok,ok,ok")
        );
        let resp = h.on_response(&req, Response::new(200));
        assert_eq!(
            resp.header("x-cache-answers"),
            Some("wrong-phase,wrong-phase,ok,invalid,ok,invalid")
        );
        assert_eq!(
            h.cache(),
            CacheRecord {
                key_parts: vec!["tenant-a".into(), String::new()],
                bypass: true,
                ttl: Some(Duration::from_secs(30)),
                surrogate_keys: vec!["a".into(), "b".into(), "c".into()],
            }
        );
        // The next request starts a new record.
        let mut h = Harness::<Cacher>::new(r#"["resp:ttl=5"]"#).expect("builds");
        h.on_request(&mut Request::get("/"));
        assert_eq!(h.cache(), CacheRecord::default());
        h.on_response(&Request::get("/"), Response::new(200));
        assert_eq!(h.cache().ttl, Some(Duration::from_secs(5)));
        h.on_request(&mut Request::get("/"));
        assert_eq!(h.cache(), CacheRecord::default(), "a new request");
    }

    #[test]
    fn cache_limits_count_per_request() {
        let steps: Vec<String> = (0..17).map(|i| format!("req:key=p{i}")).collect();
        let mut h =
            Harness::<Cacher>::new(&serde_json::to_string(&steps).expect("json")).expect("builds");
        for _ in 0..2 {
            let mut req = Request::get("/");
            h.on_request(&mut req);
            let answers = req.header("x-cache-answers").unwrap_or_default().to_owned();
            assert!(answers.ends_with("ok,invalid"), "{answers}");
            assert_eq!(h.cache().key_parts.len(), 16);
        }
    }

    /// Makes each kind of decision the host refuses, named by its config.
    struct Bad(String);

    impl Plugin for Bad {
        type Config = String;
        fn new(what: String) -> Result<Self, String> {
            Ok(Bad(what))
        }
        fn on_request(&mut self, req: &mut Request) -> Action {
            match self.0.as_str() {
                "managed" => req.set_header("Content-Length", "3"),
                "name" => req.set_header("bad name", "x"),
                "value" => req.set_header("x-a", "a\r\nset-cookie: x=1"),
                "method" => req.method = "GET /".into(),
                "connect" => req.method = "CONNECT".into(),
                "path" => req.set_path_with_query("/../etc/passwd"),
                "authority" => req.authority = "user@evil.example".into(),
                "status" => return Action::Respond(Response::new(101)),
                "answer" => {
                    let mut r = Response::new(403);
                    r.headers.set("transfer-encoding", "chunked");
                    return Action::Respond(r);
                }
                _ => {}
            }
            Action::Next
        }
        fn on_response(&mut self, _req: &Request, resp: &mut Response) {
            match self.0.as_str() {
                "upgrade" => resp.headers.set("upgrade", "h2c"),
                "tag" => resp.headers.set("x-tag", "1"),
                _ => {}
            }
        }
    }

    #[test]
    fn decisions_the_host_would_refuse_panic_the_test() {
        let cases = [
            ("managed", "header `content-length` is managed by the host"),
            ("name", "invalid header name `bad name`"),
            ("value", "invalid value for header `x-a`"),
            ("method", "invalid method `GET /`"),
            ("connect", "method `CONNECT` is never forwarded"),
            ("path", "`..` above the root"),
            ("authority", "invalid authority `user@evil.example`"),
            ("status", "status 101 is not in 200..=599"),
            ("answer", "header `transfer-encoding` is managed"),
        ];
        for (what, message) in cases {
            let config = format!("{what:?}");
            let refused = std::panic::catch_unwind(|| {
                let mut h = Harness::<Bad>::new(&config).expect("builds");
                h.on_request(&mut Request::get("/"));
            });
            let why = refused
                .err()
                .and_then(|p| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| panic!("{what}: the harness accepted it"));
            assert!(why.contains(message), "{what}: {why}");
            let mut h = Harness::<Bad>::new(&config).expect("builds");
            h.check_decisions(false);
            h.on_request(&mut Request::get("/"));
        }
        let mut h = Harness::<Bad>::new("\"upgrade\"").expect("builds");
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            h.on_response(&Request::get("/"), Response::new(200))
        }));
        assert!(refused.is_err(), "a response rewrite is checked too");
        // The next hop's 101 (a WebSocket switch) is not the plugin's status.
        let mut h = Harness::<Bad>::new("\"tag\"").expect("builds");
        let kept = h.on_response(&Request::get("/"), Response::new(101));
        assert_eq!(kept.status, 101);
        assert_eq!(
            check_request(&Request::get("/%61dmin//x?q=1").with_authority("[::1]:8080")),
            Ok(())
        );
    }

    /// The harness says a request reaches a scoped link exactly when the
    /// host would run it (`wire/vectors.json`, shared with the host and the
    /// JavaScript and Python harnesses).
    #[test]
    fn scopes_reach_as_the_vectors_say() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../../wire/vectors.json")).expect("vectors.json");
        let cases = v["scope"]["matches"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!cases.is_empty());
        for case in cases {
            let scope = Scope::from_entry(&case["rule"].to_string()).expect("a good rule");
            for r in case["requests"].as_array().cloned().unwrap_or_default() {
                let text = |k: &str| r[k].as_str().expect("text").to_owned();
                let mut req = Request::new(&text("method"), &text("target"))
                    .with_authority(&text("authority"));
                for f in r["headers"].as_array().cloned().unwrap_or_default() {
                    req.append_header(f[0].as_str().expect("name"), f[1].as_str().expect("value"));
                }
                assert_eq!(
                    Some(scope.reaches(&req)),
                    r["runs"].as_bool(),
                    "{} on {r}",
                    case["rule"]
                );
            }
        }
        for case in v["scope"]["refused"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let err = Scope::from_entry(&case["rule"].to_string()).expect_err("refused");
            let at = case["at"].as_str().expect("at");
            assert!(err.starts_with(&format!("{at}: ")), "{err} names {at}");
        }
        struct Any;
        impl Plugin for Any {
            type Config = ();
            fn new(_: ()) -> Result<Self, String> {
                Ok(Any)
            }
        }
        let mut h = Harness::<Any>::new("null").expect("builds");
        assert!(
            h.reaches(&Request::get("/anything")),
            "no scope: every request"
        );
        h.set_scope(r#"{"name":"a","module":"a.wasm","when":{"path":{"prefix":"/admin"}}}"#)
            .expect("scope");
        assert!(h.reaches(&Request::get("/%61dmin/x")));
        assert!(!h.reaches(&Request::get("/adminx")));
        assert!(
            h.set_scope(r#"{"when":{"path":{"glob":"/a//b"}}}"#)
                .is_err()
        );
    }
}
