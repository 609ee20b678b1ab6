//! Finding plugin crates and building them with the user's own cargo, for
//! `edgechain build` (one crate) and `edgechain dev` (crates of a workspace).
//!
//! Both run exactly the build a plugin author would run by hand
//! (`cargo build --target wasm32-wasip2 --release`), with cargo's progress and
//! rendered compiler errors going straight to the terminal, and reads the
//! path of the built component from cargo's JSON messages rather than
//! guessing target directories and profiles.

use crate::process;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Cargo could not be run or said something unexpected; the message says
/// which (a crate's compile errors are not this: cargo shows them itself).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CargoError(pub String);

/// The target plugins are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// A crate that builds a plugin component (a `cdylib`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginCrate {
    /// Package name, e.g. `add-headers`.
    pub package: String,
    /// Library target name, e.g. `add_headers`: the stem of the built `.wasm`.
    pub lib_name: String,
    /// The crate's `Cargo.toml`.
    pub manifest: PathBuf,
    /// Directories of local (`path`) dependencies, such as the SDK: an edit
    /// there changes this plugin too.
    pub path_deps: Vec<PathBuf>,
    /// Root of the cargo workspace the crate belongs to: crates of one
    /// workspace build in one cargo run.
    pub workspace_root: PathBuf,
}

impl PluginCrate {
    /// The crate directory.
    pub fn dir(&self) -> &Path {
        self.manifest.parent().unwrap_or(Path::new("."))
    }

    /// Whether a manifest `module` path names this crate's component: its file
    /// stem is the package or library name (`-` and `_` alike).
    pub fn builds_module(&self, module: &str) -> bool {
        let stem = Path::new(module)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .replace('-', "_");
        stem == self.lib_name || stem == self.package.replace('-', "_")
    }
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    #[serde(default)]
    workspace_members: Vec<String>,
    #[serde(default)]
    workspace_root: PathBuf,
}

#[derive(Deserialize)]
struct Package {
    id: String,
    name: String,
    manifest_path: PathBuf,
    targets: Vec<Target>,
    #[serde(default)]
    dependencies: Vec<Dependency>,
}

#[derive(Deserialize)]
struct Dependency {
    #[serde(default)]
    path: Option<PathBuf>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    crate_types: Vec<String>,
}

/// The cargo binary: the one running us under `cargo run`, else `cargo`.
fn cargo() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

/// Plugin crates of the cargo workspace at `manifest` (a `Cargo.toml`, or the
/// workspace around the current directory when `None`).
pub async fn discover(manifest: Option<&Path>) -> Result<Vec<PluginCrate>, CargoError> {
    let mut cmd = tokio::process::Command::new(cargo());
    cmd.args(["metadata", "--no-deps", "--format-version", "1"]);
    if let Some(m) = manifest {
        cmd.arg("--manifest-path").arg(m);
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| CargoError(format!("cannot run cargo: {e}")))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        return Err(CargoError(format!("cargo metadata failed: {}", why.trim())));
    }
    let meta: Metadata = serde_json::from_slice(&out.stdout)
        .map_err(|e| CargoError(format!("unexpected cargo metadata output: {e}")))?;
    Ok(plugin_crates(meta))
}

fn plugin_crates(meta: Metadata) -> Vec<PluginCrate> {
    let members = meta.workspace_members;
    let packages = &meta.packages;
    let mut found: Vec<PluginCrate> = packages
        .iter()
        .filter(|p| members.is_empty() || members.contains(&p.id))
        .filter_map(|p| {
            let lib = p
                .targets
                .iter()
                .find(|t| t.crate_types.iter().any(|c| c == "cdylib"))?;
            Some(PluginCrate {
                lib_name: lib.name.replace('-', "_"),
                package: p.name.clone(),
                manifest: p.manifest_path.clone(),
                path_deps: path_deps(p, packages),
                workspace_root: meta.workspace_root.clone(),
            })
        })
        .collect();
    found.sort_by(|a, b| a.package.cmp(&b.package));
    found
}

/// Local dependency directories of `package`, following path dependencies
/// of dependencies that cargo listed too (the SDK's own, in this workspace).
fn path_deps(package: &Package, packages: &[Package]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut todo: Vec<&Package> = vec![package];
    while let Some(p) = todo.pop() {
        for dir in p.dependencies.iter().filter_map(|d| d.path.as_ref()) {
            if dirs.contains(dir) {
                continue;
            }
            dirs.push(dir.clone());
            if let Some(dep) = packages
                .iter()
                .find(|q| q.manifest_path.parent() == Some(dir.as_path()))
            {
                todo.push(dep);
            }
        }
    }
    dirs.sort();
    dirs
}

/// How one cargo run went for the crates it built.
#[derive(Debug)]
pub struct BuildOutcome {
    /// Per crate asked for, in order: the built component, or `None` if it
    /// failed (cargo's errors already went to the terminal).
    pub artifacts: Vec<Option<PathBuf>>,
    /// Wall time of the cargo run.
    pub elapsed: Duration,
}

