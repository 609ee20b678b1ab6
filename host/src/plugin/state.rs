//! The per-instance store data: WASI context, the link's identity and config,
//! the memory limiter, the call's own-time clock, the cache calls of the
//! current hook; and the host imports plugins call.

use super::bindings;
use super::cache::CacheCalls;
use super::clock::CallClock;
use super::output::{LinkOutput, Stream};
use crate::config::GUEST_CONFIG_DIR;
use crate::kv::Namespace;
use edgechain_wire::cache::CacheRefusal;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Longest plugin log message kept; longer ones are cut.
pub const MAX_LOG_MESSAGE_BYTES: usize = 4096;

/// What every instance of one link shares.
#[derive(Debug)]
pub struct LinkContext {
    /// The link's name in the manifest.
    pub name: Arc<str>,
    /// The plugin's configuration as JSON text.
    pub config: Arc<str>,
    /// The plugin's private key-value namespace.
    pub kv: Arc<Namespace>,
    /// Cap on the instance's memories and tables together, in bytes.
    pub memory_limit: usize,
    /// Where the guest's stdout and stderr go.
    pub output: Arc<LinkOutput>,
    /// Host directory mapped read-only at `/config`, if granted.
    pub config_dir: Option<PathBuf>,
    /// Environment variables granted, with their values at load time.
    pub env: Vec<(String, String)>,
    /// Enforce the deadline and the memory cap (see `EngineSettings::limits`).
    pub limits: bool,
    /// Outbound HTTP clients, and what this link may call.
    pub outbound: Arc<crate::outbound::Outbound>,
    /// The link's outbound grant.
    pub grant: Arc<crate::outbound::OutboundGrant>,
}

/// Store data of one plugin instance.
pub struct HostState {
    /// Built on the first WASI call (see [`HostState::new_store`]).
    wasi: Option<WasiCtx>,
    table: ResourceTable,
    http: wasmtime_wasi_http::WasiHttpCtx,
    egress: crate::outbound::Egress,
    pub(crate) link: Arc<LinkContext>,
    pub(crate) client_ip: Option<IpAddr>,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) clock: Arc<CallClock>,
    /// The `cache` import's record for the hook running now.
    pub(crate) cache: CacheCalls,
}

/// Marker error: the epoch callback saw the call's own time run out.
#[derive(Debug, thiserror::Error)]
#[error("deadline exceeded")]
pub struct DeadlineExceeded;

impl HostState {
    /// A store for one instance of `link`, with least privilege: no
    /// filesystem, network, environment, arguments or stdin; stdout and
    /// stderr go to the link's log sink. Only what the manifest granted is
    /// added.
    pub fn new_store(
        engine: &wasmtime::Engine,
        link: Arc<LinkContext>,
    ) -> Result<Store<HostState>, String> {
        let limiter = MemoryLimiter::new(link.memory_limit);
        // Most plugins make no WASI call on a request path (pre-initialised
        // instances have run their start-up already), so the WASI context,
        // with its boxed streams, clocks and seeded generators, is built on
        // first use. A granted directory is opened now, where a failure can
        // still be reported as this store's.
        let wasi = match &link.config_dir {
            Some(dir) => {
                let mut builder = wasi_builder(&link);
                builder
                    .preopened_dir(dir, GUEST_CONFIG_DIR, wasmtime_wasi::FsPerms::ReadOnly)
                    .map_err(|e| {
                        format!("cannot open granted config_dir {}: {e:#}", dir.display())
                    })?;
                Some(builder.build())
            }
            None => None,
        };
        let state = HostState {
            wasi,
            table: ResourceTable::new(),
            http: wasmtime_wasi_http::WasiHttpCtx::new(),
            egress: crate::outbound::Egress::new(
                link.outbound.clone(),
                link.name.clone(),
                link.grant.clone(),
            ),
            link: link.clone(),
            client_ip: None,
            limiter,
            clock: CallClock::new(),
            cache: CacheCalls::default(),
        };
        let limits = link.limits;
        let mut store = Store::new(engine, state);
        if limits {
            store.limiter(|s| &mut s.limiter);
            store.epoch_deadline_callback(|ctx| {
                let clock = &ctx.data().clock;
                if clock.spent(Instant::now()) {
                    Err(DeadlineExceeded.into())
                } else {
                    // Let other tasks run, then check again next tick; the
                    // wait for the scheduler is not the plugin's time.
                    clock.note_yield();
                    Ok(UpdateDeadline::Yield(1))
                }
            });
        }
        Ok(store)
    }
}

