//! The admin port (default `:9000`): liveness, readiness and on-demand reload.
//! Kept apart from the proxy port so probes and operators never queue behind
//! client traffic.
//!
//! - `GET /healthz`: 200 from the moment the port opens (before the first
//!   chain has loaded) until the process exits, the drain included.
//! - `GET /readyz`: 200 once the first chain is live and the proxy accepts;
//!   503 before, and again from the moment a drain begins.
//! - `POST /reload`: reload the config directory now; JSON [`ReloadReport`].
//!   From loopback peers only unless the operator allows any (the port is
//!   reachable by probes and scrapers; a reload is work anyone could ask for).
//! - `POST /cache/purge`: purge the HTTP cache by URL or surrogate key,
//!   hard or soft (see `cache::purge`); loopback only, like reload.
//! - `GET /metrics`: Prometheus metrics (OpenMetrics text).

use crate::cache::purge::Purge;
use crate::reload::{ReloadReport, Reloader, Trigger};
use crate::telemetry::metrics::{self, Metrics};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// The first chain is still loading.
const STARTING: u8 = 0;
/// The proxy serves a chain.
const READY: u8 = 1;
/// Shutting down: in-flight requests finish, no new traffic is wanted.
const DRAINING: u8 = 2;

/// State the admin endpoints read.
pub struct Admin {
    reloader: Arc<Reloader>,
    metrics: Arc<Metrics>,
    phase: AtomicU8,
    remote_reload: bool,
}

impl Admin {
    /// Admin endpoints over `reloader`; `remote_reload` lets peers other
    /// than loopback ask for a reload.
    pub fn new(reloader: Arc<Reloader>, metrics: Arc<Metrics>, remote_reload: bool) -> Self {
        Admin {
            reloader,
            metrics,
            phase: AtomicU8::new(STARTING),
            remote_reload,
        }
    }

    /// Mark the process ready (a chain is loaded and the proxy accepts).
    pub fn set_ready(&self) {
        let _ = self
            .phase
            .compare_exchange(STARTING, READY, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Mark the process draining: readiness fails from now on, so the
    /// orchestrator takes the pod out of rotation while liveness holds.
    pub fn set_draining(&self) {
        self.phase.store(DRAINING, Ordering::Release);
    }

    /// Serve one admin request from `peer`.
    pub async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
            (&Method::GET, "/readyz") => match self.phase.load(Ordering::Acquire) {
                READY => text(StatusCode::OK, "ready\n"),
                DRAINING => text(StatusCode::SERVICE_UNAVAILABLE, "draining\n"),
                _ => text(StatusCode::SERVICE_UNAVAILABLE, "no chain loaded yet\n"),
            },
            (&Method::POST, "/reload") if !reload_allowed(peer, self.remote_reload) => text(
                StatusCode::FORBIDDEN,
                "reload is accepted from loopback only (--admin-reload-from any allows every peer)\n",
            ),
            (&Method::POST, "/reload") => {
                let report = self.reloader.reload(Trigger::Admin).await;
                json(&report)
            }
            (&Method::POST, "/cache/purge") if !reload_allowed(peer, self.remote_reload) => text(
                StatusCode::FORBIDDEN,
                "purge is accepted from loopback only (--admin-reload-from any allows every peer)\n",
            ),
            (&Method::POST, "/cache/purge") => self.purge(req).await,
            (&Method::GET, "/metrics") => {
                let mut resp = Response::new(Full::new(Bytes::from(self.metrics.encode())));
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static(metrics::CONTENT_TYPE),
                );
                resp
            }
            (_, "/healthz" | "/readyz" | "/reload" | "/metrics" | "/cache/purge") => {
                text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
            }
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }
}

/// Largest purge body read.
const PURGE_BODY_LIMIT: usize = 64 * 1024;

impl Admin {
    /// `POST /cache/purge`: `{"url": ..}` or `{"surrogate_key": ..}`, with
    /// `"soft": true` to mark stale instead of deleting; answers how many
    /// objects matched.
    async fn purge(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        use http_body_util::BodyExt;
        let limited = http_body_util::Limited::new(req.into_body(), PURGE_BODY_LIMIT);
        let body = match limited.collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    "purge body unreadable or over 64 KiB\n",
                );
            }
        };
        let purge = match Purge::parse(&body) {
            Ok(p) => p,
            Err(e) => return owned_text(StatusCode::BAD_REQUEST, format!("{e}\n")),
        };
        let chain = self.reloader.chain().load_full();
        let Some((_, cache)) = chain.cache() else {
            return text(StatusCode::NOT_FOUND, "the serving chain has no cache\n");
        };
        let purged = cache.purge(&purge);
        let body = serde_json::json!({ "purged": purged, "soft": purge.soft }).to_string();
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        resp
    }
}

fn owned_text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Whether `peer` may ask for a reload: loopback (an IPv4 peer on a
/// dual-stack socket included), or anyone when the operator allows it.
fn reload_allowed(peer: SocketAddr, remote_reload: bool) -> bool {
    remote_reload
        || match peer.ip() {
            IpAddr::V4(ip) => ip.is_loopback(),
            IpAddr::V6(ip) => {
                ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn json(report: &ReloadReport) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(report).unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    if !report.loaded {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_may_reload_unless_any_is_allowed() {
        let peer = |s: &str| {
            s.parse::<SocketAddr>()
                .unwrap_or_else(|e| panic!("{s}: {e}"))
        };
        for local in [
            "127.0.0.1:5000",
            "127.1.2.3:5000",
            "[::1]:5000",
            "[::ffff:127.0.0.1]:5000",
        ] {
            assert!(reload_allowed(peer(local), false), "{local}");
        }
        for remote in [
            "10.0.0.7:5000",
            "[fd00::1]:5000",
            "[::ffff:10.0.0.7]:5000",
            "0.0.0.0:1",
        ] {
            assert!(!reload_allowed(peer(remote), false), "{remote}");
            assert!(reload_allowed(peer(remote), true), "{remote} with any");
        }
    }
}
