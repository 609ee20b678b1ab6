// Types of @edgechain/sdk/testing: unit-test plugins under Node with a fake host.
import { HeaderList, HttpError, Request, Response, Action, NeedsFlags, PluginClass, BytesLike } from "./index.js";
export { HeaderList, HttpError, Request, Response };

export interface HarnessOptions {
  /** context.linkName() (default "test"). */
  linkName?: string;
  /** context.clientIp() (default: undefined). */
  clientIp?: string;
  /** The fake clock's start, ms since the epoch (default: now). */
  now?: number;
  /** The secure random source (default: node:crypto). */
  random?: (n: number) => Uint8Array;
  /** Entries the fake store holds before `set` fails (default 100000). */
  kvMaxEntries?: number;
  /** Check every decision against the host's rules (default true): one the host would refuse throws InvalidDecision. */
  check?: boolean;
}

/** A decision the host would refuse: the link would fail and its `on_error` policy apply. */
export class InvalidDecision extends Error {}

/** An outbound call the plugin made. */
export interface HttpCall {
  method: string;
  url: string;
  headers: HeaderList;
  body: Uint8Array | null;
  timeoutMs: number | undefined;
}
export interface CannedResponse {
  status?: number;
  headers?: HeaderList | Record<string, string | string[]>;
  /** Text, bytes, or a value sent as JSON. */
  body?: BytesLike | object;
}

/** What a plugin asked of the cache for one request, as the host records it. */
export interface CacheRecord {
  /** Key parts, in call order. */
  keyParts: string[];
  /** Whether the plugin called cache.bypass(). */
  bypass: boolean;
  /** The latest cache.setTtl(), in whole seconds. */
  ttl: number | undefined;
  /** Distinct surrogate keys, in the order first added. */
  surrogateKeys: string[];
}

/** One plugin value plus the fake host it talks to. */
export class Harness<P = any> {
  /** Build the plugin from `config` (JSON text or a value) as `init` does; throws the operator's message. */
  constructor(plugin: PluginClass, config?: unknown, options?: HarnessOptions);
  /** Scope the link as manifest entry `entry` does (`when`, `unless`); throws ScopeError for a rule the host would refuse. */
  setScope(entry: string | { when?: unknown; unless?: unknown }): void;
  /** Whether `req` would reach this link under its scope (every request does when none was set). */
  reaches(req: Request): boolean;
  /** undefined if `config` is accepted, else the operator's message. */
  static configError(plugin: PluginClass, config?: unknown): string | undefined;
  readonly plugin: P;
  /** The declared needs as Needs bit flags. */
  needs(): number;
  /** Whether decisions are checked against the host's rules. */
  check: boolean;
  /** Run onRequest on `req` (edited in place); throws InvalidDecision for a decision the host would refuse. */
  onRequest(req: Request): Action;
  /** Run onResponse; returns the (edited) response. */
  onResponse(req: Request, resp: Response): Response;
  /** One request through the wasm build's glue: onRequest, then `upstream` and onResponse if asked for. */
  roundTrip(
    req: Request,
    upstream?: Response,
    options?: { freshInstance?: boolean },
  ): { answeredBy: "plugin" | "upstream"; request: Request; response: Response };
  /** A new plugin value from the same config (kv is kept), as a fresh per-request instance. */
  freshInstance(): P;
  setClientIp(ip: string | undefined): void;
  setLinkName(name: string): void;
  /** Move the fake clock (kv TTLs, Date.now() during hooks) forward. */
  advanceClock(ms: number): void;
  setClock(ms: number): void;
  now(): number;
  setRandom(source: (n: number) => Uint8Array): void;
  logs(): Array<{ level: "trace" | "debug" | "info" | "warn" | "error"; message: string }>;
  clearLogs(): void;
  kvGet(key: string): Uint8Array | undefined;
  kvGetText(key: string): string | undefined;
  kvSet(key: string, value: BytesLike, ttlMs?: number): void;
  kvKeys(): string[];
  /** Answer calls whose URL starts with `match` (or matching the predicate). */
  httpRespond(match: string | ((call: HttpCall) => boolean), answer: CannedResponse | HttpError | ((call: HttpCall) => CannedResponse | HttpError)): void;
  httpFail(match: string | ((call: HttpCall) => boolean), kind: HttpError["kind"], detail?: string): void;
  httpCalls(): HttpCall[];
  /** What the plugin asked of the cache since the last onRequest/roundTrip (refused calls excluded). */
  cache(): CacheRecord;
}

/** A rule the host would refuse; `at` names the field (`when.path.glob[1]`). */
export declare class ScopeError extends Error {
  readonly at: string;
  readonly reason: string;
}

/** Where a link applies: a manifest entry's `when` and `unless`, decided as the host does. */
export declare class Scope {
  constructor(entry?: string | { when?: unknown; unless?: unknown });
  /** Whether `req` (method, authority, normalised path, headers) would reach the link. */
  reaches(req: Request): boolean;
}
