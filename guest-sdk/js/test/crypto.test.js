import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { sha256, hmacSha256, HmacSha256, timingSafeEqual, base64Encode, base64UrlEncode, base64Decode, toHex, base64UrlDecodeText } from "../src/crypto.js";

test("sha256 matches node:crypto at every length around block boundaries", () => {
  for (let n = 0; n < 200; n++) {
    const data = randomBytes(n);
    assert.equal(toHex(sha256(data)), createHash("sha256").update(data).digest("hex"), `length ${n}`);
  }
  assert.equal(toHex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const big = randomBytes(100000);
  assert.equal(toHex(sha256(big)), createHash("sha256").update(big).digest("hex"));
});

test("hmac-sha256 matches node:crypto for short and long keys", () => {
  for (const keyLen of [0, 1, 32, 63, 64, 65, 200]) {
    const key = randomBytes(keyLen);
    const mac = new HmacSha256(key);
    for (const n of [0, 10, 55, 56, 64, 300]) {
      const data = randomBytes(n);
      const want = createHmac("sha256", key).update(data).digest("hex");
      assert.equal(toHex(hmacSha256(key, data)), want);
      assert.equal(toHex(mac.digest(data)), want, "precomputed key states");
      assert.ok(mac.verify(data, Buffer.from(want, "hex")));
    }
  }
});

test("timing-safe comparison", () => {
  assert.ok(timingSafeEqual("abc", "abc"));
  assert.ok(!timingSafeEqual("abc", "abd"));
  assert.ok(!timingSafeEqual("abc", "ab"));
});

test("base64 and base64url round trip like Buffer", () => {
  for (let n = 0; n < 40; n++) {
    const data = randomBytes(n);
    assert.equal(base64Encode(data), data.toString("base64"));
    assert.equal(base64UrlEncode(data), data.toString("base64url"));
    assert.deepEqual(Buffer.from(base64Decode(data.toString("base64"))), data);
    assert.deepEqual(Buffer.from(base64Decode(data.toString("base64url"))), data);
  }
  assert.equal(base64Decode("a"), undefined);
  assert.equal(base64Decode("ab$d"), undefined);
  assert.equal(base64UrlDecodeText("eyJhIjoxfQ"), '{"a":1}');
});

test("base64 decoding without a native atob (pure JS path)", async () => {
  const saved = globalThis.atob;
  delete globalThis.atob;
  try {
    const mod = await import("../src/crypto.js?no-atob");
    for (let n = 0; n < 40; n++) {
      const data = randomBytes(n);
      assert.deepEqual(Buffer.from(mod.base64Decode(data.toString("base64url"))), data);
      assert.deepEqual(Buffer.from(mod.base64Decode(data.toString("base64"))), data);
    }
    assert.equal(mod.base64Decode("a"), undefined);
    assert.equal(mod.base64UrlDecodeText("eyJhIjoxfQ"), '{"a":1}');
  } finally {
    globalThis.atob = saved;
  }
});
