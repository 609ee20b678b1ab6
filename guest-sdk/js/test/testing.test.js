// The fake host of @edgechain/sdk/testing, mirroring the Rust SDK's tests.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Harness, ScopeError } from "../src/testing.js";
import { Request, Response, Needs, kv, log, context, http, HttpError, KvError, random, randomBytes } from "../src/index.js";

class Counter {
  constructor() {
    this.seen = 0;
  }
  onRequest(req) {
    this.seen++;
    const ip = context.clientIp() ?? "";
    const n = kv.increment(ip, 1, 10_000);
    log.info(`${context.linkName()} #${n}`);
    req.setHeader("x-count", String(n));
  }
}

test("kv, log and context are backed by the fake host", () => {
  const h = new Harness(Counter);
  h.setClientIp("192.0.2.7");
  h.setLinkName("count");
  for (const expected of ["1", "2"]) {
    const req = Request.get("/");
    assert.deepEqual(h.onRequest(req), { kind: "next" });
    assert.equal(req.header("x-count"), expected);
  }
  assert.equal(h.kvGetText("192.0.2.7"), "2");
  assert.deepEqual(h.logs().at(-1), { level: "info", message: "count #2" });
  h.freshInstance();
  assert.equal(h.plugin.seen, 0, "a fresh instance starts over");
  h.advanceClock(10_000);
  assert.equal(h.kvGet("192.0.2.7"), undefined, "ttl expired");
});

test("increment keeps expiry and rejects non-integers; delete reports presence", () => {
  class Store {
    onRequest(req) {
      const op = req.path();
      if (op === "/set") kv.set("k", "x");
      if (op === "/inc-bad") kv.increment("k", 1);
      if (op === "/inc") req.setHeader("n", String(kv.increment("n", 5, 100)));
      if (op === "/inc-more") kv.increment("n", 1, 999_999);
      if (op === "/overflow") kv.set("big", "9223372036854775807"), kv.increment("big", 1);
      if (op === "/del") req.setHeader("d", String(kv.delete("n")));
      if (op === "/json") kv.setJson("j", { a: [1] }), req.setHeader("j", JSON.stringify(kv.getJson("j")));
    }
  }
  const h = new Harness(Store);
  h.onRequest(Request.get("/set"));
  assert.throws(() => h.onRequest(Request.get("/inc-bad")), (e) => e instanceof KvError && e.message === "value is not an integer");
  const r = Request.get("/inc");
  h.onRequest(r);
  assert.equal(r.header("n"), "5");
  h.onRequest(Request.get("/inc-more"));
  h.advanceClock(100);
  assert.equal(h.kvGet("n"), undefined, "the first ttl stays");
  h.onRequest(Request.get("/inc"));
  assert.throws(() => h.onRequest(Request.get("/overflow")), KvError);
  const d1 = Request.get("/del");
  h.onRequest(d1);
  assert.equal(d1.header("d"), "true");
  const d2 = Request.get("/del");
  h.onRequest(d2);
  assert.equal(d2.header("d"), "false");
  const j = Request.get("/json");
  h.onRequest(j);
  assert.equal(j.header("j"), '{"a":[1]}');
});

test("a rejected config gives the operator message", () => {
  class Strict {
    constructor(c) {
      if (typeof c.limit !== "number") throw new Error("`limit` must be a number");
    }
  }
  assert.throws(() => new Harness(Strict, { limt: 1 }), { message: "`limit` must be a number" });
  assert.equal(Harness.configError(Strict, "{oops"), "invalid config: " + (() => { try { JSON.parse("{oops"); } catch (e) { return e.message; } })());
  assert.equal(Harness.configError(Strict, { limit: 1 }), undefined);
});

test("Date.now() follows the fake clock during hooks only", () => {
  class Clock {
    onRequest(req) {
      req.setHeader("now", String(Date.now()));
      req.setHeader("ctx", String(context.now()));
    }
  }
  const h = new Harness(Clock, null, { now: 1_000_000 });
  h.advanceClock(500);
  const r = Request.get("/");
  h.onRequest(r);
  assert.equal(r.header("now"), "1000500");
  assert.equal(r.header("ctx"), "1000500");
  assert.ok(Date.now() > 1_600_000_000_000, "restored after the hook");
});

