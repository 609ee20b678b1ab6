//! `add-headers`: set headers on requests before they go on, and on responses
//! on their way back.
//!
//! Config:
//! ```json
//! { "request": { "x-edge": "edgechain" }, "response": { "cache-control": "no-store" } }
//! ```
//! Both maps are optional. Each named header is replaced (not appended). The
//! response phase is requested only when `response` has entries.

use edgechain_sdk::{Action, Needs, Plugin, Request, Response, export_plugin};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The plugin's configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Headers set on every request.
    #[serde(default)]
    pub request: BTreeMap<String, String>,
    /// Headers set on every response.
    #[serde(default)]
    pub response: BTreeMap<String, String>,
}

/// Sets configured headers both ways.
pub struct AddHeaders {
    request: Vec<(String, String)>,
    response: Vec<(String, String)>,
}

fn checked(map: BTreeMap<String, String>, which: &str) -> Result<Vec<(String, String)>, String> {
    map.into_iter()
        .map(|(name, value)| {
            // Refused at load what the host would refuse on every request.
            edgechain_sdk::check_header(&name, &value).map_err(|e| format!("{which}: {e}"))?;
            Ok((name.to_ascii_lowercase(), value))
        })
        .collect()
}

impl Plugin for AddHeaders {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        Ok(AddHeaders {
            request: checked(config.request, "request")?,
            response: checked(config.response, "response")?,
        })
    }

    fn needs(&self) -> Needs {
        if self.response.is_empty() {
            Needs::empty()
        } else {
            Needs::RESPONSE_PHASE
        }
    }

    fn on_request(&mut self, req: &mut Request) -> Action {
        for (name, value) in &self.request {
            req.set_header(name, value);
        }
        Action::Next
    }

    fn on_response(&mut self, _req: &Request, resp: &mut Response) {
        for (name, value) in &self.response {
            resp.set_header(name, value);
        }
    }
}

export_plugin!(AddHeaders);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_header_names() {
        let cfg = Config {
            request: [("bad name".to_string(), "v".to_string())].into(),
            response: BTreeMap::new(),
        };
        let err = AddHeaders::new(cfg).err().unwrap_or_default();
        assert!(err.contains("bad name"), "{err}");
        // What the host would refuse on every request is refused at load.
        for (name, value) in [
            ("host", "evil"),
            ("Content-Length", "1"),
            ("x-a", "a\r\nb: c"),
        ] {
            let cfg = Config {
                request: BTreeMap::new(),
                response: [(name.to_string(), value.to_string())].into(),
            };
            assert!(AddHeaders::new(cfg).is_err(), "{name}");
        }
    }

    #[test]
    fn response_phase_only_when_needed() {
        let only_req = Config {
            request: [("x-a".to_string(), "1".to_string())].into(),
            response: BTreeMap::new(),
        };
        let p = AddHeaders::new(only_req).map_err(|e| e.to_string());
        assert_eq!(p.map(|p| p.needs()), Ok(Needs::empty()));
    }
}
