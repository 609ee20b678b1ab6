// UTF-8 without TextEncoder/TextDecoder: QuickJS has neither, and header
// values are short enough that a hand-written loop with an ASCII fast path
// is as quick as the engine's own (measured on QuickJS).

const CHUNK = 0x2000;

/** Encode `s` as UTF-8 (lone surrogates become U+FFFD, as TextEncoder does). */
export function encodeUtf8(s) {
  const n = s.length;
  let i = 0;
  // ASCII fast path: one byte per code unit.
  for (; i < n; i++) {
    if (s.charCodeAt(i) > 0x7f) break;
  }
  if (i === n) {
    const out = new Uint8Array(n);
    for (let j = 0; j < n; j++) out[j] = s.charCodeAt(j);
    return out;
  }
  const out = new Uint8Array(n * 3);
  let p = 0;
  for (let j = 0; j < i; j++) out[p++] = s.charCodeAt(j);
  for (; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out[p++] = c;
    } else if (c < 0x800) {
      out[p++] = 0xc0 | (c >> 6);
      out[p++] = 0x80 | (c & 63);
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        out[p++] = 0xf0 | (c >> 18);
        out[p++] = 0x80 | ((c >> 12) & 63);
        out[p++] = 0x80 | ((c >> 6) & 63);
        out[p++] = 0x80 | (c & 63);
      } else {
        out[p++] = 0xef;
        out[p++] = 0xbf;
        out[p++] = 0xbd;
      }
    } else {
      out[p++] = 0xe0 | (c >> 12);
      out[p++] = 0x80 | ((c >> 6) & 63);
      out[p++] = 0x80 | (c & 63);
    }
  }
  return out.subarray(0, p);
}

function ascii(bytes, start, end) {
  let s = "";
  for (let i = start; i < end; i += CHUNK) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(i + CHUNK, end)));
  }
  return s;
}

/**
 * Decode UTF-8 `bytes[start, end)`. With `fatal`, invalid UTF-8 returns
 * `undefined`; otherwise each bad sequence becomes U+FFFD (like TextDecoder).
 */
const NON_ASCII = /[\x80-\xff]/;

export function decodeUtf8(bytes, fatal = false, start = 0, end = bytes.length) {
  if (end - start <= CHUNK) {
    // One native call, then one native scan: in an interpreter both beat a
    // byte loop. Only text with non-ASCII bytes takes the decoder below.
    const s = String.fromCharCode.apply(null, bytes.subarray(start, end));
    if (!NON_ASCII.test(s)) return s;
  }
  let i = start;
  for (; i < end; i++) {
    if (bytes[i] > 0x7f) break;
  }
  if (i === end) return ascii(bytes, start, end);
  const units = [];
  let s = ascii(bytes, start, i);
  while (i < end) {
    const b = bytes[i];
    let cp = -1;
    let need = 0;
    if (b < 0x80) {
      cp = b;
    } else if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      cp = b & 0x0f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      cp = b & 0x07;
    }
    let ok = cp >= 0;
    let k = 1;
    if (ok && need > 0) {
      // The second byte's range depends on the first (no overlongs, no
      // surrogates, nothing above U+10FFFF).
      const lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
      const hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
      for (; k <= need; k++) {
        const c = i + k < end ? bytes[i + k] : -1;
        if (c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) {
          ok = false;
          break;
        }
        cp = (cp << 6) | (c & 0x3f);
      }
    }
    if (!ok) {
      if (fatal) return undefined;
      units.push(0xfffd);
      // Skip the maximal invalid subpart (the lead byte and any valid
      // continuation bytes before the bad one), as TextDecoder does.
      i += k;
    } else {
      if (cp >= 0x10000) {
        cp -= 0x10000;
        units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
      } else {
        units.push(cp);
      }
      i += need + 1;
    }
    if (units.length >= CHUNK) {
      s += String.fromCharCode.apply(null, units);
      units.length = 0;
    }
  }
  return s + String.fromCharCode.apply(null, units);
}

/** A minimal WHATWG TextEncoder (UTF-8 only). */
export class TextEncoderPolyfill {
  get encoding() {
    return "utf-8";
  }
  encode(input = "") {
    return encodeUtf8(String(input));
  }
  encodeInto(input, dest) {
    const bytes = encodeUtf8(String(input));
    // Only whole characters are written: back off to a code point boundary.
    let n = Math.min(bytes.length, dest.length);
    while (n > 0 && n < bytes.length && (bytes[n] & 0xc0) === 0x80) n--;
    dest.set(bytes.subarray(0, n));
    const read = decodeUtf8(bytes, false, 0, n).length;
    return { read, written: n };
  }
}

/** A minimal WHATWG TextDecoder (UTF-8 only, no streaming). */
export class TextDecoderPolyfill {
  constructor(label = "utf-8", options = {}) {
    const l = String(label).toLowerCase();
    if (l !== "utf-8" && l !== "utf8" && l !== "unicode-1-1-utf-8") {
      throw new RangeError(`TextDecoder: only utf-8 is supported here, not ${label}`);
    }
    this.fatal = !!options.fatal;
    this.ignoreBOM = !!options.ignoreBOM;
  }
  get encoding() {
    return "utf-8";
  }
  decode(input, options) {
    if (options && options.stream) {
      throw new TypeError("TextDecoder: streaming decode is not supported here");
    }
    if (input === undefined) return "";
    let bytes;
    if (input instanceof Uint8Array) bytes = input;
    else if (ArrayBuffer.isView(input)) bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    else bytes = new Uint8Array(input);
    let start = 0;
    if (!this.ignoreBOM && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
    const s = decodeUtf8(bytes, this.fatal, start, bytes.length);
    if (s === undefined) throw new TypeError("The encoded data was not valid for encoding utf-8");
    return s;
  }
}
