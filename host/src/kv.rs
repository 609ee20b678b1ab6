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
use std::time::{Duration, Instant};

/// Largest key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Most entries one plugin may hold.
pub const MAX_ENTRIES: usize = 100_000;

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
    /// The namespace holds [`MAX_ENTRIES`] live entries.
    #[error("store is full ({MAX_ENTRIES} entries)")]
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
                self.map.remove_if(key, |_, v| !v.live(now));
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
        self.map.insert(
            key.to_owned(),
            Value {
                bytes: value,
                expires: expiry(ttl_ms, now),
            },
        );
        Ok(())
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
                e.get_mut().bytes = next.to_string().into_bytes();
                Ok(next)
            }
            Entry::Occupied(mut e) => {
                e.insert(Value {
                    bytes: delta.to_string().into_bytes(),
                    expires: expiry(ttl_ms, now),
                });
                Ok(delta)
            }
            Entry::Vacant(e) => {
                e.insert(Value {
                    bytes: delta.to_string().into_bytes(),
                    expires: expiry(ttl_ms, now),
                });
                Ok(delta)
            }
        }
    }

    /// Remove `key`; whether a live value was there.
    pub fn delete(&self, key: &str) -> bool {
        let now = Instant::now();
        self.map.remove(key).is_some_and(|(_, v)| v.live(now))
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
        if self.map.len() < MAX_ENTRIES || self.map.contains_key(key) {
            return Ok(());
        }
        self.map.retain(|_, v| v.live(now));
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
