//! The plugin's private key-value store (see the WIT `kv` interface).
//!
//! Entries live in the host process, shared by every instance of this plugin
//! and invisible to other plugins. Use it for counters and small caches.

use crate::sys::kv as raw;
use std::time::Duration;

/// The value under `key`, if present and not expired.
pub fn get(key: &str) -> Option<Vec<u8>> {
    raw::get(key)
}

/// Store `value` under `key`, expiring after `ttl` if given.
pub fn set(key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), String> {
    raw::set(key, value, ttl.map(millis))
}

/// Atomically add `delta` to the integer under `key` (absent counts as 0;
/// a new key gets `ttl`) and return the new value.
pub fn increment(key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64, String> {
    raw::increment(key, delta, ttl.map(millis))
}

/// Remove `key`; returns whether it was present.
pub fn delete(key: &str) -> bool {
    raw::delete(key)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
