import time

import pytest

from edgechain_sdk import ConfigError, Request
from edgechain_sdk.testing import Harness, run_warmup
from jwt_verify import JwtVerify, b64url_encode, sign_hs256

KEY = "k" * 32
BASE = {"key": KEY, "issuer": "https://auth.example", "audience": "api",
        "paths": ["/api"], "exempt": ["/api/health"], "required_claims": ["sub"],
        "forward_claims": {"sub": "x-user-id", "scope": "x-user-scope"}}


def token(**claims):
    c = {"sub": "alice", "iss": "https://auth.example", "aud": "api",
         "exp": int(time.time()) + 300, "scope": ["read", "write"]}
    c.update(claims)
    c = {k: v for k, v in c.items() if v is not None}
    return sign_hs256(c, KEY.encode())


def call(h, tok=None, path="/api/orders", **headers):
    req = Request.get(path)
    if tok is not None:
        req.set_header("authorization", f"Bearer {tok}")
    for k, v in headers.items():
        req.set_header(k.replace("_", "-"), v)
    return req, h.run(req)


def test_a_valid_token_passes_with_its_claims_forwarded():
    h = Harness(JwtVerify, BASE)
    req, resp = call(h, token(), x_user_id="mallory")
    assert resp.status == 200
    assert req.header("x-user-id") == "alice"
    assert req.header("x-user-scope") == "read write"
    assert req.header("authorization").startswith("Bearer ")


@pytest.mark.parametrize("tok, reason", [
    (None, None),
    ("abc", "malformed token"),
    (token(exp=int(time.time()) - 120), "token expired"),
    (token(nbf=int(time.time()) + 600), "token not yet valid"),
    (token(iss="https://evil"), "wrong issuer"),
    (token(aud="other"), "wrong audience"),
    (token(sub=None), "missing claim `sub`"),
    (token()[:-2] + "xx", "bad signature"),
    (sign_hs256({"sub": "a"}, b"x" * 32), "bad signature"),
])
def test_bad_or_missing_tokens_are_answered_401(tok, reason):
    h = Harness(JwtVerify, BASE)
    _, resp = call(h, tok)
    assert resp.status == 401
    challenge = resp.header("www-authenticate")
    if reason is None:
        assert challenge == 'Bearer realm="edgechain"'
    else:
        assert f'error_description="{reason}"' in challenge


def test_alg_none_and_other_algorithms_are_refused():
    h = Harness(JwtVerify, BASE)
    head = b64url_encode(b'{"alg":"none","typ":"JWT"}')
    body = b64url_encode(b'{"sub":"a","iss":"https://auth.example","aud":"api"}')
    _, resp = call(h, f"{head}.{body}.")
    assert 'unsupported algorithm' in resp.header("www-authenticate")


def test_leeway_on_expiry():
    h = Harness(JwtVerify, {**BASE, "leeway_s": 60})
    assert call(h, token(exp=int(time.time()) - 30))[1].status == 200


def test_unprotected_and_exempt_paths_pass_but_lose_forged_identity_headers():
    h = Harness(JwtVerify, BASE)
    for path in ["/", "/apix", "/api/health", "/api/health/deep"]:
        req, resp = call(h, None, path=path, x_user_id="mallory")
        assert resp.status == 200, path
        assert "x-user-id" not in req.headers
    assert call(h, None, path="/%61pi/orders")[1].status == 401, "normalised path"


def test_named_keys_by_kid_and_cookies():
    h = Harness(JwtVerify, {"keys": {"a": "a" * 32, "b": "b" * 32}, "cookie": "session"})
    tok = sign_hs256({"sub": "x"}, b"b" * 32, kid="b")
    req = Request.get("/").with_header("cookie", f"theme=dark; session={tok}")
    assert h.run(req).status == 200
    wrong_kid = sign_hs256({"sub": "x"}, b"b" * 32, kid="a")
    assert call(h, wrong_kid)[1].status == 401
    assert call(h, sign_hs256({"sub": "x"}, b"b" * 32))[1].status == 401, "kid required"


def test_repeated_failures_from_one_client_are_throttled():
    h = Harness(JwtVerify, {**BASE, "max_failures_per_minute": 2})
    h.set_client_ip("192.0.2.7")
    statuses = [call(h, "bad.token.here")[1].status for _ in range(4)]
    assert statuses == [401, 401, 429, 429]
    assert h.kv_get("fail:192.0.2.7") == b"4"
    h.set_client_ip("192.0.2.8")
    assert call(h, "bad.token.here")[1].status == 401, "per client"
    h.advance_clock(60)
    h.set_client_ip("192.0.2.7")
    assert call(h, "bad.token.here")[1].status == 401, "the window expired"
    assert call(h, None)[1].status == 401, "no token is not counted"


def test_cors_preflights_pass():
    h = Harness(JwtVerify, BASE)
    req = Request("OPTIONS", "/api/x").with_header("access-control-request-method", "POST")
    assert h.run(req).status == 200


@pytest.mark.parametrize("config, message", [
    ({}, "set `key` or `keys`"),
    ({"key": "short"}, "at least 32"),
    ({"key": KEY, "paths": ["api"]}, "must start with `/`"),
    ({"key": KEY, "forward_claims": {"sub": "content-length"}}, "cannot be used"),
    ({"key": KEY, "leeway": 5}, "unknown field `leeway`"),
])
def test_bad_configs(config, message):
    with pytest.raises(ConfigError) as e:
        Harness(JwtVerify, config)
    assert message in str(e.value)


def test_warmup_runs_without_a_host():
    run_warmup(JwtVerify)
