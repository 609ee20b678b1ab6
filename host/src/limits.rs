//! How large a message head may be, and what its target may spell, wherever
//! it comes from: clients (the listener refuses larger heads with 431, the
//! front door refused targets with 400), and plugins (a link whose decision
//! breaks a rule fails by its policy). One set of rules, so a plugin can never
//! make a message the listener would have refused.

use edgechain_wire::path::EscapedSlashes;

/// Limits on one HTTP message head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Most header fields in one request or response.
    pub max_headers: usize,
    /// Most bytes of a request head: request line plus header fields (as on
    /// the wire, `name: value\r\n` each).
    pub max_request_head_bytes: usize,
    /// Most bytes of a response head a plugin may produce (status line plus
    /// fields).
    pub max_response_head_bytes: usize,
    /// What an encoded `/` in a request path means.
    pub escaped_slashes: EscapedSlashPolicy,
}

/// What the host does with an encoded `/` (`%2F`) in a request path
/// (`--escaped-slashes`). Path rules match on the normalised path, where `%2F`
/// is data; an origin that decodes it reads `/%2Fadmin` as `/admin`. Each
/// value but `Keep` makes the two readings agree. Envoy's
/// `path_with_escaped_slashes_action` offers the same four.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EscapedSlashPolicy {
    /// 400 to a client; a plugin decision that writes one fails.
    #[default]
    Reject,
    /// 308 to a client, to the target with `%2F` decoded; a plugin decision
    /// that writes one fails (there is nobody to redirect).
    Redirect,
    /// Decoded to `/` before any plugin reads the path, and forwarded
    /// decoded, from clients and plugins alike.
    Decode,
    /// Kept as data: plugins see `%2F`, the next hop gets it as sent. Only
    /// for next hops that do not decode it.
    Keep,
}

impl EscapedSlashPolicy {
    /// The operator's spellings, as `--escaped-slashes` takes them.
    pub const NAMES: [&'static str; 4] = ["reject", "redirect", "decode", "keep"];

    /// The policy named `name` (one of [`Self::NAMES`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "reject" => EscapedSlashPolicy::Reject,
            "redirect" => EscapedSlashPolicy::Redirect,
            "decode" => EscapedSlashPolicy::Decode,
            "keep" => EscapedSlashPolicy::Keep,
            _ => return None,
        })
    }

    /// The rule for targets a plugin writes.
    pub fn for_decisions(self) -> EscapedSlashes {
        match self {
            EscapedSlashPolicy::Reject | EscapedSlashPolicy::Redirect => EscapedSlashes::Reject,
            EscapedSlashPolicy::Decode => EscapedSlashes::Decode,
            EscapedSlashPolicy::Keep => EscapedSlashes::Keep,
        }
    }
}

/// Default `max_headers`: what nginx and hyper accept.
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// Default request head size: nginx's `large_client_header_buffers 4 8k`.
pub const DEFAULT_MAX_REQUEST_HEAD_BYTES: usize = 32 * 1024;
/// Default response head size a plugin may produce.
pub const DEFAULT_MAX_RESPONSE_HEAD_BYTES: usize = 64 * 1024;

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits {
            max_headers: DEFAULT_MAX_HEADERS,
            max_request_head_bytes: DEFAULT_MAX_REQUEST_HEAD_BYTES,
            max_response_head_bytes: DEFAULT_MAX_RESPONSE_HEAD_BYTES,
            escaped_slashes: EscapedSlashPolicy::Reject,
        }
    }
}

/// A port, if the authority has one, is digits of a number that fits in 16
/// bits: the rule for a client's `Host`, a plugin's authority and a granted
/// one alike.
pub fn valid_port(authority: &http::uri::Authority) -> bool {
    let text = authority.as_str();
    let after_host = text.rsplit_once(']').map_or(text, |(_, rest)| rest);
    after_host.split_once(':').is_none_or(|(_, port)| {
        port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()
    })
}

/// Bytes counted for a response's status line (`HTTP/1.1 200 OK\r\n`, with
/// room for a long reason) when a response head is measured.
pub const STATUS_LINE_BYTES: usize = 48;

/// Bytes the header fields of `headers` take on the wire.
pub fn fields_bytes(headers: &http::HeaderMap) -> usize {
    headers.iter().fold(0, |sum, (n, v)| {
        sum.saturating_add(field_bytes(n.as_str().len(), v.len()))
    })
}

/// Bytes one header field takes on the wire: `name: value\r\n`.
pub fn field_bytes(name: usize, value: usize) -> usize {
    name.saturating_add(value).saturating_add(4)
}
