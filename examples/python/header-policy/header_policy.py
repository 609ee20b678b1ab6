"""`header-policy`: header rules at the edge, both ways.

Requests
  * `require`: deny requests that lack a header (or whose value does not match
    a pattern) on some paths and methods, e.g. an API key on `/api`.
  * `strip_request`: remove headers clients must not be able to set (identity
    headers a later link or the origin trusts, debug switches).

Responses
  * a `preset` of security headers (`secure`, the default: nosniff, frame
    denial, referrer policy, HSTS; plus stripping `server`/`x-powered-by`),
  * `set` (always replace), `default` (add when the origin sent none) and
    `strip` (remove), applied after the preset.

With `report_only`, a failed requirement is logged (warn) and the request
passes, to roll a rule out safely.

Config (every field optional):

    {
      "require": [
        {"header": "x-api-key", "paths": ["/api"], "status": 401,
         "message": "an API key is required\n"},
        {"header": "content-type", "methods": ["POST", "PUT"],
         "pattern": "application/json(;.*)?", "status": 415}
      ],
      "strip_request": ["x-user-id", "x-debug"],
      "response": {"preset": "secure", "set": {"cache-control": "no-store"},
                   "default": {"content-security-policy": "default-src 'self'"},
                   "strip": ["x-aspnet-version"]},
      "report_only": false
    }
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, Optional

from edgechain_sdk import (ConfigError, Needs, Plugin, Request, Response, export_plugin,
                           is_managed_header, log)

TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9a-zA-Z]+")

PRESETS: dict[str, dict[str, dict[str, str] | list[str]]] = {
    "secure": {
        "default": {
            "x-content-type-options": "nosniff",
            "x-frame-options": "DENY",
            "referrer-policy": "strict-origin-when-cross-origin",
            "strict-transport-security": "max-age=31536000; includeSubDomains",
            "cross-origin-opener-policy": "same-origin",
        },
        "strip": ["server", "x-powered-by", "x-aspnet-version", "x-aspnetmvc-version"],
    },
    "none": {"default": {}, "strip": []},
}


@dataclass
class Requirement:
    header: str
    paths: list[str] = field(default_factory=lambda: ["/"])
    methods: list[str] = field(default_factory=list)
    pattern: Optional[str] = None
    status: int = 400
    message: Optional[str] = None


@dataclass
class ResponsePolicy:
    preset: Literal["secure", "none"] = "secure"
    set: dict[str, str] = field(default_factory=dict)
    default: dict[str, str] = field(default_factory=dict)
    strip: list[str] = field(default_factory=list)


@dataclass
class Config:
    require: list[Requirement] = field(default_factory=list)
    strip_request: list[str] = field(default_factory=list)
    response: ResponsePolicy = field(default_factory=ResponsePolicy)
    report_only: bool = False


def _name(name: str, where: str) -> str:
    if not TOKEN.fullmatch(name):
        raise ConfigError(f"{where}: `{name}` is not a valid header name")
    name = name.lower()
    # Setting a header the host owns fails the link, so refuse it in config.
    if is_managed_header(name):
        raise ConfigError(f"{where}: `{name}` is managed by the host and cannot be used")
    return name


def _value(name: str, value: str, where: str) -> bytes:
    if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
        raise ConfigError(f"{where}: value of `{name}` has control characters")
    return value.encode()


def _matches_prefix(path: str, prefix: str) -> bool:
    """`/api` covers `/api` and `/api/...`, not `/apix`."""
    if prefix == "/" or path == prefix:
        return True
    base = prefix.rstrip("/")
    return path.startswith(base + "/")


class Rule:
    __slots__ = ("header", "prefixes", "methods", "pattern", "status", "message")

    def __init__(self, r: Requirement, i: int) -> None:
        where = f"require[{i}]"
        self.header = _name(r.header, where)
        for p in r.paths:
            if not p.startswith("/"):
                raise ConfigError(f"{where}: path prefix `{p}` must start with `/`")
        self.prefixes = tuple(r.paths)
        self.methods = frozenset(m.upper() for m in r.methods)
        try:
            self.pattern = re.compile(r.pattern) if r.pattern is not None else None
        except re.error as e:
            raise ConfigError(f"{where}: bad pattern: {e}") from None
        if not 400 <= r.status <= 599:
            raise ConfigError(f"{where}: status must be 400..=599")
        self.status = r.status
        self.message = r.message if r.message is not None else (
            f"missing or invalid `{self.header}` header\n")

    def applies(self, req: Request) -> bool:
        if self.methods and req.method.upper() not in self.methods:
            return False
        path = req.path
        return any(_matches_prefix(path, p) for p in self.prefixes)

    def satisfied(self, req: Request) -> bool:
        value = req.headers.get(self.header)
        if value is None or value.strip() == "":
            return False
        return self.pattern is None or self.pattern.fullmatch(value) is not None


class HeaderPolicy(Plugin):
    Config = Config

    def __init__(self, config: Config) -> None:
        self.rules = [Rule(r, i) for i, r in enumerate(config.require)]
        self.strip_request = [_name(n, "strip_request") for n in config.strip_request]
        preset = PRESETS[config.response.preset]
        defaults = dict(preset["default"])  # type: ignore[arg-type]
        strip = set(preset["strip"])  # type: ignore[arg-type]
        sets: dict[str, bytes] = {}
        for n, v in config.response.set.items():
            n = _name(n, "response.set")
            sets[n] = _value(n, v, "response.set")
            defaults.pop(n, None)
            strip.discard(n)
        for n, v in config.response.default.items():
            n = _name(n, "response.default")
            defaults[n] = v
            strip.discard(n)
        for n in config.response.strip:
            n = _name(n, "response.strip")
            strip.add(n)
            defaults.pop(n, None)
            sets.pop(n, None)
        self.set = list(sets.items())
        self.defaults = [(n, _value(n, v, "response.default")) for n, v in defaults.items()]
        self.strip = sorted(strip)
        self.report_only = config.report_only

    @classmethod
    def warmup(cls) -> None:
        """Build time: run a sample config and request through the plugin, so
        what they touch is imported and warm in the snapshot."""
        plugin = cls(Config(require=[Requirement("x-a", pattern="[a-z]+")]))
        req = Request.get("/").with_header("x-a", "b")
        plugin.on_request(req)
        plugin.on_response(req, Response(200, [("server", "x")]))

    def needs(self) -> Needs:
        if self.set or self.defaults or self.strip:
            return Needs.RESPONSE_PHASE
        return Needs.NONE

    def on_request(self, req: Request) -> Optional[Response]:
        for rule in self.rules:
            if rule.applies(req) and not rule.satisfied(req):
                if self.report_only:
                    log.warn(f"would deny {req.method} {req.path}: `{rule.header}` missing or invalid")
                    continue
                return Response.text(rule.status, rule.message)
        for name in self.strip_request:
            req.headers.remove(name)  # no change (and no copy) when absent
        return None

    def on_response(self, req: Request, resp: Response) -> None:
        h = resp.headers
        for name in self.strip:
            h.remove(name)
        for name, value in self.set:
            if h.get_all_bytes(name) != [value]:
                h.set(name, value)
        for name, value in self.defaults:
            if name not in h:
                h.append(name, value)


export_plugin(HeaderPolicy)
