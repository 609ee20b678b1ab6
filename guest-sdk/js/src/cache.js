// Control of the HTTP cache in the chain (the WIT `cache` interface).
//
// A plugin knows what the URL and the response's fields do not: the tenant
// behind a token, that a page is personal, how long a product page may be
// served. It tells the cache here, for the request its hook is serving:
// addKey splits the cache key by a value, bypass keeps the request away from
// the cache (no lookup, no store), setTtl overrides how long the response is
// fresh, addSurrogateKeys tags the stored response for purge by key.
//
// addKey and bypass count in onRequest only (the lookup has happened by the
// response phase); setTtl and addSurrogateKeys in either hook, since the
// cache reads them when it stores. Anywhere else (the constructor) a call
// throws CacheError "wrong-phase". A refused call records nothing. Limits
// hold per request, all links together (LIMITS below). When a hook throws,
// its cache calls are undone with its other effects.
//
// The rules below are the host's (edgechain_wire::cache), held to
// wire/vectors.json; the test harness applies them, and a plugin may check
// its config with them.

import { host } from "./sys.js";
import { encodeUtf8 } from "./utf8.js";

/** The host's limits: per request (counts, all links together) and per input. */
export const LIMITS = Object.freeze({
  maxKeyParts: 16,
  maxKeyPartBytes: 256,
  maxTtlSeconds: 365 * 24 * 60 * 60,
  maxSurrogateKeys: 64,
  maxSurrogateKeyBytes: 256,
});

/** A cache call the host refused (the WIT `cache-error`); nothing was recorded. */
export class CacheError extends Error {
  /**
   * @param {"wrong-phase"|"invalid"} kind
   * @param {string} [detail]
   */
  constructor(kind, detail) {
    super(
      kind === "wrong-phase"
        ? "cache call in a hook where it cannot take effect"
        : `cache call refused: ${detail ?? "invalid"}`,
    );
    this.name = "CacheError";
    /** "wrong-phase" or "invalid". */
    this.kind = kind;
    /** The host's reason, for "invalid". */
    this.detail = detail;
  }
}

function errorOf(e) {
  // Engines surface a WIT `result` error as an exception carrying the payload.
  const payload = e && typeof e === "object" && "payload" in e ? e.payload : e;
  if (payload && typeof payload === "object" && typeof payload.tag === "string") {
    return new CacheError(payload.tag, typeof payload.val === "string" ? payload.val : undefined);
  }
  return new CacheError("invalid", e instanceof Error ? e.message : String(payload));
}

function call(what, f) {
  const h = host(what);
  try {
    return f(h.cache);
  } catch (e) {
    throw errorOf(e);
  }
}

/**
 * Append `part` to this request's cache key (after scheme, host and the
 * normalised target), so the URL is stored once per value. Parts keep their
 * call order; "" counts. onRequest only. Throws CacheError.
 * @param {string} part
 */
export function addKey(part) {
  if (typeof part !== "string") throw new TypeError(`a key part must be a string, not ${typeof part}`);
  call("cache.addKey()", (c) => c.addKey(part));
}

/**
 * Neither look this request up nor store its response: it goes to the next
 * hop as if there were no cache. onRequest only (in onResponse, set
 * `cache-control: no-store` or `private` on the response). Throws CacheError.
 */
export function bypass() {
  call("cache.bypass()", (c) => c.bypass());
}

/**
 * Store the response as fresh for `seconds` (whole seconds, rounded down)
 * whatever its fields say; 0 stores it stale, revalidated before each use.
 * The latest call of the request wins. Either hook. Throws CacheError.
 * @param {number} seconds
 */
export function setTtl(seconds) {
  if (typeof seconds !== "number" || !(seconds >= 0)) {
    throw new TypeError(`a ttl must be a non-negative number of seconds, not ${seconds}`);
  }
  const whole = Math.min(Math.floor(seconds), 0xffffffff);
  call("cache.setTtl()", (c) => c.setTtl(whole));
}

/**
 * Tag the stored response with surrogate keys (strings, or arrays of them),
 * so an operator can purge everything tagged `product-42` at once. A key
 * added already is not added again; all or nothing. Either hook. Throws
 * CacheError.
 * @param {...(string|string[])} keys
 */
export function addSurrogateKeys(...keys) {
  const list = keys.flat();
  for (const k of list) if (typeof k !== "string") throw new TypeError(`a surrogate key must be a string, not ${typeof k}`);
  call("cache.addSurrogateKeys()", (c) => c.addSurrogateKeys(list));
}

// The host's rules, one input at a time: each returns undefined when the
// host accepts the input, else [code, message] (codes as vectors.json).

const PHASES = { outside: "outside a request hook (in `init`)", request: "in `on-request`", response: "in `on-response` (the lookup has happened)" };
const REQUEST_ONLY = ["add-key", "bypass"];

/** Whether WIT call `name` (`add-key`, ...) counts in `phase` ("outside", "request", "response"). */
export function checkPhase(name, phase) {
  const ok = REQUEST_ONLY.includes(name) ? phase === "request" : phase !== "outside";
  return ok ? undefined : ["wrong-phase", `\`${name}\` cannot take effect ${PHASES[phase] ?? phase}`];
}

/** Whether `part` may be a key part (at most 256 bytes, no control characters). */
export function checkKeyPart(part) {
  const n = encodeUtf8(part).length;
  if (n > LIMITS.maxKeyPartBytes) return ["too-long", `key part of ${n} bytes is over the limit of ${LIMITS.maxKeyPartBytes}`];
  if (/[\u0000-\u001f\u007f-\u009f]/.test(part)) return ["control", "key part has a control character"];
  return undefined;
}

/** Whether `seconds` may be a TTL (0 to 365 days). */
export function checkTtl(seconds) {
  if (seconds > LIMITS.maxTtlSeconds) return ["too-long", `ttl of ${seconds} s is over the limit of ${LIMITS.maxTtlSeconds} s (365 days)`];
  return undefined;
}

/** Whether `key` may be a surrogate key: 1 to 256 bytes of visible ASCII other than `,`. */
export function checkSurrogateKey(key) {
  if (key === "") return ["empty", "surrogate key is empty"];
  const n = encodeUtf8(key).length;
  if (n > LIMITS.maxSurrogateKeyBytes) return ["too-long", `surrogate key of ${n} bytes is over the limit of ${LIMITS.maxSurrogateKeyBytes}`];
  if (!/^[\x21-\x2b\x2d-\x7e]+$/.test(key)) {
    return ["byte", "surrogate key has a byte other than visible ASCII, or a `,` (whitespace, commas and control characters separate keys in headers)"];
  }
  return undefined;
}
