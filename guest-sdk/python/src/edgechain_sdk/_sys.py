"""The host functions the SDK calls: the component's imports in wasm, and the
in-process fake of :mod:`edgechain_sdk.testing` under plain CPython, so
plugins can be unit-tested without a wasm runtime.

Every public SDK function goes through :data:`HOST`, after checking
:data:`BUILDING` (true while the build snapshot imports the plugin module,
when no host exists).
"""

from __future__ import annotations

import sys
from typing import Any, Optional, Protocol

from .errors import CacheError, HostCallDuringBuild, HttpError, KvError

#: True inside the component (componentize-py's CPython reports ``wasi``).
IN_WASM: bool = sys.platform == "wasi"

#: True while the build imports the plugin module for the snapshot.
BUILDING: bool = False


class Backend(Protocol):
    """What the SDK needs from a host (real or fake). Levels are ints 0..4."""

    def log(self, level: int, message: str) -> None: ...
    def config(self) -> str: ...
    def name(self) -> str: ...
    def client_ip(self) -> str: ...
    def kv_get(self, key: str) -> Optional[bytes]: ...
    def kv_set(self, key: str, value: bytes, ttl_ms: Optional[int]) -> None: ...
    def kv_increment(self, key: str, delta: int, ttl_ms: Optional[int]) -> int: ...
    def kv_delete(self, key: str) -> bool: ...
    def http_send(
        self,
        method: str,
        url: str,
        headers: bytes,
        body: Optional[bytes],
        timeout_ms: Optional[int],
    ) -> tuple[int, bytes, bytes]: ...
    def cache_add_key(self, part: str) -> None: ...
    def cache_bypass(self) -> None: ...
    def cache_set_ttl(self, seconds: int) -> None: ...
    def cache_add_surrogate_keys(self, keys: list[str]) -> None: ...


def refuse(what: str) -> None:
    """Raise the build-time error for a host call named ``what``."""
    raise HostCallDuringBuild(
        f"edgechain_sdk: {what}() was called at module top level while the build "
        "imported the plugin (componentize-py runs the top level once at build time "
        "and snapshots the result; there is no host then). Move the call into "
        "Plugin.__init__ or a hook (on_request/on_response)."
    )


if IN_WASM:  # pragma: no cover - exercised in the component only
    from componentize_py_types import Err as _Err
    from wit_world.imports import cache as _cache
    from wit_world.imports import host as _host
    from wit_world.imports import http as _http
    from wit_world.imports import kv as _kv
    from wit_world.imports import types as _types

    _LEVELS = tuple(_types.Level)
    _HTTP_KINDS = {
        _http.Error_Denied: "denied",
        _http.Error_Invalid: "invalid",
        _http.Error_Connect: "connect",
        _http.Error_Timeout: "timeout",
        _http.Error_TooLarge: "too-large",
        _http.Error_Protocol: "protocol",
    }

    class _Wasm:
        """The component's imports."""

        def log(self, level: int, message: str) -> None:
            _host.log(_LEVELS[level], message)

        def config(self) -> str:
            return _host.config()

        def name(self) -> str:
            return _host.name()

        def client_ip(self) -> str:
            return _host.client_ip()

        def kv_get(self, key: str) -> Optional[bytes]:
            return _kv.get(key)

        def kv_set(self, key: str, value: bytes, ttl_ms: Optional[int]) -> None:
            try:
                _kv.set(key, value, ttl_ms)
            except _Err as e:
                raise KvError(str(e.value)) from None

        def kv_increment(self, key: str, delta: int, ttl_ms: Optional[int]) -> int:
            try:
                return _kv.increment(key, delta, ttl_ms)
            except _Err as e:
                raise KvError(str(e.value)) from None

        def kv_delete(self, key: str) -> bool:
            return _kv.delete(key)

        def http_send(self, method, url, headers, body, timeout_ms):
            req = _http.OutgoingRequest(method, url, headers, body, timeout_ms)
            try:
                r = _http.send(req)
            except _Err as e:
                err: Any = e.value
                kind = _HTTP_KINDS.get(type(err), "protocol")
                raise HttpError(kind, str(getattr(err, "value", "") or "")) from None
            return r.status, r.headers, r.body

        @staticmethod
        def _cache_call(f: Any, *args: Any) -> None:
            try:
                f(*args)
            except _Err as e:
                err: Any = e.value
                if isinstance(err, _cache.CacheError_WrongPhase):
                    raise CacheError("wrong-phase") from None
                raise CacheError("invalid", str(getattr(err, "value", "") or "")) from None

        def cache_add_key(self, part: str) -> None:
            self._cache_call(_cache.add_key, part)

        def cache_bypass(self) -> None:
            self._cache_call(_cache.bypass)

        def cache_set_ttl(self, seconds: int) -> None:
            self._cache_call(_cache.set_ttl, seconds)

        def cache_add_surrogate_keys(self, keys: list[str]) -> None:
            self._cache_call(_cache.add_surrogate_keys, keys)

    HOST: Backend = _Wasm()
else:
    # Under CPython, edgechain_sdk.testing installs a fake host (a default one
    # on import, a fresh one per Harness).
    HOST = None  # type: ignore[assignment]


def host() -> Backend:
    """The current backend; under CPython, a default fake when none is set."""
    global HOST
    if HOST is None:
        from . import testing  # noqa: F401  (installs the default fake)
    return HOST
