//! `maintenance`: while switched on, answer every request at the edge with a
//! static page (503 by default, with `Retry-After`), except allowed paths.
//! Switching it on or off is a config change, picked up by hot reload.
//!
//! Config:
//! ```json
//! { "enabled": true, "status": 503, "retry_after_secs": 600,
//!   "content_type": "text/html; charset=utf-8",
//!   "body": "<h1>Back soon</h1>", "allow_prefixes": ["/healthz"] }
//! ```
//! An `allow_prefixes` entry matches whole path segments: `/healthz` lets
//! `/healthz` and `/healthz/ready` through, not `/healthzz`. The manifest's
//! `"unless": {"path": {"prefix": "/healthz"}}` does the same for any link,
//! and the host then makes no call at all on those paths.

use edgechain_sdk::{Action, Plugin, Request, Response, export_plugin};
use serde::Deserialize;

/// The plugin's configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Whether the maintenance page is served.
    pub enabled: bool,
    /// Status of the page.
    #[serde(default = "default_status")]
    pub status: u16,
    /// `Retry-After` seconds; omitted when absent.
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    /// `Content-Type` of the page.
    #[serde(default = "default_content_type")]
    pub content_type: String,
    /// The page.
    #[serde(default = "default_body")]
    pub body: String,
    /// Paths that still reach the origin (health checks, status pages).
    #[serde(default)]
    pub allow_prefixes: Vec<String>,
}

fn default_status() -> u16 {
    503
}

fn default_content_type() -> String {
    "text/plain; charset=utf-8".into()
}

fn default_body() -> String {
    "down for maintenance\n".into()
}

/// Serves the maintenance page.
pub struct Maintenance {
    config: Config,
}

impl Plugin for Maintenance {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if !(200..=599).contains(&config.status) {
            return Err(format!("status {} is not in 200..=599", config.status));
        }
        edgechain_sdk::check_header("content-type", &config.content_type)
            .map_err(|e| format!("content_type: {e}"))?;
        Ok(Maintenance { config })
    }

    fn on_request(&mut self, req: &mut Request) -> Action {
        let c = &self.config;
        if !c.enabled
            || c.allow_prefixes
                .iter()
                .any(|p| edgechain_sdk::path_is_under(req.path(), p))
        {
            return Action::Next;
        }
        let mut page = Response::new(c.status)
            .with_header("content-type", &c.content_type)
            .with_header("cache-control", "no-store")
            .with_body(c.body.clone().into_bytes());
        if let Some(secs) = c.retry_after_secs {
            page.set_header("retry-after", secs.to_string());
        }
        Action::Respond(page)
    }
}

export_plugin!(Maintenance);

#[cfg(test)]
mod tests {
    use super::*;
    use edgechain_sdk::testing::Harness;

    #[test]
    fn allowed_paths_are_whole_segments() {
        let mut h =
            Harness::<Maintenance>::new(r#"{"enabled": true, "allow_prefixes": ["/healthz"]}"#)
                .expect("builds");
        for (path, open) in [
            ("/healthz", true),
            ("/healthz/ready", true),
            ("/healthzz", false),
            ("/", false),
        ] {
            let passed = h.on_request(&mut Request::get(path)) == Action::Next;
            assert_eq!(passed, open, "{path}");
        }
    }
}
