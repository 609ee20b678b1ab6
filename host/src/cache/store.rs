//! The bounded store: `moka` with a weigher in bytes and the operator's
//! budget as capacity (its TinyLFU admission keeps one-hit wonders from
//! flushing popular objects), entries that expire once they can no longer
//! serve, and `Vary` variants under a per-URL slot.
//!
//! A URL stored without `Vary` has one slot holding the response. One stored
//! with `Vary` has a slot naming the fields and a generation; each variant
//! sits under `primary + generation + secondary key`. Replacing or removing
//! the slot orphans the old variants (they can never be found again and age
//! out), so invalidating a URL is one removal.

use super::key;
use super::policy::{Freshness, Governing};
use crate::telemetry::metrics::CacheMetrics;
use bytes::Bytes;
use http::StatusCode;
use http::header::{HeaderMap, HeaderName};
use moka::notification::RemovalCause;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One stored response.
#[derive(Debug)]
pub struct Entry {
    /// Status.
    pub status: StatusCode,
    /// The head as served from the store (hop-by-hop, targeted and
    /// surrogate fields, `Set-Cookie` and `Age` removed).
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// The URL part of its key (for purge by URL).
    pub url: String,
    /// Surrogate keys from the origin and from links.
    pub surrogate_keys: Vec<String>,
    /// The response directives that governed it.
    pub governing: Governing,
    /// Its freshness lifetime.
    pub lifetime: Duration,
    /// Its age when it was received.
    pub initial_age: Duration,
    /// When it was received.
    pub stored_at: Instant,
    /// The fields its `Vary` named.
    pub vary: Vec<HeaderName>,
    /// Set by a soft purge: stale from now on, whatever its lifetime.
    pub marked_stale: AtomicBool,
}

impl Entry {
    /// Its current age (RFC 9111 §4.2.3).
    pub fn age(&self) -> Duration {
        self.initial_age + self.stored_at.elapsed()
    }

    /// What decides whether it may serve.
    pub fn freshness(&self) -> Freshness<'_> {
        Freshness {
            age: self.age(),
            lifetime: self.lifetime,
            directives: &self.governing.directives,
            marked_stale: self.marked_stale.load(Ordering::Relaxed),
        }
    }

    /// What the entry costs in memory, as the budget counts it: the body,
    /// the head and the URL, plus what the store spends around every object
    /// (its node and expiry timer, the entry's fields and allocations, the
    /// key). [`ENTRY_OVERHEAD`] is measured: 32 MB of 1 KiB objects cost
    /// about 1.9 KB each beyond their bytes (`bench/cache.py`'s memory run).
    fn weight(&self) -> u64 {
        let head: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + HEADER_OVERHEAD)
            .sum();
        (head + self.body.len() + self.url.len() + ENTRY_OVERHEAD) as u64
    }

    fn has_validators(&self) -> bool {
        self.headers.contains_key(http::header::ETAG)
            || self.headers.contains_key(http::header::LAST_MODIFIED)
    }
}

/// What one key holds.
#[derive(Debug, Clone)]
enum Slot {
    Entry(Arc<Entry>),
    Vary {
        names: Arc<[HeaderName]>,
        generation: u64,
    },
}

impl Slot {
    fn weight(&self, key: &str) -> u32 {
        let own = match self {
            Slot::Entry(e) => e.weight(),
            Slot::Vary { names, .. } => 64 + 32 * names.len() as u64,
        };
        u32::try_from(own + key.len() as u64).unwrap_or(u32::MAX)
    }
}

/// Expire an entry once it can serve no request: after its lifetime plus
/// its stale windows (and `keep_stale` more when it can be revalidated).
struct Expiry {
    keep_stale: Duration,
}

impl Expiry {
    fn of(&self, slot: &Slot) -> Option<Duration> {
        let Slot::Entry(e) = slot else {
            return None;
        };
        let d = &e.governing.directives;
        let window = Duration::from_secs(
            d.stale_while_revalidate
                .unwrap_or(0)
                .max(d.stale_if_error.unwrap_or(0)),
        );
        let keep = if e.has_validators() {
            self.keep_stale
        } else {
            Duration::ZERO
        };
        let left = e.lifetime.saturating_sub(e.initial_age);
        // At least a second, so a response stored stale can still be
        // validated by the requests already waiting for it.
        Some((left + window.max(keep)).max(Duration::from_secs(1)))
    }
}

