//! Off-the-shelf `wasi:http` components for the tests, built as their
//! authors ship them: the crates are fetched from crates.io at pinned
//! versions, and each example is built from the crate's own sources with its
//! own `Cargo.lock`, unchanged.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A published example that is a `wasi:http` server component.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    /// The crate on crates.io.
    pub krate: &'static str,
    /// Its exact version.
    pub version: &'static str,
    /// The example's name in the crate.
    pub example: &'static str,
    /// The file name the tests use.
    pub file: &'static str,
}

/// The examples the tests serve.
pub const EXAMPLES: [Example; 2] = [
    // The `wasi` crate's HTTP proxy example (published as `wasip2`).
    Example {
        krate: "wasip2",
        version: "1.0.4+wasi-0.2.12",
        example: "http-proxy",
        file: "wasip2_http_proxy.wasm",
    },
    // wstd's `#[wstd::http_server]` example: streaming, echo, failures.
    Example {
        krate: "wstd",
        version: "0.6.8",
        example: "http_server",
        file: "wstd_http_server.wasm",
    },
];

fn cargo() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

/// The crate's source directory, fetched into cargo's registry through a
/// scratch manifest that depends on it.
fn fetch(example: &Example, scratch: &Path) -> Result<PathBuf> {
    let dir = scratch.join(format!("fetch-{}", example.krate));
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"fetch-{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\n{name} = \"={version}\"\n\n[workspace]\n",
            name = example.krate,
            version = example.version
        ),
    )?;
    std::fs::write(dir.join("src/lib.rs"), "")?;
    let out = crate::clean_cargo_env(&mut Command::new(cargo()))
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cannot fetch {} {}: {}",
            example.krate,
            example.version,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // The manifest path of the package named `krate` (plain search: the
    // metadata lists each package's `name` right before its fields).
    let needle = format!(
        "\"name\":\"{}\",\"version\":\"{}\"",
        example.krate, example.version
    );
    let at = text
        .find(&needle)
        .with_context(|| format!("{} not in cargo metadata", example.krate))?;
    let rest = &text[at..];
    let key = "\"manifest_path\":\"";
    let start = rest.find(key).context("no manifest_path")? + key.len();
    let end = rest[start..]
        .find('"')
        .context("unterminated manifest_path")?;
    let manifest = PathBuf::from(&rest[start..start + end]);
    Ok(manifest
        .parent()
        .context("manifest without a directory")?
        .to_path_buf())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (src, dest) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            copy_dir(&src, &dest)?;
        } else {
            std::fs::copy(&src, &dest)?;
        }
    }
    Ok(())
}

/// Build every example into `out` (a directory), using `scratch` for
/// sources and build output. Returns the components' paths.
pub fn build(scratch: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    crate::ensure_target()?;
    std::fs::create_dir_all(out)?;
    let mut built = Vec::new();
    for example in EXAMPLES {
        let dest = out.join(example.file);
        let source = fetch(&example, scratch)?;
        // A writable copy: cargo writes into a package it builds.
        let copy = scratch.join(format!("{}-{}", example.krate, example.version));
        if !copy.join("Cargo.lock").is_file() {
            copy_dir(&source, &copy)?;
        }
        let target = scratch.join("target");
        let status = crate::clean_cargo_env(&mut Command::new(cargo()))
            .current_dir(&copy)
            .args(["build", "--locked", "--release", "--target", crate::TARGET])
            .args(["--example", example.example, "--target-dir"])
            .arg(&target)
            .status()
            .context("running cargo build")?;
        if !status.success() {
            bail!(
                "building {} example {} failed",
                example.krate,
                example.example
            );
        }
        let artifact = target
            .join(crate::TARGET)
            .join("release/examples")
            .join(format!("{}.wasm", example.example.replace('-', "_")));
        std::fs::copy(&artifact, &dest)
            .with_context(|| format!("copying {}", artifact.display()))?;
        built.push(dest);
    }
    Ok(built)
}
