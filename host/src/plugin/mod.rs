//! One loaded plugin (a chain link): its compiled component pre-linked against
//! the host imports, its limits and failure policy, and how it hands out
//! instances.
//!
//! Setup (type-checking the imports, `init`) happens once in [`Plugin::load`];
//! per request the only work is taking an instance ([`Plugin::instance`]) and
//! calling its hooks under a deadline.

pub mod bindings;
pub mod clock;
pub mod handler;
pub mod output;
pub mod preinit;
pub mod state;

use crate::config::{InstanceMode, LinkSpec, OnError};
use crate::engine::Runtime;
use crate::kv::Namespace;
use crate::telemetry::metrics::{PluginHandles, PluginMetrics};
use clock::{Bounded, Overrun};
use crossbeam_queue::ArrayQueue;
use output::LinkOutput;
use prometheus_client::metrics::gauge::Gauge;
use state::{DeadlineExceeded, HostState, LinkContext};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::Store;
use wasmtime::component::Component;

/// The export that makes a component an edgechain plugin (any 0.3.x).
pub const FILTER_EXPORT: &str = "edgechain:plugin/filter@0.3.0";

/// Most idle instances a `reuse` link keeps warm by default (each holds a
/// pool slot).
pub const DEFAULT_MAX_WARM: usize = 64;

/// Fewest idle instances a `reuse` link keeps warm by default, however large
/// its instances.
pub const MIN_DEFAULT_MAX_WARM: usize = 4;

/// Memory the idle instances of one `reuse` link may hold by default. A Rust
/// plugin's instance is about 1 MiB, so it keeps [`DEFAULT_MAX_WARM`]; an
/// interpreter's is tens of MiB (a Python one carries CPython's heap), so it
/// keeps fewer. `max_warm` in the manifest overrides it.
pub const WARM_MEMORY_BUDGET: u64 = 256 << 20;

/// Bytes of one Wasm page.
const WASM_PAGE: u64 = 64 << 10;

/// How many idle instances a `reuse` link of `component` keeps warm unless
/// its manifest says (`max_warm`): [`WARM_MEMORY_BUDGET`] divided by the
/// memory an instance starts with (after `init`, for a pre-initialised
/// snapshot), within [`MIN_DEFAULT_MAX_WARM`]..=[`DEFAULT_MAX_WARM`].
pub fn default_max_warm(component: &Component) -> usize {
    let per_instance = component.resources_required().map_or(0, |r| {
        r.max_initial_memory_size
            .unwrap_or(0)
            .saturating_mul(WASM_PAGE)
            .saturating_mul(u64::from(r.num_memories))
    });
    let fits = WARM_MEMORY_BUDGET / per_instance.max(1);
    usize::try_from(fits)
        .unwrap_or(usize::MAX)
        .clamp(MIN_DEFAULT_MAX_WARM, DEFAULT_MAX_WARM)
}

/// What a plugin declared in `init`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// Give it the request body.
    pub request_body: bool,
    /// Give it the response body.
    pub response_body: bool,
    /// Call `on-response`.
    pub response_phase: bool,
}

impl From<bindings::Needs> for Needs {
    fn from(n: bindings::Needs) -> Self {
        Needs {
            request_body: n.contains(bindings::Needs::REQUEST_BODY),
            response_body: n.contains(bindings::Needs::RESPONSE_BODY),
            // A plugin that wants the response body wants the phase it comes in.
            response_phase: n
                .intersects(bindings::Needs::RESPONSE_PHASE | bindings::Needs::RESPONSE_BODY),
        }
    }
}

