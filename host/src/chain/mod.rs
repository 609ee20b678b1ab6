//! A whole chain: loading every link of a manifest into an immutable
//! [`ChainSnapshot`], and walking requests through it (see [`walk`]).
//!
//! A snapshot is built completely (files read, components compiled and
//! type-checked, every `init` called) before anyone can see it, so publishing
//! it is one pointer swap and requests never observe a half-loaded chain.

pub mod body;
pub mod failure;
pub mod granted;
pub mod load;
pub mod revalidate;
pub mod walk;

use crate::cache::Cache;
use crate::limits::HeadLimits;
use crate::plugin::{Filter, Handler, Link};
use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// The current chain, swapped atomically on reload.
pub type SharedChain = Arc<ArcSwap<ChainSnapshot>>;

/// An immutable, fully loaded chain.
#[derive(Debug)]
pub struct ChainSnapshot {
    filters: Vec<Filter>,
    terminal: Option<Handler>,
    limits: HeadLimits,
    /// The largest `max_body_bytes` of the links that read the request body.
    request_body_limit: Option<u64>,
    hash: String,
    files: Vec<(PathBuf, String)>,
    cache_keys: Vec<[u8; 32]>,
    loaded_at: SystemTime,
    dir: PathBuf,
    /// The HTTP cache and how many filters come before it.
    cache: Option<(usize, Arc<Cache>)>,
}

impl ChainSnapshot {
    /// A chain with no links: requests go straight to the next hop.
    pub fn empty() -> ChainSnapshot {
        ChainSnapshot {
            filters: Vec::new(),
            terminal: None,
            limits: HeadLimits::default(),
            request_body_limit: None,
            hash: hex(&Sha256::digest(b"")),
            files: Vec::new(),
            cache_keys: Vec::new(),
            loaded_at: SystemTime::now(),
            dir: PathBuf::new(),
            cache: None,
        }
    }

    /// The HTTP cache, if the chain has one, and how many filters run before
    /// it (on every request); the rest run only on misses.
    pub fn cache(&self) -> Option<(usize, &Arc<Cache>)> {
        self.cache.as_ref().map(|(at, c)| (*at, c))
    }

    /// The links in request order.
    pub fn links(&self) -> impl Iterator<Item = &Link> {
        let filters = self.filters.iter().map(|f| &**f);
        filters.chain(self.terminal.iter().map(|h| &**h))
    }

    /// How many links the chain has.
    pub fn link_count(&self) -> usize {
        self.filters.len() + usize::from(self.terminal.is_some())
    }

    /// The links that filter: all but a terminal `wasi:http` handler.
    pub fn filters(&self) -> &[Filter] {
        &self.filters
    }

    /// The `wasi:http` handler that answers instead of the next hop, if the
    /// chain ends in one.
    pub fn terminal(&self) -> Option<&Handler> {
        self.terminal.as_ref()
    }

    /// The head limits a link's decision must keep.
    pub fn head_limits(&self) -> &HeadLimits {
        &self.limits
    }

    /// How much request body to read before the walk: the largest
    /// `max_body_bytes` among links that need the body, computed at load.
    pub fn request_body_limit(&self) -> Option<u64> {
        self.request_body_limit
    }

    /// SHA-256 over the manifest, every file it names and every file of a
    /// granted `config_dir`, hex: equal hashes mean the same chain.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Every file the chain was built from (relative to its directory), with
    /// its content hash.
    pub fn files(&self) -> &[(PathBuf, String)] {
        &self.files
    }

    /// The compile-cache and snapshot-cache keys of the components in use
    /// (to trim those caches when this chain goes live).
    pub fn cache_keys(&self) -> &[[u8; 32]] {
        &self.cache_keys
    }

    /// When this snapshot finished loading.
    pub fn loaded_at(&self) -> SystemTime {
        self.loaded_at
    }

    /// The directory it was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Files that differ between `self` (old) and `new`, as `changed x`,
    /// `added x` or `removed x`, for reload logs.
    pub fn changes_to(&self, new: &ChainSnapshot) -> Vec<String> {
        use std::collections::HashMap;
        // A granted directory may list thousands of files.
        let old: HashMap<_, _> = self.files.iter().map(|(p, h)| (p, h)).collect();
        let kept: HashMap<_, _> = new.files.iter().map(|(p, h)| (p, h)).collect();
        let mut out = Vec::new();
        for (path, hash) in &new.files {
            match old.get(path) {
                Some(&old) if old == hash => {}
                Some(_) => out.push(format!("changed {}", path.display())),
                None => out.push(format!("added {}", path.display())),
            }
        }
        for (path, _) in &self.files {
            if !kept.contains_key(path) {
                out.push(format!("removed {}", path.display()));
            }
        }
        out
    }
}

/// Lower-case hex of `bytes`, for content hashes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
