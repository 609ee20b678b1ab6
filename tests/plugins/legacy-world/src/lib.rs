//! Test plugin `legacy-world`: built against a frozen copy of the
//! `edgechain:plugin@0.3.0` WIT (`wit/plugin.wit` here, as released before
//! the `cache` import), with `wit-bindgen` directly rather than the SDK, so
//! its component is what every plugin built before 0.3.1 is: it imports
//! `host` and `kv` at 0.3.0 and exports `filter@0.3.0`. Tests load it to
//! show a newer host still runs such plugins.
//!
//! It sets `x-legacy: <link name> #<count>` on each request (the count from
//! its key-value store) and `x-legacy-world: 0.3.0` on the response.
//! Config: none.

#![allow(missing_docs)]

wit_bindgen::generate!({ path: "wit", world: "plugin" });

use edgechain::plugin::types::{Needs, Request, RequestAction, Response};
use edgechain::plugin::{host, kv};

struct Legacy;

impl exports::edgechain::plugin::filter::Guest for Legacy {
    fn init(_config: String) -> Result<Needs, String> {
        Ok(Needs::RESPONSE_PHASE)
    }

    fn on_request(mut req: Request) -> RequestAction {
        let count = kv::increment("requests", 1, None).unwrap_or(-1);
        let value = format!("{} #{count}", host::name());
        edgechain_wire::push(&mut req.headers, b"x-legacy", value.as_bytes());
        RequestAction::Next(req)
    }

    fn on_response(_req: Request, mut resp: Response) -> Response {
        edgechain_wire::push(&mut resp.headers, b"x-legacy-world", b"0.3.0");
        resp
    }
}

#[cfg(target_family = "wasm")]
export!(Legacy);
