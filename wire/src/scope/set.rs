//! Every link's scope of a chain compiled together, so one request is
//! decided for all of them at once, with the verdicts [`Scope::applies`]
//! gives link by link.
//!
//! Links share much of what they ask (the same methods, hosts, prefixes,
//! headers), so each distinct value a rule names is an atom, tested once per
//! request into a slot; a condition of several values is a slot ORing its
//! atoms', and a link a branch-free AND of slots. Path atoms are tested
//! behind cheap filters (length, and the first and last eight bytes as one
//! integer each); header atoms with one lookup per header name.

use super::{Conditions, HeaderSource, HostPattern, PathPattern, Scope, bytes_eq};
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

/// The scopes of a chain's links, in chain order, compiled for deciding
/// them together.
///
/// A request is decided into one byte per slot (`0` or `1`): two constants,
/// then every atom, then every condition of several values (the OR of its
/// atoms), then every rule of more than [`WIDTH`] conditions (their AND). A
/// link is then `when[0] & .. & when[3] & !(unless[0] & .. & unless[3])` over
/// slots, padded with the constants: no branch per link.
#[derive(Debug, Clone)]
pub struct ScopeSet<N> {
    methods: Vec<Vec<u8>>,
    hosts: Vec<HostPattern>,
    /// Distinct header names, and the header atoms naming each.
    names: Vec<N>,
    name_atoms: Vec<Vec<HeaderAtom>>,
    paths: Vec<PathAtom>,
    /// Slot of the first method, host, path atom.
    host_base: usize,
    path_base: usize,
    /// `(condition, atom)`: the condition's slot ORs in the atom's.
    ors: Vec<(u32, u32)>,
    /// Slots of the rules of many conditions, and `(rule, condition)`: the
    /// rule's slot ANDs in the condition's.
    wide: Range<usize>,
    ands: Vec<(u32, u32)>,
    slots: usize,
    /// Per link: `when` then `unless` slots.
    links: Vec<[u32; 2 * WIDTH]>,
    scoped: Vec<bool>,
}

/// Conditions a link's `when` or `unless` holds inline; more go through a
/// slot of their own.
pub const WIDTH: usize = 4;
const TRUE: u32 = 0;
const FALSE: u32 = 1;

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

/// A header atom: its slot, and `None` for present or the value a field
/// must equal.
#[derive(Debug, Clone)]
struct HeaderAtom {
    slot: usize,
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
        // Per link, per `when`/`unless`: its conditions, each its atoms.
        type Rule = [Option<Vec<Vec<Atom>>>; 2];
        let mut rules: Vec<Option<Rule>> = Vec::new();
        let mut compile = |c: Conditions<N>| -> Vec<Vec<Atom>> {
            let mut out = Vec::new();
            if !c.methods.is_empty() {
                let atoms = c.methods.into_iter();
                let atoms = atoms.map(|m| Atom::Method(intern(&mut methods, m.into_bytes())));
                out.push(atoms.collect());
            }
            if !c.hosts.is_empty() {
                let atoms = c.hosts.into_iter();
                out.push(atoms.map(|h| Atom::Host(intern(&mut hosts, h))).collect());
            }
            if !c.paths.is_empty() {
                let atoms = c.paths.into_iter();
                out.push(atoms.map(|p| Atom::Path(intern(&mut paths, p))).collect());
            }
            for h in c.headers {
                let name = intern(&mut names, h.name);
                out.push(match h.values {
                    None => vec![Atom::Header(intern(&mut headers, (name, None)))],
                    Some(values) => values
                        .into_iter()
                        .map(|v| Atom::Header(intern(&mut headers, (name, Some(v)))))
                        .collect(),
                });
            }
            out
        };
        for scope in scopes {
            rules.push(scope.map(|s| [s.when.map(&mut compile), s.unless.map(&mut compile)]));
        }
        let host_base = 2 + methods.len();
        let path_base = host_base + hosts.len();
        let header_base = path_base + paths.len();
        let mut slots = header_base + headers.len();
        let mut name_atoms: Vec<Vec<HeaderAtom>> = names.iter().map(|_| Vec::new()).collect();
        for (i, (name, value)) in headers.into_iter().enumerate() {
            if let Some(list) = name_atoms.get_mut(name) {
                list.push(HeaderAtom {
                    slot: header_base + i,
                    value,
                });
            }
        }
        let slot_of = |atom: &Atom| -> u32 {
            let slot = match *atom {
                Atom::Method(i) => 2 + i,
                Atom::Host(i) => host_base + i,
                Atom::Path(i) => path_base + i,
                Atom::Header(i) => header_base + i,
            };
            slot as u32
        };
        // Conditions of several atoms, by their sorted atom slots.
        let mut groups: Vec<Vec<u32>> = Vec::new();
        let mut conditions: Vec<Vec<Vec<u32>>> = Vec::new();
        for rule in rules.iter().flatten() {
            for conds in rule.iter().flatten() {
                conditions.push(
                    conds
                        .iter()
                        .map(|atoms| {
                            let mut s: Vec<u32> = atoms.iter().map(slot_of).collect();
                            s.sort_unstable();
                            s.dedup();
                            s
                        })
                        .collect(),
                );
            }
        }
        for conds in &conditions {
            for atoms in conds {
                if atoms.len() > 1 {
                    intern(&mut groups, atoms.clone());
                }
            }
        }
        let group_base = slots;
        slots += groups.len();
        let ors = groups
            .iter()
            .enumerate()
            .flat_map(|(g, atoms)| atoms.iter().map(move |&a| ((group_base + g) as u32, a)))
            .collect();
        let condition_slot = |atoms: &Vec<u32>| -> u32 {
            match atoms.as_slice() {
                [one] => *one,
                _ => groups
                    .iter()
                    .position(|g| g == atoms)
                    .map_or(FALSE, |g| (group_base + g) as u32),
            }
        };
        let wide_base = slots;
        let mut ands = Vec::new();
        let mut conditions = conditions.into_iter();
        let mut rule_slots = |present: bool| -> [u32; WIDTH] {
            let mut out = [TRUE; WIDTH];
            let Some(conds) = present.then(|| conditions.next()).flatten() else {
                return out;
            };
            let inputs: Vec<u32> = conds.iter().map(condition_slot).collect();
            if inputs.len() <= WIDTH {
                out[..inputs.len()].copy_from_slice(&inputs);
            } else {
                let wide = slots as u32;
                slots += 1;
                ands.extend(inputs.into_iter().map(|i| (wide, i)));
                out[0] = wide;
            }
            out
        };
        let mut links = Vec::with_capacity(rules.len());
        for rule in &rules {
            let (when, unless) = match rule {
                None => ([TRUE; WIDTH], None),
                Some([w, u]) => (
                    rule_slots(w.is_some()),
                    u.is_some().then(|| rule_slots(true)),
                ),
            };
            let mut slots = [TRUE; 2 * WIDTH];
            slots[..WIDTH].copy_from_slice(&when);
            match unless {
                Some(u) => slots[WIDTH..].copy_from_slice(&u),
                None => slots[WIDTH] = FALSE,
            }
            links.push(slots);
        }
        ScopeSet {
            methods,
            hosts,
            paths: paths.into_iter().map(PathAtom::new).collect(),
            names,
            name_atoms,
            host_base,
            path_base,
            ors,
            wide: wide_base..slots,
            ands,
            slots,
            links,
            scoped: rules.iter().map(Option::is_some).collect(),
        }
    }
}

