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

/// Whether the host owns the lower-case header `name`.
pub fn is_managed(name: &str) -> bool {
    HOP_BY_HOP.contains(&name) || matches!(name, "host" | "content-length" | "expect")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_and_hop_by_hop_fields_are_managed_others_are_not() {
        for name in [
            "host",
            "content-length",
            "expect",
            "transfer-encoding",
            "upgrade",
        ] {
            assert!(is_managed(name), "{name}");
        }
        for name in ["x-user", "authorization", "cookie", "content-type"] {
            assert!(!is_managed(name), "{name}");
        }
    }
}
