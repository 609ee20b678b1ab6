// The plugin's private key-value store (the WIT `kv` interface): entries live
// in the host process, shared by every instance of this plugin (link name)
// and invisible to other plugins. Use it for counters and small caches.

import { asU8, toBytes } from "./headers.js";
import { host } from "./sys.js";
import { decodeUtf8 } from "./utf8.js";

/** A store operation the host refused (value too large, store full, not an integer, overflow). */
export class KvError extends Error {
  constructor(message) {
    super(message);
    this.name = "KvError";
  }
}

function errorOf(e) {
  // Engines surface a WIT `result` error as an exception carrying the payload.
  const payload = e && typeof e === "object" && "payload" in e ? e.payload : e;
  return new KvError(typeof payload === "string" ? payload : e instanceof Error ? e.message : String(payload));
}

function ttl(ttlMs) {
  if (ttlMs === undefined || ttlMs === null) return null;
  if (typeof ttlMs !== "number" || !(ttlMs >= 0)) throw new TypeError(`ttlMs must be a non-negative number of milliseconds, not ${ttlMs}`);
  return Math.min(Math.floor(ttlMs), Number.MAX_SAFE_INTEGER);
}

/** The value under `key` as bytes, or undefined if absent or expired. */
export function get(key) {
  const v = host("kv.get()").kv.get(key);
  return v == null ? undefined : asU8(v);
}

/** The value under `key` as UTF-8 text, or undefined. */
export function getText(key) {
  const v = get(key);
  return v === undefined ? undefined : decodeUtf8(v, false);
}

/** The value under `key` parsed as JSON, or undefined (throws on bad JSON). */
export function getJson(key) {
  const v = getText(key);
  return v === undefined ? undefined : JSON.parse(v);
}

/**
 * Store `value` (text or bytes) under `key`, replacing any previous value,
 * expiring after `ttlMs` milliseconds if given. Throws KvError when the host
 * refuses (key or value over its size limit, store full).
 */
export function set(key, value, ttlMs) {
  const h = host("kv.set()");
  try {
    h.kv.set(key, toBytes(value), ttl(ttlMs));
  } catch (e) {
    throw errorOf(e);
  }
}

/** Store `JSON.stringify(value)` under `key` (see `set`). */
export function setJson(key, value, ttlMs) {
  set(key, JSON.stringify(value), ttlMs);
}

/**
 * Atomically add `delta` (default 1) to the integer under `key` and return
 * the new value. An absent or expired key counts as 0 and is created with
 * `ttlMs`; an existing key keeps its expiry. Throws KvError if the value is
 * not an integer or on overflow. (QuickJS passes 64-bit integers as numbers:
 * exact up to 2^53.)
 */
export function increment(key, delta = 1, ttlMs) {
  const h = host("kv.increment()");
  if (!Number.isSafeInteger(delta)) throw new TypeError(`delta must be a safe integer, not ${delta}`);
  try {
    return Number(h.kv.increment(key, delta, ttl(ttlMs)));
  } catch (e) {
    throw errorOf(e);
  }
}

/** Remove `key`; returns whether it was present. */
function del(key) {
  return host("kv.delete()").kv.delete(key);
}
export { del as delete, del as remove };
