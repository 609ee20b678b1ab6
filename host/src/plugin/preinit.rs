//! Initialise once, instantiate many: run a plugin's `init(config)` at load,
//! snapshot the initialised instance's memory and globals into a new
//! component (wasmtime's Wizer, in process), and serve every fresh instance
//! from that snapshot. Each per-request instance then starts with its config
//! already parsed and its tables built (copy-on-write from the snapshot),
//! instead of re-running the plugin's construction on every request.
//!
//! The rules a snapshot keeps:
//! - It holds no resource handles. A plugin whose `init` left WASI resources
//!   open (it printed, opened a file) would carry handles that mean nothing
//!   in a new instance, so such a plugin is not snapshotted: it is served as
//!   before, constructing itself in each instance.
//! - What `init` drew at random (a `HashMap`'s hash keys, an RNG seeded in
//!   `init`) is shared by every instance made from the snapshot. Draw
//!   per-request randomness in the hooks.
//! - Components wasmtime's Wizer cannot snapshot (it refuses, or panics)
//!   are served without a snapshot, the same way. The JavaScript and Python
//!   SDKs' components are snapshotted like Rust ones; their runtimes reseed
//!   their random generators on first use after `init`.
//!
//! The whole job (instrumenting, two compilations, `init`, the snapshot) runs
//! on a blocking thread, never on a thread that serves requests.

use super::bindings;
use super::call::{LinkFailure, arm, guarded};
use super::state::{HostState, LinkContext};
use crate::engine::{Runtime, Snapshot};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::Store;
use wasmtime::component::{Component, Instance, WasmList};
use wasmtime_wizer::{ComponentInstanceState, Wizer};

/// The snapshot cache key of a link: everything `init` can depend on (the
/// component, its config, the link's name, grants and limits).
pub fn key(
    module_hash: &[u8; 32],
    context: &LinkContext,
    spec: &crate::config::LinkSpec,
) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(module_hash);
    for part in [context.config.as_bytes(), context.name.as_bytes()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    for (k, v) in &context.env {
        h.update((k.len() as u64).to_le_bytes());
        h.update(k.as_bytes());
        h.update((v.len() as u64).to_le_bytes());
        h.update(v.as_bytes());
    }
    if let Some(dir) = &context.config_dir {
        h.update(dir.as_os_str().as_encoded_bytes());
    }
    for authority in &spec.grants.http {
        h.update((authority.len() as u64).to_le_bytes());
        h.update(authority.as_bytes());
    }
    h.update(spec.memory_limit_mb.to_le_bytes());
    h.update(spec.init_timeout_ms.to_le_bytes());
    h.finalize().into()
}

/// Why a plugin was not pre-initialised.
#[derive(Debug, thiserror::Error)]
pub enum PreinitError {
    /// The plugin cannot be snapshotted; serve it without one.
    #[error("not snapshotted: {0}")]
    Unsupported(String),
    /// `init` rejected the config.
    #[error("{0}")]
    Rejected(String),
    /// `init` failed (trap, timeout, memory): the load fails as it would
    /// without pre-initialisation.
    #[error("{0}")]
    Init(LinkFailure),
}

fn unsupported(e: impl std::fmt::Display) -> PreinitError {
    PreinitError::Unsupported(format!("{e:#}"))
}

/// Pre-initialise the component `bytes` with `config` for the link
/// `context`, within `budget` of the plugin's own time for instantiating and
/// running `init`.
pub async fn snapshot(
    runtime: &Runtime,
    bytes: Arc<[u8]>,
    context: Arc<LinkContext>,
    config: Arc<str>,
    budget: Duration,
) -> Result<Snapshot, PreinitError> {
    let handle = tokio::runtime::Handle::current();
    let runtime = runtime.clone();
    tokio::task::spawn_blocking(move || {
        handle.block_on(take(&runtime, &bytes, context, &config, budget))
    })
    .await
    // A panic inside Wizer ends up here: serve the plugin without a snapshot.
    .map_err(unsupported)?
}

