//! `edgechain validate`: load the chain exactly as `serve` would, offline,
//! and say why not; on a chain that loads, only [`crate::advice`]'s
//! warnings (and still exit 0).

use crate::args::{LoadArgs, compile_cache_dir};
use crate::{advice, report};
use anyhow::Context;
use clap::Args;
use edgechain::chain::load::ChainLoader;
use edgechain::engine::{EngineSettings, Runtime};
use edgechain::kv::KvStore;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// The config directory.
    #[arg(default_value = "/opt/proxy_config", env = "EDGECHAIN_CONFIG")]
    dir: PathBuf,
    #[command(flatten)]
    load: LoadArgs,
    /// Directory of the on-disk compile cache `serve` uses, so validating
    /// a chain compiles each component once for both (default:
    /// $XDG_CACHE_HOME/edgechain or ~/.cache/edgechain; `off` to disable).
    #[arg(long, env = "EDGECHAIN_COMPILE_CACHE")]
    compile_cache: Option<PathBuf>,
}

/// Exit 0 if the chain loads (warnings on stderr), 1 with one JSON line per
/// problem if not; an error only when validation itself cannot run.
pub(crate) async fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let ValidateArgs {
        dir,
        load,
        compile_cache,
    } = args;
    // A small pool: validation instantiates each plugin once. The compile
    // cache is `serve`'s, so a chain validated before it is served (or a
    // second validation) compiles nothing again.
    let settings = EngineSettings {
        max_instances: 16,
        compile_cache: compile_cache_dir(compile_cache.as_deref()),
        ..EngineSettings::default()
    };
    let runtime = Runtime::new(settings).context("cannot create the wasm engine")?;
    let metrics = edgechain::telemetry::metrics::Metrics::new();
    let loader = ChainLoader::new(runtime, KvStore::default(), metrics.plugins.clone())
        .with_module_dirs(load.module_dirs.clone())
        .with_load_timeout(load.load_timeout()?);
    match loader.load(&dir).await {
        Ok(_) => {
            for warning in advice::instance_mode_warnings(&dir, &load.module_dirs) {
                eprintln!("{warning}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            for message in e.messages() {
                report::error(&message);
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
