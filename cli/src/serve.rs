//! `edgechain serve`, and serving a started server until it is told to stop
//! (`demo` serves the same way).

use crate::args::Tuning;
use crate::signals;
use anyhow::Context;
use clap::Args;
use edgechain::server::{ServeOptions, Server};
use http::uri::Authority;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Config directory holding proxychain.json.
    #[arg(long, default_value = "/opt/proxy_config", env = "EDGECHAIN_CONFIG")]
    config: PathBuf,
    /// Address of the proxy listener.
    #[arg(long, default_value = "0.0.0.0:80", env = "EDGECHAIN_LISTEN")]
    listen: SocketAddr,
    /// HOST:PORT of the next hop.
    #[arg(long, default_value = "next-hop:80", env = "EDGECHAIN_NEXT_HOP")]
    next_hop: Authority,
    /// Address of the admin listener (health, readiness, reload).
    #[arg(long, default_value = "0.0.0.0:9000", env = "EDGECHAIN_ADMIN")]
    admin: SocketAddr,
    #[command(flatten)]
    tuning: Tuning,
}

/// `edgechain serve`: serve until SIGTERM or SIGINT; SIGHUP reloads.
pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    edgechain::telemetry::init(&args.tuning.log_level);
    let mut opts = ServeOptions::new(args.config, args.listen, args.admin, args.next_hop);
    args.tuning.apply(&mut opts)?;
    // The admin port answers probes from here on, however long the load.
    let starting = Server::begin(opts).await.context("cannot start")?;
    let server = tokio::select! {
        started = starting.serve() => started.context("cannot start")?,
        signal = signals::until_stopped(None) => {
            signal?;
            tracing::info!("stopped before the first chain loaded");
            return Ok(());
        }
    };
    until_signal(server).await
}

/// Serve `server` until SIGTERM or SIGINT (SIGHUP reloads its chain), then
/// drain in-flight requests.
pub(crate) async fn until_signal(server: Server) -> anyhow::Result<()> {
    signals::until_stopped(Some(&server)).await?;
    tracing::info!("shutting down: draining in-flight requests");
    server.shutdown().await;
    Ok(())
}
