"""Where a link applies: the manifest's ``when`` and ``unless``, a port of
``wire/src/scope.rs`` (and ``scope/json.rs``), which the host uses to decide,
once per request before the walk, which links run. ``tests/test_wire_vectors.py``
holds it to ``wire/vectors.json``, the verdicts the host, the Rust SDK and the
JavaScript SDK check too.

A rule's conditions must all hold; a list of values means any of them.
``host`` is compared without case, port or trailing dot (``*.example.com`` by
whole labels); ``path`` is the normalised path (``exact``, ``prefix`` by whole
segments, or ``glob``: ``*`` within a segment, ``?`` one character, ``**`` as
a whole segment for any number of segments); ``method`` exactly; ``header``
present (``true``) or equal to one of the values (any field of a repeated
header, compared whole). ``when`` must hold and ``unless`` must not.
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional, Union

from ._path import PathError, normalize
from .headers import is_managed_header
from .message import Request

_TCHAR = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_STANDARD_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")


class ScopeError(ValueError):
    """A rule the host would refuse; ``at`` names the field (``when.path.glob[1]``)."""

    def __init__(self, at: str, reason: str) -> None:
        super().__init__(f"{at}: {reason}")
        self.at = at
        self.reason = reason


def _lower(s: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in s)


def host_of(authority: str) -> str:
    """The host of an authority: without a port and one trailing dot, case kept."""
    if authority.startswith("["):
        end = authority.find("]")
        host = authority if end < 0 else authority[: end + 1]
    else:
        host = authority.rsplit(":", 1)[0] if ":" in authority else authority
    return host[:-1] if host.endswith(".") else host


def _host_pattern(value: str, at: str) -> tuple[Optional[str], Optional[str]]:
    folded = _lower(value)
    if folded.endswith("."):
        folded = folded[:-1]
    wildcard = folded.startswith("*.")
    name = folded[2:] if wildcard else folded
    if name.startswith("["):
        literal = name[1:-1] if name.endswith("]") else None
        if (
            wildcard
            or literal is None
            or ":" not in literal
            or not re.fullmatch(r"[0-9a-fA-F:.]*", literal)
        ):
            raise ScopeError(at, f"`{value}` is not an IPv6 literal such as `[::1]`")
        return name, None
    if ":" in name:
        raise ScopeError(at, f"`{value}` has a port; rules ignore ports, so write the host alone")
    if "*" in name:
        raise ScopeError(
            at, f"`{value}`: `*` may only be a whole first label, as in `*.example.com`"
        )
    if not name or not all(re.fullmatch(r"[A-Za-z0-9_-]+", label) for label in name.split(".")):
        raise ScopeError(at, f"`{value}` is not a host name")
    return (None, "." + name) if wildcard else (name, None)


def _path_pattern(kind: str, value: str, at: str) -> None:
    def never(why: str) -> ScopeError:
        return ScopeError(at, f"`{value}` can never match a normalised path: {why}")

    if not value.startswith("/"):
        raise never("it does not start with `/`")
    if "#" in value:
        raise never("a path holds no `#`")
    if kind != "glob" and "?" in value:
        raise never("a path holds no `?` (the query is not part of it)")
    if kind == "glob":
        for segment in value[1:].split("/"):
            if "**" in segment and segment != "**":
                raise ScopeError(at, f"`{value}`: `**` must be a whole segment, as in `/a/**/b`")
    try:
        normal = normalize(value)
    except PathError as e:
        raise never(str(e)) from None
    if normal != value:
        raise never(f"paths are matched normalised, so write `{normal}`")


def _method(value: str, at: str) -> None:
    if not _TCHAR.match(value):
        raise ScopeError(at, f"`{value}` is not a method (an HTTP token)")
    for m in _STANDARD_METHODS:
        if m == value.upper() and m != value:
            raise ScopeError(at, f"`{value}`: methods are case-sensitive; write `{m}`")


def _header_name(value: str, at: str) -> str:
    if not _TCHAR.match(value):
        raise ScopeError(at, f"`{value}` is not a header name (an HTTP token)")
    lower = _lower(value)
    if is_managed_header(lower):
        hint = "; use `host`" if lower == "host" else ""
        raise ScopeError(at, f"`{value}` is managed by the host and never seen by links{hint}")
    return lower


def _header_value(value: str, at: str) -> bytes:
    if re.search(r"[\x00-\x08\x0a-\x1f\x7f]", value):
        raise ScopeError(at, f"{json.dumps(value)} holds a control character")
    if value[:1] in (" ", "\t") or value[-1:] in (" ", "\t"):
        raise ScopeError(
            at, f"{json.dumps(value)} can never match: fields are read without surrounding whitespace"
        )
    return value.encode("utf-8")


def _strings(value: Any, at: str) -> list[str]:
    """A string or a non-empty list of strings."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        if not value:
            raise ScopeError(
                at, "is an empty list, which nothing matches; leave the condition out instead"
            )
        for i, v in enumerate(value):
            if not isinstance(v, str):
                raise ScopeError(f"{at}[{i}]", "must be a string")
        return list(value)
    raise ScopeError(at, "must be a string or a list of strings")


def _indexed(at: str, i: int, value: Any) -> str:
    return f"{at}[{i}]" if isinstance(value, list) else at


