//! Which links run for one request: every link's `when`/`unless` (compiled
//! at load by `edgechain_wire::scope`, the rules the SDKs' harnesses apply
//! too), decided once per request before the walk into a [`LinkSet`].
//!
//! A link outside the set is never instantiated and gets no call in either
//! phase. The decision reads the request as the client sent it, after the
//! front door: its method, its host, its normalised path and its headers. A
//! link that rewrites the request does not change which later links run.

use edgechain_wire::scope::{Facts, HeaderSource, Scope, ScopeSet};
use http::{HeaderMap, HeaderName};

/// The links of a chain that run for one request, by position (filters in
/// manifest order, then a terminal handler).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSet(Bits);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Bits {
    /// Up to 128 links, with no allocation.
    Small(u128),
    Large(Vec<u64>),
}

impl LinkSet {
    fn none(len: usize) -> Self {
        LinkSet(if len <= 128 {
            Bits::Small(0)
        } else {
            Bits::Large(vec![0; len.div_ceil(64)])
        })
    }

    /// All of `len` links.
    pub fn all(len: usize) -> Self {
        LinkSet(if len <= 128 {
            Bits::Small(if len == 128 {
                u128::MAX
            } else {
                (1 << len) - 1
            })
        } else {
            let mut words = vec![u64::MAX; len.div_ceil(64)];
            if !len.is_multiple_of(64)
                && let Some(last) = words.last_mut()
            {
                *last = (1 << (len % 64)) - 1;
            }
            Bits::Large(words)
        })
    }

    /// Adds the links of `w`, word `k`: links `64 * k ..`.
    #[inline]
    fn put_word(&mut self, k: usize, w: u64) {
        match &mut self.0 {
            Bits::Small(b) => {
                if k < 2 {
                    *b |= u128::from(w) << (64 * k);
                }
            }
            Bits::Large(words) => {
                if let Some(word) = words.get_mut(k) {
                    *word |= w;
                }
            }
        }
    }

    /// Whether link `i` runs.
    pub fn contains(&self, i: usize) -> bool {
        match &self.0 {
            Bits::Small(b) => i < 128 && b & (1 << i) != 0,
            Bits::Large(words) => words.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0),
        }
    }
}

/// Every link's scope, in chain order, compiled together at load (see
/// `edgechain_wire::scope::ScopeSet`: each distinct value a rule names is
/// tested at most once per request, each header name looked up at most once).
#[derive(Debug)]
pub struct Matcher {
    set: ScopeSet<HeaderName>,
    /// Whether any link has a scope; if none does, every link runs and
    /// nothing is read.
    scoped: bool,
}

impl Default for Matcher {
    fn default() -> Self {
        Matcher::new([])
    }
}

/// A request's header map as the rules read it.
struct Fields<'a>(&'a HeaderMap);

impl HeaderSource<HeaderName> for Fields<'_> {
    #[inline]
    fn any_value(&self, name: &HeaderName, mut f: impl FnMut(&[u8]) -> bool) -> bool {
        self.0.get_all(name).iter().any(|v| f(v.as_bytes()))
    }
}

impl Matcher {
    /// The matcher of links with these scopes, in chain order.
    pub fn new(scopes: impl IntoIterator<Item = Option<Scope<HeaderName>>>) -> Self {
        let set = ScopeSet::new(scopes);
        Matcher {
            scoped: set.is_scoped(),
            set,
        }
    }

    /// Whether any link runs only for some requests.
    pub fn is_scoped(&self) -> bool {
        self.scoped
    }

    /// Whether link `i` has a scope.
    pub fn has_scope(&self, i: usize) -> bool {
        self.set.has_scope(i)
    }

    /// The links that run for a request with this method, authority (the
    /// `Host` as received), normalised path and headers.
    pub fn decide(
        &self,
        method: &str,
        authority: &str,
        normalized_path: &str,
        headers: &HeaderMap,
    ) -> LinkSet {
        if !self.scoped {
            return LinkSet::all(self.set.len());
        }
        let facts = Facts::new(method, authority, normalized_path);
        let mut set = LinkSet::none(self.set.len());
        self.set
            .decide(&facts, &Fields(headers), |k, w| set.put_word(k, w));
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope(when: serde_json::Value) -> Option<Scope<HeaderName>> {
        edgechain_wire::scope::from_json(Some(&when), None)
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|s| s.try_map_names(|n| HeaderName::from_bytes(n.as_bytes())))
            .transpose()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn sets_hold_any_number_of_links() {
        for len in [0, 1, 127, 128, 129, 300] {
            let all = LinkSet::all(len);
            assert!((0..len).all(|i| all.contains(i)), "{len}");
            assert!(!all.contains(len), "{len}");
        }
    }

    #[test]
    fn repeated_headers_match_when_any_field_does() {
        let m = Matcher::new([scope(json!({"header": {"X-Env": "b"}})), None]);
        let mut headers = HeaderMap::new();
        headers.append("x-env", http::HeaderValue::from_static("a"));
        let set = m.decide("GET", "h", "/", &headers);
        assert!(!set.contains(0) && set.contains(1));
        headers.append("x-env", http::HeaderValue::from_static("b"));
        assert!(m.decide("GET", "h", "/", &headers).contains(0));
    }

    /// The host decides every request of `wire/vectors.json` as the wire
    /// rules (and the SDKs' harnesses) do, through its own header map.
    #[test]
    fn the_host_decides_as_the_vectors_say() {
        let v: serde_json::Value = serde_json::from_str(include_str!("../../wire/vectors.json"))
            .unwrap_or_else(|e| panic!("vectors.json: {e}"));
        let cases = v["scope"]["matches"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!cases.is_empty(), "no scope vectors");
        for case in cases {
            let rule = &case["rule"];
            let scope = edgechain_wire::scope::from_json(rule.get("when"), rule.get("unless"))
                .unwrap_or_else(|e| panic!("{rule}: {e}"))
                .map(|s| s.try_map_names(|n| HeaderName::from_bytes(n.as_bytes())))
                .transpose()
                .unwrap_or_else(|e| panic!("{e}"));
            let m = Matcher::new([scope]);
            for r in case["requests"].as_array().cloned().unwrap_or_default() {
                let text = |k: &str| {
                    r[k].as_str()
                        .unwrap_or_else(|| panic!("{r}: {k}"))
                        .to_owned()
                };
                let target = text("target");
                let path = edgechain_wire::path::normalize(edgechain_wire::path::path_of(&target))
                    .unwrap_or_else(|e| panic!("{r}: {e}"));
                let mut headers = HeaderMap::new();
                for f in r["headers"].as_array().cloned().unwrap_or_default() {
                    let (Some(n), Some(val)) = (f[0].as_str(), f[1].as_str()) else {
                        panic!("{r}: header pair")
                    };
                    let name =
                        HeaderName::from_bytes(n.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
                    let value = http::HeaderValue::from_str(val).unwrap_or_else(|e| panic!("{e}"));
                    headers.append(name, value);
                }
                let runs = m
                    .decide(&text("method"), &text("authority"), &path, &headers)
                    .contains(0);
                assert_eq!(Some(runs), r["runs"].as_bool(), "{rule} on {r}");
            }
        }
    }
}
