"""The normalised request path plugins match on: a port of ``wire/src/path.rs``,
held to ``wire/vectors.json`` (the host's and the other SDKs' verdicts too) by
``tests/test_wire_vectors.py``.

The host computes ``request.normalized-path`` with these rules; the SDK needs
them only when a plugin (or a test) writes a new target, so that
``Request.path`` keeps describing it.

1. Percent-encodings are checked (two hex digits, never NUL). Encoded
   unreserved characters (``A-Z a-z 0-9 - . _ ~``) are decoded; every other
   encoding stays encoded with upper-case hex (``%2F`` stays ``%2F``).
2. Bytes that are not visible ASCII are percent-encoded.
3. A backslash, raw or encoded, is refused.
4. Runs of ``/`` are merged.
5. ``.`` and ``..`` segments are removed (RFC 3986 section 5.2.4); a ``..``
   above the root is refused.
"""

from __future__ import annotations

_HEX = "0123456789ABCDEF"
_UNRESERVED = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
)
_HEXVAL = {c: int(chr(c), 16) for c in b"0123456789abcdefABCDEF"}


class PathError(ValueError):
    """Why a path cannot be normalised (the host answers such requests 400)."""


def has_escaped_slash(path_with_query: str) -> bool:
    """Whether the path part holds an encoded ``/`` (``%2F``), which the host
    refuses by default (``--escaped-slashes reject``): an origin that decodes
    it would read a different path than the one plugins matched."""
    return "%2f" in path_of(path_with_query).lower()


def path_of(path_with_query: str) -> str:
    """The path part (before any ``?``) of an origin-form target."""
    i = path_with_query.find("?")
    return path_with_query if i < 0 else path_with_query[:i]


def normalize(path: str) -> str:
    """Normalise ``path`` (no query) or raise :class:`PathError`."""
    raw = path.encode("utf-8")
    if not raw.startswith(b"/"):
        raise PathError("path does not start with `/`")
    out = bytearray()
    i = 0
    n = len(raw)
    while i < n:
        b = raw[i]
        if b == 0x25:  # '%'
            hi = _HEXVAL.get(raw[i + 1]) if i + 1 < n else None
            lo = _HEXVAL.get(raw[i + 2]) if i + 2 < n else None
            if hi is None or lo is None:
                raise PathError("invalid percent-encoding in path")
            byte = hi << 4 | lo
            if byte == 0:
                raise PathError("encoded NUL in path")
            if byte == 0x5C:
                raise PathError("backslash in path")
            if byte in _UNRESERVED:
                out.append(byte)
            else:
                out += ("%" + _HEX[byte >> 4] + _HEX[byte & 15]).encode()
            i += 3
            continue
        if b == 0x5C:
            raise PathError("backslash in path")
        if 0x21 <= b <= 0x7E:
            out.append(b)
        else:
            out += ("%" + _HEX[b >> 4] + _HEX[b & 15]).encode()
        i += 1
    decoded = bytes(out)
    trailing = decoded.endswith((b"/", b"/.", b"/.."))
    segments: list[bytes] = []
    for seg in decoded.split(b"/"):
        if seg in (b"", b"."):
            continue
        if seg == b"..":
            if not segments:
                raise PathError("`..` above the root in path")
            segments.pop()
            continue
        segments.append(seg)
    result = "".join("/" + s.decode("ascii") for s in segments)
    if not segments or trailing:
        result += "/"
    return result


def normalize_or_raw(path_with_query: str) -> str:
    """The normalised path of a target a plugin (or test) wrote; a target the
    host would refuse keeps its raw path (the host validates it later)."""
    p = path_of(path_with_query)
    try:
        return normalize(p)
    except PathError:
        return p


def percent_decode(s: str) -> str:
    """Decode ``%XX`` escapes and ``+`` (query-string rules); invalid escapes
    are kept as they are; invalid UTF-8 becomes U+FFFD."""
    raw = s.encode("utf-8")
    out = bytearray()
    i = 0
    n = len(raw)
    while i < n:
        b = raw[i]
        if b == 0x2B:
            out.append(0x20)
        elif b == 0x25 and i + 2 < n:
            hi = _HEXVAL.get(raw[i + 1])
            lo = _HEXVAL.get(raw[i + 2])
            if hi is not None and lo is not None:
                out.append(hi << 4 | lo)
                i += 2
            else:
                out.append(b)
        else:
            out.append(b)
        i += 1
    return out.decode("utf-8", "replace")
