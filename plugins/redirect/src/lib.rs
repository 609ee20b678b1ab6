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
//! Rules are tried in order on the normalised path (ASCII: other bytes are
//! percent-encoded); the first match wins. `exact` and `prefix` paths are
//! normalised the same way. `prefix` keeps the rest of the path; `regex`
//! expands `$1`-style groups (a group `from` lacks is refused at load). Regex
//! syntax is the `regex` crate's over ASCII: `(?i)`, `\b`, `\d` and `.` are
//! their ASCII forms, `\p{..}` classes are refused. A rule whose target it
//! matches again (a loop) is refused. The query string is
//! kept (after `&` when the target has a query of its own). `status` is one of
//! 301, 302, 307, 308 (default 302). With `"https": true`, a request whose
//! `X-Forwarded-Proto` is `http` is first sent to the same URL on `https://`
//! with 301.

use edgechain_sdk::{Action, Plugin, Request, Response, export_plugin};
use regex_automata::nfa::thompson::{self, pikevm::PikeVM};
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
    regex: Option<RuleRegex>,
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
                if regex_matched == Some(false) {
                    return None;
                }
                self.regex.as_ref()?.replace(path, &self.to)
            }
        }
    }
}

/// Largest compiled NFA of one rule's regex (the `regex` crate's default).
const RULE_NFA_BYTES: usize = 10 << 20;

/// One rule's regex, compiled to a Thompson NFA searched by a PikeVM: about
/// 2 KB for a typical rule where a full `regex::Regex` takes about 50 KB
/// (reverse automata, one-pass tables and the like). With 200 rules that is
/// the difference between a 0.4 MB and a 10 MB snapshot, and every snapshot
/// page a request touches is reset after it. Matching which rules apply is
/// [`RegexSet`]'s job; this runs only for a rule that matched (for its
/// captures), or for every rule when there is no set.
struct RuleRegex(PikeVM);

/// The regex syntax rules are written in: the `regex` crate's, over ASCII.
/// A normalised path is ASCII (other bytes are percent-encoded), so `(?i)`,
/// `\b`, `\d` and `.` mean their ASCII forms; `\p{..}` classes are refused.
fn syntax() -> regex_automata::util::syntax::Config {
    regex_automata::util::syntax::Config::new()
        .unicode(false)
        .utf8(false)
}

impl RuleRegex {
    fn new(pattern: &str) -> Result<Self, String> {
        PikeVM::builder()
            .syntax(syntax())
            .thompson(thompson::Config::new().nfa_size_limit(Some(RULE_NFA_BYTES)))
            .build(pattern)
            .map(RuleRegex)
            .map_err(|e| match std::error::Error::source(&e) {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            })
    }

    /// The first group `to` names (`$2`, `${name}`) that the regex lacks.
    fn missing_group<'t>(&self, to: &'t str) -> Option<&'t str> {
        let groups = self.0.get_nfa().group_info();
        let pattern = regex_automata::PatternID::ZERO;
        template_groups(to)
            .into_iter()
            .find(|g| match g.parse::<usize>() {
                Ok(n) => n >= groups.group_len(pattern),
                Err(_) => groups.to_index(pattern, g).is_none(),
            })
    }

    /// `path` with its leftmost-first match replaced by `to`, `$1`/`${name}`
    /// expanded (the `regex` crate's `replace`), or `None` without a match.
    fn replace(&self, path: &str, to: &str) -> Option<String> {
        let vm = &self.0;
        let mut cache = vm.create_cache();
        let mut caps = vm.create_captures();
        vm.captures(&mut cache, path, &mut caps);
        let found = caps.get_match()?;
        let mut out = String::with_capacity(path.len() + to.len());
        out.push_str(&path[..found.start()]);
        caps.interpolate_string_into(path, to, &mut out);
        out.push_str(&path[found.end()..]);
        Some(out)
    }
}

/// The groups a replacement refers to, in the `regex` crate's syntax: `$name`
/// (the longest run of letters, digits and `_`), `${name}`; `$$` is a `$`.
fn template_groups(to: &str) -> Vec<&str> {
    let mut groups = Vec::new();
    let mut rest = to;
    while let Some(at) = rest.find('$') {
        let after = &rest[at + 1..];
        if let Some(escaped) = after.strip_prefix('$') {
            rest = escaped;
        } else if let Some((name, tail)) = after.strip_prefix('{').and_then(|b| b.split_once('}')) {
            groups.push(name);
            rest = tail;
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if end > 0 {
                groups.push(&after[..end]);
            }
            rest = &after[end..];
        }
    }
    groups
}