test("fake outbound http: canned answers, failures, recorded calls, denial by default", () => {
  class Caller {
    onRequest(req) {
      try {
        const r = http.get(`http://auth.internal:8080${req.path()}`, { headers: { "x-k": "v" }, timeoutMs: 20 });
        req.setHeader("x-status", String(r.status));
        req.setHeader("x-body", r.text());
        req.setHeader("x-ct", r.header("content-type") ?? "");
      } catch (e) {
        assert.ok(e instanceof HttpError);
        req.setHeader("x-error", e.kind);
      }
    }
  }
  const h = new Harness(Caller);
  h.httpRespond("http://auth.internal:8080/ok", { status: 200, headers: { "content-type": "application/json" }, body: { user: "ann" } });
  h.httpRespond((call) => call.url.endsWith("/fn"), (call) => ({ status: 201, body: call.headers.get("x-k") }));
  h.httpFail("http://auth.internal:8080/slow", "timeout");
  const run = (path) => {
    const r = Request.get(path);
    h.onRequest(r);
    return r;
  };
  const ok = run("/ok");
  assert.equal(ok.header("x-status"), "200");
  assert.equal(ok.header("x-body"), '{"user":"ann"}');
  assert.equal(ok.header("x-ct"), "application/json");
  assert.equal(run("/fn").header("x-body"), "v");
  assert.equal(run("/slow").header("x-error"), "timeout");
  assert.equal(run("/other").header("x-error"), "denied");
  const calls = h.httpCalls();
  assert.equal(calls.length, 4);
  assert.equal(calls[0].method, "GET");
  assert.equal(calls[0].timeoutMs, 20);
  assert.equal(calls[0].headers.get("x-k"), "v");
});

test("roundTrip runs the wasm glue: needs, respond, response phase, bodies", () => {
  class Both {
    constructor({ greeting = "hi" }) {
      this.greeting = greeting;
    }
    needs() {
      return Needs.RESPONSE_PHASE | Needs.RESPONSE_BODY;
    }
    onRequest(req) {
      if (req.path() === "/edge") return Response.text(200, this.greeting);
      req.setHeader("x-greeting", this.greeting);
      this.mark = req.path();
    }
    onResponse(req, resp) {
      resp.setHeader("x-mark", this.mark);
      resp.setBody(resp.text().toUpperCase());
    }
  }
  const h = new Harness(Both, { greeting: "hello" });
  assert.equal(h.needs(), Needs.RESPONSE_PHASE | Needs.RESPONSE_BODY);
  const edge = h.roundTrip(Request.get("/edge"));
  assert.equal(edge.answeredBy, "plugin");
  assert.equal(edge.response.text(), "hello");
  const up = h.roundTrip(Request.get("/a/../b"), Response.text(200, "body"));
  assert.equal(up.request.header("x-greeting"), "hello");
  assert.equal(up.response.header("x-mark"), "/b");
  assert.equal(up.response.text(), "BODY");
});

test("randomness: secure bytes from the fake, settable for deterministic tests", () => {
  class R {
    onRequest(req) {
      req.setHeader("b", Array.from(randomBytes(3)).join(","));
      req.setHeader("r", String(random()));
    }
  }
  const h = new Harness(R);
  h.setRandom((n) => new Uint8Array(n).fill(1));
  const a = Request.get("/");
  h.onRequest(a);
  assert.equal(a.header("b"), "1,1,1");
  const r = Number(a.header("r"));
  assert.ok(r >= 0 && r < 1);
});

