//! `cors`: answer CORS preflight requests at the edge and add the CORS headers
//! to responses for allowed origins.
//!
//! Config:
//! ```json
//! { "allow_origins": ["https://app.example"], "allow_methods": ["GET", "POST"],
//!   "allow_headers": ["content-type", "authorization"], "expose_headers": ["x-request-id"],
//!   "allow_credentials": false, "max_age_secs": 600 }
//! ```
//! `"*"` in `allow_origins` allows any origin (not together with credentials).
//! Requests from other origins pass through without CORS headers, so browsers
//! block them; preflights from them get 403. To apply CORS to an API only,
//! scope the link in the manifest:
//! `"when": {"path": {"prefix": "/api"}, "header": {"origin": true}}`.

use edgechain_sdk::{Action, Needs, Plugin, Request, Response, export_plugin};
use serde::Deserialize;

/// The plugin's configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Allowed `Origin` values, or `"*"`.
    pub allow_origins: Vec<String>,
    /// Methods allowed in preflights.
    #[serde(default = "default_methods")]
    pub allow_methods: Vec<String>,
    /// Request headers allowed in preflights.
    #[serde(default)]
    pub allow_headers: Vec<String>,
    /// Response headers scripts may read.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// Send `Access-Control-Allow-Credentials: true`.
    #[serde(default)]
    pub allow_credentials: bool,
    /// How long browsers may cache a preflight.
    #[serde(default)]
    pub max_age_secs: Option<u64>,
}

fn default_methods() -> Vec<String> {
    ["GET", "HEAD", "POST"].map(String::from).to_vec()
}

/// Handles CORS at the edge.
pub struct Cors {
    config: Config,
    any: bool,
    /// The allowed origin of the current request, kept for the response phase.
    origin: Option<String>,
}

impl Cors {
    fn allowed(&self, origin: &str) -> bool {
        self.any || self.config.allow_origins.iter().any(|o| o == origin)
    }

    fn allow_origin_value(&self, origin: &str) -> String {
        if self.any && !self.config.allow_credentials {
            "*".into()
        } else {
            origin.into()
        }
    }
}

impl Plugin for Cors {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        let any = config.allow_origins.iter().any(|o| o == "*");
        if any && config.allow_credentials {
            return Err("allow_origins \"*\" cannot be combined with allow_credentials".into());
        }
        if config.allow_origins.is_empty() {
            return Err("allow_origins must name at least one origin".into());
        }
        // An origin is `scheme://host[:port]`: with a path (even `/`) it
        // never equals a browser's `Origin`.
        if let Some(bad) = config.allow_origins.iter().find(|o| {
            *o != "*"
                && !o.split_once("://").is_some_and(|(scheme, rest)| {
                    !scheme.is_empty() && !rest.is_empty() && !rest.contains('/')
                })
        }) {
            return Err(format!(
                "allow_origins: `{bad}` is not an origin (scheme://host[:port], no path)"
            ));
        }
        // Each list becomes a header value: refuse at load what the host
        // would refuse on every request.
        for (field, list) in [
            ("allow_origins", &config.allow_origins),
            ("allow_methods", &config.allow_methods),
            ("allow_headers", &config.allow_headers),
            ("expose_headers", &config.expose_headers),
        ] {
            for item in list {
                edgechain_sdk::check_header("access-control-allow-origin", item)
                    .map_err(|e| format!("{field}: `{item}`: {e}"))?;
            }
        }
        Ok(Cors {
            config,
            any,
            origin: None,
        })
    }

    fn needs(&self) -> Needs {
        Needs::RESPONSE_PHASE
    }

    fn on_request(&mut self, req: &mut Request) -> Action {
        self.origin = None;
        let Some(origin) = req.header("origin").map(str::to_owned) else {
            return Action::Next;
        };
        let preflight =
            req.method == "OPTIONS" && req.header("access-control-request-method").is_some();
        if !self.allowed(&origin) {
            return if preflight {
                Action::Respond(Response::text(403, "origin not allowed\n"))
            } else {
                Action::Next
            };
        }
        if preflight {
            let c = &self.config;
            let mut resp = Response::new(204)
                .with_header(
                    "access-control-allow-origin",
                    self.allow_origin_value(&origin),
                )
                .with_header("access-control-allow-methods", c.allow_methods.join(", "))
                .with_header("vary", "origin");
            if !c.allow_headers.is_empty() {
                resp.set_header("access-control-allow-headers", c.allow_headers.join(", "));
            }
            if c.allow_credentials {
                resp.set_header("access-control-allow-credentials", "true");
            }
            if let Some(age) = c.max_age_secs {
                resp.set_header("access-control-max-age", age.to_string());
            }
            return Action::Respond(resp);
        }
        self.origin = Some(origin);
        Action::Next
    }

    fn on_response(&mut self, _req: &Request, resp: &mut Response) {
        let Some(origin) = self.origin.take() else {
            // The answer still depends on `Origin` (an allowed one would
            // have got the headers): say so, or a shared cache may hand this
            // copy to an allowed origin.
            if !self.any || self.config.allow_credentials {
                resp.append_header("vary", "origin");
            }
            return;
        };
        resp.set_header(
            "access-control-allow-origin",
            self.allow_origin_value(&origin),
        );
        resp.append_header("vary", "origin");
        if self.config.allow_credentials {
            resp.set_header("access-control-allow-credentials", "true");
        }
        if !self.config.expose_headers.is_empty() {
            resp.set_header(
                "access-control-expose-headers",
                self.config.expose_headers.join(", "),
            );
        }
    }
}

export_plugin!(Cors);

#[cfg(test)]
mod tests {
    use super::*;
    use edgechain_sdk::testing::Harness;

    const CONFIG: &str = r#"{"allow_origins": ["https://app.example"]}"#;

    fn vary_after(h: &mut Harness<Cors>, origin: Option<&str>) -> Option<String> {
        let mut req = Request::get("/");
        if let Some(o) = origin {
            req.set_header("origin", o);
        }
        assert_eq!(h.on_request(&mut req), Action::Next);
        let resp = h.on_response(&req, Response::new(200));
        resp.header("vary").map(str::to_owned)
    }

    #[test]
    fn every_answer_says_it_varies_by_origin() {
        let mut h = Harness::<Cors>::new(CONFIG).expect("builds");
        for origin in [
            Some("https://app.example"),
            Some("https://evil.example"),
            None,
        ] {
            assert_eq!(
                vary_after(&mut h, origin).as_deref(),
                Some("origin"),
                "{origin:?}"
            );
        }
        let mut any = Harness::<Cors>::new(r#"{"allow_origins": ["*"]}"#).expect("builds");
        assert_eq!(vary_after(&mut any, None), None, "`*` does not vary");
    }

    #[test]
    fn an_origin_with_a_path_is_refused() {
        for bad in ["https://a.example/", "a.example", "https://", "https://a/x"] {
            let config = format!(r#"{{"allow_origins": ["{bad}"]}}"#);
            assert!(Harness::<Cors>::new(&config).is_err(), "{bad}");
        }
        assert!(Harness::<Cors>::new(r#"{"allow_origins": ["http://a.example:8080"]}"#).is_ok());
    }
}