impl HostState {
    /// Whether the guest holds no WASI resources (streams, files): a
    /// snapshot of its memory then refers to nothing host-side.
    pub fn resources_are_closed(&self) -> bool {
        self.table.is_empty()
    }
}

impl wasmtime_wasi_http::WasiHttpView for HostState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.egress,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let link = &self.link;
        WasiCtxView {
            ctx: self.wasi.get_or_insert_with(|| wasi_builder(link).build()),
            table: &mut self.table,
        }
    }
}

/// A link's WASI context before any directory is opened: least privilege
/// (no filesystem, network, arguments or stdin), stdout and stderr to the
/// link's log sink, and only the environment the manifest granted.
fn wasi_builder(link: &LinkContext) -> wasmtime_wasi::WasiCtxBuilder {
    let mut wasi = WasiCtx::builder();
    wasi.stdout(link.output.stream(Stream::Stdout))
        .stderr(link.output.stream(Stream::Stderr))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    for (k, v) in &link.env {
        wasi.env(k, v);
    }
    wasi
}

/// Sums every memory and table of an instance against one cap, instead of
/// limiting each memory on its own.
#[derive(Debug)]
pub struct MemoryLimiter {
    limit: usize,
    /// Allowed beyond `limit` for the host's own work (not the plugin's cap).
    extra: usize,
    memories: usize,
    tables: usize,
    /// Set when a growth was refused, so a following trap is reported as a
    /// memory-cap failure rather than a generic one.
    pub(crate) hit: bool,
}

/// Bytes charged per table element (one pointer-sized slot).
const TABLE_ELEMENT_BYTES: usize = 8;

impl MemoryLimiter {
    fn new(limit: usize) -> Self {
        MemoryLimiter {
            limit,
            extra: 0,
            memories: 0,
            tables: 0,
            hit: false,
        }
    }

    /// Allow `bytes` beyond the link's cap (for host work on the instance,
    /// such as copying its memory out for a snapshot).
    pub fn allow_extra(&mut self, bytes: usize) {
        self.extra = self.extra.saturating_add(bytes);
    }

    /// Bytes of memories and tables the instance holds now.
    pub fn bytes(&self) -> usize {
        self.memories.saturating_add(self.tables)
    }

    /// The link's cap, in MiB (what the manifest says; host allowances aside).
    pub fn limit_mb(&self) -> u64 {
        (self.limit >> 20) as u64
    }

    fn admit(&mut self, other: usize, new_own: usize) -> bool {
        let ok = other.saturating_add(new_own) <= self.limit.saturating_add(self.extra);
        self.hit |= !ok;
        ok
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let memories = self.memories - current.min(self.memories) + desired;
        if self.admit(self.tables, memories) {
            self.memories = memories;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let delta = desired
            .saturating_sub(current)
            .saturating_mul(TABLE_ELEMENT_BYTES);
        let tables = self.tables.saturating_add(delta);
        if self.admit(self.memories, tables) {
            self.tables = tables;
            Ok(true)
        } else {
            Ok(false)
        }
    }
}

/// Add WASI (with everything denied by the context), `wasi:http` and the
/// `edgechain:plugin` imports to `linker`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    // wasi:http (types, outgoing-handler) for `wasi:http` handlers; outbound
    // requests go through `outbound::Egress` and the link's grants.
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    bindings::Plugin::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)
}

impl bindings::edgechain::plugin::types::Host for HostState {}

