//! `edgechain build`: the flags, then `edgechain_author::build`, and the one
//! line that says what was built.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// The project directory (Cargo.toml, package.json or pyproject.toml).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Where to write the component (default: the module the project's own
    /// proxy_config/proxychain.json names, else DIR/NAME.wasm; for Rust,
    /// cargo's output under target/).
    #[arg(short = 'o', long = "out")]
    out: Option<PathBuf>,
    /// JavaScript engine: quickjs (default) or starlingmonkey.
    #[arg(long, value_parser = ["quickjs", "starlingmonkey"])]
    engine: Option<String>,
    /// The SDK for JS/TS and Python: guest-sdk/ of an edgechain checkout
    /// (default: the project's own reference, else the checkout above it).
    #[arg(long, env = "EDGECHAIN_SDK")]
    sdk: Option<PathBuf>,
    /// Cargo profile for Rust projects.
    #[arg(long, default_value = "release")]
    profile: String,
}

/// `edgechain build`: plain-text errors (an author reads them), exit 1.
pub(crate) async fn run(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let opts = edgechain_author::build::BuildOptions {
        dir: args.dir,
        out: args.out,
        engine: args.engine,
        sdk: args.sdk,
        profile: args.profile,
    };
    let progress = |line: &str| eprintln!("edgechain build: {line}");
    match edgechain_author::build::build(&opts, &progress).await {
        Ok(built) => {
            let out = std::env::current_dir()
                .ok()
                .and_then(|cwd| built.out.strip_prefix(cwd).ok().map(PathBuf::from))
                .unwrap_or_else(|| built.out.clone());
            println!(
                "built {} ({}): {} ({:.2} MiB, {}) in {:.1} s",
                built.name,
                built.lang,
                out.display(),
                built.bytes as f64 / 1_048_576.0,
                built.detail,
                built.elapsed.as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("edgechain build: error: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
