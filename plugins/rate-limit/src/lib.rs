//! `rate-limit`: at most `limit` requests per client per window, counted in the
//! host's key-value store; over it, 429 with `Retry-After`.
//!
//! Config:
//! ```json
//! { "limit": 100, "window_secs": 60, "key": "ip" }
//! { "limit": 1000, "window_secs": 3600, "key": { "header": "x-api-key" } }
//! ```
//! A window starts at a client's first request and lasts `window_secs` (a fixed
//! window anchored per client, so clients do not all reset at once). With a
//! header key, requests without the header are counted by client IP. Every
//! answer carries `x-ratelimit-limit` and `x-ratelimit-remaining` on the
//! request passed on. Counts live in this host process: with several replicas,
//! each enforces its own share.

use edgechain_sdk::{Action, Plugin, Request, Response, context, export_plugin, kv};
use serde::Deserialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What identifies a client.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Key {
    /// The TCP peer's address.
    Ip,
    /// A request header's value (falling back to the IP when absent).
    Header(String),
}

/// The plugin's configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Requests allowed per window.
    pub limit: u32,
    /// Window length.
    pub window_secs: u64,
    /// How clients are told apart.
    #[serde(default = "default_key")]
    pub key: Key,
}

fn default_key() -> Key {
    Key::Ip
}

/// Counts requests per client and window.
pub struct RateLimit {
    config: Config,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl RateLimit {
    fn client(&self, req: &Request) -> String {
        let ip = || {
            context::client_ip()
                .map(|ip| ip.to_string())
                .unwrap_or_default()
        };
        match &self.config.key {
            Key::Ip => format!("ip:{}", ip()),
            Key::Header(name) => match req.header(name) {
                Some(v) => format!("h:{v}"),
                None => format!("ip:{}", ip()),
            },
        }
    }
}

impl Plugin for RateLimit {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if config.limit == 0 {
            return Err("limit must be at least 1".into());
        }
        if !(1..=86_400 * 7).contains(&config.window_secs) {
            return Err("window_secs must be in 1..=604800".into());
        }
        if let Key::Header(h) = &config.key
            && h.is_empty()
        {
            return Err("key.header must name a header".into());
        }
        Ok(RateLimit { config })
    }

    fn on_request(&mut self, req: &mut Request) -> Action {
        let client = self.client(req);
        let window = Duration::from_secs(self.config.window_secs);
        let count = match kv::increment(&format!("n:{client}"), 1, Some(window)) {
            Ok(n) => n,
            // The store refused (full): let traffic through rather than fail.
            Err(_) => return Action::Next,
        };
        let start_key = format!("t:{client}");
        if count == 1 {
            let _ = kv::set(&start_key, now_secs().to_string().as_bytes(), Some(window));
        }
        let limit = i64::from(self.config.limit);
        if count > limit {
            let started = kv::get(&start_key)
                .and_then(|v| String::from_utf8(v).ok()?.parse::<u64>().ok())
                .unwrap_or_else(now_secs);
            let retry = (started + self.config.window_secs)
                .saturating_sub(now_secs())
                .max(1);
            return Action::Respond(
                Response::text(429, "too many requests\n")
                    .with_header("retry-after", retry.to_string())
                    .with_header("x-ratelimit-limit", limit.to_string())
                    .with_header("x-ratelimit-remaining", "0"),
            );
        }
        req.set_header("x-ratelimit-limit", limit.to_string());
        req.set_header("x-ratelimit-remaining", (limit - count).to_string());
        Action::Next
    }
}

export_plugin!(RateLimit);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_validated() {
        let cfg = |limit, window_secs, key| Config {
            limit,
            window_secs,
            key,
        };
        assert!(RateLimit::new(cfg(0, 60, Key::Ip)).is_err());
        assert!(RateLimit::new(cfg(1, 0, Key::Ip)).is_err());
        assert!(RateLimit::new(cfg(1, 60, Key::Header(String::new()))).is_err());
        assert!(RateLimit::new(cfg(1, 60, Key::Header("x-api-key".into()))).is_ok());
    }
}
