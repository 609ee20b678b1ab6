//! `rate-limit`: at most `limit` requests per client per window, counted in the
//! host's key-value store; over it, 429 with `Retry-After`.
//!
//! Config:
//! ```json
//! { "limit": 100, "window_secs": 60, "key": "ip" }
//! { "limit": 1000, "window_secs": 3600, "key": { "header": "x-api-key" }, "window": "sliding" }
//! ```
//! `"window": "fixed"` (the default): a window starts at a client's first
//! request and lasts `window_secs` (anchored per client, so clients do not all
//! reset at once); a burst of `limit` at the end of one window and `limit` at
//! the start of the next passes. `"window": "sliding"`: the count of the
//! previous clock-aligned window is weighted by how much of it still overlaps
//! the last `window_secs`, which smooths that boundary burst away (the
//! sliding-window-counter estimate); rejected requests are not counted. With a
//! header key, requests without the header are counted by client IP. Every
//! answer carries `x-ratelimit-limit` and `x-ratelimit-remaining` on the
//! request passed on. Counts live in this host process: with several replicas,
//! each enforces its own share. When the store cannot count a request (it is
//! full: 100 000 live entries, two per client in a fixed window), the request
//! is answered 503 with `Retry-After: 1` and a warning is logged, as nginx's
//! `limit_req` does when its zone is exhausted: passing it would switch the
//! limit off for everyone once an attacker fills the store with keys.

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

/// How requests are counted over time.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// A fixed window per client, starting at its first request.
    #[default]
    Fixed,
    /// A sliding window estimated from two clock-aligned counters.
    Sliding,
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
    /// Fixed or sliding window.
    #[serde(default)]
    pub window: Window,
}

fn default_key() -> Key {
    Key::Ip
}

/// Counts requests per client and window.
pub struct RateLimit {
    config: Config,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn now_secs() -> u64 {
    now_ms() / 1000
}

/// The sliding-window decision for one request: `Ok(remaining)` if it fits
/// (with `current` already counting it), else `Err(seconds until one more
/// request would fit)`. `elapsed_ms` is how far into the current window we are.
fn sliding(
    previous: u64,
    current: u64,
    elapsed_ms: u64,
    window_ms: u64,
    limit: u64,
) -> Result<u64, u64> {
    let overlap = (window_ms - elapsed_ms.min(window_ms)) as f64 / window_ms as f64;
    let estimate = previous as f64 * overlap + current as f64;
    if estimate <= limit as f64 {
        return Ok((limit as f64 - estimate).floor() as u64);
    }
    // `current` without this request, which is not counted when rejected.
    let settled = current.saturating_sub(1);
    // Fraction of a window after whose start `weight * (1 - f) + base + 1 <= limit`.
    let fits_after = |weight: u64, base: u64| -> Option<f64> {
        let room = limit.checked_sub(base + 1)? as f64;
        Some(if weight == 0 {
            0.0
        } else {
            (1.0 - room / weight as f64).max(0.0)
        })
    };
    let wait_ms = match fits_after(previous, settled) {
        // Still in this window, once enough of the previous one slid out.
        Some(f) if f * window_ms as f64 >= elapsed_ms as f64 => {
            f * window_ms as f64 - elapsed_ms as f64
        }
        Some(_) => 0.0,
        // In the next window, where this window's count becomes the previous one.
        None => {
            let f = fits_after(settled, 0).unwrap_or(1.0);
            (window_ms - elapsed_ms.min(window_ms)) as f64 + f * window_ms as f64
        }
    };
    Err(((wait_ms / 1000.0).ceil() as u64).max(1))
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
        let limit = i64::from(self.config.limit);
        let decision = match self.config.window {
            Window::Fixed => self.fixed(&client),
            Window::Sliding => self.sliding(&client),
        };
        match decision {
            // The store cannot count it (full): refuse rather than let an
            // attacker who filled it switch the limit off.
            None => {
                edgechain_sdk::log::warn(
                    "the key-value store is full: answering 503 until entries expire",
                );
                Action::Respond(
                    Response::text(503, "rate limiter at capacity\n")
                        .with_header("retry-after", "1"),
                )
            }
            Some(Ok(remaining)) => {
                req.set_header("x-ratelimit-limit", limit.to_string());
                req.set_header("x-ratelimit-remaining", remaining.to_string());
                Action::Next
            }
            Some(Err(retry)) => Action::Respond(
                Response::text(429, "too many requests\n")
                    .with_header("retry-after", retry.to_string())
                    .with_header("x-ratelimit-limit", limit.to_string())
                    .with_header("x-ratelimit-remaining", "0"),
            ),
        }
    }
}

