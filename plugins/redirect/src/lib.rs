//! `redirect`: answer matching requests at the edge with a redirect, and
//! optionally upgrade plain-HTTP clients to HTTPS.
//!
//! Config:
//! ```json
//! { "https": true,
//!   "rules": [
//!     { "match": "exact",  "from": "/old",          "to": "/new",        "status": 301 },
//!     { "match": "prefix", "from": "/docs/",        "to": "/manual/" },
//!     { "match": "regex",  "from": "^/item/(\\d+)$", "to": "/items/$1",   "status": 308 }
//!   ] }
//! ```
//! Rules are tried in order on the path; the first match wins. `prefix` keeps
//! the rest of the path; `regex` expands `$1`-style groups. The query string is
//! kept. `status` is one of 301, 302, 307, 308 (default 302). With
//! `"https": true`, a request whose `X-Forwarded-Proto` is `http` is first
//! sent to the same URL on `https://` with 301.

use edgechain_sdk::{Action, Plugin, Request, Response, export_plugin};
use regex::Regex;
use serde::Deserialize;

/// How a rule matches the path.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    /// The whole path equals `from`.
    Exact,
    /// The path starts with `from`.
    Prefix,
    /// `from` is a regular expression.
    Regex,
}

/// One redirect rule as configured.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Match kind.
    #[serde(rename = "match")]
    pub kind: Match,
    /// Pattern.
    pub from: String,
    /// Target.
    pub to: String,
    /// Redirect status.
    #[serde(default = "default_status")]
    pub status: u16,
}

fn default_status() -> u16 {
    302
}

/// The plugin's configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Upgrade `X-Forwarded-Proto: http` requests to HTTPS.
    #[serde(default)]
    pub https: bool,
    /// Rules, first match wins.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

struct Rule {
    kind: Match,
    from: String,
    regex: Option<Regex>,
    to: String,
    status: u16,
}

impl Rule {
    fn target(&self, path: &str) -> Option<String> {
        match self.kind {
            Match::Exact => (path == self.from).then(|| self.to.clone()),
            Match::Prefix => path
                .strip_prefix(self.from.as_str())
                .map(|rest| format!("{}{rest}", self.to)),
            Match::Regex => {
                let re = self.regex.as_ref()?;
                re.is_match(path)
                    .then(|| re.replace(path, self.to.as_str()).into_owned())
            }
        }
    }
}

/// Redirects by rule.
pub struct Redirect {
    https: bool,
    rules: Vec<Rule>,
}

impl Plugin for Redirect {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        let rules = config
            .rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                if ![301, 302, 307, 308].contains(&r.status) {
                    return Err(format!(
                        "rules[{i}]: status {} is not 301, 302, 307 or 308",
                        r.status
                    ));
                }
                let regex = match r.kind {
                    Match::Regex => Some(
                        Regex::new(&r.from).map_err(|e| format!("rules[{i}]: bad regex: {e}"))?,
                    ),
                    _ => None,
                };
                Ok(Rule {
                    kind: r.kind,
                    from: r.from,
                    regex,
                    to: r.to,
                    status: r.status,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Redirect {
            https: config.https,
            rules,
        })
    }

    fn on_request(&mut self, req: &mut Request) -> Action {
        if self.https && req.header("x-forwarded-proto") == Some("http") {
            let location = format!("https://{}{}", req.authority, req.path_with_query());
            return Action::Respond(Response::redirect(301, &location));
        }
        let path = req.path();
        for rule in &self.rules {
            if let Some(mut location) = rule.target(path) {
                if let Some(q) = req.query() {
                    location = format!("{location}?{q}");
                }
                return Action::Respond(Response::redirect(rule.status, &location));
            }
        }
        Action::Next
    }
}

export_plugin!(Redirect);

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(rules: Vec<(Match, &str, &str, u16)>) -> Result<Redirect, String> {
        Redirect::new(Config {
            https: false,
            rules: rules
                .into_iter()
                .map(|(kind, from, to, status)| RuleConfig {
                    kind,
                    from: from.into(),
                    to: to.into(),
                    status,
                })
                .collect(),
        })
    }

    fn location(p: &mut Redirect, path: &str) -> Option<(u16, String)> {
        let mut req = Request::get(path).with_authority("a.example");
        match p.on_request(&mut req) {
            Action::Respond(r) => Some((r.status, r.header("location")?.to_owned())),
            Action::Next => None,
        }
    }

    #[test]
    fn rules_match_in_order_and_keep_the_query() {
        let mut p = plugin(vec![
            (Match::Exact, "/old", "/new", 301),
            (Match::Prefix, "/docs/", "/manual/", 302),
            (Match::Regex, r"^/item/(\d+)$", "/items/$1", 308),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(location(&mut p, "/old?x=1"), Some((301, "/new?x=1".into())));
        assert_eq!(
            location(&mut p, "/docs/a/b"),
            Some((302, "/manual/a/b".into()))
        );
        assert_eq!(
            location(&mut p, "/item/42"),
            Some((308, "/items/42".into()))
        );
        assert_eq!(location(&mut p, "/item/x"), None);
        assert_eq!(location(&mut p, "/older"), None);
    }

    #[test]
    fn bad_rules_are_rejected() {
        assert!(plugin(vec![(Match::Exact, "/a", "/b", 200)]).is_err());
        assert!(plugin(vec![(Match::Regex, "(", "/b", 301)]).is_err());
    }
}
