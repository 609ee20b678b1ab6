// The request and response types a plugin sees (the JS twins of the Rust
// SDK's `Request` and `Response`).

import { HeaderList, asU8, toBytes } from "./headers.js";
import { normalizeOrRaw, pathOf, percentDecode } from "./path.js";
import { decodeUtf8, encodeUtf8 } from "./utf8.js";

function bodyBytes(body) {
  if (body === null || body === undefined) return null;
  if (typeof body === "object" && !ArrayBuffer.isView(body) && !(body instanceof ArrayBuffer)) {
    throw new TypeError(`a body must be text, bytes or null, not ${Array.isArray(body) ? "an array" : "an object"} (setJson() sends a value as JSON)`);
  }
  return toBytes(body);
}

function bodyText(body) {
  return body == null ? undefined : decodeUtf8(body, false);
}

function bodyJson(body, what) {
  if (body == null || body.length === 0) {
    throw new SyntaxError(`${what} has no body to parse as JSON`);
  }
  return JSON.parse(decodeUtf8(body, false));
}

/**
 * A request on its way to the next hop. The target goes through
 * `pathWithQuery()` and the setters so that `path()` (the normalised path)
 * always describes it.
 */
export class Request {
  /**
   * A request with no headers and no body, addressed to `localhost`. Plugins
   * mostly receive requests; this is for tests and building requests.
   * @param {string} method
   * @param {string} pathWithQuery
   */
  constructor(method = "GET", pathWithQuery = "/") {
    /** Method, e.g. `GET`. */
    this.method = method;
    this._pwq = pathWithQuery;
    this._norm = normalizeOrRaw(pathWithQuery);
    /** The `Host` the request is addressed to; changing it changes the `Host` sent upstream. */
    this.authority = "localhost";
    /** Headers except `host` and those the host manages (hop-by-hop, framing). */
    this.headers = new HeaderList();
    /**
     * The whole body when the plugin declared `Needs.REQUEST_BODY` (or an
     * earlier link replaced it); null otherwise. Set it to replace the body;
     * leave null to let the original body stream through.
     * @type {Uint8Array|null}
     */
    this.body = null;
  }

  /** A `GET` for `pathWithQuery`. */
  static get(pathWithQuery) {
    return new Request("GET", pathWithQuery);
  }

  /** A `POST` for `pathWithQuery` with `body` (text, bytes or a JSON-able value). */
  static post(pathWithQuery, body) {
    const r = new Request("POST", pathWithQuery);
    if (body !== undefined) {
      if (typeof body === "string" || body instanceof Uint8Array) r.setBody(body);
      else r.setJson(body);
    }
    return r;
  }

  /** Builder: add a header value. */
  withHeader(name, value) {
    this.headers.append(name, value);
    return this;
  }

  /** Builder: set the authority (`Host`). */
  withAuthority(authority) {
    this.authority = authority;
    return this;
  }

  /** Builder: set the body (text or bytes). */
  withBody(body) {
    this.setBody(body);
    return this;
  }

  /**
   * The path without the query string, **normalised** the way the host does
   * it (`/%61dmin`, `//admin` and `/x/../admin` are all `/admin`): match path
   * rules against this.
   */
  path() {
    return this._norm;
  }

  /** The path as the client sent it (not normalised), without the query. */
  rawPath() {
    return pathOf(this._pwq);
  }

  /** Path plus optional `?query`, as sent (raw): what the next hop receives. */
  pathWithQuery() {
    return this._pwq;
  }

  /** Replace the whole target (path and query) sent to the next hop. */
  setPathWithQuery(pathWithQuery) {
    this._pwq = String(pathWithQuery);
    this._norm = normalizeOrRaw(this._pwq);
  }

  /** Replace the path, keeping the query string. */
  setPath(path) {
    const q = this.query();
    this.setPathWithQuery(q === undefined ? path : `${path}?${q}`);
  }

  /** The raw query string (without `?`), or undefined. */
  query() {
    const i = this._pwq.indexOf("?");
    return i < 0 ? undefined : this._pwq.slice(i + 1);
  }

  /** Replace the query string (without `?`); undefined or "" removes it. */
  setQuery(query) {
    const path = this.rawPath();
    this.setPathWithQuery(query ? `${path}?${query}` : path);
  }

  /** The first value of query parameter `name`, percent-decoded (`+` is a space), or undefined. */
  queryParam(name) {
    const q = this.query();
    if (q === undefined) return undefined;
    for (const pair of q.split("&")) {
      const eq = pair.indexOf("=");
      const k = eq < 0 ? pair : pair.slice(0, eq);
      if (percentDecode(k) === name) return eq < 0 ? "" : percentDecode(pair.slice(eq + 1));
    }
    return undefined;
  }

  /** Every query parameter as decoded `[name, value]` pairs, in order. */
  queryParams() {
    const q = this.query();
    if (!q) return [];
    return q
      .split("&")
      .filter((p) => p !== "")
      .map((pair) => {
        const eq = pair.indexOf("=");
        return eq < 0 ? [percentDecode(pair), ""] : [percentDecode(pair.slice(0, eq)), percentDecode(pair.slice(eq + 1))];
      });
  }

  /** The first value of header `name` as UTF-8 text, or undefined. */
  header(name) {
    return this.headers.get(name);
  }

  /** Replace every value of header `name`. */
  setHeader(name, value) {
    this.headers.set(name, value);
  }

  /** Add a value to header `name`. */
  appendHeader(name, value) {
    this.headers.append(name, value);
  }

