//! Prometheus metrics, served as text at `GET /metrics` on the admin port.
//!
//! One [`Metrics`] per process holds the registry; each room gets the handle
//! for its own metrics and only increments atomics on its path.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};

/// The content type of [`Metrics::encode`] output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Label set naming the live chain's content hash.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HashLabel {
    /// SHA-256 of the manifest and every file it names.
    pub hash: String,
}

/// Reload outcomes, as a scraper expects them.
#[derive(Debug, Default)]
pub struct ReloadMetrics {
    attempts: Counter,
    successes: Counter,
    failures: Counter,
    last_success: Gauge<f64, AtomicU64>,
    last_ok: Gauge,
    chain: Family<HashLabel, Gauge>,
    links: Gauge,
}

impl ReloadMetrics {
    /// A load of changed (or forced) content began.
    pub fn attempt(&self) {
        self.attempts.inc();
    }

    /// A chain with `hash` and `links` links went live.
    pub fn success(&self, hash: &str, links: usize) {
        self.successes.inc();
        self.last_ok.set(1);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.last_success.set(now);
        self.chain.clear();
        self.chain
            .get_or_create(&HashLabel {
                hash: hash.to_owned(),
            })
            .set(1);
        self.links.set(i64::try_from(links).unwrap_or(i64::MAX));
    }

    /// The directory's content is back to the serving chain after a failure.
    pub fn recovered(&self) {
        self.last_ok.set(1);
    }

    /// A load failed; the old chain keeps serving.
    pub fn failure(&self) {
        self.failures.inc();
        self.last_ok.set(0);
    }

    /// Loads attempted so far.
    pub fn attempts(&self) -> u64 {
        self.attempts.get()
    }

    /// Loads that failed so far.
    pub fn failures(&self) -> u64 {
        self.failures.get()
    }

    fn register(&self, r: &mut Registry) {
        r.register(
            "edgechain_reload_attempts",
            "Chain loads attempted (content changed or reload forced)",
            self.attempts.clone(),
        );
        r.register(
            "edgechain_reload_successes",
            "Chain loads that went live",
            self.successes.clone(),
        );
        r.register(
            "edgechain_reload_failures",
            "Chain loads rejected; the previous chain kept serving",
            self.failures.clone(),
        );
        r.register(
            "edgechain_reload_last_success_timestamp_seconds",
            "Unix time of the last chain that went live",
            self.last_success.clone(),
        );
        r.register(
            "edgechain_reload_last_attempt_success",
            "1 if the last load attempt went live, 0 if it was rejected",
            self.last_ok.clone(),
        );
        r.register(
            "edgechain_chain_info",
            "The live chain, labelled with its content hash (always 1)",
            self.chain.clone(),
        );
        r.register(
            "edgechain_chain_links",
            "Links in the live chain",
            self.links.clone(),
        );
    }
}

/// Labels of a plugin failure.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// The link's name.
    pub plugin: String,
    /// `trap`, `timeout`, `memory`, `invalid`, `instantiate` or `body_too_large`.
    pub cause: String,
}

/// Per-plugin outcomes.
#[derive(Debug, Default)]
pub struct PluginMetrics {
    failures: Family<FailureLabels, Counter>,
}

impl PluginMetrics {
    /// Count one failure of `plugin`.
    pub fn failure(&self, plugin: &str, cause: &str) {
        self.failures
            .get_or_create(&FailureLabels {
                plugin: plugin.to_owned(),
                cause: cause.to_owned(),
            })
            .inc();
    }

    fn register(&self, r: &mut Registry) {
        r.register(
            "edgechain_plugin_failures",
            "Plugin hook failures by plugin and cause; each went through the link's on_error policy",
            self.failures.clone(),
        );
    }
}

/// The process's metrics.
pub struct Metrics {
    registry: Registry,
    /// Reload outcomes.
    pub reload: std::sync::Arc<ReloadMetrics>,
    /// Per-plugin outcomes.
    pub plugins: std::sync::Arc<PluginMetrics>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let reload = std::sync::Arc::new(ReloadMetrics::default());
        reload.register(&mut registry);
        let plugins = std::sync::Arc::new(PluginMetrics::default());
        plugins.register(&mut registry);
        Metrics {
            registry,
            reload,
            plugins,
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_metrics_are_exposed() {
        let m = Metrics::new();
        m.reload.attempt();
        m.reload.success("abc", 3);
        m.reload.attempt();
        m.reload.failure();
        let text = m.encode();
        for line in [
            "edgechain_reload_attempts_total 2",
            "edgechain_reload_successes_total 1",
            "edgechain_reload_failures_total 1",
            "edgechain_reload_last_attempt_success 0",
            "edgechain_chain_info{hash=\"abc\"} 1",
            "edgechain_chain_links 3",
        ] {
            assert!(text.contains(line), "missing `{line}` in:\n{text}");
        }
    }
}
