//! Prometheus metrics, served as text at `GET /metrics` on the admin port.
//!
//! One [`Metrics`] per process holds the registry; each room gets the handle
//! for its own metrics and only increments atomics on its path.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
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

    /// A forced reload found the directory's content already serving: the
    /// attempt succeeded without a new chain going live.
    pub fn confirmed(&self) {
        self.successes.inc();
        self.last_ok.set(1);
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
            "Reload attempts that ended with the directory's content serving (a chain went live, or a forced reload found it serving)",
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

/// Labels naming one plugin.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabel {
    /// The link's name.
    pub plugin: String,
}

/// Buckets for plugin hook latency, in seconds: 10 µs to 100 ms.
const HOOK_BUCKETS: [f64; 10] = [
    1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 2.5e-2, 1e-1,
];

fn hook_histogram() -> Histogram {
    Histogram::new(HOOK_BUCKETS)
}

/// Labels of one outbound call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutboundLabels {
    /// The calling link.
    pub plugin: String,
    /// The authority called (`denied` or `invalid` when none was).
    pub authority: String,
    /// `ok`, `denied`, `invalid`, `connect`, `timeout`, `too_large` or
    /// `protocol`.
    pub outcome: String,
}

/// Labels of a link and an authority.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthorityLabels {
    /// The calling link.
    pub plugin: String,
    /// The authority called.
    pub authority: String,
}

/// Per-plugin outcomes.
#[derive(Debug)]
pub struct PluginMetrics {
    failures: Family<FailureLabels, Counter>,
    calls: Family<PluginLabel, Counter>,
    cancelled: Family<PluginLabel, Counter>,
    duration: Family<PluginLabel, Histogram, fn() -> Histogram>,
    instances: Family<PluginLabel, Gauge>,
    warm: Family<PluginLabel, Gauge>,
    memory: Family<PluginLabel, Gauge>,
    outbound: Family<OutboundLabels, Counter>,
    outbound_duration: Family<AuthorityLabels, Histogram, fn() -> Histogram>,
}

impl Default for PluginMetrics {
    fn default() -> Self {
        PluginMetrics {
            failures: Family::default(),
            calls: Family::default(),
            cancelled: Family::default(),
            duration: Family::new_with_constructor(hook_histogram),
            instances: Family::default(),
            warm: Family::default(),
            memory: Family::default(),
            outbound: Family::default(),
            outbound_duration: Family::new_with_constructor(hook_histogram),
        }
    }
}

/// One plugin's metric handles, looked up once at load so the request path
/// only touches atomics.
#[derive(Debug, Clone)]
pub struct PluginHandles {
    /// Hook calls.
    pub calls: Counter,
    /// Hook calls cut short because the client went away.
    pub cancelled: Counter,
    /// Hook latency, instantiation included.
    pub duration: Histogram,
    /// Instances pinned to requests right now.
    pub instances: Gauge,
    /// Idle instances kept warm for `reuse` right now.
    pub warm: Gauge,
    /// Bytes of linear memory and tables held by this link's live
    /// instances, pinned and warm.
    pub memory: Gauge,
}

impl PluginMetrics {
    /// The handles of plugin `name`.
    pub fn handles(&self, name: &str) -> PluginHandles {
        let label = PluginLabel {
            plugin: name.to_owned(),
        };
        PluginHandles {
            calls: self.calls.get_or_create(&label).clone(),
            cancelled: self.cancelled.get_or_create(&label).clone(),
            duration: self.duration.get_or_create(&label).clone(),
            instances: self.instances.get_or_create(&label).clone(),
            warm: self.warm.get_or_create(&label).clone(),
            memory: self.memory.get_or_create(&label).clone(),
        }
    }

