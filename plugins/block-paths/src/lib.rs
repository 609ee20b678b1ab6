//! `block-paths`: answer requests whose path starts with a configured prefix at
//! the edge; everything else goes on untouched.
//!
//! Config:
//! ```json
//! { "prefixes": ["/admin", "/.git"], "status": 403, "body": "forbidden\n" }
//! ```
//! `status` defaults to 403 and must be 400..=599; `body` defaults to
//! `"blocked\n"`. A prefix must start with `/`. Matching is on the path only
//! (the query string is ignored) and case-sensitive, on the normalised path:
//! `/%61dmin`, `//admin` and `/x/../admin` are all `/admin`. Prefixes are
//! normalised the same way when the plugin is built, so `"/%61dmin"` blocks
//! `/admin` and `"/café"` blocks `/caf%C3%A9`.

use edgechain_sdk::{Action, Plugin, Request, Response, export_plugin};
use serde::Deserialize;

/// The plugin's configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Path prefixes to block.
    pub prefixes: Vec<String>,
    /// Status of the answer.
    #[serde(default = "default_status")]
    pub status: u16,
    /// Body of the answer.
    #[serde(default = "default_body")]
    pub body: String,
}

fn default_status() -> u16 {
    403
}

fn default_body() -> String {
    "blocked\n".to_owned()
}

/// Blocks configured path prefixes.
pub struct BlockPaths {
    config: Config,
}

impl Plugin for BlockPaths {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if !(400..=599).contains(&config.status) {
            return Err(format!("status {} is not in 400..=599", config.status));
        }
        if let Some(bad) = config.prefixes.iter().find(|p| !p.starts_with('/')) {
            return Err(format!("prefix `{bad}` must start with `/`"));
        }
        // Requests are matched on their normalised path: so are the prefixes
        // (`/%61dmin` is `/admin`, `/café` is `/caf%C3%A9`).
        let prefixes = config
            .prefixes
            .iter()
            .map(|p| edgechain_sdk::normalize_path(p).map_err(|e| format!("prefix {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BlockPaths {
            config: Config { prefixes, ..config },
        })
    }

    fn on_request(&mut self, req: &mut Request) -> Action {
        let path = req.path();
        if self
            .config
            .prefixes
            .iter()
            .any(|p| path.starts_with(p.as_str()))
        {
            Action::Respond(Response::text(self.config.status, self.config.body.clone()))
        } else {
            Action::Next
        }
    }
}

export_plugin!(BlockPaths);

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str) -> Request {
        Request::get(path)
    }

    fn plugin() -> BlockPaths {
        let cfg = Config {
            prefixes: vec!["/admin".into()],
            status: 403,
            body: "no\n".into(),
        };
        BlockPaths::new(cfg).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn blocks_prefix_and_ignores_query() {
        let mut p = plugin();
        assert!(
            matches!(p.on_request(&mut request("/admin/x?y")), Action::Respond(r) if r.status == 403)
        );
        assert_eq!(p.on_request(&mut request("/public?/admin")), Action::Next);
        for spelling in ["/%61dmin", "//admin/x", "/public/../admin"] {
            assert!(
                matches!(p.on_request(&mut request(spelling)), Action::Respond(_)),
                "{spelling} is /admin"
            );
        }
    }

    #[test]
    fn prefixes_are_read_as_requests_are() {
        let mut p = BlockPaths::new(Config {
            prefixes: vec![
                "/café".into(),
                "/%61pi".into(),
                "//secret".into(),
                "/x/../private".into(),
                "/old page".into(),
            ],
            status: 403,
            body: String::new(),
        })
        .expect("builds");
        for path in [
            "/caf%C3%A9",
            "/café/menu",
            "/api/v1",
            "/secret",
            "/private/x",
            "/old%20page",
        ] {
            let mut req = Request::get(path);
            assert!(
                matches!(p.on_request(&mut req), Action::Respond(_)),
                "{path} ({}) should be blocked",
                req.path()
            );
        }
        assert_eq!(p.on_request(&mut Request::get("/cafe")), Action::Next);
        let above_root = Config {
            prefixes: vec!["/../x".into()],
            status: 403,
            body: String::new(),
        };
        assert!(BlockPaths::new(above_root).is_err());
    }

    #[test]
    fn rejects_bad_config() {
        let bad_status = Config {
            prefixes: vec![],
            status: 200,
            body: String::new(),
        };
        assert!(BlockPaths::new(bad_status).is_err());
        let bad_prefix = Config {
            prefixes: vec!["admin".into()],
            status: 403,
            body: String::new(),
        };
        assert!(BlockPaths::new(bad_prefix).is_err());
    }
}
