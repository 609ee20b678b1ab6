//! The one wasmtime [`Engine`] a process uses, with the pieces every plugin
//! shares: the pooling allocator, the epoch ticker that bounds guest CPU time,
//! the [`Linker`] with the host imports, and a compile cache keyed by content.
//!
//! Everything here is set up once; the request path only reads it.

use crate::config::MAX_MEMORY_LIMIT_MB;
use crate::plugin::bindings;
use crate::plugin::state::HostState;
use dashmap::DashMap;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub mod ticker;

/// How often the epoch advances. Guest deadlines are checked at this
/// granularity, so a runaway call overruns its `timeout_ms` by at most about
/// one tick.
pub use ticker::EPOCH_TICK;

/// A pre-initialised component (see `plugin::preinit`) and what its `init`
/// declared, kept here with the other compiled components so that links
/// with the same key share it.
#[derive(Clone)]
pub struct Snapshot {
    /// The initialised component, compiled.
    pub component: Component,
    /// SHA-256 of the snapshot's bytes (its key in the compile cache).
    pub content_hash: [u8; 32],
    /// What `init` returned when the snapshot was taken.
    pub needs: bindings::Needs,
}

/// Most core instances one component may have (see the pool sizing).
pub const CORE_INSTANCES_PER_COMPONENT: u32 = 16;

/// Bytes of each linear memory slot kept resident between instances.
const KEEP_RESIDENT: usize = 2 << 20;

/// Sizing and caching of the engine.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// How many component instances may exist at once, across all links and
    /// requests (an in-flight request holds one per link that ran). Beyond it,
    /// requests get 503.
    pub max_instances: u32,
    /// Directory for wasmtime's on-disk cache of compiled code, keyed by the
    /// component bytes and engine settings: a restart then skips compiling
    /// unchanged plugins. `None` keeps only the in-memory cache.
    pub compile_cache: Option<std::path::PathBuf>,
    /// Enforce `timeout_ms` and `memory_limit_mb`. Always on in the server;
    /// off only to measure what the limits cost (the chain benchmark).
    pub limits: bool,
    /// Pre-initialise plugins at load (run `init` once and serve instances
    /// from a snapshot, see `plugin::preinit`). On by default; off to
    /// measure what it gives, or to debug a plugin.
    pub preinit: bool,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            max_instances: 1000,
            compile_cache: None,
            limits: true,
            preinit: true,
        }
    }
}

/// Errors building the engine or compiling a component.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// wasmtime rejected the engine configuration (for example, the machine
    /// cannot reserve the pool's address space).
    #[error("cannot create the wasm engine: {0}")]
    Setup(String),
    /// The bytes are not a valid WebAssembly component.
    #[error("not a valid WebAssembly component: {0}")]
    Compile(String),
}

/// The shared engine, linker and compile cache. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    engine: Engine,
    limits: bool,
    preinit: bool,
    linker: Linker<HostState>,
    /// Compiles the instrumented copy a snapshot is taken from: it runs
    /// `init` once, so it is compiled for speed of compiling, not of running.
    preinit_engine: Engine,
    preinit_linker: Linker<HostState>,
    cache: DashMap<[u8; 32], Component>,
    snapshots: DashMap<[u8; 32], Snapshot>,
}