    /// Count one outbound HTTP call of `plugin` and how long it took.
    pub fn outbound(
        &self,
        plugin: &str,
        authority: &str,
        outcome: &str,
        took: std::time::Duration,
    ) {
        self.outbound
            .get_or_create(&OutboundLabels {
                plugin: plugin.to_owned(),
                authority: authority.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        if outcome == "ok" {
            self.outbound_duration
                .get_or_create(&AuthorityLabels {
                    plugin: plugin.to_owned(),
                    authority: authority.to_owned(),
                })
                .observe(took.as_secs_f64());
        }
    }

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
            "edgechain_plugin_calls",
            "Plugin hook calls (on-request and on-response)",
            self.calls.clone(),
        );
        r.register(
            "edgechain_plugin_cancelled_calls",
            "Plugin hook calls cut short because the client went away (also counted in edgechain_plugin_calls)",
            self.cancelled.clone(),
        );
        r.register(
            "edgechain_plugin_call_duration_seconds",
            "Plugin hook latency, getting the instance included",
            self.duration.clone(),
        );
        r.register(
            "edgechain_plugin_instances_in_use",
            "Plugin instances pinned to in-flight requests",
            self.instances.clone(),
        );
        r.register(
            "edgechain_plugin_instances_warm",
            "Idle plugin instances kept warm for reuse (at most the link's max_warm)",
            self.warm.clone(),
        );
        r.register(
            "edgechain_plugin_memory_bytes",
            "Linear memory and tables of a link's live instances, in use and warm (what the pooling allocator may keep resident for them)",
            self.memory.clone(),
        );
        r.register(
            "edgechain_plugin_http_requests",
            "Outbound HTTP calls by plugin, authority and outcome",
            self.outbound.clone(),
        );
        r.register(
            "edgechain_plugin_http_duration_seconds",
            "Outbound HTTP calls that got a response, by plugin and authority",
            self.outbound_duration.clone(),
        );
        r.register(
            "edgechain_plugin_failures",
            "Plugin hook failures by plugin and cause; each went through the link's on_error policy",
            self.failures.clone(),
        );
    }
}

/// Labels of a finished request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `1xx` … `5xx`.
    pub code: String,
    /// The link that answered at the edge; empty when the next hop (or the
    /// host itself) answered.
    pub answered_by: String,
}

/// Label naming an upstream failure kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// `connect`, `timeout` or `protocol`: the next hop's faults only.
    pub kind: String,
}

/// Label naming why the listener answered a request itself.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// `malformed`, `too_large`, `header_timeout` or `over_capacity`.
    pub reason: String,
}

/// Label naming the build.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    /// Crate version.
    pub version: String,
    /// wasmtime version.
    pub wasmtime: String,
}

/// Request latency buckets, in seconds: 100 µs to 10 s.
const REQUEST_BUCKETS: [f64; 14] = [
    1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 1.0, 2.5, 10.0,
];

/// Per-request traffic metrics.
#[derive(Debug)]
pub struct RequestMetrics {
    requests: Family<RequestLabels, Counter>,
    /// The common case (no link answered), looked up once: index by class.
    by_class: [Counter; 5],
    /// Request body bytes, as declared by `Content-Length`.
    pub request_bytes: Counter,
    /// Response body bytes sent to clients.
    pub response_bytes: Counter,
    /// Arrival to last response byte.
    pub duration: Histogram,
    /// Sending to the next hop until its response headers.
    pub upstream_duration: Histogram,
    upstream_errors: Family<KindLabel, Counter>,
    rejections: Family<ReasonLabel, Counter>,
    /// Access log lines dropped because stdout was too slow.
    pub access_log_dropped: Counter,
    build: Family<BuildLabels, Gauge>,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                wasmtime: "48".to_owned(),
            })
            .set(1);
        let requests = Family::<RequestLabels, Counter>::default();
        let by_class = ["1xx", "2xx", "3xx", "4xx", "5xx"].map(|code| {
            requests
                .get_or_create(&RequestLabels {
                    code: code.to_owned(),
                    answered_by: String::new(),
                })
                .clone()
        });
        RequestMetrics {
            requests,
            by_class,
            request_bytes: Counter::default(),
            response_bytes: Counter::default(),
            duration: Histogram::new(REQUEST_BUCKETS),
            upstream_duration: Histogram::new(REQUEST_BUCKETS),
            upstream_errors: Family::default(),
            rejections: Family::default(),
            access_log_dropped: Counter::default(),
            build,
        }
    }
}

