//! `cargo xtask dist`: everything the container image packages, in
//! `target/dist/`, so `docker build` only copies files and needs no toolchain:
//!
//! ```text
//! target/dist/edgechain            the host binary (cargo profile `release` by default)
//! target/dist/plugins/<name>.wasm  every plugin crate in plugins/ (profile `plugin`)
//! target/dist/proxy_config/        examples/proxy_config plus the modules it names
//! ```
//!
//! The binary is linked against the build machine's glibc and must run on the
//! image's base, Debian bookworm (glibc 2.36): `dist` reads the glibc symbol
//! versions the binary needs and refuses one that bookworm cannot run.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The newest glibc the runtime image (Debian bookworm) provides.
pub const BASE_GLIBC: (u32, u32) = (2, 36);

/// How to build the dist on a machine whose binary would not run on bookworm.
const IN_CONTAINER: &str =
    "docker run --rm -v \"$PWD\":/src -w /src rust:1.95-bookworm cargo xtask dist";

/// Options of `cargo xtask dist`.
#[derive(Debug)]
pub struct Options {
    /// Cargo profile of the host binary.
    pub profile: String,
}

impl Options {
    pub fn parse(args: impl Iterator<Item = String>) -> Result<Self> {
        let mut opts = Options {
            profile: "release".into(),
        };
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--profile" => {
                    opts.profile = args.next().context("--profile needs a value")?;
                }
                s if s.starts_with("--profile=") => {
                    opts.profile = s["--profile=".len()..].to_owned();
                }
                other => bail!("unknown argument to `cargo xtask dist`: {other}"),
            }
        }
        Ok(opts)
    }
}

/// The directory cargo writes `profile`'s artifacts to.
fn profile_dir(profile: &str) -> &str {
    match profile {
        "dev" | "test" => "debug",
        "bench" => "release",
        other => other,
    }
}

/// Build the host binary with `profile` and return its path.
fn build_host(root: &Path, profile: &str) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from);
    let status = Command::new(&cargo)
        .current_dir(root)
        .args([
            "build",
            "--locked",
            "--profile",
            profile,
            "-p",
            "edgechain-cli",
            "--bin",
            "edgechain",
        ])
        .status()
        .with_context(|| format!("running {}", cargo.to_string_lossy()))?;
    if !status.success() {
        bail!("building edgechain ({profile}) failed ({status})");
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), |d| root.join(PathBuf::from(d)));
    Ok(target_dir.join(profile_dir(profile)).join("edgechain"))
}

/// Build everything and lay it out in `root/target/dist`.
pub fn run(
    root: &Path,
    opts: &Options,
    plugins: &[(String, PathBuf)],
    stage_example: impl Fn(&Path) -> Result<()>,
) -> Result<PathBuf> {
    let binary = build_host(root, &opts.profile)?;
    let bytes = std::fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
    check_runs_on_base(&bytes).with_context(|| format!("checking {}", binary.display()))?;

    let dist = root.join("target").join("dist");
    if dist.exists() {
        std::fs::remove_dir_all(&dist).with_context(|| format!("clearing {}", dist.display()))?;
    }
    let plugin_dir = dist.join("plugins");
    std::fs::create_dir_all(&plugin_dir)
        .with_context(|| format!("creating {}", plugin_dir.display()))?;
    let packaged = dist.join("edgechain");
    copy(&binary, &packaged)?;
    strip_debug_info(&packaged);
    for (name, path) in plugins {
        copy(path, &plugin_dir.join(format!("{name}.wasm")))?;
    }
    stage_example(&dist.join("proxy_config"))?;

    let size = std::fs::metadata(&packaged).map_or(0, |m| m.len());
    eprintln!(
        "dist: {} (edgechain: {} profile, {:.1} MB; {} plugins; the example chain in proxy_config/)",
        dist.display(),
        opts.profile,
        size as f64 / 1e6,
        plugins.len()
    );
    Ok(dist)
}

/// Drop the DWARF sections (the release profile keeps line tables: about 80% of
/// the file) from the packaged copy; symbols stay, so backtraces still name
/// functions. The binary in `target/<profile>/` keeps everything. Without a
/// `strip` on the PATH (binutils) the copy is packaged as it is.
fn strip_debug_info(binary: &Path) {
    let strip = std::env::var_os("STRIP").unwrap_or_else(|| "strip".into());
    match Command::new(&strip)
        .arg("--strip-debug")
        .arg(binary)
        .status()
    {
        Ok(status) if status.success() => {}
        Ok(status) => {
            eprintln!("dist: `strip --strip-debug` failed ({status}); packaging it unstripped")
        }
        Err(e) => eprintln!("dist: no `strip` ({e}); packaging the binary with its debug info"),
    }
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to)
        .map(drop)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))
}

/// Fail unless `elf` is a Linux executable whose glibc symbol versions the
/// image's base provides.
pub fn check_runs_on_base(elf: &[u8]) -> Result<()> {
    if !elf.starts_with(b"\x7fELF") {
        bail!(
            "not a Linux (ELF) executable: the image needs a Linux build; build the dist in \
             a bookworm container instead:\n    {IN_CONTAINER}"
        );
    }
    if let Some(needed) = newest_glibc(elf)
        && needed > BASE_GLIBC
    {
        bail!(
            "the binary needs glibc {}.{} but the image's base, Debian bookworm, has {}.{}; \
             build on bookworm or older, e.g.:\n    {IN_CONTAINER}",
            needed.0,
            needed.1,
            BASE_GLIBC.0,
            BASE_GLIBC.1
        );
    }
    Ok(())
}

/// The newest `GLIBC_x.y` symbol version named in `elf` (its version-needed
/// strings), if any.
pub fn newest_glibc(elf: &[u8]) -> Option<(u32, u32)> {
    const TAG: &[u8] = b"GLIBC_";
    let mut newest = None;
    let mut i = 0;
    while let Some(pos) = find(&elf[i..], TAG) {
        let start = i + pos + TAG.len();
        i = start;
        let rest = &elf[start..elf.len().min(start + 16)];
        let text: String = rest
            .iter()
            .take_while(|b| b.is_ascii_digit() || **b == b'.')
            .map(|b| *b as char)
            .collect();
        let mut parts = text.split('.').map(str::parse::<u32>);
        if let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) {
            newest = newest.max(Some((major, minor)));
        }
    }
    newest
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_glibc_version_is_found() {
        let elf = b"\x7fELF\0\0GLIBC_2.2.5\0GLIBC_2.34\0GLIBC_PRIVATE\0GLIBC_2.9\0";
        assert_eq!(newest_glibc(elf), Some((2, 34)));
        assert!(check_runs_on_base(elf).is_ok());
    }

    #[test]
    fn too_new_a_glibc_or_not_elf_is_refused() {
        let elf = b"\x7fELF\0GLIBC_2.38\0";
        let err = check_runs_on_base(elf).unwrap_err().to_string();
        assert!(err.contains("glibc 2.38"), "{err}");
        let macho = b"\xcf\xfa\xed\xfe";
        assert!(check_runs_on_base(macho).is_err());
    }

    #[test]
    fn profile_flags_parse() {
        let args = ["--profile", "dev"].map(String::from).into_iter();
        assert_eq!(Options::parse(args).unwrap().profile, "dev");
        assert_eq!(profile_dir("dev"), "debug");
        assert_eq!(profile_dir("release"), "release");
        assert!(Options::parse(["--bogus".to_owned()].into_iter()).is_err());
    }
}
