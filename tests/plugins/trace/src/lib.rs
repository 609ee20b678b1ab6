//! Test plugin `trace`: appends its tag to `x-trace` on the request and on the
//! response, so tests can see which links ran and in which order.
//!
//! Config: `{ "tag": "a" }`.

use edgechain_sdk::{Action, Needs, Plugin, Request, Response, export_plugin};
use serde::Deserialize;

/// The plugin's configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Appended to `x-trace`.
    pub tag: String,
}

/// Records the order of calls in headers.
pub struct Trace {
    tag: String,
    /// Set on the request path, read on the response path of the same request.
    seen_request: bool,
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
        Ok(Trace {
            tag: config.tag,
            seen_request: false,
        })
    }

    fn needs(&self) -> Needs {
        Needs::RESPONSE_PHASE
    }

    fn on_request(&mut self, req: &mut Request) -> Action {
        let value = append(req.header("x-trace"), &self.tag);
        req.set_header("x-trace", value);
        self.seen_request = true;
        Action::Next
    }

    fn on_response(&mut self, _req: &Request, resp: &mut Response) {
        // Proves the instance is pinned: on-response sees on-request's state.
        let tag = if self.seen_request {
            self.tag.clone()
        } else {
            format!("{}!unpinned", self.tag)
        };
        let value = append(resp.header("x-trace"), &tag);
        resp.set_header("x-trace", value);
    }
}

export_plugin!(Trace);
