// The Rust test vectors of wire/src/path.rs: both sides must agree.
import { test } from "node:test";
import assert from "node:assert/strict";
import { hasEscapedSlash, normalizePath, pathOf, percentDecode, PathError, normalizeOrRaw } from "../src/path.js";

test("every spelling of /admin is /admin", () => {
  for (const s of ["/admin", "/%61dmin", "/%61%64%6D%69%6E", "//admin", "///admin", "/x/../admin", "/./admin", "/x/%2e%2e/admin", "/x/%2E./admin", "/x//../admin"]) {
    assert.equal(normalizePath(s), "/admin", s);
  }
});

test("reserved encodings stay encoded and upper case", () => {
  assert.equal(normalizePath("/a%2fb"), "/a%2Fb");
  assert.equal(normalizePath("/a%3fb%25"), "/a%3Fb%25");
  assert.equal(normalizePath("/caf%c3%a9"), "/caf%C3%A9");
  assert.equal(normalizePath("/café"), "/caf%C3%A9");
  assert.equal(normalizePath("/a b"), "/a%20b");
});

test("trailing slashes and dots", () => {
  const cases = { "/": "/", "/a/": "/a/", "/a/.": "/a/", "/a/b/..": "/a/", "/a/..": "/", "/a//": "/a/", "/.well-known/x": "/.well-known/x", "/a..b/...": "/a..b/..." };
  for (const [i, o] of Object.entries(cases)) assert.equal(normalizePath(i), o, i);
});

test("ambiguous paths are refused", () => {
  const cases = { "/..": "above-root", "/a/../../b": "above-root", "/%2e%2e/etc": "above-root", "/a%00b": "nul", "/a%zz": "bad-escape", "/a%4": "bad-escape", "/a\\b": "backslash", "/a%5cb": "backslash", admin: "not-absolute", "": "not-absolute" };
  for (const [i, code] of Object.entries(cases)) {
    assert.throws(() => normalizePath(i), (e) => e instanceof PathError && e.code === code, i);
  }
});

test("query is not part of the path; refused targets keep their raw path", () => {
  assert.equal(pathOf("/a?b=/../c"), "/a");
  assert.equal(pathOf("/a"), "/a");
  assert.equal(normalizeOrRaw("/x/../y?q=/../"), "/y");
  assert.equal(normalizeOrRaw("/../etc?x"), "/../etc");
});

test("the fast path agrees with the full algorithm", () => {
  for (const s of ["/a/b/c", "/a.b/c~d", "/a-b_c", "/x/", "/", "/a/b.", "/a:b@c!$&'()*+,;="]) {
    assert.equal(normalizePath(s), s);
  }
});

test("percent decoding keeps bad escapes", () => {
  assert.equal(percentDecode("100%"), "100%");
  assert.equal(percentDecode("%zz%4"), "%zz%4");
  assert.equal(percentDecode("%41"), "A");
  assert.equal(percentDecode("a+b%20c"), "a b c");
  assert.equal(percentDecode("caf%C3%A9"), "café");
});

test("escaped slashes are found in the path only", () => {
  for (const [target, has] of [
    ["/%2Fadmin/x", true],
    ["/%2fadmin/x", true],
    ["/x/..%2Fadmin", true],
    ["/x/%2e%2e%2fadmin", true],
    ["/a%2F", true],
    ["/%252Fadmin", false],
    ["/a%2", false],
    ["/a%", false],
    ["/a?next=%2Fadmin", false],
    ["/a%2Fb?next=%2F", true],
    ["/caf%C3%A9", false],
  ]) {
    assert.equal(hasEscapedSlash(target), has, target);
  }
});
