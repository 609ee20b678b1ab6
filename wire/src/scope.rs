//! Where a link applies: the manifest's `when` and `unless` rules, checked
//! and compiled once, then decided per request.
//!
//! One definition for the host (which decides, once per request before the
//! walk, which links run) and the SDKs' harnesses (which say whether a
//! request would reach a link); `vectors.json` holds the verdicts all of
//! them must give.
//!
//! A rule is a set of conditions that must all hold; a list of values in one
//! condition means any of them:
//!
//! - `host`: the request's host, compared without case, without a port and
//!   without a trailing dot; `*.example.com` matches any name ending in
//!   `.example.com` by whole labels (`a.example.com`, `a.b.example.com`,
//!   never `example.com` itself nor `badexample.com`).
//! - `path`: the normalised path (see [`crate::path`]): `exact`, `prefix` by
//!   whole segments (`/api` matches `/api`, `/api/` and `/api/x`, never
//!   `/apis`; `/api/` matches `/api/x` but not `/api`), or `glob`: `*` is any
//!   run of characters within a segment, `?` one character (an escape such
//!   as `%20` is three), and `**` as a whole segment is any number of
//!   segments, none included (`/a/**` matches `/a`, `/a/` and `/a/b/c`).
//!   A pattern must be written as a normalised path would be (no `//`, no
//!   `.` or `..` segments, no encoded unreserved character, upper-case hex):
//!   one that no normalised path can equal is refused, not kept to never
//!   match.
//! - `method`: compared exactly (methods are case-sensitive).
//! - `header`: a name (any case; not one the host manages, which plugins do
//!   not see either) mapped to `true` (present) or to values, one of which
//!   some field of that name must equal exactly. A repeated header matches
//!   when any of its fields does; a field is compared whole, not split at
//!   commas.
//!
//! `when` must hold and `unless` must not for the link to run.

use crate::decision::tchar;
use crate::managed::is_managed;
use crate::path;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Where one link applies: run it when `when` holds (or there is none) and
/// `unless` does not. `N` is how a compiled rule names a header: the host
/// uses its HTTP library's name type, harnesses a lower-case `String`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope<N> {
    when: Option<Conditions<N>>,
    unless: Option<Conditions<N>>,
}

/// Conditions that must all hold; an empty list is no condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conditions<N> {
    hosts: Vec<HostPattern>,
    paths: Vec<PathPattern>,
    methods: Vec<String>,
    headers: Vec<HeaderCondition<N>>,
}

/// A `host` value, folded to lower case without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    /// `*.example.com`, kept as `.example.com`.
    Suffix(String),
}

/// A `path` value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PathPattern {
    Exact(String),
    Prefix(String),
    Glob(Glob),
}

/// A compiled glob: its segments, and the literal text every match starts
/// and ends with (checked first: most paths fail there, without walking the
/// segments).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Glob {
    segments: Vec<GlobSegment>,
    starts: String,
    ends: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum GlobSegment {
    /// `**`: any number of segments.
    Deep,
    /// Characters, `*` and `?`.
    Part(String),
}

/// One `header` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HeaderCondition<N> {
    name: N,
    /// `None`: present; otherwise equal to one of these.
    values: Option<Vec<Vec<u8>>>,
}

/// What a rule is decided on, taken once per request.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    method: &'a str,
    host: &'a str,
    path: &'a str,
}

impl<'a> Facts<'a> {
    /// The facts of a request with this method, authority (`Host`, any
    /// case, port optional) and normalised path.
    #[inline]
    pub fn new(method: &'a str, authority: &'a str, normalized_path: &'a str) -> Self {
        Facts {
            method,
            host: host_of(authority),
            path: normalized_path,
        }
    }
}

/// The request's header fields, as a rule reads them.
pub trait HeaderSource<N> {
    /// Whether some field named `name` has a value for which `f` holds.
    fn any_value(&self, name: &N, f: impl FnMut(&[u8]) -> bool) -> bool;
}

/// A packed header block (see [`crate::fields`]), names compared without
/// case: what a harness has.
pub struct PackedHeaders<'a>(pub &'a [u8]);

