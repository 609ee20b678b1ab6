// Types of @edgechain/sdk (src/index.js).

/** Bytes or UTF-8 text. */
export type BytesLike = Uint8Array | string;

/** The headers the host owns (hop-by-hop, `host`, framing): setting one fails the link. */
export const MANAGED_HEADERS: readonly string[];
/** Whether the host owns header `name` (any case): plugins may not set it. */
export function isManagedHeader(name: string): boolean;

/**
 * HTTP header fields in order; names are stored lower-case and may repeat.
 * Lookups ignore case. Values are bytes (HTTP allows non-UTF-8 octets): the
 * plain getters return UTF-8 text, the `*Bytes` getters the raw bytes. A list
 * that was never changed is handed back to the host as the same bytes.
 */
export class HeaderList implements Iterable<[string, string]> {
  constructor(fields?: Iterable<[string, BytesLike]> | Record<string, string | string[]>);
  /** A list reading the packed block (the host's encoding) in place. */
  static fromPacked(block: Uint8Array): HeaderList;
  /** The packed block: the very bytes received when nothing changed. */
  toPacked(): Uint8Array;
  /** Whether the list is still the untouched block it was received as. */
  readonly unchanged: boolean;
  /** The first value of `name` as UTF-8 text; undefined when absent or not valid UTF-8. */
  get(name: string): string | undefined;
  /** The first value of `name` as bytes. */
  getBytes(name: string): Uint8Array | undefined;
  /** Every UTF-8 value of `name`, in order. */
  getAll(name: string): string[];
  /** Every value of `name` as bytes, in order. */
  getAllBytes(name: string): Uint8Array[];
  has(name: string): boolean;
  /** Replace every value of `name`. */
  set(name: string, value: BytesLike | number): this;
  /** Add a value for `name`, keeping existing ones. */
  append(name: string, value: BytesLike | number): this;
  /** Remove every value of `name`; returns how many were removed. */
  remove(name: string): number;
  /** `[name, text]` pairs in order (invalid UTF-8 replaced). */
  entries(): IterableIterator<[string, string]>;
  /** `[name, bytes]` pairs in order. */
  entriesBytes(): IterableIterator<[string, Uint8Array]>;
  [Symbol.iterator](): IterableIterator<[string, string]>;
  /** The names present, in order of first appearance. */
  names(): string[];
  /** Number of fields (a repeated name counts once per value). */
  readonly size: number;
  isEmpty(): boolean;
  /** name -> first value (text). */
  toObject(): Record<string, string>;
  clone(): HeaderList;
  equals(other: HeaderList): boolean;
}

/** A request on its way to the next hop. */
export class Request {
  /** A request with no headers and no body, addressed to `localhost` (for tests and building requests). */
  constructor(method?: string, pathWithQuery?: string);
  static get(pathWithQuery: string): Request;
  /** A POST with a text, bytes or JSON body. */
  static post(pathWithQuery: string, body?: BytesLike | unknown): Request;
  /** Method, e.g. `GET`. */
  method: string;
  /** The `Host` the request is addressed to; changing it changes the `Host` sent upstream. */
  authority: string;
  /** Headers except `host` and those the host manages (hop-by-hop, framing). */
  headers: HeaderList;
  /**
   * The whole body when the plugin declared `Needs.REQUEST_BODY` (or an
   * earlier link replaced it), else null. Set it to replace the body.
   */
  body: Uint8Array | null;
  withHeader(name: string, value: BytesLike | number): this;
  withAuthority(authority: string): this;
  withBody(body: BytesLike | null): this;
  /** The path without the query, normalised as the host does (`/%61dmin`, `//admin`, `/x/../admin` are `/admin`). Match rules against this. */
  path(): string;
  /** The path as the client sent it, without the query. */
  rawPath(): string;
  /** Path plus optional `?query`, as sent: what the next hop receives. */
  pathWithQuery(): string;
  setPathWithQuery(pathWithQuery: string): void;
  /** Replace the path, keeping the query string. */
  setPath(path: string): void;
  /** The raw query string (without `?`). */
  query(): string | undefined;
  /** Replace the query string (without `?`); undefined or "" removes it. */
  setQuery(query: string | undefined): void;
  /** The first value of a query parameter, percent-decoded (`+` is a space). */
  queryParam(name: string): string | undefined;
  /** Every query parameter as decoded pairs. */
  queryParams(): Array<[string, string]>;
  header(name: string): string | undefined;
  setHeader(name: string, value: BytesLike | number): void;
  appendHeader(name: string, value: BytesLike | number): void;
  removeHeader(name: string): number;
  /** The value of a cookie from the `cookie` header(s). */
  cookie(name: string): string | undefined;
  /** The body as UTF-8 text (invalid bytes replaced), undefined without a body. */
  text(): string | undefined;
  /** The body parsed as JSON (throws SyntaxError). */
  json<T = unknown>(): T;
  setBody(body: BytesLike | null): void;
  /** Replace the body with JSON and set `content-type: application/json`. */
  setJson(value: unknown): void;
  clone(): Request;
}

