// The host's rules for what a plugin hands back (a port of
// edgechain_wire::decision, which the host calls): the test harness applies
// them to every decision so that a plugin test fails where the host would
// fail the link. test/wire-vectors.test.js holds the port to
// wire/vectors.json, the verdicts the host's and the Python suites check too.

import { isManagedHeader } from "./headers.js";
import { PathError, hasEscapedSlash, normalizePath } from "./path.js";
import { walkFields, asciiOf } from "./wire.js";

/** A decision the host would refuse (the link fails; its `on_error` policy applies). */
export class InvalidDecision extends Error {
  constructor(message) {
    super(message);
    this.name = "InvalidDecision";
  }
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-zA-Z]+$/;

function quote(s) {
  const text = String(s);
  return text.length > 128 ? `${text.slice(0, 128)}…` : text;
}

/** Throw InvalidDecision for a packed header block the host would refuse. */
export function checkHeaders(block) {
  let failure = null;
  let end = 0;
  walkFields(block, (ns, ne, vs, ve) => {
    end = ve;
    const name = asciiOf(block, ns, ne);
    if (!TOKEN.test(name)) {
      failure = `invalid header name \`${quote(name)}\``;
    } else if (isManagedHeader(name)) {
      failure = `header \`${name}\` is managed by the host and may not be set by a plugin`;
    } else {
      for (let i = vs; i < ve; i++) {
        const b = block[i];
        if ((b < 0x20 && b !== 0x09) || b === 0x7f) {
          failure = `invalid value for header \`${name}\``;
          break;
        }
      }
    }
    return failure !== null;
  });
  if (failure !== null) throw new InvalidDecision(failure);
  if (end !== block.length) throw new InvalidDecision("malformed header block");
}

/** The part of a target the host forwards (it drops a `#fragment`). */
function withoutFragment(target) {
  const i = target.indexOf("#");
  return i < 0 ? target : target.slice(0, i);
}

/**
 * The host parses an authority as a URI authority (URI characters only, at
 * most one `:` outside one `[...]`, `%` only inside brackets) and refuses
 * userinfo; empty keeps the request's `Host`. As `edgechain_wire::decision`.
 */
function checkAuthority(authority) {
  if (authority === "") return;
  const bad = () => new InvalidDecision(`invalid authority \`${quote(authority)}\``);
  if (typeof authority !== "string") throw bad();
  let colons = 0;
  let percent = false;
  let open = false;
  let close = false;
  for (const ch of authority) {
    if (ch === "%") percent = true;
    else if (ch === ":") colons++;
    else if (ch === "[") {
      if (percent || open) throw bad();
      open = true;
    } else if (ch === "]") {
      if (!open || close) throw bad();
      close = true;
      colons = 0;
      percent = false;
    } else if (!/^[A-Za-z0-9!$&'()*+,\-.;=_~]$/.test(ch)) throw bad();
  }
  if (open !== close || colons > 1 || percent) throw bad();
  // A port, as for a client's `Host`: digits of a number that fits 16 bits.
  const close_ = authority.lastIndexOf("]");
  const afterHost = close_ < 0 ? authority : authority.slice(close_ + 1);
  const colon = afterHost.indexOf(":");
  if (colon >= 0) {
    const port = afterHost.slice(colon + 1);
    if (!/^[0-9]+$/.test(port) || Number(port) > 65535) throw bad();
  }
}

/** Methods the host never forwards (CONNECT tunnels anywhere, TRACE reflects credentials). */
const NOT_FORWARDED = new Set(["CONNECT", "TRACE"]);

/** Throw InvalidDecision for a request (its raw WIT form) the host would refuse to pass on. */
export function checkRawRequest(raw) {
  if (typeof raw.method !== "string" || !TOKEN.test(raw.method)) {
    throw new InvalidDecision(`invalid method \`${quote(raw.method)}\``);
  }
  if (NOT_FORWARDED.has(raw.method)) {
    throw new InvalidDecision(`method \`${raw.method}\` is never forwarded`);
  }
  const target = raw.pathWithQuery;
  const badPath = (why) =>
    new InvalidDecision(`invalid path \`${quote(target)}\`: ${why ?? "must be origin-form, starting with \`/\`"}`);
  if (typeof target !== "string" || !target.startsWith("/")) throw badPath();
  const sent = withoutFragment(target);
  const q = sent.indexOf("?");
  const path = q < 0 ? sent : sent.slice(0, q);
  const query = q < 0 ? "" : sent.slice(q + 1);
  // What the host's URI parser takes unescaped (as `edgechain_wire::decision`).
  // ASCII only: other bytes must be percent-encoded, as a client sends them.
  const control = (c) => c <= 0x20 || c >= 0x7f;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (control(c) || c === 0x3c || c === 0x3e || c === 0x60) throw badPath("spaces, control characters, non-ASCII, <, > and ` must be percent-encoded");
  }
  for (let i = 0; i < query.length; i++) {
    const c = query.charCodeAt(i);
    if (control(c) || c === 0x22 || c === 0x3c || c === 0x3e) throw badPath('spaces, control characters, non-ASCII, ", < and > must be percent-encoded in the query');
  }
  if (hasEscapedSlash(path)) {
    throw badPath("an encoded `/` (%2F) is refused by the host's default (--escaped-slashes reject); write `/` for a separator");
  }
  try {
    normalizePath(path);
  } catch (e) {
    if (e instanceof PathError) throw badPath(e.message);
    throw e;
  }
  checkAuthority(raw.authority);
  checkHeaders(raw.headers);
}

/**
 * Throw InvalidDecision for a response (its raw WIT form) the host would
 * refuse. A rewritten response that keeps `givenStatus` (the next hop's, a
 * 101 included) has only its headers checked.
 */
export function checkRawResponse(raw, givenStatus) {
  const kept = givenStatus !== undefined && raw.status === givenStatus;
  if (!kept && (!Number.isInteger(raw.status) || raw.status < 200 || raw.status > 599)) {
    throw new InvalidDecision(`status ${quote(raw.status)} is not in 200..=599`);
  }
  checkHeaders(raw.headers);
}