impl HeaderSource<String> for PackedHeaders<'_> {
    fn any_value(&self, name: &String, mut f: impl FnMut(&[u8]) -> bool) -> bool {
        crate::fields(self.0)
            .filter_map(Result::ok)
            .any(|(n, v)| n.eq_ignore_ascii_case(name.as_bytes()) && f(v))
    }
}

impl<N> Scope<N> {
    /// Whether the link runs for a request with these facts and headers.
    pub fn applies(&self, facts: &Facts<'_>, headers: &impl HeaderSource<N>) -> bool {
        self.when.as_ref().is_none_or(|c| c.hold(facts, headers))
            && !self.unless.as_ref().is_some_and(|c| c.hold(facts, headers))
    }

    /// The rule with its header names turned into another type (done once,
    /// at load).
    pub fn map_names<M>(self, mut f: impl FnMut(N) -> M) -> Scope<M> {
        let mut map = |c: Option<Conditions<N>>| {
            c.map(|c| Conditions {
                hosts: c.hosts,
                paths: c.paths,
                methods: c.methods,
                headers: c
                    .headers
                    .into_iter()
                    .map(|h| HeaderCondition {
                        name: f(h.name),
                        values: h.values,
                    })
                    .collect(),
            })
        };
        Scope {
            when: map(self.when),
            unless: map(self.unless),
        }
    }

    /// The rule with its header names turned into another type (done once,
    /// at load), or the first name `f` refuses.
    pub fn try_map_names<M, E>(self, mut f: impl FnMut(&str) -> Result<M, E>) -> Result<Scope<M>, E>
    where
        N: AsRef<str>,
    {
        let mut map = |c: Option<Conditions<N>>| -> Result<Option<Conditions<M>>, E> {
            let Some(c) = c else { return Ok(None) };
            let mut headers = Vec::with_capacity(c.headers.len());
            for h in c.headers {
                headers.push(HeaderCondition {
                    name: f(h.name.as_ref())?,
                    values: h.values,
                });
            }
            Ok(Some(Conditions {
                hosts: c.hosts,
                paths: c.paths,
                methods: c.methods,
                headers,
            }))
        };
        Ok(Scope {
            when: map(self.when)?,
            unless: map(self.unless)?,
        })
    }
}

impl<N> Conditions<N> {
    fn hold(&self, facts: &Facts<'_>, headers: &impl HeaderSource<N>) -> bool {
        (self.methods.is_empty()
            || self
                .methods
                .iter()
                .any(|m| bytes_eq(m.as_bytes(), facts.method.as_bytes())))
            && (self.hosts.is_empty() || self.hosts.iter().any(|h| h.matches(facts.host)))
            && (self.paths.is_empty() || self.paths.iter().any(|p| p.matches(facts.path)))
            && self.headers.iter().all(|h| match &h.values {
                None => headers.any_value(&h.name, |_| true),
                Some(values) => {
                    headers.any_value(&h.name, |v| values.iter().any(|w| bytes_eq(w, v)))
                }
            })
    }
}

/// The host of an authority: without a port and without one trailing dot,
/// case kept (rules compare without case).
#[inline]
pub fn host_of(authority: &str) -> &str {
    let host = if authority.starts_with('[') {
        authority
            .find(']')
            .map_or(authority, |end| &authority[..=end])
    } else {
        authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host)
    };
    host.strip_suffix('.').unwrap_or(host)
}

impl HostPattern {
    #[inline]
    fn matches(&self, host: &str) -> bool {
        let host = host.as_bytes();
        match self {
            HostPattern::Exact(p) => host.eq_ignore_ascii_case(p.as_bytes()),
            HostPattern::Suffix(s) => {
                host.len() > s.len()
                    && host[host.len() - s.len()..].eq_ignore_ascii_case(s.as_bytes())
            }
        }
    }
}

impl PathPattern {
    #[inline]
    fn matches(&self, path: &str) -> bool {
        match self {
            PathPattern::Exact(p) => bytes_eq(path.as_bytes(), p.as_bytes()),
            PathPattern::Prefix(p) => prefix_matches(p, path),
            PathPattern::Glob(g) => {
                starts_with(path.as_bytes(), g.starts.as_bytes())
                    && ends_with(path.as_bytes(), g.ends.as_bytes())
                    && glob_matches(&g.segments, path)
            }
        }
    }
}