/** A response: one a plugin answers with, or the next hop's on its way back. */
export class Response {
  constructor(status?: number);
  /** A `text/plain; charset=utf-8` response. */
  static text(status: number, body: string): Response;
  /** An `application/json` response. */
  static json(status: number, value: unknown): Response;
  /** A redirect (301, 302, 303, 307 or 308). */
  static redirect(status: number, location: string): Response;
  /** Status code; a plugin may answer or rewrite with 200..=599. */
  status: number;
  headers: HeaderList;
  /**
   * In `onResponse`: the upstream body if the plugin declared
   * `Needs.RESPONSE_BODY`, else null; setting it replaces the body. In an
   * answer: the body (null is empty).
   */
  body: Uint8Array | null;
  withHeader(name: string, value: BytesLike | number): this;
  withBody(body: BytesLike | null): this;
  header(name: string): string | undefined;
  setHeader(name: string, value: BytesLike | number): void;
  appendHeader(name: string, value: BytesLike | number): void;
  removeHeader(name: string): number;
  text(): string | undefined;
  json<T = unknown>(): T;
  setBody(body: BytesLike | null): void;
  setJson(value: unknown): void;
  clone(): Response;
}

/** What a plugin asks the host for; combine with `|`. */
export const Needs: {
  readonly NONE: 0;
  /** The whole request body in `req.body` (up to the link's `max_body_bytes`, else 413). */
  readonly REQUEST_BODY: 1;
  /** The whole response body in `resp.body`. */
  readonly RESPONSE_BODY: 2;
  /** Call `onResponse`. */
  readonly RESPONSE_PHASE: 4;
};
/** A combination of `Needs` flags, or the WIT's camel-case record. */
export type NeedsFlags = number | { requestBody?: boolean; responseBody?: boolean; responsePhase?: boolean };

/** What `onRequest` decides. */
export type Action = { readonly kind: "next" } | { readonly kind: "respond"; readonly response: Response };
/** Pass the (possibly rewritten) request on. Returning nothing does the same. */
export function next(): Action;
/** Answer the client with `response`. Returning the Response does the same. */
export function respond(response: Response): Action;

/**
 * A plugin: a class whose constructor takes the parsed config (no config is
 * `{}`) and throws to reject it; the module's default export.
 *
 * ```ts
 * export default class Tagger implements Plugin {
 *   constructor(config: { tag: string }) { ... }
 *   needs() { return Needs.RESPONSE_PHASE; }
 *   onRequest(req: Request) { if (req.path() === "/healthz") return Response.text(200, "ok\n"); }
 *   onResponse(req: Request, resp: Response) { resp.setHeader("x-tag", "1"); }
 * }
 * ```
 */
export interface Plugin {
  /** What the plugin needs from the host (default: nothing). */
  needs?(): NeedsFlags;
  /** Inspect or rewrite `req`, or answer it: return nothing/next() to pass it on, a Response/respond(r) to answer. Synchronous. */
  onRequest?(req: Request): Action | Response | void;
  /** Edit the response in place (needs `Needs.RESPONSE_PHASE`). `req` is the request as sent upstream. Synchronous. */
  onResponse?(req: Request, resp: Response): void | Response;
}
/** The class a plugin module exports by default. */
export interface PluginClass<C = any> {
  new (config: C): Plugin;
}

/** A rejected config; the message is what the operator sees. */
export class ConfigError extends Error {}
/** Parse config JSON as `init` does (`null` becomes `{}`). */
export function parseConfig(text: string): unknown;
/** Throw unless `config` is an object with only `known` keys (the Rust SDK's deny_unknown_fields). */
export function checkKeys<T extends object>(config: T, known: readonly string[], where?: string): T;

/** Thrown when a host function is called outside a hook (at module top level). */
export class NoHostError extends Error {}

/** Why a path cannot be normalised. */
export class PathError extends Error {
  readonly code: "not-absolute" | "bad-escape" | "nul" | "backslash" | "above-root";
}
/** The host's path normalisation (throws PathError). */
export function normalizePath(path: string): string;
/** The path part of a target. */
export function pathOf(pathWithQuery: string): string;
/** Decode `%XX` and `+`; invalid escapes are kept. */
export function percentDecode(s: string): string;
/** Percent-encode for a query component. */
export function encodeQueryComponent(s: string): string;
export function encodeUtf8(s: string): Uint8Array;
/** Decode UTF-8; with `fatal`, invalid input gives undefined. */
export function decodeUtf8(bytes: Uint8Array, fatal?: boolean): string;

/** Cryptographically secure random bytes (WASI random in wasm, node:crypto or the fake in tests). */
export function randomBytes(n: number): Uint8Array;
/** A secure random integer in [0, n). */
export function randomInt(n: number): number;
/** A random v4 UUID. */
export function randomUUID(): string;
/** Math.random-like, reseeded per instance (what Math.random is on QuickJS). */
export function random(): number;

