//! One loaded chain link, of one of two kinds: a [`Filter`] (an
//! `edgechain:plugin` component, which sees the request and the response) or
//! a [`Handler`] (a standard `wasi:http` component, which answers instead of
//! the next hop and can only be last). What every link has whatever its kind
//! (its manifest entry, what its instances share, its accounting) is a
//! [`Link`].
//!
//! Setup (type-checking the imports, `init`) happens once in [`load`]; per
//! request the only work is taking an instance and one guarded call per hook
//! ([`call::guarded`]).

pub mod bindings;
pub mod call;
pub mod clock;
pub mod filter;
pub mod handler;
pub mod output;
pub mod preinit;
pub mod state;

pub use call::LinkFailure;
pub use filter::{Filter, FilterInstance, Needs};
pub use handler::Handler;

use crate::config::{LinkSpec, OnError};
use crate::engine::Runtime;
use crate::kv::Namespace;
use crate::telemetry::metrics::{PluginHandles, PluginMetrics};
use output::LinkOutput;
use state::LinkContext;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::Component;

/// Why a link could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The component's imports or exports do not match the `edgechain:plugin`
    /// world (or the `wasi:http` proxy world, for a handler).
    #[error("does not match the edgechain:plugin world: {0}")]
    World(String),
    /// `init` returned an error for this config.
    #[error("init rejected the config: {0}")]
    InitRejected(String),
    /// `init` could not run to completion.
    #[error("init failed: {0}")]
    InitFailed(LinkFailure),
}

/// What every link is, whatever its kind: its manifest entry, what its
/// instances share, its call budget, and its metrics.
pub struct Link {
    spec: LinkSpec,
    context: Arc<LinkContext>,
    timeout: Duration,
    metrics: Arc<PluginMetrics>,
    handles: PluginHandles,
}

impl Link {
    /// The link's manifest entry.
    pub fn spec(&self) -> &LinkSpec {
        &self.spec
    }

    /// The link's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The link's name, shared (for logs that outlive the request).
    pub fn name_arc(&self) -> Arc<str> {
        self.context.name.clone()
    }

    /// The failure policy.
    pub fn on_error(&self) -> OnError {
        self.spec.on_error
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
}

/// A loaded link, by kind (boxed: both are large, and moved once, into
/// their chain).
#[derive(Debug)]
pub enum Loaded {
    /// An `edgechain:plugin` filter.
    Filter(Box<Filter>),
    /// A `wasi:http` handler: the chain's terminal.
    Handler(Box<Handler>),
}

impl Loaded {
    /// What every link is.
    pub fn link(&self) -> &Link {
        match self {
            Loaded::Filter(f) => f,
            Loaded::Handler(h) => h,
        }
    }
}

/// Load `component` as the link `spec`: link it against the host imports
/// and, by its exports, make it a filter or a handler. Unless `declared` says
/// what `init` returned already (the component is a pre-initialised
/// snapshot), a filter is instantiated once and its `init` called. Nothing
/// here runs on the request path.
pub async fn load(
    runtime: &Runtime,
    spec: LinkSpec,
    context: Arc<LinkContext>,
    component: &Component,
    declared: Option<bindings::Needs>,
    metrics: Arc<PluginMetrics>,
) -> Result<Loaded, LinkError> {
    let world = |e: wasmtime::Error| LinkError::World(format!("{e:#}"));
    let is_filter = component
        .get_export_index(None, filter::FILTER_EXPORT)
        .is_some();
    let is_handler = component
        .get_export_index(None, handler::INCOMING_HANDLER)
        .is_some();
    let pre = runtime.linker().instantiate_pre(component).map_err(world)?;
    let link = Link {
        timeout: Duration::from_millis(spec.timeout_ms),
        handles: metrics.handles(&context.name),
        spec,
        context,
        metrics,
    };
    match (is_filter, is_handler) {
        (true, _) => {
            let pre = bindings::PluginPre::new(pre).map_err(world)?;
            Filter::load(link, pre, component, declared)
                .await
                .map(|f| Loaded::Filter(Box::new(f)))
        }
        (false, true) => {
            let pre = wasmtime_wasi_http::p2::bindings::ProxyPre::new(pre).map_err(world)?;
            Handler::load(link, pre).map(|h| Loaded::Handler(Box::new(h)))
        }
        (false, false) => Err(LinkError::World(format!(
            "exports neither `{}` (an edgechain plugin) nor `{}` (a wasi:http handler)",
            filter::FILTER_EXPORT,
            handler::INCOMING_HANDLER
        ))),
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
        grant: Arc::new(crate::outbound::OutboundGrant {
            authorities: spec.grants.http.clone(),
            max_body_bytes: spec.max_body_bytes,
        }),
    })
}
