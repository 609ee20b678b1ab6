//! `basic-auth`: require HTTP Basic credentials at the edge and pass the
//! authenticated user on to the origin in a header.
//!
//! Config:
//! ```json
//! { "realm": "staff", "users": { "alice": "s3cret" }, "user_header": "x-auth-user",
//!   "allow_prefixes": ["/public"] }
//! ```
//! Missing or wrong credentials get 401 with `WWW-Authenticate`. A `Basic`
//! `Authorization` header is removed before the request goes on (on
//! `allow_prefixes` paths too: a browser resends the edge's credentials there),
//! and any client-sent `user_header` is replaced, so the origin can trust it.
//! An `allow_prefixes` entry matches whole path segments: `/public` opens
//! `/public` and `/public/x`, not `/publicity`.
//! Passwords are compared in constant time.
//!
//! To protect only part of a site, scope the link in the manifest rather than
//! listing what is public: `"when": {"path": {"prefix": "/admin"}}` (the host
//! then never calls it elsewhere). `allow_prefixes` still works, and unlike a
//! scoped-away link it strips a `Basic` header on the paths it opens.

use base64::Engine;
use edgechain_sdk::{Action, Plugin, Request, Response, export_plugin};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The plugin's configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Shown by browsers in the login prompt.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// user → password.
    pub users: BTreeMap<String, String>,
    /// Header carrying the authenticated user to the origin.
    #[serde(default = "default_user_header")]
    pub user_header: String,
    /// Paths that need no credentials.
    #[serde(default)]
    pub allow_prefixes: Vec<String>,
}

fn default_realm() -> String {
    "edgechain".into()
}

fn default_user_header() -> String {
    "x-auth-user".into()
}

/// Checks Basic credentials.
pub struct BasicAuth {
    config: Config,
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl BasicAuth {
    fn user(&self, req: &Request) -> Option<String> {
        let value = req.header("authorization")?;
        let (scheme, encoded) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        let expected = self.config.users.get(user)?;
        constant_time_eq(password.as_bytes(), expected.as_bytes()).then(|| user.to_owned())
    }
}

impl Plugin for BasicAuth {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if config.users.is_empty() {
            return Err("users must name at least one user".into());
        }
        if config.users.keys().any(|u| u.is_empty() || u.contains(':')) {
            return Err("user names must be non-empty and contain no ':'".into());
        }
        if config.realm.contains('"') {
            return Err("realm must not contain '\"'".into());
        }
        // What the host would refuse on every request is refused at load.
        edgechain_sdk::check_header(&config.user_header, "x")
            .map_err(|e| format!("user_header: {e}"))?;
        edgechain_sdk::check_header("www-authenticate", &config.realm)
            .map_err(|e| format!("realm: {e}"))?;
        Ok(BasicAuth { config })
    }

    fn on_request(&mut self, req: &mut Request) -> Action {
        let header = self.config.user_header.clone();
        req.remove_header(&header);
        if self
            .config
            .allow_prefixes
            .iter()
            .any(|p| edgechain_sdk::path_is_under(req.path(), p))
        {
            let basic = req
                .header("authorization")
                .and_then(|v| v.get(..6))
                .is_some_and(|s| s.eq_ignore_ascii_case("basic "));
            if basic {
                req.remove_header("authorization");
            }
            return Action::Next;
        }
        match self.user(req) {
            Some(user) => {
                req.remove_header("authorization");
                req.set_header(&header, user);
                Action::Next
            }
            None => Action::Respond(
                Response::text(401, "authentication required\n").with_header(
                    "www-authenticate",
                    format!("Basic realm=\"{}\", charset=\"UTF-8\"", self.config.realm),
                ),
            ),
        }
    }
}

export_plugin!(BasicAuth);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_paths_are_whole_segments_and_never_carry_the_edges_credentials() {
        use edgechain_sdk::testing::Harness;
        let mut h = Harness::<BasicAuth>::new(
            r#"{"users": {"alice": "s3cret"}, "allow_prefixes": ["/public"]}"#,
        )
        .expect("builds");
        let basic = "Basic YWxpY2U6czNjcmV0";
        let mut public = Request::get("/public/x").with_header("authorization", basic);
        assert_eq!(h.on_request(&mut public), Action::Next);
        assert_eq!(
            public.header("authorization"),
            None,
            "Basic credentials stripped"
        );
        let mut bearer = Request::get("/public").with_header("authorization", "Bearer t");
        assert_eq!(h.on_request(&mut bearer), Action::Next);
        assert_eq!(
            bearer.header("authorization"),
            Some("Bearer t"),
            "the origin's own"
        );
        assert!(matches!(
            h.on_request(&mut Request::get("/publicity")),
            Action::Respond(r) if r.status == 401
        ));
    }

    #[test]
    fn constant_time_comparison_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
