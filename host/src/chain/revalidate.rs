//! A link's answer, checked once: a head equal to what the link was given
//! (most links only look) is compared, not parsed again; a changed one is
//! validated into HTTP types, so an invalid decision is charged to the link
//! that made it.

use crate::convert;
use crate::decision::{self, ValidRequest};
use crate::limits::HeadLimits;
use crate::plugin::bindings::{Request as WitRequest, Response as WitResponse};
use http::StatusCode;
use http::header::{self, HeaderMap};

/// Validate a request a link passed on, unless its head is exactly what the
/// link was given (most links only look): comparing is far cheaper than
/// parsing every header again. `Ok(None)` means unchanged.
pub(super) fn revalidate_request(
    given: &WitRequest,
    next: &WitRequest,
    limits: &HeadLimits,
) -> Result<Option<ValidRequest>, decision::InvalidDecision> {
    let unchanged = next.method == given.method
        && next.path_with_query == given.path_with_query
        && next.authority == given.authority
        && next.headers == given.headers;
    if unchanged {
        Ok(None)
    } else {
        decision::request_from_wit(next, limits).map(Some)
    }
}

/// The normalised path the next link sees: the host's, never the plugin's
/// (moved out of `given`, which `next` replaces). A target whose encoded `/`
/// the host decoded is shown as it will be forwarded.
pub(super) fn settle_normalized_path(
    given: &mut WitRequest,
    next: &mut WitRequest,
    valid: Option<&ValidRequest>,
) {
    next.normalized_path = match valid {
        Some(v) if next.path_with_query != given.path_with_query => {
            if edgechain_wire::path::has_escaped_slash(&next.path_with_query) {
                v.path.as_str().clone_into(&mut next.path_with_query);
            }
            v.normalized_path.clone()
        }
        _ => std::mem::take(&mut given.normalized_path),
    };
}

/// Like [`revalidate_request`], for a response head.
pub(super) fn revalidate_response(
    given: &WitResponse,
    next: &WitResponse,
    limits: &HeadLimits,
) -> Result<Option<(StatusCode, HeaderMap)>, decision::InvalidDecision> {
    if next.status != given.status {
        return decision::response_from_wit(next, limits).map(Some);
    }
    if next.headers == given.headers {
        return Ok(None);
    }
    // A status the plugin kept is the next hop's (a 101 that switches
    // protocols included), not a decision of its own to check.
    let status = StatusCode::from_u16(next.status)
        .map_err(|_| decision::InvalidDecision::Status(next.status))?;
    Ok(Some((
        status,
        decision::response_headers_from_wit(next, limits)?,
    )))
}

/// Drop hop-by-hop headers (and `expect`, which this hop has answered), and
/// `content-length` unless the body is forwarded as is.
pub(super) fn strip_request_headers(headers: &mut HeaderMap, keep_length: bool) {
    convert::strip_hop_by_hop(headers);
    headers.remove(header::EXPECT);
    if !keep_length {
        headers.remove(header::CONTENT_LENGTH);
    }
}
