//! Test plugin `body-rewrite`: reads both bodies. Upper-cases the request body
//! and reports its length in `x-request-body-bytes`; reports the response body
//! length in `x-response-body-bytes` and appends a trailer line to it. A
//! request body containing `reject` is answered 422 at the edge.
//!
//! Config: none.

use edgechain_sdk::{Action, Needs, Plugin, Request, Response, export_plugin};

/// Reads and rewrites bodies.
pub struct BodyRewrite;

impl Plugin for BodyRewrite {
    type Config = serde::de::IgnoredAny;

    fn new(_config: Self::Config) -> Result<Self, String> {
        Ok(BodyRewrite)
    }

    fn needs(&self) -> Needs {
        Needs::REQUEST_BODY | Needs::RESPONSE_BODY | Needs::RESPONSE_PHASE
    }

    fn on_request(&mut self, req: &mut Request) -> Action {
        let body = req.body.take().unwrap_or_default();
        if body.windows(6).any(|w| w == b"reject") {
            return Action::Respond(Response::text(422, "rejected by body-rewrite\n"));
        }
        req.set_header("x-request-body-bytes", body.len().to_string());
        req.body = Some(body.to_ascii_uppercase());
        Action::Next
    }

    fn on_response(&mut self, _req: &Request, resp: &mut Response) {
        let mut body = resp.body.take().unwrap_or_default();
        resp.set_header("x-response-body-bytes", body.len().to_string());
        body.extend_from_slice(b"\n-- rewritten at the edge\n");
        resp.body = Some(body);
    }
}

export_plugin!(BodyRewrite);
