//! The headers the host owns: hop-by-hop fields (RFC 9110 7.6.1) and the ones
//! that describe the connection or the framing (`host`, `content-length`,
//! `expect`). A plugin neither sees nor sets them; the host and a plugin that
//! validates header names from its config must agree on the list.

/// Header names a proxy must not forward (hop-by-hop), lower-case.
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
];

/// Header names the host owns besides the hop-by-hop ones, lower-case: `host`
/// (a plugin sets the authority instead), the `content-length` it recomputes
/// and the `expect` it answers.
pub const OWNED: [&str; 3] = ["host", "content-length", "expect"];

/// Whether the host owns the lower-case header `name`.
pub fn is_managed(name: &str) -> bool {
    HOP_BY_HOP.contains(&name) || OWNED.contains(&name)
}

/// Whether the host owns header `name` in any case. Compares without
/// lower-casing a copy: every field of every decision goes through it.
pub fn is_managed_name(name: &[u8]) -> bool {
    HOP_BY_HOP
        .iter()
        .chain(&OWNED)
        .any(|m| m.as_bytes().eq_ignore_ascii_case(name))
}
