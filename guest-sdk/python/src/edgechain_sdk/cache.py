"""Control of the HTTP cache in the chain (the WIT ``cache`` interface).

A plugin knows what the URL and the response's fields do not: the tenant
behind a token, that a page is personal, how long a product page may be
served. It tells the cache here, for the request its hook is serving:

- :func:`add_key` splits the cache key by a value (a tenant, a device class);
- :func:`bypass` keeps the request away from the cache (no lookup, no store);
- :func:`set_ttl` overrides how long the response is fresh;
- :func:`add_surrogate_keys` tags the stored response, for purge by key.

``add_key`` and ``bypass`` count in ``on_request`` only (the lookup has
happened by the response phase); ``set_ttl`` and ``add_surrogate_keys`` in
either hook, since the cache reads them when it stores. Anywhere else
(``Plugin.__init__``) a call raises :class:`CacheError` with kind
``wrong-phase``. A refused call records nothing. Limits hold per request, all
links together (:data:`LIMITS`). When a hook raises, its cache calls are
undone with its other effects.

The ``check_*`` functions are the host's rules (``edgechain_wire::cache``,
held to ``wire/vectors.json``): the test harness applies them, and a plugin
may check its config with them in ``__init__``.
"""

from __future__ import annotations

import datetime
import re
from typing import Iterable, Optional, Union

from . import _sys
from .errors import CacheError

__all__ = [
    "add_key",
    "bypass",
    "set_ttl",
    "add_surrogate_keys",
    "CacheError",
    "LIMITS",
    "check_key_part",
    "check_ttl",
    "check_surrogate_key",
    "check_phase",
]

#: The host's limits: per request (counts, all links together) and per input.
LIMITS = {
    "max_key_parts": 16,
    "max_key_part_bytes": 256,
    "max_ttl_seconds": 365 * 24 * 60 * 60,
    "max_surrogate_keys": 64,
    "max_surrogate_key_bytes": 256,
}


def add_key(part: str) -> None:
    """Append ``part`` to this request's cache key (after scheme, host and the
    normalised target), so the URL is stored once per value. Parts keep their
    call order; ``""`` counts. ``on_request`` only. Raises :class:`CacheError`."""
    if not isinstance(part, str):
        raise TypeError(f"a key part must be a str, not {type(part).__name__}")
    if _sys.BUILDING:
        _sys.refuse("cache.add_key")
    _sys.host().cache_add_key(part)


def bypass() -> None:
    """Neither look this request up nor store its response: it goes to the
    next hop as if there were no cache. ``on_request`` only (in
    ``on_response``, set ``cache-control: no-store`` or ``private`` on the
    response). Raises :class:`CacheError`."""
    if _sys.BUILDING:
        _sys.refuse("cache.bypass")
    _sys.host().cache_bypass()


def set_ttl(ttl: Union[int, float, datetime.timedelta]) -> None:
    """Store the response as fresh for ``ttl`` (seconds or a ``timedelta``;
    whole seconds, rounded down), whatever its fields say; 0 stores it stale,
    revalidated before each use. The latest call of the request wins. Either
    hook. Raises :class:`CacheError`."""
    if isinstance(ttl, datetime.timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        seconds = float(ttl)
    else:
        raise TypeError(f"ttl must be seconds or a timedelta, not {type(ttl).__name__}")
    if not seconds >= 0:
        raise ValueError("ttl must not be negative")
    if _sys.BUILDING:
        _sys.refuse("cache.set_ttl")
    _sys.host().cache_set_ttl(min(int(seconds), 2**32 - 1))


def add_surrogate_keys(*keys: Union[str, Iterable[str]]) -> None:
    """Tag the stored response with surrogate keys (strings, or iterables of
    them), so an operator can purge everything tagged ``product-42`` at once.
    A key added already is not added again; all or nothing. Either hook.
    Raises :class:`CacheError`."""
    flat: list[str] = []
    for k in keys:
        items = [k] if isinstance(k, str) else list(k)
        for item in items:
            if not isinstance(item, str):
                raise TypeError(f"a surrogate key must be a str, not {type(item).__name__}")
            flat.append(item)
    if _sys.BUILDING:
        _sys.refuse("cache.add_surrogate_keys")
    _sys.host().cache_add_surrogate_keys(flat)


# -- the host's rules, one input at a time: None when accepted, else
# (code, reason) with the codes of vectors.json --------------------------------

_PHASES = {
    "outside": "outside a request hook (in `init`)",
    "request": "in `on-request`",
    "response": "in `on-response` (the lookup has happened)",
}
_CONTROL = re.compile("[\u0000-\u001f\u007f-\u009f]")
_SURROGATE_KEY = re.compile(r"[\x21-\x2b\x2d-\x7e]+")

Refusal = Optional[tuple[str, str]]


def check_phase(call: str, phase: str) -> Refusal:
    """Whether WIT call ``call`` (``add-key``, ``bypass``, ``set-ttl``,
    ``add-surrogate-keys``) counts in ``phase`` (``outside``, ``request``,
    ``response``)."""
    ok = phase == "request" if call in ("add-key", "bypass") else phase != "outside"
    return None if ok else ("wrong-phase", f"`{call}` cannot take effect {_PHASES.get(phase, phase)}")


def check_key_part(part: str) -> Refusal:
    """Whether ``part`` may be a key part: at most 256 bytes, no control
    characters."""
    n = len(part.encode("utf-8", "surrogatepass"))
    if n > LIMITS["max_key_part_bytes"]:
        return ("too-long", f"key part of {n} bytes is over the limit of {LIMITS['max_key_part_bytes']}")
    if _CONTROL.search(part):
        return ("control", "key part has a control character")
    return None


def check_ttl(seconds: int) -> Refusal:
    """Whether ``seconds`` may be a TTL: 0 to 365 days."""
    if seconds > LIMITS["max_ttl_seconds"]:
        return ("too-long", f"ttl of {seconds} s is over the limit of {LIMITS['max_ttl_seconds']} s (365 days)")
    return None


def check_surrogate_key(key: str) -> Refusal:
    """Whether ``key`` may be a surrogate key: 1 to 256 bytes of visible
    ASCII other than ``,``."""
    if key == "":
        return ("empty", "surrogate key is empty")
    n = len(key.encode("utf-8", "surrogatepass"))
    if n > LIMITS["max_surrogate_key_bytes"]:
        return ("too-long", f"surrogate key of {n} bytes is over the limit of {LIMITS['max_surrogate_key_bytes']}")
    if not _SURROGATE_KEY.fullmatch(key):
        return ("byte", "surrogate key has a byte other than visible ASCII, or a `,` "
                "(whitespace, commas and control characters separate keys in headers)")
    return None