/// Byte comparisons without `memcmp`: rule text is short, and glibc's AVX
/// `memcmp` reads with masked loads that cost a microcode assist (about
/// 100 ns) whenever the masked-off bytes lie on an unmapped page, as they
/// always do for an empty `String`'s dangling pointer (measured in
/// `docs/benchmarks.md`).
#[inline]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

#[inline]
fn starts_with(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && bytes_eq(&s[..prefix.len()], prefix)
}

#[inline]
fn ends_with(s: &[u8], suffix: &[u8]) -> bool {
    s.len() >= suffix.len() && bytes_eq(&s[s.len() - suffix.len()..], suffix)
}

/// `prefix` is `path` or an ancestor of it, by whole segments.
#[inline]
fn prefix_matches(prefix: &str, path: &str) -> bool {
    let (prefix, path) = (prefix.as_bytes(), path.as_bytes());
    starts_with(path, prefix)
        && (path.len() == prefix.len()
            || prefix.last() == Some(&b'/')
            || path[prefix.len()] == b'/')
}

/// Segment-level wildcard matching; `**` backtracks one segment at a time
/// from the last one met, so matching is linear in pattern × path, never
/// exponential.
fn glob_matches(pattern: &[GlobSegment], path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    // The path segment starting at byte `s` of `rest`, and where the next
    // one starts (`None` past the last).
    let segment_at = |s: usize| match rest.as_bytes()[s..].iter().position(|&b| b == b'/') {
        Some(i) => (&rest[s..s + i], Some(s + i + 1)),
        None => (&rest[s..], None),
    };
    let (mut pi, mut pos) = (0, Some(0));
    let mut deep: Option<(usize, Option<usize>)> = None;
    loop {
        match (pattern.get(pi), pos) {
            (None, None) => return true,
            (Some(GlobSegment::Deep), _) => {
                deep = Some((pi, pos));
                pi += 1;
                continue;
            }
            (Some(GlobSegment::Part(p)), Some(s)) => {
                let (segment, next) = segment_at(s);
                if wildcard(p.as_bytes(), segment.as_bytes()) {
                    pi += 1;
                    pos = next;
                    continue;
                }
            }
            _ => {}
        }
        // Mismatch: let the last `**` take one more segment.
        match deep {
            Some((dpi, Some(dpos))) => {
                let (_, next) = segment_at(dpos);
                deep = Some((dpi, next));
                pi = dpi + 1;
                pos = next;
            }
            _ => return false,
        }
    }
}

/// `*` and `?` within one segment.
fn wildcard(p: &[u8], s: &[u8]) -> bool {
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < s.len() {
        if i < p.len() && (p[i] == b'?' || p[i] == s[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == b'*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&b| b == b'*')
}

/// Why a rule is refused: where (`when.path.glob[1]`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeError {
    /// The field, from `when` or `unless` down.
    pub at: String,
    /// What is wrong with it.
    pub reason: String,
}

impl core::fmt::Display for ScopeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}: {}", self.at, self.reason)
    }
}

fn error(at: &str, reason: impl Into<String>) -> ScopeError {
    ScopeError {
        at: at.to_string(),
        reason: reason.into(),
    }
}

/// A `host` value, checked and folded: lower case, one trailing dot
/// dropped; `*.` only as the first label; no port.
pub fn host_pattern(value: &str, at: &str) -> Result<(bool, String), ScopeError> {
    let folded = value.to_ascii_lowercase();
    let folded = folded.strip_suffix('.').unwrap_or(&folded);
    let (wildcard, name) = match folded.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, folded),
    };
    if name.starts_with('[') {
        let literal = name.strip_prefix('[').and_then(|n| n.strip_suffix(']'));
        let ok = !wildcard
            && literal.is_some_and(|l| {
                l.contains(':')
                    && l.bytes()
                        .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            });
        if !ok {
            return Err(error(
                at,
                format!("`{value}` is not an IPv6 literal such as `[::1]`"),
            ));
        }
        return Ok((false, name.to_string()));
    }
    if name.contains(':') {
        return Err(error(
            at,
            format!("`{value}` has a port; rules ignore ports, so write the host alone"),
        ));
    }
    if name.contains('*') {
        return Err(error(
            at,
            format!("`{value}`: `*` may only be a whole first label, as in `*.example.com`"),
        ));
    }
    let labels_ok = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !labels_ok {
        return Err(error(at, format!("`{value}` is not a host name")));
    }
    Ok((wildcard, name.to_string()))
}

