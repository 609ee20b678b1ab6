//! What a granted `config_dir` holds, as `init` can see it: read, hashed
//! and watched, so that a change there reloads the link like a change of its
//! config.

use crate::config::{ConfigSource, Manifest};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Directories to watch for a config directory: the directory itself, every
/// directory its manifest names files in, and every granted `config_dir`
/// with the directories inside it (what `init` may read). Works without a
/// valid manifest.
pub fn watch_dirs(dir: &Path, module_dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs = vec![dir.to_owned()];
    let add = |path: &Path, dirs: &mut Vec<PathBuf>| {
        if !dirs.iter().any(|d| d == path) {
            dirs.push(path.to_owned());
        }
    };
    if let Ok((manifest, _)) = Manifest::load(dir, module_dirs) {
        for link in &manifest.links {
            let mut paths = vec![link.module.clone()];
            if let ConfigSource::File(p) = &link.config {
                paths.push(p.clone());
            }
            for p in paths {
                if let Some(parent) = dir.join(p).parent() {
                    add(parent, &mut dirs);
                }
            }
            if let Some(granted) = &link.grants.config_dir {
                let root = dir.join(granted);
                add(&root, &mut dirs);
                if let Ok(tree) = GrantedTree::walk(&root) {
                    for sub in &tree.dirs {
                        add(&root.join(sub), &mut dirs);
                    }
                }
            }
        }
    }
    dirs
}

/// Files of a granted `config_dir`, by path relative to the config
/// directory, with their SHA-256.
pub type GrantedFiles = Vec<(PathBuf, [u8; 32])>;

/// Most entries (files and directories) of a granted `config_dir` read to
/// hash it; a larger tree fails the link's load rather than being hashed in
/// part (a change in the part left out would never reload).
pub const MAX_GRANTED_ENTRIES: usize = 10_000;

/// Deepest directory level of a granted `config_dir` that is read.
pub const MAX_GRANTED_DEPTH: usize = 16;

/// What a granted `config_dir` holds, as `init` can see it: every regular
/// file reachable inside it, by path relative to it, and every directory.
/// Entries named `..*` (the kubelet's `..data` and its timestamped
/// directories) are not walked themselves; the visible names linking into
/// them are, so a ConfigMap update shows as the files that changed. Links
/// resolving outside the directory are left out, as the guest cannot follow
/// them either.
pub struct GrantedTree {
    /// Files in path order, with their SHA-256 (or the read error's text).
    pub files: Vec<(PathBuf, [u8; 32])>,
    /// Directories below the root.
    pub dirs: Vec<PathBuf>,
}

impl GrantedTree {
    /// Read the tree under `root`.
    pub fn walk(root: &Path) -> Result<GrantedTree, String> {
        let canonical_root = std::fs::canonicalize(root).map_err(|e| e.to_string())?;
        if !canonical_root.is_dir() {
            return Err("not a directory".into());
        }
        let mut tree = GrantedTree {
            files: Vec::new(),
            dirs: Vec::new(),
        };
        let mut entries = 0;
        tree.visit(&canonical_root, Path::new(""), 0, &mut entries)?;
        Ok(tree)
    }

    fn visit(
        &mut self,
        root: &Path,
        rel: &Path,
        depth: usize,
        entries: &mut usize,
    ) -> Result<(), String> {
        let here = root.join(rel);
        let listing = std::fs::read_dir(&here).map_err(|e| format!("{}: {e}", here.display()))?;
        let mut names: Vec<_> = listing
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for name in names {
            if name.as_encoded_bytes().starts_with(b"..") {
                continue;
            }
            *entries += 1;
            if *entries > MAX_GRANTED_ENTRIES {
                return Err(format!(
                    "holds more than {MAX_GRANTED_ENTRIES} entries; grant a smaller directory"
                ));
            }
            let path = here.join(&name);
            let inside = std::fs::canonicalize(&path).is_ok_and(|p| p.starts_with(root));
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !inside {
                continue;
            }
            let rel = rel.join(&name);
            if meta.is_dir() {
                if depth + 1 >= MAX_GRANTED_DEPTH {
                    return Err(format!(
                        "{}: deeper than {MAX_GRANTED_DEPTH} levels",
                        rel.display()
                    ));
                }
                self.dirs.push(rel.clone());
                self.visit(root, &rel, depth + 1, entries)?;
            } else if meta.is_file() {
                // Only regular files: reading a FIFO would block the load.
                let digest = match std::fs::read(&path) {
                    Ok(bytes) => Sha256::digest(&bytes).into(),
                    Err(e) => Sha256::digest(e.to_string().as_bytes()).into(),
                };
                self.files.push((rel, digest));
            }
        }
        Ok(())
    }

    /// One hash over every path and content, so a rename changes it too.
    /// SHA-256 over every file's path and content.
    pub fn hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for (path, digest) in &self.files {
            let path = path.as_os_str().as_encoded_bytes();
            h.update((path.len() as u64).to_le_bytes());
            h.update(path);
            h.update(digest);
        }
        h.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path) -> GrantedTree {
        GrantedTree::walk(root).unwrap_or_else(|e| panic!("{}: {e}", root.display()))
    }

    #[test]
    fn a_granted_directory_hashes_what_the_guest_can_read() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = dir.path().join("granted");
        let write = |rel: &str, text: &str| {
            let path = root.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
            }
            std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
        };
        write("app.json", "{}");
        write("sub/rules.txt", "a");
        std::fs::write(dir.path().join("outside.txt"), "secret").unwrap_or_else(|e| panic!("{e}"));
        let first = tree(&root);
        let paths: Vec<_> = first.files.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(
            paths,
            [PathBuf::from("app.json"), PathBuf::from("sub/rules.txt")]
        );
        assert_eq!(first.dirs, [PathBuf::from("sub")]);

        write("sub/rules.txt", "b");
        let changed = tree(&root);
        assert_ne!(first.hash(), changed.hash(), "a nested file's content");

        std::fs::rename(root.join("app.json"), root.join("app2.json"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(changed.hash(), tree(&root).hash(), "a rename");

        // The kubelet's own entries are not walked, links out of the
        // directory are not followed; links inside are.
        let settled = tree(&root).hash();
        write("..2026_01_01/app.json", "x");
        std::os::unix::fs::symlink(dir.path().join("outside.txt"), root.join("escape"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settled, tree(&root).hash());
        std::os::unix::fs::symlink("..2026_01_01/app.json", root.join("linked"))
            .unwrap_or_else(|e| panic!("{e}"));
        let linked = tree(&root);
        assert!(
            linked.files.iter().any(|(p, _)| p == Path::new("linked")),
            "{:?}",
            linked.files
        );
    }

    #[test]
    fn granted_directories_are_watched_with_the_directories_inside() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = dir.path();
        std::fs::write(
            root.join(crate::config::MANIFEST_FILE),
            r#"{"proxychain":[{"name":"a","module":"m/a.wasm","grants":{"config_dir":"settings"}}]}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(root.join("settings/nested/deeper"))
            .unwrap_or_else(|e| panic!("{e}"));
        let dirs = watch_dirs(root, &[]);
        for want in [
            "",
            "m",
            "settings",
            "settings/nested",
            "settings/nested/deeper",
        ] {
            assert!(
                dirs.contains(&root.join(want).components().collect()),
                "{want}: {dirs:?}"
            );
        }
    }

    #[test]
    fn a_missing_granted_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert!(GrantedTree::walk(&dir.path().join("nope")).is_err());
    }
}
