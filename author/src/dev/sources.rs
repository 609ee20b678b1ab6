//! Watching plugin sources and the config directory for `edgechain dev`.
//!
//! Each source directory (a plugin crate, or a local dependency such as the
//! SDK) is watched at its top level plus every subdirectory but `target/` and
//! hidden ones, so build output (thousands of directories) never costs
//! watches or triggers rebuilds. An edit in a directory rebuilds every crate
//! that directory belongs to.

use super::DevError;
use super::cargo::PluginCrate;
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

/// A source directory and the crates (by index) an edit in it rebuilds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceDir {
    /// The directory.
    pub dir: PathBuf,
    /// Indices of the crates that build from it.
    pub crates: Vec<usize>,
}

/// The source directories of `crates`: each crate's own, plus its local
/// dependencies, merged so a shared one (the SDK) is watched once.
pub fn source_dirs<'a>(
    crates: impl IntoIterator<Item = (usize, &'a PluginCrate)>,
) -> Vec<SourceDir> {
    let mut dirs: Vec<SourceDir> = Vec::new();
    for (index, krate) in crates {
        let own = std::iter::once(krate.dir().to_path_buf());
        for dir in own.chain(krate.path_deps.iter().cloned()) {
            match dirs.iter_mut().find(|d| d.dir == dir) {
                Some(d) if !d.crates.contains(&index) => d.crates.push(index),
                Some(_) => {}
                None => dirs.push(SourceDir {
                    dir,
                    crates: vec![index],
                }),
            }
        }
    }
    dirs
}

/// Live watches; dropping it stops them.
pub struct Sources {
    _watcher: notify::RecommendedWatcher,
}

impl Sources {
    /// Watch `sources` and `config_dir`, sending each relevant change on `tx`.
    pub fn watch(
        sources: Vec<SourceDir>,
        config_dir: PathBuf,
        tx: mpsc::UnboundedSender<Change>,
    ) -> Result<Sources, DevError> {
        let classify_sources = sources.clone();
        let classify_config = config_dir.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                if matches!(event.kind, EventKind::Access(_)) {
                    return;
                }
                for path in &event.paths {
                    for change in classify(path, &classify_sources, &classify_config) {
                        let _ = tx.send(change);
                    }
                }
            })
            .map_err(watch_error(&config_dir))?;
        watcher
            .watch(&config_dir, RecursiveMode::Recursive)
            .map_err(watch_error(&config_dir))?;
        for dir in sources.iter().map(|s| &s.dir) {
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

/// What `path` changes, if anything. The config directory wins when it lies
/// inside a crate (a scaffold keeps its `proxy_config/` there); otherwise the
/// deepest source directory holding `path` decides.
fn classify(path: &Path, sources: &[SourceDir], config_dir: &Path) -> Vec<Change> {
    if let Ok(rel) = path.strip_prefix(config_dir) {
        // Edits of the config directory itself: any file counts, but not
        // editor scratch files.
        let name = rel.file_name().map(|n| n.to_string_lossy().into_owned());
        return match name {
            Some(n) if n.ends_with('~') || n.ends_with(".swp") || n == "4913" => Vec::new(),
            _ => vec![Change::Config],
        };
    }
    let Some(source) = sources
        .iter()
        .filter(|s| path.starts_with(&s.dir))
        .max_by_key(|s| s.dir.components().count())
    else {
        return Vec::new();
    };
    let rel = path.strip_prefix(&source.dir).unwrap_or(path);
    let ignored = rel
        .components()
        .any(|c| ignored_name(&c.as_os_str().to_string_lossy()));
    if ignored || rel.as_os_str().is_empty() {
        return Vec::new();
    }
    source.crates.iter().map(|&i| Change::Crate(i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn krate(dir: &str, deps: &[&str]) -> PluginCrate {
        PluginCrate {
            package: "p".into(),
            lib_name: "p".into(),
            manifest: Path::new(dir).join("Cargo.toml"),
            path_deps: deps.iter().map(PathBuf::from).collect(),
            workspace_root: PathBuf::from("/w"),
        }
    }

    #[test]
    fn sources_config_and_noise_are_told_apart() {
        let crates = [
            krate("/w/p", &["/w/sdk"]),
            krate("/w/p/nested", &["/w/sdk"]),
        ];
        let sources = source_dirs(crates.iter().enumerate());
        assert_eq!(
            sources.len(),
            3,
            "the shared SDK is watched once: {sources:?}"
        );
        let config = PathBuf::from("/w/p/proxy_config");
        let c = |p: &str| classify(Path::new(p), &sources, &config);
        assert_eq!(c("/w/p/src/lib.rs"), [Change::Crate(0)]);
        assert_eq!(c("/w/p/Cargo.toml"), [Change::Crate(0)]);
        assert_eq!(c("/w/p/nested/src/lib.rs"), [Change::Crate(1)]);
        assert_eq!(c("/w/sdk/src/lib.rs"), [Change::Crate(0), Change::Crate(1)]);
        assert_eq!(c("/w/p/proxy_config/proxychain.json"), [Change::Config]);
        for noise in [
            "/w/p/proxy_config/.proxychain.json.swp",
            "/w/p/target/release/x.wasm",
            "/w/p/Cargo.lock",
            "/w/p/src/.lib.rs.swp",
            "/w/p/src/lib.rs~",
            "/elsewhere/lib.rs",
        ] {
            assert_eq!(c(noise), [] as [Change; 0], "{noise}");
        }
    }
}
