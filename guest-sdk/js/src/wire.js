// The packed header block of the WIT `headers` type (see wire/src/lib.rs):
// each field is name length (u32 LE), name bytes, value length (u32 LE),
// value bytes.

import { encodeUtf8 } from "./utf8.js";

function isAscii(s) {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Encode `[name, value]` pairs (strings or bytes) as one block. */
export function encodeFields(fields) {
  const count = fields.length;
  const parts = new Array(count * 2);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const f = fields[i];
    const name = f[0];
    const value = f[1];
    // Names are ASCII in practice: written char by char below, no temporary bytes.
    const n = typeof name === "string" ? (isAscii(name) ? name : encodeUtf8(name)) : name;
    const v = typeof value === "string" ? encodeUtf8(value) : value;
    parts[2 * i] = n;
    parts[2 * i + 1] = v;
    total += 8 + n.length + v.length;
  }
  const block = new Uint8Array(total);
  let p = 0;
  for (let k = 0; k < parts.length; k++) {
    const part = parts[k];
    const len = part.length;
    block[p] = len & 0xff;
    block[p + 1] = (len >>> 8) & 0xff;
    block[p + 2] = (len >>> 16) & 0xff;
    block[p + 3] = (len >>> 24) & 0xff;
    p += 4;
    if (typeof part === "string") {
      for (let j = 0; j < len; j++) block[p + j] = part.charCodeAt(j);
    } else {
      block.set(part, p);
    }
    p += len;
  }
  return block;
}

function u32(block, p) {
  return (block[p] | (block[p + 1] << 8) | (block[p + 2] << 16)) + block[p + 3] * 0x1000000;
}

/**
 * Walk the fields of `block`, calling `f(nameStart, nameEnd, valueStart,
 * valueEnd)` for each; stop early when `f` returns true. Returns the value
 * `f` stopped on (true) or false. A malformed tail ends the walk, as in the
 * Rust decoder.
 */
export function walkFields(block, f) {
  const n = block.length;
  let p = 0;
  while (p + 4 <= n) {
    const nl = u32(block, p);
    const ns = p + 4;
    const ne = ns + nl;
    if (ne + 4 > n) return false;
    const vl = u32(block, ne);
    const vs = ne + 4;
    const ve = vs + vl;
    if (ve > n) return false;
    if (f(ns, ne, vs, ve)) return true;
    p = ve;
  }
  return false;
}

/** Latin-1/ASCII string of `block[start, end)` (header names are ASCII). */
export function asciiOf(block, start, end) {
  return end - start < 1024
    ? String.fromCharCode.apply(null, block.subarray(start, end))
    : Array.from(block.subarray(start, end), (b) => String.fromCharCode(b)).join("");
}

/**
 * The offset of the first field named `lower` (lower-case ASCII) at or after
 * `from`, as [valueStart, valueEnd, nextFieldOffset, fieldStart], or null. One loop, no
 * callbacks: this is the hot path of every header read.
 */
export function findField(block, lower, from = 0) {
  const n = block.length;
  const len = lower.length;
  const c0 = len > 0 ? lower.charCodeAt(0) : 0;
  let p = from;
  while (p + 4 <= n) {
    const nl = block[p] | (block[p + 1] << 8) | (block[p + 2] << 16) | (block[p + 3] << 24);
    const ns = p + 4;
    const ne = ns + nl;
    if (nl < 0 || ne + 4 > n) return null;
    const vl = block[ne] | (block[ne + 1] << 8) | (block[ne + 2] << 16) | (block[ne + 3] << 24);
    const vs = ne + 4;
    const ve = vs + vl;
    if (vl < 0 || ve > n) return null;
    if (nl === len) {
      let b = block[ns];
      if (b >= 0x41 && b <= 0x5a) b += 0x20;
      if (b === c0) {
        let i = 1;
        for (; i < len; i++) {
          b = block[ns + i];
          if (b >= 0x41 && b <= 0x5a) b += 0x20;
          if (b !== lower.charCodeAt(i)) break;
        }
        if (i === len) return [vs, ve, ve, p];
      }
    }
    p = ve;
  }
  return null;
}