/// Per-request slots on the stack up to this many (else on the heap).
const INLINE_SLOTS: usize = 512;

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
        self.scoped.iter().any(|&s| s)
    }

    /// Whether link `i` has a scope.
    pub fn has_scope(&self, i: usize) -> bool {
        self.scoped.get(i).is_some_and(|&s| s)
    }

    /// Decides a request with these facts and headers: calls `word(k, w)`
    /// for every 64 links in chain order, bit `j` of `w` set when link
    /// `64 * k + j` runs.
    pub fn decide(
        &self,
        facts: &super::Facts<'_>,
        headers: &impl HeaderSource<N>,
        word: impl FnMut(usize, u64),
    ) {
        if self.slots <= INLINE_SLOTS {
            let mut val = [0u8; INLINE_SLOTS];
            self.fill(facts, headers, &mut val);
            // Every slot is below `self.slots`: the mask only spares the
            // bounds check.
            self.links(|s| val[s as usize % INLINE_SLOTS], word);
        } else {
            let mut val = vec![0u8; self.slots];
            self.fill(facts, headers, &mut val);
            self.links(|s| val.get(s as usize).copied().unwrap_or(0), word);
        }
    }

    /// Every slot's value: atoms, then conditions of several values, then
    /// rules of many conditions.
    #[inline]
    fn fill(&self, facts: &super::Facts<'_>, headers: &impl HeaderSource<N>, val: &mut [u8]) {
        if let Some(t) = val.get_mut(TRUE as usize) {
            *t = 1;
        }
        self.test_atoms(facts, headers, val);
        for &(g, a) in &self.ors {
            let a = val.get(a as usize).copied().unwrap_or(0);
            if let Some(g) = val.get_mut(g as usize) {
                *g |= a;
            }
        }
        if let Some(wide) = val.get_mut(self.wide.clone()) {
            wide.fill(1);
        }
        for &(r, c) in &self.ands {
            let c = val.get(c as usize).copied().unwrap_or(0);
            if let Some(r) = val.get_mut(r as usize) {
                *r &= c;
            }
        }
    }

    /// Each link from the slots, 64 to a word.
    #[inline(always)]
    fn links(&self, at: impl Fn(u32) -> u8, mut word: impl FnMut(usize, u64)) {
        for (k, chunk) in self.links.chunks(64).enumerate() {
            let mut w = 0u64;
            for (j, l) in chunk.iter().enumerate() {
                let when = at(l[0]) & at(l[1]) & at(l[2]) & at(l[3]);
                let unless = at(l[4]) & at(l[5]) & at(l[6]) & at(l[7]);
                w |= u64::from(when & !unless & 1) << j;
            }
            word(k, w);
        }
    }

    /// Tests every atom.
    #[inline]
    fn test_atoms(&self, facts: &super::Facts<'_>, headers: &impl HeaderSource<N>, val: &mut [u8]) {
        let mut set = |slot: usize, v: bool| {
            if let Some(s) = val.get_mut(slot) {
                *s |= u8::from(v);
            }
        };
        let method = facts.method.as_bytes();
        for (i, m) in self.methods.iter().enumerate() {
            set(2 + i, bytes_eq(m, method));
        }
        let host = facts.host;
        for (i, h) in self.hosts.iter().enumerate() {
            set(self.host_base + i, h.matches(host));
        }
        let path = facts.path;
        let (head, tail) = (first8(path.as_bytes()), last8(path.as_bytes()));
        for (i, p) in self.paths.iter().enumerate() {
            set(self.path_base + i, p.matches(path, head, tail));
        }
        for (n, atoms) in self.names.iter().zip(&self.name_atoms) {
            let mut present = false;
            headers.any_value(n, |v| {
                present = true;
                for a in atoms {
                    if a.value.as_deref().is_some_and(|want| bytes_eq(want, v)) {
                        set(a.slot, true);
                    }
                }
                false
            });
            for a in atoms.iter().filter(|a| a.value.is_none()) {
                set(a.slot, present);
            }
        }
    }
}