impl Runtime {
    /// Build the engine, start its epoch ticker and link the host imports.
    pub fn new(settings: EngineSettings) -> Result<Runtime, EngineError> {
        let setup = |e: wasmtime::Error| EngineError::Setup(format!("{e:#}"));
        let n = settings.max_instances.max(1);
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(n)
            // Core instances per component: a Rust wasip2 plugin has 3, a
            // QuickJS one 8, a componentize-py one 14. Slots only cost
            // bookkeeping until used, so size for the largest.
            .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
            .total_core_instances(n.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
            .total_memories(n.saturating_mul(2))
            .total_tables(n.saturating_mul(4))
            .total_stacks(n)
            .max_memory_size(to_usize(MAX_MEMORY_LIMIT_MB << 20))
            // Reset reused slots by rewriting the pages a request touched
            // (found with PAGEMAP_SCAN on Linux >= 6.7) instead of unmapping
            // them: a fresh instance then takes no page faults on memory its
            // predecessor used. Measured in docs/benchmarks.md.
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(64 * 1024)
            .async_stack_keep_resident(64 * 1024);
        let mut config = wasmtime::Config::new();
        config
            .enable_incremental_compilation(FunctionCache::new())
            .map_err(setup)?
            .wasm_component_model(true)
            .epoch_interruption(settings.limits)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        // On disk, for both engines: the instrumented copy a snapshot is
        // taken from is compiled at every load too (its entries differ by
        // the engine's settings, so the two never collide).
        let disk_cache = match settings
            .compile_cache
            .as_deref()
            .filter(|d| usable_cache_dir(d))
        {
            Some(dir) => {
                let mut cache = wasmtime::CacheConfig::new();
                cache.with_directory(dir);
                Some(wasmtime::Cache::new(cache).map_err(setup)?)
            }
            None => None,
        };
        config.cache(disk_cache.clone());
        lower_compile_priority();
        let engine = Engine::new(&config).map_err(setup)?;
        let mut linker = Linker::new(&engine);
        crate::plugin::state::add_to_linker(&mut linker).map_err(setup)?;
        let mut quick = wasmtime::Config::new();
        quick
            .enable_incremental_compilation(FunctionCache::new())
            .map_err(setup)?
            .wasm_component_model(true)
            .epoch_interruption(settings.limits)
            .cranelift_opt_level(wasmtime::OptLevel::None)
            .cache(disk_cache);
        let preinit_engine = Engine::new(&quick).map_err(setup)?;
        let mut preinit_linker = Linker::new(&preinit_engine);
        crate::plugin::state::add_to_linker(&mut preinit_linker).map_err(setup)?;
        for e in [&engine, &preinit_engine] {
            ticker::register(e.weak()).map_err(|e| {
                EngineError::Setup(format!("cannot start the epoch ticker thread: {e}"))
            })?;
        }
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                limits: settings.limits,
                preinit: settings.preinit,
                linker,
                preinit_engine,
                preinit_linker,
                cache: DashMap::new(),
                snapshots: DashMap::new(),
            }),
        })
    }

    /// Whether time and memory limits are enforced.
    pub fn limits(&self) -> bool {
        self.inner.limits
    }

    /// The engine and linker a snapshot's instrumented copy runs on.
    pub fn preinit_engine(&self) -> (&Engine, &Linker<HostState>) {
        (&self.inner.preinit_engine, &self.inner.preinit_linker)
    }

    /// Whether plugins are pre-initialised at load.
    pub fn preinit(&self) -> bool {
        self.inner.preinit
    }

    /// A snapshot taken earlier for the same component, config and grants.
    pub fn snapshot(&self, key: &[u8; 32]) -> Option<Snapshot> {
        self.inner.snapshots.get(key).map(|s| s.clone())
    }

    /// Keep `snapshot` for reloads that do not change its link.
    pub fn keep_snapshot(&self, key: [u8; 32], snapshot: Snapshot) {
        self.inner.snapshots.insert(key, snapshot);
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The linker holding WASI and the `edgechain:plugin` host imports.
    pub fn linker(&self) -> &Linker<HostState> {
        &self.inner.linker
    }

    /// Compile `bytes`, or return the cached component with the same content.
    /// Compilation is CPU-heavy: call it off the async request path (the chain
    /// loader runs in `spawn_blocking`); the calling thread is given a lower
    /// priority, so a big compile during a reload yields the CPU to serving.
    pub fn compile(&self, bytes: &[u8]) -> Result<Component, EngineError> {
        lower_thread_priority();
        let key: [u8; 32] = Sha256::digest(bytes).into();
        if let Some(hit) = self.inner.cache.get(&key) {
            return Ok(hit.clone());
        }
        if let Some(why) = not_a_component(bytes) {
            return Err(EngineError::Compile(why.into()));
        }
        let component = Component::new(&self.inner.engine, bytes)
            .map_err(|e| EngineError::Compile(format!("{e:#}")))?;
        self.inner.cache.insert(key, component.clone());
        Ok(component)
    }

    /// Drop cached components and snapshots not in `keep` (the keys the live
    /// chain uses), so a long-running process does not hold every version it
    /// ever loaded.
    pub fn retain_cache(&self, keep: &[[u8; 32]]) {
        self.inner.cache.retain(|k, _| keep.contains(k));
        self.inner.snapshots.retain(|k, _| keep.contains(k));
    }

    /// How many compiled components are cached.
    pub fn cached_components(&self) -> usize {
        self.inner.cache.len()
    }
}

