//! How large a message head may be, wherever it comes from: clients (the
//! listener refuses larger heads with 431), and plugins (a link whose
//! decision is larger fails by its policy). One set of numbers, so a plugin
//! can never make a message the listener would have refused.

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
        }
    }
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