test("decisions the host would refuse fail the test, as the link would", async () => {
  const { InvalidDecision } = await import("../src/testing.js");
  class Bad {
    constructor(config) {
      this.what = config.what;
    }
    onRequest(req) {
      switch (this.what) {
        case "managed":
          req.setHeader("Content-Length", "3");
          break;
        case "hop-by-hop":
          req.appendHeader("connection", "close");
          break;
        case "name":
          req.setHeader("bad name", "x");
          break;
        case "value":
          req.setHeader("x-a", "a\r\nset-cookie: x=1");
          break;
        case "nul":
          req.setHeader("x-a", "a\u0000");
          break;
        case "method":
          req.method = "GET /";
          break;
        case "path":
          req.setPathWithQuery("/../etc/passwd");
          break;
        case "relative":
          req.setPathWithQuery("admin");
          break;
        case "space":
          req.setPathWithQuery("/a b");
          break;
        case "escape":
          req.setPathWithQuery("/a%zz");
          break;
        case "authority":
          req.authority = "user@evil.example";
          break;
        case "colons":
          req.authority = "a:b:c";
          break;
        case "status":
          return new Response(101);
        case "answer-header":
          return new Response(403).withHeader("transfer-encoding", "chunked");
      }
    }
  }
  const cases = {
    managed: /header `content-length` is managed by the host/,
    "hop-by-hop": /header `connection` is managed by the host/,
    name: /invalid header name `bad name`/,
    value: /invalid value for header `x-a`/,
    nul: /invalid value for header `x-a`/,
    method: /invalid method `GET \/`/,
    path: /invalid path `\/\.\.\/etc\/passwd`: `\.\.` above the root/,
    relative: /invalid path `admin`/,
    space: /invalid path `\/a b`/,
    escape: /invalid path `\/a%zz`: invalid percent-encoding/,
    authority: /invalid authority `user@evil.example`/,
    colons: /invalid authority `a:b:c`/,
    status: /status 101 is not in 200..=599/,
    "answer-header": /header `transfer-encoding` is managed by the host/,
  };
  for (const [what, message] of Object.entries(cases)) {
    assert.throws(() => new Harness(Bad, { what }).onRequest(Request.get("/")), (e) => e instanceof InvalidDecision && message.test(e.message), what);
    assert.throws(() => new Harness(Bad, { what }).roundTrip(Request.get("/")), InvalidDecision, `${what} (roundTrip)`);
    // With the checks off the harness hands the decision back as it is.
    new Harness(Bad, { what }, { check: false }).onRequest(Request.get("/"));
  }
  // What the host accepts passes: rewrites, an empty authority (keeps Host), any status in range.
  for (const ok of ["none", "x"]) {
    class Good {
      onRequest(req) {
        req.setHeader("x-user", "ann\tlee");
        req.setPathWithQuery("/%61dmin//x?q=1#frag");
        req.authority = ok === "x" ? "[::1]:8080" : "";
        if (ok === "x") return new Response(599).withHeader("x-why", "test");
      }
    }
    new Harness(Good).onRequest(Request.get("/"));
  }
});

test("onResponse decisions are checked too", async () => {
  const { InvalidDecision } = await import("../src/testing.js");
  class Rewriter {
    needs() {
      return Needs.RESPONSE_PHASE;
    }
    onResponse(_req, resp) {
      resp.setHeader("upgrade", "h2c");
    }
  }
  const h = new Harness(Rewriter);
  assert.throws(() => h.onResponse(Request.get("/"), new Response(200)), InvalidDecision);
  assert.throws(() => h.roundTrip(Request.get("/")), /header `upgrade` is managed by the host/);
});

// The host-owned headers and the targets, authorities and methods the host
// accepts are wire/vectors.json's, checked in wire-vectors.test.js.

test("a response that keeps the next hop's status passes, a 101 included", async () => {
  class Tag {
    onResponse(req, resp) {
      resp.headers.set("x-tag", "1");
    }
  }
  const kept = new Harness(Tag).onResponse(Request.get("/"), new Response(101));
  assert.equal(kept.status, 101);
  class To101 {
    onResponse(req, resp) {
      resp.status = 101;
    }
  }
  assert.throws(() => new Harness(To101).onResponse(Request.get("/"), new Response(200)), /status 101 is not in 200..=599/);
});

test("a body that is not text or bytes is refused with a body's message", async () => {
  const { InvalidDecision } = await import("../src/testing.js");
  class ObjectBody {
    onRequest() {
      const r = new Response(200);
      r.body = { ok: true };
      return r;
    }
  }
  assert.throws(() => new Harness(ObjectBody).onRequest(Request.get("/")), (e) => e instanceof InvalidDecision && /a body must be text, bytes or null, not an object/.test(e.message));
});

test("a harness says whether a request reaches a scoped link", () => {
  class Pass {
    onRequest() {}
  }
  const h = new Harness(Pass);
  assert.ok(h.reaches(Request.get("/anything")), "no scope: every request");
  h.setScope({ name: "a", module: "a.wasm", when: { path: { prefix: "/admin" } }, unless: { method: "POST" } });
  assert.ok(h.reaches(Request.get("/%61dmin/x")));
  assert.ok(!h.reaches(Request.get("/adminx")));
  assert.ok(!h.reaches(new Request("POST", "/admin")));
  assert.throws(() => h.setScope('{"when":{"path":{"glob":"/a//b"}}}'), (e) => e instanceof ScopeError && e.at === "when.path.glob");
});
