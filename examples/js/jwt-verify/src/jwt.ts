// Compact JWS (RFC 7515) with HS256 only, and the registered claim checks of
// RFC 7519. No `alg: none`, no algorithm taken from the token beyond
// checking it is HS256: the key decides the algorithm, not the attacker.

import { base64Decode, base64UrlDecodeText, type HmacSha256 } from "@edgechain/sdk/crypto";
import type { Config } from "./config.js";

export type Claims = Record<string, unknown> & {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  exp?: number;
  nbf?: number;
  iat?: number;
};

/** Why a token was refused: `code` goes into WWW-Authenticate's `error`. */
export class TokenError extends Error {
  constructor(
    readonly code: "invalid_token" | "insufficient_scope",
    readonly description: string,
  ) {
    super(description);
  }
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function part(text: string | undefined, what: string): Record<string, unknown> {
  const json = text === undefined ? undefined : base64UrlDecodeText(text);
  if (json === undefined) throw new TokenError("invalid_token", `malformed ${what}`);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new TokenError("invalid_token", `malformed ${what}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new TokenError("invalid_token", `malformed ${what}`);
  return value as Record<string, unknown>;
}

function numericDate(claims: Claims, name: "exp" | "nbf" | "iat"): number | undefined {
  const v = claims[name];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v)) throw new TokenError("invalid_token", `\`${name}\` is not a NumericDate`);
  return v;
}

/**
 * Verify `token` against `cfg` at `nowSeconds`; returns its claims or throws
 * TokenError. With `signatureKnownGood` (a cache hit for this exact token
 * string) the HMAC is skipped; every other check still runs.
 */
export function verify(token: string, cfg: Config, nowSeconds: number, signatureKnownGood = false): Claims {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts.every((p) => B64URL.test(p))) throw new TokenError("invalid_token", "not a compact JWS");
  const header = part(parts[0], "header");
  if (header.alg !== "HS256") throw new TokenError("invalid_token", `unsupported alg ${JSON.stringify(header.alg)}`);
  if (header.crit !== undefined) throw new TokenError("invalid_token", "unsupported crit header");
  if (!signatureKnownGood) {
    const kid = typeof header.kid === "string" ? header.kid : null;
    let key: HmacSha256 | undefined = cfg.keys.get(kid);
    if (key === undefined && cfg.keys.size === 1 && cfg.keys.has(null)) key = cfg.keys.get(null);
    if (key === undefined) throw new TokenError("invalid_token", "unknown key id");
    const signature = base64Decode(parts[2]);
    if (signature === undefined || !key.verify(`${parts[0]}.${parts[1]}`, signature)) {
      throw new TokenError("invalid_token", "bad signature");
    }
  }

  const claims = part(parts[1], "payload") as Claims;
  const leeway = cfg.leewaySeconds;
  const exp = numericDate(claims, "exp");
  if (exp === undefined && cfg.requireExp) throw new TokenError("invalid_token", "no expiry");
  if (exp !== undefined && nowSeconds >= exp + leeway) throw new TokenError("invalid_token", "expired");
  const nbf = numericDate(claims, "nbf");
  if (nbf !== undefined && nowSeconds < nbf - leeway) throw new TokenError("invalid_token", "not valid yet");
  numericDate(claims, "iat");
  if (cfg.issuers !== null && (typeof claims.iss !== "string" || !cfg.issuers.includes(claims.iss))) {
    throw new TokenError("invalid_token", "wrong issuer");
  }
  if (cfg.audiences !== null) {
    const aud = typeof claims.aud === "string" ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
    if (!aud.some((a) => typeof a === "string" && cfg.audiences!.includes(a))) throw new TokenError("invalid_token", "wrong audience");
  }
  return claims;
}