/// Why a hook call failed. Each goes through the link's `on_error` policy.
#[derive(Debug, thiserror::Error)]
pub enum LinkFailure {
    /// The guest trapped (including Rust panics).
    #[error("trap: {0}")]
    Trap(String),
    /// The call used more than its own-time budget (`timeout_ms`, or
    /// `init_timeout_ms` for `init`), running or waiting in host calls.
    #[error("deadline of {0} ms exceeded")]
    Timeout(u64),
    /// The instance tried to grow past `memory_limit_mb`.
    #[error("memory limit of {0} MiB reached")]
    Memory(u64),
    /// The decision was not valid HTTP.
    #[error("invalid decision: {0}")]
    Invalid(String),
    /// No instance could be created (pool exhausted or instantiation trap).
    #[error("cannot instantiate: {0}")]
    Instantiate(String),
    /// A body was larger than the link's `max_body_bytes`.
    #[error("body larger than max_body_bytes ({0})")]
    BodyTooLarge(u64),
}

impl LinkFailure {
    /// A short, stable label for logs and metrics.
    pub fn cause(&self) -> &'static str {
        match self {
            LinkFailure::Trap(_) => "trap",
            LinkFailure::Timeout(_) => "timeout",
            LinkFailure::Memory(_) => "memory",
            LinkFailure::Invalid(_) => "invalid",
            LinkFailure::Instantiate(_) => "instantiate",
            LinkFailure::BodyTooLarge(_) => "body_too_large",
        }
    }
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The component's imports or exports do not match the `edgechain:plugin`
    /// world.
    #[error("does not match the edgechain:plugin world: {0}")]
    World(String),
    /// `init` returned an error for this config.
    #[error("init rejected the config: {0}")]
    InitRejected(String),
    /// `init` could not run to completion.
    #[error("init failed: {0}")]
    InitFailed(LinkFailure),
}

/// What a link's component is.
enum Kind {
    /// An `edgechain:plugin` filter.
    Filter(bindings::PluginPre<HostState>),
    /// A `wasi:http` handler: the chain's terminal.
    Handler(wasmtime_wasi_http::p2::bindings::ProxyPre<HostState>),
}

/// A live instance and its store, counted in its link's memory gauge for
/// as long as it lives.
struct Warm {
    store: Store<HostState>,
    guest: bindings::Plugin,
    memory: Gauge,
    /// Bytes last added to `memory` for this instance.
    counted: i64,
}

impl Warm {
    /// Bring the link's memory gauge up to what the instance holds now
    /// (memories only grow while an instance lives).
    fn count_memory(&mut self) {
        let now = i64::try_from(self.store.data().limiter.bytes()).unwrap_or(i64::MAX);
        if now != self.counted {
            self.memory.inc_by(now - self.counted);
            self.counted = now;
        }
    }
}

impl Drop for Warm {
    fn drop(&mut self) {
        self.memory.dec_by(self.counted);
    }
}

/// A loaded chain link. Shared by every request using the chain.
pub struct Plugin {
    spec: LinkSpec,
    context: Arc<LinkContext>,
    kind: Kind,
    needs: Needs,
    warm: Option<ArrayQueue<Warm>>,
    timeout: Duration,
    init_timeout: Duration,
    metrics: Arc<PluginMetrics>,
    handles: PluginHandles,
}

impl Drop for Plugin {
    fn drop(&mut self) {
        // The idle instances go with the link (a reload replaced it).
        if let Some(pool) = &self.warm {
            self.handles
                .warm
                .dec_by(i64::try_from(pool.len()).unwrap_or(i64::MAX));
        }
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.spec.name)
            .field("needs", &self.needs)
            .finish_non_exhaustive()
    }
}

/// What every instance of a link shares, from its manifest entry: identity,
/// config, key-value namespace, limits and grants (environment values are
/// read now, at load).
pub fn link_context(
    runtime: &Runtime,
    dir: &Path,
    spec: &LinkSpec,
    config: Arc<str>,
    kv: Arc<Namespace>,
    outbound: Arc<crate::outbound::Outbound>,
) -> Arc<LinkContext> {
    let name: Arc<str> = spec.name.as_str().into();
    let env = spec
        .grants
        .env
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.clone(), v)))
        .collect();
    Arc::new(LinkContext {
        output: LinkOutput::new(name.clone()),
        name,
        config,
        kv,
        memory_limit: usize::try_from(spec.memory_limit_mb << 20).unwrap_or(usize::MAX),
        config_dir: spec.grants.config_dir.as_ref().map(|d| dir.join(d)),
        env,
        limits: runtime.limits(),
        outbound,
        grant: crate::outbound::OutboundGrant {
            authorities: spec.grants.http.clone(),
            max_body_bytes: spec.max_body_bytes,
        },
    })
}

