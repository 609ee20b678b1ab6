// wire/vectors.json, the wire rules' verdicts shared with the host and the
// Rust and Python suites: this SDK must give every one, so a rule changed
// in one place fails here until src/path.js and src/decision.js follow.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { hasEscapedSlash, normalizePath, pathOf, PathError } from "../src/path.js";
import { InvalidDecision, checkHeaders, checkRawRequest, checkRawResponse } from "../src/decision.js";
import { encodeFields } from "../src/wire.js";
import { MANAGED_HEADERS, isManagedHeader, Request } from "../src/index.js";
import { Scope, ScopeError } from "../src/scope.js";

const vectors = JSON.parse(readFileSync(new URL("../../../wire/vectors.json", import.meta.url), "utf8"));

function entries(section, name) {
  const list = vectors[section]?.[name];
  assert.ok(Array.isArray(list) && list.length > 0, `vectors.json has ${section}.${name}`);
  return list;
}

test("paths normalise as the vectors say", () => {
  for (const v of entries("path", "normalize")) {
    if (v.error === undefined) {
      assert.equal(normalizePath(v.path), v.normalized, v.path);
    } else {
      assert.throws(
        () => normalizePath(v.path),
        (e) => e instanceof PathError && e.code === v.error && e.message === vectors.path_errors[v.error],
        `${JSON.stringify(v.path)}: ${v.error}`,
      );
    }
  }
  for (const v of entries("path", "escaped_slash")) assert.equal(hasEscapedSlash(v.target), v.has, v.target);
  for (const v of entries("path", "path_of")) assert.equal(pathOf(v.target), v.path, v.target);
});

test("the host-owned headers are the vectors' list", () => {
  assert.deepEqual([...MANAGED_HEADERS].sort(), [...entries("managed", "managed")].sort());
  for (const name of entries("managed", "managed")) assert.ok(isManagedHeader(name.toUpperCase()), name);
  for (const name of entries("managed", "not_managed")) assert.ok(!isManagedHeader(name), name);
});

/** The verdict (as vectors.json spells it) of a check, read from its InvalidDecision. */
function verdict(check, target = "") {
  try {
    check();
    return "ok";
  } catch (e) {
    if (!(e instanceof InvalidDecision)) throw e;
    const m = e.message;
    const path = `invalid path \`${target}\`: `;
    if (m.startsWith(path)) {
      const why = m.slice(path.length);
      if (why.startsWith("an encoded `/` (%2F) is refused")) return "path:encoded-slash";
      const code = Object.keys(vectors.path_errors).find((c) => vectors.path_errors[c] === why);
      if (code !== undefined) return `path:${code}`;
      if (/^(must be origin-form|spaces, control characters)/.test(why)) return "target";
    }
    const kinds = [
      [/^invalid method `/, "method"],
      [/^method `.*` is never forwarded$/s, "not-forwarded"],
      [/^invalid authority `/, "authority"],
      [/^invalid header name `/, "header-name"],
      [/^invalid value for header `/, "header-value"],
      [/^header `.*` is managed by the host/s, "managed"],
      [/^status .* is not in 200\.\.=599$/s, "status"],
    ];
    const kind = kinds.find(([re]) => re.test(m));
    return kind ? kind[1] : `unclassified: ${m}`;
  }
}

test("decisions get the vectors' verdicts", () => {
  const raw = (part) => ({ method: "GET", pathWithQuery: "/", authority: "h", headers: new Uint8Array(0), body: null, ...part });
  let checked = 0;
  const expect = (got, v, what) => {
    assert.equal(got, v.verdict, `${what}: ${JSON.stringify(v)}`);
    checked++;
  };
  for (const v of entries("decision", "method")) expect(verdict(() => checkRawRequest(raw({ method: v.method }))), v, "method");
  for (const v of entries("decision", "target")) {
    expect(verdict(() => checkRawRequest(raw({ pathWithQuery: v.target })), v.target), v, "target");
  }
  for (const v of entries("decision", "authority")) expect(verdict(() => checkRawRequest(raw({ authority: v.authority }))), v, "authority");
  for (const v of entries("decision", "field")) {
    const headers = encodeFields([[v.name, v.value]]);
    expect(verdict(() => checkHeaders(headers)), v, "field");
    expect(verdict(() => checkRawRequest(raw({ headers }))), v, "field in a request");
  }
  for (const v of entries("decision", "status")) {
    expect(verdict(() => checkRawResponse({ status: v.status, headers: new Uint8Array(0), body: null })), v, "status");
  }
  assert.ok(checked > 50, `${checked} vectors`);
});

test("scopes decide as the vectors say", () => {
  let checked = 0;
  for (const c of entries("scope", "matches")) {
    const scope = new Scope(c.rule);
    for (const r of c.requests) {
      const req = new Request(r.method, r.target);
      req.authority = r.authority;
      for (const [n, v] of r.headers) req.headers.append(n, v);
      assert.equal(scope.reaches(req), r.runs, `${JSON.stringify(c.rule)} on ${JSON.stringify(r)}`);
      checked++;
    }
  }
  assert.ok(checked > 50);
  for (const c of entries("scope", "refused")) {
    assert.throws(
      () => new Scope(c.rule),
      (e) => e instanceof ScopeError && e.at === c.at,
      `${JSON.stringify(c.rule)} is refused at ${c.at}`,
    );
  }
});

test("cache calls get the vectors' verdicts", async () => {
  const { LIMITS, checkKeyPart, checkPhase, checkSurrogateKey, checkTtl } = await import("../src/cache.js");
  const code = (refusal) => (refusal === undefined ? "ok" : refusal[0]);
  for (const v of entries("cache", "phase")) assert.equal(code(checkPhase(v.call, v.phase)), v.verdict, `${v.call} ${v.phase}`);
  for (const v of entries("cache", "key_part")) assert.equal(code(checkKeyPart(v.part)), v.verdict, JSON.stringify(v.part));
  for (const v of entries("cache", "ttl")) assert.equal(code(checkTtl(v.seconds)), v.verdict, String(v.seconds));
  for (const v of entries("cache", "surrogate_key")) assert.equal(code(checkSurrogateKey(v.key)), v.verdict, JSON.stringify(v.key));
  const l = vectors.cache.limits;
  assert.deepEqual(
    [LIMITS.maxKeyParts, LIMITS.maxKeyPartBytes, LIMITS.maxTtlSeconds, LIMITS.maxSurrogateKeys, LIMITS.maxSurrogateKeyBytes],
    [l.max_key_parts, l.max_key_part_bytes, l.max_ttl_seconds, l.max_surrogate_keys, l.max_surrogate_key_bytes],
  );
});
