//! The normalised request path plugins match on.
//!
//! Clients can spell one resource many ways (`/admin`, `/%61dmin`, `//admin`,
//! `/x/../admin`), and origins that normalise paths serve them all. A path
//! rule written against the raw target is then trivially bypassed, so the
//! host hands every plugin one canonical spelling, computed here, and refuses
//! targets whose meaning depends on who reads them.
//!
//! The rules, in order:
//! 1. Percent-encodings are checked (two hex digits, never NUL). Encoded
//!    unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded; every other
//!    encoding stays encoded with upper-case hex. An encoded `/` (`%2F`)
//!    therefore stays `%2F` here: data inside a segment, not a separator.
//!    Many origins decode it, though, and then `/%2Fadmin` is `/admin` to
//!    them, so the host applies [`EscapedSlashes`] first (by default such a
//!    path is refused) and a plugin only sees `%2F` where the operator chose
//!    to keep it as data (APIs such as GitLab's rely on that). A doubly
//!    encoded one (`%252F`) is `%25` then `2F`: data, as nginx treats it.
//! 2. Bytes that are not visible ASCII are percent-encoded, so the result is
//!    always ASCII.
//! 3. A backslash, raw or encoded, is refused: some servers treat it as `/`,
//!    others as data, so its meaning is ambiguous.
//! 4. Runs of `/` are merged into one (as nginx does by default).
//! 5. `.` and `..` segments are removed (RFC 3986 §5.2.4); a `..` that would
//!    climb above the root is refused rather than silently dropped.

use alloc::string::String;
use alloc::vec::Vec;

/// Why a path cannot be normalised; the host answers such requests 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/`.
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// An encoded NUL byte (`%00`).
    Nul,
    /// A backslash, raw or encoded.
    Backslash,
    /// A `..` segment above the root.
    AboveRoot,
    /// An encoded `/` (`%2F`), refused by [`EscapedSlashes::Reject`].
    EncodedSlash,
}

impl core::fmt::Display for PathError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "path does not start with `/`",
            PathError::BadEscape => "invalid percent-encoding in path",
            PathError::Nul => "encoded NUL in path",
            PathError::Backslash => "backslash in path",
            PathError::AboveRoot => "`..` above the root in path",
            PathError::EncodedSlash => "encoded `/` (%2F) in path",
        })
    }
}

/// What an encoded `/` (`%2F` or `%2f`) in a request path means, chosen by
/// the operator (`--escaped-slashes`), as Envoy's
/// `path_with_escaped_slashes_action` is. An origin that decodes `%2F` sees
/// `/%2Fadmin` as `/admin` while a plugin matching on the normalised path
/// (where `%2F` is data) sees a different path: every path rule is bypassed
/// unless the two readings are made to agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EscapedSlashes {
    /// Refuse the path (a client gets 400; a plugin decision fails). The
    /// default: no spelling of a separator can hide from a path rule.
    #[default]
    Reject,
    /// Decode it to `/` before anything reads the path, so plugins and the
    /// next hop see the same separators.
    Decode,
    /// Keep it as data. Safe only when the next hop does not decode it.
    Keep,
}

/// Whether the path part of `path_with_query` holds an encoded `/`.
pub fn has_escaped_slash(path_with_query: &str) -> bool {
    path_of(path_with_query)
        .as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'2' && (w[2] | 0x20) == b'f')
}

/// `path_with_query` with every encoded `/` in its path decoded to `/`; the
/// query is left as it is. Other escapes, `%25` included, are untouched.
pub fn decode_escaped_slashes(path_with_query: &str) -> String {
    let path = path_of(path_with_query);
    let mut out = String::with_capacity(path_with_query.len());
    let mut rest = path;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let escape = rest.get(i..i + 3).unwrap_or(&rest[i..]);
        if escape.eq_ignore_ascii_case("%2f") {
            out.push('/');
            rest = &rest[i + 3..];
        } else {
            out.push('%');
            rest = &rest[i + 1..];
        }
    }
    out.push_str(rest);
    out.push_str(&path_with_query[path.len()..]);
    out
}

