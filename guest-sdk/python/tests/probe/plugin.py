"""A plugin that reports what the SDK sees inside the real host (used by
test_host_e2e.py, not an example)."""

import os
import random
import time

from edgechain_sdk import (HttpError, Needs, Plugin, Response, context, export_plugin, http,
                           kv, log)

BUILT_AT = time.time()
SNAPSHOT_RANDOM = random.random()


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


export_plugin(Probe)
