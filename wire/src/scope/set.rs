//! Every link's scope of a chain compiled together, so one request is
//! decided for all of them at once, with the verdicts [`Scope::applies`]
//! gives link by link.
//!
//! Links share much of what they ask (the same methods, hosts, prefixes,
//! headers), so each distinct value a rule names is an atom, tested at most
//! once per request into a bitset; a condition (a list of values) is then a
//! mask over those bits, and a link a few mask tests. Method, host and path
//! atoms are tested up front behind cheap filters (length, and the first and
//! last eight bytes as one integer each); header atoms are tested only when a
//! link reaches them, one lookup per header name.

use super::{Conditions, HeaderSource, HostPattern, PathPattern, Scope, bytes_eq};
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

/// The scopes of a chain's links, in chain order, compiled for deciding
/// them together.
#[derive(Debug, Clone)]
pub struct ScopeSet<N> {
    methods: Vec<Vec<u8>>,
    hosts: Vec<HostPattern>,
    paths: Vec<PathAtom>,
    /// Distinct header names, and the header atoms naming each.
    names: Vec<N>,
    name_atoms: Vec<Vec<HeaderAtom>>,
    /// Where each kind's bits start; after the header atoms, one bit per
    /// name says it was looked up.
    host_base: usize,
    path_base: usize,
    looked_up_base: usize,
    words: usize,
    links: Vec<Option<LinkRule>>,
    groups: Vec<Group>,
    masks: Vec<(usize, u64)>,
}

/// A link's rule: ranges of `groups` that must all hold (`when`) and must
/// not all hold (`unless`).
#[derive(Debug, Clone)]
struct LinkRule {
    when: Option<Range<usize>>,
    unless: Option<Range<usize>>,
}

/// One condition: holds when any bit of its masks is set. `name` is the
/// header name whose atoms must be looked up first, if any.
#[derive(Debug, Clone)]
struct Group {
    masks: Range<usize>,
    name: Option<usize>,
}


/// A path pattern and the necessary conditions checked before it: the
/// path's length, and its first and last eight bytes under a mask.
#[derive(Debug, Clone)]
struct PathAtom {
    pattern: PathPattern,
    min_len: usize,
    exact_len: Option<usize>,
    head: u64,
    head_mask: u64,
    tail: u64,
    tail_mask: u64,
}

/// A header atom: its bit, and `None` for present or the value a field
/// must equal.
#[derive(Debug, Clone)]
struct HeaderAtom {
    bit: usize,
    value: Option<Vec<u8>>,
}

/// The first up to eight bytes of `s`, byte `i` in bits `8i..`.
#[inline]
fn first8(s: &[u8]) -> u64 {
    s.iter()
        .take(8)
        .enumerate()
        .fold(0, |v, (i, &b)| v | (u64::from(b) << (8 * i)))
}

/// The last up to eight bytes of `s`, the `i`th from the end in bits `8i..`.
#[inline]
fn last8(s: &[u8]) -> u64 {
    s.iter()
        .rev()
        .take(8)
        .enumerate()
        .fold(0, |v, (i, &b)| v | (u64::from(b) << (8 * i)))
}

fn mask_of(len: usize) -> u64 {
    if len >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * len)) - 1
    }
}

impl PathAtom {
    fn new(pattern: PathPattern) -> Self {
        let (starts, ends, exact_len): (&str, &str, _) = match &pattern {
            PathPattern::Exact(p) => (p, p, Some(p.len())),
            PathPattern::Prefix(p) => (p, "", None),
            PathPattern::Glob(g) => (&g.starts, &g.ends, None),
        };
        PathAtom {
            min_len: starts.len().max(ends.len()),
            exact_len,
            head: first8(starts.as_bytes()),
            head_mask: mask_of(starts.len()),
            tail: last8(ends.as_bytes()),
            tail_mask: mask_of(ends.len()),
            pattern,
        }
    }

    /// Whether `path` (with `head` and `tail` its `first8` and `last8`)
    /// matches: the filters refuse only paths the pattern cannot match.
    #[inline]
    fn matches(&self, path: &str, head: u64, tail: u64) -> bool {
        path.len() >= self.min_len
            && self.exact_len.is_none_or(|l| l == path.len())
            && head & self.head_mask == self.head
            && tail & self.tail_mask == self.tail
            && self.pattern.matches(path)
    }
}