async fn take(
    runtime: &Runtime,
    bytes: &[u8],
    context: Arc<LinkContext>,
    config: &str,
    budget: Duration,
) -> Result<Snapshot, PreinitError> {
    let mut wizer = Wizer::new();
    // `init` is called through the bindings; there is no Wizer init export.
    wizer.keep_init_func(true);
    let (cx, instrumented) = wizer.instrument_component(bytes).map_err(unsupported)?;
    let (engine, linker) = runtime.preinit_engine();
    let component = Component::new(engine, &instrumented).map_err(unsupported)?;

    let mut store = HostState::new_store(engine, context)
        .map_err(|e| PreinitError::Init(LinkFailure::Instantiate(e)))?;
    // Wizer's accessor grows each memory by a page or two to copy it out.
    store.data_mut().limiter.allow_extra(1 << 20);
    let instance = guarded(&mut store, budget, async |s| {
        linker.instantiate_async(s, &component).await
    })
    .await
    .map_err(PreinitError::Init)?;
    let guest = bindings::Plugin::new(&mut store, &instance).map_err(unsupported)?;
    let declared = guarded(&mut store, budget, async |s| {
        guest.edgechain_plugin_filter().call_init(s, config).await
    })
    .await
    .map_err(PreinitError::Init)?;
    let needs = declared.map_err(PreinitError::Rejected)?;
    if !store.data_mut().resources_are_closed() {
        return Err(PreinitError::Unsupported(
            "init left WASI resources open (stdio, files): a snapshot would hold dead handles"
                .into(),
        ));
    }

    arm(&mut store, budget);
    let mut access = Access {
        store: &mut store,
        instance,
        failed: None,
    };
    let wasm = wizer.snapshot_component(&cx, &mut access).await;
    if let Some(e) = access.failed.take() {
        return Err(unsupported(e));
    }
    let wasm = wasm.map_err(unsupported)?;
    let component = runtime.compile(&wasm).map_err(unsupported)?;
    Ok(Snapshot {
        component,
        content_hash: sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(
            &wasm,
        ))
        .into(),
        needs,
    })
}

/// Wizer's view of the initialised instance: its accessor functions, called
/// through wasmtime. Errors cannot be returned through Wizer's trait, so the
/// first is kept and checked after the snapshot.
struct Access<'a> {
    store: &'a mut Store<HostState>,
    instance: Instance,
    failed: Option<wasmtime::Error>,
}

impl Access<'_> {
    async fn get<R>(&mut self, instance: &str, func: &str) -> Option<R>
    where
        R: wasmtime::component::ComponentType + wasmtime::component::Lift + Send + Sync + 'static,
    {
        if self.failed.is_some() {
            return None;
        }
        let result: wasmtime::Result<R> = async {
            let (_, inst) = self
                .instance
                .get_export(&mut *self.store, None, instance)
                .ok_or_else(|| wasmtime::format_err!("no export {instance}"))?;
            let (_, f) = self
                .instance
                .get_export(&mut *self.store, Some(&inst), func)
                .ok_or_else(|| wasmtime::format_err!("no export {instance}/{func}"))?;
            let f = self
                .instance
                .get_typed_func::<(), (R,)>(&mut *self.store, f)?;
            Ok(f.call_async(&mut *self.store, ()).await?.0)
        }
        .await;
        match result {
            Ok(r) => Some(r),
            Err(e) => {
                self.failed = Some(e);
                None
            }
        }
    }
}

impl ComponentInstanceState for Access<'_> {
    async fn call_func_ret_list_u8(
        &mut self,
        instance: &str,
        func: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) {
        match self.get::<WasmList<u8>>(instance, func).await {
            Some(list) => contents(list.as_le_slice(&*self.store)),
            // Wizer cannot take an error here, and an empty memory would make
            // it panic later: panic now, contained by the blocking task.
            None => panic!("Wizer could not read a memory of the instance"),
        }
    }

    async fn call_func_ret_s32(&mut self, instance: &str, func: &str) -> i32 {
        self.get(instance, func).await.unwrap_or(0)
    }

    async fn call_func_ret_s64(&mut self, instance: &str, func: &str) -> i64 {
        self.get(instance, func).await.unwrap_or(0)
    }

    async fn call_func_ret_f32(&mut self, instance: &str, func: &str) -> u32 {
        self.get::<f32>(instance, func)
            .await
            .map_or(0, f32::to_bits)
    }

    async fn call_func_ret_f64(&mut self, instance: &str, func: &str) -> u64 {
        self.get::<f64>(instance, func)
            .await
            .map_or(0, f64::to_bits)
    }
}
