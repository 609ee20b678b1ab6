// Where a link applies: the manifest's `when` and `unless`, a port of
// wire/src/scope.rs (and scope/json.rs), which the host uses to decide, once
// per request before the walk, which links run. test/wire-vectors.test.js
// checks this port against wire/vectors.json, the verdicts the host, the
// Rust SDK and the Python SDK check too.
//
// A rule's conditions must all hold; a list of values means any of them.
// `host` is compared without case, port or trailing dot (`*.example.com` by
// whole labels); `path` is the normalised path (`exact`, `prefix` by whole
// segments, or `glob`: `*` within a segment, `?` one character, `**` as a
// whole segment for any number of segments); `method` exactly; `header`
// present (`true`) or equal to one of the values (any field of a repeated
// header, compared whole). `when` must hold and `unless` must not.

import { isManagedHeader } from "./headers.js";
import { normalizePath, PathError } from "./path.js";
import { encodeUtf8 } from "./utf8.js";

/** A rule refused as `edgechain validate` would refuse it; `at` names the field. */
export class ScopeError extends Error {
  constructor(at, reason) {
    super(`${at}: ${reason}`);
    this.name = "ScopeError";
    this.at = at;
    this.reason = reason;
  }
}

const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STANDARD_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

/** The host of an authority: without a port and one trailing dot, case kept. */
export function hostOf(authority) {
  let host;
  if (authority.startsWith("[")) {
    const end = authority.indexOf("]");
    host = end < 0 ? authority : authority.slice(0, end + 1);
  } else {
    const colon = authority.lastIndexOf(":");
    host = colon < 0 ? authority : authority.slice(0, colon);
  }
  return host.endsWith(".") ? host.slice(0, -1) : host;
}

function lowerAscii(s) {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

function hostPattern(value, at) {
  let folded = lowerAscii(value);
  if (folded.endsWith(".")) folded = folded.slice(0, -1);
  const wildcard = folded.startsWith("*.");
  const name = wildcard ? folded.slice(2) : folded;
  if (name.startsWith("[")) {
    const literal = name.endsWith("]") ? name.slice(1, -1) : null;
    if (wildcard || literal === null || !literal.includes(":") || !/^[0-9a-fA-F:.]*$/.test(literal)) {
      throw new ScopeError(at, `\`${value}\` is not an IPv6 literal such as \`[::1]\``);
    }
    return { suffix: null, exact: name };
  }
  if (name.includes(":")) throw new ScopeError(at, `\`${value}\` has a port; rules ignore ports, so write the host alone`);
  if (name.includes("*")) throw new ScopeError(at, `\`${value}\`: \`*\` may only be a whole first label, as in \`*.example.com\``);
  const ok = name !== "" && name.split(".").every((l) => /^[A-Za-z0-9_-]+$/.test(l));
  if (!ok) throw new ScopeError(at, `\`${value}\` is not a host name`);
  return wildcard ? { suffix: "." + name, exact: null } : { suffix: null, exact: name };
}

function pathPattern(kind, value, at) {
  const never = (why) => {
    throw new ScopeError(at, `\`${value}\` can never match a normalised path: ${why}`);
  };
  if (!value.startsWith("/")) never("it does not start with `/`");
  if (value.includes("#")) never("a path holds no `#`");
  if (kind !== "glob" && value.includes("?")) never("a path holds no `?` (the query is not part of it)");
  if (kind === "glob") {
    for (const segment of value.slice(1).split("/")) {
      if (segment.includes("**") && segment !== "**") {
        throw new ScopeError(at, `\`${value}\`: \`**\` must be a whole segment, as in \`/a/**/b\``);
      }
    }
  }
  let normal;
  try {
    normal = normalizePath(value);
  } catch (e) {
    if (e instanceof PathError) never(e.message);
    throw e;
  }
  if (normal !== value) never(`paths are matched normalised, so write \`${normal}\``);
}

function methodPattern(value, at) {
  if (!TCHAR.test(value)) throw new ScopeError(at, `\`${value}\` is not a method (an HTTP token)`);
  const standard = STANDARD_METHODS.find((m) => m === value.toUpperCase() && m !== value);
  if (standard !== undefined) throw new ScopeError(at, `\`${value}\`: methods are case-sensitive; write \`${standard}\``);
}

function headerName(value, at) {
  if (!TCHAR.test(value)) throw new ScopeError(at, `\`${value}\` is not a header name (an HTTP token)`);
  const lower = lowerAscii(value);
  if (isManagedHeader(lower)) {
    const hint = lower === "host" ? "; use `host`" : "";
    throw new ScopeError(at, `\`${value}\` is managed by the host and never seen by links${hint}`);
  }
  return lower;
}

function headerValue(value, at) {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) throw new ScopeError(at, `${JSON.stringify(value)} holds a control character`);
  if (/^[ \t]|[ \t]$/.test(value)) {
    throw new ScopeError(at, `${JSON.stringify(value)} can never match: fields are read without surrounding whitespace`);
  }
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** A string or a non-empty list of strings. */
function strings(value, at) {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) {
    if (value.length === 0) throw new ScopeError(at, "is an empty list, which nothing matches; leave the condition out instead");
    return value.map((v, i) => {
      if (typeof v !== "string") throw new ScopeError(`${at}[${i}]`, "must be a string");
      return v;
    });
  }
  throw new ScopeError(at, "must be a string or a list of strings");
}

