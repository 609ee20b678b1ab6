// The jwt-verify configuration, checked once per instance: a mistake rejects
// the chain at load (and in `edgechain validate`) with a message naming the field.

import { checkKeys } from "@edgechain/sdk";
import { base64Decode, HmacSha256 } from "@edgechain/sdk/crypto";

/** The manifest's `config`, as written. */
export interface RawConfig {
  /** The HS256 secret (one key), or use `keys` for rotation. */
  secret?: string;
  /** Keys by `kid`, for rotation: a token names its key in the header's `kid`. */
  keys?: Record<string, string>;
  /** How secrets are written: "utf8" (default), "base64" or "base64url". */
  secretEncoding?: "utf8" | "base64" | "base64url";
  /** Accepted `iss` values (any if absent). */
  issuer?: string | string[];
  /** Accepted `aud` values: the token must name one of them (any if absent). */
  audience?: string | string[];
  /** Clock skew allowed for exp/nbf, seconds (default 30). */
  leewaySeconds?: number;
  /** Refuse tokens without `exp` (default true). */
  requireExp?: boolean;
  /** Path prefixes that need a token (default ["/"]); match the normalised path. */
  include?: string[];
  /** Path prefixes under `include` that do not (e.g. "/api/health"). */
  exclude?: string[];
  /** Claims passed upstream as headers, e.g. {"sub": "x-user-id"}. Clients cannot forge these: they are removed from every request first. */
  forwardClaims?: Record<string, string>;
  /** Remove the Authorization header before forwarding (default false). */
  stripAuthorization?: boolean;
  /** Also accept the token from this cookie. */
  cookie?: string;
  /** The realm in WWW-Authenticate (default "api"). */
  realm?: string;
  /**
   * Remember verified tokens for this many seconds (default 300, 0: off) in
   * the host's key-value store, shared by all instances: a repeated token
   * skips the HMAC (the expensive part in an interpreter) but its claims are
   * still checked every time.
   */
  cacheSeconds?: number;
}

/** The checked configuration. */
export interface Config {
  keys: Map<string | null, HmacSha256>;
  issuers: string[] | null;
  audiences: string[] | null;
  leewaySeconds: number;
  requireExp: boolean;
  include: string[];
  exclude: string[];
  forwardClaims: Array<[claim: string, header: string]>;
  stripAuthorization: boolean;
  cookie: string | null;
  realm: string;
  cacheSeconds: number;
  /** Partitions the token cache by key set, so a rotated-out key's tokens are not served from it. */
  keysFingerprint: string;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELDS = ["secret", "keys", "secretEncoding", "issuer", "audience", "leewaySeconds", "requireExp", "include", "exclude", "forwardClaims", "stripAuthorization", "cookie", "realm", "cacheSeconds"];

function list(v: unknown, field: string): string[] | null {
  if (v === undefined) return null;
  const l = typeof v === "string" ? [v] : v;
  if (!Array.isArray(l) || l.length === 0 || l.some((x) => typeof x !== "string" || x === "")) {
    throw new Error(`\`${field}\` must be a string or a non-empty list of strings`);
  }
  return l as string[];
}

function prefixes(v: unknown, field: string, fallback: string[]): string[] {
  if (v === undefined) return fallback;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string" || !x.startsWith("/"))) {
    throw new Error(`\`${field}\` must be a list of path prefixes starting with \`/\``);
  }
  return v as string[];
}

function keyBytes(secret: unknown, encoding: RawConfig["secretEncoding"], field: string): Uint8Array | string {
  if (typeof secret !== "string" || secret === "") throw new Error(`\`${field}\` must be a non-empty string`);
  if (encoding === "utf8") {
    if (secret.length < 32) throw new Error(`\`${field}\` is too short: HS256 needs at least 32 bytes of secret`);
    return secret;
  }
  const bytes = base64Decode(encoding === "base64" ? secret : secret.replace(/=+$/, ""));
  if (bytes === undefined) throw new Error(`\`${field}\` is not valid ${encoding}`);
  if (bytes.length < 32) throw new Error(`\`${field}\` is too short: HS256 needs at least 32 bytes of secret`);
  return bytes;
}

export function parseConfig(raw: RawConfig): Config {
  checkKeys(raw, FIELDS);
  const encoding = raw.secretEncoding ?? "utf8";
  if (!["utf8", "base64", "base64url"].includes(encoding)) throw new Error('`secretEncoding` must be "utf8", "base64" or "base64url"');
  const keys = new Map<string | null, HmacSha256>();
  if (raw.secret !== undefined && raw.keys !== undefined) throw new Error("set `secret` or `keys`, not both");
  if (raw.secret !== undefined) keys.set(null, new HmacSha256(keyBytes(raw.secret, encoding, "secret")));
  else if (raw.keys !== undefined) {
    if (raw.keys === null || typeof raw.keys !== "object" || Object.keys(raw.keys).length === 0) throw new Error("`keys` must map key ids to secrets");
    for (const [kid, secret] of Object.entries(raw.keys)) keys.set(kid, new HmacSha256(keyBytes(secret, encoding, `keys.${kid}`)));
  } else {
    throw new Error("`secret` (or `keys`) is required");
  }
  const leewaySeconds = raw.leewaySeconds ?? 30;
  if (!Number.isInteger(leewaySeconds) || leewaySeconds < 0 || leewaySeconds > 3600) throw new Error("`leewaySeconds` must be an integer from 0 to 3600");
  const requireExp = raw.requireExp ?? true;
  if (typeof requireExp !== "boolean") throw new Error("`requireExp` must be true or false");
  const forwardClaims: Array<[string, string]> = [];
  for (const [claim, header] of Object.entries(raw.forwardClaims ?? {})) {
    if (typeof header !== "string" || !TOKEN.test(header)) throw new Error(`\`forwardClaims.${claim}\` must be a header name`);
    if (header.toLowerCase() === "authorization") throw new Error(`\`forwardClaims.${claim}\` cannot be authorization`);
    forwardClaims.push([claim, header.toLowerCase()]);
  }
  const stripAuthorization = raw.stripAuthorization ?? false;
  if (typeof stripAuthorization !== "boolean") throw new Error("`stripAuthorization` must be true or false");
  const cookie = raw.cookie ?? null;
  if (cookie !== null && (typeof cookie !== "string" || !TOKEN.test(cookie))) throw new Error("`cookie` must be a cookie name");
  const realm = raw.realm ?? "api";
  if (typeof realm !== "string" || /["\\\x00-\x1f]/.test(realm)) throw new Error("`realm` must be a string without quotes or control characters");
  const cacheSeconds = raw.cacheSeconds ?? 300;
  if (!Number.isInteger(cacheSeconds) || cacheSeconds < 0 || cacheSeconds > 86400) throw new Error("`cacheSeconds` must be an integer from 0 to 86400");
  return {
    keys,
    cacheSeconds,
    keysFingerprint: fnv1a(JSON.stringify([raw.secret ?? null, raw.keys ?? null, encoding])),
    issuers: list(raw.issuer, "issuer"),
    audiences: list(raw.audience, "audience"),
    leewaySeconds,
    requireExp,
    include: prefixes(raw.include, "include", ["/"]),
    exclude: prefixes(raw.exclude, "exclude", []),
    forwardClaims,
    stripAuthorization,
    cookie,
    realm,
  };
}

/** FNV-1a, 32 bits, as hex: a cheap cache partition label (the store is private to this link). */
function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16);
}