/// Build `crates` (of one cargo workspace) for [`TARGET`] with cargo profile
/// `profile`, in one cargo run so shared dependencies build once and crates
/// build in parallel; `--keep-going` so one crate's error does not stop the
/// others. Cargo's own output (progress, rendered errors) goes to this
/// process's stderr.
pub async fn build(crates: &[&PluginCrate], profile: &str) -> Result<BuildOutcome, CargoError> {
    let started = Instant::now();
    let Some(first) = crates.first() else {
        return Ok(BuildOutcome {
            artifacts: Vec::new(),
            elapsed: Duration::ZERO,
        });
    };
    let mut cmd = tokio::process::Command::new(cargo());
    cmd.args([
        "build",
        "--keep-going",
        "--message-format",
        "json-render-diagnostics",
    ])
    .args(["--target", TARGET, "--profile", profile, "--manifest-path"])
    .arg(&first.manifest);
    for krate in crates {
        cmd.args(["--package", &krate.package]);
    }
    // Its own process group, so stopping a build stops the compilers cargo
    // started too, not only cargo.
    let (mut child, group) = process::spawn(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit()),
    )
    .map_err(|e| CargoError(format!("cannot run cargo: {e}")))?;
    let mut artifacts = vec![None; crates.len()];
    if let Some(stdout) = child.stdout.take() {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            for (slot, krate) in artifacts.iter_mut().zip(crates) {
                if let Some(path) = wasm_artifact(&line, &krate.lib_name) {
                    *slot = Some(path);
                }
            }
        }
    }
    child
        .wait()
        .await
        .map_err(|e| CargoError(format!("waiting for cargo: {e}")))?;
    group.finished();
    // With `--keep-going` a failed run may still have built some crates: the
    // artifact messages say which.
    Ok(BuildOutcome {
        artifacts,
        elapsed: started.elapsed(),
    })
}

/// The `.wasm` path in a `compiler-artifact` message for library `lib_name`.
fn wasm_artifact(line: &str, lib_name: &str) -> Option<PathBuf> {
    #[derive(Deserialize)]
    struct Message {
        reason: String,
        target: Option<ArtifactTarget>,
        #[serde(default)]
        filenames: Vec<PathBuf>,
    }
    #[derive(Deserialize)]
    struct ArtifactTarget {
        name: String,
    }
    let msg: Message = serde_json::from_str(line).ok()?;
    if msg.reason != "compiler-artifact" || msg.target?.name.replace('-', "_") != lib_name {
        return None;
    }
    msg.filenames
        .into_iter()
        .find(|f| f.extension().is_some_and(|e| e == "wasm"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_map_to_crates_by_file_stem() {
        let krate = PluginCrate {
            package: "add-headers".into(),
            lib_name: "add_headers".into(),
            manifest: PathBuf::from("/w/plugins/add-headers/Cargo.toml"),
            path_deps: Vec::new(),
            workspace_root: PathBuf::from("/w"),
        };
        assert!(krate.builds_module("add-headers.wasm"));
        assert!(krate.builds_module("headers/add_headers.wasm"));
        assert!(!krate.builds_module("add-headers-v2.wasm"));
        assert_eq!(krate.dir(), Path::new("/w/plugins/add-headers"));
    }

    #[test]
    fn only_cdylib_workspace_members_are_plugins() {
        let meta: Metadata = serde_json::from_value(serde_json::json!({
            "packages": [
                { "id": "a", "name": "host", "manifest_path": "/w/host/Cargo.toml",
                  "targets": [{ "name": "host", "crate_types": ["lib"] }] },
                { "id": "b", "name": "my-plugin", "manifest_path": "/w/p/Cargo.toml",
                  "targets": [{ "name": "my-plugin", "crate_types": ["cdylib", "rlib"] }],
                  "dependencies": [{ "name": "sdk", "path": "/w/sdk" }, { "name": "serde" }] },
                { "id": "d", "name": "sdk", "manifest_path": "/w/sdk/Cargo.toml",
                  "targets": [{ "name": "sdk", "crate_types": ["lib"] }],
                  "dependencies": [{ "name": "wire", "path": "/w/wire" }] },
                { "id": "c", "name": "other", "manifest_path": "/x/Cargo.toml",
                  "targets": [{ "name": "other", "crate_types": ["cdylib"] }] }
            ],
            "workspace_members": ["a", "b", "d"]
        }))
        .expect("metadata");
        let found = plugin_crates(meta);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].lib_name, "my_plugin");
        assert_eq!(
            found[0].path_deps,
            [PathBuf::from("/w/sdk"), PathBuf::from("/w/wire")],
            "path dependencies, transitively through listed packages"
        );
    }

    #[test]
    fn the_wasm_file_is_read_from_cargo_messages() {
        let line = r#"{"reason":"compiler-artifact","target":{"name":"my_plugin"},"filenames":["/t/libmy_plugin.rlib","/t/my_plugin.wasm"]}"#;
        assert_eq!(
            wasm_artifact(line, "my_plugin"),
            Some(PathBuf::from("/t/my_plugin.wasm"))
        );
        assert_eq!(wasm_artifact(line, "other"), None);
        assert_eq!(
            wasm_artifact(r#"{"reason":"build-finished"}"#, "my_plugin"),
            None
        );
        assert_eq!(wasm_artifact("not json", "my_plugin"), None);
    }
}