const indexed = (at, i, value) => (Array.isArray(value) ? `${at}[${i}]` : at);

function conditions(value, at) {
  if (!isObject(value)) throw new ScopeError(at, "must be an object of conditions (host, path, method, header)");
  const keys = Object.keys(value);
  if (keys.length === 0) throw new ScopeError(at, "has no conditions; leave it out to run the link on every request");
  const c = { hosts: [], paths: [], methods: [], headers: [] };
  // serde_json keeps object keys sorted (no preserve_order): the first error
  // the host reports is the first key in that order.
  for (const key of [...keys].sort()) {
    const here = `${at}.${key}`;
    const v = value[key];
    if (key === "host") {
      strings(v, here).forEach((s, i) => c.hosts.push(hostPattern(s, indexed(here, i, v))));
    } else if (key === "method") {
      strings(v, here).forEach((s, i) => {
        methodPattern(s, indexed(here, i, v));
        c.methods.push(s);
      });
    } else if (key === "path") {
      if (!isObject(v)) throw new ScopeError(here, "must be an object with `exact`, `prefix` or `glob`");
      const kinds = Object.keys(v).sort();
      if (kinds.length === 0) throw new ScopeError(here, "is empty: give `exact`, `prefix` or `glob`");
      for (const kind of kinds) {
        if (!["exact", "prefix", "glob"].includes(kind)) {
          throw new ScopeError(here, `unknown key \`${kind}\`; expected exact, prefix or glob`);
        }
        const atKind = `${here}.${kind}`;
        strings(v[kind], atKind).forEach((s, i) => {
          pathPattern(kind, s, indexed(atKind, i, v[kind]));
          c.paths.push(kind === "glob" ? { kind, segments: s.slice(1).split("/") } : { kind, value: s });
        });
      }
    } else if (key === "header") {
      if (!isObject(v)) throw new ScopeError(here, "must be an object of header names, each `true` (present) or values");
      const names = Object.keys(v).sort();
      if (names.length === 0) throw new ScopeError(here, "is empty: name at least one header");
      for (const name of names) {
        const atName = `${here}.${name}`;
        const want = v[name];
        if (want === false) {
          throw new ScopeError(atName, "`false` is not a condition; put the header under `unless` to skip requests that carry it");
        }
        let values = null;
        if (want !== true) {
          let list;
          try {
            list = strings(want, atName);
          } catch {
            throw new ScopeError(atName, "must be `true` (present), a value or a list of values");
          }
          list.forEach((s, i) => headerValue(s, indexed(atName, i, want)));
          // Compared as bytes, as the host does: each UTF-8 byte one char.
          values = list.map((s) => String.fromCharCode(...encodeUtf8(s)));
        }
        c.headers.push({ name: headerName(name, atName), values });
      }
    } else {
      throw new ScopeError(at, `unknown key \`${key}\`; expected host, path, method or header`);
    }
  }
  return c;
}

