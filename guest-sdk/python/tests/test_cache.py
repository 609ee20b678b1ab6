"""The cache import through the fake host: calls are checked with the host's
phase rules and limits and recorded per request, so a plugin test can assert
what its plugin asked of the cache (mirrors the Rust and JS SDKs' tests)."""

import datetime

import pytest

from edgechain_sdk import CacheError, Needs, Plugin, Request, Response, cache
from edgechain_sdk.testing import CacheRecord, Harness


class Cacher(Plugin):
    """Runs the steps of its config (``<hook>:<call>[=<arg>]``) and reports
    each answer in a header."""

    def __init__(self, steps):
        self.steps = steps
        in_init = self.ask("new")
        if in_init not in ("", "wrong-phase"):
            raise ValueError(f"in __init__: {in_init}")

    def needs(self):
        return Needs.RESPONSE_PHASE

    def ask(self, hook):
        answers = []
        for step in self.steps:
            if not step.startswith(f"{hook}:"):
                continue
            call, _, arg = step[len(hook) + 1:].partition("=")
            try:
                if call == "key":
                    cache.add_key(arg)
                elif call == "bypass":
                    cache.bypass()
                elif call == "ttl":
                    cache.set_ttl(int(arg))
                elif call == "tags":
                    cache.add_surrogate_keys(arg.split(" "))
                answers.append("ok")
            except CacheError as e:
                answers.append(e.kind)
        return ",".join(answers)

    def on_request(self, req):
        req.set_header("x-cache-answers", self.ask("req"))

    def on_response(self, req, resp):
        resp.set_header("x-cache-answers", self.ask("resp"))


STEPS = [
    "new:bypass",
    "req:key=tenant-a", "req:key=", "req:key=bad\nline", "req:bypass", "req:ttl=60",
    "req:tags=a b a",
    "resp:key=late", "resp:bypass", "resp:ttl=30", "resp:ttl=99999999", "resp:tags=b c",
    "resp:tags=d e,f",
]


def test_cache_calls_are_checked_like_the_host_s_and_recorded_per_request():
    h = Harness(Cacher, STEPS)
    req = Request.get("/")
    h.on_request(req)
    assert req.header("x-cache-answers") == "ok,ok,invalid,ok,ok,ok"
    resp = h.on_response(req, Response(200))
    assert resp.header("x-cache-answers") == "wrong-phase,wrong-phase,ok,invalid,ok,invalid"
    assert h.cache() == CacheRecord(["tenant-a", ""], True, 30, ["a", "b", "c"])
    h.on_request(Request.get("/"))
    assert h.cache().ttl == 60, "a new request starts a new record"


def test_run_records_both_phases():
    h = Harness(Cacher, ["req:key=k", "resp:ttl=5", "resp:tags=t"])
    resp = h.run(Request.get("/"))
    assert resp.header("x-cache-answers") == "ok,ok"
    assert h.cache() == CacheRecord(["k"], False, 5, ["t"])


def test_limits_count_per_request():
    steps = [f"req:key=p{i}" for i in range(17)]
    tags = " ".join(f"t{i}" for i in range(64))
    h = Harness(Cacher, steps + [f"req:tags={tags}", "req:tags=t0 t1", "req:tags=one-more"])
    for _ in range(2):
        req = Request.get("/")
        h.on_request(req)
        assert req.header("x-cache-answers") == ",".join(["ok"] * 16 + ["invalid", "ok", "ok", "invalid"])
        assert len(h.cache().key_parts) == 16
        assert len(h.cache().surrogate_keys) == 64


def test_a_call_outside_a_hook_raises_and_bad_arguments_are_type_errors():
    class Early(Plugin):
        def __init__(self, config):
            cache.set_ttl(5)

    with pytest.raises(Exception, match="wrong-phase"):
        Harness(Early)

    class Typed(Plugin):
        def on_request(self, req):
            {"/ttl": lambda: cache.set_ttl("5"), "/neg": lambda: cache.set_ttl(-1),
             "/key": lambda: cache.add_key(7), "/tags": lambda: cache.add_surrogate_keys(["a", 1])}[req.path]()

    h = Harness(Typed)
    for path in ["/ttl", "/neg", "/key", "/tags"]:
        with pytest.raises((TypeError, ValueError)):
            h.on_request(Request.get(path))
    assert h.cache() == CacheRecord()


def test_ttl_takes_a_timedelta_and_keys_take_strings_or_lists():
    class Mixed(Plugin):
        def on_request(self, req):
            cache.set_ttl(datetime.timedelta(minutes=2, seconds=0.9))
            cache.add_surrogate_keys("a", ["b", "c"], ("a",))

    h = Harness(Mixed)
    h.on_request(Request.get("/"))
    assert h.cache() == CacheRecord([], False, 120, ["a", "b", "c"])


def test_an_error_carries_its_kind_and_the_host_s_reason():
    e = CacheError("invalid", "surrogate key is empty")
    assert (e.kind, e.message) == ("invalid", "surrogate key is empty")
    assert "surrogate key is empty" in str(e)
