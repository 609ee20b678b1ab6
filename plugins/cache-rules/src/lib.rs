//! `cache-rules`: tell the HTTP cache in the chain what the URL and the
//! origin's fields do not say, from config: which requests bypass it, which
//! request headers split its key, how long responses under a path stay
//! fresh, and which surrogate keys tag them for purge.
//!
//! Config (every part optional):
//! ```json
//! {
//!   "bypass": { "paths": ["/account"], "cookies": ["session"] },
//!   "key_headers": ["x-device-class"],
//!   "ttl": [
//!     { "path": "/static", "seconds": 86400 },
//!     { "path": "/products", "seconds": 300, "statuses": [200] }
//!   ],
//!   "tags": [ { "path": "/products", "keys": ["products"] } ]
//! }
//! ```
//!
//! - `bypass`: a request under one of `paths` (whole segments, normalised:
//!   `/account` holds `/account/x`, not `/accounts`), or carrying a cookie
//!   named in `cookies`, neither is looked up nor stored.
//! - `key_headers`: each adds a key part, `name=value` when the request has
//!   the header (values joined with `, ` if repeated), `name` when not, so
//!   one URL is stored once per value. A value that is not UTF-8, or a part
//!   the host refuses (over 256 bytes, or with a tab), makes the request
//!   bypass the cache rather than share an entry it should not. At most 16
//!   names.
//! - `ttl`: the first rule whose `path` holds the request sets the TTL, in
//!   `on-request`; with `statuses`, only when the response has one of them,
//!   in `on-response` (so a 404 is not kept for a day). At most 365 days.
//! - `tags`: every rule whose `path` holds the request adds its `keys`
//!   (visible ASCII other than `,`; checked at load).
//!
//! The plugin asks for the response phase only when a `ttl` rule has
//! `statuses`.

use edgechain_sdk::{Action, Needs, Plugin, Request, Response, cache, export_plugin, log};
use serde::Deserialize;
use std::time::Duration;

/// The plugin's configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Requests kept away from the cache.
    #[serde(default)]
    pub bypass: Bypass,
    /// Request headers that split the cache key.
    #[serde(default)]
    pub key_headers: Vec<String>,
    /// TTL overrides by path, first match wins.
    #[serde(default)]
    pub ttl: Vec<TtlRule>,
    /// Surrogate keys by path, every match adds.
    #[serde(default)]
    pub tags: Vec<TagRule>,
}

/// Which requests bypass the cache.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bypass {
    /// Path prefixes, by whole segments.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Cookie names.
    #[serde(default)]
    pub cookies: Vec<String>,
}

/// A TTL for responses under a path.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtlRule {
    /// Path prefix, by whole segments.
    pub path: String,
    /// Freshness lifetime.
    pub seconds: u32,
    /// Only for responses with one of these statuses (set in `on-response`).
    #[serde(default)]
    pub statuses: Option<Vec<u16>>,
}

/// Surrogate keys for responses under a path.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagRule {
    /// Path prefix, by whole segments.
    pub path: String,
    /// The keys.
    pub keys: Vec<String>,
}

/// Applies the configured cache rules.
pub struct CacheRules {
    config: Config,
    /// The `ttl` rule that matched this request and waits for its status.
    pending_ttl: Option<usize>,
}

fn normalized(path: &str, what: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("{what} `{path}` must start with `/`"));
    }
    edgechain_sdk::normalize_path(path).map_err(|e| format!("{what} {e}"))
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Config {
    /// Check every part and bring paths and names to the form requests have.
    fn checked(mut self) -> Result<Config, String> {
        for p in &mut self.bypass.paths {
            *p = normalized(p, "bypass path")?;
        }
        if let Some(bad) = self.bypass.cookies.iter().find(|c| !is_token(c)) {
            return Err(format!("cookie name `{bad}` is not a token"));
        }
        if self.key_headers.len() > cache::MAX_KEY_PARTS {
            return Err(format!(
                "at most {} key_headers (the host's limit of key parts per request)",
                cache::MAX_KEY_PARTS
            ));
        }
        for h in &mut self.key_headers {
            if !is_token(h) || edgechain_sdk::is_managed_header(&h.to_ascii_lowercase()) {
                return Err(format!(
                    "key header `{h}` is not a header name a plugin sees"
                ));
            }
            h.make_ascii_lowercase();
        }
        for rule in &mut self.ttl {
            rule.path = normalized(&rule.path, "ttl path")?;
            if Duration::from_secs(rule.seconds.into()) > cache::MAX_TTL {
                return Err(format!(
                    "ttl for `{}`: {} s is over the limit of {} s",
                    rule.path,
                    rule.seconds,
                    cache::MAX_TTL.as_secs()
                ));
            }
            if let Some(bad) = rule
                .statuses
                .iter()
                .flatten()
                .find(|s| !(100..=599).contains(*s))
            {
                return Err(format!("ttl for `{}`: status {bad} is not HTTP", rule.path));
            }
        }
        for rule in &mut self.tags {
            rule.path = normalized(&rule.path, "tags path")?;
            for key in &rule.keys {
                cache::check_surrogate_key(key)
                    .map_err(|e| format!("tags for `{}`: {e}", rule.path))?;
            }
        }
        Ok(self)
    }
}