/// Which kind of `path` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// `exact`.
    Exact,
    /// `prefix`.
    Prefix,
    /// `glob`.
    Glob,
}

impl PathKind {
    /// The manifest's spelling.
    pub fn name(self) -> &'static str {
        match self {
            PathKind::Exact => "exact",
            PathKind::Prefix => "prefix",
            PathKind::Glob => "glob",
        }
    }
}

/// Check a `path` value: refused when no normalised path could match it.
pub fn path_pattern(kind: PathKind, value: &str, at: &str) -> Result<(), ScopeError> {
    let never = |why: &str| {
        Err(error(
            at,
            format!("`{value}` can never match a normalised path: {why}"),
        ))
    };
    if !value.starts_with('/') {
        return never("it does not start with `/`");
    }
    if value.contains('#') {
        return never("a path holds no `#`");
    }
    if kind != PathKind::Glob && value.contains('?') {
        return never("a path holds no `?` (the query is not part of it)");
    }
    if kind == PathKind::Glob {
        for segment in value[1..].split('/') {
            if segment.contains("**") && segment != "**" {
                return Err(error(
                    at,
                    format!("`{value}`: `**` must be a whole segment, as in `/a/**/b`"),
                ));
            }
        }
    }
    match path::normalize(value) {
        Ok(n) if n == value => Ok(()),
        Ok(n) => never(&format!("paths are matched normalised, so write `{n}`")),
        Err(e) => never(&e.to_string()),
    }
}

fn compile_glob(value: &str) -> Glob {
    let segments = value[1..]
        .split('/')
        .map(|s| match s {
            "**" => GlobSegment::Deep,
            s => GlobSegment::Part(s.to_string()),
        })
        .collect();
    // The literal text before the first wildcard and after the last; a `**`
    // may stand for no segment at all, taking its slash with it.
    let wild = |b: u8| b == b'*' || b == b'?';
    let bytes = value.as_bytes();
    let starts = match bytes.iter().position(|&b| wild(b)) {
        None => value.len(),
        Some(i) if value[i..].starts_with("**") => i - 1,
        Some(i) => i,
    };
    let ends = match bytes.iter().rposition(|&b| wild(b)) {
        None => value.len(),
        Some(i) if value[..=i].ends_with("**") => i + 1,
        Some(i) => i + 1,
    };
    Glob {
        segments,
        starts: value[..starts].to_string(),
        ends: value[ends.max(starts)..].to_string(),
    }
}

/// Check a `method` value: a token; the lower-case spelling of a standard
/// method is refused, since methods are case-sensitive and it would never
/// match what clients send.
pub fn method_pattern(value: &str, at: &str) -> Result<(), ScopeError> {
    if value.is_empty() || !value.bytes().all(tchar) {
        return Err(error(
            at,
            format!("`{value}` is not a method (an HTTP token)"),
        ));
    }
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    if let Some(m) = STANDARD
        .iter()
        .find(|m| m.eq_ignore_ascii_case(value) && **m != value)
    {
        return Err(error(
            at,
            format!("`{value}`: methods are case-sensitive; write `{m}`"),
        ));
    }
    Ok(())
}

/// Check a `header` name: a token the host does not manage. Returns it in
/// lower case.
pub fn header_name(value: &str, at: &str) -> Result<String, ScopeError> {
    if value.is_empty() || !value.bytes().all(tchar) {
        return Err(error(
            at,
            format!("`{value}` is not a header name (an HTTP token)"),
        ));
    }
    let lower = value.to_ascii_lowercase();
    if is_managed(&lower) {
        let hint = if lower == "host" { "; use `host`" } else { "" };
        return Err(error(
            at,
            format!("`{value}` is managed by the host and never seen by links{hint}"),
        ));
    }
    Ok(lower)
}

