//! The one wait for the signals a command stops on: SIGTERM or SIGINT
//! (Ctrl-C), and, for a serving command, SIGHUP as "reload the chain".
//!
//! Every command that waits for a signal waits here, so they all stop on the
//! same signals and report a handler that cannot be installed the same way.
//! A command that is given no server to reload installs no SIGHUP handler, so
//! SIGHUP keeps its default action there (it ends the process).

use anyhow::Context;
use edgechain::server::Server;

/// Wait until SIGTERM or SIGINT arrives. With `reload`, each SIGHUP meanwhile
/// reloads that server's chain (as `POST /reload` does) and the wait goes on.
#[cfg(unix)]
pub(crate) async fn until_stopped(reload: Option<&Server>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install SIGINT handler")?;
    let mut hup = match reload {
        Some(server) => Some((
            server,
            signal(SignalKind::hangup()).context("cannot install SIGHUP handler")?,
        )),
        None => None,
    };
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            server = hangup(&mut hup) => {
                tracing::info!("SIGHUP: reloading");
                server.reloader().reload(edgechain::reload::Trigger::Signal).await;
            }
        }
    }
}

/// The server to reload once SIGHUP arrives; never, without a handler.
#[cfg(unix)]
async fn hangup<'s>(hup: &mut Option<(&'s Server, tokio::signal::unix::Signal)>) -> &'s Server {
    match hup {
        Some((server, signal)) => {
            signal.recv().await;
            server
        }
        None => std::future::pending().await,
    }
}

/// Wait until Ctrl-C arrives (there is no SIGHUP to reload on here).
#[cfg(not(unix))]
pub(crate) async fn until_stopped(_reload: Option<&Server>) -> anyhow::Result<()> {
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")
}