/** A store operation the host refused. */
export class KvError extends Error {}
/** The plugin's private key-value store, shared by its instances in this host process. */
export const kv: {
  /** The value as bytes, or undefined if absent or expired. */
  get(key: string): Uint8Array | undefined;
  getText(key: string): string | undefined;
  getJson<T = unknown>(key: string): T | undefined;
  /** Store a value, expiring after `ttlMs` if given. Throws KvError. */
  set(key: string, value: BytesLike, ttlMs?: number): void;
  setJson(key: string, value: unknown, ttlMs?: number): void;
  /** Atomically add `delta` (default 1); an absent key counts as 0 and gets `ttlMs`. Throws KvError. */
  increment(key: string, delta?: number, ttlMs?: number): number;
  /** Remove a key; returns whether it was present. */
  delete(key: string): boolean;
  /** Same as delete. */
  remove(key: string): boolean;
};

/** Log to the host's diagnostic stream, tagged with the link name. */
export namespace log {
  type Level = "trace" | "debug" | "info" | "warn" | "error";
  const LEVELS: readonly Level[];
  function log(level: Level, ...message: unknown[]): void;
  function trace(...message: unknown[]): void;
  function debug(...message: unknown[]): void;
  function info(...message: unknown[]): void;
  function warn(...message: unknown[]): void;
  function error(...message: unknown[]): void;
  function format(args: unknown[]): string;
}

/** Facts about where the plugin runs. */
export namespace context {
  /** This link's name in the chain manifest. */
  function linkName(): string;
  /** The TCP peer's IP (not X-Forwarded-For); undefined outside a request. */
  function clientIp(): string | undefined;
  /** The config JSON text `init` received. */
  function configText(): string;
  /** Date.now() (the harness fakes it during hooks). */
  function now(): number;
}

/** Why an outbound call produced no response (the WIT `http.error` case). */
export class HttpError extends Error {
  readonly kind: "denied" | "invalid" | "connect" | "timeout" | "too-large" | "protocol";
  readonly detail: string | undefined;
  constructor(kind: HttpError["kind"], detail?: string);
}
/** An outbound response, read whole. */
export class HttpResponse {
  readonly status: number;
  readonly headers: HeaderList;
  readonly body: Uint8Array;
  readonly ok: boolean;
  header(name: string): string | undefined;
  text(): string;
  json<T = unknown>(): T;
}
export interface HttpRequest {
  method?: string;
  /** Absolute http:// URL; its authority must be granted to the link. */
  url: string;
  headers?: HeaderList | Record<string, string | string[]> | Iterable<[string, BytesLike]>;
  body?: BytesLike | null;
  /** A JSON body (sets content-type). */
  json?: unknown;
  /** Give up after this many ms (capped by what is left of the hook's timeout_ms). */
  timeoutMs?: number;
}
/** Outbound HTTP through the host (blocking; throws HttpError). */
export namespace http {
  function send(req: HttpRequest): HttpResponse;
  function get(url: string, options?: Omit<HttpRequest, "url" | "method">): HttpResponse;
  function post(url: string, body: BytesLike | null, options?: Omit<HttpRequest, "url" | "method" | "body">): HttpResponse;
}

/** A cache call the host refused (the WIT `cache-error`); nothing was recorded. */
export class CacheError extends Error {
  /** `wrong-phase`: not in a hook where the call takes effect; `invalid`: a rule or limit broken. */
  readonly kind: "wrong-phase" | "invalid";
  /** The host's reason, for `invalid`. */
  readonly detail: string | undefined;
  constructor(kind: CacheError["kind"], detail?: string);
}
/**
 * Control of the HTTP cache in the chain, for the request the hook serves.
 * addKey and bypass count in onRequest only; setTtl and addSurrogateKeys in
 * either hook. Limits hold per request, all links together. Each throws
 * CacheError when refused.
 */
export namespace cache {
  /** The host's limits. */
  const LIMITS: {
    readonly maxKeyParts: 16;
    readonly maxKeyPartBytes: 256;
    readonly maxTtlSeconds: 31536000;
    readonly maxSurrogateKeys: 64;
    readonly maxSurrogateKeyBytes: 256;
  };
  /** Split the cache key by `part` (at most 256 bytes, no control characters). onRequest only. */
  function addKey(part: string): void;
  /** Neither look this request up nor store its response. onRequest only. */
  function bypass(): void;
  /** Fresh for `seconds` (0 to 365 days; 0 stores it stale), whatever the response says. The latest call wins. */
  function setTtl(seconds: number): void;
  /** Tag the stored response for purge by key (visible ASCII other than `,`, 1 to 256 bytes; 64 per request). */
  function addSurrogateKeys(...keys: Array<string | readonly string[]>): void;
  /** undefined if the host accepts `key` as a surrogate key, else `[code, reason]` (check config at load). */
  function checkSurrogateKey(key: string): [string, string] | undefined;
  /** undefined if the host accepts `part` as a key part, else `[code, reason]`. */
  function checkKeyPart(part: string): [string, string] | undefined;
  /** undefined if the host accepts `seconds` as a TTL, else `[code, reason]`. */
  function checkTtl(seconds: number): [string, string] | undefined;
  /** undefined if WIT call `name` counts in `phase`, else `["wrong-phase", reason]`. */
  function checkPhase(name: "add-key" | "bypass" | "set-ttl" | "add-surrogate-keys", phase: "outside" | "request" | "response"): [string, string] | undefined;
}
