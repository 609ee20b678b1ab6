//! A filter: an `edgechain:plugin` component, the common kind of link. It
//! sees each request on its way to the next hop (`on-request`) and, if it
//! asked, the response on its way back (`on-response`), on one instance
//! pinned to that request.
//!
//! Instances come fresh from the pooling allocator (`per-request`, the
//! default) or from a pool of idle ones (`reuse`, at most `max_warm`).

use super::bindings;
use super::cache::Phase;
use super::call::{LinkFailure, guarded};
use super::link::{Link, LinkError};
use super::state::HostState;
use crate::cache_directives::CacheDirectives;
use crossbeam_queue::ArrayQueue;
use prometheus_client::metrics::gauge::Gauge;
use std::net::IpAddr;
use std::ops::Deref;
use std::time::Duration;
use wasmtime::Store;
use wasmtime::component::Component;

/// The export that makes a component an edgechain plugin (any 0.3.x).
pub const FILTER_EXPORT: &str = "edgechain:plugin/filter@0.3.1";

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

/// What a filter declared in `init`.
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

/// A live instance and its store, counted in its link's memory gauge for
/// as long as it lives.
struct Instance {
    store: Store<HostState>,
    guest: bindings::Plugin,
    memory: Gauge,
    /// Bytes last added to `memory` for this instance.
    counted: i64,
}

impl Instance {
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

impl Drop for Instance {
    fn drop(&mut self) {
        self.memory.dec_by(self.counted);
    }
}

/// A loaded filter. Shared by every request using the chain.
pub struct Filter {
    link: Link,
    pre: bindings::PluginPre<HostState>,
    needs: Needs,
    /// Idle instances (`reuse` only).
    warm: Option<ArrayQueue<Instance>>,
    init_timeout: Duration,
}

/// A filter is a link: its name, policy and accounting are the link's.
impl Deref for Filter {
    type Target = Link;

    fn deref(&self) -> &Link {
        &self.link
    }
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("name", &self.spec().name)
            .field("needs", &self.needs)
            .finish_non_exhaustive()
    }
}

impl Drop for Filter {
    fn drop(&mut self) {
        // The idle instances go with the link (a reload replaced it).
        if let Some(pool) = &self.warm {
            self.handles
                .warm
                .dec_by(i64::try_from(pool.len()).unwrap_or(i64::MAX));
        }
    }
}

impl Filter {
    /// A filter of `component`. Unless `declared` says what `init` returned
    /// already (the component is a pre-initialised snapshot), instantiate it
    /// once and call `init` with the link's config.
    pub(super) async fn load(
        link: Link,
        pre: bindings::PluginPre<HostState>,
        component: &Component,
        declared: Option<bindings::Needs>,
    ) -> Result<Filter, LinkError> {
        let warm = (link.spec().instance == crate::config::InstanceMode::Reuse).then(|| {
            ArrayQueue::new(
                link.spec()
                    .max_warm
                    .unwrap_or_else(|| default_max_warm(component)),
            )
        });
        let mut filter = Filter {
            init_timeout: Duration::from_millis(link.spec().init_timeout_ms),
            link,
            pre,
            needs: Needs::default(),
            warm,
        };
        let declared = match declared {
            Some(needs) => needs,
            None => {
                // In `reuse` mode the instance that ran `init` has built its
                // plugin value, and goes back to the pool warm when dropped.
                let budget = filter.init_timeout;
                let config = filter.context.config.clone();
                let mut instance = filter
                    .instance_within(None, budget)
                    .await
                    .map_err(LinkError::InitFailed)?;
                instance
                    .init(&config, budget)
                    .await
                    .map_err(LinkError::InitFailed)?
                    .map_err(LinkError::InitRejected)?
            }
        };
        filter.needs = declared.into();
        Ok(filter)
    }

    /// What `init` declared.
    pub fn needs(&self) -> Needs {
        self.needs
    }