/// Check a `header` value: one a parsed field can hold (no control
/// characters, no leading or trailing whitespace, which parsers drop).
pub fn header_value(value: &str, at: &str) -> Result<(), ScopeError> {
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(error(at, format!("{value:?} holds a control character")));
    }
    if value.starts_with([' ', '\t']) || value.ends_with([' ', '\t']) {
        return Err(error(
            at,
            format!("{value:?} can never match: fields are read without surrounding whitespace"),
        ));
    }
    Ok(())
}

/// Builds [`Conditions`] value by value, checking each: what a manifest
/// parser calls as it reads `when` or `unless`.
#[derive(Debug, Default)]
pub struct ConditionsBuilder {
    conditions: Option<Conditions<String>>,
}

impl ConditionsBuilder {
    fn get(&mut self) -> &mut Conditions<String> {
        self.conditions.get_or_insert_with(|| Conditions {
            hosts: Vec::new(),
            paths: Vec::new(),
            methods: Vec::new(),
            headers: Vec::new(),
        })
    }

    /// Add a `host` value.
    pub fn host(&mut self, value: &str, at: &str) -> Result<(), ScopeError> {
        let (wildcard, name) = host_pattern(value, at)?;
        self.get().hosts.push(if wildcard {
            HostPattern::Suffix(format!(".{name}"))
        } else {
            HostPattern::Exact(name)
        });
        Ok(())
    }

    /// Add a `path` value of `kind`.
    pub fn path(&mut self, kind: PathKind, value: &str, at: &str) -> Result<(), ScopeError> {
        path_pattern(kind, value, at)?;
        self.get().paths.push(match kind {
            PathKind::Exact => PathPattern::Exact(value.to_string()),
            PathKind::Prefix => PathPattern::Prefix(value.to_string()),
            PathKind::Glob => PathPattern::Glob(compile_glob(value)),
        });
        Ok(())
    }

    /// Add a `method` value.
    pub fn method(&mut self, value: &str, at: &str) -> Result<(), ScopeError> {
        method_pattern(value, at)?;
        self.get().methods.push(value.to_string());
        Ok(())
    }

    /// Add a `header` condition: present (`values` is `None`) or equal to one
    /// of `values`.
    pub fn header(
        &mut self,
        name: &str,
        values: Option<&[&str]>,
        at: &str,
    ) -> Result<(), ScopeError> {
        let name = header_name(name, at)?;
        let values = match values {
            None => None,
            Some(vs) => {
                let mut out = Vec::with_capacity(vs.len());
                for (i, v) in vs.iter().enumerate() {
                    header_value(v, &format!("{at}[{i}]"))?;
                    out.push(v.as_bytes().to_vec());
                }
                Some(out)
            }
        };
        self.get().headers.push(HeaderCondition { name, values });
        Ok(())
    }

    /// The conditions; `None` if none was added.
    pub fn finish(self) -> Option<Conditions<String>> {
        self.conditions
    }
}

impl Scope<String> {
    /// The scope of `when` and `unless`; `None` when neither is given.
    pub fn new(
        when: Option<Conditions<String>>,
        unless: Option<Conditions<String>>,
    ) -> Option<Self> {
        (when.is_some() || unless.is_some()).then_some(Scope { when, unless })
    }
}

mod set;
pub use set::ScopeSet;