impl bindings::edgechain::plugin::host::Host for HostState {
    fn log(&mut self, level: bindings::Level, message: String) {
        if !self.link.output.admit_log() {
            return;
        }
        let mut message = message;
        if message.len() > MAX_LOG_MESSAGE_BYTES {
            let mut cut = MAX_LOG_MESSAGE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let plugin = &*self.link.name;
        use bindings::Level as L;
        match level {
            L::Trace => tracing::trace!(target: "plugin", plugin, "{message}"),
            L::Debug => tracing::debug!(target: "plugin", plugin, "{message}"),
            L::Info => tracing::info!(target: "plugin", plugin, "{message}"),
            L::Warn => tracing::warn!(target: "plugin", plugin, "{message}"),
            L::Error => tracing::error!(target: "plugin", plugin, "{message}"),
        }
    }

    fn config(&mut self) -> String {
        self.link.config.to_string()
    }

    fn name(&mut self) -> String {
        self.link.name.to_string()
    }

    fn client_ip(&mut self) -> String {
        self.client_ip.map(|ip| ip.to_string()).unwrap_or_default()
    }
}

impl bindings::edgechain::plugin::http::Host for HostState {
    async fn send(
        &mut self,
        req: bindings::edgechain::plugin::http::OutgoingRequest,
    ) -> Result<
        bindings::edgechain::plugin::http::IncomingResponse,
        bindings::edgechain::plugin::http::Error,
    > {
        // Within the request's own timeout and what the hook has left (the
        // wait is the plugin's time; its call is cut off when that is spent).
        // Leave the plugin a tenth of what is left (at least 2 ms) to act on
        // a timeout, rather than be cut off with its call.
        let left = self.clock.left(Instant::now());
        let left = left.saturating_sub((left / 10).max(std::time::Duration::from_millis(2)));
        let within = req.timeout_ms.map_or(left, |ms| {
            left.min(std::time::Duration::from_millis(u64::from(ms)))
        });
        let link = self.link.clone();
        link.outbound
            .send(&link.name, &link.grant, req, within)
            .await
    }
}

impl bindings::edgechain::plugin::kv::Host for HostState {
    fn get(&mut self, key: String) -> Option<Vec<u8>> {
        self.link.kv.get(&key)
    }

    fn set(&mut self, key: String, value: Vec<u8>, ttl_ms: Option<u64>) -> Result<(), String> {
        self.link
            .kv
            .set(&key, value, ttl_ms)
            .map_err(|e| e.to_string())
    }

    fn increment(&mut self, key: String, delta: i64, ttl_ms: Option<u64>) -> Result<i64, String> {
        self.link
            .kv
            .increment(&key, delta, ttl_ms)
            .map_err(|e| e.to_string())
    }

    fn delete(&mut self, key: String) -> bool {
        self.link.kv.delete(&key)
    }
}

impl From<CacheRefusal> for bindings::edgechain::plugin::cache::CacheError {
    fn from(e: CacheRefusal) -> Self {
        use bindings::edgechain::plugin::cache::CacheError;
        match e {
            CacheRefusal::WrongPhase(..) => CacheError::WrongPhase,
            other => CacheError::Invalid(other.to_string()),
        }
    }
}

impl bindings::edgechain::plugin::cache::Host for HostState {
    fn add_key(
        &mut self,
        part: String,
    ) -> Result<(), bindings::edgechain::plugin::cache::CacheError> {
        Ok(self.cache.add_key(part)?)
    }

    fn bypass(&mut self) -> Result<(), bindings::edgechain::plugin::cache::CacheError> {
        Ok(self.cache.bypass()?)
    }

    fn set_ttl(
        &mut self,
        seconds: u32,
    ) -> Result<(), bindings::edgechain::plugin::cache::CacheError> {
        Ok(self.cache.set_ttl(seconds)?)
    }

    fn add_surrogate_keys(
        &mut self,
        keys: Vec<String>,
    ) -> Result<(), bindings::edgechain::plugin::cache::CacheError> {
        Ok(self.cache.add_surrogate_keys(keys)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_sums_memories_and_tables() {
        let mut l = MemoryLimiter::new(100);
        assert!(matches!(l.memory_growing(0, 60, None), Ok(true)));
        assert!(matches!(l.table_growing(0, 4, None), Ok(true))); // 32 bytes
        assert!(
            matches!(l.memory_growing(60, 70, None), Ok(false)),
            "60+32 ok, 70+32 over"
        );
        assert!(l.hit);
        assert!(matches!(l.memory_growing(60, 68, None), Ok(true)));
    }

    #[test]
    fn a_host_allowance_is_not_reported_as_the_links_cap() {
        let mut l = MemoryLimiter::new(16 << 20);
        l.allow_extra(1 << 20);
        assert_eq!(l.limit_mb(), 16, "the manifest's number");
        assert!(matches!(l.memory_growing(0, 17 << 20, None), Ok(true)));
        assert!(matches!(
            l.memory_growing(17 << 20, 18 << 20, None),
            Ok(false)
        ));
    }
}