/// The path part (before any `?`) of an origin-form target.
pub fn path_of(path_with_query: &str) -> &str {
    path_with_query
        .split_once('?')
        .map_or(path_with_query, |(path, _)| path)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn push_escaped(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
}

/// Whether `path` normalises, without building the normalised path: the
/// check the proxy makes on every request, even when no plugin runs.
pub fn check(path: &str) -> Result<(), PathError> {
    let raw = path.as_bytes();
    if raw.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    // Segment by segment (raw `/` separates; `%2F` does not), tracking the
    // depth a `..` would climb from.
    let mut depth: usize = 0;
    for segment in raw[1..].split(|&b| b == b'/') {
        check_segment(segment, &mut depth)?;
    }
    Ok(())
}

/// Whether `path` normalises once each encoded `/` in it is decoded, as a
/// host set to [`EscapedSlashes::Decode`] forwards it: [`check`] of
/// [`decode_escaped_slashes`]' result, without decoding a copy. The path
/// must start with a raw `/` (a leading `%2F` is not one).
pub fn check_decoding_slashes(path: &str) -> Result<(), PathError> {
    let raw = path.as_bytes();
    if raw.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    let mut depth: usize = 0;
    for segment in raw[1..].split(|&b| b == b'/') {
        // `%2F` cannot overlap another, so splitting at each is decoding.
        let mut rest = segment;
        while let Some(i) = rest
            .windows(3)
            .position(|w| w[0] == b'%' && w[1] == b'2' && (w[2] | 0x20) == b'f')
        {
            check_segment(&rest[..i], &mut depth)?;
            rest = &rest[i + 3..];
        }
        check_segment(rest, &mut depth)?;
    }
    Ok(())
}

/// One segment of [`check`]: its escapes checked as in [`normalize`], and
/// `depth` (segments below the root) moved as a `.`, `..` or name moves it.
fn check_segment(segment: &[u8], depth: &mut usize) -> Result<(), PathError> {
    let mut dots = 0usize;
    let mut other = false;
    let mut i = 0;
    while i < segment.len() {
        let b = match segment[i] {
            b'%' => {
                let (Some(hi), Some(lo)) = (
                    segment.get(i + 1).copied().and_then(hex_value),
                    segment.get(i + 2).copied().and_then(hex_value),
                ) else {
                    return Err(PathError::BadEscape);
                };
                i += 3;
                hi << 4 | lo
            }
            b => {
                i += 1;
                b
            }
        };
        match b {
            0 => return Err(PathError::Nul),
            b'\\' => return Err(PathError::Backslash),
            b'.' => dots += 1,
            _ => other = true,
        }
    }
    match (other, dots) {
        (false, 0 | 1) => {}
        (false, 2) => *depth = depth.checked_sub(1).ok_or(PathError::AboveRoot)?,
        _ => *depth += 1,
    }
    Ok(())
}

/// Normalise `path` (no query) by the rules in the module documentation.
pub fn normalize(path: &str) -> Result<String, PathError> {
    let raw = path.as_bytes();
    if raw.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    // Steps 1-3: one canonical spelling of every byte.
    let mut decoded = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'%' {
            let (Some(hi), Some(lo)) = (
                raw.get(i + 1).copied().and_then(hex_value),
                raw.get(i + 2).copied().and_then(hex_value),
            ) else {
                return Err(PathError::BadEscape);
            };
            let byte = hi << 4 | lo;
            match byte {
                0 => return Err(PathError::Nul),
                b'\\' => return Err(PathError::Backslash),
                b if unreserved(b) => decoded.push(b),
                b => push_escaped(&mut decoded, b),
            }
            i += 3;
            continue;
        }
        match b {
            b'\\' => return Err(PathError::Backslash),
            0x21..=0x7e => decoded.push(b),
            b => push_escaped(&mut decoded, b),
        }
        i += 1;
    }
    // Steps 4-5: segments, with empty ones (merged slashes) and dots removed.
    let mut segments: Vec<&[u8]> = Vec::new();
    let trailing = decoded.ends_with(b"/") || decoded.ends_with(b"/.") || decoded.ends_with(b"/..");
    for segment in decoded.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => {
                if segments.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for s in &segments {
        out.push('/');
        // Every byte is visible ASCII by now.
        out.extend(s.iter().map(|&b| char::from(b)));
    }
    if segments.is_empty() || trailing {
        out.push('/');
    }
    Ok(out)
}
