//! `edgechain dev`: the flags and the defaults that depend on where it runs;
//! the loop itself is `edgechain_author::dev`.

use crate::args::Tuning;
use crate::{demo, signals};
use anyhow::Context;
use clap::Args;
use edgechain::server::ServeOptions;
use http::uri::Authority;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub(crate) struct DevArgs {
    /// Config directory holding proxychain.json (default: ./proxy_config if
    /// present, else the workspace's examples/proxy_config).
    #[arg(long)]
    config: Option<PathBuf>,
    /// A plugin project directory to build and watch (repeatable): a cargo
    /// crate, or a JavaScript/TypeScript (package.json) or Python
    /// (pyproject.toml) project. Crates of the cargo workspace around the
    /// current directory, or the JS/TS or Python project it is, are found
    /// by themselves.
    #[arg(long = "plugin")]
    plugins: Vec<PathBuf>,
    /// The SDK for JS/TS and Python projects: guest-sdk/ of an edgechain
    /// checkout (default: found as `edgechain build` finds it).
    #[arg(long, env = "EDGECHAIN_SDK")]
    sdk: Option<PathBuf>,
    /// HOST:PORT of the next hop (default: a built-in echo origin).
    #[arg(long)]
    next_hop: Option<Authority>,
    /// Address of the proxy listener.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Address of the admin listener.
    #[arg(long, default_value = "127.0.0.1:9000")]
    admin: SocketAddr,
    /// Cargo profile plugins are built with.
    #[arg(long, default_value = "release")]
    profile: String,
    /// Quiet milliseconds after a source change before building.
    #[arg(long, default_value_t = 100)]
    build_debounce_ms: u64,
    #[command(flatten)]
    tuning: Tuning,
}

/// `edgechain dev`: serve the chain from a staged copy and rebuild on save
/// until SIGTERM or SIGINT.
pub(crate) async fn run(args: DevArgs) -> anyhow::Result<()> {
    let config = match args.config {
        Some(dir) => dir,
        None => default_dev_config()?,
    };
    let stage_dir = std::env::temp_dir().join(format!("edgechain-dev-{}", std::process::id()));
    // The server's diagnostics are about the staged copy it serves: they
    // name the user's directory instead.
    let terms = edgechain_author::dev::stage::UserTerms::new(
        std::fs::canonicalize(&config).unwrap_or_else(|_| config.clone()),
        stage_dir.clone(),
    );
    edgechain::telemetry::init_with_writer(&args.tuning.log_level, move || {
        terms.writer(std::io::stderr())
    });
    let next_hop = match args.next_hop {
        Some(hop) => hop,
        None => demo::spawn_origin().await?,
    };
    let mut serve = ServeOptions::new(config, args.listen, args.admin, next_hop);
    args.tuning.apply(&mut serve)?;
    let opts = edgechain_author::dev::DevOptions {
        serve,
        plugin_dirs: args.plugins,
        workspace: true,
        sdk: args.sdk,
        profile: args.profile,
        debounce: Duration::from_millis(args.build_debounce_ms),
        stage_dir,
    };
    edgechain_author::dev::run(opts, async {
        if let Err(e) = signals::until_stopped(None).await {
            tracing::error!(error = %e, "cannot wait for signals; stopping");
        }
    })
    .await
    .context("edgechain dev")
}

/// `./proxy_config` if it has a manifest, else the example chain of the
/// edgechain workspace around the current directory.
fn default_dev_config() -> anyhow::Result<PathBuf> {
    let here = std::env::current_dir().context("cannot read the current directory")?;
    let local = here.join("proxy_config");
    if local.join(edgechain::config::MANIFEST_FILE).is_file() {
        return Ok(local);
    }
    here.ancestors()
        .map(|dir| dir.join("examples/proxy_config"))
        .find(|dir| dir.join(edgechain::config::MANIFEST_FILE).is_file())
        .context("no chain to serve: pass --config DIR (or run where ./proxy_config/proxychain.json exists)")
}
