// Log to the host's diagnostic stream (JSON on its stderr), tagged with this
// plugin's link name. Messages below the host's log level are dropped cheaply.

import { host } from "./sys.js";

/** @typedef {"trace"|"debug"|"info"|"warn"|"error"} Level */
export const LEVELS = Object.freeze(["trace", "debug", "info", "warn", "error"]);

/** Format values the way console.log does (strings as is, the rest inspected). */
export function format(args) {
  let out = "";
  for (let i = 0; i < args.length; i++) {
    if (i > 0) out += " ";
    out += show(args[i], 0);
  }
  return out;
}

function show(v, depth) {
  if (typeof v === "string") return depth === 0 ? v : JSON.stringify(v);
  if (v instanceof Error) return v.stack ? `${v.name}: ${v.message}\n${v.stack}` : `${v.name}: ${v.message}`;
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "function") return `[Function ${v.name || "anonymous"}]`;
  if (typeof v === "symbol") return v.toString();
  if (v instanceof Uint8Array) return `Uint8Array(${v.length}) [${Array.from(v.subarray(0, 32)).join(", ")}${v.length > 32 ? ", ..." : ""}]`;
  if (v !== null && typeof v === "object") {
    try {
      return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : x));
    } catch {
      return String(v);
    }
  }
  return String(v);
}

/** Log `message` at `level` ("trace", "debug", "info", "warn" or "error"). */
export function log(level, ...message) {
  if (!LEVELS.includes(level)) throw new TypeError(`unknown log level ${level} (one of ${LEVELS.join(", ")})`);
  host(`log.${level}()`).host.log(level, format(message));
}

/** Log at trace level. */
export const trace = (...m) => log("trace", ...m);
/** Log at debug level. */
export const debug = (...m) => log("debug", ...m);
/** Log at info level. */
export const info = (...m) => log("info", ...m);
/** Log at warn level. */
export const warn = (...m) => log("warn", ...m);
/** Log at error level. */
export const error = (...m) => log("error", ...m);
