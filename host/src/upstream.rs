//! The client for the next hop: pooled keep-alive HTTP/1.1 connections, and
//! failures turned into answers (502 when the next hop refuses or breaks, 504
//! when it is too slow) instead of dropped requests.

use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::time::Duration;

/// Settings for the next-hop client.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// `HOST:PORT` of the next hop (resolved through /etc/hosts, then DNS).
    pub authority: Authority,
    /// Time allowed from sending the request to receiving response headers.
    pub timeout: Duration,
    /// Time allowed to establish a connection.
    pub connect_timeout: Duration,
    /// Idle keep-alive connections kept per host.
    pub max_idle: usize,
}

impl UpstreamSettings {
    /// Defaults for `authority`: 30 s response timeout, 5 s connect timeout,
    /// 256 idle connections.
    pub fn new(authority: Authority) -> Self {
        UpstreamSettings {
            authority,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            max_idle: 256,
        }
    }
}

/// Why the next hop gave no response.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Could not connect (refused, unresolvable, connect timeout).
    #[error("cannot connect to next hop: {0}")]
    Connect(String),
    /// No response headers within the timeout.
    #[error("next hop did not answer within {0:?}")]
    Timeout(Duration),
    /// The connection broke or the response was not valid HTTP.
    #[error("next hop failed: {0}")]
    Protocol(String),
}

impl UpstreamError {
    /// A short, stable label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Connect(_) => "connect",
            UpstreamError::Timeout(_) => "timeout",
            UpstreamError::Protocol(_) => "protocol",
        }
    }
}

/// The next-hop client, generic over the request body type.
pub struct Upstream<B> {
    client: Client<HttpConnector, B>,
    settings: UpstreamSettings,
}

impl<B> Upstream<B>
where
    B: http_body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// A client with its own connection pool.
    pub fn new(settings: UpstreamSettings) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(settings.connect_timeout));
        connector.set_keepalive(Some(Duration::from_secs(60)));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(settings.max_idle)
            // Keep the client's Host header as is; the chain already decided it.
            .set_host(false)
            .build(connector);
        Upstream { client, settings }
    }

    /// The settings in use.
    pub fn settings(&self) -> &UpstreamSettings {
        &self.settings
    }

    /// Send `req` (origin-form URI) to the next hop.
    pub async fn send(&self, mut req: Request<B>) -> Result<Response<Incoming>, UpstreamError> {
        let mut uri = std::mem::take(req.uri_mut()).into_parts();
        uri.scheme = Some(Scheme::HTTP);
        uri.authority = Some(self.settings.authority.clone());
        if uri.path_and_query.is_none() {
            uri.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
        }
        *req.uri_mut() =
            Uri::from_parts(uri).map_err(|e| UpstreamError::Protocol(e.to_string()))?;
        match tokio::time::timeout(self.settings.timeout, self.client.request(req)).await {
            Err(_) => Err(UpstreamError::Timeout(self.settings.timeout)),
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) if e.is_connect() => Err(UpstreamError::Connect(error_chain(&e))),
            Ok(Err(e)) => Err(UpstreamError::Protocol(error_chain(&e))),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