impl Plugin {
    /// Link `component` against the host imports. Unless `declared` says
    /// what `init` returned already (the component is a pre-initialised
    /// snapshot), instantiate it once and call `init` with the link's config.
    /// Nothing here runs on the request path.
    pub async fn load(
        runtime: &Runtime,
        spec: LinkSpec,
        context: Arc<LinkContext>,
        component: &Component,
        declared: Option<bindings::Needs>,
        metrics: Arc<PluginMetrics>,
    ) -> Result<Plugin, PluginError> {
        let world = |e: wasmtime::Error| PluginError::World(format!("{e:#}"));
        let filter = component.get_export_index(None, FILTER_EXPORT).is_some();
        let handler = component
            .get_export_index(None, handler::INCOMING_HANDLER)
            .is_some();
        let pre = runtime.linker().instantiate_pre(component).map_err(world)?;
        let kind = match (filter, handler) {
            (true, _) => Kind::Filter(bindings::PluginPre::new(pre).map_err(world)?),
            (false, true) => {
                if spec.instance == InstanceMode::Reuse {
                    return Err(PluginError::World(
                        "a wasi:http handler gets a fresh instance per request: \"instance\": \"reuse\" does not apply".into(),
                    ));
                }
                if &*context.config != "null" {
                    return Err(PluginError::World(
                        "a wasi:http handler has no `init` to read \"config\": give it settings through \"grants\" (\"env\" or \"config_dir\")".into(),
                    ));
                }
                Kind::Handler(wasmtime_wasi_http::p2::bindings::ProxyPre::new(pre).map_err(world)?)
            }
            (false, false) => {
                return Err(PluginError::World(format!(
                    "exports neither `{FILTER_EXPORT}` (an edgechain plugin) nor `{}` (a wasi:http handler)",
                    handler::INCOMING_HANDLER
                )));
            }
        };
        let name_for_metrics = context.name.clone();
        let config = context.config.clone();
        let mut plugin = Plugin {
            timeout: Duration::from_millis(spec.timeout_ms),
            init_timeout: Duration::from_millis(spec.init_timeout_ms),
            warm: (spec.instance == InstanceMode::Reuse).then(|| {
                ArrayQueue::new(spec.max_warm.unwrap_or_else(|| default_max_warm(component)))
            }),
            spec,
            context,
            kind,
            needs: Needs::default(),
            handles: metrics.handles(&name_for_metrics),
            metrics,
        };
        if let Some(needs) = declared {
            plugin.needs = needs.into();
            return Ok(plugin);
        }
        if plugin.is_handler() {
            // A handler has no `init`: it needs its request body, streamed.
            return Ok(plugin);
        }
        let declared = {
            // In `reuse` mode the instance that ran `init` has built its plugin
            // value, and goes back to the pool warm when dropped here.
            let budget = plugin.init_timeout;
            let mut instance = plugin
                .instance_within(None, budget)
                .await
                .map_err(PluginError::InitFailed)?;
            instance
                .init(&config, budget)
                .await
                .map_err(PluginError::InitFailed)?
        };
        plugin.needs = declared.map_err(PluginError::InitRejected)?.into();
        Ok(plugin)
    }

    /// Whether this link is a `wasi:http` handler (the chain's terminal).
    pub fn is_handler(&self) -> bool {
        matches!(self.kind, Kind::Handler(_))
    }

