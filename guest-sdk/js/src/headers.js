// Case-insensitive header lists over the packed block (the JS twin of the
// Rust SDK's `HeaderList`).
//
// Headers arrive from the host packed in one buffer, and here they stay
// packed: reads scan the buffer in place, and a change builds the next
// buffer by copying the untouched fields' byte ranges (no per-field strings
// or allocations, which cost more than the copying in an interpreter). A
// list that was never changed hands the very same bytes back, so the host
// sees at a glance (a memcmp) that nothing changed.

import { decodeUtf8, encodeUtf8 } from "./utf8.js";
import { asciiOf, encodeFields, findField, walkFields } from "./wire.js";

const UPPER = /[A-Z]/;
const UPPER_G = /[A-Z]/g;
const EMPTY = new Uint8Array(0);

/** ASCII lower case (other characters untouched), like Rust's `to_ascii_lowercase`. */
export function lowerAscii(s) {
  return UPPER.test(s) ? s.replace(UPPER_G, (c) => String.fromCharCode(c.charCodeAt(0) + 32)) : s;
}

/**
 * The headers the host owns (hop-by-hop fields, `host`, and the framing ones):
 * a plugin never sees them, and a decision that sets one fails the link. The
 * host's list (`edgechain-wire`'s `managed` module).
 */
export const MANAGED_HEADERS = Object.freeze([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "proxy-authenticate",
  "proxy-authorization",
  "host",
  "content-length",
  "expect",
]);

const MANAGED = new Set(MANAGED_HEADERS);

/** Whether the host owns header `name` (any case): plugins may not set it. */
export function isManagedHeader(name) {
  return MANAGED.has(lowerAscii(String(name)));
}

function toBytes(value) {
  if (typeof value === "string") return encodeUtf8(value);
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") {
    return encodeUtf8(String(value));
  }
  throw new TypeError(`a header value must be a string or bytes, not ${value === null ? "null" : typeof value}`);
}

function checkName(name) {
  if (typeof name !== "string") {
    throw new TypeError(`a header name must be a string, not ${name === null ? "null" : typeof name}`);
  }
  return lowerAscii(name);
}

/** Bytes as a view of the same memory, whatever typed array the engine handed over. */
export function asU8(bytes) {
  if (bytes instanceof Uint8Array) return bytes;
  if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  return Uint8Array.from(bytes);
}

/**
 * `block` without the fields named `drop` (lower-case; null drops nothing),
 * plus one field `[name, valueBytes]` at the end when `add` is given.
 * Untouched fields are copied as byte ranges.
 */
function rebuild(block, drop, add) {
  const ranges = [];
  let kept = 0;
  if (drop === null) {
    kept = validEnd(block);
    if (kept > 0) ranges.push(0, kept);
  } else {
    let runStart = 0;
    let f = findField(block, drop);
    while (f !== null) {
      const fieldStart = f[3];
      if (fieldStart > runStart) {
        ranges.push(runStart, fieldStart);
        kept += fieldStart - runStart;
      }
      runStart = f[2];
      f = findField(block, drop, runStart);
    }
    const end = validEnd(block);
    if (end > runStart) {
      ranges.push(runStart, end);
      kept += end - runStart;
    }
  }
  let extra = null;
  let size = kept;
  if (add !== null) {
    extra = encodeFields([add]);
    size += extra.length;
  }
  const out = new Uint8Array(size);
  let p = 0;
  for (let i = 0; i < ranges.length; i += 2) {
    out.set(block.subarray(ranges[i], ranges[i + 1]), p);
    p += ranges[i + 1] - ranges[i];
  }
  if (extra !== null) out.set(extra, p);
  return out;
}

/** The end of the well-formed fields of `block` (a malformed tail is dropped on rebuild). */
function validEnd(block) {
  let end = 0;
  walkFields(block, (_ns, _ne, _vs, ve) => {
    end = ve;
    return false;
  });
  return end;
}

/**
 * HTTP header fields in order; names are stored lower-case and may repeat.
 * Lookups ignore case. Values are bytes (HTTP allows non-UTF-8 octets): the
 * plain getters return UTF-8 text, the `*Bytes` getters the raw bytes.
 */
export class HeaderList {
  /**
   * @param {Iterable<[string, string|Uint8Array]> | Record<string, string|string[]>} [fields]
   *   pairs in order, or an object (arrays give repeated fields).
   */
  constructor(fields) {
    /** @type {Uint8Array} the packed block */
    this._block = EMPTY;
    /** Whether the block is the one received (never changed). */
    this._received = false;
    if (fields == null) return;
    const pairs = [];
    if (typeof fields[Symbol.iterator] === "function") {
      for (const [n, v] of fields) pairs.push([checkName(n), toBytes(v)]);
    } else if (typeof fields === "object") {
      for (const n of Object.keys(fields)) {
        const v = fields[n];
        if (Array.isArray(v)) for (const x of v) pairs.push([checkName(n), toBytes(x)]);
        else pairs.push([checkName(n), toBytes(v)]);
      }
    } else {
      throw new TypeError("HeaderList: expected pairs or an object");
    }
    this._block = encodeFields(pairs);
  }

