"""The request and response types a plugin sees, and what ``on_request`` returns."""

from __future__ import annotations

import json as _json
from typing import Any, Optional, Union

from ._path import normalize_or_raw, path_of, percent_decode
from .headers import Headers, HeadersLike, HeaderValue

Body = Union[bytes, str, None]


def _body(value: Body) -> Optional[bytes]:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"a body must be bytes, str or None, not {type(value).__name__}")


class _Message:
    """What requests and responses share: headers and a body."""

    __slots__ = ()
    headers: Headers
    body: Optional[bytes]

    def header(self, name: str) -> Optional[str]:
        """The first value of header ``name`` as text (``None`` if absent or
        not valid UTF-8)."""
        return self.headers.get(name)

    def set_header(self, name: str, value: HeaderValue) -> None:
        """Replace every value of header ``name``."""
        self.headers.set(name, value)

    def append_header(self, name: str, value: HeaderValue) -> None:
        """Add a value to header ``name``."""
        self.headers.append(name, value)

    def remove_header(self, name: str) -> int:
        """Remove header ``name``; returns how many values were removed."""
        return self.headers.remove(name)

    def body_text(self, encoding: str = "utf-8", errors: str = "replace") -> Optional[str]:
        """The body decoded as text, or ``None`` when there is no body (in a
        hook: when the plugin did not declare the body need)."""
        return None if self.body is None else self.body.decode(encoding, errors)

    def body_json(self) -> Any:
        """The body parsed as JSON (``None`` without a body); raises
        ``ValueError`` for invalid JSON."""
        return None if self.body is None else _json.loads(self.body)

    def set_body(self, body: Body, content_type: Optional[str] = None) -> None:
        """Replace the body (``str`` is encoded as UTF-8); optionally set
        ``content-type``. The host recomputes ``content-length``."""
        self.body = _body(body)
        if content_type is not None:
            self.headers.set("content-type", content_type)

    def set_json(self, value: Any) -> None:
        """Replace the body with ``value`` as JSON and set ``content-type``."""
        self.set_body(_json.dumps(value, separators=(",", ":")), "application/json")


