"""The fake host and the harness (mirrors the Rust SDK's testing tests)."""

from dataclasses import dataclass

import pytest

from edgechain_sdk import (ConfigError, HostCallDuringBuild, HttpError, KvError, Level,
                           Needs, Plugin, Request, Response, _runtime, _sys, context, http,
                           kv, log)
from edgechain_sdk.testing import Harness, InvalidDecision


class Counter(Plugin):
    def __init__(self, config):
        self.seen = 0

    def on_request(self, req):
        self.seen += 1
        ip = context.client_ip() or ""
        n = kv.increment(ip, 1, ttl=10)
        log.info(f"{context.link_name()} #{n}")
        req.set_header("x-count", str(n))


def test_kv_log_and_context_are_backed_by_the_fake_host():
    h = Harness(Counter)
    h.set_client_ip("192.0.2.7")
    h.set_link_name("count")
    for expected in ["1", "2"]:
        req = Request.get("/")
        assert h.on_request(req) is None
        assert req.header("x-count") == expected
    assert h.kv_get("192.0.2.7") == b"2"
    assert h.logs[-1] == (Level.INFO, "count #2")
    h.fresh_instance()
    assert h.plugin.seen == 0, "a fresh instance starts over"
    h.advance_clock(10)
    assert h.kv_get("192.0.2.7") is None, "ttl expired"


def test_increment_keeps_expiry_and_rejects_non_integers():
    h = Harness(Counter)
    kv.set("k", b"x")
    with pytest.raises(KvError):
        kv.increment("k")
    assert kv.increment("n", 5, ttl=0.1) == 5
    h.advance_clock(0.05)
    assert kv.increment("n", 1, ttl=100) == 6, "an existing key keeps its expiry"
    h.advance_clock(0.05)
    assert kv.get("n") is None
    with pytest.raises(KvError):
        kv.increment("big", 2**63)
    assert kv.increment("m", 1) == 1
    assert kv.delete("m") and not kv.delete("m")
    kv.set("t", "text", ttl=1)
    assert kv.get_text("t") == "text"


def test_a_rejected_config_gives_the_operator_message():
    @dataclass
    class Cfg:
        limit: int

    class Strict(Plugin):
        Config = Cfg

    with pytest.raises(ConfigError) as e:
        Harness(Strict, {"limt": 1})
    assert str(e.value).startswith("invalid config: unknown field `limt`")

    class Picky(Plugin):
        def __init__(self, config):
            raise ValueError("too picky")

    with pytest.raises(ConfigError, match="ValueError: too picky"):
        Harness(Picky)
    with pytest.raises(ConfigError, match="not JSON"):
        Harness(Picky, config_json="{")


class Gate(Plugin):
    def needs(self):
        return Needs.RESPONSE_PHASE

    def on_request(self, req):
        if req.path.startswith("/admin"):
            return Response.text(403, "no\n")
        self.path = req.path

    def on_response(self, req, resp):
        resp.set_header("x-path", self.path)


def test_run_walks_both_phases():
    h = Harness(Gate)
    assert h.run(Request.get("/%61dmin/x")).status == 403
    out = h.run(Request.get("/a//b"), Response(201, body=b"hi"))
    assert out.status == 201 and out.header("x-path") == "/a/b" and out.body == b"hi"


def test_decisions_the_host_would_refuse_fail_the_test():
    class Bad(Plugin):
        def __init__(self, config):
            self.what = config

        def on_request(self, req):
            if self.what == "managed":
                req.set_header("content-length", "3")
            elif self.what == "status":
                return Response(101)
            elif self.what == "value":
                req.set_header("x-a", "a\nb")
            elif self.what == "path":
                req.path_with_query = "/../x"

    for what, msg in [("managed", "managed by the host"), ("status", "outside 200"),
                      ("value", "invalid value"), ("path", "invalid path")]:
        with pytest.raises(InvalidDecision, match=msg):
            Harness(Bad, what).on_request(Request.get("/"))


