// The normalised request path plugins match on: a port of wire/src/path.rs,
// which the host uses to compute `request.normalized-path`. Both sides must
// agree byte for byte; test/wire-vectors.test.js checks this port against
// wire/vectors.json, the verdicts the Rust and Python suites check too.

import { decodeUtf8, encodeUtf8 } from "./utf8.js";

/** Why a path cannot be normalised (the host answers such requests 400). */
export class PathError extends Error {
  /** @param {"not-absolute"|"bad-escape"|"nul"|"backslash"|"above-root"} code */
  constructor(code) {
    super(
      {
        "not-absolute": "path does not start with `/`",
        "bad-escape": "invalid percent-encoding in path",
        nul: "encoded NUL in path",
        backslash: "backslash in path",
        "above-root": "`..` above the root in path",
      }[code],
    );
    this.name = "PathError";
    this.code = code;
  }
}

/**
 * Whether the path part of `pathWithQuery` holds an encoded `/` (`%2F`),
 * which the host refuses by default (`--escaped-slashes reject`): an origin
 * that decodes it would read a different path than the one plugins matched.
 */
export function hasEscapedSlash(pathWithQuery) {
  return /%2f/i.test(pathOf(pathWithQuery));
}

/** The path part (before any `?`) of an origin-form target. */
export function pathOf(pathWithQuery) {
  const q = pathWithQuery.indexOf("?");
  return q < 0 ? pathWithQuery : pathWithQuery.slice(0, q);
}

function hexValue(b) {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10;
  if (b >= 0x41 && b <= 0x46) return b - 0x41 + 10;
  return -1;
}

function unreserved(b) {
  return (
    (b >= 0x30 && b <= 0x39) ||
    (b >= 0x41 && b <= 0x5a) ||
    (b >= 0x61 && b <= 0x7a) ||
    b === 0x2d ||
    b === 0x2e ||
    b === 0x5f ||
    b === 0x7e
  );
}

const HEX = "0123456789ABCDEF";

/**
 * Normalise `path` (no query) by the host's rules: encoded unreserved
 * characters decoded, other escapes upper-cased, non-visible bytes escaped,
 * backslashes refused, runs of `/` merged, `.`/`..` removed (a `..` above the
 * root is refused). Throws PathError.
 */
export function normalizePath(path) {
  if (path.charCodeAt(0) !== 0x2f) throw new PathError("not-absolute");
  // Fast path: plain visible ASCII with no escapes, dots, double slashes or backslashes.
  let simple = true;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c < 0x21 || c > 0x7e || c === 0x25 || c === 0x5c || (c === 0x2f && (path.charCodeAt(i + 1) === 0x2f || path.charCodeAt(i + 1) === 0x2e))) {
      simple = false;
      break;
    }
  }
  if (simple) return path;

  const raw = encodeUtf8(path);
  // Steps 1-3: one canonical spelling of every byte (as a string of ASCII).
  let decoded = "";
  for (let i = 0; i < raw.length; ) {
    const b = raw[i];
    if (b === 0x25) {
      const hi = i + 1 < raw.length ? hexValue(raw[i + 1]) : -1;
      const lo = i + 2 < raw.length ? hexValue(raw[i + 2]) : -1;
      if (hi < 0 || lo < 0) throw new PathError("bad-escape");
      const byte = (hi << 4) | lo;
      if (byte === 0) throw new PathError("nul");
      if (byte === 0x5c) throw new PathError("backslash");
      if (unreserved(byte)) decoded += String.fromCharCode(byte);
      else decoded += "%" + HEX[byte >> 4] + HEX[byte & 15];
      i += 3;
      continue;
    }
    if (b === 0x5c) throw new PathError("backslash");
    if (b >= 0x21 && b <= 0x7e) decoded += String.fromCharCode(b);
    else decoded += "%" + HEX[b >> 4] + HEX[b & 15];
    i += 1;
  }
  // Steps 4-5: segments, with empty ones (merged slashes) and dots removed.
  const trailing = decoded.endsWith("/") || decoded.endsWith("/.") || decoded.endsWith("/..");
  const segments = [];
  for (const segment of decoded.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      if (segments.length === 0) throw new PathError("above-root");
      segments.pop();
      continue;
    }
    segments.push(segment);
  }
  let out = "";
  for (const s of segments) out += "/" + s;
  if (segments.length === 0 || trailing) out += "/";
  return out;
}

/**
 * The normalised path of a target the plugin (or a test) wrote. A target the
 * host would refuse keeps its raw path: plugin rewrites are trusted, and the
 * host validates them when the link returns.
 */
export function normalizeOrRaw(pathWithQuery) {
  const path = pathOf(pathWithQuery);
  try {
    return normalizePath(path);
  } catch {
    return path;
  }
}

/** Decode `%XX` escapes and `+` (as a space); invalid escapes are kept as they are. */
export function percentDecode(s) {
  if (s.indexOf("%") < 0 && s.indexOf("+") < 0) return s;
  const bytes = encodeUtf8(s);
  const out = new Uint8Array(bytes.length);
  let p = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x2b) {
      out[p++] = 0x20;
    } else if (b === 0x25 && i + 2 < bytes.length) {
      const h = hexValue(bytes[i + 1]);
      const l = hexValue(bytes[i + 2]);
      if (h >= 0 && l >= 0) {
        out[p++] = (h << 4) | l;
        i += 2;
      } else {
        out[p++] = 0x25;
      }
    } else {
      out[p++] = b;
    }
  }
  return decodeLossy(out.subarray(0, p));
}

function decodeLossy(bytes) {
  return decodeUtf8(bytes, false);
}

const KEEP = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;

/** Percent-encode `s` for use in a path (keeps `/` and sub-delims). */
export function encodePathSegment(s) {
  if (KEEP.test(s) && s.indexOf("%") < 0) return s;
  const bytes = encodeUtf8(s);
  let out = "";
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += b < 0x80 && /[A-Za-z0-9\-._~!$&'()*+,;=:@/]/.test(c) ? c : "%" + HEX[b >> 4] + HEX[b & 15];
  }
  return out;
}

/** Percent-encode `s` for a query component (form style: space stays %20). */
export function encodeQueryComponent(s) {
  const bytes = encodeUtf8(String(s));
  let out = "";
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += b < 0x80 && /[A-Za-z0-9\-._~]/.test(c) ? c : "%" + HEX[b >> 4] + HEX[b & 15];
  }
  return out;
}
