import { test } from "node:test";
import assert from "node:assert/strict";
import { Request, Response } from "@edgechain/sdk";
import { Harness } from "@edgechain/sdk/testing";
import AbRouter from "../src/index.js";

const config = {
  experiment: "checkout",
  paths: ["/checkout"],
  buckets: [
    { name: "control", weight: 90 },
    { name: "v2", weight: 10, pathPrefix: "/v2", headers: { "x-variant": "new-flow" } },
  ],
  statsPath: "/_ab/checkout",
};

/** A harness whose secure random source draws `ticket` (mod total weight). */
function harness(cfg = config, ticket = 0) {
  const h = new Harness(AbRouter, cfg);
  h.setRandom((n) => {
    const b = new Uint8Array(n);
    b[0] = ticket & 0xff;
    b[1] = (ticket >> 8) & 0xff;
    return b;
  });
  return h;
}

test("a new visitor is assigned by weight, routed, and gets a sticky cookie", () => {
  const h = harness(config, 95); // 95 >= 90: the v2 bucket
  const { request, response } = h.roundTrip(Request.get("/checkout/cart?step=2"));
  assert.equal(request.pathWithQuery(), "/v2/checkout/cart?step=2");
  assert.equal(request.header("x-ab-bucket"), "v2");
  assert.equal(request.header("x-variant"), "new-flow");
  assert.equal(response.header("set-cookie"), "ab_checkout=v2; Path=/; Max-Age=2592000; SameSite=Lax; HttpOnly");
  assert.equal(h.kvGetText("assigned:v2"), "1");

  const control = harness(config, 3).roundTrip(Request.get("/checkout"));
  assert.equal(control.request.pathWithQuery(), "/checkout");
  assert.equal(control.request.header("x-ab-bucket"), "control");
});

test("a returning visitor keeps the cookie's bucket and gets no new cookie", () => {
  const h = harness(config, 3);
  const { request, response } = h.roundTrip(Request.get("/checkout").withHeader("cookie", "theme=dark; ab_checkout=v2"));
  assert.equal(request.header("x-ab-bucket"), "v2");
  assert.equal(request.path(), "/v2/checkout");
  assert.equal(response.header("set-cookie"), undefined);
  assert.equal(h.kvGet("assigned:v2"), undefined, "not counted twice");
});

test("an unknown or closed bucket in the cookie is reassigned", () => {
  const h = harness(config, 3);
  const r = h.roundTrip(Request.get("/checkout").withHeader("cookie", "ab_checkout=v9"));
  assert.equal(r.request.header("x-ab-bucket"), "control");
  assert.match(r.response.header("set-cookie"), /^ab_checkout=control;/);
  const closed = { ...config, buckets: [{ name: "control", weight: 1 }, { name: "v2", weight: 0 }] };
  const r2 = harness(closed).roundTrip(Request.get("/checkout").withHeader("cookie", "ab_checkout=v2"));
  assert.equal(r2.request.header("x-ab-bucket"), "control");
});

test("paths out of scope pass untouched (same header bytes), and every spelling of a path is in scope", () => {
  const h = harness();
  const out = h.roundTrip(Request.get("/checkoutx").withHeader("accept", "*/*"));
  assert.equal(out.request.header("x-ab-bucket"), undefined);
  assert.equal(out.response.header("set-cookie"), undefined);
  for (const spelling of ["//checkout", "/%63heckout", "/x/../checkout/"]) {
    const r = h.roundTrip(Request.get(spelling));
    assert.ok(r.request.header("x-ab-bucket"), spelling);
  }
});

test("with a secret the cookie is signed and a forged one is ignored", () => {
  const signed = { ...config, secret: "0123456789abcdef-secret" };
  const h = harness(signed, 95);
  const first = h.roundTrip(Request.get("/checkout"));
  const cookie = first.response.header("set-cookie").split(";")[0];
  assert.match(cookie, /^ab_checkout=v2\.[A-Za-z0-9_-]{16}$/);
  const again = harness(signed, 3).roundTrip(Request.get("/checkout").withHeader("cookie", cookie));
  assert.equal(again.request.header("x-ab-bucket"), "v2", "a valid signature is honoured");
  const forged = harness(signed, 3).roundTrip(Request.get("/checkout").withHeader("cookie", "ab_checkout=v2"));
  assert.equal(forged.request.header("x-ab-bucket"), "control", "an unsigned choice is not");
  const tampered = harness(signed, 3).roundTrip(Request.get("/checkout").withHeader("cookie", cookie.replace("v2.", "control.")));
  assert.equal(tampered.request.header("x-ab-bucket"), "control");
});

