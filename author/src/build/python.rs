//! Python projects: the Python SDK's build contract,
//! `guest-sdk/python/.venv/bin/python -m edgechain_sdk.build DIR -o OUT --json -q`.

use super::BuildError;
use super::js::ScriptBuild;
use super::sdk::Toolchain;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Stdio;

#[derive(Deserialize)]
struct Summary {
    output: PathBuf,
    bytes: u64,
    #[serde(default)]
    from_cache: bool,
    #[serde(default)]
    unchanged: bool,
}

/// Build the project in `dir` into `out`. Identical inputs come from the
/// SDK's build cache, byte for byte, and an identical output is not rewritten.
pub async fn build(
    toolchain: &Toolchain,
    dir: &Path,
    out: &Path,
) -> Result<ScriptBuild, BuildError> {
    let mut cmd = tokio::process::Command::new(&toolchain.program);
    cmd.args(["-m", "edgechain_sdk.build"])
        .arg(dir)
        .arg("-o")
        .arg(out)
        .args(["--json", "-q"])
        .current_dir(dir)
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .stdin(Stdio::null());
    let summary: Summary = super::run_sdk_build(&mut cmd, &toolchain.program, &["error: "]).await?;
    let detail = match (summary.from_cache, summary.unchanged) {
        (_, true) => "componentize-py, unchanged",
        (true, false) => "componentize-py, from the build cache",
        (false, false) => "componentize-py",
    };
    Ok(ScriptBuild {
        out: summary.output,
        bytes: summary.bytes,
        detail: detail.to_owned(),
        inputs: Vec::new(),
    })
}
