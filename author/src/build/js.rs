//! JavaScript/TypeScript projects: the JS SDK's build contract,
//! `node guest-sdk/js/bin/edgechain-build.mjs DIR OUT --json --quiet`.

use super::BuildError;
use super::sdk::Toolchain;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// What an SDK build (JS or Python) produced.
#[derive(Debug, Clone)]
pub struct ScriptBuild {
    /// The component written.
    pub out: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Engine, cache use.
    pub detail: String,
    /// The source files the component was made of, when the build says
    /// (JS: every file of the bundle, SDK files included).
    pub inputs: Vec<PathBuf>,
}

#[derive(Deserialize)]
struct Summary {
    out: PathBuf,
    bytes: u64,
    engine: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    inputs: Vec<PathBuf>,
}

/// Build the project in `dir` into `out` with `engine` (default: the
/// project's `edgechain.engine`, else QuickJS).
pub async fn build(
    toolchain: &Toolchain,
    dir: &Path,
    out: &Path,
    engine: Option<&str>,
) -> Result<ScriptBuild, BuildError> {
    let script = toolchain.sdk.join("bin/edgechain-build.mjs");
    let mut cmd = tokio::process::Command::new(&toolchain.program);
    cmd.arg(&script)
        .arg(dir)
        .arg(out)
        .args(["--json", "--quiet"])
        .current_dir(dir)
        .env_remove("NODE_TEST_CONTEXT")
        .stdin(Stdio::null());
    if let Some(engine) = engine {
        cmd.args(["--engine", engine]);
    }
    let summary: Summary = super::run_sdk_build(
        &mut cmd,
        &toolchain.program,
        &["edgechain-build: error: ", "edgechain-build: "],
    )
    .await?;
    Ok(ScriptBuild {
        out: summary.out,
        bytes: summary.bytes,
        detail: match summary.kind.as_deref() {
            Some("app") => format!("{}, a wasi:http edge app", summary.engine),
            _ => summary.engine,
        },
        inputs: summary.inputs,
    })
}
