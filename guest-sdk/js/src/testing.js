// Unit-test a plugin under plain Node, without wasm (the JS twin of the Rust
// SDK's `edgechain_sdk::testing`).
//
// A Harness builds your plugin class from a JSON config exactly as the host's
// `init` does, runs its hooks, and backs kv, log, context, http, cache and
// randomness with an in-memory fake host you can set and inspect: a key-value
// store with TTLs on a fake clock (which Date.now() follows during hooks),
// captured logs, settable client IP and link name, canned outbound HTTP
// responses, and a record of the cache calls of the current request
// (`h.cache()`), checked with the host's phase rules and limits. Every decision is checked against the host's rules (method,
// target, authority, header names and values, host-owned headers, status):
// one the host would refuse throws InvalidDecision, as the link would fail.
// This exercises your JS, not the wasm build: load the component in a real
// host with `edgechain validate` / `edgechain demo` for that.

import { toAction } from "./action.js";
import { InvalidDecision, checkRawRequest, checkRawResponse } from "./decision.js";
import { HeaderList, asU8 } from "./headers.js";
import { HttpError } from "./http.js";
import { LIMITS, checkKeyPart, checkPhase, checkSurrogateKey, checkTtl } from "./cache.js";
import { Request, Response } from "./message.js";
import { needsToRaw, needsFromRaw } from "./needs.js";
import { _resetRandom } from "./random.js";
import { build, makeFilter, needsOf } from "./runtime.js";
import { Scope, ScopeError } from "./scope.js";
import { bindHost, inHook } from "./sys.js";
import { decodeUtf8, encodeUtf8 } from "./utf8.js";
import { webcrypto } from "node:crypto";

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

function configTextOf(config) {
  if (typeof config === "string") return config;
  return JSON.stringify(config === undefined ? null : config);
}

function bytesOf(v) {
  if (v === undefined || v === null) return new Uint8Array(0);
  if (typeof v === "string") return encodeUtf8(v);
  if (typeof v === "object" && !ArrayBuffer.isView(v) && !(v instanceof ArrayBuffer)) return encodeUtf8(JSON.stringify(v));
  return asU8(v);
}

/** The fake host: the WIT imports' shapes, backed by memory. */
class FakeHost {
  constructor(configText, options) {
    this.configText = configText;
    this.name = options.linkName ?? "test";
    this.ip = options.clientIp ?? "";
    this.nowMs = options.now ?? Date.now();
    this.logs = [];
    this.store = new Map();
    this.routes = [];
    this.calls = [];
    this.maxEntries = options.kvMaxEntries ?? 100000;
    this.randomSource = options.random ?? null;
    /** The hook running: "outside", "request" or "response" (what cache calls may ask). */
    this.phase = "outside";
    this.cacheRecord = emptyCacheRecord();
    const self = this;
    this.imports = {
      engine: "node",
      fake: true,
      host: {
        log: (level, message) => self.logs.push({ level, message }),
        config: () => self.configText,
        name: () => self.name,
        clientIp: () => self.ip,
      },
      kv: {
        get: (key) => {
          const e = self._live(key);
          return e ? e.value.slice() : null;
        },
        set: (key, value, ttl) => {
          if (!self.store.has(key) && self._liveCount() >= self.maxEntries) throw { payload: "store is full" };
          self.store.set(key, { value: asU8(value).slice(), expiresMs: ttl == null ? null : self.nowMs + Number(ttl) });
        },
        increment: (key, delta, ttl) => {
          const e = self._live(key);
          let old = 0n;
          let expiresMs = ttl == null ? null : self.nowMs + Number(ttl);
          if (e) {
            const text = decodeUtf8(e.value, true);
            if (text === undefined || !/^[+-]?\d+$/.test(text.trim())) throw { payload: "value is not an integer" };
            old = BigInt(text.trim());
            expiresMs = e.expiresMs;
          }
          const sum = old + BigInt(delta);
          if (sum < I64_MIN || sum > I64_MAX) throw { payload: "increment overflows" };
          if (!e && self._liveCount() >= self.maxEntries) throw { payload: "store is full" };
          self.store.set(key, { value: encodeUtf8(sum.toString()), expiresMs });
          return Number(sum);
        },
        delete: (key) => {
          const present = self._live(key) !== undefined;
          self.store.delete(key);
          return present;
        },
      },
      http: {
        send: (raw) => self._send(raw),
      },
      cache: {
        addKey: (part) =>
          self._cacheCall("add-key", (r) => {
            if (r.keyParts.length >= LIMITS.maxKeyParts) return ["too-many", `a request may have at most ${LIMITS.maxKeyParts} key parts`];
            const bad = checkKeyPart(part);
            if (!bad) r.keyParts.push(part);
            return bad;
          }),
        bypass: () =>
          self._cacheCall("bypass", (r) => {
            r.bypass = true;
          }),
        setTtl: (seconds) =>
          self._cacheCall("set-ttl", (r) => {
            const bad = checkTtl(seconds);
            if (!bad) r.ttl = seconds;
            return bad;
          }),
        addSurrogateKeys: (keys) =>
          self._cacheCall("add-surrogate-keys", (r) => {
            for (const k of keys) {
              const bad = checkSurrogateKey(k);
              if (bad) return bad;
            }
            const fresh = [...new Set(keys)].filter((k) => !r.surrogateKeys.includes(k));
            const total = r.surrogateKeys.length + fresh.length;
            if (total > LIMITS.maxSurrogateKeys) return ["too-many", `a request may have at most ${LIMITS.maxSurrogateKeys} surrogate keys, not ${total}`];
            r.surrogateKeys.push(...fresh);
            return undefined;
          }),
      },
      random: {
        getRandomBytes: (n) => {
          const len = Number(n);
          if (self.randomSource) return asU8(self.randomSource(len));
          const out = new Uint8Array(len);
          webcrypto.getRandomValues(out);
          return out;
        },
      },
    };
  }

