//! `cargo xtask`: `plugins` builds every plugin to `target/plugins/<name>.wasm`;
//! `demo` builds them and serves the example chain in front of the demo origin;
//! `dist` builds the release binary and the plugins into `target/dist/`, the
//! files the `Dockerfile` packages; `wasi-http` builds the off-the-shelf
//! `wasi:http` components the tests and benchmarks serve.

mod dist;

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;
use xtask::{build, wasm_target_dir, workspace_plugins, workspace_root};

const USAGE: &str = "usage: cargo xtask plugins\n       cargo xtask demo [-- extra args for `edgechain demo`]\n       cargo xtask dist [--profile NAME]   (default: release)\n       cargo xtask wasi-http   (to target/wasi-http/components/)";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let root = workspace_root();
    match args.next().as_deref() {
        Some("plugins") => {
            plugins(&root)?;
            Ok(())
        }
        Some("demo") => {
            let extra: Vec<String> = args.filter(|a| a != "--").collect();
            demo(&root, &extra)
        }
        Some("dist") => {
            let opts = dist::Options::parse(args)?;
            let built = plugins(&root)?;
            dist::run(&root, &opts, &built, |dest| {
                stage_example(&root, &built, dest, true)
            })?;
            Ok(())
        }
        Some("wasi-http") => {
            let scratch = root.join("target").join("wasi-http");
            for built in xtask::wasi_http::build(&scratch, &scratch.join("components"))? {
                println!("{}", built.display());
            }
            Ok(())
        }
        _ => bail!("{USAGE}"),
    }
}

/// Build `plugins/*` and copy each to `target/plugins/<crate-name>.wasm`.
fn plugins(root: &Path) -> Result<Vec<(String, std::path::PathBuf)>> {
    let crates = workspace_plugins(root, false)?;
    let target_dir = wasm_target_dir(root);
    build(root, &crates, &target_dir)?;
    let out = root.join("target").join("plugins");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut built = Vec::new();
    for c in &crates {
        let dest = out.join(format!("{}.wasm", c.name));
        std::fs::copy(c.artifact(&target_dir), &dest)
            .with_context(|| format!("copying {} to {}", c.name, dest.display()))?;
        eprintln!("built {}", dest.display());
        built.push((c.name.clone(), dest));
    }
    Ok(built)
}

/// Stage `examples/proxy_config` plus the built plugins in
/// `target/demo/proxy_config`, then run `edgechain demo` on it.
fn demo(root: &Path, extra: &[String]) -> Result<()> {
    let built = plugins(root)?;
    let stage = root.join("target").join("demo").join("proxy_config");
    stage_example(root, &built, &stage, false)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "run",
            "--quiet",
            "--package",
            "edgechain-cli",
            "--",
            "demo",
            "--config",
        ])
        .arg(&stage)
        .args(extra)
        .status()
        .context("running edgechain demo")?;
    if !status.success() {
        bail!("edgechain demo exited with {status}");
    }
    Ok(())
}

/// `examples/proxy_config` plus the built plugins (with `only_named`, just
/// those its manifest names), in `stage` (replaced).
fn stage_example(
    root: &Path,
    built: &[(String, std::path::PathBuf)],
    stage: &Path,
    only_named: bool,
) -> Result<()> {
    if stage.exists() {
        std::fs::remove_dir_all(stage).with_context(|| format!("clearing {}", stage.display()))?;
    }
    let example = root.join("examples").join("proxy_config");
    copy_dir(&example, stage)?;
    let manifest_path = example.join("proxychain.json");
    let manifest = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    for (name, path) in built {
        let file = format!("{name}.wasm");
        if only_named && !manifest.contains(&format!("\"{file}\"")) {
            continue;
        }
        std::fs::copy(path, stage.join(&file)).with_context(|| format!("staging {name}"))?;
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}
