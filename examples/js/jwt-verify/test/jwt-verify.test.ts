import { test } from "node:test";
import assert from "node:assert/strict";
import { Request } from "@edgechain/sdk";
import { Harness } from "@edgechain/sdk/testing";
import JwtVerify from "../src/index.js";
import { sign } from "./tokens.js";

const SECRET = "a-test-secret-of-at-least-32-bytes!!";
const NOW = 1_800_000_000; // seconds
const config = {
  secret: SECRET,
  issuer: "https://auth.example.com",
  audience: ["api", "admin"],
  include: ["/api"],
  exclude: ["/api/health"],
  forwardClaims: { sub: "x-user-id", scope: "x-user-scope" },
};
const good = { iss: "https://auth.example.com", aud: "api", sub: "user-42", scope: ["read", "write"], exp: NOW + 600, nbf: NOW - 10, iat: NOW - 10 };

function harness(cfg: object = config) {
  return new Harness(JwtVerify, cfg, { now: NOW * 1000 });
}

function call(h: Harness, token?: string, path = "/api/orders", extra: Record<string, string> = {}) {
  const req = Request.get(path);
  if (token !== undefined) req.setHeader("authorization", `Bearer ${token}`);
  for (const [n, v] of Object.entries(extra)) req.setHeader(n, v);
  return h.roundTrip(req);
}

test("a valid token passes, with its claims as trusted headers", () => {
  const r = call(harness(), sign(good, SECRET));
  assert.equal(r.answeredBy, "upstream");
  assert.equal(r.request.header("x-user-id"), "user-42");
  assert.equal(r.request.header("x-user-scope"), "read write");
  assert.ok(r.request.header("authorization"), "kept unless stripAuthorization");
});

test("clients cannot forge the claim headers, in scope or not", () => {
  const h = harness();
  const inScope = call(h, sign({ ...good, sub: undefined }, SECRET), "/api/x", { "x-user-id": "admin" });
  assert.equal(inScope.request.header("x-user-id"), undefined);
  const outOfScope = call(h, undefined, "/public", { "x-user-id": "admin" });
  assert.equal(outOfScope.answeredBy, "upstream");
  assert.equal(outOfScope.request.header("x-user-id"), undefined);
});

test("no token: 401 with a bare Bearer challenge", () => {
  const r = call(harness());
  assert.equal(r.answeredBy, "plugin");
  assert.equal(r.response.status, 401);
  assert.equal(r.response.header("www-authenticate"), 'Bearer realm="api"');
  assert.deepEqual(r.response.json(), { error: "unauthorized", message: "a bearer token is required" });
});

test("every way a token can be wrong is a 401 invalid_token with the reason", () => {
  const h = harness();
  const cases: Array<[string, string]> = [
    [sign(good, "another-secret-that-is-32-bytes-long"), "bad signature"],
    [sign({ ...good, exp: NOW - 31 }, SECRET), "expired"],
    [sign({ ...good, nbf: NOW + 31 }, SECRET), "not valid yet"],
    [sign({ ...good, iss: "https://evil.example.com" }, SECRET), "wrong issuer"],
    [sign({ ...good, aud: "billing" }, SECRET), "wrong audience"],
    [sign({ ...good, exp: undefined }, SECRET), "no expiry"],
    [sign({ ...good, exp: "tomorrow" }, SECRET), "`exp` is not a NumericDate"],
    [sign(good, SECRET, { alg: "none" }).replace(/\.[^.]*$/, "."), 'unsupported alg "none"'],
    [sign(good, SECRET, { alg: "HS512" }), 'unsupported alg "HS512"'],
    ["not.a.jwt!", "not a compact JWS"],
    ["abc", "not a compact JWS"],
    [`${Buffer.from("{").toString("base64url")}.e30.sig`, "malformed header"],
  ];
  for (const [token, reason] of cases) {
    const r = call(h, token);
    assert.equal(r.response.status, 401, reason);
    assert.equal(r.response.header("www-authenticate"), `Bearer realm="api", error="invalid_token", error_description="${reason}"`);
  }
  assert.ok(h.logs().some((l) => l.level === "debug" && l.message.includes("bad signature")));
});

test("leeway: a token expired 20 s ago still passes with the default 30 s", () => {
  const h = harness();
  assert.equal(call(h, sign({ ...good, exp: NOW - 20 }, SECRET)).answeredBy, "upstream");
  h.advanceClock(11_000);
  assert.equal(call(h, sign({ ...good, exp: NOW - 20 }, SECRET)).response.status, 401, "Date.now follows the fake clock");
});

