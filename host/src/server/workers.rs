//! Proxy workers: what each one serves with, and, with more than one, their
//! threads. Each worker has its own single-threaded runtime, its own
//! `SO_REUSEPORT` listener (the kernel spreads connections across them) and
//! its own next-hop pool; they share the chain (one atomic pointer), the
//! metrics (atomics) and the plugins' warm pools (lock-free queues). Nothing
//! on the request path crosses threads.

use super::accept::{ConnLimits, LISTEN_BACKLOG, accept_loop};
use crate::chain::SharedChain;
use crate::proxy::Proxy;
use crate::proxy::completion::Observer;
use crate::upstream::{Upstream, UpstreamSettings};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};

/// Bind `count` listening sockets to `addr` with `SO_REUSEPORT` (a port 0
/// is resolved by the first), not yet listening; and the address bound.
pub(super) fn bind(
    addr: SocketAddr,
    count: usize,
) -> std::io::Result<(Vec<TcpSocket>, SocketAddr)> {
    let mut bound = addr;
    let mut sockets = Vec::with_capacity(count);
    for _ in 0..count {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        #[cfg(unix)]
        if count > 1 {
            socket.set_reuseport(true)?;
        }
        socket.set_nodelay(true)?;
        socket.bind(bound)?;
        bound = socket.local_addr()?;
        sockets.push(socket);
    }
    Ok((sockets, bound))
}

/// What one worker serves with.
#[derive(Clone)]
pub(super) struct Serving {
    pub chain: SharedChain,
    pub upstream: UpstreamSettings,
    pub observer: Observer,
    pub body_idle_timeout: Duration,
    pub limits: ConnLimits,
    pub stop: tokio::sync::watch::Receiver<bool>,
}

impl Serving {
    /// Serve `listener` until the server stops (on the current runtime).
    pub async fn run(self, listener: TcpListener) {
        let proxy = Arc::new(Proxy::new(
            self.chain,
            Upstream::new(self.upstream),
            self.observer.clone(),
            self.body_idle_timeout,
        ));
        accept_loop(
            listener,
            self.limits,
            self.stop,
            Some(self.observer),
            move |req, conn| {
                let proxy = proxy.clone();
                // Boxed: hyper moves the service's future into place, and
                // the request path's future is large.
                Box::pin(async move { proxy.handle(req, conn).await })
            },
        )
        .await;
    }

    /// Serve `socket` on a thread of its own, with its own runtime; returns
    /// once it listens (or could not).
    pub fn spawn_thread(
        self,
        index: usize,
        socket: TcpSocket,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (listening, started) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("edgechain-worker-{index}"))
            .spawn(move || {
                runtime.block_on(async move {
                    // The listener registers with this thread's runtime.
                    match socket.listen(LISTEN_BACKLOG) {
                        Ok(listener) => {
                            let _ = listening.send(Ok(()));
                            self.run(listener).await;
                        }
                        Err(e) => {
                            let _ = listening.send(Err(e));
                        }
                    }
                });
            })?;
        match started.recv() {
            Ok(Ok(())) => Ok(thread),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(std::io::Error::other(
                "worker thread ended before listening",
            )),
        }
    }
}
