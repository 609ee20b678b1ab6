import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeUtf8, encodeUtf8, TextDecoderPolyfill, TextEncoderPolyfill } from "../src/utf8.js";

const samples = ["", "plain ascii", "héllo wörld", "日本語テキスト", "emoji 😀👍🏽", "mixed a\u0000b\u007f\u0080\u07ff\u0800\uffff", "\ud800 lone", "tail \udc00"];

test("encode matches TextEncoder, including lone surrogates", () => {
  const te = new TextEncoder();
  for (const s of samples) assert.deepEqual(encodeUtf8(s), te.encode(s), JSON.stringify(s));
  let big = "";
  for (let i = 0; i < 5000; i++) big += String.fromCodePoint((i * 7919) % 0x10ffff);
  assert.deepEqual(encodeUtf8(big), te.encode(big));
});

test("decode matches TextDecoder on valid and invalid input", () => {
  const td = new TextDecoder();
  for (const s of samples) assert.equal(decodeUtf8(new TextEncoder().encode(s)), td.decode(new TextEncoder().encode(s)));
  const invalid = [
    [0xff],
    [0xc0, 0x80],
    [0xe0, 0x80, 0x80],
    [0xed, 0xa0, 0x80],
    [0xf4, 0x90, 0x80, 0x80],
    [0x61, 0xe2, 0x82],
    [0xe2, 0x82, 0x61],
    [0xf0, 0x9f, 0x98],
    [0x80, 0x80, 0x41],
    [0xc3],
  ];
  for (const bytes of invalid) {
    const u8 = new Uint8Array(bytes);
    assert.equal(decodeUtf8(u8), td.decode(u8), bytes.join(","));
    assert.equal(decodeUtf8(u8, true), undefined, `fatal ${bytes}`);
  }
  // random bytes
  let seed = 1;
  for (let n = 0; n < 300; n++) {
    const u8 = new Uint8Array(20).map(() => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff);
    assert.equal(decodeUtf8(u8), td.decode(u8));
  }
});

test("decode ranges and long ASCII", () => {
  const bytes = encodeUtf8("xxhéllo yy");
  assert.equal(decodeUtf8(bytes, false, 2, bytes.length - 3), "héllo");
  const long = "a".repeat(100000);
  assert.equal(decodeUtf8(encodeUtf8(long)), long);
});

test("the TextEncoder/TextDecoder polyfills behave like the real ones", () => {
  const te = new TextEncoderPolyfill();
  const td = new TextDecoderPolyfill();
  assert.equal(te.encoding, "utf-8");
  assert.deepEqual(te.encode("é"), new Uint8Array([0xc3, 0xa9]));
  assert.equal(td.decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41])), "A", "BOM skipped");
  assert.equal(td.decode(), "");
  assert.equal(td.decode(new Uint16Array([0x4241])), "AB");
  assert.throws(() => new TextDecoderPolyfill("utf-8", { fatal: true }).decode(new Uint8Array([0xff])), TypeError);
  assert.throws(() => new TextDecoderPolyfill("latin1"), RangeError);
  const dest = new Uint8Array(3);
  assert.deepEqual(te.encodeInto("aé€", dest), { read: 2, written: 3 });
});