impl RateLimit {
    /// Count a request in the client's fixed window: remaining requests, or
    /// seconds to wait. `None` if the store refused.
    fn fixed(&self, client: &str) -> Option<Result<u64, u64>> {
        let window = Duration::from_secs(self.config.window_secs);
        let count = kv::increment(&format!("n:{client}"), 1, Some(window)).ok()?;
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
            return Some(Err(retry));
        }
        Some(Ok(u64::try_from(limit - count).unwrap_or(0)))
    }

    /// Count a request against the sliding estimate over two clock-aligned
    /// windows; a rejected request is taken back out.
    fn sliding(&self, client: &str) -> Option<Result<u64, u64>> {
        let window_ms = self.config.window_secs * 1000;
        let now = now_ms();
        let bucket = now / window_ms;
        // Kept two windows: a bucket is read as the previous one for one more.
        let ttl = Some(Duration::from_millis(window_ms * 2));
        let current_key = format!("s{bucket}:{client}");
        let current = kv::increment(&current_key, 1, ttl).ok()?;
        let previous = kv::get(&format!("s{}:{client}", bucket.saturating_sub(1)))
            .and_then(|v| String::from_utf8(v).ok()?.parse::<u64>().ok())
            .unwrap_or(0);
        let current = u64::try_from(current).unwrap_or(0);
        let decision = sliding(
            previous,
            current,
            now % window_ms,
            window_ms,
            u64::from(self.config.limit),
        );
        if decision.is_err() {
            let _ = kv::increment(&current_key, -1, None);
        }
        Some(decision)
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
            window: Window::Fixed,
        };
        assert!(RateLimit::new(cfg(0, 60, Key::Ip)).is_err());
        assert!(RateLimit::new(cfg(1, 0, Key::Ip)).is_err());
        assert!(RateLimit::new(cfg(1, 60, Key::Header(String::new()))).is_err());
        assert!(RateLimit::new(cfg(1, 60, Key::Header("x-api-key".into()))).is_ok());
    }

    #[test]
    fn sliding_weights_the_previous_window_by_its_overlap() {
        // Half-way into a 60 s window: 10 of the previous window's count, 4 now.
        assert_eq!(sliding(10, 4, 30_000, 60_000, 10), Ok(1));
        assert_eq!(sliding(10, 5, 30_000, 60_000, 10), Ok(0));
        // Over: 10 * 0.5 + 6 = 11 > 10. One more fits once the previous
        // window's weight drops to 0.5 (settled 5 + 1 + 10 * w <= 10 => w <= 0.4):
        // at 36 s, 6 s from now.
        assert_eq!(sliding(10, 6, 30_000, 60_000, 10), Err(6));
        // The current window alone is full: wait for it to become the previous
        // one and slide far enough out (next window at 30 s, plus 10% of 60 s).
        assert_eq!(sliding(0, 11, 30_000, 60_000, 10), Err(36));
    }

    #[test]
    fn sliding_never_says_retry_in_zero_seconds() {
        // 1 ms left of the previous request's weight: still one whole second.
        assert_eq!(sliding(1, 1, 59_999, 60_000, 1), Err(1));
        // A full current window at limit 1 waits out the whole next window too.
        assert_eq!(sliding(3, 2, 59_999, 60_000, 1), Err(61));
    }

    #[test]
    fn fixed_window_through_the_fake_host() {
        use edgechain_sdk::testing::Harness;
        let mut h = Harness::<RateLimit>::new(r#"{"limit": 2, "window_secs": 60}"#)
            .expect("config accepted");
        h.set_client_ip("192.0.2.1".parse().expect("ip"));
        let mut statuses = Vec::new();
        for _ in 0..3 {
            let mut req = Request::get("/");
            statuses.push(match h.on_request(&mut req) {
                Action::Next => req
                    .header("x-ratelimit-remaining")
                    .unwrap_or("?")
                    .to_string(),
                Action::Respond(r) => format!(
                    "{} after {}",
                    r.status,
                    r.header("retry-after").unwrap_or("?")
                ),
            });
        }
        assert_eq!(statuses[..2], ["1", "0"]);
        assert!(statuses[2].starts_with("429 after "), "{statuses:?}");
        // Another client has its own count.
        h.set_client_ip("192.0.2.2".parse().expect("ip"));
        assert_eq!(h.on_request(&mut Request::get("/")), Action::Next);
    }

    #[test]
    fn a_full_store_refuses_new_clients_instead_of_switching_the_limit_off() {
        use edgechain_sdk::testing::Harness;
        let mut h = Harness::<RateLimit>::new(r#"{"limit": 3, "window_secs": 3600}"#)
            .expect("config accepted");
        h.set_client_ip("192.0.2.1".parse().expect("ip"));
        assert_eq!(h.on_request(&mut Request::get("/")), Action::Next);
        // An attacker's keys fill the namespace.
        let mut filled = 0;
        while edgechain_sdk::kv::set(&format!("junk{filled}"), b"1", None).is_ok() {
            filled += 1;
        }
        assert!(filled > 90_000, "{filled}");
        h.set_client_ip("192.0.2.9".parse().expect("ip"));
        match h.on_request(&mut Request::get("/")) {
            Action::Respond(r) => {
                assert_eq!(r.status, 503);
                assert_eq!(r.header("retry-after"), Some("1"));
            }
            Action::Next => panic!("a new client passed uncounted"),
        }
        // A client already counted is still limited.
        h.set_client_ip("192.0.2.1".parse().expect("ip"));
        assert_eq!(h.on_request(&mut Request::get("/")), Action::Next);
        assert_eq!(h.on_request(&mut Request::get("/")), Action::Next);
        assert!(
            matches!(h.on_request(&mut Request::get("/")), Action::Respond(r) if r.status == 429)
        );
    }

    #[test]
    fn sliding_window_rejects_without_counting_the_rejected() {
        use edgechain_sdk::testing::Harness;
        let mut h =
            Harness::<RateLimit>::new(r#"{"limit": 1, "window_secs": 3600, "window": "sliding"}"#)
                .expect("config accepted");
        h.set_client_ip("192.0.2.1".parse().expect("ip"));
        assert_eq!(h.on_request(&mut Request::get("/")), Action::Next);
        for _ in 0..3 {
            let action = h.on_request(&mut Request::get("/"));
            assert!(
                matches!(action, Action::Respond(ref r) if r.status == 429),
                "{action:?}"
            );
        }
        let counted: Vec<_> = (0..2)
            .filter_map(|back| {
                let bucket = now_ms() / 3_600_000 - back;
                h.kv_get(&format!("s{bucket}:ip:192.0.2.1"))
            })
            .collect();
        assert_eq!(
            counted,
            [b"1".to_vec()],
            "only the accepted request is counted"
        );
    }
}
