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
pub mod cache;
pub mod call;
pub mod clock;
pub mod filter;
pub mod handler;
pub mod link;
pub mod output;
pub mod preinit;
pub mod state;

pub use call::LinkFailure;
pub use filter::{Filter, FilterInstance, Needs};
pub use handler::Handler;
pub use link::{Link, LinkError};

use crate::config::LinkSpec;
use crate::engine::Runtime;
use crate::kv::Namespace;
use crate::telemetry::metrics::PluginMetrics;
use output::LinkOutput;
use state::LinkContext;
use std::path::Path;
use std::sync::Arc;
use wasmtime::component::Component;

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
    let link = Link::new(spec, context, metrics);
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
