//! `edgechain build`: one command that turns a plugin project, in any of the
//! three languages, into a component the host loads.
//!
//! | the directory holds | the build |
//! |---|---|
//! | `Cargo.toml` | `cargo build --release --target wasm32-wasip2` (cargo's output shown), the artifact named by cargo's JSON messages, then the host's own check: compiled and linked against the host's imports |
//! | `package.json` | the JS SDK's build contract (`guest-sdk/js/bin/edgechain-build.mjs`): esbuild + QuickJS (or StarlingMonkey), which refuses imports the host lacks |
//! | `pyproject.toml` | the Python SDK's build contract (`python -m edgechain_sdk.build`): componentize-py, which refuses imports the host lacks |
//!
//! The SDK toolchains are installed on first use ([`sdk::ensure`]). The
//! output goes where the project's own chain (`proxy_config/proxychain.json`)
//! expects it, unless `-o` says otherwise.

pub mod cargo;
pub mod js;
pub mod project;
pub mod python;
pub mod rust;
pub mod sdk;

pub use project::{Lang, ScriptProject};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The directory is not a plugin project (or its manifest is unreadable).
    #[error("{0}")]
    NotAProject(String),
    /// The language's SDK was not found.
    #[error("{0}")]
    NoSdk(String),
    /// A tool the build needs is missing.
    #[error("{0}")]
    MissingTool(String),
    /// Installing the SDK's pinned toolchain failed.
    #[error("{0}")]
    Install(String),
    /// The options do not fit the project.
    #[error("{0}")]
    Usage(String),
    /// The build itself failed; the message is the toolchain's explanation.
    #[error("{0}")]
    Failed(String),
    /// The built component would not load in the host.
    #[error("{0}")]
    Refused(String),
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// What `edgechain build` is told.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The project directory.
    pub dir: PathBuf,
    /// Where to write the component (default: see [`default_output`]).
    pub out: Option<PathBuf>,
    /// JS engine (`quickjs` or `starlingmonkey`); JS/TS projects only.
    pub engine: Option<String>,
    /// The SDK directory (default: found, see [`sdk`]).
    pub sdk: Option<PathBuf>,
    /// Cargo profile for Rust projects.
    pub profile: String,
}

/// A finished build.
#[derive(Debug, Clone)]
pub struct Built {
    /// The project's language.
    pub lang: Lang,
    /// The project's name.
    pub name: String,
    /// The component written.
    pub out: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// How long the whole build took.
    pub elapsed: Duration,
    /// One phrase about how it was built (engine, cache, profile).
    pub detail: String,
}

/// Build the project in `opts.dir`; `say` gets progress lines (toolchain
/// installs, long builds). Compiler output of Rust builds goes to stderr as
/// cargo prints it.
pub async fn build(opts: &BuildOptions, say: &(dyn Fn(&str) + Sync)) -> Result<Built, BuildError> {
    let started = Instant::now();
    let dir = opts.dir.canonicalize().map_err(|e| BuildError::Io {
        what: format!("resolving {}", opts.dir.display()),
        source: e,
    })?;
    let lang = Lang::of_dir(&dir).ok_or_else(|| project::not_a_project(&dir))?;
    if lang != Lang::Js && opts.engine.is_some() {
        return Err(BuildError::Usage(format!(
            "--engine applies to JavaScript/TypeScript projects; {} is a {lang} project",
            dir.display()
        )));
    }
    match lang {
        Lang::Rust => {
            let (krate, artifact) = rust::build(&dir, &opts.profile).await?;
            let bytes = std::fs::read(&artifact).map_err(|e| BuildError::Io {
                what: format!("reading {}", artifact.display()),
                source: e,
            })?;
            rust::check_loads(bytes.clone()).await?;
            let out = match &opts.out {
                Some(out) => absolute(out)?,
                None => manifest_output(&dir, |m| krate.builds_module(m)).unwrap_or(artifact),
            };
            if !out.is_file() || std::fs::read(&out).ok().as_deref() != Some(&bytes[..]) {
                write_atomically(&out, &bytes)?;
            }
            Ok(Built {
                lang,
                name: krate.package,
                out,
                bytes: bytes.len() as u64,
                elapsed: started.elapsed(),
                detail: format!("cargo, profile {}", opts.profile),
            })
        }
        Lang::Js | Lang::Python => {
            let project = ScriptProject::read(&dir)?;
            let sdk_dir =
                sdk::locate(lang, &dir, opts.sdk.as_deref(), project.sdk_hint.as_deref())?;
            let engine = opts.engine.as_deref().or(project.engine.as_deref());
            let toolchain = sdk::ensure(lang, &sdk_dir, engine, say).await?;
            let out = match &opts.out {
                Some(out) => absolute(out)?,
                None => default_output(&dir, &project.stem, |m| project.builds_module(m)),
            };
            let result = if lang == Lang::Js {
                js::build(&toolchain, &dir, &out, opts.engine.as_deref()).await?
            } else {
                say(&format!(
                    "{}: building with componentize-py (5-25 s; unchanged sources come from the build cache)…",
                    project.name
                ));
                python::build(&toolchain, &dir, &out).await?
            };
            Ok(Built {
                lang,
                name: project.name,
                out: result.out,
                bytes: result.bytes,
                elapsed: started.elapsed(),
                detail: result.detail,
            })
        }
    }
}