  /** Remove header `name`; returns how many values were removed. */
  removeHeader(name) {
    return this.headers.remove(name);
  }

  /**
   * The value of cookie `name` from the `cookie` header(s), or undefined.
   * (Values are returned as sent; quotes are stripped.)
   */
  cookie(name) {
    for (const line of this.headers.getAll("cookie")) {
      for (const part of line.split(";")) {
        const eq = part.indexOf("=");
        if (eq < 0) continue;
        if (part.slice(0, eq).trim() === name) {
          let v = part.slice(eq + 1).trim();
          if (v.length >= 2 && v[0] === '"' && v[v.length - 1] === '"') v = v.slice(1, -1);
          return v;
        }
      }
    }
    return undefined;
  }

  /** The body as UTF-8 text (invalid bytes replaced), or undefined without a body. */
  text() {
    return bodyText(this.body);
  }

  /** The body parsed as JSON (throws SyntaxError on bad or missing JSON). */
  json() {
    return bodyJson(this.body, "the request");
  }

  /** Replace the body with text or bytes; null keeps the original body streaming. */
  setBody(body) {
    this.body = bodyBytes(body);
  }

  /** Replace the body with `JSON.stringify(value)` and set `content-type: application/json`. */
  setJson(value) {
    this.body = encodeUtf8(JSON.stringify(value));
    this.headers.set("content-type", "application/json");
  }

  /** A deep-enough copy (headers and body are copied by reference to immutable data). */
  clone() {
    const r = new Request(this.method, "/");
    r._pwq = this._pwq;
    r._norm = this._norm;
    r.authority = this.authority;
    r.headers = this.headers.clone();
    r.body = this.body;
    return r;
  }

  /** @internal from the WIT record */
  static _fromRaw(raw) {
    const r = Object.create(Request.prototype);
    r.method = raw.method;
    r._pwq = raw.pathWithQuery;
    r._norm = raw.normalizedPath;
    r.authority = raw.authority;
    r.headers = HeaderList.fromPacked(raw.headers);
    r.body = raw.body == null ? null : asU8(raw.body);
    return r;
  }

  /** @internal to the WIT record */
  _toRaw() {
    return {
      method: this.method,
      pathWithQuery: this._pwq,
      normalizedPath: this._norm,
      authority: this.authority,
      headers: this.headers.toPacked(),
      body: this.body == null ? null : bodyBytes(this.body),
    };
  }
}

/** A response: one a plugin answers with, or the next hop's on its way back. */
export class Response {
  /** An empty response with `status` (a plugin may use 200..=599). */
  constructor(status = 200) {
    /** Status code. */
    this.status = status;
    /** Headers except those the host manages (hop-by-hop, framing). */
    this.headers = new HeaderList();
    /**
     * In `onResponse`: the upstream body if the plugin declared
     * `Needs.RESPONSE_BODY` (null otherwise); setting it replaces the body,
     * null keeps it. In an answer: the body, null meaning empty.
     * @type {Uint8Array|null}
     */
    this.body = null;
  }

  /** A `text/plain; charset=utf-8` response. */
  static text(status, body) {
    return new Response(status).withHeader("content-type", "text/plain; charset=utf-8").withBody(String(body));
  }

  /** An `application/json` response with `JSON.stringify(value)`. */
  static json(status, value) {
    return new Response(status).withHeader("content-type", "application/json").withBody(JSON.stringify(value));
  }

  /** A redirect to `location` (use 301, 302, 303, 307 or 308). */
  static redirect(status, location) {
    return new Response(status).withHeader("location", location);
  }

  /** Builder: add a header value. */
  withHeader(name, value) {
    this.headers.append(name, value);
    return this;
  }

  /** Builder: set the body (text or bytes). */
  withBody(body) {
    this.setBody(body);
    return this;
  }

  /** The first value of header `name` as UTF-8 text, or undefined. */
  header(name) {
    return this.headers.get(name);
  }

  /** Replace every value of header `name`. */
  setHeader(name, value) {
    this.headers.set(name, value);
  }

  /** Add a value to header `name`. */
  appendHeader(name, value) {
    this.headers.append(name, value);
  }

  /** Remove header `name`; returns how many values were removed. */
  removeHeader(name) {
    return this.headers.remove(name);
  }

  /** The body as UTF-8 text (invalid bytes replaced), or undefined without a body. */
  text() {
    return bodyText(this.body);
  }

  /** The body parsed as JSON (throws SyntaxError on bad or missing JSON). */
  json() {
    return bodyJson(this.body, "the response");
  }

  /** Replace the body with text or bytes (null: keep the upstream body / empty answer). */
  setBody(body) {
    this.body = bodyBytes(body);
  }

  /** Replace the body with `JSON.stringify(value)` and set `content-type: application/json`. */
  setJson(value) {
    this.body = encodeUtf8(JSON.stringify(value));
    this.headers.set("content-type", "application/json");
  }

  /** A copy. */
  clone() {
    const r = new Response(this.status);
    r.headers = this.headers.clone();
    r.body = this.body;
    return r;
  }

  /** @internal */
  static _fromRaw(raw) {
    const r = Object.create(Response.prototype);
    r.status = raw.status;
    r.headers = HeaderList.fromPacked(raw.headers);
    r.body = raw.body == null ? null : asU8(raw.body);
    return r;
  }

  /** @internal */
  _toRaw() {
    return {
      status: this.status,
      headers: this.headers.toPacked(),
      body: this.body == null ? null : bodyBytes(this.body),
    };
  }
}