/// Index of `item` in `list`, added if absent.
fn intern<T: PartialEq>(list: &mut Vec<T>, item: T) -> usize {
    list.iter().position(|x| *x == item).unwrap_or_else(|| {
        list.push(item);
        list.len() - 1
    })
}

/// Atoms as first collected: each kind numbered from 0.
enum Atom {
    Method(usize),
    Host(usize),
    Path(usize),
    Header(usize),
}

impl<N: PartialEq> ScopeSet<N> {
    /// The set of links with these scopes (`None`: runs on every request),
    /// in chain order.
    pub fn new(scopes: impl IntoIterator<Item = Option<Scope<N>>>) -> Self {
        let mut methods: Vec<Vec<u8>> = Vec::new();
        let mut hosts: Vec<HostPattern> = Vec::new();
        let mut paths: Vec<PathPattern> = Vec::new();
        let mut names: Vec<N> = Vec::new();
        // (name, value) of each header atom.
        let mut headers: Vec<(usize, Option<Vec<u8>>)> = Vec::new();
        // Per link, per `when`/`unless`, per condition: its atoms, and the
        // header name it needs looked up.
        type Cond = (Vec<Atom>, Option<usize>);
        let mut rules: Vec<Option<[Option<Vec<Cond>>; 2]>> = Vec::new();
        let mut compile = |c: Conditions<N>| -> Vec<Cond> {
            // Cheapest first: methods, hosts, paths, then headers (a lookup).
            let mut out = Vec::new();
            if !c.methods.is_empty() {
                let atoms = c.methods.into_iter();
                let atoms = atoms.map(|m| Atom::Method(intern(&mut methods, m.into_bytes())));
                out.push((atoms.collect(), None));
            }
            if !c.hosts.is_empty() {
                let atoms = c.hosts.into_iter();
                out.push((atoms.map(|h| Atom::Host(intern(&mut hosts, h))).collect(), None));
            }
            if !c.paths.is_empty() {
                let atoms = c.paths.into_iter();
                out.push((atoms.map(|p| Atom::Path(intern(&mut paths, p))).collect(), None));
            }
            for h in c.headers {
                let name = intern(&mut names, h.name);
                let atoms = match h.values {
                    None => vec![Atom::Header(intern(&mut headers, (name, None)))],
                    Some(values) => values
                        .into_iter()
                        .map(|v| Atom::Header(intern(&mut headers, (name, Some(v)))))
                        .collect(),
                };
                out.push((atoms, Some(name)));
            }
            out
        };
        for scope in scopes {
            rules.push(scope.map(|s| [s.when.map(&mut compile), s.unless.map(&mut compile)]));
        }
        let host_base = methods.len();
        let path_base = host_base + hosts.len();
        let header_base = path_base + paths.len();
        let looked_up_base = header_base + headers.len();
        let words = (looked_up_base + names.len()).div_ceil(64);
        let mut name_atoms: Vec<Vec<HeaderAtom>> = names.iter().map(|_| Vec::new()).collect();
        for (i, (name, value)) in headers.into_iter().enumerate() {
            if let Some(list) = name_atoms.get_mut(name) {
                list.push(HeaderAtom {
                    bit: header_base + i,
                    value,
                });
            }
        }
        let mut groups = Vec::new();
        let mut masks: Vec<(usize, u64)> = Vec::new();
        let mut add = |conds: Vec<Cond>| -> Range<usize> {
            let start = groups.len();
            for (atoms, name) in conds {
                let first = masks.len();
                for atom in atoms {
                    let bit = match atom {
                        Atom::Method(i) => i,
                        Atom::Host(i) => host_base + i,
                        Atom::Path(i) => path_base + i,
                        Atom::Header(i) => header_base + i,
                    };
                    let (word, m) = (bit / 64, 1u64 << (bit % 64));
                    match masks[first..].iter_mut().find(|(w, _)| *w == word) {
                        Some((_, mask)) => *mask |= m,
                        None => masks.push((word, m)),
                    }
                }
                groups.push(Group {
                    masks: first..masks.len(),
                    name,
                });
            }
            start..groups.len()
        };
        let links = rules
            .into_iter()
            .map(|r| {
                r.map(|[when, unless]| LinkRule {
                    when: when.map(&mut add),
                    unless: unless.map(&mut add),
                })
            })
            .collect();
        ScopeSet {
            methods,
            hosts,
            paths: paths.into_iter().map(PathAtom::new).collect(),
            names,
            name_atoms,
            host_base,
            path_base,
            looked_up_base,
            words,
            links,
            groups,
            masks,
        }
    }
}