def test_fake_http_is_denied_unless_canned():
    class Caller(Plugin):
        def on_request(self, req):
            try:
                r = http.get("http://auth.internal:8080/check", headers={"x-t": "1"})
            except HttpError as e:
                return Response.text(503, e.kind)
            req.set_header("x-auth", r.text())

    h = Harness(Caller)
    assert h.run(Request.get("/")).body == b"denied"
    h.http.respond("http://auth.internal:8080/check", 200, "ok")
    req = Request.get("/")
    assert h.on_request(req) is None and req.header("x-auth") == "ok"
    assert h.http.sent[-1].headers.get("x-t") == "1"
    h.http.fail("http://auth.internal:*", "timeout")
    assert h.run(Request.get("/")).body == b"timeout"


def test_host_calls_during_the_build_are_refused_with_a_clear_message():
    _sys.BUILDING = True
    try:
        for call in (lambda: kv.get("k"), lambda: log.info("x"), context.client_ip,
                     lambda: http.get("http://a/")):
            with pytest.raises(HostCallDuringBuild, match="module top level"):
                call()
    finally:
        _sys.BUILDING = False


def test_export_and_finish_build():
    saved = _runtime._exported
    try:
        _runtime._exported = None
        _runtime.begin_build()
        with pytest.raises(RuntimeError, match="exported no plugin"):
            _runtime.finish_build("mod", gc_freeze=False)
        _runtime.begin_build()
        _runtime.export_plugin(Gate)
        with pytest.raises(RuntimeError, match="twice"):
            _runtime.export_plugin(Counter)
        with pytest.raises(TypeError):
            _runtime.export_plugin(int)
        assert _runtime.finish_build("mod", gc_freeze=False) is _runtime.Filter
        assert not _sys.BUILDING
    finally:
        _runtime._exported = saved


def test_bundled_wit_matches_the_repository():
    from pathlib import Path

    here = Path(__file__).resolve()
    repo_wit = here.parents[3] / "wit" / "plugin.wit"
    bundled = here.parents[1] / "src" / "edgechain_sdk" / "wit" / "plugin.wit"
    if not repo_wit.exists():
        pytest.skip("not inside the edgechain repository")
    assert bundled.read_bytes() == repo_wit.read_bytes(), "copy wit/plugin.wit into the SDK"


def test_an_empty_authority_keeps_the_host_header_as_the_host_does():
    class Blank(Plugin):
        def on_request(self, req):
            req.authority = ""

    assert Harness(Blank).on_request(Request.get("/")) is None

    class Userinfo(Plugin):
        def on_request(self, req):
            req.authority = "user@evil.example"

    with pytest.raises(InvalidDecision, match="invalid authority"):
        Harness(Userinfo).on_request(Request.get("/"))


# The targets, authorities and methods the host accepts are wire/vectors.json's,
# checked in test_wire_vectors.py.


def test_a_response_that_keeps_the_next_hops_status_passes():
    """The next hop's 101 (a WebSocket switch) is not the plugin's status."""

    class Tag(Plugin):
        def on_response(self, req, resp):
            resp.headers.set("x-tag", "1")

    assert Harness(Tag).on_response(Request.get("/"), Response(101)).status == 101

    class To101(Plugin):
        def on_response(self, req, resp):
            resp.status = 101

    with pytest.raises(InvalidDecision):
        Harness(To101).on_response(Request.get("/"), Response(200))


def test_a_harness_says_whether_a_request_reaches_a_scoped_link():
    from edgechain_sdk.testing import ScopeError

    class Pass(Plugin):
        pass

    h = Harness(Pass)
    assert h.reaches(Request.get("/anything")), "no scope: every request"
    h.set_scope({"name": "a", "module": "a.wasm", "when": {"path": {"prefix": "/admin"}},
                 "unless": {"method": "POST"}})
    assert h.reaches(Request.get("/%61dmin/x"))
    assert not h.reaches(Request.get("/adminx"))
    assert not h.reaches(Request("POST", "/admin"))
    with pytest.raises(ScopeError) as e:
        h.set_scope('{"when":{"path":{"glob":"/a//b"}}}')
    assert e.value.at == "when.path.glob"
