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
    /// This rule's pattern in [`Redirect::regex_set`].
    pattern: Option<usize>,
    to: String,
    status: u16,
}

impl Rule {
    /// The redirect target for `path`; `regex_matched` says whether this
    /// rule's regex matches (known from the set), so only a matching regex
    /// is run, for its captures.
    fn target(&self, path: &str, regex_matched: Option<bool>) -> Option<String> {
        match self.kind {
            Match::Exact => (path == self.from).then(|| self.to.clone()),
            Match::Prefix => path
                .strip_prefix(self.from.as_str())
                .map(|rest| format!("{}{rest}", self.to)),
            Match::Regex => {
                let re = self.regex.as_ref()?;
                let matched = regex_matched.unwrap_or_else(|| re.is_match(path));
                matched.then(|| re.replace(path, self.to.as_str()).into_owned())
            }
        }
    }
}

/// Largest fully built automaton for the regex rules. Beyond it, each rule's
/// regex is searched on its own.
const REGEX_SET_BYTES: usize = 32 << 20;

/// Every regex rule in one fully built DFA: which rules match a path is one
/// pass over it that reads, and never writes, memory. Built in `init`, it is
/// part of the pre-initialised snapshot, so a fresh instance per request
/// matches 200 rules as cheaply as one (a lazily built automaton would be
/// built again in every instance).
type RegexSet = regex_automata::dfa::dense::DFA<Vec<u32>>;

fn build_regex_set(patterns: &[&str]) -> Option<RegexSet> {
    use regex_automata::dfa::dense;
    if patterns.is_empty() {
        return None;
    }
    dense::Builder::new()
        .configure(
            dense::Config::new()
                .match_kind(regex_automata::MatchKind::All)
                .dfa_size_limit(Some(REGEX_SET_BYTES))
                .determinize_size_limit(Some(REGEX_SET_BYTES)),
        )
        .build_many(patterns)
        .ok()
}

/// Redirects by rule.
pub struct Redirect {
    https: bool,
    rules: Vec<Rule>,
    regex_set: Option<RegexSet>,
}

impl Redirect {
    /// Which regex patterns match `path`, if the set was built.
    fn matching(&self, path: &str) -> Option<regex_automata::PatternSet> {
        use regex_automata::dfa::Automaton;
        let set = self.regex_set.as_ref()?;
        let mut found = regex_automata::PatternSet::new(set.pattern_len());
        set.try_which_overlapping_matches(&regex_automata::Input::new(path), &mut found)
            .ok()?;
        Some(found)
    }
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
                    pattern: None,
                    to: r.to,
                    status: r.status,
                })
            })
            .collect::<Result<Vec<Rule>, String>>()?;
        let mut rules = rules;
        let patterns: Vec<&str> = rules
            .iter()
            .filter(|r| r.regex.is_some())
            .map(|r| r.from.as_str())
            .collect();
        let regex_set = build_regex_set(&patterns);
        if regex_set.is_some() {
            for (n, rule) in rules.iter_mut().filter(|r| r.regex.is_some()).enumerate() {
                rule.pattern = Some(n);
            }
        }
        Ok(Redirect {
            https: config.https,
            rules,
            regex_set,
        })
    }

    fn on_request(&mut self, req: &mut Request) -> Action {
        if self.https && req.header("x-forwarded-proto") == Some("http") {
            let location = format!("https://{}{}", req.authority, req.path_with_query());
            return Action::Respond(Response::redirect(301, &location));
        }
        let path = req.path();
        let matching = self.matching(path);
        for rule in &self.rules {
            let regex_matched = rule
                .pattern
                .zip(matching.as_ref())
                .map(|(p, set)| set.contains(regex_automata::PatternID::new_unchecked(p)));
            if let Some(mut location) = rule.target(path, regex_matched) {
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
