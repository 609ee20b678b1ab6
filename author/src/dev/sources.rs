//! Watching plugin sources and the config directory for `edgechain dev`.
//!
//! Each source directory (a plugin project, or a local dependency such as an
//! SDK) is watched at its top level plus every subdirectory but build output
//! (`target/`, `node_modules/`, `__pycache__/`) and hidden ones (`.venv/`,
//! `.git/`), so thousands of generated directories never cost watches or
//! trigger rebuilds. An edit in a directory rebuilds every project that
//! directory belongs to.

use super::DevError;
use notify::{EventKind, RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::mpsc;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// A source file of the project at this index.
    Project(usize),
    /// A file of the config directory.
    Config,
}

/// A source directory and the projects (by index) an edit in it rebuilds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceDir {
    /// The directory.
    pub dir: PathBuf,
    /// Indices of the projects that build from it.
    pub projects: Vec<usize>,
}

/// The source directories of the projects (index and directories each),
/// merged so a shared one (an SDK) is watched once.
pub fn source_dirs(projects: impl IntoIterator<Item = (usize, Vec<PathBuf>)>) -> Vec<SourceDir> {
    let mut dirs: Vec<SourceDir> = Vec::new();
    for (index, own) in projects {
        for dir in own {
            add_dir(&mut dirs, dir, index);
        }
    }
    dirs
}

/// Record that `index` builds from `dir`; whether `dir` is new.
fn add_dir(dirs: &mut Vec<SourceDir>, dir: PathBuf, index: usize) -> bool {
    match dirs.iter_mut().find(|d| d.dir == dir) {
        Some(d) => {
            if !d.projects.contains(&index) {
                d.projects.push(index);
            }
            false
        }
        None => {
            dirs.push(SourceDir {
                dir,
                projects: vec![index],
            });
            true
        }
    }
}

/// Live watches; dropping it stops them.
pub struct Sources {
    watcher: notify::RecommendedWatcher,
    dirs: Arc<Mutex<Vec<SourceDir>>>,
    config_dir: PathBuf,
}

