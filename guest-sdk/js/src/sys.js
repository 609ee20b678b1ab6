// The host functions the SDK calls: the component's imports in a wasm build
// (bound by the generated entry, see src/wasm.js) or the fake host of
// src/testing.js under Node. Plugins use kv/log/context/http/cache instead.

/** @type {{host: any, kv: any, http: any, cache: any, random: any, engine: string, fake: boolean} | null} */
let bound = null;
let depth = 0;

/** Bind the host imports (wasm entry) or a fake host (testing). */
export function bindHost(imports) {
  bound = imports;
}

/** Which engine runs this code: "quickjs", "starlingmonkey" or "node". */
export function engine() {
  return bound ? bound.engine : "node";
}

/** Run `f` as a hook call: host functions are available inside. */
export function inHook(f) {
  depth++;
  try {
    return f();
  } finally {
    depth--;
  }
}

/** Whether a hook (init, constructor, onRequest, onResponse) is running. */
export function hookRunning() {
  return depth > 0;
}

/** Thrown when a host function is called where there is no host. */
export class NoHostError extends Error {
  constructor(what) {
    super(
      `${what} was called outside a hook, most likely at module top level. ` +
        "The build runs the plugin's top level once and snapshots the result before any host exists, " +
        "so host functions (kv, log, context, http, console output, randomness) work only inside the " +
        "plugin's constructor, needs(), onRequest() and onResponse(). Move the call into one of them.",
    );
    this.name = "NoHostError";
  }
}

/** The bound imports, or a NoHostError naming `what`. */
export function host(what) {
  if (bound === null || (depth === 0 && !bound.fake)) throw new NoHostError(what);
  return bound;
}

/** The bound imports if a host is usable right now, else null (no throw). */
export function hostIfAvailable() {
  if (bound === null || (depth === 0 && !bound.fake)) return null;
  return bound;
}
