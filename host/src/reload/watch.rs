//! The automatic reload triggers: filesystem events (debounced) and a periodic
//! content-hash poll, both feeding [`Reloader::reload`].
//!
//! Directories are watched, never single files: Kubernetes updates a
//! ConfigMap volume by swapping the `..data` symlink, and editors save by
//! renaming a temporary file over the target, so the inode behind a file
//! path changes. Events only say "look again"; whether to reload is decided
//! on content hashes. The poll catches what inotify misses (queue overflow,
//! network filesystems, symlink retargeting).

use super::{Reloader, Trigger};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// When to look at the config directory again.
#[derive(Debug, Clone, Copy)]
pub struct WatchSettings {
    /// Quiet time after the last event before reloading, so a burst of events
    /// (a copy, a `..data` swap) becomes one reload.
    pub debounce: Duration,
    /// Interval of the content-hash poll; `None` disables it.
    pub poll_interval: Option<Duration>,
    /// Whether to subscribe to filesystem events at all.
    pub events: bool,
}

impl Default for WatchSettings {
    fn default() -> Self {
        WatchSettings {
            debounce: Duration::from_millis(200),
            poll_interval: Some(Duration::from_secs(30)),
            events: true,
        }
    }
}

/// The automatic triggers of one config directory.
pub struct Watch {
    reloader: Arc<Reloader>,
    settings: WatchSettings,
    changed: Arc<Notify>,
    watcher: Option<RecommendedWatcher>,
    watched: Vec<Watched>,
}

impl Watch {
    /// Subscribe to filesystem events now, so no change made after this
    /// returns is missed; call before loading the first chain.
    pub fn new(reloader: Arc<Reloader>, settings: WatchSettings) -> Watch {
        let changed = Arc::new(Notify::new());
        let watcher = settings.events.then(|| watcher(changed.clone())).flatten();
        let mut watch = Watch {
            reloader,
            settings,
            changed,
            watcher,
            watched: Vec::new(),
        };
        watch.rewatch();
        watch
    }

    /// Reload on events and polls until `stop` turns true.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut poll = self
            .settings
            .poll_interval
            .map(|every| tokio::time::interval_at(tokio::time::Instant::now() + every, every));
        loop {
            let trigger = tokio::select! {
                _ = self.changed.notified() => Trigger::Event,
                _ = tick(&mut poll) => Trigger::Poll,
                _ = stop.changed() => return,
            };
            if trigger == Trigger::Event {
                // Wait for a quiet period: every event restarts the debounce.
                while tokio::time::timeout(self.settings.debounce, self.changed.notified())
                    .await
                    .is_ok()
                {}
            }
            self.reloader.reload(trigger).await;
            self.rewatch();
        }
    }

    /// Watch exactly the directories the current manifest needs. Re-run after
    /// every reload: the manifest may name new directories, and a directory
    /// reached through a symlink (a Kubernetes `..data` swap) may now be
    /// another one. Unchanged watches are left alone: dropping and re-adding a
    /// watch on the same inode races with the kernel's removal notice.
    fn rewatch(&mut self) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        let wanted: Vec<Watched> = self
            .reloader
            .watch_dirs()
            .into_iter()
            .map(|path| {
                let target = std::fs::canonicalize(&path).ok();
                Watched { path, target }
            })
            .collect();
        self.watched.retain(|w| {
            let keep = wanted.contains(w);
            if !keep {
                let _ = watcher.unwatch(&w.path);
            }
            keep
        });
        for w in wanted {
            if self.watched.contains(&w) {
                continue;
            }
            match watcher.watch(&w.path, RecursiveMode::NonRecursive) {
                Ok(()) => self.watched.push(w),
                Err(e) => {
                    tracing::debug!(dir = %w.path.display(), error = %e, "cannot watch directory");
                }
            }
        }
    }
}

async fn tick(poll: &mut Option<tokio::time::Interval>) {
    match poll {
        Some(p) => {
            p.tick().await;
        }
        None => std::future::pending().await,
    }
}

fn watcher(changed: Arc<Notify>) -> Option<RecommendedWatcher> {
    let handler = move |event: notify::Result<notify::Event>| match event {
        // Access events (open/read/close-nowrite) are our own reads.
        Ok(e) if e.kind.is_access() => {}
        Ok(e) => {
            tracing::trace!(event = ?e, "config directory event");
            changed.notify_one();
        }
        Err(e) => {
            // Overflow and similar: look again to be safe.
            tracing::warn!(error = %e, "filesystem watch error");
            changed.notify_one();
        }
    };
    match notify::recommended_watcher(handler) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the config directory; relying on the poll");
            None
        }
    }
}

/// A watched directory and what it resolved to when the watch was added.
#[derive(Debug, PartialEq, Eq)]
struct Watched {
    path: PathBuf,
    target: Option<PathBuf>,
}
