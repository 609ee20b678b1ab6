// The ab-router configuration: parsed and checked once per instance, so a
// mistake rejects the chain at load (and in `edgechain validate`) with a
// message that names the field.

import { checkKeys } from "@edgechain/sdk";

const NAME = /^[A-Za-z0-9_-]{1,32}$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * @typedef {{name: string, weight: number, pathPrefix?: string, authority?: string, headers: Array<[string, string]>}} Bucket
 * @typedef {{experiment: string, cookie: string, buckets: Bucket[], totalWeight: number, paths: string[],
 *   header: string|null, maxAgeSeconds: number, secure: boolean, assignBy: "random"|"client-ip",
 *   secret: string|null, overrideParam: string|null, statsPath: string|null}} Config
 */

function fail(message) {
  throw new Error(message);
}

function str(v, where) {
  if (typeof v !== "string") fail(`${where} must be a string`);
  return v;
}

/** @returns {Config} */
export function parseConfig(raw) {
  checkKeys(raw, ["experiment", "cookie", "buckets", "paths", "header", "cookieMaxAgeSeconds", "secureCookie", "assignBy", "secret", "overrideParam", "statsPath"]);
  const experiment = str(raw.experiment ?? fail("`experiment` is required (a short name, e.g. \"checkout\")"), "`experiment`");
  if (!NAME.test(experiment)) fail("`experiment` must be 1-32 letters, digits, `-` or `_`");
  const cookie = raw.cookie === undefined ? `ab_${experiment}` : str(raw.cookie, "`cookie`");
  if (!TOKEN.test(cookie)) fail("`cookie` is not a valid cookie name");

  if (!Array.isArray(raw.buckets) || raw.buckets.length < 2) fail("`buckets` must list at least two buckets");
  const seen = new Set();
  const buckets = raw.buckets.map((b, i) => {
    const where = `buckets[${i}]`;
    checkKeys(b, ["name", "weight", "pathPrefix", "authority", "headers"], where);
    const name = str(b.name, `${where}.name`);
    if (!NAME.test(name)) fail(`${where}.name must be 1-32 letters, digits, \`-\` or \`_\``);
    if (seen.has(name)) fail(`${where}.name \`${name}\` is used twice`);
    seen.add(name);
    const weight = b.weight ?? 1;
    if (!Number.isInteger(weight) || weight < 0 || weight > 1_000_000) fail(`${where}.weight must be an integer from 0 to 1000000`);
    let pathPrefix;
    if (b.pathPrefix !== undefined) {
      pathPrefix = str(b.pathPrefix, `${where}.pathPrefix`);
      if (!/^\/[^?#\s]*$/.test(pathPrefix) || pathPrefix.endsWith("/")) fail(`${where}.pathPrefix must start with \`/\`, not end with one, and hold no query`);
    }
    let authority;
    if (b.authority !== undefined) {
      authority = str(b.authority, `${where}.authority`);
      if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(authority)) fail(`${where}.authority must be host or host:port`);
    }
    const headers = [];
    if (b.headers !== undefined) {
      if (b.headers === null || typeof b.headers !== "object" || Array.isArray(b.headers)) fail(`${where}.headers must be an object`);
      for (const [n, v] of Object.entries(b.headers)) {
        if (!TOKEN.test(n)) fail(`${where}.headers: \`${n}\` is not a valid header name`);
        if (typeof v !== "string" || !HEADER_VALUE.test(v)) fail(`${where}.headers: value of \`${n}\` must be a string without control characters`);
        headers.push([n.toLowerCase(), v]);
      }
    }
    return { name, weight, pathPrefix, authority, headers };
  });
  const totalWeight = buckets.reduce((a, b) => a + b.weight, 0);
  if (totalWeight === 0) fail("the bucket weights add up to 0");

  const paths = raw.paths === undefined ? ["/"] : raw.paths;
  if (!Array.isArray(paths) || paths.some((p) => typeof p !== "string" || !p.startsWith("/"))) fail("`paths` must be a list of path prefixes starting with `/`");

  let header = raw.header === undefined ? "x-ab-bucket" : raw.header;
  if (header !== null && (typeof header !== "string" || !TOKEN.test(header))) fail("`header` must be a header name, or null for none");
  if (header !== null) header = header.toLowerCase();

  const maxAgeSeconds = raw.cookieMaxAgeSeconds ?? 30 * 24 * 3600;
  if (!Number.isInteger(maxAgeSeconds) || maxAgeSeconds < 0) fail("`cookieMaxAgeSeconds` must be a non-negative integer");
  const secure = raw.secureCookie ?? false;
  if (typeof secure !== "boolean") fail("`secureCookie` must be true or false");
  const assignBy = raw.assignBy ?? "random";
  if (assignBy !== "random" && assignBy !== "client-ip") fail("`assignBy` must be \"random\" or \"client-ip\"");
  const secret = raw.secret === undefined ? null : str(raw.secret, "`secret`");
  if (secret !== null && secret.length < 16) fail("`secret` must be at least 16 characters");
  const overrideParam = raw.overrideParam === undefined ? null : str(raw.overrideParam, "`overrideParam`");
  const statsPath = raw.statsPath === undefined ? null : str(raw.statsPath, "`statsPath`");
  if (statsPath !== null && !statsPath.startsWith("/")) fail("`statsPath` must start with `/`");

  return { experiment, cookie, buckets, totalWeight, paths, header, maxAgeSeconds, secure, assignBy, secret, overrideParam, statsPath };
}
