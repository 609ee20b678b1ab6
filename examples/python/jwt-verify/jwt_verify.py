"""`jwt-verify`: verify HS256 JSON Web Tokens at the edge.

Requests to protected paths must carry a valid token (``Authorization:
Bearer <jwt>``, or a cookie when ``cookie`` is set): signature (HMAC-SHA256
with one of the configured keys, chosen by the token's ``kid`` when keys are
named), ``exp``/``nbf`` with leeway, and optionally ``iss``, ``aud`` and
required claims. Anything else is answered ``401`` with a
``WWW-Authenticate: Bearer error="invalid_token"`` header, and the origin
never sees it.

For a valid token, chosen claims are passed on as request headers
(``forward_claims``: ``{"sub": "x-user-id"}``). Those headers are removed from
every incoming request first, so a client cannot forge them on any path.

Clients that keep sending bad tokens can be slowed down:
``max_failures_per_minute`` counts failures per client IP in the plugin's kv
store and answers ``429`` past the limit.

Config:

    {
      "keys": {"2024-01": "a long random secret"},   # or "key": "secret"
      "issuer": "https://auth.example.com",
      "audience": "api",
      "paths": ["/api"], "exempt": ["/api/health"],
      "cookie": null,
      "leeway_s": 30,
      "required_claims": ["sub"],
      "forward_claims": {"sub": "x-user-id", "scope": "x-user-scope"},
      "max_failures_per_minute": 0
    }
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from edgechain_sdk import (ConfigError, KvError, Plugin, Request, Response, context,
                           export_plugin, is_managed_header, kv, log)


@dataclass
class Config:
    key: Optional[str] = None
    keys: dict[str, str] = field(default_factory=dict)
    issuer: Optional[str] = None
    audience: Optional[str] = None
    paths: list[str] = field(default_factory=lambda: ["/"])
    exempt: list[str] = field(default_factory=list)
    cookie: Optional[str] = None
    leeway_s: int = 30
    required_claims: list[str] = field(default_factory=list)
    forward_claims: dict[str, str] = field(default_factory=dict)
    max_failures_per_minute: int = 0


class InvalidToken(Exception):
    pass


def b64url_decode(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("malformed token encoding") from None


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_hs256(claims: dict[str, Any], key: bytes, kid: Optional[str] = None) -> str:
    """Make a token (for tests and tools; the plugin only verifies)."""
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    signing_input = (
        b64url_encode(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    )
    sig = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + b64url_encode(sig)


def _covered(path: str, prefix: str) -> bool:
    return prefix == "/" or path == prefix or path.startswith(prefix.rstrip("/") + "/")


class JwtVerify(Plugin):
    Config = Config

    def __init__(self, config: Config) -> None:
        keys = {k: v.encode() for k, v in config.keys.items()}
        if config.key is not None:
            keys[""] = config.key.encode()
        if not keys:
            raise ConfigError("set `key` or `keys`")
        for kid, secret in keys.items():
            if len(secret) < 32:
                raise ConfigError(
                    f"key `{kid or 'key'}` is {len(secret)} bytes; HS256 keys need at least 32")
        self.keys = keys
        for p in config.paths + config.exempt:
            if not p.startswith("/"):
                raise ConfigError(f"path `{p}` must start with `/`")
        for claim, header in config.forward_claims.items():
            if is_managed_header(header) or not header or not header.replace("-", "").isalnum():
                raise ConfigError(f"forward_claims.{claim}: `{header}` cannot be used as a header")
        if config.leeway_s < 0 or config.max_failures_per_minute < 0:
            raise ConfigError("`leeway_s` and `max_failures_per_minute` must not be negative")
        self.c = config
        self.forward = [(claim, header.lower()) for claim, header in config.forward_claims.items()]

    @classmethod
    def warmup(cls) -> None:
        """Build time: sign and verify a token once, so every module hmac,
        base64 and json import lazily is in the snapshot (hmac imports
        `warnings` inside `hmac.new`)."""
        plugin = cls(Config(key="w" * 32, audience="a", required_claims=["sub"]))
        token = sign_hs256({"sub": "w", "aud": "a", "exp": 2}, b"w" * 32, kid="k")
        plugin.verify(token, 1.0)

    # -- verification --------------------------------------------------------

    def token(self, req: Request) -> Optional[str]:
        auth = req.headers.get("authorization")
        if auth is not None:
            scheme, _, value = auth.strip().partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                return value.strip()
        if self.c.cookie:
            for cookie in req.headers.get_all("cookie"):
                for pair in cookie.split(";"):
                    name, _, value = pair.strip().partition("=")
                    if name == self.c.cookie and value:
                        return value
        return None

    def verify(self, token: str, now: float) -> dict[str, Any]:
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("malformed token")
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
        except ValueError:
            raise InvalidToken("malformed token") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise InvalidToken("malformed token")
        if header.get("alg") != "HS256":
            raise InvalidToken("unsupported algorithm")
        kid = header.get("kid")
        if len(self.keys) == 1 and "" in self.keys:
            key = self.keys[""]
        elif isinstance(kid, str) and kid in self.keys:
            key = self.keys[kid]
        else:
            raise InvalidToken("unknown key")
        expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, b64url_decode(parts[2])):
            raise InvalidToken("bad signature")
        leeway = self.c.leeway_s
        exp = claims.get("exp")
        if exp is not None:
            if not isinstance(exp, (int, float)) or now > exp + leeway:
                raise InvalidToken("token expired")
        nbf = claims.get("nbf")
        if nbf is not None and (not isinstance(nbf, (int, float)) or now + leeway < nbf):
            raise InvalidToken("token not yet valid")
        if self.c.issuer is not None and claims.get("iss") != self.c.issuer:
            raise InvalidToken("wrong issuer")
        if self.c.audience is not None:
            aud = claims.get("aud")
            auds = aud if isinstance(aud, list) else [aud]
            if self.c.audience not in auds:
                raise InvalidToken("wrong audience")
        for claim in self.c.required_claims:
            if claim not in claims:
                raise InvalidToken(f"missing claim `{claim}`")
        return claims

    # -- the hook ------------------------------------------------------------

    def on_request(self, req: Request) -> Optional[Response]:
        for _, header in self.forward:
            req.headers.remove(header)  # never trust these from the client
        path = req.path
        if not any(_covered(path, p) for p in self.c.paths) or any(
            _covered(path, p) for p in self.c.exempt
        ):
            return None
        if req.method == "OPTIONS" and "access-control-request-method" in req.headers:
            return None  # CORS preflights carry no credentials
        token = self.token(req)
        try:
            if token is None:
                raise InvalidToken("no token")
            claims = self.verify(token, time.time())
        except InvalidToken as e:
            return self.reject(str(e), token is not None)
        for claim, header in self.forward:
            value = claims.get(claim)
            if value is None:
                continue
            if isinstance(value, list):
                value = " ".join(str(v) for v in value)
            elif not isinstance(value, str):
                value = json.dumps(value)
            if value.isprintable():
                req.headers.set(header, value)
        return None

    def reject(self, reason: str, had_token: bool) -> Response:
        limit = self.c.max_failures_per_minute
        if limit and had_token:
            ip = context.client_ip() or "unknown"
            try:
                n = kv.increment(f"fail:{ip}", 1, ttl=60)
            except KvError as e:
                log.warn(f"failure counter unavailable: {e}")
                n = 0
            if n > limit:
                return Response.text(429, "too many invalid tokens\n").with_header(
                    "retry-after", "60")
        if had_token:
            log.info(f"rejected token: {reason}")
        challenge = 'Bearer realm="edgechain"'
        if had_token:
            challenge += f', error="invalid_token", error_description="{reason}"'
        resp = Response.text(401, "unauthorized\n")
        resp.set_header("www-authenticate", challenge)
        return resp


export_plugin(JwtVerify)
