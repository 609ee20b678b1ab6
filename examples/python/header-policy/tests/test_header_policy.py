import pytest

from edgechain_sdk import ConfigError, Level, Needs, Request, Response
from edgechain_sdk.testing import Harness, run_warmup
from header_policy import HeaderPolicy

API = {"require": [{"header": "x-api-key", "paths": ["/api"], "status": 401,
                    "message": "api key required\n"}]}


def test_requests_without_the_required_header_are_denied_on_every_spelling():
    h = Harness(HeaderPolicy, API)
    for path in ["/api", "/api/x", "/%61pi/x", "//api/./x", "/x/../api"]:
        resp = h.run(Request.get(path))
        assert resp.status == 401 and resp.body == b"api key required\n", path
    assert h.run(Request.get("/api/x").with_header("X-Api-Key", "k")).status == 200
    assert h.run(Request.get("/apix")).status == 200, "prefixes match whole segments"
    assert h.run(Request.get("/api/x").with_header("x-api-key", "  ")).status == 401


def test_methods_and_patterns():
    h = Harness(HeaderPolicy, {"require": [{"header": "content-type", "methods": ["post"],
                                            "pattern": "application/json(;.*)?", "status": 415}]})
    assert h.run(Request.get("/")).status == 200
    assert h.run(Request.post("/", "{}")).status == 415
    ok = Request.post("/", "{}").with_header("content-type", "application/json; charset=utf-8")
    assert h.run(ok).status == 200
    bad = Request.post("/", "{}").with_header("content-type", "text/plain")
    assert h.run(bad).status == 415


def test_report_only_logs_and_passes():
    h = Harness(HeaderPolicy, {**API, "report_only": True})
    assert h.run(Request.get("/api/x")).status == 200
    assert h.logs == [(Level.WARN, "would deny GET /api/x: `x-api-key` missing or invalid")]


def test_spoofable_request_headers_are_stripped_and_untouched_blocks_stay_untouched():
    h = Harness(HeaderPolicy, {"strip_request": ["X-User-Id"], "response": {"preset": "none"}})
    assert h.needs == Needs.NONE, "no response rules, no response phase"
    req = Request.get("/").with_header("x-user-id", "admin").with_header("accept", "*/*")
    h.run(req)
    assert "x-user-id" not in req.headers and req.header("accept") == "*/*"
    block = Request.get("/").with_header("accept", "*/*").headers.to_packed()
    from edgechain_sdk import Headers
    untouched = Request.get("/", headers=Headers.from_packed(block))
    h.run(untouched)
    assert untouched.headers.to_packed() is block


def test_secure_preset_with_overrides():
    h = Harness(HeaderPolicy, {"response": {"set": {"cache-control": "no-store"},
                                            "default": {"x-frame-options": "SAMEORIGIN"},
                                            "strip": ["x-origin-secret"]}})
    assert h.needs == Needs.RESPONSE_PHASE
    upstream = Response(200, [("server", "nginx/1.0"), ("x-powered-by", "php"),
                              ("x-origin-secret", "s"), ("cache-control", "public"),
                              ("x-content-type-options", "nosniff")])
    out = h.run(Request.get("/"), upstream)
    assert "server" not in out.headers and "x-powered-by" not in out.headers
    assert "x-origin-secret" not in out.headers
    assert out.headers.get_all("cache-control") == ["no-store"]
    assert out.header("x-frame-options") == "SAMEORIGIN"
    assert out.headers.get_all("x-content-type-options") == ["nosniff"], "defaults never duplicate"
    assert out.header("strict-transport-security").startswith("max-age=")
    origin_choice = Response(200, [("x-frame-options", "DENY")])
    assert h.run(Request.get("/"), origin_choice).header("x-frame-options") == "DENY"


def test_answers_at_the_edge_skip_the_response_phase():
    h = Harness(HeaderPolicy, API)
    assert "x-frame-options" not in h.run(Request.get("/api")).headers


@pytest.mark.parametrize("config, message", [
    ({"require": [{"header": "bad name"}]}, "not a valid header name"),
    ({"require": [{"header": "x", "paths": ["api"]}]}, "must start with `/`"),
    ({"require": [{"header": "x", "pattern": "("}]}, "bad pattern"),
    ({"require": [{"header": "x", "status": 200}]}, "400..=599"),
    ({"response": {"set": {"content-length": "1"}}}, "managed by the host"),
    ({"response": {"set": {"x-a": "a\nb"}}}, "control characters"),
    ({"response": {"preset": "paranoid"}}, "expected one of 'secure', 'none'"),
    ({"strip_requests": []}, "unknown field `strip_requests`"),
])
def test_bad_configs_are_rejected_with_a_reason(config, message):
    with pytest.raises(ConfigError) as e:
        Harness(HeaderPolicy, config)
    assert message in str(e.value)


def test_no_config_means_the_secure_preset():
    h = Harness(HeaderPolicy)
    assert h.run(Request.get("/")).header("x-content-type-options") == "nosniff"


def test_warmup_runs_without_a_host():
    run_warmup(HeaderPolicy)
