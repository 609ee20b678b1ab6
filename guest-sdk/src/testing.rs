//! Unit-test a plugin natively, with a plain `cargo test`.
//!
//! A native build has no host to import from, so this module stands in for
//! it: [`Harness`] builds your plugin from a JSON config exactly as the host's
//! `init` does, runs its hooks, and backs [`crate::kv`], [`crate::log`] and
//! [`crate::context`] with an in-memory fake you can inspect. Each test thread
//! has its own fake host, so tests stay independent when `cargo test` runs
//! them in parallel.
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
//! This exercises your Rust code, not the wasm build: to run the component in
//! a real host, load it with `edgechain dev` or `edgechain validate`.

use crate::{Action, Level, Needs, Plugin, Request, Response};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// One plugin value plus the fake host it talks to.
pub struct Harness<P: Plugin> {
    plugin: P,
    config: String,
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
        let plugin = crate::runtime::build::<P>(config)?;
        Ok(Harness {
            plugin,
            config: config.to_owned(),
        })
    }

    /// What the plugin declares it needs, as `init` reports it.
    pub fn needs(&self) -> Needs {
        self.plugin.needs()
    }

    /// Run `on_request` on `req`.
    pub fn on_request(&mut self, req: &mut Request) -> Action {
        self.plugin.on_request(req)
    }

    /// Run `on_response` on `resp` for the request `req` and return the result.
    pub fn on_response(&mut self, req: &Request, mut resp: Response) -> Response {
        self.plugin.on_response(req, &mut resp);
        resp
    }

    /// Replace the plugin with a new value built from the same config, as a
    /// fresh per-request instance would be. The key-value store is kept: it
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
}

#[derive(Default)]
struct FakeHost {
    config: String,
    name: Option<String>,
    client_ip: Option<IpAddr>,
    logs: Vec<(Level, String)>,
    kv: HashMap<String, Entry>,
    now_ms: u64,
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

        pub(crate) fn set(key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<(), String> {
            let entry = Entry {
                value: value.to_vec(),
                expires_ms: expiry(ttl_ms),
            };
            FAKE.with(|f| f.borrow_mut().kv.insert(key.to_owned(), entry));
            Ok(())
        }

        pub(crate) fn increment(key: &str, delta: i64, ttl_ms: Option<u64>) -> Result<i64, String> {
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
}
