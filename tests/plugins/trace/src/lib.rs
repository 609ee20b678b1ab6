//! Test plugin `trace`: makes the host's behaviour visible in headers.
//!
//! - `x-trace` on the request and on the response gets the tag appended, so
//!   tests see which links ran and in which order;
//! - `x-served-<tag>` (response) counts the requests this instance has served
//!   (always 1 with per-request instances, growing with `reuse`);
//! - `x-kv-<tag>` (request) counts requests in the plugin's key-value store;
//! - `x-name-<tag>` and `x-ip-<tag>` (request) echo the host's answers;
//! - `x-path-<tag>` (request) is the normalised path the link was given;
//! - with `rewrite_to`, a request for `/rewrite` is passed on with that
//!   target instead;
//! - with `cache`, each step calls the `cache` import in its hook
//!   (`req:key=<part>`, `req:bypass`, `resp:ttl=<seconds>`,
//!   `resp:tags=<space-separated keys>`, ...; `init:` steps run in `init`)
//!   and `x-cache-<tag>` (request, response) lists the answers: `ok`,
//!   `wrong-phase` or `invalid`.
//!
//! Config: `{ "tag": "a", "rewrite_to": "/b", "cache": ["req:bypass"] }`
//! (`rewrite_to` and `cache` optional).

use edgechain_sdk::{
    Action, Needs, Plugin, Request, Response, cache, context, export_plugin, kv, log,
};
use serde::Deserialize;

/// The plugin's configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Appended to `x-trace`.
    pub tag: String,
    /// The target a request for `/rewrite` is passed on with.
    #[serde(default)]
    pub rewrite_to: Option<String>,
    /// Calls of the `cache` import, `<hook>:<call>[=<argument>]`.
    #[serde(default)]
    pub cache: Vec<String>,
}

/// Records what the host did in headers.
pub struct Trace {
    tag: String,
    rewrite_to: Option<String>,
    served: u32,
    /// Set on the request path, read on the response path of the same request.
    seen_request: bool,
    cache: Vec<String>,
}

/// Run the `cache` steps of `hook`, and list the answers.
fn ask_cache(steps: &[String], hook: &str) -> String {
    let mut answers = Vec::new();
    for step in steps {
        let Some(call) = step
            .strip_prefix(hook)
            .and_then(|rest| rest.strip_prefix(':'))
        else {
            continue;
        };
        let (call, arg) = call.split_once('=').unwrap_or((call, ""));
        let result = match call {
            "key" => cache::add_key(arg),
            "bypass" => cache::bypass(),
            "ttl" => cache::set_ttl(std::time::Duration::from_secs(
                arg.parse().unwrap_or(u64::MAX),
            )),
            "tags" => cache::add_surrogate_keys(arg.split(' ')),
            other => Err(cache::Error::Invalid(format!("trace: no call `{other}`"))),
        };
        answers.push(result.map_or_else(|e| e.kind(), |()| "ok"));
    }
    answers.join(",")
}

fn append(existing: Option<&str>, tag: &str) -> String {
    match existing {
        Some(prev) => format!("{prev},{tag}"),
        None => tag.to_owned(),
    }
}

impl Plugin for Trace {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        let in_init = ask_cache(&config.cache, "init");
        if !in_init
            .split(',')
            .all(|a| a.is_empty() || a == "wrong-phase")
        {
            return Err(format!("cache calls in init answered {in_init}"));
        }
        Ok(Trace {
            cache: config.cache,
            tag: config.tag,
            rewrite_to: config.rewrite_to,
            served: 0,
            seen_request: false,
        })
    }

    fn needs(&self) -> Needs {
        Needs::RESPONSE_PHASE
    }

    fn on_request(&mut self, req: &mut Request) -> Action {
        let value = append(req.header("x-trace"), &self.tag);
        req.set_header("x-trace", value);
        self.served += 1;
        self.seen_request = true;
        let count = kv::increment("requests", 1, None).unwrap_or(-1);
        req.set_header(&format!("x-kv-{}", self.tag), count.to_string());
        req.set_header(&format!("x-name-{}", self.tag), context::link_name());
        let ip = context::client_ip()
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        req.set_header(&format!("x-ip-{}", self.tag), ip);
        let path = req.path().to_owned();
        req.set_header(&format!("x-path-{}", self.tag), path);
        if !self.cache.is_empty() {
            let answers = ask_cache(&self.cache, "req");
            req.set_header(&format!("x-cache-{}", self.tag), answers);
        }
        if let Some(to) = self
            .rewrite_to
            .as_deref()
            .filter(|_| req.path() == "/rewrite")
        {
            req.set_path_with_query(to);
        }
        log::debug(&format!("request {} through {}", req.path(), self.tag));
        Action::Next
    }

    fn on_response(&mut self, _req: &Request, resp: &mut Response) {
        // Proves the instance is pinned: on-response sees on-request's state.
        let tag = if self.seen_request {
            self.tag.clone()
        } else {
            format!("{}!unpinned", self.tag)
        };
        self.seen_request = false;
        let value = append(resp.header("x-trace"), &tag);
        resp.set_header("x-trace", value);
        resp.set_header(&format!("x-served-{}", self.tag), self.served.to_string());
        if !self.cache.is_empty() {
            let answers = ask_cache(&self.cache, "resp");
            resp.set_header(&format!("x-cache-{}", self.tag), answers);
        }
    }
}

export_plugin!(Trace);