impl RequestMetrics {
    /// Count a finished request.
    pub fn request(&self, status: u16, answered_by: Option<&str>) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        let Some(answered_by) = answered_by else {
            self.by_class[class].inc();
            return;
        };
        let code = ["1xx", "2xx", "3xx", "4xx", "5xx"][class];
        self.requests
            .get_or_create(&RequestLabels {
                code: code.to_owned(),
                answered_by: answered_by.to_owned(),
            })
            .inc();
    }

    /// Count a failed attempt to reach the next hop.
    pub fn upstream_error(&self, kind: &str) {
        self.upstream_errors
            .get_or_create(&KindLabel {
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// Count a request the listener answered itself, by the status sent.
    pub fn listener_rejection(&self, status: u16) {
        let reason = match status {
            408 => "header_timeout",
            431 | 414 => "too_large",
            503 => "over_capacity",
            _ => "malformed",
        };
        self.rejections
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }

    fn register(&self, r: &mut Registry) {
        r.register(
            "edgechain_listener_rejections",
            "Requests the listener answered itself (malformed, too large, head too slow, over the connection cap)",
            self.rejections.clone(),
        );
        r.register(
            "edgechain_requests",
            "Requests answered, by status class and by the link that answered at the edge",
            self.requests.clone(),
        );
        r.register(
            "edgechain_request_bytes",
            "Request body bytes received (as declared by Content-Length)",
            self.request_bytes.clone(),
        );
        r.register(
            "edgechain_response_bytes",
            "Response body bytes sent",
            self.response_bytes.clone(),
        );
        r.register(
            "edgechain_request_duration_seconds",
            "Time from a request's arrival to its last response byte",
            self.duration.clone(),
        );
        r.register(
            "edgechain_upstream_duration_seconds",
            "Time from sending to the next hop to its response headers",
            self.upstream_duration.clone(),
        );
        r.register(
            "edgechain_upstream_errors",
            "Requests the next hop did not answer, by kind",
            self.upstream_errors.clone(),
        );
        r.register(
            "edgechain_access_log_dropped",
            "Access log lines dropped because stdout could not keep up",
            self.access_log_dropped.clone(),
        );
        r.register(
            "edgechain_build_info",
            "Build of this process (always 1)",
            self.build.clone(),
        );
    }
}

/// The HTTP cache's counters and gauges (one set per process: the cache
/// outlives chains, and a new store after a settings change keeps counting).
#[derive(Debug, Default)]
pub struct CacheMetrics {
    /// Requests answered from the store (fresh, or stale while revalidating).
    pub hits: Counter,
    /// Requests the cache forwarded for lack of a usable stored response.
    pub misses: Counter,
    /// Stale responses served (while revalidating, `max-stale`, or on error).
    pub stale: Counter,
    /// Requests that waited for another request's fetch instead of their own.
    pub collapsed: Counter,
    /// Bytes stored now (bodies, heads and keys).
    pub stored_bytes: Gauge,
    /// Objects stored now.
    pub objects: Gauge,
    /// Objects the byte budget evicted.
    pub evictions: Counter,
}

impl CacheMetrics {
    fn register(&self, r: &mut Registry) {
        r.register(
            "edgechain_cache_hits",
            "Requests answered from the cache",
            self.hits.clone(),
        );
        r.register(
            "edgechain_cache_misses",
            "Requests the cache forwarded to the next hop (misses, validations, passes)",
            self.misses.clone(),
        );
        r.register(
            "edgechain_cache_stale",
            "Stale responses served (stale-while-revalidate, max-stale, stale-if-error)",
            self.stale.clone(),
        );
        r.register(
            "edgechain_cache_collapsed",
            "Requests that waited for a concurrent fetch of the same key instead of their own",
            self.collapsed.clone(),
        );
        r.register(
            "edgechain_cache_stored_bytes",
            "Bytes held by the cache store",
            self.stored_bytes.clone(),
        );
        r.register(
            "edgechain_cache_objects",
            "Objects held by the cache store",
            self.objects.clone(),
        );
        r.register(
            "edgechain_cache_evictions",
            "Objects evicted to keep the cache within its byte budget",
            self.evictions.clone(),
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
    /// Traffic.
    pub requests: std::sync::Arc<RequestMetrics>,
    /// The HTTP cache.
    pub cache: std::sync::Arc<CacheMetrics>,
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
        let requests = std::sync::Arc::new(RequestMetrics::default());
        requests.register(&mut registry);
        let cache = std::sync::Arc::new(CacheMetrics::default());
        cache.register(&mut registry);
        Metrics {
            registry,
            reload,
            plugins,
            requests,
            cache,
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