impl Sources {
    /// Watch `sources` and `config_dir`, sending each relevant change on `tx`.
    pub fn watch(
        sources: Vec<SourceDir>,
        config_dir: PathBuf,
        tx: mpsc::UnboundedSender<Change>,
    ) -> Result<Sources, DevError> {
        let dirs = Arc::new(Mutex::new(sources.clone()));
        let classify_sources = dirs.clone();
        let classify_config = config_dir.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                if matches!(event.kind, EventKind::Access(_)) {
                    return;
                }
                let sources = classify_sources
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                for path in &event.paths {
                    for change in classify(path, &sources, &classify_config) {
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
        Ok(Sources {
            watcher,
            dirs,
            config_dir,
        })
    }

    /// Also watch the directories holding `files` (the inputs a build
    /// reported) that no watched directory covers yet, for project `index`:
    /// a JS plugin importing `../shared/util.ts` rebuilds when it changes.
    /// Installed dependencies (`node_modules/`) are left out.
    pub fn cover(&mut self, index: usize, files: &[PathBuf]) -> Result<(), DevError> {
        let mut dirs = self.dirs.lock().unwrap_or_else(PoisonError::into_inner);
        for file in files {
            let Some(parent) = file.parent() else {
                continue;
            };
            let covered = dirs.iter().any(|d| {
                file.strip_prefix(&d.dir).is_ok_and(|rel| {
                    !rel.components()
                        .any(|c| ignored_name(&c.as_os_str().to_string_lossy()))
                })
            });
            let installed = file.components().any(|c| c.as_os_str() == "node_modules");
            if covered || installed || file.starts_with(&self.config_dir) {
                continue;
            }
            if add_dir(&mut dirs, parent.to_path_buf(), index) {
                self.watcher
                    .watch(parent, RecursiveMode::NonRecursive)
                    .map_err(watch_error(parent))?;
            }
        }
        Ok(())
    }
}

fn watch_error(dir: &Path) -> impl FnOnce(notify::Error) -> DevError + '_ {
    move |e| DevError::Watch(format!("cannot watch {}: {e}", dir.display()))
}

/// Names that are build output, installed dependencies, VCS data, editor
/// scratch or the build tools' own writes.
fn ignored_name(name: &str) -> bool {
    name == "target"
        || name == "node_modules"
        || name == "__pycache__"
        || name == "Cargo.lock"
        || name == "package-lock.json"
        || name.ends_with(".wasm")
        || name.contains(".tmp-")
        || name.starts_with('.')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name == "4913"
}

/// What `path` changes, if anything. The config directory wins when it lies
/// inside a project (a scaffold keeps its `proxy_config/` there); otherwise
/// the deepest source directory holding `path` decides.
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
    source
        .projects
        .iter()
        .map(|&i| Change::Project(i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(list: &[&str]) -> Vec<PathBuf> {
        list.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn sources_config_and_noise_are_told_apart() {
        let sources = source_dirs([
            (0, dirs(&["/w/p", "/w/sdk"])),
            (1, dirs(&["/w/p/nested", "/w/sdk"])),
            (2, dirs(&["/w/js", "/w/sdk-js/src"])),
        ]);
        assert_eq!(
            sources.len(),
            5,
            "the shared SDK is watched once: {sources:?}"
        );
        let config = PathBuf::from("/w/p/proxy_config");
        let c = |p: &str| classify(Path::new(p), &sources, &config);
        assert_eq!(c("/w/p/src/lib.rs"), [Change::Project(0)]);
        assert_eq!(c("/w/p/Cargo.toml"), [Change::Project(0)]);
        assert_eq!(c("/w/p/nested/src/lib.rs"), [Change::Project(1)]);
        assert_eq!(
            c("/w/sdk/src/lib.rs"),
            [Change::Project(0), Change::Project(1)]
        );
        assert_eq!(c("/w/js/src/index.ts"), [Change::Project(2)]);
        assert_eq!(c("/w/js/package.json"), [Change::Project(2)]);
        assert_eq!(c("/w/sdk-js/src/message.js"), [Change::Project(2)]);
        assert_eq!(c("/w/p/proxy_config/proxychain.json"), [Change::Config]);
        for noise in [
            "/w/p/proxy_config/.proxychain.json.swp",
            "/w/p/target/release/x.wasm",
            "/w/p/Cargo.lock",
            "/w/p/src/.lib.rs.swp",
            "/w/p/src/lib.rs~",
            "/w/js/node_modules/esbuild/lib/main.js",
            "/w/js/x.wasm",
            "/w/js/out.wasm.tmp-123",
            "/w/js/src/__pycache__/x.pyc",
            "/w/js/.venv/lib/x.py",
            "/elsewhere/lib.rs",
        ] {
            assert_eq!(c(noise), [] as [Change; 0], "{noise}");
        }
    }

    #[tokio::test]
    async fn build_inputs_outside_the_watched_directories_are_covered() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().canonicalize().expect("canonical");
        for d in ["p/src", "shared", "p/node_modules/dep", "p/proxy_config"] {
            std::fs::create_dir_all(root.join(d)).expect("dirs");
        }
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut sources = Sources::watch(
            source_dirs([(0, vec![root.join("p")])]),
            root.join("p/proxy_config"),
            tx,
        )
        .expect("watch");
        sources
            .cover(
                0,
                &[
                    root.join("p/src/index.ts"),
                    root.join("shared/util.ts"),
                    root.join("p/node_modules/dep/index.js"),
                ],
            )
            .expect("cover");
        let watched: Vec<PathBuf> = sources
            .dirs
            .lock()
            .expect("dirs")
            .iter()
            .map(|d| d.dir.clone())
            .collect();
        assert_eq!(watched, [root.join("p"), root.join("shared")]);
    }
}