test("client-ip assignment is deterministic per address", () => {
  const byIp = { ...config, assignBy: "client-ip", buckets: [{ name: "a" }, { name: "b" }] };
  const bucketOf = (ip) => {
    const h = new Harness(AbRouter, byIp, { clientIp: ip });
    return h.roundTrip(Request.get("/checkout")).request.header("x-ab-bucket");
  };
  assert.equal(bucketOf("192.0.2.7"), bucketOf("192.0.2.7"));
  const seen = new Set(Array.from({ length: 40 }, (_, i) => bucketOf(`198.51.100.${i}`)));
  assert.deepEqual([...seen].sort(), ["a", "b"], "both buckets get traffic");
});

test("the split follows the weights", () => {
  const h = new Harness(AbRouter, config);
  const counts = { control: 0, v2: 0 };
  for (let i = 0; i < 2000; i++) counts[h.roundTrip(Request.get("/checkout")).request.header("x-ab-bucket")]++;
  assert.ok(counts.v2 > 120 && counts.v2 < 290, JSON.stringify(counts));
  assert.equal(h.kvGetText("assigned:v2"), String(counts.v2));
});

test("QA override parameter picks a bucket without a cookie", () => {
  const h = harness({ ...config, overrideParam: "ab" }, 3);
  const r = h.roundTrip(Request.get("/checkout?ab=v2"));
  assert.equal(r.request.header("x-ab-bucket"), "v2");
  assert.equal(r.response.header("set-cookie"), undefined);
});

test("stats are answered at the edge from the key-value store", () => {
  const h = harness(config, 95);
  h.roundTrip(Request.get("/checkout"));
  h.roundTrip(Request.get("/checkout"));
  const r = h.roundTrip(Request.get("/_ab/checkout"));
  assert.equal(r.answeredBy, "plugin");
  assert.deepEqual(r.response.json(), { experiment: "checkout", weights: { control: 90, v2: 10 }, assigned: { control: 0, v2: 2 } });
});

test("per-request instances keep the cookie decision between the two phases", () => {
  const h = harness(config, 95);
  const r = h.roundTrip(Request.get("/checkout"), new Response(200), { freshInstance: true });
  assert.match(r.response.header("set-cookie"), /^ab_checkout=v2;/);
});

test("bad configs are rejected with a message naming the field", () => {
  const bad = (c) => Harness.configError(AbRouter, c);
  assert.match(bad({}), /`experiment` is required/);
  assert.match(bad({ experiment: "x", buckets: [{ name: "a" }] }), /at least two buckets/);
  assert.match(bad({ experiment: "x", buckets: [{ name: "a" }, { name: "a" }] }), /used twice/);
  assert.match(bad({ experiment: "x", buckets: [{ name: "a", weight: 0 }, { name: "b", weight: 0 }] }), /add up to 0/);
  assert.match(bad({ experiment: "x", buckets: [{ name: "a" }, { name: "b", pathPrefix: "v2" }] }), /buckets\[1\]\.pathPrefix/);
  assert.match(bad({ experiment: "x", buckets: [{ name: "a" }, { name: "b", headers: { "bad name": "v" } }] }), /not a valid header name/);
  assert.match(bad({ experiment: "x", buckets: [{ name: "a" }, { name: "b" }], secret: "short" }), /at least 16/);
  assert.match(bad({ experiment: "x", buckets: [{ name: "a" }, { name: "b" }], typo: 1 }), /unknown field `typo`/);
  assert.equal(bad(config), undefined);
});

test("signatures are computed once and shared through the store; made-up bucket names cost nothing", () => {
  const signed = { ...config, secret: "0123456789abcdef-secret" };
  const h = harness(signed, 95);
  const cookie = h.roundTrip(Request.get("/checkout")).response.header("set-cookie").split(";")[0];
  const keys = h.kvKeys().filter((k) => k.startsWith("sig:"));
  assert.equal(keys.length, 1);
  h.freshInstance();
  assert.equal(h.roundTrip(Request.get("/checkout").withHeader("cookie", cookie)).request.header("x-ab-bucket"), "v2");
  for (let i = 0; i < 20; i++) h.roundTrip(Request.get("/checkout").withHeader("cookie", `ab_checkout=x${i}.AAAAAAAAAAAAAAAA`));
  assert.equal(h.kvKeys().filter((k) => k.startsWith("sig:")).length, 1, "made-up names get no signature entries");
});