  /** A list reading the packed `block` in place (the host's encoding). */
  static fromPacked(block) {
    const h = new HeaderList();
    h._block = asU8(block);
    h._received = true;
    return h;
  }

  /**
   * The packed block: the very bytes received when nothing changed (so the
   * host's unchanged check is one comparison), else the edited copy.
   */
  toPacked() {
    return this._block;
  }

  /** Whether this is still the untouched block it was received as. */
  get unchanged() {
    return this._received;
  }

  /** The first value of `name` as bytes, or undefined. */
  getBytes(name) {
    const f = findField(this._block, lowerAscii(name));
    return f === null ? undefined : this._block.subarray(f[0], f[1]);
  }

  /**
   * The first value of `name` as UTF-8 text; undefined when absent or when
   * the value is not valid UTF-8 (use `getBytes` for those).
   */
  get(name) {
    const block = this._block;
    const f = findField(block, lowerAscii(name));
    return f === null ? undefined : decodeUtf8(block, true, f[0], f[1]);
  }

  /** Every value of `name` as bytes, in order. */
  getAllBytes(name) {
    const lower = lowerAscii(name);
    const block = this._block;
    const out = [];
    for (let f = findField(block, lower); f !== null; f = findField(block, lower, f[2])) out.push(block.subarray(f[0], f[1]));
    return out;
  }

  /** Every UTF-8 value of `name`, in order (non-UTF-8 values are skipped). */
  getAll(name) {
    const lower = lowerAscii(name);
    const block = this._block;
    const out = [];
    for (let f = findField(block, lower); f !== null; f = findField(block, lower, f[2])) {
      const s = decodeUtf8(block, true, f[0], f[1]);
      if (s !== undefined) out.push(s);
    }
    return out;
  }

  /** Whether `name` is present. */
  has(name) {
    return findField(this._block, lowerAscii(name)) !== null;
  }

  /** Replace every value of `name` with `value`. */
  set(name, value) {
    const lower = checkName(name);
    this._block = rebuild(this._block, lower, [lower, toBytes(value)]);
    this._received = false;
    return this;
  }

  /** Add a value for `name`, keeping existing ones. */
  append(name, value) {
    const lower = checkName(name);
    this._block = rebuild(this._block, null, [lower, toBytes(value)]);
    this._received = false;
    return this;
  }

  /** Remove every value of `name`; returns how many were removed. An absent name leaves the block untouched. */
  remove(name) {
    const lower = lowerAscii(name);
    const n = this.getAllBytes(lower).length;
    if (n === 0) return 0;
    this._block = rebuild(this._block, lower, null);
    this._received = false;
    return n;
  }

  /** `[name, bytes]` pairs in order. */
  entriesBytes() {
    const block = this._block;
    const out = [];
    walkFields(block, (ns, ne, vs, ve) => {
      out.push([asciiOf(block, ns, ne), block.subarray(vs, ve)]);
      return false;
    });
    return out[Symbol.iterator]();
  }

  /** `[name, text]` pairs in order (invalid UTF-8 is replaced with U+FFFD). */
  entries() {
    const out = [];
    for (const [n, v] of this.entriesBytes()) out.push([n, decodeUtf8(v, false)]);
    return out[Symbol.iterator]();
  }

  [Symbol.iterator]() {
    return this.entries();
  }

  /** The names present, in order of first appearance. */
  names() {
    const seen = new Set();
    for (const [n] of this.entriesBytes()) seen.add(n);
    return [...seen];
  }

  /** Number of fields (a repeated name counts once per value). */
  get size() {
    let n = 0;
    walkFields(this._block, () => {
      n++;
      return false;
    });
    return n;
  }

  /** Whether there are no fields. */
  isEmpty() {
    return this.size === 0;
  }

  /** A plain object: name -> first value (text); handy in tests and logs. */
  toObject() {
    const o = {};
    for (const [n, v] of this.entries()) if (!(n in o)) o[n] = v;
    return o;
  }

  /** An independent copy (blocks are never mutated in place, so it shares the bytes). */
  clone() {
    const h = new HeaderList();
    h._block = this._block;
    h._received = this._received;
    return h;
  }

  /** Same fields in the same order. */
  equals(other) {
    const a = this._block;
    const b = other._block;
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  toJSON() {
    return [...this.entries()];
  }
}

export { toBytes };