function prefixMatches(prefix, path) {
  if (!path.startsWith(prefix)) return false;
  const rest = path.slice(prefix.length);
  return rest === "" || prefix.endsWith("/") || rest.startsWith("/");
}

/** `*` and `?` within one segment. */
function wildcard(p, s) {
  let i = 0;
  let j = 0;
  let star = -1;
  let mark = 0;
  while (j < s.length) {
    if (i < p.length && (p[i] === "?" || p[i] === s[j])) {
      i++;
      j++;
    } else if (i < p.length && p[i] === "*") {
      star = i;
      mark = j;
      i++;
    } else if (star >= 0) {
      i = star + 1;
      mark++;
      j = mark;
    } else {
      return false;
    }
  }
  while (i < p.length && p[i] === "*") i++;
  return i === p.length;
}

/** Segment-level matching; `**` backtracks one segment at a time from the last one met. */
function globMatches(pattern, path) {
  if (!path.startsWith("/")) return false;
  const segments = path.slice(1).split("/");
  let pi = 0;
  let si = 0;
  let deep = null;
  for (;;) {
    const p = pattern[pi];
    if (p === undefined && si === segments.length) return true;
    if (p === "**") {
      deep = [pi, si];
      pi++;
      continue;
    }
    if (p !== undefined && si < segments.length && wildcard(p, segments[si])) {
      pi++;
      si++;
      continue;
    }
    if (deep === null || deep[1] >= segments.length) return false;
    deep[1]++;
    pi = deep[0] + 1;
    si = deep[1];
  }
}

function hold(c, facts, fieldsOf) {
  const host = lowerAscii(facts.host);
  return (
    (c.methods.length === 0 || c.methods.includes(facts.method)) &&
    (c.hosts.length === 0 ||
      c.hosts.some((h) => (h.exact !== null ? host === h.exact : host.length > h.suffix.length && host.endsWith(h.suffix)))) &&
    (c.paths.length === 0 ||
      c.paths.some((p) =>
        p.kind === "exact" ? facts.path === p.value : p.kind === "prefix" ? prefixMatches(p.value, facts.path) : globMatches(p.segments, facts.path),
      )) &&
    c.headers.every((h) => {
      const fields = fieldsOf(h.name);
      return h.values === null ? fields.length > 0 : fields.some((f) => h.values.includes(f));
    })
  );
}

/** Where one link applies, read from its manifest entry. */
export class Scope {
  /**
   * The scope of a manifest entry (an object, or its JSON text), from its
   * `when` and `unless`; throws ScopeError for a rule the host would refuse.
   */
  constructor(entry = {}) {
    const e = typeof entry === "string" ? JSON.parse(entry) : entry;
    this.when = e.when === undefined ? null : conditions(e.when, "when");
    this.unless = e.unless === undefined ? null : conditions(e.unless, "unless");
  }

  /**
   * Whether a request (method, authority, normalised path via `path()`,
   * headers) would reach the link.
   */
  reaches(req) {
    const facts = { method: req.method, host: hostOf(req.authority), path: req.path() };
    // Header values compared as bytes would be: latin1 keeps each byte one char.
    const fieldsOf = (name) => req.headers.getAllBytes(name).map((b) => String.fromCharCode(...b));
    return (this.when === null || hold(this.when, facts, fieldsOf)) && !(this.unless !== null && hold(this.unless, facts, fieldsOf));
  }
}
