"""Facts about where this plugin runs, from the host."""

from __future__ import annotations

import json
from typing import Any, Optional

from . import _sys

__all__ = ["link_name", "client_ip", "config_text", "config_json"]


def link_name() -> str:
    """This link's name in the chain manifest (also its kv namespace)."""
    if _sys.BUILDING:
        _sys.refuse("context.link_name")
    return _sys.host().name()


def client_ip() -> Optional[str]:
    """The IP address of the client connected to the host for the current
    request, as text (``192.0.2.7``, ``2001:db8::1``): the TCP peer, not
    ``X-Forwarded-For``. ``None`` outside a request (in ``init``). Parse it
    with ``ipaddress.ip_address()`` if needed (import ``ipaddress`` at the top
    of your module: see the README on imports)."""
    if _sys.BUILDING:
        _sys.refuse("context.client_ip")
    ip = _sys.host().client_ip()
    return ip or None


def config_text() -> str:
    """The plugin's configuration as JSON text (``null`` when there is none):
    the manifest's inline ``config`` or the content of the file it names."""
    if _sys.BUILDING:
        _sys.refuse("context.config_text")
    return _sys.host().config()


def config_json() -> Any:
    """:func:`config_text` parsed."""
    return json.loads(config_text())
