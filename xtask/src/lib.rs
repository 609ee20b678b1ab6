//! Building the workspace's plugins to WebAssembly components, shared by
//! `cargo xtask` and the test crate's build script so both produce the same
//! artifacts in the same place (and never build them twice).

pub mod wasi_http;

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The wasm target plugins are built for.
pub const TARGET: &str = "wasm32-wasip2";
/// The cargo profile plugins are built with (see the workspace `Cargo.toml`).
pub const PROFILE: &str = "plugin";

/// A plugin crate found in the workspace.
#[derive(Debug, Clone)]
pub struct PluginCrate {
    /// Package name, e.g. `add-headers`.
    pub name: String,
    /// Crate directory.
    pub dir: PathBuf,
}

impl PluginCrate {
    /// Where cargo writes this plugin's component inside `target_dir`.
    pub fn artifact(&self, target_dir: &Path) -> PathBuf {
        target_dir
            .join(TARGET)
            .join(PROFILE)
            .join(format!("{}.wasm", self.name.replace('-', "_")))
    }
}

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The separate target directory for wasm builds. Separate from `target/` so a
/// build script can run it while the outer cargo holds its own lock.
pub fn wasm_target_dir(root: &Path) -> PathBuf {
    root.join("target").join("wasm")
}

/// Plugin crates in each of `dirs` (each subdirectory with a `Cargo.toml`).
pub fn discover(dirs: &[PathBuf]) -> Result<Vec<PluginCrate>> {
    let mut found = Vec::new();
    for dir in dirs {
        let entries =
            std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            let crate_dir = entry?.path();
            let manifest = crate_dir.join("Cargo.toml");
            if !manifest.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&manifest)
                .with_context(|| format!("reading {}", manifest.display()))?;
            let name = package_name(&text)
                .with_context(|| format!("no package name in {}", manifest.display()))?;
            found.push(PluginCrate {
                name,
                dir: crate_dir,
            });
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

fn package_name(manifest: &str) -> Option<String> {
    manifest
        .lines()
        .skip_while(|l| l.trim() != "[package]")
        .find_map(|l| l.trim().strip_prefix("name").map(str::trim))
        .and_then(|rest| rest.strip_prefix('='))
        .map(|v| v.trim().trim_matches('"').to_owned())
}

/// Install the wasm target if the active toolchain lacks it. rustup installs
/// targets from `rust-toolchain.toml` only when it installs the toolchain, so
/// a machine that already had the toolchain needs this once.
pub fn ensure_target() -> Result<()> {
    let rustc = std::env::var_os("RUSTC").map_or_else(|| PathBuf::from("rustc"), PathBuf::from);
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .with_context(|| format!("running {} --print sysroot", rustc.display()))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if sysroot.join("lib/rustlib").join(TARGET).is_dir() {
        return Ok(());
    }
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .context("the wasm32-wasip2 target is missing and rustup is not available to add it")?;
    if !status.success() {
        bail!("`rustup target add {TARGET}` failed");
    }
    Ok(())
}

/// Clear what an outer cargo (a build script's, a bench's) sets for its own
/// build and a nested cargo must not inherit: flags, wrappers, target and
/// target dir, jobserver, manifest dir.
pub fn clean_cargo_env(cmd: &mut Command) -> &mut Command {
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "CARGO_MANIFEST_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Build `plugins` with cargo into `target_dir`. Environment that an outer
/// cargo (a build script's parent) sets for its own target is cleared.
pub fn build(root: &Path, plugins: &[PluginCrate], target_dir: &Path) -> Result<()> {
    let cargo = std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from);
    ensure_target()?;
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--profile",
            PROFILE,
            "--target",
            TARGET,
            "--target-dir",
        ])
        .arg(target_dir);
    for p in plugins {
        cmd.args(["-p", &p.name]);
    }
    clean_cargo_env(&mut cmd);
    let status = cmd
        .status()
        .with_context(|| format!("running {}", cargo.to_string_lossy()))?;
    if !status.success() {
        bail!("building plugins failed ({status})");
    }
    Ok(())
}

/// Every plugin crate of the workspace: `plugins/` and, with `with_tests`,
/// the hostile and helper plugins under `tests/plugins/`.
pub fn workspace_plugins(root: &Path, with_tests: bool) -> Result<Vec<PluginCrate>> {
    let mut dirs = vec![root.join("plugins")];
    if with_tests {
        dirs.push(root.join("tests").join("plugins"));
    }
    discover(&dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_name_is_read_from_the_package_table() {
        let toml =
            "[lib]\nname = \"x\"\n[package]\nname = \"add-headers\"\nedition.workspace = true\n";
        assert_eq!(package_name(toml).as_deref(), Some("add-headers"));
    }
}
