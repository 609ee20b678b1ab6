// The WIT glue the wasm build exports, driven with a stand-in for the
// component's imports.
import { test } from "node:test";
import assert from "node:assert/strict";
import { makeFilter } from "../src/runtime.js";
import { bindHost } from "../src/sys.js";
import { Needs, Response, next, respond, kv, log, NoHostError, checkKeys } from "../src/index.js";
import { encodeFields } from "../src/wire.js";

function bindFakeImports(config = "null") {
  const logs = [];
  const store = new Map();
  bindHost({
    engine: "quickjs",
    fake: false, // like wasm: host calls only inside hooks
    host: { log: (l, m) => logs.push([l, m]), config: () => config, name: () => "link", clientIp: () => "192.0.2.7" },
    kv: {
      get: (k) => store.get(k) ?? null,
      set: (k, v) => void store.set(k, v),
      increment: (k, d) => {
        const n = Number(new TextDecoder().decode(store.get(k) ?? new TextEncoder().encode("0"))) + d;
        store.set(k, new TextEncoder().encode(String(n)));
        return BigInt(n); // StarlingMonkey hands s64 over as BigInt
      },
      delete: (k) => store.delete(k),
    },
    http: { send: () => { throw { payload: { tag: "denied", val: "no grant" } }; } },
    random: { getRandomBytes: (n) => new Uint8Array(Number(n)).fill(7) },
  });
  return { logs, store };
}

const rawReq = (path = "/", headers = encodeFields([["accept", "*/*"]])) => ({
  method: "GET",
  pathWithQuery: path,
  normalizedPath: path.split("?")[0],
  authority: "example.com",
  headers,
  body: null,
});

class Tagger {
  constructor({ tag = "t", strict } = {}) {
    if (strict) checkKeys(strict, ["a"], "strict");
    if (tag === "") throw new Error("`tag` must not be empty");
    this.tag = tag;
    this.seen = 0;
  }
  needs() {
    return Needs.RESPONSE_PHASE;
  }
  onRequest(req) {
    this.seen++;
    if (req.path() === "/healthz") return respond(Response.text(200, "ok\n"));
    if (req.path() === "/plain") return Response.text(418, "teapot");
    if (req.path() === "/untouched") return next();
    req.setHeader("x-tag", this.tag);
    req.setHeader("x-count", String(kv.increment("n")));
  }
  onResponse(req, resp) {
    resp.setHeader("x-seen", String(this.seen));
  }
}

test("init parses the config, reports needs, and rejects with the plugin's message", () => {
  bindFakeImports();
  const f = makeFilter(Tagger);
  assert.deepEqual(f.init('{"tag":"a"}'), { requestBody: false, responseBody: false, responsePhase: true });
  assert.deepEqual(f.init("null"), { requestBody: false, responseBody: false, responsePhase: true }, "null is {}");
  assert.throws(() => f.init('{"tag":""}'), (e) => e === "`tag` must not be empty");
  assert.throws(() => f.init("{nope"), (e) => typeof e === "string" && e.startsWith("invalid config:"));
  assert.throws(() => f.init('{"strict":{"b":1}}'), (e) => e === "strict: unknown field `b`, expected `a`");
  assert.throws(() => makeFilter({}).init("null"), (e) => /not a class/.test(e));
});

test("onRequest: next with edits, respond, and untouched headers handed back as the same bytes", () => {
  bindFakeImports('{"tag":"z"}');
  const f = makeFilter(Tagger);
  const r1 = f.onRequest(rawReq("/x"));
  assert.equal(r1.tag, "next");
  assert.deepEqual([...r1.val.headers].length > 0, true);
  const out = new TextDecoder().decode(r1.val.headers);
  assert.match(out, /x-tag.*z/s);
  assert.match(out, /x-count.*1/s, "BigInt from the engine becomes a number");

  const headers = encodeFields([["accept", "*/*"]]);
  const r2 = f.onRequest(rawReq("/untouched", headers));
  assert.equal(r2.val.headers, headers);
  assert.equal(r2.val.body, null);

  const r3 = f.onRequest(rawReq("/healthz"));
  assert.equal(r3.tag, "respond");
  assert.equal(r3.val.status, 200);
  assert.equal(new TextDecoder().decode(r3.val.body), "ok\n");
  assert.equal(f.onRequest(rawReq("/plain")).val.status, 418, "a returned Response answers");

  const resp = f.onResponse(rawReq("/x"), { status: 200, headers: new Uint8Array(0), body: null });
  assert.match(new TextDecoder().decode(resp.headers), /x-seen.*4/s, "one plugin value per instance");
});

test("a hook that throws logs the error with its stack, then traps", () => {
  const { logs } = bindFakeImports();
  class Boom {
    onRequest() {
      throw new TypeError("kaput");
    }
  }
  const f = makeFilter(Boom);
  assert.throws(() => f.onRequest(rawReq()), /kaput/);
  assert.equal(logs[0][0], "error");
  assert.match(logs[0][1], /^onRequest threw: TypeError: kaput/);
});

test("async hooks are refused with a clear message", () => {
  bindFakeImports();
  class Async {
    async onRequest() {}
  }
  assert.throws(() => makeFilter(Async).onRequest(rawReq()), /Promise: hooks are synchronous/);
});

test("a config rejected after init traps with the reason", () => {
  bindFakeImports('{"tag":""}');
  assert.throws(() => makeFilter(Tagger).onRequest(rawReq()), /plugin config rejected after init: `tag` must not be empty/);
});

test("host functions outside hooks (module top level) throw NoHostError", () => {
  bindFakeImports();
  assert.throws(() => kv.get("x"), (e) => e instanceof NoHostError && /kv\.get\(\) was called outside a hook/.test(e.message));
  assert.throws(() => log.info("x"), NoHostError);
});