#[cfg(feature = "json")]
mod json;
#[cfg(feature = "json")]
pub use json::from_json;

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(p: &str) -> Vec<GlobSegment> {
        path_pattern(PathKind::Glob, p, "t").unwrap_or_else(|e| panic!("{e}"));
        compile_glob(p).segments
    }

    /// The literal start and end a glob checks first never refuse a path
    /// its segments match.
    #[test]
    fn the_literal_ends_of_a_glob_refuse_only_what_it_cannot_match() {
        let globs = [
            "/a/**",
            "/**",
            "/**/x.png",
            "/a/**/b",
            "/a/*/b",
            "/*.css",
            "/v?/x",
            "/**/b/**/d",
            "/a/**/*.css",
            "/a*/b?",
            "/",
            "/a/b",
            "/**/a/**",
            "/x/**/y/**",
        ];
        let parts = [
            "", "a", "b", "d", "x", "y", "v1", "x.png", "s.css", "ab", "a.css",
        ];
        let mut paths = alloc::vec![String::from("/")];
        let mut level = alloc::vec![String::new()];
        for _ in 0..3 {
            level = level
                .iter()
                .flat_map(|p| parts.iter().map(move |part| format!("{p}/{part}")))
                .collect();
            paths.extend(level.iter().cloned());
        }
        let mut matched = 0;
        for g in globs {
            path_pattern(PathKind::Glob, g, "t").unwrap_or_else(|e| panic!("{g}: {e}"));
            let compiled = compile_glob(g);
            for p in &paths {
                let full = glob_matches(&compiled.segments, p);
                let filtered = PathPattern::Glob(compiled.clone()).matches(p);
                assert_eq!(
                    filtered, full,
                    "{g} on {p} (starts {:?}, ends {:?})",
                    compiled.starts, compiled.ends
                );
                matched += usize::from(full);
            }
        }
        assert!(matched > 50, "{matched}");
    }

    #[test]
    fn globs_match_by_segment() {
        let cases = [
            ("/a/**", "/a", true),
            ("/a/**", "/a/", true),
            ("/a/**", "/a/b/c", true),
            ("/a/**", "/ab", false),
            ("/**/x.png", "/x.png", true),
            ("/**/x.png", "/a/b/x.png", true),
            ("/**/x.png", "/a/b/y.png", false),
            ("/a/*/c", "/a/b/c", true),
            ("/a/*/c", "/a/b/d/c", false),
            ("/*.css", "/site.css", true),
            ("/*.css", "/a/site.css", false),
            ("/v?/x", "/v1/x", true),
            ("/v?/x", "/v10/x", false),
            ("/**/b/**/d", "/a/b/c/d", true),
            ("/**/b/**/d", "/a/c/d", false),
            ("/**", "/", true),
            ("/", "/", true),
            ("/", "/a", false),
        ];
        for (p, path, want) in cases {
            assert_eq!(glob_matches(&glob(p), path), want, "{p} on {path}");
        }
    }

    #[test]
    fn prefixes_match_by_segment() {
        for (p, path, want) in [
            ("/api", "/api", true),
            ("/api", "/api/", true),
            ("/api", "/api/x", true),
            ("/api", "/apis", false),
            ("/api/", "/api", false),
            ("/api/", "/api/x", true),
            ("/", "/anything", true),
        ] {
            assert_eq!(prefix_matches(p, path), want, "{p} on {path}");
        }
    }

    #[test]
    fn hosts_fold_case_port_and_dot() {
        for (a, h) in [
            ("Example.COM", "Example.COM"),
            ("example.com.:8080", "example.com"),
            ("[::1]:80", "[::1]"),
            ("x:1", "x"),
        ] {
            assert_eq!(host_of(a), h);
        }
        let suffix = HostPattern::Suffix(".example.com".into());
        assert!(suffix.matches("A.Example.com"));
        assert!(!suffix.matches("example.com"));
        assert!(!suffix.matches("badexample.com"));
    }

    #[test]
    fn patterns_that_cannot_match_are_refused() {
        for (kind, p) in [
            (PathKind::Glob, "/a//b"),
            (PathKind::Glob, "/a/./b"),
            (PathKind::Glob, "/%61dmin"),
            (PathKind::Glob, "/a%2fb"),
            (PathKind::Glob, "a"),
            (PathKind::Glob, "/a**"),
            (PathKind::Exact, "/a?b"),
            (PathKind::Prefix, "/a/../b"),
            (PathKind::Exact, "/a b"),
        ] {
            assert!(path_pattern(kind, p, "t").is_err(), "{p}");
        }
    }
}
