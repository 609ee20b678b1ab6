//! Replacing the live chain: load a new snapshot completely off the request
//! path, then publish it with one atomic swap. Requests in flight keep the
//! snapshot they started with; a failed load keeps the old chain serving.

use crate::chain::{ChainLoader, ChainSnapshot, LoadError};
use crate::proxy::SharedChain;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Mutex;

/// Loads and publishes chains for one config directory.
pub struct Reloader {
    loader: ChainLoader,
    dir: PathBuf,
    chain: SharedChain,
    /// Serialises reloads so two triggers never race to publish.
    running: Mutex<()>,
}

/// The outcome of one reload attempt, as `POST /reload` reports it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReloadReport {
    /// Whether a new chain is now serving (or the content was unchanged).
    pub loaded: bool,
    /// Whether the content differed from the serving chain.
    pub changed: bool,
    /// Content hash of the chain serving after this attempt.
    pub hash: String,
    /// Milliseconds the attempt took.
    pub elapsed_ms: u64,
    /// Why the attempt failed, one entry per problem.
    pub errors: Vec<String>,
}

impl Reloader {
    /// A reloader publishing into `chain`.
    pub fn new(loader: ChainLoader, dir: PathBuf, chain: SharedChain) -> Self {
        Reloader {
            loader,
            dir,
            chain,
            running: Mutex::new(()),
        }
    }

    /// The config directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Load the directory once (at startup): no previous chain to keep.
    pub async fn load_initial(&self) -> Result<(), LoadError> {
        let _guard = self.running.lock().await;
        let snapshot = self.loader.load(&self.dir).await?;
        self.publish(snapshot);
        Ok(())
    }

    /// Load the directory again and publish the result if it loads and differs.
    pub async fn reload(&self) -> ReloadReport {
        let _guard = self.running.lock().await;
        let started = Instant::now();
        let elapsed = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let before = self.chain.load().hash().to_owned();
        match self.loader.load(&self.dir).await {
            Ok(snapshot) => {
                let changed = snapshot.hash() != before;
                let hash = snapshot.hash().to_owned();
                if changed {
                    self.publish(snapshot);
                }
                let report = ReloadReport {
                    loaded: true,
                    changed,
                    hash,
                    elapsed_ms: elapsed(),
                    errors: Vec::new(),
                };
                tracing::info!(changed, hash = %report.hash, elapsed_ms = report.elapsed_ms, "chain reloaded");
                report
            }
            Err(e) => {
                let errors = e.messages();
                for error in &errors {
                    tracing::error!(dir = %self.dir.display(), error = %error, "reload failed; keeping the current chain");
                }
                ReloadReport {
                    loaded: false,
                    changed: false,
                    hash: before,
                    elapsed_ms: elapsed(),
                    errors,
                }
            }
        }
    }

    fn publish(&self, snapshot: ChainSnapshot) {
        self.loader.runtime().retain_cache(snapshot.module_hashes());
        self.chain.store(Arc::new(snapshot));
    }
}
