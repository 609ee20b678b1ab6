//! Replacing the live chain while it serves.
//!
//! Every trigger (filesystem events, the periodic poll, `SIGHUP`,
//! `POST /reload`) ends in [`Reloader::reload`]. It reads and hashes the
//! config directory, and only if the content differs from the live chain does
//! it build a new snapshot, completely and off the request path, then publish
//! it with one atomic swap. Requests in flight keep the snapshot they started
//! with. A load that fails keeps the old chain serving, is logged as JSON on
//! stderr and counted; the same broken content is not retried until it
//! changes (or a reload is forced).

pub mod watch;

use crate::chain::ChainSnapshot;
use crate::chain::SharedChain;
use crate::chain::load::{ChainLoader, LoadError};
use crate::telemetry::metrics::ReloadMetrics;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Mutex;

/// What asked for a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// A filesystem event in a watched directory (after the debounce).
    Event,
    /// The periodic content-hash poll.
    Poll,
    /// `SIGHUP`.
    Signal,
    /// `POST /reload`.
    Admin,
    /// `edgechain dev`, after rebuilding a plugin or re-staging the config.
    Dev,
}

impl Trigger {
    /// Operator-initiated triggers retry content that already failed, and
    /// count as an attempt even when nothing changed.
    fn forced(self) -> bool {
        matches!(self, Trigger::Signal | Trigger::Admin | Trigger::Dev)
    }

    /// The name `POST /reload` reports and the logs use.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Event => "event",
            Trigger::Poll => "poll",
            Trigger::Signal => "signal",
            Trigger::Admin => "admin",
            Trigger::Dev => "dev",
        }
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of one reload attempt, as `POST /reload` reports it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReloadReport {
    /// What asked for it.
    pub trigger: Trigger,
    /// Whether the serving chain now matches the directory's content.
    pub loaded: bool,
    /// Whether a new chain went live.
    pub changed: bool,
    /// Content hash of the chain serving after this attempt.
    pub hash: String,
    /// What differs from the previous chain (`changed x`, `added x`...).
    pub changes: Vec<String>,
    /// Milliseconds the attempt took.
    pub elapsed_ms: f64,
    /// Why the attempt failed, one entry per problem.
    pub errors: Vec<String>,
}

/// Loads and publishes chains for one config directory.
pub struct Reloader {
    loader: ChainLoader,
    dir: PathBuf,
    chain: SharedChain,
    metrics: Arc<ReloadMetrics>,
    /// Serialises reloads, and remembers the last content that failed.
    state: Mutex<Option<String>>,
}

impl Reloader {
    /// A reloader publishing into `chain`.
    pub fn new(
        loader: ChainLoader,
        dir: PathBuf,
        chain: SharedChain,
        metrics: Arc<ReloadMetrics>,
    ) -> Self {
        Reloader {
            loader,
            dir,
            chain,
            metrics,
            state: Mutex::new(None),
        }
    }

    /// The serving chain.
    pub fn chain(&self) -> &SharedChain {
        &self.chain
    }

    /// The config directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Directories to watch now: the config directory and every directory the
    /// manifest names files in.
    pub fn watch_dirs(&self) -> Vec<PathBuf> {
        crate::chain::granted::watch_dirs(&self.dir, self.loader.module_dirs())
    }

    /// Load the directory once at startup; there is no previous chain to keep.
    pub async fn load_initial(&self) -> Result<(), LoadError> {
        let _state = self.state.lock().await;
        self.metrics.attempt();
        match self.loader.load(&self.dir).await {
            Ok(snapshot) => {
                self.publish(snapshot);
                Ok(())
            }
            Err(e) => {
                self.metrics.failure();
                Err(e)
            }
        }
    }

    /// Load the directory again if its content changed, and publish the result
    /// if it loads.
    pub async fn reload(&self, trigger: Trigger) -> ReloadReport {
        let mut last_failed = self.state.lock().await;
        let started = Instant::now();
        let current = self.chain.load_full();
        let mut report = ReloadReport {
            trigger,
            loaded: false,
            changed: false,
            hash: current.hash().to_owned(),
            changes: Vec::new(),
            elapsed_ms: 0.0,
            errors: Vec::new(),
        };
        let finish = |mut r: ReloadReport| {
            r.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
            r
        };
        let source = match self.loader.read(&self.dir).await {
            Ok(source) => source,
            Err(e) => {
                // Unreadable manifest: the error text stands in for a content hash.
                let fingerprint = format!("error:{e}");
                report.errors = e.messages();
                if !trigger.forced() && last_failed.as_deref() == Some(fingerprint.as_str()) {
                    return finish(report);
                }
                *last_failed = Some(fingerprint);
                self.metrics.attempt();
                return finish(self.failed(report, &e));
            }
        };
        if source.hash() == current.hash() {
            if trigger.forced() {
                // An operator asked: the files were read again (granted
                // directories included) and found serving. Counted, so a
                // reload that was asked for shows in the metrics.
                self.metrics.attempt();
                self.metrics.confirmed();
                tracing::info!(
                    trigger = %trigger,
                    hash = %current.hash(),
                    "reload: the config directory matches the serving chain; nothing to load"
                );
            }
            if last_failed.take().is_some() {
                // Broken content was put back to what is serving.
                self.metrics.recovered();
                tracing::info!(hash = %current.hash(), "config directory matches the serving chain again");
            }
            report.loaded = true;
            return finish(report);
        }
        if !trigger.forced() && last_failed.as_deref() == Some(source.hash()) {
            report
                .errors
                .push("content unchanged since the last failed load".into());
            return finish(report);
        }
        let attempted = source.hash().to_owned();
        self.metrics.attempt();
        match self.loader.build(source).await {
            Ok(snapshot) => {
                *last_failed = None;
                report.loaded = true;
                report.changed = true;
                report.hash = snapshot.hash().to_owned();
                report.changes = current.changes_to(&snapshot);
                self.publish(snapshot);
                let report = finish(report);
                tracing::info!(
                    trigger = %trigger,
                    hash = %report.hash,
                    // One readable string: the log's fields are flat.
                    changes = %report.changes.join(", "),
                    elapsed_ms = report.elapsed_ms,
                    "chain reloaded"
                );
                report
            }
            Err(e) => {
                *last_failed = Some(attempted);
                finish(self.failed(report, &e))
            }
        }
    }

    fn failed(&self, mut report: ReloadReport, e: &LoadError) -> ReloadReport {
        self.metrics.failure();
        report.errors = e.messages();
        for error in &report.errors {
            tracing::error!(
                dir = %self.dir.display(),
                trigger = %report.trigger,
                error = %error,
                "reload failed; the current chain keeps serving"
            );
        }
        report
    }

    fn publish(&self, snapshot: ChainSnapshot) {
        self.loader.runtime().retain_cache(snapshot.cache_keys());
        self.metrics.success(snapshot.hash(), snapshot.link_count());
        self.chain.store(Arc::new(snapshot));
    }
}