    /// Serve a request with this link if it is a `wasi:http` handler.
    pub async fn handle<B>(
        &self,
        client_ip: Option<IpAddr>,
        req: http::Request<B>,
    ) -> Result<http::Response<handler::HandlerBody>, LinkFailure>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: std::fmt::Display,
    {
        let Kind::Handler(pre) = &self.kind else {
            return Err(LinkFailure::Invalid("not a wasi:http handler".into()));
        };
        self.handles.instances.inc();
        let served = handler::serve(pre, self.context.clone(), client_ip, req, self.timeout).await;
        self.handles.instances.dec();
        served
    }

    /// The link's manifest entry.
    pub fn spec(&self) -> &LinkSpec {
        &self.spec
    }

    /// The link's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// What `init` declared.
    pub fn needs(&self) -> Needs {
        self.needs
    }

    /// The failure policy.
    pub fn on_error(&self) -> OnError {
        self.spec.on_error
    }

    /// The link's name, shared.
    pub fn name_arc(&self) -> Arc<str> {
        self.context.name.clone()
    }

    /// Count a failure of this link in the metrics.
    pub fn record_failure(&self, failure: &LinkFailure) {
        self.metrics.failure(&self.spec.name, failure.cause());
    }

    /// Count one hook call and its duration (instantiation included).
    pub fn record_call(&self, took: Duration) {
        self.handles.calls.inc();
        self.handles.duration.observe(took.as_secs_f64());
    }

    /// Count one hook call cut short because its request was dropped.
    pub fn record_cancelled_call(&self, took: Duration) {
        self.record_call(took);
        self.handles.cancelled.inc();
    }

