"""Unit-test a plugin under plain CPython, with a fake host.

A test process has no host to import from, so this module stands in for it:
:class:`Harness` builds your plugin from a JSON config exactly as the host's
``init`` does (same parsing, same error text), runs its hooks, and backs
:mod:`~edgechain_sdk.kv`, :mod:`~edgechain_sdk.log`,
:mod:`~edgechain_sdk.context`, :mod:`~edgechain_sdk.http` and
:mod:`~edgechain_sdk.cache` with an in-memory :class:`FakeHost` you can set
up and inspect. Cache calls are checked with the host's phase rules and
limits and recorded per request (:meth:`Harness.cache`), so a test can
assert that the plugin bypassed the cache, added a key part or set a TTL. Each harness installs
a fresh fake host (per thread), so tests stay independent. It also checks
every decision against the host's rules (:class:`InvalidDecision`), so a
header the host would refuse fails the test instead of the link in production.

::

    from edgechain_sdk import Request
    from edgechain_sdk.testing import Harness

    def test_admin_is_blocked():
        h = Harness(MyPlugin, {"prefixes": ["/admin"]})
        resp = h.run(Request.get("/%61dmin/users"))
        assert resp.status == 403

This exercises your Python code, not the component: build it and load it
with ``edgechain validate`` / ``edgechain demo`` for that (the README shows
how).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Union

from . import _path, _runtime, _sys, _wire
from . import cache as _cache_rules
from .errors import CacheError, ConfigError, HttpError, InvalidDecision, KvError
from .headers import Headers, HeadersLike, is_managed_header
from .log import Level
from .message import Request, Response, _body, decide
from .plugin import Needs, Plugin
from .scope import Scope, ScopeError

__all__ = ["Harness", "FakeHost", "FakeHttp", "SentRequest", "InvalidDecision", "CacheRecord", "Scope", "ScopeError"]

_I64 = (-(2**63), 2**63 - 1)


@dataclass
class _Entry:
    value: bytes
    expires_ms: Optional[int]


@dataclass
class SentRequest:
    """An outbound request the plugin sent through :mod:`edgechain_sdk.http`."""

    method: str
    url: str
    headers: Headers
    body: Optional[bytes]
    timeout_ms: Optional[int]


_Canned = Union[Response, HttpError, Callable[[SentRequest], Union[Response, HttpError]]]


class FakeHttp:
    """Canned responses for outbound calls. Like the real host without
    ``grants``, a URL with nothing canned is ``denied``."""

    def __init__(self) -> None:
        self.sent: list[SentRequest] = []
        self._routes: list[tuple[Optional[str], str, _Canned]] = []

    def add(self, url: str, answer: _Canned, method: Optional[str] = None) -> None:
        """Answer requests to ``url`` (exact, or a prefix when it ends with
        ``*``) with ``answer``: a :class:`Response`, an :class:`HttpError` to
        raise, or a function of the :class:`SentRequest` returning either."""
        self._routes.append((method, url, answer))

    def respond(
        self,
        url: str,
        status: int = 200,
        body: Union[bytes, str] = b"",
        headers: HeadersLike = None,
        method: Optional[str] = None,
    ) -> None:
        """Shorthand for :meth:`add` with a response."""
        self.add(url, Response(status, headers, body), method)

    def fail(self, url: str, kind: str, message: str = "", method: Optional[str] = None) -> None:
        """Make requests to ``url`` fail with ``HttpError(kind, message)``."""
        if kind not in HttpError.KINDS:
            raise ValueError(f"kind must be one of {HttpError.KINDS}")
        self.add(url, HttpError(kind, message), method)

    def _send(self, req: SentRequest) -> tuple[int, bytes, bytes]:
        self.sent.append(req)
        if not req.url.startswith("http://"):
            raise HttpError("denied", f"`{req.url}` is not an absolute http:// URL")
        for method, url, answer in reversed(self._routes):
            if method is not None and method.upper() != req.method.upper():
                continue
            if url == req.url or (url.endswith("*") and req.url.startswith(url[:-1])):
                if callable(answer) and not isinstance(answer, (Response, HttpError)):
                    answer = answer(req)
                if isinstance(answer, HttpError):
                    raise HttpError(answer.kind, answer.message)
                return answer.status, answer.headers.to_packed(), answer.body or b""
        authority = req.url[len("http://") :].split("/", 1)[0]
        raise HttpError("denied", f"`{authority}` is not granted to this link")


@dataclass
class CacheRecord:
    """What a plugin asked of the cache for one request, as the host records
    it."""

    #: Key parts, in call order.
    key_parts: list[str] = field(default_factory=list)
    #: Whether the plugin called ``cache.bypass()``.
    bypass: bool = False
    #: The latest ``cache.set_ttl()``, in whole seconds.
    ttl: Optional[int] = None
    #: Distinct surrogate keys, in the order first added.
    surrogate_keys: list[str] = field(default_factory=list)


class FakeHost:
    """The in-memory host behind a :class:`Harness` (or behind plain calls
    to the SDK in a test without one)."""

    def __init__(self, config: str = "null") -> None:
        self.config_text = config
        self.link_name = "test"
        self.client_ip: Optional[str] = None
        self.logs: list[tuple[Level, str]] = []
        self.kv: dict[str, _Entry] = {}
        self.now_ms = 0
        self.http = FakeHttp()
        self.kv_value_limit = 1 << 20
        #: The hook running: ``outside``, ``request`` or ``response``.
        self.phase = "outside"
        #: The cache calls of the current request.
        self.cache = CacheRecord()

    # -- the Backend protocol --------------------------------------------

    def log(self, level: int, message: str) -> None:
        self.logs.append((Level(level), message))

    def config(self) -> str:
        return self.config_text

    def name(self) -> str:
        return self.link_name

    def client_ip_text(self) -> str:
        return self.client_ip or ""

    def _live(self, key: str) -> Optional[_Entry]:
        e = self.kv.get(key)
        if e is not None and e.expires_ms is not None and e.expires_ms <= self.now_ms:
            del self.kv[key]
            return None
        return e

    def _expiry(self, ttl_ms: Optional[int]) -> Optional[int]:
        return None if ttl_ms is None else self.now_ms + ttl_ms

    def kv_get(self, key: str) -> Optional[bytes]:
        e = self._live(key)
        return None if e is None else e.value

    def kv_set(self, key: str, value: bytes, ttl_ms: Optional[int]) -> None:
        if len(value) > self.kv_value_limit:
            raise KvError(f"value of `{key}` is over the size limit")
        self.kv[key] = _Entry(bytes(value), self._expiry(ttl_ms))

    def kv_increment(self, key: str, delta: int, ttl_ms: Optional[int]) -> int:
        e = self._live(key)
        if e is None:
            old, expires = 0, self._expiry(ttl_ms)
        else:
            try:
                old = int(e.value.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                raise KvError(f"value of `{key}` is not an integer") from None
            expires = e.expires_ms
        new = old + delta
        if not _I64[0] <= new <= _I64[1]:
            raise KvError(f"incrementing `{key}` overflows")
        self.kv[key] = _Entry(str(new).encode(), expires)
        return new

    def kv_delete(self, key: str) -> bool:
        if self._live(key) is None:
            return False
        del self.kv[key]
        return True

    def http_send(self, method, url, headers, body, timeout_ms):
        return self.http._send(
            SentRequest(method, url, Headers.from_packed(headers), body, timeout_ms)
        )

    def _cache_call(self, call: str, record: Callable[[CacheRecord], Any]) -> None:
        """Check the phase, then let ``record`` record (returning a refusal
        or ``None``), as the host does."""
        refused = _cache_rules.check_phase(call, self.phase) or record(self.cache)
        if refused:
            code, reason = refused
            if code == "wrong-phase":
                raise CacheError("wrong-phase")
            raise CacheError("invalid", reason)

    def cache_add_key(self, part: str) -> None:
        def record(c: CacheRecord) -> Any:
            limit = _cache_rules.LIMITS["max_key_parts"]
            if len(c.key_parts) >= limit:
                return ("too-many", f"a request may have at most {limit} key parts")
            bad = _cache_rules.check_key_part(part)
            if not bad:
                c.key_parts.append(part)
            return bad

        self._cache_call("add-key", record)

    def cache_bypass(self) -> None:
        self._cache_call("bypass", lambda c: setattr(c, "bypass", True))

    def cache_set_ttl(self, seconds: int) -> None:
        def record(c: CacheRecord) -> Any:
            bad = _cache_rules.check_ttl(seconds)
            if not bad:
                c.ttl = seconds
            return bad

        self._cache_call("set-ttl", record)

    def cache_add_surrogate_keys(self, keys: list[str]) -> None:
        def record(c: CacheRecord) -> Any:
            for k in keys:
                bad = _cache_rules.check_surrogate_key(k)
                if bad:
                    return bad
            new = [k for k in dict.fromkeys(keys) if k not in c.surrogate_keys]
            total = len(c.surrogate_keys) + len(new)
            limit = _cache_rules.LIMITS["max_surrogate_keys"]
            if total > limit:
                return ("too-many", f"a request may have at most {limit} surrogate keys, not {total}")
            c.surrogate_keys.extend(new)
            return None

        self._cache_call("add-surrogate-keys", record)


# The Backend protocol names `client_ip()` as a method; FakeHost keeps the
# settable attribute `client_ip`, so bind the method under the protocol's name
# on a per-thread proxy instead.
class _Current(threading.local):
    host: Optional[FakeHost] = None


_current = _Current()


class _Proxy:
    """The object installed as the SDK's backend: forwards to this thread's
    current fake host."""

    def _h(self) -> FakeHost:
        h = _current.host
        if h is None:
            h = _current.host = FakeHost()
        return h

    def log(self, level: int, message: str) -> None:
        self._h().log(level, message)

    def config(self) -> str:
        return self._h().config()

    def name(self) -> str:
        return self._h().name()

    def client_ip(self) -> str:
        return self._h().client_ip_text()

    def kv_get(self, key):
        return self._h().kv_get(key)

    def kv_set(self, key, value, ttl_ms):
        return self._h().kv_set(key, value, ttl_ms)

    def kv_increment(self, key, delta, ttl_ms):
        return self._h().kv_increment(key, delta, ttl_ms)

    def kv_delete(self, key):
        return self._h().kv_delete(key)

    def http_send(self, method, url, headers, body, timeout_ms):
        return self._h().http_send(method, url, headers, body, timeout_ms)

    def cache_add_key(self, part):
        return self._h().cache_add_key(part)

    def cache_bypass(self):
        return self._h().cache_bypass()

    def cache_set_ttl(self, seconds):
        return self._h().cache_set_ttl(seconds)

    def cache_add_surrogate_keys(self, keys):
        return self._h().cache_add_surrogate_keys(keys)


if not _sys.IN_WASM:
    _sys.HOST = _Proxy()


def current_host() -> FakeHost:
    """This thread's fake host (the latest harness's)."""
    return _sys.HOST._h()  # type: ignore[union-attr]


# -- the host's rules for what a plugin returns ---------------------------------

# Matched whole (``fullmatch``): ``$`` alone would pass a trailing newline.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-zA-Z]+")
_METHOD = _TOKEN


def check_headers(block: bytes) -> None:
    """Raise :class:`InvalidDecision` for a block the host would refuse."""
    try:
        fields = _wire.decode(block)
    except _wire.MalformedBlock as e:
        raise InvalidDecision(f"invalid header block: {e}") from None
    for name, value in fields:
        if not _TOKEN.fullmatch(name):
            raise InvalidDecision(f"invalid header name {name!r}")
        if is_managed_header(name.decode()):
            raise InvalidDecision(
                f"header `{name.decode()}` is managed by the host (plugins may not set it)"
            )
        if any((b < 0x20 and b != 0x09) or b == 0x7F for b in value):
            raise InvalidDecision(f"invalid value for header `{name.decode()}`")


def _check_target(target: str) -> None:
    """The host's URI rules for a target (as ``edgechain_wire::decision``;
    ``tests/test_wire_vectors.py`` holds them to ``wire/vectors.json``)."""
    sent = target.split("#", 1)[0]
    if not sent.startswith("/"):
        raise InvalidDecision(f"invalid path {target!r}: must be origin-form, starting with `/`")
    path, _, query = sent.partition("?")
    def control(c: str) -> bool:
        # ASCII only: other characters must be percent-encoded.
        return ord(c) <= 0x20 or ord(c) >= 0x7F
    if any(control(c) or c in "<>`" for c in path) or any(control(c) or c in '"<>' for c in query):
        raise InvalidDecision(f"invalid path {target!r}: characters that must be percent-encoded")
    if _path.has_escaped_slash(path):
        raise InvalidDecision(
            f"invalid path {target!r}: an encoded `/` (%2F) is refused by the host's"
            " default (--escaped-slashes reject); write `/` for a separator"
        )
    try:
        _path.normalize(path)
    except _path.PathError as e:
        raise InvalidDecision(f"invalid path {target!r}: {e}") from None


def _authority_ok(authority: str) -> bool:
    """A URI authority without userinfo (as ``edgechain_wire::decision``)."""
    colons, percent, opened, closed = 0, False, False, False
    for c in authority:
        if c == "%":
            percent = True
        elif c == ":":
            colons += 1
        elif c == "[":
            if percent or opened:
                return False
            opened = True
        elif c == "]":
            if not opened or closed:
                return False
            closed, colons, percent = True, 0, False
        elif not (c.isascii() and (c.isalnum() or c in "!$&'()*+,-.;=_~")):
            return False
    if opened != closed or colons > 1 or percent:
        return False
    # A port, as for a client's `Host`: digits of a number that fits 16 bits.
    after_host = authority.rsplit("]", 1)[-1]
    if ":" in after_host:
        port = after_host.split(":", 1)[1]
        return port.isascii() and port.isdigit() and int(port) <= 65535
    return True


def check_request(req: Request) -> None:
    """Raise :class:`InvalidDecision` for a request the host would refuse."""
    if not _METHOD.fullmatch(req.method.encode("utf-8", "replace")):
        raise InvalidDecision(f"invalid method {req.method!r}")
    if req.method in ("CONNECT", "TRACE"):
        raise InvalidDecision(f"method `{req.method}` is never forwarded")
    target = req.path_with_query
    _check_target(target)
    # An empty authority keeps the request's `Host`, as in the host.
    if req.authority and not _authority_ok(req.authority):
        raise InvalidDecision(f"invalid authority {req.authority!r}")
    check_headers(req.headers.to_packed())
    try:
        _body(req.body)
    except TypeError as e:
        raise InvalidDecision(str(e)) from None


def check_response(resp: Response, given_status: Optional[int] = None) -> None:
    """Raise :class:`InvalidDecision` for a response the host would refuse.
    A rewritten response that keeps ``given_status`` (the next hop's, a 101
    included) has only its headers checked."""
    kept = given_status is not None and resp.status == given_status
    if not kept and (not isinstance(resp.status, int) or not 200 <= resp.status <= 599):
        raise InvalidDecision(f"status {resp.status!r} is outside 200..=599")
    check_headers(resp.headers.to_packed())
    try:
        _body(resp.body)
    except TypeError as e:
        raise InvalidDecision(str(e)) from None


# -- the harness ------------------------------------------------------------------


class Harness:
    """One plugin object plus the fake host it talks to.

    ``config`` is the manifest's ``config``: a Python value (serialised to
    JSON) or, with ``config_json``, the JSON text itself. A rejected config
    raises :class:`ConfigError` with the message the operator would see.
    """

    def __init__(
        self,
        plugin_class: type,
        config: Any = None,
        *,
        config_json: Optional[str] = None,
        check: bool = True,
    ) -> None:
        if not (isinstance(plugin_class, type) and issubclass(plugin_class, Plugin)):
            raise TypeError("Harness() takes a Plugin subclass")
        text = config_json if config_json is not None else json.dumps(config)
        self.host = FakeHost(text)
        _current.host = self.host
        self.plugin_class = plugin_class
        self.check = check
        self.plugin: Plugin = _runtime.build(plugin_class, text)
        self._needs = Needs(int(self.plugin.needs()))
        self._scope: Optional[Scope] = None

    def set_scope(self, entry: Union[str, dict]) -> None:
        """Scope the link as manifest entry ``entry`` does (its ``when`` and
        ``unless``; a dict or JSON text), for :meth:`reaches`. Raises
        :class:`~edgechain_sdk.scope.ScopeError` for a rule the host would
        refuse."""
        self._scope = Scope(entry)

    def reaches(self, req: Request) -> bool:
        """Whether ``req`` would reach this link under its scope (every
        request does when none was set). The hooks run whatever this says."""
        return self._scope is None or self._scope.reaches(req)

    # -- what the host calls ---------------------------------------------------

    def _activate(self) -> None:
        _current.host = self.host

    @contextlib.contextmanager
    def _phase(self, phase: str) -> Iterator[None]:
        """Run a hook: what cache calls may ask depends on it."""
        self.host.phase = phase
        try:
            yield
        finally:
            self.host.phase = "outside"

    def cache(self) -> CacheRecord:
        """What the plugin asked of the cache for the current request: since
        the last :meth:`on_request` (or :meth:`run`), through the
        :meth:`on_response` that follows. Refused calls are not in it (the
        plugin got the :class:`~edgechain_sdk.CacheError`)."""
        c = self.host.cache
        return CacheRecord(list(c.key_parts), c.bypass, c.ttl, list(c.surrogate_keys))

    @property
    def needs(self) -> Needs:
        """What the plugin declared it needs, as ``init`` reports it."""
        return self._needs

    def on_request(self, req: Request) -> Optional[Response]:
        """Run ``on_request`` on ``req`` (rewritten in place). Returns the
        answer if the plugin answered at the edge, ``None`` if it passed the
        request on."""
        self._activate()
        self.host.cache = CacheRecord()
        with self._phase("request"):
            answer = decide(self.plugin.on_request(req))
        if self.check:
            if answer is None:
                check_request(req)
            else:
                check_response(answer)
        return answer

    def on_response(self, req: Request, resp: Response) -> Response:
        """Run ``on_response`` for ``req`` on ``resp`` and return the result."""
        self._activate()
        given = resp.status
        with self._phase("response"):
            out = self.plugin.on_response(req, resp)
        if out is not None:
            resp = out
        if self.check:
            check_response(resp, given)
        return resp

    def run(self, req: Request, upstream: Optional[Response] = None) -> Response:
        """One request through the link as the host runs it: ``on_request``;
        if it passed the request on, ``upstream`` (default: an empty 200)
        stands for the next hop's response, and ``on_response`` runs when the
        plugin declared the response phase. Returns what the client gets. A
        body the plugin did not ask for is hidden from it, as the host does."""
        if not self._needs & Needs.REQUEST_BODY:
            req.body = None
        answer = self.on_request(req)
        if answer is not None:
            return answer
        resp = upstream if upstream is not None else Response(200)
        if not self._needs & (Needs.RESPONSE_PHASE | Needs.RESPONSE_BODY):
            return resp
        hidden = None
        if not self._needs & Needs.RESPONSE_BODY and resp.body is not None:
            hidden, resp.body = resp.body, None
        out = self.on_response(req, resp)
        if hidden is not None and out.body is None:
            out.body = hidden
        return out

    def fresh_instance(self) -> None:
        """Replace the plugin with a new object built from the same config, as
        a fresh per-request instance would be. The kv store is kept: it
        belongs to the host, not to the instance."""
        self._activate()
        self.plugin = _runtime.build(self.plugin_class, self.host.config_text)

    # -- the fake host -----------------------------------------------------------

    def set_client_ip(self, ip: Optional[str]) -> None:
        """Make ``context.client_ip()`` return ``ip`` from now on."""
        self.host.client_ip = ip

    def set_link_name(self, name: str) -> None:
        """Make ``context.link_name()`` return ``name`` (default ``test``)."""
        self.host.link_name = name

    def advance_clock(self, seconds: float) -> None:
        """Move the fake store's clock forward, expiring entries whose TTL passed."""
        self.host.now_ms += int(round(seconds * 1000))

    @property
    def logs(self) -> list[tuple[Level, str]]:
        """Every message the plugin logged so far, oldest first."""
        return list(self.host.logs)

    @property
    def http(self) -> FakeHttp:
        """The fake outbound HTTP: can responses, inspect ``sent``."""
        return self.host.http

    def kv_get(self, key: str) -> Optional[bytes]:
        """The value stored under ``key``, if present and not expired."""
        return self.host.kv_get(key)

    def kv_set(self, key: str, value: Union[bytes, str], ttl: Optional[float] = None) -> None:
        """Preload the store."""
        if isinstance(value, str):
            value = value.encode()
        self.host.kv_set(key, value, None if ttl is None else int(round(ttl * 1000)))


def run_warmup(plugin_class: type) -> None:
    """Run ``plugin_class.warmup()`` as the build does: with host functions
    refused (:class:`~edgechain_sdk.HostCallDuringBuild`)."""
    saved = _sys.BUILDING
    _sys.BUILDING = True
    try:
        plugin_class.warmup()
    finally:
        _sys.BUILDING = saved
