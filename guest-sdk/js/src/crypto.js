// Synchronous hashing and encoding helpers in plain JS. QuickJS has no Web
// Crypto, and StarlingMonkey's crypto.subtle is asynchronous, which hooks
// (synchronous) cannot wait for; these work the same on both and in Node.

import { encodeUtf8, decodeUtf8 } from "./utf8.js";

function bytesOf(data) {
  if (typeof data === "string") return encodeUtf8(data);
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new TypeError("expected a string or bytes");
}

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);
const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
const W = new Int32Array(64);

/** Compress 64-byte blocks of `m` starting at `off` into state `h` (Int32Array(8)). */
function blocks(h, m, off, end) {
  // Locals, not module bindings: QuickJS reads locals fastest.
  const W_ = W;
  const K_ = K;
  let h0 = h[0], h1 = h[1], h2 = h[2], h3 = h[3], h4 = h[4], h5 = h[5], h6 = h[6], h7 = h[7];
  for (let p = off; p < end; p += 64) {
    for (let i = 0; i < 16; i++) {
      const j = p + i * 4;
      W_[i] = (m[j] << 24) | (m[j + 1] << 16) | (m[j + 2] << 8) | m[j + 3];
    }
    for (let i = 16; i < 64; i++) {
      const a = W_[i - 15], b = W_[i - 2];
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      W_[i] = (W_[i - 16] + s0 + W_[i - 7] + s1) | 0;
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, hh = h7;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K_[i] + W_[i]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
    h5 = (h5 + f) | 0;
    h6 = (h6 + g) | 0;
    h7 = (h7 + hh) | 0;
  }
  h[0] = h0; h[1] = h1; h[2] = h2; h[3] = h3; h[4] = h4; h[5] = h5; h[6] = h6; h[7] = h7;
}

/** Finish: hash `tail` (any length) after `prefixLen` bytes already compressed into `h`. */
function finish(h, tail, prefixLen) {
  const full = tail.length - (tail.length % 64);
  blocks(h, tail, 0, full);
  const rest = tail.length - full;
  const pad = new Uint8Array(rest < 56 ? 64 : 128);
  pad.set(tail.subarray(full));
  pad[rest] = 0x80;
  const bits = (prefixLen + tail.length) * 8;
  const hi = Math.floor(bits / 0x100000000);
  const lo = bits >>> 0;
  const n = pad.length;
  pad[n - 8] = hi >>> 24;
  pad[n - 7] = hi >>> 16;
  pad[n - 6] = hi >>> 8;
  pad[n - 5] = hi;
  pad[n - 4] = lo >>> 24;
  pad[n - 3] = lo >>> 16;
  pad[n - 2] = lo >>> 8;
  pad[n - 1] = lo;
  blocks(h, pad, 0, n);
  const out = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    out[i * 4] = h[i] >>> 24;
    out[i * 4 + 1] = h[i] >>> 16;
    out[i * 4 + 2] = h[i] >>> 8;
    out[i * 4 + 3] = h[i];
  }
  return out;
}

/** SHA-256 of `data` (text is hashed as UTF-8). */
export function sha256(data) {
  return finish(Int32Array.from(IV), bytesOf(data), 0);
}

/**
 * HMAC-SHA256 with a fixed key: the key's inner and outer states are
 * computed once, so each `digest` costs two compressions less than
 * `hmacSha256` (keep one per configured secret).
 */
export class HmacSha256 {
  constructor(key) {
    let k = bytesOf(key);
    if (k.length > 64) k = sha256(k);
    const block = new Uint8Array(64);
    block.set(k);
    const ipad = block.map((b) => b ^ 0x36);
    const opad = block.map((b) => b ^ 0x5c);
    this._inner = Int32Array.from(IV);
    blocks(this._inner, ipad, 0, 64);
    this._outer = Int32Array.from(IV);
    blocks(this._outer, opad, 0, 64);
  }
  /** The 32-byte MAC of `data`. */
  digest(data) {
    const inner = finish(Int32Array.from(this._inner), bytesOf(data), 64);
    return finish(Int32Array.from(this._outer), inner, 64);
  }
  /** Whether `mac` is the MAC of `data` (constant time in the MAC's bytes). */
  verify(data, mac) {
    return timingSafeEqual(this.digest(data), bytesOf(mac));
  }
}