/// Why `bytes` cannot be a component, for the two mistakes an operator
/// makes most (a file that is not wasm, a core module), in their words
/// rather than the parser's.
fn not_a_component(bytes: &[u8]) -> Option<&'static str> {
    if !bytes.starts_with(b"\0asm") {
        return Some("not a WebAssembly file (it does not start with the `\\0asm` magic bytes)");
    }
    // Version 1, layer 0: a core module.
    if bytes.get(4..8) == Some(&[1, 0, 0, 0]) {
        return Some(
            "a core WebAssembly module, not a component: build the plugin with `cargo build --target wasm32-wasip2` (or `cargo component build`, `edgechain build`)",
        );
    }
    None
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// Cranelift's incremental cache, in memory: compiled functions by the hash
/// of their code. Snapshots of one component with different configs differ
/// only in their data, so each compiles almost entirely from this cache
/// (as do reloads that change a config but not a module).
#[derive(Debug)]
struct FunctionCache {
    entries: DashMap<Vec<u8>, Vec<u8>>,
    bytes: std::sync::atomic::AtomicUsize,
}

/// Most bytes of compiled functions kept; beyond it new ones are not cached.
const FUNCTION_CACHE_BYTES: usize = 256 << 20;

impl FunctionCache {
    fn new() -> Arc<FunctionCache> {
        Arc::new(FunctionCache {
            entries: DashMap::new(),
            bytes: std::sync::atomic::AtomicUsize::new(0),
        })
    }
}

impl wasmtime::CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
        self.entries
            .get(key)
            .map(|v| std::borrow::Cow::Owned(v.clone()))
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        use std::sync::atomic::Ordering;
        let size = key.len() + value.len();
        if self.bytes.fetch_add(size, Ordering::Relaxed) + size > FUNCTION_CACHE_BYTES {
            self.bytes.fetch_sub(size, Ordering::Relaxed);
            return false;
        }
        self.entries.insert(key.to_vec(), value);
        true
    }
}

/// Whether `dir` can hold wasmtime's on-disk compile cache: it exists or can
/// be made, and is writable. Checked once, so an unwritable directory costs
/// one warning, not one per compile.
fn usable_cache_dir(dir: &std::path::Path) -> bool {
    // Per process: servers sharing one cache directory probe it at once.
    let probe = dir.join(format!(".edgechain-write-test-{}", std::process::id()));
    let usable = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&probe, b"ok"))
        .and_then(|()| std::fs::remove_file(&probe));
    match usable {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "the compile cache directory is not writable; compiling without it");
            false
        }
    }
}

/// Nice value of threads that compile.
const COMPILE_NICENESS: i32 = 10;

/// Lower the priority of the calling thread (Linux: per thread).
fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        thread_local! {
            static LOWERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        }
        if LOWERED.with(|l| l.replace(true)) {
            return;
        }
        // SAFETY: gettid and setpriority take and return plain integers.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid);
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, COMPILE_NICENESS);
        }
    }
}

/// wasmtime compiles functions in parallel on rayon's global pool: start its
/// threads at a lower priority than the threads that serve.
fn lower_compile_priority() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("edgechain-compile-{i}"))
            .start_handler(|_| lower_thread_priority())
            .build_global();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_are_not_components_are_named_plainly() {
        assert!(not_a_component(b"hello\n").is_some_and(|w| w.contains("magic")));
        assert!(not_a_component(b"\0asm\x01\0\0\0").is_some_and(|w| w.contains("core")));
        assert_eq!(not_a_component(b"\0asm\x0d\0\x01\0"), None);
        assert!(not_a_component(b"").is_some());
    }
}