    /// An instance pinned to one request: a warm one in `reuse` mode if any is
    /// idle, else a fresh one from the pooling allocator.
    pub async fn instance(
        &self,
        client_ip: Option<IpAddr>,
    ) -> Result<LinkInstance<'_>, LinkFailure> {
        self.instance_within(client_ip, self.timeout).await
    }

    /// [`Plugin::instance`], with `budget` of own time for instantiation
    /// (start functions run guest code).
    async fn instance_within(
        &self,
        client_ip: Option<IpAddr>,
        budget: Duration,
    ) -> Result<LinkInstance<'_>, LinkFailure> {
        let warm = match self.warm.as_ref().and_then(ArrayQueue::pop) {
            Some(w) => {
                self.handles.warm.dec();
                w
            }
            None => {
                let Kind::Filter(pre) = &self.kind else {
                    return Err(LinkFailure::Instantiate(
                        "a wasi:http handler is not a filter".into(),
                    ));
                };
                let engine = pre.engine();
                let mut store = HostState::new_store(engine, self.context.clone())
                    .map_err(LinkFailure::Instantiate)?;
                self.arm(&mut store, budget);
                let clock = store.data().clock.clone();
                let instantiated = if self.context.limits {
                    Bounded::new(clock, budget, pre.instantiate_async(&mut store))
                        .await
                        .map_err(|Overrun| LinkFailure::Timeout(millis(budget)))?
                } else {
                    pre.instantiate_async(&mut store).await
                };
                let guest = instantiated.map_err(|e| match self.classify(e, &store, budget) {
                    LinkFailure::Trap(m) => LinkFailure::Instantiate(m),
                    other => other,
                })?;
                let mut warm = Warm {
                    store,
                    guest,
                    memory: self.handles.memory.clone(),
                    counted: 0,
                };
                warm.count_memory();
                warm
            }
        };
        self.handles.instances.inc();
        let mut instance = LinkInstance {
            plugin: self,
            warm: Some(warm),
            failed: false,
        };
        if let Some(w) = instance.warm.as_mut() {
            w.store.data_mut().client_ip = client_ip;
        }
        Ok(instance)
    }

    fn arm(&self, store: &mut Store<HostState>, budget: Duration) {
        store.data().clock.arm(budget);
        store.data_mut().limiter.hit = false;
        store.set_epoch_deadline(1);
    }

    fn classify(
        &self,
        e: wasmtime::Error,
        store: &Store<HostState>,
        budget: Duration,
    ) -> LinkFailure {
        if e.downcast_ref::<DeadlineExceeded>().is_some() {
            LinkFailure::Timeout(millis(budget))
        } else if store.data().limiter.hit {
            LinkFailure::Memory(self.spec.memory_limit_mb)
        } else {
            LinkFailure::Trap(format!("{e:#}"))
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One instance of a link, pinned to one request from `on-request` to
/// `on-response`. Dropping it returns a healthy `reuse` instance to the pool;
/// a failed instance is always discarded.
pub struct LinkInstance<'p> {
    plugin: &'p Plugin,
    warm: Option<Warm>,
    failed: bool,
}

impl<'p> LinkInstance<'p> {
    /// The link this instance belongs to.
    pub fn plugin(&self) -> &'p Plugin {
        self.plugin
    }

    /// Run one guest call with `budget` of own time. Whatever the guest does
    /// (runs, or waits in a host call), the call ends within its budget; an
    /// overrun abandons it and the instance is never used again.
    async fn call<R>(
        &mut self,
        budget: Duration,
        f: impl AsyncFnOnce(&bindings::Plugin, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, LinkFailure> {
        let Some(warm) = self.warm.as_mut().filter(|_| !self.failed) else {
            return Err(LinkFailure::Trap("instance already failed".into()));
        };
        self.plugin.arm(&mut warm.store, budget);
        // Failed until the call returns: if the request is cancelled while the
        // guest is suspended (client gone), or the call is abandoned, the
        // instance is mid-call and must never go back to the pool.
        self.failed = true;
        let result = if self.plugin.context.limits {
            let clock = warm.store.data().clock.clone();
            match Bounded::new(clock, budget, f(&warm.guest, &mut warm.store)).await {
                Ok(result) => result,
                Err(Overrun) => return Err(LinkFailure::Timeout(millis(budget))),
            }
        } else {
            f(&warm.guest, &mut warm.store).await
        };
        warm.count_memory();
        match result {
            Ok(r) => {
                self.failed = false;
                Ok(r)
            }
            Err(e) => Err(self.plugin.classify(e, &warm.store, budget)),
        }
    }

    async fn init(
        &mut self,
        config: &str,
        budget: Duration,
    ) -> Result<Result<bindings::Needs, String>, LinkFailure> {
        self.call(budget, async |g, s| {
            g.edgechain_plugin_filter().call_init(s, config).await
        })
        .await
    }

    /// Call `on-request`.
    pub async fn on_request(
        &mut self,
        req: &bindings::Request,
    ) -> Result<bindings::RequestAction, LinkFailure> {
        let budget = self.plugin.timeout;
        self.call(budget, async |g, s| {
            g.edgechain_plugin_filter().call_on_request(s, req).await
        })
        .await
    }

    /// Call `on-response`.
    pub async fn on_response(
        &mut self,
        req: &bindings::Request,
        resp: &bindings::Response,
    ) -> Result<bindings::Response, LinkFailure> {
        let budget = self.plugin.timeout;
        self.call(budget, async |g, s| {
            g.edgechain_plugin_filter()
                .call_on_response(s, req, resp)
                .await
        })
        .await
    }

    /// Mark the instance unusable (for a failure found by the host, such as an
    /// invalid decision), so it is not returned to the pool.
    pub fn poison(&mut self) {
        self.failed = true;
    }
}

impl Drop for LinkInstance<'_> {
    fn drop(&mut self) {
        self.plugin.handles.instances.dec();
        if self.failed {
            return;
        }
        if let (Some(pool), Some(warm)) = (self.plugin.warm.as_ref(), self.warm.take()) {
            // A full pool (`max_warm` idle already) just drops the extra
            // instance.
            if pool.push(warm).is_ok() {
                self.plugin.handles.warm.inc();
            }
        }
    }
}
