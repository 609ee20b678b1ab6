// Randomness that differs per instance.
//
// The build snapshots the initialised module, and QuickJS seeds Math.random
// once, before the snapshot: every instance would replay the same sequence
// (request ids repeat). On QuickJS the wasm entry therefore replaces
// Math.random with a generator reseeded from the host's `wasi:random` on its
// first use in each instance, and provides crypto.getRandomValues and
// crypto.randomUUID on top of `wasi:random/random` (a secure source).
// StarlingMonkey reseeds and has Web Crypto itself; Node has both.

import { engine, hookRunning, hostIfAvailable, NoHostError } from "./sys.js";

/**
 * `n` cryptographically secure random bytes from the host (WASI random) or,
 * under Node, from node's crypto. Throws NoHostError at module top level in a
 * wasm build (there is no host to ask at snapshot time).
 */
export function randomBytes(n) {
  const b = hostIfAvailable();
  if (b !== null && b.random) return toU8(b.random.getRandomBytes(n));
  if (engine() === "node" && native !== null) {
    // Plain Node, no fake host bound: its own secure source.
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 65536) native.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
    return out;
  }
  throw new NoHostError("randomBytes()");
}

const native =
  typeof globalThis.crypto === "object" && globalThis.crypto !== null && typeof globalThis.crypto.getRandomValues === "function"
    ? globalThis.crypto
    : null;

function toU8(v) {
  return v instanceof Uint8Array ? v : new Uint8Array(v);
}

// xoshiro128** state; `seeded` is false in every fresh instance because the
// snapshot is taken before any hook runs.
let s0 = 0x9e3779b9, s1 = 0x243f6a88, s2 = 0xb7e15162, s3 = 0x85a308d3;
let seeded = false;

function rotl(x, k) {
  return (x << k) | (x >>> (32 - k));
}

function nextU32() {
  const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
  const t = s1 << 9;
  s2 ^= s0;
  s3 ^= s1;
  s1 ^= s2;
  s0 ^= s3;
  s2 ^= t;
  s3 = rotl(s3, 11);
  return result;
}

function seed() {
  const b = randomBytes(16);
  const w = (i) => (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) | 0;
  s0 = w(0);
  s1 = w(4);
  s2 = w(8);
  s3 = w(12);
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1;
  seeded = true;
}

/**
 * A Math.random replacement: uniform in [0, 1) with 53 random bits, reseeded
 * from the host on first use in each instance. At module top level (build
 * time) it runs on a fixed seed: values drawn there are the same in every
 * instance.
 */
export function random() {
  if (!seeded && (hookRunning() || engine() === "node")) seed();
  const hi = nextU32() >>> 5;
  const lo = nextU32() >>> 6;
  return (hi * 67108864 + lo) / 9007199254740992;
}

/** Fill an integer typed array with secure random values (Web Crypto's getRandomValues). */
export function getRandomValues(array) {
  if (!ArrayBuffer.isView(array) || array instanceof Float32Array || array instanceof Float64Array) {
    throw new TypeError("getRandomValues: expected an integer typed array");
  }
  if (array.byteLength > 65536) {
    throw new RangeError("getRandomValues: at most 65536 bytes per call");
  }
  const bytes = randomBytes(array.byteLength);
  new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(bytes);
  return array;
}

const HEX = "0123456789abcdef";

/** A random (version 4) UUID string. */
export function randomUUID() {
  const b = randomBytes(16);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  let s = "";
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += "-";
    s += HEX[b[i] >> 4] + HEX[b[i] & 15];
  }
  return s;
}

/** A random integer in [0, n) without modulo bias, from the secure source. */
export function randomInt(n) {
  if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32) throw new RangeError(`randomInt: n must be an integer in 1..2^32, not ${n}`);
  const limit = Math.floor(2 ** 32 / n) * n;
  for (;;) {
    const b = randomBytes(4);
    const x = (b[0] | (b[1] << 8) | (b[2] << 16)) + b[3] * 0x1000000;
    if (x < limit) return x % n;
  }
}

/** Install Math.random and crypto.getRandomValues/randomUUID (QuickJS). */
export function installRandomPolyfills() {
  Math.random = random;
  const g = globalThis;
  if (typeof g.crypto !== "object" || g.crypto === null) g.crypto = {};
  if (typeof g.crypto.getRandomValues !== "function") g.crypto.getRandomValues = getRandomValues;
  if (typeof g.crypto.randomUUID !== "function") g.crypto.randomUUID = randomUUID;
}

/** Forget the seed (the test harness does this for a fresh instance). */
export function _resetRandom() {
  seeded = false;
}