/// Per-request bits, on the stack for up to this many words (512 atoms).
const INLINE_WORDS: usize = 8;

impl<N> ScopeSet<N> {
    /// How many links.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// Whether there are no links.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// Whether any link runs only for some requests.
    pub fn is_scoped(&self) -> bool {
        self.links.iter().any(Option::is_some)
    }

    /// Whether link `i` has a scope.
    pub fn has_scope(&self, i: usize) -> bool {
        self.links.get(i).is_some_and(Option::is_some)
    }

    /// Calls `run` with the position of every link that runs for a request
    /// with these facts and headers, in chain order.
    pub fn decide(
        &self,
        facts: &super::Facts<'_>,
        headers: &impl HeaderSource<N>,
        mut run: impl FnMut(usize),
    ) {
        let mut inline = [0u64; INLINE_WORDS];
        let mut heap = Vec::new();
        let bits: &mut [u64] = match inline.get_mut(..self.words) {
            Some(b) => b,
            None => {
                heap.resize(self.words, 0);
                &mut heap
            }
        };
        self.test_request_atoms(facts, bits);
        for (i, rule) in self.links.iter().enumerate() {
            let runs = match rule {
                None => true,
                Some(r) => {
                    r.when
                        .as_ref()
                        .is_none_or(|g| self.hold(g.clone(), headers, bits))
                        && !r
                            .unless
                            .as_ref()
                            .is_some_and(|g| self.hold(g.clone(), headers, bits))
                }
            };
            if runs {
                run(i);
            }
        }
    }

    /// Tests every method, host and path atom.
    #[inline]
    fn test_request_atoms(&self, facts: &super::Facts<'_>, bits: &mut [u64]) {
        let mut set = |bit: usize| {
            if let Some(w) = bits.get_mut(bit / 64) {
                *w |= 1 << (bit % 64);
            }
        };
        let method = facts.method.as_bytes();
        for (i, m) in self.methods.iter().enumerate() {
            if bytes_eq(m, method) {
                set(i);
            }
        }
        let host = facts.host;
        for (i, h) in self.hosts.iter().enumerate() {
            if h.matches(host) {
                set(self.host_base + i);
            }
        }
        let path = facts.path;
        let (head, tail) = (first8(path.as_bytes()), last8(path.as_bytes()));
        for (i, p) in self.paths.iter().enumerate() {
            if p.matches(path, head, tail) {
                set(self.path_base + i);
            }
        }
    }

    /// Whether every condition in `groups` holds.
    #[inline]
    fn hold(&self, groups: Range<usize>, headers: &impl HeaderSource<N>, bits: &mut [u64]) -> bool {
        self.groups.get(groups).unwrap_or_default().iter().all(|g| {
            if let Some(name) = g.name {
                self.look_up(name, headers, bits);
            }
            self.masks
                .get(g.masks.clone())
                .unwrap_or_default()
                .iter()
                .any(|&(w, m)| bits.get(w).is_some_and(|b| b & m != 0))
        })
    }

    /// Tests the atoms of header name `name`, once per request.
    #[inline]
    fn look_up(&self, name: usize, headers: &impl HeaderSource<N>, bits: &mut [u64]) {
        let flag = self.looked_up_base + name;
        let (w, m) = (flag / 64, 1u64 << (flag % 64));
        if bits.get(w).is_none_or(|b| b & m != 0) {
            return;
        }
        bits[w] |= m;
        let (Some(n), Some(atoms)) = (self.names.get(name), self.name_atoms.get(name)) else {
            return;
        };
        let mut present = false;
        headers.any_value(n, |v| {
            present = true;
            for a in atoms {
                if a.value.as_deref().is_some_and(|want| bytes_eq(want, v)) {
                    bits[a.bit / 64] |= 1 << (a.bit % 64);
                }
            }
            false
        });
        if present {
            for a in atoms.iter().filter(|a| a.value.is_none()) {
                bits[a.bit / 64] |= 1 << (a.bit % 64);
            }
        }
    }
}
