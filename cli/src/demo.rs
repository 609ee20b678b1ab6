//! `edgechain demo`: the chain in front of a built-in echo origin, for trying
//! plugins out; the origin is `dev`'s default next hop too.

use crate::args::Tuning;
use crate::serve;
use anyhow::Context;
use clap::Args;
use edgechain::server::{ServeOptions, Server};
use edgechain::telemetry::stdout::say;
use http::uri::Authority;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Config directory holding proxychain.json (the default is where
    /// `cargo xtask demo` builds the example chain, in the checkout).
    #[arg(long, default_value = "target/demo/proxy_config")]
    config: PathBuf,
    /// Address of the proxy listener.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Address of the admin listener.
    #[arg(long, default_value = "127.0.0.1:9000")]
    admin: SocketAddr,
    #[command(flatten)]
    tuning: Tuning,
}

/// `edgechain demo`: start the origin and the chain, say how to try it, and
/// serve until a signal.
pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<()> {
    edgechain::telemetry::init(&args.tuning.log_level);
    let next_hop = spawn_origin().await?;
    let origin = next_hop.clone();
    let mut opts = ServeOptions::new(args.config, args.listen, args.admin, next_hop);
    args.tuning.apply(&mut opts)?;
    let config = opts.config_dir.clone();
    let listen = opts.listen;
    if !config.join("proxychain.json").exists() {
        anyhow::bail!(
            "no chain in {}: pass --config DIR, or run `cargo xtask demo` in the edgechain checkout (it builds the example chain there)",
            config.display()
        );
    }
    let server = Server::start(opts).await.context("cannot start")?;
    // Said once the chain serves (the default directory is the checkout's).
    say(format!("edgechain demo: chain from {}", config.display()));
    say(format!("  try: curl -si http://{listen}/"));
    say(format!("       curl -si http://{listen}/admin"));
    say(format!(
        "  demo origin (echoes what reached it): http://{origin}"
    ));
    serve::until_signal(server).await
}

/// Start the demo origin on a free loopback port; its address as a next hop.
pub(crate) async fn spawn_origin() -> anyhow::Result<Authority> {
    let origin = edgechain::demo_origin::spawn(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("cannot start the demo origin")?;
    origin
        .to_string()
        .parse()
        .context("demo origin address is not an authority")
}
