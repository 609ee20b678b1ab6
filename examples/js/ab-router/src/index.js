// ab-router: A/B-test routing at the edge.
//
// Requests under the configured `paths` are put in a bucket: the one named
// by the sticky cookie if it is valid (and, with a `secret`, signed by us),
// else a new one drawn by weight (or derived from the client IP). The bucket
// then routes the request: a path prefix (`/checkout` -> `/v2/checkout`), a
// different upstream authority, and/or extra headers; the bucket name goes
// upstream in `x-ab-bucket`. New assignments get a `Set-Cookie` on the way
// back. Counts per bucket are kept in the host's key-value store and served
// as JSON at `statsPath` when that is set.
//
// Config (see README.md):
//   { "experiment": "checkout", "paths": ["/checkout"],
//     "buckets": [ { "name": "control", "weight": 90 },
//                  { "name": "v2", "weight": 10, "pathPrefix": "/v2" } ] }

import { Needs, Response, context, kv, log, randomInt } from "@edgechain/sdk";
import { HmacSha256, base64UrlEncode, sha256, timingSafeEqual } from "@edgechain/sdk/crypto";
import { parseConfig } from "./config.js";

const SIG_CHARS = 16; // 96 bits of HMAC, base64url

export default class AbRouter {
  constructor(raw) {
    this.cfg = parseConfig(raw);
    this.byName = new Map(this.cfg.buckets.map((b) => [b.name, b]));
    this.mac = null; // built on first use: an HMAC key setup is not free in an interpreter
    /** Signatures by bucket name, for this instance. */
    this.sigs = new Map();
    /** Set by onRequest when this request got a new bucket: the cookie to set. */
    this.setCookie = null;
  }

  needs() {
    return Needs.RESPONSE_PHASE;
  }

  onRequest(req) {
    this.setCookie = null;
    const path = req.path(); // normalised: `//checkout` and `/%63heckout` are `/checkout`
    if (this.cfg.statsPath !== null && path === this.cfg.statsPath) return this.stats();
    if (!this.cfg.paths.some((p) => inScope(path, p))) return; // untouched: headers go back as the same bytes

    let bucket = this.fromOverride(req) ?? this.fromCookie(req);
    if (bucket === undefined) {
      bucket = this.assign();
      this.setCookie = this.cookieFor(bucket);
      try {
        kv.increment(`assigned:${bucket.name}`, 1);
      } catch (e) {
        log.warn(`cannot count the assignment: ${e.message}`);
      }
    }
    this.route(req, path, bucket);
  }

  onResponse(_req, resp) {
    if (this.setCookie !== null) resp.appendHeader("set-cookie", this.setCookie);
  }

  /** A QA override (`?ab=v2`), only when `overrideParam` is configured; not sticky. */
  fromOverride(req) {
    if (this.cfg.overrideParam === null) return undefined;
    const name = req.queryParam(this.cfg.overrideParam);
    return name === undefined ? undefined : this.byName.get(name);
  }

  /** The bucket the cookie names, if it still exists (and its signature holds). */
  fromCookie(req) {
    const value = req.cookie(this.cfg.cookie);
    if (value === undefined) return undefined;
    let name = value;
    let sig;
    if (this.cfg.secret !== null) {
      const dot = value.lastIndexOf(".");
      if (dot < 0) return undefined;
      name = value.slice(0, dot);
      sig = value.slice(dot + 1);
    }
    // Known buckets only (before any signature work, so made-up names cost nothing);
    // a bucket whose weight went to 0 is closed and its visitors are reassigned.
    const bucket = this.byName.get(name);
    if (bucket === undefined || bucket.weight === 0) return undefined;
    if (sig !== undefined && !timingSafeEqual(sig, this.signature(name))) return undefined;
    return bucket;
  }

  assign() {
    let ticket;
    if (this.cfg.assignBy === "client-ip") {
      const ip = context.clientIp() ?? "";
      const h = sha256(`${this.cfg.experiment}:${ip}`);
      ticket = ((h[0] << 24) >>> 0) + (h[1] << 16) + (h[2] << 8) + h[3];
      ticket %= this.cfg.totalWeight;
    } else {
      ticket = randomInt(this.cfg.totalWeight);
    }
    for (const b of this.cfg.buckets) {
      if (ticket < b.weight) return b;
      ticket -= b.weight;
    }
    return this.cfg.buckets[this.cfg.buckets.length - 1];
  }

  /**
   * The cookie signature of bucket `name`: HMAC(secret, experiment:name),
   * cut to 96 bits. It depends on the config only, so it is computed once
   * per instance and, for fresh per-request instances, kept in the host's
   * store (keyed by a fingerprint of the secret) instead of recomputed.
   */
  signature(name) {
    let sig = this.sigs.get(name);
    if (sig !== undefined) return sig;
    const key = `sig:${fingerprint(this.cfg.secret)}:${this.cfg.experiment}:${name}`;
    sig = kv.getText(key);
    if (sig === undefined) {
      this.mac ??= new HmacSha256(this.cfg.secret);
      sig = base64UrlEncode(this.mac.digest(`${this.cfg.experiment}:${name}`)).slice(0, SIG_CHARS);
      try {
        kv.set(key, sig, 3_600_000);
      } catch (e) {
        log.warn(`cannot cache a signature: ${e.message}`);
      }
    }
    this.sigs.set(name, sig);
    return sig;
  }

  cookieFor(bucket) {
    const value = this.cfg.secret === null ? bucket.name : `${bucket.name}.${this.signature(bucket.name)}`;
    let c = `${this.cfg.cookie}=${value}; Path=/; Max-Age=${this.cfg.maxAgeSeconds}; SameSite=Lax; HttpOnly`;
    if (this.cfg.secure) c += "; Secure";
    return c;
  }

  route(req, path, bucket) {
    if (this.cfg.header !== null) req.setHeader(this.cfg.header, bucket.name);
    // Prefix the normalised path: a raw `/x/../y` cannot climb out of the prefix.
    if (bucket.pathPrefix !== undefined) req.setPath(bucket.pathPrefix + path);
    if (bucket.authority !== undefined) req.authority = bucket.authority;
    for (const [n, v] of bucket.headers) req.setHeader(n, v);
  }

  stats() {
    const counts = {};
    for (const b of this.cfg.buckets) counts[b.name] = Number(kv.getText(`assigned:${b.name}`) ?? 0);
    return Response.json(200, {
      experiment: this.cfg.experiment,
      weights: Object.fromEntries(this.cfg.buckets.map((b) => [b.name, b.weight])),
      assigned: counts,
    }).withHeader("cache-control", "no-store");
  }
}

/** FNV-1a of the secret: partitions cached signatures by secret (the store is private to this link). */
function fingerprint(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16);
}

/** Whether `path` is `prefix` or below it (`/api` covers `/api` and `/api/x`, not `/apix`). */
function inScope(path, prefix) {
  if (prefix === "/") return true;
  return path === prefix || path.startsWith(prefix.endsWith("/") ? prefix : `${prefix}/`);
}