/// Whether the `cookie` headers of `req` hold a cookie named `name`.
fn has_cookie(req: &Request, name: &str) -> bool {
    let lines = req
        .headers
        .get_all("cookie")
        .filter_map(|l| std::str::from_utf8(l).ok());
    lines.into_iter().any(|line| {
        line.split(';')
            .filter_map(|pair| pair.split_once('=').map(|(n, _)| n.trim()))
            .any(|n| n == name)
    })
}

impl CacheRules {
    fn should_bypass(&self, req: &Request) -> bool {
        let path = req.path();
        self.config
            .bypass
            .paths
            .iter()
            .any(|p| edgechain_sdk::path_is_under(path, p))
            || self
                .config
                .bypass
                .cookies
                .iter()
                .any(|c| has_cookie(req, c))
    }

    /// Add a key part per configured header; `false` if the host refused one.
    fn add_key_parts(&self, req: &Request) -> bool {
        for name in &self.config.key_headers {
            let values: Result<Vec<&str>, _> =
                req.headers.get_all(name).map(std::str::from_utf8).collect();
            let Ok(values) = values else {
                // Two different byte strings must never make one key part.
                log::warn(&format!("`{name}` is not UTF-8: bypassing the cache"));
                return false;
            };
            let part = if values.is_empty() {
                name.clone()
            } else {
                format!("{name}={}", values.join(", "))
            };
            if let Err(e) = cache::add_key(&part) {
                log::warn(&format!(
                    "cache key part from `{name}` refused ({e}): bypassing"
                ));
                return false;
            }
        }
        true
    }

    fn report(result: Result<(), cache::Error>) {
        if let Err(e) = result {
            log::warn(&e.to_string());
        }
    }
}

impl Plugin for CacheRules {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        Ok(CacheRules {
            config: config.checked()?,
            pending_ttl: None,
        })
    }

    fn needs(&self) -> Needs {
        if self.config.ttl.iter().any(|r| r.statuses.is_some()) {
            Needs::RESPONSE_PHASE
        } else {
            Needs::empty()
        }
    }

    fn on_request(&mut self, req: &mut Request) -> Action {
        self.pending_ttl = None;
        if self.should_bypass(req) || !self.add_key_parts(req) {
            Self::report(cache::bypass());
            return Action::Next;
        }
        let path = req.path();
        if let Some(i) = self
            .config
            .ttl
            .iter()
            .position(|r| edgechain_sdk::path_is_under(path, &r.path))
        {
            let rule = &self.config.ttl[i];
            if rule.statuses.is_some() {
                self.pending_ttl = Some(i);
            } else {
                Self::report(cache::set_ttl(Duration::from_secs(rule.seconds.into())));
            }
        }
        let tags = self
            .config
            .tags
            .iter()
            .filter(|r| edgechain_sdk::path_is_under(path, &r.path))
            .flat_map(|r| r.keys.iter().cloned());
        let tags: Vec<String> = tags.collect();
        if !tags.is_empty() {
            Self::report(cache::add_surrogate_keys(tags));
        }
        Action::Next
    }

    fn on_response(&mut self, _req: &Request, resp: &mut Response) {
        let Some(rule) = self.pending_ttl.take().and_then(|i| self.config.ttl.get(i)) else {
            return;
        };
        if rule.statuses.iter().flatten().any(|s| *s == resp.status) {
            Self::report(cache::set_ttl(Duration::from_secs(rule.seconds.into())));
        }
    }
}

export_plugin!(CacheRules);

#[cfg(test)]
mod tests {
    use super::*;
    use edgechain_sdk::testing::{CacheRecord, Harness};
    use serde_json::json;

