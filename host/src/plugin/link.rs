//! What every link is, whatever its kind: its manifest entry, what its
//! instances share, its call budget, and its accounting. A filter and a
//! handler are each one of these plus what their kind needs.

use super::call::LinkFailure;
use super::state::LinkContext;
use crate::config::{LinkSpec, OnError};
use crate::telemetry::metrics::{PluginHandles, PluginMetrics};
use std::sync::Arc;
use std::time::Duration;

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
    pub(super) context: Arc<LinkContext>,
    pub(super) timeout: Duration,
    metrics: Arc<PluginMetrics>,
    pub(super) handles: PluginHandles,
}

impl Link {
    /// The link `spec`, whose instances share `context`, counted in
    /// `metrics`.
    pub fn new(spec: LinkSpec, context: Arc<LinkContext>, metrics: Arc<PluginMetrics>) -> Link {
        Link {
            timeout: Duration::from_millis(spec.timeout_ms),
            handles: metrics.handles(&context.name),
            spec,
            context,
            metrics,
        }
    }

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

    /// Count one request this link did not run for (its `when`/`unless`).
    pub fn record_skip(&self) {
        self.handles.skipped.inc();
    }

    /// Count one hook call cut short because its request was dropped.
    pub fn record_cancelled_call(&self, took: Duration) {
        self.record_call(took);
        self.handles.cancelled.inc();
    }
}
