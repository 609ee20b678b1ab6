"""The plugin's private key-value store (the WIT ``kv`` interface).

Entries live in the host process, shared by every instance of this plugin
(link name) and invisible to other plugins; kept across chain reloads, lost
when the process exits, not shared between pods. Use it for counters and small
caches. Values are bytes; ``str`` values are stored as UTF-8.
"""

from __future__ import annotations

import datetime
from typing import Optional, Union

from . import _sys
from .errors import KvError

__all__ = ["get", "get_text", "set", "increment", "delete", "KvError", "Ttl"]

#: A time to live: seconds (int or float) or a ``timedelta``.
Ttl = Union[int, float, datetime.timedelta, None]


def _ttl_ms(ttl: Ttl) -> Optional[int]:
    if ttl is None:
        return None
    if isinstance(ttl, datetime.timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        seconds = float(ttl)
    else:
        raise TypeError(f"ttl must be seconds or a timedelta, not {type(ttl).__name__}")
    if seconds < 0:
        raise ValueError("ttl must not be negative")
    return min(int(round(seconds * 1000)), 2**64 - 1)


def get(key: str) -> Optional[bytes]:
    """The value under ``key``, or ``None`` if absent or expired."""
    if _sys.BUILDING:
        _sys.refuse("kv.get")
    return _sys.host().kv_get(key)


def get_text(key: str) -> Optional[str]:
    """The value under ``key`` decoded as UTF-8, or ``None``."""
    v = get(key)
    return None if v is None else v.decode("utf-8", "replace")


def set(key: str, value: Union[bytes, str], ttl: Ttl = None) -> None:  # noqa: A001
    """Store ``value`` under ``key``, expiring after ``ttl`` seconds if given.
    Raises :class:`KvError` when the key or value is too large or the store is
    full."""
    if _sys.BUILDING:
        _sys.refuse("kv.set")
    if isinstance(value, str):
        value = value.encode("utf-8")
    _sys.host().kv_set(key, bytes(value), _ttl_ms(ttl))


def increment(key: str, delta: int = 1, ttl: Ttl = None) -> int:
    """Atomically add ``delta`` to the integer under ``key`` and return the new
    value. An absent or expired key counts as 0 and is created with ``ttl``; an
    existing key keeps its expiry. Raises :class:`KvError` if the stored value
    is not an integer or on 64-bit overflow."""
    if _sys.BUILDING:
        _sys.refuse("kv.increment")
    return _sys.host().kv_increment(key, int(delta), _ttl_ms(ttl))


def delete(key: str) -> bool:
    """Remove ``key``; returns whether it was present."""
    if _sys.BUILDING:
        _sys.refuse("kv.delete")
    return _sys.host().kv_delete(key)
