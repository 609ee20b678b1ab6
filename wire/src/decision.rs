//! Which decisions the host accepts from a plugin: the checks the host runs
//! when a plugin passes a rewritten request on or answers, before it builds
//! HTTP types, and that an SDK's test harness runs natively, so a plugin test
//! fails where the host would fail the link. `vectors.json` holds their
//! verdicts for every implementation (the JavaScript and Python SDKs port
//! them); the host's tests hold them to the `http` crate's parsers. Operator
//! limits (header count, head size) are not here.

use crate::managed::is_managed_name;
use crate::path::{self, EscapedSlashes, PathError};
use core::fmt;

/// Why the host would refuse a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal<'a> {
    /// The method is not an HTTP token.
    Method(&'a str),
    /// `CONNECT` (a tunnel to anywhere) or `TRACE` (reflects credentials
    /// back): the host refuses them from clients and never forwards them.
    NotForwarded(&'a str),
    /// The target is not origin-form or has bytes a URI cannot hold.
    Target(&'a str),
    /// The target's path cannot be normalised (the host answers such a
    /// request 400 when a client sends it).
    Path(&'a str, PathError),
    /// The authority is not `host[:port]` (userinfo included).
    Authority(&'a str),
    /// A header name that is not a token.
    HeaderName(&'a [u8]),
    /// A header value with control bytes (CR, LF, NUL...).
    HeaderValue(&'a [u8]),
    /// A header the host owns ([`crate::managed`]).
    Managed(&'a [u8]),
    /// A status outside 200..=599.
    Status(u16),
}

impl fmt::Display for Refusal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = |b: &[u8]| alloc::string::String::from_utf8_lossy(b).into_owned();
        match self {
            Refusal::Method(m) => write!(f, "invalid method `{m}`"),
            Refusal::NotForwarded(m) => write!(f, "method `{m}` is never forwarded"),
            Refusal::Target(t) => write!(
                f,
                "invalid path `{t}`: must be origin-form, starting with `/`, ASCII without spaces or control characters (percent-encode other bytes)"
            ),
            Refusal::Path(t, e) => write!(f, "invalid path `{t}`: {e}"),
            Refusal::Authority(a) => write!(f, "invalid authority `{a}`"),
            Refusal::HeaderName(n) => write!(f, "invalid header name `{}`", text(n)),
            Refusal::HeaderValue(n) => write!(f, "invalid value for header `{}`", text(n)),
            Refusal::Managed(n) => write!(
                f,
                "header `{}` is managed by the host and may not be set by a plugin",
                text(n).to_ascii_lowercase()
            ),
            Refusal::Status(s) => write!(f, "status {s} is not in 200..=599"),
        }
    }
}

/// An HTTP token character (RFC 9110 5.6.2).
pub(crate) fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Check a method.
pub fn check_method(method: &str) -> Result<(), Refusal<'_>> {
    if method.is_empty() || !method.bytes().all(tchar) {
        Err(Refusal::Method(method))
    } else if is_not_forwarded(method) {
        Err(Refusal::NotForwarded(method))
    } else {
        Ok(())
    }
}

/// Methods the host never forwards, from a client or a plugin (methods are
/// case-sensitive: `connect` is an extension method).
pub fn is_not_forwarded(method: &str) -> bool {
    matches!(method, "CONNECT" | "TRACE")
}

/// Check a target (path plus optional `?query`) as the host checks it by
/// default. The host forwards it without any `#fragment`. An encoded `/` in
/// the path is refused, as the default [`EscapedSlashes::Reject`] refuses it;
/// [`check_target_with`] follows the other policies.
pub fn check_target(target: &str) -> Result<(), Refusal<'_>> {
    check_target_with(target, EscapedSlashes::Reject)
}

/// Check a target as a host set to `escaped_slashes` (`--escaped-slashes`)
/// does, so the host and an SDK apply one rule whatever the operator chose.
/// With [`EscapedSlashes::Decode`] the path is checked as forwarded, with
/// each `%2F` decoded.
pub fn check_target_with(target: &str, escaped_slashes: EscapedSlashes) -> Result<(), Refusal<'_>> {
    let sent = target.split_once('#').map_or(target, |(t, _)| t);
    if !sent.starts_with('/') {
        return Err(Refusal::Target(target));
    }
    let (path, query) = sent.split_once('?').unwrap_or((sent, ""));
    // ASCII, as a client must send it (`http` would take UTF-8 and put it
    // on the wire raw); no controls or spaces anywhere, no `<`, `>` or
    // backquote in the path, no `"`, `<` or `>` in the query.
    let path_ok = path
        .bytes()
        .all(|b| b > 0x20 && b < 0x7f && !matches!(b, b'<' | b'>' | b'`'));
    let query_ok = query
        .bytes()
        .all(|b| b > 0x20 && b < 0x7f && !matches!(b, b'"' | b'<' | b'>'));
    if !(path_ok && query_ok) {
        return Err(Refusal::Target(target));
    }
    let checked = match escaped_slashes {
        _ if !path::has_escaped_slash(path) => path::check(path),
        EscapedSlashes::Reject => Err(PathError::EncodedSlash),
        EscapedSlashes::Decode => path::check_decoding_slashes(path),
        EscapedSlashes::Keep => path::check(path),
    };
    checked.map_err(|e| Refusal::Path(target, e))
}

/// Check an authority. Empty keeps the request's `Host`. The host parses it
/// as a URI authority (the `http` crate's rules: URI characters only, at most
/// one `:` outside one `[...]`, `%` only inside brackets), refuses any
/// userinfo, and a port that is not a number of 16 bits, as it does a
/// client's `Host`.
pub fn check_authority(authority: &str) -> Result<(), Refusal<'_>> {
    if authority.is_empty() {
        return Ok(());
    }
    let bad = Err(Refusal::Authority(authority));
    let (mut colons, mut percent) = (0u32, false);
    let (mut open, mut close) = (false, false);
    for b in authority.bytes() {
        match b {
            b'%' => percent = true,
            b':' => colons += 1,
            b'[' if percent || open => return bad,
            b'[' => open = true,
            b']' if !open || close => return bad,
            b']' => {
                // The colons and `%` were the address's.
                close = true;
                colons = 0;
                percent = false;
            }
            b if b.is_ascii_alphanumeric() || b"!$&'()*+,-.;=_~".contains(&b) => {}
            // `@` (userinfo), `/`, `?`, `#` and everything else.
            _ => return bad,
        }
    }
    if open != close || colons > 1 || percent {
        return bad;
    }
    let after_host = authority
        .rsplit_once(']')
        .map_or(authority, |(_, rest)| rest);
    match after_host.split_once(':') {
        Some((_, port))
            if !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err() =>
        {
            bad
        }
        _ => Ok(()),
    }
}

/// Check one header field a plugin set.
pub fn check_field<'a>(name: &'a [u8], value: &'a [u8]) -> Result<(), Refusal<'a>> {
    if name.is_empty() || !name.iter().copied().all(tchar) {
        return Err(Refusal::HeaderName(name));
    }
    if is_managed_name(name) {
        return Err(Refusal::Managed(name));
    }
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(Refusal::HeaderValue(name));
    }
    Ok(())
}