impl moka::Expiry<Arc<str>, Slot> for Expiry {
    fn expire_after_create(&self, _: &Arc<str>, v: &Slot, _: Instant) -> Option<Duration> {
        self.of(v)
    }

    fn expire_after_update(
        &self,
        _: &Arc<str>,
        v: &Slot,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.of(v)
    }
}

/// Objects at least this heavy make the store evict at once on insert,
/// bounding how far pending evictions overshoot the budget (64 writes of
/// less than this: 4 MiB).
/// Bytes charged per stored object beyond its body, head and URL.
const ENTRY_OVERHEAD: usize = 2048;
/// Bytes charged per header field beyond its name and value.
const HEADER_OVERHEAD: usize = 48;

const SETTLE_WEIGHT: u32 = 64 * 1024;

/// The store of one cache.
pub struct Store {
    map: moka::sync::Cache<Arc<str>, Slot>,
    generation: AtomicU64,
    metrics: Arc<CacheMetrics>,
}

impl Store {
    /// A store holding at most `max_bytes`, counting into `metrics`.
    pub fn new(max_bytes: u64, keep_stale: Duration, metrics: Arc<CacheMetrics>) -> Store {
        let m = metrics.clone();
        let map = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &Arc<str>, v: &Slot| v.weight(k))
            .expire_after(Expiry { keep_stale })
            .eviction_listener(move |k: Arc<Arc<str>>, v: Slot, cause: RemovalCause| {
                m.stored_bytes.dec_by(i64::from(v.weight(&k)));
                if matches!(v, Slot::Entry(_)) {
                    m.objects.dec();
                }
                if cause == RemovalCause::Size {
                    m.evictions.inc();
                }
            })
            .build();
        Store {
            map,
            generation: AtomicU64::new(1),
            metrics,
        }
    }

    /// The stored response for `primary` that `request` selects.
    pub fn lookup(&self, primary: &str, request: &HeaderMap) -> Option<Arc<Entry>> {
        match self.map.get(primary)? {
            Slot::Entry(e) => Some(e),
            Slot::Vary { names, generation } => {
                let k = variant_key(primary, generation, &key::secondary(&names, request));
                match self.map.get(k.as_str())? {
                    Slot::Entry(e) => Some(e),
                    Slot::Vary { .. } => None,
                }
            }
        }
    }

    /// Store `entry` for `primary`, selected by `request`'s values of the
    /// fields its `Vary` names.
    pub fn insert(&self, primary: &str, request: &HeaderMap, entry: Entry) {
        let entry = Arc::new(entry);
        if entry.vary.is_empty() {
            self.put(Arc::from(primary), Slot::Entry(entry));
            return;
        }
        let names: Arc<[HeaderName]> = entry.vary.clone().into();
        let generation = match self.map.get(primary) {
            Some(Slot::Vary {
                names: old,
                generation,
            }) if old == names => generation,
            _ => {
                let generation = self.generation.fetch_add(1, Ordering::Relaxed);
                self.put(
                    Arc::from(primary),
                    Slot::Vary {
                        names: names.clone(),
                        generation,
                    },
                );
                generation
            }
        };
        let k = variant_key(primary, generation, &key::secondary(&names, request));
        self.put(Arc::from(k.as_str()), Slot::Entry(entry));
    }

    fn put(&self, k: Arc<str>, slot: Slot) {
        let weight = slot.weight(&k);
        self.metrics.stored_bytes.inc_by(i64::from(weight));
        if matches!(slot, Slot::Entry(_)) {
            self.metrics.objects.inc();
        }
        self.map.insert(k, slot);
        // moka evicts in batches (every 64 writes, or on its timer): with
        // large objects a batch could overshoot the budget by gigabytes, so
        // a large insert settles the store at once.
        if weight >= SETTLE_WEIGHT {
            self.map.run_pending_tasks();
        }
    }

    /// Forget `primary` and every variant under it (invalidation after an
    /// unsafe method, RFC 9111 §4.4).
    pub fn invalidate(&self, primary: &str) {
        self.map.invalidate(primary);
    }

    /// Delete (or with `soft`, mark stale) every entry `matches` selects;
    /// how many matched.
    pub fn purge(&self, soft: bool, matches: impl Fn(&Entry) -> bool) -> usize {
        let mut n = 0;
        for (k, slot) in self.map.iter() {
            if let Slot::Entry(e) = slot
                && matches(&e)
            {
                n += 1;
                if soft {
                    e.marked_stale.store(true, Ordering::Relaxed);
                } else {
                    self.map.invalidate(&**k);
                }
            }
        }
        self.map.run_pending_tasks();
        n
    }

    /// Entries stored (approximate until pending work runs).
    pub fn entry_count(&self) -> u64 {
        self.map.run_pending_tasks();
        self.map.entry_count()
    }
}

