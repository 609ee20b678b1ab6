//! The hyper service on the proxy port: take the current chain, walk the
//! request through it, forward to the next hop, walk the response back.
//!
//! The request path does one atomic load of the chain pointer and never
//! touches the filesystem or a global lock.

pub mod convert;

use crate::chain::ChainSnapshot;
use crate::chain::walk::{ChainBody, RequestOutcome, host_response};
use crate::upstream::{Upstream, UpstreamError};
use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::sync::Arc;

/// The body of every response the proxy sends.
pub type ProxyBody = Either<Incoming, Full<Bytes>>;

/// The current chain, swapped atomically on reload.
pub type SharedChain = Arc<ArcSwap<ChainSnapshot>>;

/// Everything a request needs, shared by all connections.
pub struct Proxy {
    chain: SharedChain,
    upstream: Upstream<ChainBody<Incoming>>,
}

impl Proxy {
    /// A proxy serving `chain` in front of `upstream`.
    pub fn new(chain: SharedChain, upstream: Upstream<ChainBody<Incoming>>) -> Self {
        Proxy { chain, upstream }
    }

    /// The chain handle (for reloads and readiness).
    pub fn chain(&self) -> &SharedChain {
        &self.chain
    }

    /// Serve one request from `client`. Always produces a response.
    pub async fn handle(&self, req: Request<Incoming>, client: SocketAddr) -> Response<ProxyBody> {
        let chain = self.chain.load_full();
        let client_ip = Some(client.ip());
        match chain.run_request(req, client_ip).await {
            RequestOutcome::Forward(mut req, walk) => {
                convert::add_forwarded(req.headers_mut(), client_ip);
                match self.upstream.send(req).await {
                    Ok(resp) => walk.run(resp).await,
                    Err(e) => upstream_failure(&e).map(Either::Right),
                }
            }
            RequestOutcome::Answered(resp, walk) => walk.run(resp).await.map(|b| match b {
                Either::Left(full) | Either::Right(full) => Either::Right(full),
            }),
            RequestOutcome::Rejected(resp) => resp.map(Either::Right),
        }
    }
}

fn upstream_failure(e: &UpstreamError) -> Response<Full<Bytes>> {
    tracing::warn!(kind = e.kind(), error = %e, "next hop failed");
    match e {
        UpstreamError::Timeout(_) => {
            host_response(StatusCode::GATEWAY_TIMEOUT, "next hop timed out")
        }
        _ => host_response(StatusCode::BAD_GATEWAY, "next hop unavailable"),
    }
}
