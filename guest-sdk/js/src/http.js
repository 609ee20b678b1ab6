// Outbound HTTP calls (the WIT `http` interface): a plugin may call only the
// authorities its manifest entry grants (`"grants": {"http": ["auth:8080"]}`);
// anything else fails with kind "denied" before any connection. The call
// blocks the hook until the whole response arrived, and the wait counts
// against the hook's `timeout_ms`.

import { HeaderList, asU8, toBytes } from "./headers.js";
import { host } from "./sys.js";
import { decodeUtf8, encodeUtf8 } from "./utf8.js";

/**
 * Why a call produced no response. `kind` is the WIT error case: "denied",
 * "invalid", "connect", "timeout", "too-large" or "protocol".
 */
export class HttpError extends Error {
  constructor(kind, detail) {
    super(detail ? `http ${kind}: ${detail}` : `http ${kind}`);
    this.name = "HttpError";
    this.kind = kind;
    this.detail = detail;
  }
}

/** A response, read whole. */
export class HttpResponse {
  constructor(status, headers, body) {
    /** HTTP status code. */
    this.status = status;
    /** @type {HeaderList} */
    this.headers = headers;
    /** @type {Uint8Array} */
    this.body = body;
  }
  /** Whether the status is 2xx. */
  get ok() {
    return this.status >= 200 && this.status < 300;
  }
  /** The first value of header `name` as text, or undefined. */
  header(name) {
    return this.headers.get(name);
  }
  /** The body as UTF-8 text. */
  text() {
    return decodeUtf8(this.body, false);
  }
  /** The body parsed as JSON. */
  json() {
    return JSON.parse(this.text());
  }
}

function headersOf(h) {
  if (h === undefined || h === null) return new HeaderList();
  if (h instanceof HeaderList) return h;
  return new HeaderList(h);
}

/** The WIT error variant (as an engine hands it over) to an HttpError. */
export function httpErrorOf(e) {
  const payload = e && typeof e === "object" && "payload" in e ? e.payload : e;
  if (payload && typeof payload === "object" && typeof payload.tag === "string") {
    return new HttpError(payload.tag, typeof payload.val === "string" ? payload.val : undefined);
  }
  return new HttpError("protocol", e instanceof Error ? e.message : String(e));
}

/**
 * Send a request and wait for the whole response. Throws HttpError.
 * @param {{method?: string, url: string, headers?: HeaderList|Record<string,string>|Array<[string,string]>,
 *          body?: string|Uint8Array|null, json?: unknown, timeoutMs?: number}} req
 * @returns {HttpResponse}
 */
export function send(req) {
  const h = host("http.send()");
  if (!req || typeof req.url !== "string") throw new TypeError("http.send() needs { url: 'http://host:port/path' }");
  const headers = headersOf(req.headers);
  let body = req.body === undefined || req.body === null ? null : toBytes(req.body);
  if (req.json !== undefined) {
    body = encodeUtf8(JSON.stringify(req.json));
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }
  const raw = {
    method: req.method || (body ? "POST" : "GET"),
    url: req.url,
    headers: headers.toPacked(),
    body,
    timeoutMs: req.timeoutMs === undefined || req.timeoutMs === null ? null : Math.max(0, Math.floor(req.timeoutMs)),
  };
  let resp;
  try {
    resp = h.http.send(raw);
  } catch (e) {
    throw httpErrorOf(e);
  }
  return new HttpResponse(resp.status, HeaderList.fromPacked(resp.headers), asU8(resp.body));
}

/** `send({ method: "GET", url, ...options })`. */
export function get(url, options = {}) {
  return send({ ...options, method: "GET", url });
}

/** `send({ method: "POST", url, body, ...options })`. */
export function post(url, body, options = {}) {
  return send({ ...options, method: "POST", url, body });
}