/// Check a status a plugin answers or rewrites with.
pub fn check_status(status: u16) -> Result<(), Refusal<'static>> {
    if (200..=599).contains(&status) {
        Ok(())
    } else {
        Err(Refusal::Status(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The rules' verdicts are in `vectors.json` (tests/vectors.rs); these
    // are the policies only the host applies.
    #[test]
    fn escaped_slashes_follow_the_policy() {
        let t = "/x/..%2fadmin?q=%2F";
        assert_eq!(
            check_target_with(t, EscapedSlashes::Reject),
            Err(Refusal::Path(t, PathError::EncodedSlash))
        );
        assert_eq!(check_target_with(t, EscapedSlashes::Decode), Ok(()));
        assert_eq!(check_target_with(t, EscapedSlashes::Keep), Ok(()));
        // Decoded, the `..` climbs above the root; kept, it is data.
        let t = "/x/..%2F..%2F..";
        assert_eq!(
            check_target_with(t, EscapedSlashes::Decode),
            Err(Refusal::Path(t, PathError::AboveRoot))
        );
        assert_eq!(check_target_with(t, EscapedSlashes::Keep), Ok(()));
        // The target is checked as written before anything is decoded.
        for policy in [EscapedSlashes::Decode, EscapedSlashes::Keep] {
            assert_eq!(
                check_target_with("%2Fadmin", policy),
                Err(Refusal::Target("%2Fadmin"))
            );
            assert_eq!(
                check_target_with("/a%2F b", policy),
                Err(Refusal::Target("/a%2F b"))
            );
        }
    }
}