  /** Check the phase, then let `f` record (it returns a refusal or undefined), as the host does. */
  _cacheCall(name, f) {
    const refused = checkPhase(name, this.phase) ?? f(this.cacheRecord);
    if (refused) throw { payload: refused[0] === "wrong-phase" ? { tag: "wrong-phase" } : { tag: "invalid", val: refused[1] } };
  }

  _live(key) {
    const e = this.store.get(key);
    if (e && e.expiresMs !== null && e.expiresMs <= this.nowMs) {
      this.store.delete(key);
      return undefined;
    }
    return e;
  }

  _liveCount() {
    let n = 0;
    for (const k of [...this.store.keys()]) if (this._live(k)) n++;
    return n;
  }

  _send(raw) {
    const call = {
      method: raw.method,
      url: raw.url,
      headers: HeaderList.fromPacked(raw.headers),
      body: raw.body == null ? null : asU8(raw.body),
      timeoutMs: raw.timeoutMs == null ? undefined : raw.timeoutMs,
    };
    this.calls.push(call);
    if (!/^http:\/\/[^/?#]+/.test(raw.url)) {
      throw { payload: { tag: "denied", val: `\`${raw.url}\` is not an absolute http:// URL` } };
    }
    for (const route of this.routes) {
      if (!route.match(call)) continue;
      let answer = route.answer;
      if (typeof answer === "function") answer = answer(call);
      if (answer instanceof HttpError) throw { payload: { tag: answer.kind, val: answer.detail } };
      const status = answer.status ?? 200;
      const headers = answer.headers instanceof HeaderList ? answer.headers : new HeaderList(answer.headers ?? {});
      return { status, headers: headers.toPacked(), body: bytesOf(answer.body) };
    }
    const authority = raw.url.replace(/^http:\/\//, "").split(/[/?#]/)[0];
    throw { payload: { tag: "denied", val: `link \`${this.name}\` has no \`http\` grant for ${authority} (no fake response set with httpRespond)` } };
  }
}

function emptyCacheRecord() {
  return { keyParts: [], bypass: false, ttl: undefined, surrogateKeys: [] };
}

/** One plugin value plus the fake host it talks to. */
export class Harness {
  /**
   * Build `PluginClass` from `config` (JSON text, or a value to stringify;
   * omitted means `null`, no config) the way the host's `init` does. Throws
   * an Error whose message is what the operator would see for a rejected chain.
   * @param {Function} PluginClass
   * @param {unknown} [config]
   * `options.check: false` turns off the host's checks of decisions.
   * @param {{linkName?: string, clientIp?: string, now?: number, random?: (n: number) => Uint8Array, kvMaxEntries?: number, check?: boolean}} [options]
   */
  constructor(PluginClass, config = null, options = {}) {
    this.PluginClass = PluginClass;
    this.check = options.check ?? true;
    this.configText = configTextOf(config);
    this.fake = new FakeHost(this.configText, options);
    this._plugin = this._hook(() => build(PluginClass, this.configText));
  }

  /**
   * Scope the link as manifest entry `entry` does (its `when` and `unless`;
   * an object or JSON text), for `reaches`. Throws ScopeError for a rule the
   * host would refuse.
   */
  setScope(entry) {
    this._scope = new Scope(entry);
  }

  /**
   * Whether `req` would reach this link under its scope (every request does
   * when none was set). The hooks run whatever this says.
   */
  reaches(req) {
    return this._scope === undefined || this._scope.reaches(req);
  }

  /** Whether `config` would be accepted: undefined if so, else the operator's message. */
  static configError(PluginClass, config = null) {
    try {
      new Harness(PluginClass, config);
      return undefined;
    } catch (e) {
      return e.message;
    }
  }

  /**
   * Run `f` as the host would run a hook: this fake bound, Date.now() on the
   * fake clock; `phase` ("request", "response") is what cache calls may ask.
   */
  _hook(f, phase = "outside") {
    bindHost(this.fake.imports);
    const realNow = Date.now;
    const fake = this.fake;
    Date.now = () => fake.nowMs;
    if (phase === "request") fake.cacheRecord = emptyCacheRecord();
    fake.phase = phase;
    try {
      return inHook(f);
    } finally {
      fake.phase = "outside";
      Date.now = realNow;
    }
  }

  /**
   * What the plugin asked of the cache for the current request: since the
   * last onRequest (or roundTrip), through the onResponse that follows.
   * Refused calls are not in it (the plugin got the CacheError).
   * @returns {{keyParts: string[], bypass: boolean, ttl: number | undefined, surrogateKeys: string[]}}
   */
  cache() {
    const r = this.fake.cacheRecord;
    return { keyParts: [...r.keyParts], bypass: r.bypass, ttl: r.ttl, surrogateKeys: [...r.surrogateKeys] };
  }

  /** The plugin value, for assertions on its own state. */
  get plugin() {
    return this._plugin;
  }

  /** What the plugin declares it needs, as Needs bit flags (as `init` reports it). */
  needs() {
    return needsFromRaw(this._hook(() => needsToRaw(needsOf(this._plugin))));
  }

  /**
   * Run `onRequest` on `req` (edited in place) and return the action:
   * `{kind: "next"}` or `{kind: "respond", response}`.
   */
  onRequest(req) {
    const p = this._plugin;
    const action = this._hook(() => toAction(typeof p.onRequest === "function" ? p.onRequest(req) : undefined), "request");
    if (action.kind === "next") this._checked(checkRawRequest, req);
    else this._checked(checkRawResponse, action.response);
    return action;
  }

  /** Run `onResponse` on `resp` for the request `req`; returns the (edited) response. */
  onResponse(req, resp) {
    const p = this._plugin;
    const given = resp.status;
    const out = this._hook(() => {
      if (typeof p.onResponse !== "function") return resp;
      const r = p.onResponse(req, resp);
      return r instanceof Response ? r : resp;
    }, "response");
    this._checked((raw) => checkRawResponse(raw, given), out);
    return out;
  }

  /** Apply the host's `check` to `message` (a Request or Response), unless checks are off. */
  _checked(check, message) {
    if (!this.check) return;
    let raw;
    try {
      raw = message._toRaw();
    } catch (e) {
      if (e instanceof TypeError) throw new InvalidDecision(e.message);
      throw e;
    }
    check(raw);
  }

  /**
   * One request the way the host runs it, through the same WIT glue the wasm
   * build uses (packed headers, needs, variants): `onRequest`; if the plugin
   * passed it on, `upstream` (default 200, empty) stands for the next hop's
   * answer and `onResponse` runs when the plugin asked for the response
   * phase. With `freshInstance: true` a new instance serves it, as in the
   * default per-request mode.
   * @returns {{answeredBy: "plugin"|"upstream", request: Request, response: Response}}
   */
  roundTrip(req, upstream = new Response(200), { freshInstance = false } = {}) {
    if (freshInstance) this.freshInstance();
    const glue = this._glue();
    const needs = this._hook(() => glue.init(this.configText));
    const action = this._hook(() => glue.onRequest(req._toRaw()), "request");
    if (this.check) (action.tag === "respond" ? checkRawResponse : checkRawRequest)(action.val);
    if (action.tag === "respond") {
      return { answeredBy: "plugin", request: req, response: Response._fromRaw(action.val) };
    }
    const sent = Request._fromRaw(action.val);
    if (!needs.responsePhase && !needs.responseBody) {
      return { answeredBy: "upstream", request: sent, response: upstream };
    }
    const up = upstream._toRaw();
    if (!needs.responseBody) up.body = null;
    const back = this._hook(() => glue.onResponse(action.val, up), "response");
    if (this.check) checkRawResponse(back, up.status);
    const response = Response._fromRaw(back);
    if (response.body === null && upstream.body !== null) response.body = upstream.body;
    return { answeredBy: "upstream", request: sent, response };
  }

  /** The WIT glue of the wasm build, bound to this harness's plugin value. */
  _glue() {
    const self = this;
    // A constructor returning an object makes `new` return that object.
    const Bound = function () {
      return self._plugin;
    };
    return makeFilter(Bound);
  }

  /**
   * Replace the plugin with a new value built from the same config, as a
   * fresh per-request instance would be. The key-value store is kept: it
   * belongs to the host, not to the instance.
   */
  freshInstance() {
    _resetRandom();
    this._plugin = this._hook(() => build(this.PluginClass, this.configText));
    return this._plugin;
  }

  /** Make context.clientIp() return `ip` from now on. */
  setClientIp(ip) {
    this.fake.ip = ip ?? "";
  }

  /** Make context.linkName() return `name` (default: `test`). */
  setLinkName(name) {
    this.fake.name = name;
  }

  /** Move the fake clock forward by `ms` (expiring kv entries whose TTL passed). */
  advanceClock(ms) {
    this.fake.nowMs += ms;
  }

  /** Set the fake clock (ms since the epoch). */
  setClock(ms) {
    this.fake.nowMs = ms;
  }

  /** The fake clock (ms since the epoch): what Date.now() returns during hooks. */
  now() {
    return this.fake.nowMs;
  }

  /** Make the secure random source (and so Math.random's seed on QuickJS) return `f(n)`. */
  setRandom(f) {
    this.fake.randomSource = f;
  }

  /** Every message the plugin logged so far, oldest first: `{level, message}`. */
  logs() {
    return this.fake.logs.slice();
  }

  /** Forget the captured logs. */
  clearLogs() {
    this.fake.logs.length = 0;
  }

  /** The value the plugin stored under `key` as bytes, if present and not expired. */
  kvGet(key) {
    const e = this.fake._live(key);
    return e ? e.value.slice() : undefined;
  }

  /** The value under `key` as text. */
  kvGetText(key) {
    const v = this.kvGet(key);
    return v === undefined ? undefined : decodeUtf8(v, false);
  }

  /** Put a value in the fake store (text or bytes), as if another instance had. */
  kvSet(key, value, ttlMs) {
    this.fake.imports.kv.set(key, typeof value === "string" ? encodeUtf8(value) : value, ttlMs ?? null);
  }

  /** The live keys of the fake store. */
  kvKeys() {
    return [...this.fake.store.keys()].filter((k) => this.fake._live(k));
  }

  /**
   * Answer outbound calls whose URL starts with `match` (or for which
   * `match(call)` is true) with `answer`: `{status, headers, body}` (body:
   * text, bytes or a JSON-able value), a function of the call returning one,
   * or an HttpError to fail the call. Earlier routes win.
   */
  httpRespond(match, answer) {
    const m = typeof match === "function" ? match : (call) => call.url.startsWith(match);
    this.fake.routes.push({ match: m, answer });
  }

  /** Fail outbound calls matching `match` with `kind` ("timeout", "connect", ...). */
  httpFail(match, kind, detail) {
    this.httpRespond(match, new HttpError(kind, detail));
  }

  /** The outbound calls made so far: `{method, url, headers, body, timeoutMs}`. */
  httpCalls() {
    return this.fake.calls.slice();
  }
}

export { Request, Response, HeaderList, HttpError, InvalidDecision, Scope, ScopeError };
