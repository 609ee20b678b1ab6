//! The in-memory key-value store behind the WIT `kv` import.
//!
//! Each plugin (by link name) gets its own [`Namespace`]; a plugin holds only
//! its own namespace, so it cannot name another plugin's keys. Namespaces live
//! in a [`KvStore`] that outlives chain reloads, so counters survive a config
//! change. Expired entries are dropped when touched, and swept when a
//! namespace is full.

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Largest key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Most entries one plugin may hold.
pub const MAX_ENTRIES: usize = 100_000;
/// Most bytes (keys, values and a fixed overhead per entry) one plugin may hold.
pub const MAX_BYTES: usize = 64 << 20;
/// Bytes charged per entry on top of its key and value.
const ENTRY_OVERHEAD: usize = 64;

fn cost(key: &str, value: &[u8]) -> usize {
    key.len() + value.len() + ENTRY_OVERHEAD
}

/// All namespaces of a process.
#[derive(Default, Clone)]
pub struct KvStore {
    namespaces: Arc<DashMap<String, Arc<Namespace>>>,
}

impl KvStore {
    /// The namespace of plugin `name`, created on first use.
    pub fn namespace(&self, name: &str) -> Arc<Namespace> {
        self.namespaces
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(Namespace::default()))
            .clone()
    }
}

struct Value {
    bytes: Vec<u8>,
    expires: Option<Instant>,
}

impl Value {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|t| t > now)
    }
}

/// One plugin's keys.
#[derive(Default)]
pub struct Namespace {
    map: DashMap<String, Value>,
    /// Bytes held, as charged by `cost`.
    bytes: AtomicUsize,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("entries", &self.map.len())
            .finish()
    }
}

/// Why a `set` or `increment` was refused; the message goes to the plugin.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KvError {
    /// Key over [`MAX_KEY_BYTES`].
    #[error("key is longer than {MAX_KEY_BYTES} bytes")]
    KeyTooLong,
    /// Value over [`MAX_VALUE_BYTES`].
    #[error("value is longer than {MAX_VALUE_BYTES} bytes")]
    ValueTooLong,
    /// The namespace holds [`MAX_ENTRIES`] live entries or [`MAX_BYTES`].
    #[error("store is full ({MAX_ENTRIES} entries or {MAX_BYTES} bytes)")]
    Full,
    /// `increment` on a value that is not a decimal i64.
    #[error("value is not an integer")]
    NotAnInteger,
    /// `increment` would overflow i64.
    #[error("integer overflow")]
    Overflow,
}

fn expiry(ttl_ms: Option<u64>, now: Instant) -> Option<Instant> {
    ttl_ms.map(|ms| now + Duration::from_millis(ms))
}

impl Namespace {
    /// The live value under `key`.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let now = Instant::now();
        let found = self.map.get(key).map(|v| (v.live(now), v.bytes.clone()));
        match found {
            Some((true, bytes)) => Some(bytes),
            Some((false, _)) => {
                if let Some((k, v)) = self.map.remove_if(key, |_, v| !v.live(now)) {
                    self.release(cost(&k, &v.bytes));
                }
                None
            }
            None => None,
        }
    }

    /// Store `value` under `key`.
    pub fn set(&self, key: &str, value: Vec<u8>, ttl_ms: Option<u64>) -> Result<(), KvError> {
        check_key(key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(KvError::ValueTooLong);
        }
        let now = Instant::now();
        self.make_room(key, now)?;
        let new = cost(key, &value);
        let value = Value {
            bytes: value,
            expires: expiry(ttl_ms, now),
        };
        match self.map.entry(key.to_owned()) {
            Entry::Occupied(mut e) => {
                self.charge(new, cost(key, &e.get().bytes))?;
                e.insert(value);
            }
            Entry::Vacant(e) => {
                self.charge(new, 0)?;
                e.insert(value);
            }
        }
        Ok(())
    }

    /// Account for replacing `old` charged bytes with `new`, if it fits.
    fn charge(&self, new: usize, old: usize) -> Result<(), KvError> {
        let held = self.bytes.load(Ordering::Relaxed);
        if held.saturating_sub(old).saturating_add(new) > MAX_BYTES {
            return Err(KvError::Full);
        }
        self.bytes.fetch_add(new, Ordering::Relaxed);
        self.release(old);
        Ok(())
    }

    fn release(&self, bytes: usize) {
        // Saturating: concurrent charges are approximate, never negative.
        let _ = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_sub(bytes))
            });
    }

    /// Bytes held, as charged against [`MAX_BYTES`].
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Atomically add `delta` to the integer under `key`.
    pub fn increment(&self, key: &str, delta: i64, ttl_ms: Option<u64>) -> Result<i64, KvError> {
        check_key(key)?;
        let now = Instant::now();
        self.make_room(key, now)?;
        match self.map.entry(key.to_owned()) {
            Entry::Occupied(mut e) if e.get().live(now) => {
                let current: i64 = std::str::from_utf8(&e.get().bytes)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or(KvError::NotAnInteger)?;
                let next = current.checked_add(delta).ok_or(KvError::Overflow)?;
                let bytes = next.to_string().into_bytes();
                self.charge(cost(key, &bytes), cost(key, &e.get().bytes))?;
                e.get_mut().bytes = bytes;
                Ok(next)
            }
            Entry::Occupied(mut e) => {
                let bytes = delta.to_string().into_bytes();
                self.charge(cost(key, &bytes), cost(key, &e.get().bytes))?;
                e.insert(Value {
                    bytes,
                    expires: expiry(ttl_ms, now),
                });
                Ok(delta)
            }
            Entry::Vacant(e) => {
                let bytes = delta.to_string().into_bytes();
                self.charge(cost(key, &bytes), 0)?;
                e.insert(Value {
                    bytes,
                    expires: expiry(ttl_ms, now),
                });
                Ok(delta)
            }
        }
    }

    /// Remove `key`; whether a live value was there.
    pub fn delete(&self, key: &str) -> bool {
        let now = Instant::now();
        self.map.remove(key).is_some_and(|(k, v)| {
            self.release(cost(&k, &v.bytes));
            v.live(now)
        })
    }

    /// Entries held, live or not yet swept.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the namespace holds nothing.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn make_room(&self, key: &str, now: Instant) -> Result<(), KvError> {
        let crowded = self.map.len() >= MAX_ENTRIES || self.bytes() > MAX_BYTES / 2;
        if !crowded || self.map.contains_key(key) {
            return Ok(());
        }
        // Sweep expired entries before refusing.
        self.map.retain(|k, v| {
            let live = v.live(now);
            if !live {
                self.release(cost(k, &v.bytes));
            }
            live
        });
        if self.map.len() < MAX_ENTRIES {
            Ok(())
        } else {
            Err(KvError::Full)
        }
    }
}

