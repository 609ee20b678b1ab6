// The path helpers only this SDK has; the rules' verdicts (normalisation,
// escaped slashes, the path of a target) are wire/vectors.json's, checked in
// wire-vectors.test.js.
import { test } from "node:test";
import assert from "node:assert/strict";
import { percentDecode, normalizeOrRaw } from "../src/path.js";

test("refused targets keep their raw path", () => {
  assert.equal(normalizeOrRaw("/x/../y?q=/../"), "/y");
  assert.equal(normalizeOrRaw("/../etc?x"), "/../etc");
});

test("percent decoding keeps bad escapes", () => {
  assert.equal(percentDecode("100%"), "100%");
  assert.equal(percentDecode("%zz%4"), "%zz%4");
  assert.equal(percentDecode("%41"), "A");
  assert.equal(percentDecode("a+b%20c"), "a b c");
  assert.equal(percentDecode("caf%C3%A9"), "café");
});