class _Conditions:
    def __init__(self, value: Any, at: str) -> None:
        if not isinstance(value, dict):
            raise ScopeError(at, "must be an object of conditions (host, path, method, header)")
        if not value:
            raise ScopeError(
                at, "has no conditions; leave it out to run the link on every request"
            )
        self.hosts: list[tuple[Optional[str], Optional[str]]] = []
        self.paths: list[tuple[str, Any]] = []
        self.methods: list[str] = []
        self.headers: list[tuple[str, Optional[list[bytes]]]] = []
        # The host reads objects with their keys sorted: the first error it
        # reports is the first key in that order.
        for key in sorted(value):
            here = f"{at}.{key}"
            v = value[key]
            if key == "host":
                for i, s in enumerate(_strings(v, here)):
                    self.hosts.append(_host_pattern(s, _indexed(here, i, v)))
            elif key == "method":
                for i, s in enumerate(_strings(v, here)):
                    _method(s, _indexed(here, i, v))
                    self.methods.append(s)
            elif key == "path":
                if not isinstance(v, dict):
                    raise ScopeError(here, "must be an object with `exact`, `prefix` or `glob`")
                if not v:
                    raise ScopeError(here, "is empty: give `exact`, `prefix` or `glob`")
                for kind in sorted(v):
                    if kind not in ("exact", "prefix", "glob"):
                        raise ScopeError(
                            here, f"unknown key `{kind}`; expected exact, prefix or glob"
                        )
                    at_kind = f"{here}.{kind}"
                    for i, s in enumerate(_strings(v[kind], at_kind)):
                        _path_pattern(kind, s, _indexed(at_kind, i, v[kind]))
                        self.paths.append(
                            (kind, s[1:].split("/") if kind == "glob" else s)
                        )
            elif key == "header":
                if not isinstance(v, dict):
                    raise ScopeError(
                        here, "must be an object of header names, each `true` (present) or values"
                    )
                if not v:
                    raise ScopeError(here, "is empty: name at least one header")
                for name in sorted(v):
                    at_name = f"{here}.{name}"
                    want = v[name]
                    if want is False:
                        raise ScopeError(
                            at_name,
                            "`false` is not a condition; put the header under `unless` to skip requests that carry it",
                        )
                    values: Optional[list[bytes]] = None
                    if want is not True:
                        try:
                            listed = _strings(want, at_name)
                        except ScopeError:
                            raise ScopeError(
                                at_name, "must be `true` (present), a value or a list of values"
                            ) from None
                        values = [
                            _header_value(s, _indexed(at_name, i, want))
                            for i, s in enumerate(listed)
                        ]
                    self.headers.append((_header_name(name, at_name), values))
            else:
                raise ScopeError(
                    at, f"unknown key `{key}`; expected host, path, method or header"
                )

    def hold(self, method: str, host: str, path: str, req: Request) -> bool:
        host = _lower(host)
        if self.methods and method not in self.methods:
            return False
        if self.hosts and not any(
            host == exact if exact is not None else len(host) > len(suffix) and host.endswith(suffix)
            for exact, suffix in self.hosts
        ):
            return False
        if self.paths and not any(_path_matches(kind, p, path) for kind, p in self.paths):
            return False
        for name, values in self.headers:
            fields = req.headers.get_all_bytes(name)
            if values is None and not fields:
                return False
            if values is not None and not any(f in values for f in fields):
                return False
        return True


def _path_matches(kind: str, pattern: Any, path: str) -> bool:
    if kind == "exact":
        return path == pattern
    if kind == "prefix":
        if not path.startswith(pattern):
            return False
        rest = path[len(pattern):]
        return rest == "" or pattern.endswith("/") or rest.startswith("/")
    return _glob_matches(pattern, path)


def _wildcard(p: str, s: str) -> bool:
    """``*`` and ``?`` within one segment."""
    i = j = 0
    star, mark = -1, 0
    while j < len(s):
        if i < len(p) and (p[i] == "?" or p[i] == s[j]):
            i += 1
            j += 1
        elif i < len(p) and p[i] == "*":
            star, mark = i, j
            i += 1
        elif star >= 0:
            i = star + 1
            mark += 1
            j = mark
        else:
            return False
    while i < len(p) and p[i] == "*":
        i += 1
    return i == len(p)


def _glob_matches(pattern: list[str], path: str) -> bool:
    """Segment-level matching; ``**`` backtracks one segment at a time from the
    last one met."""
    if not path.startswith("/"):
        return False
    segments = path[1:].split("/")
    pi = si = 0
    deep: Optional[list[int]] = None
    while True:
        p = pattern[pi] if pi < len(pattern) else None
        if p is None and si == len(segments):
            return True
        if p == "**":
            deep = [pi, si]
            pi += 1
            continue
        if p is not None and si < len(segments) and _wildcard(p, segments[si]):
            pi += 1
            si += 1
            continue
        if deep is None or deep[1] >= len(segments):
            return False
        deep[1] += 1
        pi, si = deep[0] + 1, deep[1]


class Scope:
    """Where one link applies, read from its manifest entry (a dict, or its
    JSON text): its ``when`` and ``unless``. Raises :class:`ScopeError` for a
    rule the host would refuse."""

    def __init__(self, entry: Union[str, dict, None] = None) -> None:
        e = json.loads(entry) if isinstance(entry, str) else (entry or {})
        self._when = _Conditions(e["when"], "when") if "when" in e else None
        self._unless = _Conditions(e["unless"], "unless") if "unless" in e else None

    def reaches(self, req: Request) -> bool:
        """Whether ``req`` (its method, authority, normalised path and
        headers) would reach the link."""
        facts = (req.method, host_of(req.authority), req.path, req)
        return (self._when is None or self._when.hold(*facts)) and not (
            self._unless is not None and self._unless.hold(*facts)
        )
