// The cache import through the fake host: calls are checked with the host's
// phase rules and limits and recorded per request, so a plugin test can
// assert what its plugin asked of the cache.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Harness } from "../src/testing.js";
import { Request, Response, Needs, cache, CacheError } from "../src/index.js";

/** Runs the steps of its config (`<hook>:<call>[=<arg>]`) and reports each answer in a header. */
class Cacher {
  constructor(steps) {
    this.steps = steps;
    const inNew = this.ask("new");
    if (inNew !== "" && inNew !== "wrong-phase") throw new Error(`in the constructor: ${inNew}`);
  }
  needs() {
    return Needs.RESPONSE_PHASE;
  }
  ask(hook) {
    const answers = [];
    for (const step of this.steps) {
      if (!step.startsWith(`${hook}:`)) continue;
      const [call, arg = ""] = step.slice(hook.length + 1).split(/=(.*)/s);
      try {
        if (call === "key") cache.addKey(arg);
        else if (call === "bypass") cache.bypass();
        else if (call === "ttl") cache.setTtl(Number(arg));
        else if (call === "tags") cache.addSurrogateKeys(arg.split(" "));
        answers.push("ok");
      } catch (e) {
        assert.ok(e instanceof CacheError, String(e));
        answers.push(e.kind);
      }
    }
    return answers.join(",");
  }
  onRequest(req) {
    req.setHeader("x-cache-answers", this.ask("req"));
  }
  onResponse(req, resp) {
    resp.setHeader("x-cache-answers", this.ask("resp"));
  }
}

const STEPS = [
  "new:bypass",
  "req:key=tenant-a",
  "req:key=",
  "req:key=bad\nline",
  "req:bypass",
  "req:ttl=60",
  "req:tags=a b a",
  "resp:key=late",
  "resp:bypass",
  "resp:ttl=30",
  "resp:ttl=99999999",
  "resp:tags=b c",
  "resp:tags=d e,f",
];

test("cache calls are checked like the host's and recorded per request", () => {
  const h = new Harness(Cacher, STEPS);
  const req = Request.get("/");
  h.onRequest(req);
  assert.equal(req.header("x-cache-answers"), "ok,ok,invalid,ok,ok,ok");
  const resp = h.onResponse(req, new Response(200));
  assert.equal(resp.header("x-cache-answers"), "wrong-phase,wrong-phase,ok,invalid,ok,invalid");
  assert.deepEqual(h.cache(), { keyParts: ["tenant-a", ""], bypass: true, ttl: 30, surrogateKeys: ["a", "b", "c"] });
  h.onRequest(Request.get("/"));
  assert.equal(h.cache().ttl, 60, "a new request starts a new record");
  assert.deepEqual(h.cache().keyParts, ["tenant-a", ""]);
});

test("roundTrip records through the wasm glue too", () => {
  const h = new Harness(Cacher, ["req:key=k", "resp:ttl=5", "resp:tags=t"]);
  const { response } = h.roundTrip(Request.get("/"));
  assert.equal(response.header("x-cache-answers"), "ok,ok");
  assert.deepEqual(h.cache(), { keyParts: ["k"], bypass: false, ttl: 5, surrogateKeys: ["t"] });
});

test("limits count per request", () => {
  const steps = Array.from({ length: 17 }, (_, i) => `req:key=p${i}`);
  const tags = Array.from({ length: 64 }, (_, i) => `t${i}`).join(" ");
  const h = new Harness(Cacher, [...steps, `req:tags=${tags}`, "req:tags=t0 t1", "req:tags=one-more"]);
  for (let i = 0; i < 2; i++) {
    const req = Request.get("/");
    h.onRequest(req);
    assert.match(req.header("x-cache-answers"), /^(ok,){16}invalid,ok,ok,invalid$/);
    assert.equal(h.cache().keyParts.length, 16);
    assert.equal(h.cache().surrogateKeys.length, 64);
  }
});

test("a call outside a hook throws, and bad arguments are type errors", () => {
  class Early {
    constructor() {
      cache.setTtl(5);
    }
  }
  assert.match(Harness.configError(Early), /cannot take effect|wrong-phase|cache call/);
  class Typed {
    onRequest(req) {
      const which = req.path();
      if (which === "/ttl") cache.setTtl(-1);
      if (which === "/key") cache.addKey(7);
      if (which === "/tags") cache.addSurrogateKeys(["a", 1]);
    }
  }
  const h = new Harness(Typed);
  for (const path of ["/ttl", "/key", "/tags"]) assert.throws(() => h.onRequest(Request.get(path)), TypeError, path);
  assert.deepEqual(h.cache(), { keyParts: [], bypass: false, ttl: undefined, surrogateKeys: [] });
});

test("an error's kind and detail come from the host's payload", () => {
  const e = new CacheError("invalid", "surrogate key is empty");
  assert.equal(e.kind, "invalid");
  assert.equal(e.detail, "surrogate key is empty");
  assert.match(e.message, /surrogate key is empty/);
  assert.equal(new CacheError("wrong-phase").kind, "wrong-phase");
});