/** HMAC-SHA256 of `data` under `key`. */
export function hmacSha256(key, data) {
  return new HmacSha256(key).digest(data);
}

/**
 * Compare two byte strings in time that depends on their length only (the
 * length of a MAC is public), not on where they first differ.
 */
export function timingSafeEqual(a, b) {
  a = bytesOf(a);
  b = bytesOf(b);
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) DECODE[B64.charCodeAt(i)] = i;
DECODE["-".charCodeAt(0)] = 62;
DECODE["_".charCodeAt(0)] = 63;

function encode64(data, alphabet, pad) {
  const b = bytesOf(data);
  let s = "";
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
    s += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + alphabet[(n >> 6) & 63] + alphabet[n & 63];
  }
  if (i < b.length) {
    const n = (b[i] << 16) | ((i + 1 < b.length ? b[i + 1] : 0) << 8);
    s += alphabet[n >> 18] + alphabet[(n >> 12) & 63];
    s += i + 1 < b.length ? alphabet[(n >> 6) & 63] : pad ? "=" : "";
    s += pad ? "=" : "";
  }
  return s;
}

/** Base64 (standard alphabet, padded) of `data`. */
export function base64Encode(data) {
  return encode64(data, B64, true);
}

/** Base64url (URL-safe alphabet, unpadded, as in JWTs) of `data`. */
export function base64UrlEncode(data) {
  return encode64(data, B64URL, false);
}

const B64_CHARS = /^[A-Za-z0-9+/_-]*={0,2}$/;
const URL_CHARS = /[-_]/g;
const NON_ASCII = /[\x80-\xff]/;
const nativeAtob = typeof atob === "function" ? atob : null;

/** base64/base64url text to a "binary string" (one char per byte), or undefined. */
function binaryOf(s) {
  if (!B64_CHARS.test(s)) return undefined;
  let n = s.length;
  while (n > 0 && s.charCodeAt(n - 1) === 61) n--;
  if (n % 4 === 1) return undefined;
  if (nativeAtob === null) return undefined;
  let std = s.slice(0, n).replace(URL_CHARS, (c) => (c === "-" ? "+" : "/"));
  while (std.length % 4 !== 0) std += "=";
  try {
    // Native in QuickJS, StarlingMonkey and Node: far quicker than a JS loop.
    return nativeAtob(std);
  } catch {
    return undefined;
  }
}

/**
 * Decode base64 or base64url (padding optional, no whitespace). Returns
 * undefined for malformed input.
 */
export function base64Decode(s) {
  const bin = binaryOf(s);
  if (bin !== undefined) {
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  if (nativeAtob !== null || !B64_CHARS.test(s)) return undefined;
  // No atob: decode in JS.
  let n = s.length;
  while (n > 0 && s.charCodeAt(n - 1) === 61) n--;
  if (n % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((n * 3) / 4));
  let p = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? DECODE[c] : -1;
    if (v < 0) return undefined;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[p++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, p);
}

/** Base64/base64url-decode to UTF-8 text (strict), or undefined. */
export function base64UrlDecodeText(s) {
  const bin = binaryOf(s);
  // ASCII (JSON of a JWT, mostly): the binary string is the text.
  if (bin !== undefined && !NON_ASCII.test(bin)) return bin;
  const b = base64Decode(s);
  return b === undefined ? undefined : decodeUtf8(b, true);
}

/** Lower-case hex of `data`. */
export function toHex(data) {
  const b = bytesOf(data);
  let s = "";
  for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16);
  return s;
}
