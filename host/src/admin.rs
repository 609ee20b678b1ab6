//! The admin port (default `:9000`): liveness, readiness and on-demand reload.
//! Kept apart from the proxy port so probes and operators never queue behind
//! client traffic.
//!
//! - `GET /healthz`: 200 while the process serves.
//! - `GET /readyz`: 200 once a chain is loaded.
//! - `POST /reload`: reload the config directory now; JSON [`ReloadReport`].
//! - `GET /metrics`: Prometheus metrics (OpenMetrics text).

use crate::reload::{ReloadReport, Reloader, Trigger};
use crate::telemetry::metrics::{self, Metrics};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// State the admin endpoints read.
pub struct Admin {
    reloader: Arc<Reloader>,
    metrics: Arc<Metrics>,
    ready: AtomicBool,
}

impl Admin {
    /// Admin endpoints over `reloader`.
    pub fn new(reloader: Arc<Reloader>, metrics: Arc<Metrics>) -> Self {
        Admin {
            reloader,
            metrics,
            ready: AtomicBool::new(false),
        }
    }

    /// Mark the process ready (a chain is loaded).
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Serve one admin request.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
            (&Method::GET, "/readyz") if self.ready.load(Ordering::Acquire) => {
                text(StatusCode::OK, "ready\n")
            }
            (&Method::GET, "/readyz") => text(StatusCode::SERVICE_UNAVAILABLE, "no chain loaded\n"),
            (&Method::POST, "/reload") => {
                let report = self.reloader.reload(Trigger::Admin).await;
                json(&report)
            }
            (&Method::GET, "/metrics") => {
                let mut resp = Response::new(Full::new(Bytes::from(self.metrics.encode())));
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static(metrics::CONTENT_TYPE),
                );
                resp
            }
            (_, "/healthz" | "/readyz" | "/reload" | "/metrics") => {
                text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
            }
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
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
