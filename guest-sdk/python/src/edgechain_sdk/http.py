"""Outbound HTTP calls (the WIT ``http`` interface).

A plugin may call only the authorities its manifest entry grants
(``"grants": {"http": ["auth.internal:8080"]}``); anything else raises
:class:`HttpError` with kind ``denied`` before any connection is attempted.
Plain HTTP/1.1, whole bodies; the wait counts against the hook's
``timeout_ms``.
"""

from __future__ import annotations

import json as _json
from typing import Any, Optional, Union

from . import _sys
from .errors import HttpError
from .headers import Headers, HeadersLike

__all__ = ["send", "get", "post", "HttpResponse", "HttpError"]


class HttpResponse:
    """A response, read whole."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> Optional[str]:
        """The first value of header ``name`` as text."""
        return self.headers.get(name)

    def text(self, encoding: str = "utf-8") -> str:
        """The body decoded (invalid bytes replaced)."""
        return self.body.decode(encoding, "replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return _json.loads(self.body)

    def __repr__(self) -> str:
        return f"HttpResponse({self.status}, headers={self.headers!r}, body={self.body!r})"


def send(
    method: str,
    url: str,
    *,
    headers: HeadersLike = None,
    body: Union[bytes, str, None] = None,
    timeout_ms: Optional[int] = None,
) -> HttpResponse:
    """Send a request to an absolute ``http://`` URL and wait for the whole
    response. Raises :class:`HttpError` (``kind``: denied, invalid, connect,
    timeout, too-large, protocol)."""
    if _sys.BUILDING:
        _sys.refuse("http.send")
    h = headers if isinstance(headers, Headers) else Headers(headers)
    if isinstance(body, str):
        body = body.encode("utf-8")
    status, block, data = _sys.host().http_send(method, url, h.to_packed(), body, timeout_ms)
    return HttpResponse(status, Headers.from_packed(block), data)


def get(url: str, **kw: Any) -> HttpResponse:
    """``send("GET", url, ...)``."""
    return send("GET", url, **kw)


def post(url: str, body: Union[bytes, str, None] = None, **kw: Any) -> HttpResponse:
    """``send("POST", url, body=body, ...)``."""
    return send("POST", url, body=body, **kw)
