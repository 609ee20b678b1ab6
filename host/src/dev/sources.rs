//! Watching plugin sources and the config directory for `edgechain dev`.
//!
//! Each crate directory is watched at its top level plus every subdirectory
//! but `target/` and hidden ones, so a crate's build output (thousands of
//! directories) never costs watches or triggers rebuilds.

use super::DevError;
use notify::{EventKind, RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// A source file of the crate at this index.
    Crate(usize),
    /// A file of the config directory.
    Config,
}

/// Live watches; dropping it stops them.
pub struct Sources {
    _watcher: notify::RecommendedWatcher,
}

impl Sources {
    /// Watch `crate_dirs` and `config_dir`, sending each relevant change on `tx`.
    pub fn watch(
        crate_dirs: Vec<PathBuf>,
        config_dir: PathBuf,
        tx: mpsc::UnboundedSender<Change>,
    ) -> Result<Sources, DevError> {
        let classify_dirs = crate_dirs.clone();
        let classify_config = config_dir.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                if matches!(event.kind, EventKind::Access(_)) {
                    return;
                }
                for path in &event.paths {
                    if let Some(change) = classify(path, &classify_dirs, &classify_config) {
                        let _ = tx.send(change);
                    }
                }
            })
            .map_err(watch_error(&config_dir))?;
        watcher
            .watch(&config_dir, RecursiveMode::Recursive)
            .map_err(watch_error(&config_dir))?;
        for dir in &crate_dirs {
            watcher
                .watch(dir, RecursiveMode::NonRecursive)
                .map_err(watch_error(dir))?;
            let entries = std::fs::read_dir(dir).map_err(|e| DevError::Io {
                what: format!("reading {}", dir.display()),
                source: e,
            })?;
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() && !ignored_name(&entry.file_name().to_string_lossy()) {
                    watcher
                        .watch(&path, RecursiveMode::Recursive)
                        .map_err(watch_error(&path))?;
                }
            }
        }
        Ok(Sources { _watcher: watcher })
    }
}

fn watch_error(dir: &Path) -> impl FnOnce(notify::Error) -> DevError + '_ {
    move |e| DevError::Watch(format!("cannot watch {}: {e}", dir.display()))
}

/// Names that are build output, VCS data, editor scratch or cargo's own writes.
fn ignored_name(name: &str) -> bool {
    name == "target"
        || name == "Cargo.lock"
        || name.starts_with('.')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name == "4913"
}

/// Which change `path` is, if any. The config directory wins when it lies
/// inside a crate (a scaffold keeps its `proxy_config/` there).
fn classify(path: &Path, crate_dirs: &[PathBuf], config_dir: &Path) -> Option<Change> {
    if let Ok(rel) = path.strip_prefix(config_dir) {
        // Edits of the config directory itself: any file counts, but not
        // editor scratch files.
        let name = rel.file_name().map(|n| n.to_string_lossy().into_owned());
        return match name {
            Some(n) if n.ends_with('~') || n.ends_with(".swp") || n == "4913" => None,
            _ => Some(Change::Config),
        };
    }
    let (index, dir) = crate_dirs
        .iter()
        .enumerate()
        .filter(|(_, d)| path.starts_with(d))
        .max_by_key(|(_, d)| d.components().count())?;
    let rel = path.strip_prefix(dir).ok()?;
    let ignored = rel
        .components()
        .any(|c| ignored_name(&c.as_os_str().to_string_lossy()));
    (!ignored && !rel.as_os_str().is_empty()).then_some(Change::Crate(index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_config_and_noise_are_told_apart() {
        let crates = [PathBuf::from("/w/p"), PathBuf::from("/w/p/nested")];
        let config = PathBuf::from("/w/p/proxy_config");
        let c = |p: &str| classify(Path::new(p), &crates, &config);
        assert_eq!(c("/w/p/src/lib.rs"), Some(Change::Crate(0)));
        assert_eq!(c("/w/p/Cargo.toml"), Some(Change::Crate(0)));
        assert_eq!(c("/w/p/nested/src/lib.rs"), Some(Change::Crate(1)));
        assert_eq!(c("/w/p/proxy_config/proxychain.json"), Some(Change::Config));
        assert_eq!(c("/w/p/proxy_config/.proxychain.json.swp"), None);
        assert_eq!(c("/w/p/target/release/x.wasm"), None);
        assert_eq!(c("/w/p/Cargo.lock"), None);
        assert_eq!(c("/w/p/src/.lib.rs.swp"), None);
        assert_eq!(c("/w/p/src/lib.rs~"), None);
        assert_eq!(c("/elsewhere/lib.rs"), None);
    }
}