    fn harness(config: serde_json::Value) -> Harness<CacheRules> {
        Harness::new(&config.to_string()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn example() -> Harness<CacheRules> {
        harness(json!({
            "bypass": { "paths": ["/account"], "cookies": ["session"] },
            "key_headers": ["X-Device-Class"],
            "ttl": [
                { "path": "/static", "seconds": 86400 },
                { "path": "/products", "seconds": 300, "statuses": [200, 301] },
                { "path": "/", "seconds": 60 }
            ],
            "tags": [
                { "path": "/products", "keys": ["products"] },
                { "path": "/products/42", "keys": ["product-42"] }
            ]
        }))
    }

    fn asked(h: &mut Harness<CacheRules>, req: Request, status: u16) -> CacheRecord {
        h.on_request(&mut req.clone());
        h.on_response(&req, Response::new(status));
        h.cache()
    }

    fn secs(s: u64) -> Option<Duration> {
        Some(Duration::from_secs(s))
    }

    #[test]
    fn bypass_by_path_under_every_spelling_and_by_cookie_name() {
        let mut h = example();
        for path in [
            "/account",
            "/account/orders",
            "/%61ccount/x",
            "//account",
            "/x/../account",
        ] {
            let got = asked(&mut h, Request::get(path), 200);
            assert_eq!(
                got,
                CacheRecord {
                    bypass: true,
                    ..Default::default()
                },
                "{path}: bypass only, no key, ttl or tags"
            );
        }
        assert!(
            !asked(&mut h, Request::get("/accounts"), 200).bypass,
            "whole segments"
        );
        for cookie in [
            "session=abc",
            "theme=dark; session=1",
            " session = x",
            "a=1;session=",
        ] {
            let req = Request::get("/static/app.js").with_header("cookie", cookie);
            assert!(asked(&mut h, req, 200).bypass, "{cookie}");
        }
        for cookie in ["sessionid=abc", "theme=session", "my-session=1"] {
            let req = Request::get("/static/app.js").with_header("cookie", cookie);
            assert!(!asked(&mut h, req, 200).bypass, "{cookie}");
        }
    }

    #[test]
    fn key_parts_name_the_header_and_tell_absent_from_present() {
        let mut h = example();
        let got = asked(
            &mut h,
            Request::get("/").with_header("x-device-class", "mobile"),
            200,
        );
        assert_eq!(got.key_parts, ["x-device-class=mobile"]);
        assert_eq!(
            asked(&mut h, Request::get("/"), 200).key_parts,
            ["x-device-class"]
        );
        let empty = asked(
            &mut h,
            Request::get("/").with_header("x-device-class", ""),
            200,
        );
        assert_eq!(empty.key_parts, ["x-device-class="]);
    }

    #[test]
    fn a_key_part_the_host_refuses_bypasses_instead_of_sharing_an_entry() {
        let mut h = example();
        for value in [b"a\tb".to_vec(), vec![b'x'; 300], b"caf\xe9".to_vec()] {
            let req = Request::get("/static/a").with_header("x-device-class", &value);
            let got = asked(&mut h, req, 200);
            assert!(got.bypass, "{value:?}");
            assert_eq!(got.ttl, None);
        }
        assert!(h.logs().iter().any(|(_, m)| m.contains("bypassing")));
    }

    #[test]
    fn the_first_ttl_rule_wins_and_statuses_wait_for_the_response() {
        let mut h = example();
        assert_eq!(
            asked(&mut h, Request::get("/static/a.css"), 404).ttl,
            secs(86400)
        );
        assert_eq!(
            asked(&mut h, Request::get("/products/42"), 200).ttl,
            secs(300)
        );
        assert_eq!(
            asked(&mut h, Request::get("/products/42"), 301).ttl,
            secs(300)
        );
        assert_eq!(
            asked(&mut h, Request::get("/products/42"), 404).ttl,
            None,
            "not for a 404"
        );
        assert_eq!(
            asked(&mut h, Request::get("/about"), 500).ttl,
            secs(60),
            "catch-all"
        );
        assert_eq!(h.needs(), Needs::RESPONSE_PHASE);
        let no_statuses = harness(json!({ "ttl": [{ "path": "/", "seconds": 1 }] }));
        assert_eq!(
            no_statuses.needs(),
            Needs::empty(),
            "no response phase needed"
        );
    }

    #[test]
    fn every_matching_tag_rule_adds_its_keys() {
        let mut h = example();
        let got = asked(&mut h, Request::get("/products/42?x=1"), 200);
        assert_eq!(got.surrogate_keys, ["products", "product-42"]);
        assert_eq!(
            asked(&mut h, Request::get("/products/7"), 200).surrogate_keys,
            ["products"]
        );
        assert!(
            asked(&mut h, Request::get("/static/x"), 200)
                .surrogate_keys
                .is_empty()
        );
    }

    #[test]
    fn an_empty_config_asks_nothing() {
        let mut h = harness(json!(null));
        assert_eq!(
            asked(&mut h, Request::get("/x"), 200),
            CacheRecord::default()
        );
    }

    #[test]
    fn bad_configs_are_refused_with_the_reason() {
        let too_many: Vec<String> = (0..17).map(|i| format!("x-h{i}")).collect();
        for (config, reason) in [
            (
                json!({ "bypass": { "paths": ["account"] } }),
                "must start with `/`",
            ),
            (
                json!({ "bypass": { "paths": ["/../x"] } }),
                "above the root",
            ),
            (json!({ "bypass": { "cookies": ["a b"] } }), "not a token"),
            (
                json!({ "key_headers": ["bad header"] }),
                "not a header name",
            ),
            (json!({ "key_headers": ["host"] }), "not a header name"),
            (json!({ "key_headers": too_many }), "at most 16"),
            (
                json!({ "ttl": [{ "path": "/", "seconds": 31536001 }] }),
                "over the limit",
            ),
            (
                json!({ "ttl": [{ "path": "/", "seconds": 1, "statuses": [999] }] }),
                "not HTTP",
            ),
            (
                json!({ "tags": [{ "path": "/", "keys": ["a b"] }] }),
                "visible ASCII",
            ),
            (json!({ "tags": [{ "path": "/", "keys": [""] }] }), "empty"),
            (json!({ "tagz": [] }), "unknown field"),
        ] {
            let err = Harness::<CacheRules>::new(&config.to_string())
                .err()
                .unwrap_or_else(|| panic!("{config} was accepted"));
            assert!(err.contains(reason), "{config}: {err}");
        }
    }
}
