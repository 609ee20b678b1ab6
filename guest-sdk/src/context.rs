//! Facts about where this plugin runs, from the host.

use crate::sys::host;
use std::net::IpAddr;

/// This link's name in the chain manifest (also its key-value namespace).
pub fn link_name() -> String {
    host::name()
}

/// The IP address of the client connected to the host for the current request
/// (the TCP peer, not `X-Forwarded-For`). `None` outside a request (in `init`).
pub fn client_ip() -> Option<IpAddr> {
    host::client_ip().parse().ok()
}
