//! Which decisions the host accepts from a plugin: the rules the host applies
//! (as HTTP types) when a plugin passes a rewritten request on or answers, as
//! plain checks an SDK's test harness can run natively, so a plugin test
//! fails where the host would fail the link. The host's own tests hold the two
//! in agreement. Operator limits (header count, head size) are not here.

use crate::managed::is_managed;
use crate::path::{self, PathError};
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
fn tchar(b: u8) -> bool {
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

/// Check a target (path plus optional `?query`). The host forwards it without
/// any `#fragment`. An encoded `/` in the path is refused, as the host's
/// default [`path::EscapedSlashes::Reject`] refuses it (a host set to decode
/// or keep it accepts it).
pub fn check_target(target: &str) -> Result<(), Refusal<'_>> {
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
    if path::has_escaped_slash(path) {
        return Err(Refusal::Path(target, PathError::EncodedSlash));
    }
    path::check(path).map_err(|e| Refusal::Path(target, e))
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
    if core::str::from_utf8(name).is_ok_and(|n| is_managed(&n.to_ascii_lowercase())) {
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

    #[test]
    fn each_rule_refuses_its_class_and_passes_the_ordinary() {
        assert!(check_method("PURGE").is_ok());
        assert!(check_method("GET /").is_err() && check_method("").is_err());
        assert_eq!(
            check_method("CONNECT"),
            Err(Refusal::NotForwarded("CONNECT"))
        );
        assert_eq!(check_method("TRACE"), Err(Refusal::NotForwarded("TRACE")));
        assert!(check_method("connect").is_ok());
        for ok in [
            "/",
            "/a/%2A\"{}?y={}`",
            "/a/%252F?next=%2F",
            "/a#frag ment",
            "/%61dmin//x",
            "/%C3%A9",
            "/a#é",
        ] {
            assert_eq!(check_target(ok), Ok(()), "{ok}");
        }
        for bad in [
            "a", "", "/a b", "/a\r\n", "/<x>", "/a?<", "/a?\"", "/`", "/é", "/a?q=é", "/\x7f",
        ] {
            assert_eq!(check_target(bad), Err(Refusal::Target(bad)), "{bad}");
        }
        assert_eq!(
            check_target("/../x"),
            Err(Refusal::Path("/../x", PathError::AboveRoot))
        );
        for bad in ["/%2Fadmin", "/x/..%2fadmin", "/a%2F?q"] {
            assert_eq!(
                check_target(bad),
                Err(Refusal::Path(bad, PathError::EncodedSlash)),
                "{bad}"
            );
        }
        for ok in [
            "",
            "shop.example",
            "shop.example:8080",
            "[::1]:80",
            "10.0.0.1",
            "h:0",
            "h:65535",
        ] {
            assert_eq!(check_authority(ok), Ok(()), "{ok}");
        }
        for bad in [
            "u@h",
            "a:b:c",
            "a b",
            "[::1",
            "h/x",
            "a%20b",
            "[[::1]]",
            "h:99999",
            "h:",
            "h:+80",
            "[::1]:",
            "[::1]:70000",
        ] {
            assert!(check_authority(bad).is_err(), "{bad}");
        }
        assert!(check_field(b"x-a", b"a\tb").is_ok());
        assert_eq!(
            check_field(b"Content-Length", b"1"),
            Err(Refusal::Managed(b"Content-Length"))
        );
        assert!(check_field(b"bad name", b"").is_err());
        assert!(check_field(b"x-a", b"a\r\nb").is_err());
        assert!(check_status(200).is_ok() && check_status(599).is_ok());
        assert!(check_status(101).is_err() && check_status(600).is_err());
    }
}
