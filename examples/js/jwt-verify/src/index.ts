// jwt-verify: check HS256 JWT bearer tokens at the edge.
//
// Requests under `include` (and not under `exclude`) need a valid token in
// `Authorization: Bearer ...` (or the configured cookie): HS256 signature
// with the configured key (by `kid` when rotating), `exp`/`nbf` with leeway,
// `iss` and `aud` when configured. Anything else is answered 401 at the edge
// with an RFC 6750 `WWW-Authenticate` challenge and never reaches the
// origin. A valid token's claims go upstream as trusted headers
// (`forwardClaims`), which are stripped from every incoming request first
// so clients cannot forge them.

import { Request, Response, kv, log, type Plugin } from "@edgechain/sdk";
import { parseConfig, type Config, type RawConfig } from "./config.js";
import { TokenError, verify, type Claims } from "./jwt.js";

export default class JwtVerify implements Plugin {
  private readonly cfg: Config;

  constructor(raw: RawConfig) {
    this.cfg = parseConfig(raw);
  }

  onRequest(req: Request): Response | void {
    // Never let a client supply the identity headers itself.
    for (const [, header] of this.cfg.forwardClaims) req.removeHeader(header);
    if (!this.protects(req.path())) return;

    const token = this.tokenOf(req);
    if (token === undefined) return this.challenge(undefined);
    const now = Math.floor(Date.now() / 1000);
    const cacheKey = this.cacheKey(token);
    let claims: Claims;
    try {
      const known = cacheKey !== null && kv.get(cacheKey) !== undefined;
      claims = verify(token, this.cfg, now, known);
      if (cacheKey !== null && !known) this.remember(cacheKey, claims, now);
    } catch (e) {
      if (!(e instanceof TokenError)) throw e;
      log.debug(`refused ${req.method} ${req.path()}: ${e.description}`);
      return this.challenge(e);
    }
    for (const [claim, header] of this.cfg.forwardClaims) {
      const v = claims[claim];
      if (v === undefined || v === null) continue;
      req.setHeader(header, typeof v === "string" ? v : Array.isArray(v) ? v.join(" ") : JSON.stringify(v));
    }
    if (this.cfg.stripAuthorization) req.removeHeader("authorization");
  }

  /** The store key for a verified token: the whole token (never just its signature), or null when not cached. */
  private cacheKey(token: string): string | null {
    const key = `ok:${this.cfg.keysFingerprint}:${token}`;
    return this.cfg.cacheSeconds > 0 && key.length <= 1024 ? key : null;
  }

  /** Remember a verified token until it expires or for `cacheSeconds`, whichever is sooner. */
  private remember(key: string, claims: Claims, now: number): void {
    const left = typeof claims.exp === "number" ? claims.exp - now : this.cfg.cacheSeconds;
    const ttl = Math.min(this.cfg.cacheSeconds, left);
    if (ttl <= 0) return;
    try {
      kv.set(key, "1", ttl * 1000);
    } catch (e) {
      log.warn(`cannot cache a verified token: ${(e as Error).message}`);
    }
  }

  /** Whether `path` (normalised) needs a token. */
  private protects(path: string): boolean {
    const under = (p: string) => p === "/" || path === p || path.startsWith(p.endsWith("/") ? p : `${p}/`);
    return this.cfg.include.some(under) && !this.cfg.exclude.some(under);
  }

  private tokenOf(req: Request): string | undefined {
    const auth = req.header("authorization");
    if (auth !== undefined) {
      const m = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(auth);
      return m ? m[1] : undefined;
    }
    return this.cfg.cookie === null ? undefined : req.cookie(this.cfg.cookie);
  }

  /** 401 with the RFC 6750 challenge; no error code when no token was sent. */
  private challenge(error: TokenError | undefined): Response {
    let challenge = `Bearer realm="${this.cfg.realm}"`;
    if (error !== undefined) challenge += `, error="${error.code}", error_description="${error.description}"`;
    return Response.json(401, { error: error?.code ?? "unauthorized", message: error?.description ?? "a bearer token is required" })
      .withHeader("www-authenticate", challenge)
      .withHeader("cache-control", "no-store");
  }
}