/// Largest fully built automaton for the regex rules. Beyond it, each rule's
/// regex is searched on its own.
const REGEX_SET_BYTES: usize = 32 << 20;

/// Every regex rule in one fully built DFA: which rules match a path is one
/// pass over it that reads, and never writes, memory. Built in `init` only,
/// it is part of the pre-initialised snapshot, so a fresh instance per
/// request matches 200 rules as cheaply as one (a lazily built automaton
/// would be built again in every instance). A fresh instance that builds its
/// own plugin serves one request: searching the rules' own NFAs costs it far
/// less than determinising them all.
///
/// Kept in sparse form: 200 rules take about 185 KB instead of the dense
/// table's 3 MB. Every page of a snapshot a request touches is walked again
/// when the host resets the instance's memory, so a small table is what
/// keeps a large rule set as cheap per request as a small one.
type RegexSet = regex_automata::dfa::sparse::DFA<Vec<u8>>;

fn build_regex_set(patterns: &[&str]) -> Option<RegexSet> {
    use regex_automata::dfa::dense;
    if patterns.is_empty() {
        return None;
    }
    dense::Builder::new()
        .syntax(syntax())
        .configure(
            dense::Config::new()
                .match_kind(regex_automata::MatchKind::All)
                .dfa_size_limit(Some(REGEX_SET_BYTES))
                .determinize_size_limit(Some(REGEX_SET_BYTES)),
        )
        .build_many(patterns)
        .ok()?
        .to_sparse()
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
                if r.to.is_empty() {
                    return Err(format!("rules[{i}]: `to` must not be empty"));
                }
                edgechain_sdk::check_header("location", &r.to)
                    .map_err(|e| format!("rules[{i}]: to: {e}"))?;
                let regex = match r.kind {
                    Match::Regex => Some(
                        RuleRegex::new(&r.from)
                            .map_err(|e| format!("rules[{i}]: bad regex: {e}"))?,
                    ),
                    _ => None,
                };
                if let Some(group) = regex.as_ref().and_then(|re| re.missing_group(&r.to)) {
                    return Err(format!(
                        "rules[{i}]: `to` refers to group `{group}`, which `from` does not have"
                    ));
                }
                // Exact and prefix rules are matched against the normalised
                // path: read them the same way (`/café` is `/caf%C3%A9`).
                let from = match r.kind {
                    Match::Regex => r.from,
                    _ => edgechain_sdk::normalize_path(&r.from)
                        .map_err(|e| format!("rules[{i}]: from {e}"))?,
                };
                // A target this rule matches again would redirect forever.
                let loops = match r.kind {
                    Match::Exact => r.to == from,
                    Match::Prefix => r.to.starts_with(from.as_str()),
                    Match::Regex => false,
                };
                if loops {
                    return Err(format!(
                        "rules[{i}]: `{}` redirects to a path it matches again (a loop)",
                        r.to
                    ));
                }
                Ok(Rule {
                    kind: r.kind,
                    from,
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
        let regex_set = if edgechain_sdk::built_by_init() {
            build_regex_set(&patterns)
        } else {
            None
        };
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
                    // A target with a query of its own gets the request's appended.
                    let sep = if location.contains('?') { '&' } else { '?' };
                    location = format!("{location}{sep}{q}");
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
    fn regexes_are_ascii_and_their_targets_checked() {
        let mut p = plugin(vec![
            (Match::Regex, r"(?i)^/CASE/(.+)$", "/case/$1", 301),
            (Match::Regex, r"^/w\b(.*)$", "/word$1", 302),
        ])
        .expect("(?i) and \\b are their ASCII forms");
        assert_eq!(location(&mut p, "/Case/X"), Some((301, "/case/X".into())));
        assert_eq!(location(&mut p, "/w/x"), Some((302, "/word/x".into())));
        assert!(plugin(vec![(Match::Regex, r"^/\p{Greek}", "/g", 301)]).is_err());
        for to in ["/b/$2", "/b/${name}", "/b/$x"] {
            let err = plugin(vec![(Match::Regex, r"^/a/(\d+)$", to, 301)])
                .err()
                .unwrap_or_default();
            assert!(err.contains("which `from` does not have"), "{to}: {err}");
        }
        assert!(
            plugin(vec![(
                Match::Regex,
                r"^/a/(?<id>\d+)$",
                "/b/${id}/$1/$$",
                301
            )])
            .is_ok()
        );
        for (kind, from, to) in [
            (Match::Exact, "/a", "/a"),
            (Match::Prefix, "/loop", "/loop/x"),
        ] {
            let err = plugin(vec![(kind, from, to, 301)])
                .err()
                .unwrap_or_default();
            assert!(err.contains("a loop"), "{from} -> {to}: {err}");
        }
    }

    #[test]
    fn exact_and_prefix_rules_are_read_as_paths_are() {
        let mut p = plugin(vec![
            (Match::Exact, "/café", "/cafe", 301),
            (Match::Prefix, "//old/", "/new/", 302),
        ])
        .expect("builds");
        assert_eq!(location(&mut p, "/caf%C3%A9"), Some((301, "/cafe".into())));
        assert_eq!(location(&mut p, "/old/x"), Some((302, "/new/x".into())));
        assert!(plugin(vec![(Match::Exact, "/../x", "/y", 301)]).is_err());
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
        let mut q = plugin(vec![(Match::Regex, r"^/blog/(\d+)$", "/posts?id=$1", 301)])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            location(&mut q, "/blog/7?utm=x"),
            Some((301, "/posts?id=7&utm=x".into()))
        );
        assert_eq!(location(&mut p, "/older"), None);
    }

    #[test]
    fn the_automaton_built_in_init_matches_as_the_rules_alone_do() {
        use edgechain_sdk::testing::Harness;
        let config = r#"{ "rules": [
            { "match": "regex", "from": "^/a/(\\d+)$", "to": "/num/$1", "status": 301 },
            { "match": "prefix", "from": "/a/", "to": "/alpha/", "status": 302 },
            { "match": "regex", "from": "^/a/([a-z]+)$", "to": "/word/$1", "status": 307 },
            { "match": "regex", "from": "^/(a|b)/.*$", "to": "/any/$1", "status": 308 }
        ]}"#;
        // `init`'s value carries the automaton; a fresh, not pre-initialised
        // instance's value does not. Both must answer alike.
        let mut kept = Harness::<Redirect>::new(config).unwrap_or_else(|e| panic!("{e}"));
        assert!(kept.plugin().regex_set.is_some());
        let mut fresh = Harness::<Redirect>::new(config).unwrap_or_else(|e| panic!("{e}"));
        fresh.fresh_instance().unwrap_or_else(|e| panic!("{e}"));
        assert!(fresh.plugin().regex_set.is_none());
        for path in ["/a/42", "/a/x", "/a/", "/b/x", "/b/", "/c", "/a/42x", "/"] {
            assert_eq!(
                location(kept.plugin(), path),
                location(fresh.plugin(), path),
                "{path}"
            );
        }
        assert_eq!(
            location(kept.plugin(), "/a/42"),
            Some((301, "/num/42".into()))
        );
        assert_eq!(
            location(kept.plugin(), "/b/x"),
            Some((308, "/any/b".into()))
        );
    }

    #[test]
    fn regex_targets_are_what_the_regex_crate_replace_makes() {
        let cases = [
            (r"^/item/(\d+)$", "/items/$1"),
            (r"/old/", "/new/"),
            (r"(?P<a>[a-z]+)/(?P<b>[a-z]+)", "${b}-${a}"),
            (r"^/(x)?y", "/[$1]"),
            (r"o+", "0"),
            (r"^", "/prefix"),
            (r"\d{2,3}", "$$"),
            (r"(é|e)t(é|e)", "summer"),
        ];
        let paths = [
            "/item/42",
            "/item/x",
            "/old/old/",
            "/ab/cd/ef",
            "/y",
            "/xy",
            "/foo/1234",
            "/été",
            "/",
        ];
        for (pattern, to) in cases {
            let ours = RuleRegex::new(pattern).unwrap_or_else(|e| panic!("{e}"));
            let oracle = regex::Regex::new(pattern).unwrap_or_else(|e| panic!("{e}"));
            for path in paths {
                let expected = oracle
                    .is_match(path)
                    .then(|| oracle.replace(path, to).into_owned());
                assert_eq!(ours.replace(path, to), expected, "{pattern} on {path}");
            }
        }
    }

    #[test]
    fn bad_rules_are_rejected() {
        assert!(plugin(vec![(Match::Exact, "/a", "/b", 200)]).is_err());
        let unclosed = plugin(vec![(Match::Regex, "(", "/b", 301)]).err();
        assert!(
            unclosed
                .as_deref()
                .is_some_and(|e| e.contains("rules[0]: bad regex") && e.contains("unclosed")),
            "{unclosed:?}"
        );
        // A pathological repetition is refused at load, not compiled.
        assert!(plugin(vec![(Match::Regex, r"\w{1000}{1000}", "/b", 301)]).is_err());
    }
}