fn variant_key(primary: &str, generation: u64, secondary: &str) -> String {
    format!("{primary}\0{generation}{secondary}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn entry(url: &str, vary: &[&'static str], body: usize, keys: &[&str]) -> Entry {
        Entry {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from(vec![b'x'; body]),
            url: url.into(),
            surrogate_keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            governing: Governing::default(),
            lifetime: Duration::from_secs(60),
            initial_age: Duration::ZERO,
            stored_at: Instant::now(),
            vary: vary.iter().map(|v| HeaderName::from_static(v)).collect(),
            marked_stale: AtomicBool::new(false),
        }
    }

    fn req(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert(*n, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn variants_are_selected_by_vary_and_invalidated_together() {
        let s = Store::new(1 << 20, Duration::ZERO, Arc::default());
        let en = req(&[("accept-language", "en")]);
        let de = req(&[("accept-language", "de")]);
        s.insert("k", &en, entry("u", &["accept-language"], 1, &[]));
        s.insert("k", &de, entry("u", &["accept-language"], 2, &[]));
        assert_eq!(s.lookup("k", &en).map(|e| e.body.len()), Some(1));
        assert_eq!(s.lookup("k", &de).map(|e| e.body.len()), Some(2));
        assert!(s.lookup("k", &req(&[])).is_none());
        s.invalidate("k");
        assert!(s.lookup("k", &en).is_none());
        // A new slot does not resurrect the old variants.
        s.insert("k", &de, entry("u", &["accept-language"], 3, &[]));
        assert!(s.lookup("k", &en).is_none());
    }

    #[test]
    fn purge_by_url_and_key_hard_and_soft() {
        let m = Arc::new(CacheMetrics::default());
        let s = Store::new(1 << 20, Duration::ZERO, m.clone());
        s.insert("a", &req(&[]), entry("http://h/a", &[], 10, &["k1"]));
        s.insert("b", &req(&[]), entry("http://h/b", &[], 10, &["k1", "k2"]));
        assert_eq!(m.objects.get(), 2);
        assert_eq!(
            s.purge(true, |e| e.surrogate_keys.iter().any(|k| k == "k2")),
            1
        );
        assert!(
            s.lookup("b", &req(&[]))
                .is_some_and(|e| !e.freshness().fresh())
        );
        assert!(
            s.lookup("a", &req(&[]))
                .is_some_and(|e| e.freshness().fresh())
        );
        assert_eq!(s.purge(false, |e| e.url == "http://h/a"), 1);
        assert!(s.lookup("a", &req(&[])).is_none());
        assert_eq!(m.objects.get(), 1);
    }

    #[test]
    fn the_byte_budget_evicts() {
        let m = Arc::new(CacheMetrics::default());
        let s = Store::new(100_000, Duration::ZERO, m.clone());
        for i in 0..100 {
            s.insert(&format!("k{i}"), &req(&[]), entry("u", &[], 10_000, &[]));
        }
        s.map.run_pending_tasks();
        assert!(
            s.map.weighted_size() <= 100_000,
            "{}",
            s.map.weighted_size()
        );
        assert!(m.stored_bytes.get() <= 100_000);
        assert!(m.evictions.get() > 0 || s.entry_count() < 100);
    }
}
