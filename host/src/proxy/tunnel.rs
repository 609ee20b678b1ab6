//! `Upgrade` requests (WebSocket and any other protocol): the chain runs on
//! the handshake like on any request (a plugin can refuse or rewrite it);
//! if the next hop answers `101 Switching Protocols`, the client gets that
//! answer and bytes are then copied both ways until either side closes.
//!
//! `Connection` and `Upgrade` are hop-by-hop, so the chain never sees them;
//! they are put back on the request to the next hop and on the 101 to the
//! client. A tunnel keeps its connection's slot under `--max-connections`
//! and its place in the drain, so SIGTERM waits for it like for a request,
//! and it is logged and counted when it closes, with the bytes sent to the
//! client.

use super::completion::Report;
use crate::conn::ConnHold;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::sync::Arc;

/// A client asking to switch protocols.
pub struct Upgrade {
    client: OnUpgrade,
    protocol: HeaderValue,
}

/// A switch the next hop accepted: both sides' connections, once upgraded.
pub struct Tunnel {
    client: OnUpgrade,
    upstream: OnUpgrade,
    protocol: HeaderValue,
}

fn lists_upgrade(headers: &HeaderMap) -> bool {
    headers.get_all(header::CONNECTION).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        })
    })
}

impl Upgrade {
    /// The upgrade `parts` asks for, if it is an HTTP/1.1 upgrade request
    /// (`Connection: upgrade` and an `Upgrade` protocol).
    pub fn requested(parts: &mut http::request::Parts) -> Option<Upgrade> {
        if parts.version != Version::HTTP_11 || !lists_upgrade(&parts.headers) {
            return None;
        }
        let protocol = parts.headers.get(header::UPGRADE)?.clone();
        let client = parts.extensions.remove::<OnUpgrade>()?;
        Some(Upgrade { client, protocol })
    }

    /// Ask the next hop for the same switch (the chain removed the
    /// hop-by-hop headers that carried it).
    pub fn ask_next_hop(&self, headers: &mut HeaderMap) {
        let _ = headers.try_insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        let _ = headers.try_insert(header::UPGRADE, self.protocol.clone());
    }

    /// The tunnel, if the next hop switched protocols.
    pub fn accepted<B>(self, resp: &mut Response<B>) -> Option<Tunnel> {
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return None;
        }
        let upstream = resp.extensions_mut().remove::<OnUpgrade>()?;
        let protocol = resp
            .headers()
            .get(header::UPGRADE)
            .cloned()
            .unwrap_or(self.protocol);
        Some(Tunnel {
            client: self.client,
            upstream,
            protocol,
        })
    }
}

impl Tunnel {
    /// Put the switch back on the 101 the client gets.
    pub fn answer_client(&self, headers: &mut HeaderMap) {
        let _ = headers.try_insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        let _ = headers.try_insert(header::UPGRADE, self.protocol.clone());
    }
}

/// Copy bytes both ways once both sides have switched; report the request
/// (with the bytes sent to the client) when the tunnel closes.
pub fn spawn(tunnel: Tunnel, mut report: Report, hold: Arc<ConnHold>) {
    tokio::spawn(async move {
        let _hold = hold;
        let (client, upstream) = tokio::join!(tunnel.client, tunnel.upstream);
        match (client, upstream) {
            (Ok(client), Ok(upstream)) => {
                let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
                match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
                    Ok((_, to_client)) => report.count_sent(to_client),
                    Err(e) => tracing::debug!(error = %e, "tunnel ended with an error"),
                }
            }
            (client, upstream) => tracing::debug!(
                client = client.is_ok(),
                upstream = upstream.is_ok(),
                "an upgrade did not complete"
            ),
        }
    });
}
