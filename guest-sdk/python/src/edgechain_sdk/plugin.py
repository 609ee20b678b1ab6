"""The :class:`Plugin` base class and the :class:`Needs` flags."""

from __future__ import annotations

import enum
from typing import Any, ClassVar, Optional, Union

from .message import Action, Request, Response


class Needs(enum.IntFlag):
    """What a plugin asks the host for (the WIT ``needs`` flags); combine with
    ``|``. Ask only for what you use: bodies stream past plugins that did not
    ask for them, and ``on_response`` is only called with ``RESPONSE_PHASE``."""

    NONE = 0
    #: The whole request body in ``req.body`` (up to ``max_body_bytes``, else 413).
    REQUEST_BODY = 1
    #: The whole response body in ``resp.body``; implies the response phase.
    RESPONSE_BODY = 2
    #: Call ``on_response`` for requests this plugin passed on.
    RESPONSE_PHASE = 4


class Plugin:
    """A chain link written in Python. Subclass it, override what you need,
    and call :func:`edgechain_sdk.export_plugin` on the class once, at the top
    level of your plugin module.

    Lifecycle: when the chain loads, the host calls ``init``: the SDK parses
    the JSON config (into :attr:`Config` if set), builds your class with it
    and reports :meth:`needs`; an exception there rejects the chain with its
    message (raise :class:`edgechain_sdk.ConfigError` for a clean one). Each
    instance builds its object once, on its first hook call, from the same
    config. With ``"instance": "per-request"`` (the default) every request
    gets a fresh instance, so attributes set in :meth:`on_request` are there in
    :meth:`on_response` for the same request and for no other. An exception in
    a hook traps the instance: the manifest's ``on_error`` decides what the
    client sees.
    """

    #: A dataclass the JSON config is read into (strictly: unknown keys are
    #: errors, see :mod:`edgechain_sdk.config`), or ``None`` to receive the
    #: parsed JSON value (``None`` when the manifest has no ``config``).
    Config: ClassVar[Any] = None

    @classmethod
    def warmup(cls) -> None:
        """Run once at build time, inside the snapshot, after the module's top
        level. Exercise the code paths your hooks use (sign and check a dummy
        token, compile patterns, parse a sample): a component has no
        filesystem at run time, so a module the standard library imports
        lazily inside a function (``hmac`` imports ``warnings``, for example)
        must be imported here or at the top level, and whatever this warms
        (``re``'s cache, lazily built tables) starts warm in every instance.
        Host functions (kv, log, context, http) are not available here."""

    def __init__(self, config: Any = None) -> None:
        """Build the plugin from its configuration; validate here."""

    def needs(self) -> Needs:
        """What this plugin needs from the host (may depend on the config)."""
        return Needs.NONE

    def on_request(self, req: Request) -> Union[Action, Response, None]:
        """Inspect or rewrite ``req`` in place and return ``None`` (or
        :data:`edgechain_sdk.NEXT`) to pass it on, or return a
        :class:`Response` (or ``Respond(response)``) to answer at the edge."""
        return None

    def on_response(self, req: Request, resp: Response) -> Optional[Response]:
        """Rewrite ``resp`` in place (or return a replacement) for a request
        this plugin passed on; ``req`` is the request as sent to the next hop.
        Called only with ``Needs.RESPONSE_PHASE``."""
        return None