    /// An instance pinned to one request: a warm one in `reuse` mode if any is
    /// idle, else a fresh one from the pooling allocator.
    pub async fn instance(
        &self,
        client_ip: Option<IpAddr>,
    ) -> Result<FilterInstance<'_>, LinkFailure> {
        self.instance_within(client_ip, self.timeout).await
    }

    /// [`Filter::instance`], with `budget` of own time for instantiation
    /// (start functions run guest code).
    async fn instance_within(
        &self,
        client_ip: Option<IpAddr>,
        budget: Duration,
    ) -> Result<FilterInstance<'_>, LinkFailure> {
        let mut live = match self.warm.as_ref().and_then(ArrayQueue::pop) {
            Some(idle) => {
                self.handles.warm.dec();
                idle
            }
            None => self.instantiate(budget).await?,
        };
        live.store.data_mut().client_ip = client_ip;
        self.handles.instances.inc();
        Ok(FilterInstance {
            filter: self,
            live: Some(live),
            failed: false,
        })
    }

    /// A fresh instance from the pooling allocator.
    async fn instantiate(&self, budget: Duration) -> Result<Instance, LinkFailure> {
        let mut store = HostState::new_store(self.pre.engine(), self.context.clone())
            .map_err(LinkFailure::Instantiate)?;
        let pre = &self.pre;
        let guest = guarded(&mut store, budget, async |s| pre.instantiate_async(s).await)
            .await
            .map_err(|failure| match failure {
                LinkFailure::Trap(m) => LinkFailure::Instantiate(m),
                other => other,
            })?;
        let mut live = Instance {
            store,
            guest,
            memory: self.handles.memory.clone(),
            counted: 0,
        };
        live.count_memory();
        Ok(live)
    }
}

/// One instance of a filter, pinned to one request from `on-request` to
/// `on-response`. Dropping it returns a healthy `reuse` instance to the pool;
/// a failed instance is always discarded.
pub struct FilterInstance<'f> {
    filter: &'f Filter,
    live: Option<Instance>,
    failed: bool,
}

impl<'f> FilterInstance<'f> {
    /// The filter this instance belongs to.
    pub fn filter(&self) -> &'f Filter {
        self.filter
    }

    /// One guarded guest call ([`guarded`]). If the request is cancelled
    /// while the guest is suspended (client gone), or the call is abandoned,
    /// the instance is mid-call and never goes back to the pool.
    async fn call<R>(
        &mut self,
        budget: Duration,
        f: impl AsyncFnOnce(&bindings::Plugin, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, LinkFailure> {
        let Some(live) = self.live.as_mut().filter(|_| !self.failed) else {
            return Err(LinkFailure::Trap("instance already failed".into()));
        };
        // Failed until the call returns.
        self.failed = true;
        let Instance { store, guest, .. } = live;
        let result = guarded(store, budget, async |s| f(guest, s).await).await;
        live.count_memory();
        self.failed = result.is_err();
        result
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

    /// Call `on-request`, lending it the request's `cache` directives so far
    /// to record its `cache` calls into (a failed call's are kept in
    /// `cache`: undo them with a [`super::cache::CacheMark`]).
    pub async fn on_request(
        &mut self,
        req: &bindings::Request,
        cache: &mut CacheDirectives,
    ) -> Result<bindings::RequestAction, LinkFailure> {
        let budget = self.filter.timeout;
        self.lend_cache(Phase::Request, cache);
        let result = self
            .call(budget, async |g, s| {
                g.edgechain_plugin_filter().call_on_request(s, req).await
            })
            .await;
        self.settle_cache(cache);
        result
    }

    /// Call `on-response`, lending it `cache` as [`FilterInstance::on_request`]
    /// does.
    pub async fn on_response(
        &mut self,
        req: &bindings::Request,
        resp: &bindings::Response,
        cache: &mut CacheDirectives,
    ) -> Result<bindings::Response, LinkFailure> {
        let budget = self.filter.timeout;
        self.lend_cache(Phase::Response, cache);
        let result = self
            .call(budget, async |g, s| {
                g.edgechain_plugin_filter()
                    .call_on_response(s, req, resp)
                    .await
            })
            .await;
        self.settle_cache(cache);
        result
    }

    /// Hand the request's cache directives to the instance for a hook call.
    fn lend_cache(&mut self, phase: Phase, cache: &mut CacheDirectives) {
        if let Some(live) = self.live.as_mut() {
            live.store.data_mut().cache.begin(phase, cache);
        }
    }

    /// Take them back, with what the call recorded (also after a failed or
    /// abandoned call: the store outlives it).
    fn settle_cache(&mut self, cache: &mut CacheDirectives) {
        if let Some(live) = self.live.as_mut() {
            live.store.data_mut().cache.end(cache);
        }
    }

    /// Mark the instance unusable (for a failure found by the host, such as an
    /// invalid decision), so it is not returned to the pool.
    pub fn poison(&mut self) {
        self.failed = true;
    }
}

impl Drop for FilterInstance<'_> {
    fn drop(&mut self) {
        self.filter.handles.instances.dec();
        if self.failed {
            return;
        }
        if let (Some(pool), Some(live)) = (self.filter.warm.as_ref(), self.live.take()) {
            // A full pool (`max_warm` idle already) just drops the extra
            // instance.
            if pool.push(live).is_ok() {
                self.filter.handles.warm.inc();
            }
        }
    }
}
