"""Write edgechain plugins in Python.

A plugin is one link of an edgechain chain: the host calls it for every HTTP
request, in the order of the chain manifest, and it may rewrite the request,
answer it at the edge, and rewrite the response on its way back. Subclass
:class:`Plugin`, override the hooks you need, and call :func:`export_plugin`
once at the top level of your module::

    from dataclasses import dataclass
    from edgechain_sdk import ConfigError, Needs, Plugin, Request, Response, export_plugin

    @dataclass
    class Config:
        tag: str

    class Tagger(Plugin):
        Config = Config

        def __init__(self, config: Config) -> None:
            if not config.tag:
                raise ConfigError("`tag` must not be empty")
            self.tag = config.tag

        def needs(self) -> Needs:
            return Needs.RESPONSE_PHASE

        def on_request(self, req: Request):
            if req.path == "/healthz":
                return Response.text(200, "ok\\n")
            req.set_header("x-tag", self.tag)

        def on_response(self, req: Request, resp: Response) -> None:
            resp.set_header("x-tagged-by", self.tag)

    export_plugin(Tagger)

Build it with ``python -m edgechain_sdk.build DIR -o tagger.wasm`` and unit-test
it under plain CPython with :mod:`edgechain_sdk.testing`.
"""

from __future__ import annotations

from . import cache, context, http, kv, log
from ._runtime import export_plugin
from .errors import CacheError, ConfigError, HostCallDuringBuild, HttpError, KvError
from .headers import Headers, is_managed_header
from .log import Level
from .message import NEXT, Action, Request, Respond, Response
from .plugin import Needs, Plugin

__version__ = "0.3.0"

__all__ = [
    "Action",
    "CacheError",
    "ConfigError",
    "Headers",
    "HostCallDuringBuild",
    "HttpError",
    "KvError",
    "Level",
    "NEXT",
    "Needs",
    "Plugin",
    "Request",
    "Respond",
    "Response",
    "cache",
    "context",
    "export_plugin",
    "http",
    "is_managed_header",
    "kv",
    "log",
]