/// Where a JS/TS or Python project's component goes by default: the
/// `module` of the link in `DIR/proxy_config/proxychain.json` that names the
/// project (so the project's own chain loads as it is), else
/// `DIR/<stem>.wasm`. (A Rust crate's stays where cargo put it unless its
/// chain names it.)
pub fn default_output(dir: &Path, stem: &str, builds: impl Fn(&str) -> bool) -> PathBuf {
    manifest_output(dir, builds).unwrap_or_else(|| dir.join(format!("{stem}.wasm")))
}

/// The module path of the link in `DIR/proxy_config/proxychain.json` that
/// `builds` accepts, if any.
pub fn manifest_output(dir: &Path, builds: impl Fn(&str) -> bool) -> Option<PathBuf> {
    let config = dir.join("proxy_config");
    let module = std::fs::read_to_string(config.join(edgechain::config::MANIFEST_FILE))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|manifest| {
            manifest["proxychain"]
                .as_array()?
                .iter()
                .filter_map(|link| link["module"].as_str())
                .find(|m| builds(m) && Path::new(m).is_relative())
                .map(str::to_owned)
        });
    module.map(|m| config.join(m))
}

fn absolute(path: &Path) -> Result<PathBuf, BuildError> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .map_err(|e| BuildError::Io {
            what: "reading the current directory".into(),
            source: e,
        })
}

/// Write `bytes` to `path` through a temporary file and a rename, so a
/// watching server never loads half a component.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    let io = |what: String| move |source| BuildError::Io { what, source };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io(format!("replacing {}", path.display())))
}

/// Run an SDK's build script (`cmd`, spawned as `program`) and read the JSON
/// summary it prints last on stdout. A failed run is reported with its stderr
/// less the tool's own `error_prefixes`.
pub(crate) async fn run_sdk_build<T: serde::de::DeserializeOwned>(
    cmd: &mut tokio::process::Command,
    program: &Path,
    error_prefixes: &[&str],
) -> Result<T, BuildError> {
    let output = crate::process::run_captured(cmd)
        .await
        .map_err(|e| BuildError::MissingTool(format!("cannot run {}: {e}", program.display())))?;
    if !output.status.success() {
        return Err(BuildError::Failed(failure_text(
            &output.stderr,
            error_prefixes,
        )));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| {
            BuildError::Failed(format!(
                "the build printed no JSON summary (stdout: {:?})",
                stdout.trim()
            ))
        })
}

/// The interesting part of a failed SDK build's stderr: without the tool's
/// own `error:` prefix and trailing blank lines.
pub(crate) fn failure_text(stderr: &[u8], prefixes: &[&str]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let mut lines: Vec<&str> = text.lines().collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let joined = lines.join("\n");
    let mut out = joined.as_str();
    for p in prefixes {
        if let Some(rest) = out.strip_prefix(p) {
            out = rest;
            break;
        }
    }
    let out = out.trim();
    if out.is_empty() {
        "the build failed without saying why".to_owned()
    } else {
        out.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_output_is_where_the_projects_chain_expects_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        assert_eq!(
            default_output(dir, "my_plugin", |_| true),
            dir.join("my_plugin.wasm")
        );
        std::fs::create_dir_all(dir.join("proxy_config")).expect("dir");
        std::fs::write(
            dir.join("proxy_config/proxychain.json"),
            r#"{"proxychain": [{"name": "other", "module": "other.wasm"},
                               {"name": "mine", "module": "built/my-plugin.wasm"}]}"#,
        )
        .expect("write");
        assert_eq!(
            default_output(dir, "my_plugin", |m| project::module_stem(m) == "my_plugin"),
            dir.join("proxy_config/built/my-plugin.wasm")
        );
    }

    #[test]
    fn failure_text_drops_the_tools_prefix() {
        assert_eq!(
            failure_text(
                b"edgechain-build: error: bundling failed:\n  x.ts:1\n\n",
                &["edgechain-build: error: "]
            ),
            "bundling failed:\n  x.ts:1"
        );
        assert_eq!(
            failure_text(b"", &[]),
            "the build failed without saying why"
        );
    }
}
