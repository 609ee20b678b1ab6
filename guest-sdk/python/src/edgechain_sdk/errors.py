"""Exceptions the SDK raises."""

from __future__ import annotations


class ConfigError(ValueError):
    """Raise from ``Plugin.__init__`` to reject the configuration: the message
    is what the operator sees (``edgechain validate`` and the reload log), and
    the chain is not loaded. Any other exception in ``__init__`` rejects it
    too, with its type name in front of the message."""


class KvError(RuntimeError):
    """The key-value store refused an operation (value or key too large, store
    full, value not an integer, overflow). The message is the host's."""


class HttpError(RuntimeError):
    """An outbound HTTP call produced no response.

    ``kind`` is one of ``denied`` (authority not granted to this link, or not
    an absolute ``http://`` URL), ``invalid``, ``connect``, ``timeout``,
    ``too-large`` and ``protocol``, as in the WIT ``http.error`` variant.
    """

    KINDS = ("denied", "invalid", "connect", "timeout", "too-large", "protocol")

    def __init__(self, kind: str, message: str = "") -> None:
        super().__init__(f"{kind}: {message}" if message else kind)
        self.kind = kind
        self.message = message


class CacheError(RuntimeError):
    """The host refused a cache call (the WIT ``cache-error``); nothing was
    recorded.

    ``kind`` is ``wrong-phase`` (called in a hook where it cannot take effect:
    ``add_key``/``bypass`` outside ``on_request``, anything outside a request
    hook) or ``invalid`` (a rule or limit broken; ``message`` says which).
    """

    KINDS = ("wrong-phase", "invalid")

    def __init__(self, kind: str, message: str = "") -> None:
        super().__init__(f"{kind}: {message}" if message else kind)
        self.kind = kind
        self.message = message


class HostCallDuringBuild(RuntimeError):
    """A host function was called while the build imported the plugin module.

    componentize-py runs the module's top level once at build time and
    snapshots the result; there is no host then. Call host functions (kv, log,
    context, http, config) from ``Plugin.__init__`` or the hooks instead.
    """


class InvalidDecision(AssertionError):
    """(Testing) the plugin returned something the host would reject, failing
    the link: a managed or malformed header, a status outside 200..=599, an
    unparsable target. The message names the problem as the host does."""