class Request(_Message):
    """A request on its way to the next hop.

    ``method``, ``authority`` (the ``Host``), ``headers`` and ``body`` are
    plain attributes. The target goes through :attr:`path_with_query` and the
    setters so that :attr:`path` (the normalised path) always describes it.
    ``body`` is ``None`` unless the plugin declared ``Needs.REQUEST_BODY`` (or
    an earlier link replaced it); set it to replace the body, leave ``None`` to
    let the original stream through.
    """

    __slots__ = ("method", "authority", "headers", "body", "_target", "_path", "_raw")

    def __init__(
        self,
        method: str = "GET",
        path_with_query: str = "/",
        *,
        authority: str = "localhost",
        headers: HeadersLike = None,
        body: Body = None,
    ) -> None:
        self.method = method
        self.authority = authority
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body = _body(body)
        self._target = path_with_query
        self._path = normalize_or_raw(path_with_query)
        self._raw: Any = None

    @classmethod
    def get(cls, path_with_query: str = "/", **kw: Any) -> "Request":
        """A ``GET`` (see the constructor for the keywords)."""
        return cls("GET", path_with_query, **kw)

    @classmethod
    def post(cls, path_with_query: str = "/", body: Body = None, **kw: Any) -> "Request":
        """A ``POST`` with ``body``."""
        return cls("POST", path_with_query, body=body, **kw)

    # Builders, for tests.
    def with_header(self, name: str, value: HeaderValue) -> "Request":
        """Builder: add a header value."""
        self.headers.append(name, value)
        return self

    def with_authority(self, authority: str) -> "Request":
        """Builder: set the authority (``Host``)."""
        self.authority = authority
        return self

    def with_body(self, body: Body) -> "Request":
        """Builder: set the body."""
        self.body = _body(body)
        return self

    @property
    def path(self) -> str:
        """The path without the query, **normalised** (``/%61dmin``,
        ``//admin`` and ``/x/../admin`` are all ``/admin``): match path rules
        against this. The host computes it (``request.normalized-path``) and
        refuses targets that cannot be normalised before any plugin sees them."""
        return self._path

    @property
    def raw_path(self) -> str:
        """The path as the client sent it (not normalised), without the query."""
        return path_of(self._target)

    @property
    def path_with_query(self) -> str:
        """Path plus optional ``?query``, as sent (raw); what the next hop gets.
        Assigning replaces the whole target."""
        return self._target

    @path_with_query.setter
    def path_with_query(self, value: str) -> None:
        self._target = value
        self._path = normalize_or_raw(value)

    def set_path_with_query(self, value: str) -> None:
        """Replace the whole target (path and query) sent to the next hop."""
        self.path_with_query = value

    def set_path(self, path: str) -> None:
        """Replace the path, keeping the query string."""
        q = self.query
        self.path_with_query = path if q is None else f"{path}?{q}"

    @property
    def query(self) -> Optional[str]:
        """The raw query string (without ``?``), or ``None``."""
        i = self._target.find("?")
        return None if i < 0 else self._target[i + 1 :]

    def query_param(self, name: str) -> Optional[str]:
        """The first value of query parameter ``name``, percent-decoded
        (``+`` is a space); ``""`` for a bare ``?name``; ``None`` if absent."""
        q = self.query
        if q is None:
            return None
        for pair in q.split("&"):
            k, _, v = pair.partition("=")
            if percent_decode(k) == name:
                return percent_decode(v)
        return None

    def query_params(self) -> list[tuple[str, str]]:
        """Every query parameter, decoded, in order."""
        q = self.query
        if not q:
            return []
        out = []
        for pair in q.split("&"):
            k, _, v = pair.partition("=")
            out.append((percent_decode(k), percent_decode(v)))
        return out

    def __repr__(self) -> str:
        return (
            f"Request({self.method} {self._target!r}, authority={self.authority!r}, "
            f"headers={self.headers!r}, body={self.body!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Request):
            return NotImplemented
        return (
            self.method == other.method
            and self._target == other._target
            and self.authority == other.authority
            and self.headers == other.headers
            and self.body == other.body
        )

    # -- the component boundary -------------------------------------------

    @classmethod
    def _from_raw(cls, raw: Any) -> "Request":
        r = cls.__new__(cls)
        r.method = raw.method
        r.authority = raw.authority
        r.headers = Headers.from_packed(raw.headers)
        r.body = raw.body
        r._target = raw.path_with_query
        r._path = raw.normalized_path
        r._raw = raw
        return r

    def _to_raw(self) -> Any:
        """Write back into the record received (new headers bytes only if
        changed). Only for requests made by :meth:`_from_raw`."""
        raw = self._raw
        raw.method = self.method
        raw.authority = self.authority
        raw.headers = self.headers.to_packed()
        raw.body = _body(self.body)
        if raw.path_with_query != self._target:
            raw.path_with_query = self._target
            raw.normalized_path = self._path
        return raw


class Response(_Message):
    """A response: one a plugin answers with, or the next hop's on its way back.

    In ``on_response``, ``body`` is the upstream body only if the plugin
    declared ``Needs.RESPONSE_BODY``; setting it replaces the body, ``None``
    keeps it. In an answer, ``None`` means an empty body.
    """

    __slots__ = ("status", "headers", "body")

    def __init__(
        self, status: int = 200, headers: HeadersLike = None, body: Body = None
    ) -> None:
        self.status = status
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body = _body(body)

    @classmethod
    def text(
        cls, status: int, body: str, content_type: str = "text/plain; charset=utf-8"
    ) -> "Response":
        """A ``text/plain; charset=utf-8`` response."""
        return cls(status, [("content-type", content_type)], body)

    @classmethod
    def json(cls, status: int, value: Any) -> "Response":
        """An ``application/json`` response with ``value`` serialised."""
        return cls(
            status,
            [("content-type", "application/json")],
            _json.dumps(value, separators=(",", ":")),
        )

    @classmethod
    def redirect(cls, status: int, location: str) -> "Response":
        """A redirect to ``location`` (use 301, 302, 307 or 308)."""
        return cls(status, [("location", location)])

    def with_header(self, name: str, value: HeaderValue) -> "Response":
        """Builder: add a header value."""
        self.headers.append(name, value)
        return self

    def with_body(self, body: Body) -> "Response":
        """Builder: set the body."""
        self.body = _body(body)
        return self

    def __repr__(self) -> str:
        return f"Response({self.status}, headers={self.headers!r}, body={self.body!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Response):
            return NotImplemented
        return (
            self.status == other.status
            and self.headers == other.headers
            and self.body == other.body
        )

    @classmethod
    def _from_raw(cls, raw: Any) -> "Response":
        r = cls.__new__(cls)
        r.status = raw.status
        r.headers = Headers.from_packed(raw.headers)
        r.body = raw.body
        return r


class Action:
    """What ``on_request`` decides. Return :data:`NEXT` (or ``None``) to pass
    the request on, :class:`Respond` (or a bare :class:`Response`) to answer."""

    __slots__ = ()


class _Next(Action):
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEXT"


#: Pass the (possibly rewritten) request on to the next link or the next hop.
NEXT: Action = _Next()


class Respond(Action):
    """Answer the client with ``response``; later links and the next hop never
    see the request."""

    __slots__ = ("response",)

    def __init__(self, response: Response) -> None:
        if not isinstance(response, Response):
            raise TypeError("Respond() takes a Response")
        self.response = response

    def __repr__(self) -> str:
        return f"Respond({self.response!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Respond) and self.response == other.response


def decide(result: object) -> Optional[Response]:
    """The answer an ``on_request`` result stands for (``None``: pass on)."""
    if result is None or result is NEXT:
        return None
    if isinstance(result, Respond):
        return result.response
    if isinstance(result, Response):
        return result
    raise TypeError(
        "on_request must return None/NEXT (pass on), a Response or Respond(response);"
        f" got {type(result).__name__}"
    )