test("audience lists and excluded paths", () => {
  const h = harness();
  assert.equal(call(h, sign({ ...good, aud: ["billing", "admin"] }, SECRET)).answeredBy, "upstream");
  assert.equal(call(h, undefined, "/api/health").answeredBy, "upstream");
  assert.equal(call(h, undefined, "/api/health/deep").answeredBy, "upstream");
  assert.equal(call(h, undefined, "/api//orders/../orders").response.status, 401, "normalised path is matched");
  assert.equal(call(h, undefined, "/apiary").answeredBy, "upstream", "prefixes match whole segments");
});

test("key rotation by kid, base64 secrets, cookie tokens, stripped Authorization", () => {
  const k1 = Buffer.alloc(32, 1);
  const k2 = Buffer.alloc(32, 2);
  const h = harness({
    keys: { k1: k1.toString("base64url"), k2: k2.toString("base64url") },
    secretEncoding: "base64url",
    cookie: "session",
    stripAuthorization: true,
    forwardClaims: { sub: "x-user-id" },
  });
  const t1 = sign(good, k1, { alg: "HS256", kid: "k1" });
  const t2 = sign(good, k2, { alg: "HS256", kid: "k2" });
  const r1 = call(h, t1, "/x");
  assert.equal(r1.request.header("x-user-id"), "user-42");
  assert.equal(r1.request.header("authorization"), undefined);
  assert.equal(call(h, t2).answeredBy, "upstream");
  assert.equal(call(h, sign(good, k1, { alg: "HS256", kid: "k2" })).response.status, 401);
  assert.match(call(h, sign(good, k1, { alg: "HS256", kid: "k3" })).response.header("www-authenticate")!, /unknown key id/);
  const viaCookie = h.roundTrip(Request.get("/x").withHeader("cookie", `session=${t2}`));
  assert.equal(viaCookie.answeredBy, "upstream");
});

test("bad configs are rejected with a message naming the field", () => {
  const bad = (c: object) => Harness.configError(JwtVerify, c);
  assert.match(bad({}) ?? "", /`secret` \(or `keys`\) is required/);
  assert.match(bad({ secret: "short" }) ?? "", /too short/);
  assert.match(bad({ secret: SECRET, keys: { a: SECRET } }) ?? "", /not both/);
  assert.match(bad({ secret: "!!!", secretEncoding: "base64" }) ?? "", /not valid base64/);
  assert.match(bad({ secret: SECRET, audience: [] }) ?? "", /`audience`/);
  assert.match(bad({ secret: SECRET, forwardClaims: { sub: "bad header" } }) ?? "", /forwardClaims\.sub/);
  assert.match(bad({ secret: SECRET, leeway: 5 }) ?? "", /unknown field `leeway`/);
  assert.equal(bad(config), undefined);
});

test("verified tokens are remembered in the store; claims are still checked on a hit", () => {
  const h = harness();
  const token = sign(good, SECRET);
  assert.equal(call(h, token).answeredBy, "upstream");
  const keys = h.kvKeys();
  assert.equal(keys.length, 1);
  assert.ok(keys[0].endsWith(token), "keyed by the whole token");
  // A hit skips the HMAC: prove it by caching a token whose signature is bad.
  const forged = sign({ ...good, sub: "mallory" }, "another-secret-that-is-32-bytes-long");
  assert.equal(call(h, forged).response.status, 401, "a bad signature is never cached");
  h.kvSet(keys[0].replace(token, forged), "1");
  assert.equal(call(h, forged).request.header("x-user-id"), "mallory", "only a cache entry (written by us) skips the check");
  // Expiry is checked on hits too, and entries live no longer than the token.
  h.advanceClock(630_000);
  assert.equal(h.kvGet(keys[0]), undefined, "the entry expired with the token");
  const nearExpiry = sign({ ...good, exp: NOW + 5 }, SECRET);
  const h2 = harness();
  call(h2, nearExpiry);
  h2.advanceClock(36_000);
  assert.equal(call(h2, nearExpiry).response.status, 401);
  const off = harness({ ...config, cacheSeconds: 0 });
  call(off, token);
  assert.deepEqual(off.kvKeys(), []);
});
