//! `enrich`: decorate requests with derived headers before they go on: a
//! request id when the client sent none, and the platform's geo headers
//! (`section-io-geo-*`) under a prefix the origin understands.
//!
//! Config:
//! ```json
//! { "request_id_header": "x-request-id", "geo_prefix": "x-geo-" }
//! ```
//! Both are optional (those are the defaults); `"geo_prefix": null` turns the
//! geo copy off. Headers under `geo_prefix` that the client sent are removed
//! first, so the origin can trust every one it gets. Request ids are 128
//! random bits in hex.

use edgechain_sdk::{Action, Plugin, Request, export_plugin};
use serde::Deserialize;

/// Where the platform puts its geo headers.
const GEO_SOURCE: &str = "section-io-geo-";

/// The plugin's configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Header holding the request id.
    #[serde(default = "default_id_header")]
    pub request_id_header: String,
    /// Prefix for copied geo headers; `None` disables the copy.
    #[serde(default = "default_geo_prefix")]
    pub geo_prefix: Option<String>,
}

fn default_id_header() -> String {
    "x-request-id".into()
}

fn default_geo_prefix() -> Option<String> {
    Some("x-geo-".into())
}

/// Adds derived headers.
pub struct Enrich {
    config: Config,
}

fn request_id() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl Plugin for Enrich {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if config.request_id_header.is_empty() {
            return Err("request_id_header must not be empty".into());
        }
        // What the host would refuse on every request is refused at load.
        edgechain_sdk::check_header(&config.request_id_header, "x")
            .map_err(|e| format!("request_id_header: {e}"))?;
        if let Some(prefix) = &config.geo_prefix {
            edgechain_sdk::check_header(&format!("{prefix}city"), "x")
                .map_err(|e| format!("geo_prefix: {e}"))?;
        }
        Ok(Enrich { config })
    }

    fn on_request(&mut self, req: &mut Request) -> Action {
        if !req.headers.contains(&self.config.request_id_header)
            && let Some(id) = request_id()
        {
            req.set_header(&self.config.request_id_header, id);
        }
        if let Some(prefix) = &self.config.geo_prefix {
            // The prefix is this plugin's: a client's own copies go.
            let spoofed: Vec<String> = req
                .headers
                .iter()
                .filter(|(name, _)| {
                    name.get(..prefix.len())
                        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
                })
                .map(|(name, _)| name.to_owned())
                .collect();
            for name in spoofed {
                req.remove_header(&name);
            }
            let geo: Vec<(String, Vec<u8>)> = req
                .headers
                .iter()
                .filter_map(|(name, value)| {
                    let rest = name.strip_prefix(GEO_SOURCE)?;
                    Some((format!("{prefix}{rest}"), value.to_vec()))
                })
                .collect();
            for (name, value) in geo {
                req.set_header(&name, value);
            }
        }
        Action::Next
    }
}

export_plugin!(Enrich);

#[cfg(test)]
mod tests {
    use super::*;
    use edgechain_sdk::testing::Harness;

    #[test]
    fn geo_headers_come_from_the_platform_only() {
        let mut h = Harness::<Enrich>::new("null").expect("builds");
        let mut req = Request::get("/")
            .with_header("x-geo-city", "Spoofed")
            .with_header("x-geo-country", "XX")
            .with_header("section-io-geo-country", "NZ");
        assert_eq!(h.on_request(&mut req), Action::Next);
        assert_eq!(
            req.header("x-geo-city"),
            None,
            "the client's own is dropped"
        );
        assert_eq!(
            req.header("x-geo-country"),
            Some("NZ"),
            "the platform's wins"
        );
        assert!(req.header("x-request-id").is_some_and(|id| id.len() == 32));
    }
}