fn check_key(key: &str) -> Result<(), KvError> {
    if key.len() > MAX_KEY_BYTES {
        Err(KvError::KeyTooLong)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_private_and_shared_by_name() {
        let store = KvStore::default();
        let a = store.namespace("a");
        a.set("k", b"1".to_vec(), None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.namespace("b").get("k"), None);
        assert_eq!(store.namespace("a").get("k"), Some(b"1".to_vec()));
    }

    #[test]
    fn increment_counts_and_rejects_non_integers() {
        let ns = Namespace::default();
        assert_eq!(ns.increment("c", 2, None), Ok(2));
        assert_eq!(ns.increment("c", -5, None), Ok(-3));
        ns.set("s", b"x".to_vec(), None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ns.increment("s", 1, None), Err(KvError::NotAnInteger));
        ns.set("m", i64::MAX.to_string().into_bytes(), None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ns.increment("m", 1, None), Err(KvError::Overflow));
    }

    #[test]
    fn expired_entries_vanish() {
        let ns = Namespace::default();
        ns.set("t", b"v".to_vec(), Some(0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ns.get("t"), None);
        assert!(!ns.delete("t"));
        // An expired counter restarts from the delta with the new ttl.
        ns.increment("n", 5, Some(0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ns.increment("n", 1, None), Ok(1));
    }

    #[test]
    fn bytes_are_accounted_and_capped() {
        let ns = Namespace::default();
        ns.set("a", vec![0; 1000], None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ns.bytes(), 1 + 1000 + ENTRY_OVERHEAD);
        ns.set("a", vec![0; 10], None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ns.bytes(),
            1 + 10 + ENTRY_OVERHEAD,
            "replacing releases the old value"
        );
        assert!(ns.delete("a"));
        assert_eq!(ns.bytes(), 0);
        let mut stored = 0;
        for i in 0.. {
            match ns.set(&format!("k{i}"), vec![0; MAX_VALUE_BYTES], None) {
                Ok(()) => stored += 1,
                Err(e) => {
                    assert_eq!(e, KvError::Full);
                    break;
                }
            }
        }
        assert!(ns.bytes() <= MAX_BYTES);
        // 64 MiB of 64 KiB values, less the per-entry overhead.
        assert!((1000..1024).contains(&stored), "{stored}");
    }

    #[test]
    fn limits_are_enforced() {
        let ns = Namespace::default();
        assert_eq!(
            ns.set(&"k".repeat(MAX_KEY_BYTES + 1), vec![], None),
            Err(KvError::KeyTooLong)
        );
        assert_eq!(
            ns.set("k", vec![0; MAX_VALUE_BYTES + 1], None),
            Err(KvError::ValueTooLong)
        );
    }
}
