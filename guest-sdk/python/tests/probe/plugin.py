"""A plugin that reports what the SDK sees inside the real host (used by
test_host_e2e.py, not an example)."""

import os
import random
import time

from edgechain_sdk import (CacheError, HttpError, Needs, Plugin, Response, cache, context,
                           export_plugin, http, kv, log)

BUILT_AT = time.time()
SNAPSHOT_RANDOM = random.random()


def cache_answer(call):
    """What the host said to a cache call: ``ok`` or the error's kind and
    reason."""
    try:
        call()
        return "ok"
    except CacheError as e:
        return f"{e.kind}: {e.message}" if e.message else e.kind


class Probe(Plugin):
    def __init__(self, config):
        self.config = config
        self.calls = 0
        self.seen = "-"

    def needs(self):
        return Needs.RESPONSE_PHASE | Needs.REQUEST_BODY

    def on_request(self, req):
        self.calls += 1
        self.seen = req.path
        if req.path == "/probe":
            try:
                http.get("http://auth.internal:8080/check")
                outbound = "sent"
            except HttpError as e:
                outbound = e.kind
            log.info("probe called")
            return Response.json(200, {
                "random": random.random(),
                "snapshot_random": SNAPSHOT_RANDOM,
                "urandom": os.urandom(8).hex(),
                "calls": self.calls,
                "kv": kv.increment("hits", 1),
                "link": context.link_name(),
                "client_ip": context.client_ip(),
                "http": outbound,
                "now": time.time(),
                "built_at": BUILT_AT,
                "config": self.config,
                "raw_path": req.raw_path,
                "q": req.query_param("q"),
                "body": req.body_text(),
                "cache": [cache_answer(lambda: cache.add_key("tenant-a")),
                          cache_answer(lambda: cache.add_key("bad\n")),
                          cache_answer(lambda: cache.set_ttl(60))],
            })
        if req.path == "/rewrite":
            req.set_path("/rewritten")
            req.set_header("x-probe", "1")
            req.set_body(b"new body")
        elif req.path == "/boom":
            raise ValueError("boom")
        elif req.path == "/lazy-import":
            import fractions  # noqa: F401  (not imported at build time: fails)
        return None

    def on_response(self, req, resp):
        resp.set_header("x-probe-calls", str(self.calls))
        resp.set_header("x-probe-seen", self.seen)
        resp.set_header("x-probe-cache", ",".join([
            cache_answer(cache.bypass),
            cache_answer(lambda: cache.add_surrogate_keys("probe", "seen")),
        ]))


export_plugin(Probe)
