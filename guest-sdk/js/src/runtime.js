// Glue between the WIT `filter` export and a plugin class. One component
// instance holds at most one plugin value, built lazily from the host's
// `config()` the first time a hook runs (or by `init`), as in the Rust SDK.

import { toAction } from "./action.js";
import { Request, Response } from "./message.js";
import { needsToRaw } from "./needs.js";
import { _resetRandom } from "./random.js";
import { host, inHook } from "./sys.js";

function messageOf(e) {
  if (e instanceof Error) return e.message;
  if (typeof e === "string") return e;
  try {
    return JSON.stringify(e);
  } catch {
    return String(e);
  }
}

/** Parse `configText` as `init` does; returns the config value to construct with. */
export function parseConfig(configText) {
  let value;
  try {
    value = JSON.parse(configText);
  } catch (e) {
    throw new ConfigError(`invalid config: ${messageOf(e)}`);
  }
  // No config at all (`null`) is `{}`, so destructuring with defaults works.
  return value === null ? {} : value;
}

/** A config the plugin rejected: the message is what the operator sees. */
export class ConfigError extends Error {
  constructor(message) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Build the plugin value from JSON text; throws ConfigError with the operator's message. */
export function build(PluginClass, configText) {
  if (typeof PluginClass !== "function") {
    throw new ConfigError(
      "the plugin module's default export is not a class: `export default class MyPlugin { ... }`",
    );
  }
  const config = parseConfig(configText);
  try {
    return new PluginClass(config);
  } catch (e) {
    throw new ConfigError(messageOf(e));
  }
}

/** What the plugin declares it needs, as bit flags or an object. */
export function needsOf(plugin) {
  return typeof plugin.needs === "function" ? plugin.needs() : 0;
}

/** Run hook `f`, logging the error (with its stack) before it traps the instance. */
function guarded(hook, f) {
  try {
    return f();
  } catch (e) {
    try {
      const detail = e instanceof Error && e.stack ? `${e.name}: ${e.message}\n${e.stack}` : messageOf(e);
      host("log").host.log("error", `${hook} threw: ${detail}`);
    } catch {
      // logging must not hide the original error
    }
    throw e;
  }
}

/**
 * The `edgechain:plugin/filter` export for `PluginClass`: what the generated
 * wasm entry exports as `filter`.
 */
export function makeFilter(PluginClass) {
  let plugin = null;
  const current = () => {
    if (plugin === null) {
      // `init` accepted this config when the chain loaded, so failing now
      // means the host broke its contract: trap so its failure policy applies.
      try {
        plugin = build(PluginClass, host("config").host.config());
      } catch (e) {
        throw new Error(`plugin config rejected after init: ${messageOf(e)}`);
      }
    }
    return plugin;
  };
  return {
    init(configText) {
      return inHook(() => {
        let needs;
        try {
          plugin = build(PluginClass, configText);
          needs = needsToRaw(needsOf(plugin));
        } catch (e) {
          // The WIT result's error: the chain is rejected with this message.
          throw messageOf(e);
        } finally {
          // The host may snapshot this instance right after `init` and start
          // every later instance from it (pre-initialisation): forget a seed
          // the constructor drew, so each of those instances reseeds
          // Math.random from wasi:random on first use instead of replaying
          // one sequence.
          _resetRandom();
        }
        return needs;
      });
    },
    onRequest(rawReq) {
      return inHook(() =>
        guarded("onRequest", () => {
          const p = current();
          const req = Request._fromRaw(rawReq);
          const action = typeof p.onRequest === "function" ? toAction(p.onRequest(req)) : toAction(undefined);
          if (action.kind === "respond") return { tag: "respond", val: action.response._toRaw() };
          return { tag: "next", val: req._toRaw() };
        }),
      );
    },
    onResponse(rawReq, rawResp) {
      return inHook(() =>
        guarded("onResponse", () => {
          const p = current();
          const req = Request._fromRaw(rawReq);
          const resp = Response._fromRaw(rawResp);
          if (typeof p.onResponse === "function") {
            const r = p.onResponse(req, resp);
            if (r !== undefined && r !== resp) {
              if (r instanceof Response) return r._toRaw();
              if (typeof r === "object" && r !== null && typeof r.then === "function") {
                throw new TypeError("onResponse returned a Promise: hooks are synchronous, so drop async/await");
              }
              throw new TypeError("onResponse must change `resp` in place (or return a Response)");
            }
          }
          return resp._toRaw();
        }),
      );
    },
  };
}
