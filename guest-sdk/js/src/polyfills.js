// What the engines lack, installed by the wasm entry before the plugin's
// module runs: TextEncoder/TextDecoder (QuickJS has neither), console routed
// to the host log with levels (QuickJS has no console; StarlingMonkey's
// writes to stderr, which the host logs at info level only), and per-instance
// randomness on QuickJS (see random.js).

import { format } from "./log.js";
import { installRandomPolyfills } from "./random.js";
import { hostIfAvailable } from "./sys.js";
import { TextDecoderPolyfill, TextEncoderPolyfill } from "./utf8.js";

function makeConsole(original) {
  const emit = (level, args) => {
    const b = hostIfAvailable();
    if (b !== null) {
      b.host.log(level, format(args));
    } else if (original && typeof original.log === "function") {
      // Module top level at build time: the engine's own console, if any.
      original.log(format(args));
    }
    // Otherwise there is nowhere to write at build time: dropped.
  };
  const counts = new Map();
  const timers = new Map();
  return {
    log: (...a) => emit("info", a),
    info: (...a) => emit("info", a),
    debug: (...a) => emit("debug", a),
    trace: (...a) => emit("trace", [...a, new Error("trace").stack || ""]),
    warn: (...a) => emit("warn", a),
    error: (...a) => emit("error", a),
    dir: (v) => emit("info", [v]),
    assert: (cond, ...a) => {
      if (!cond) emit("error", ["Assertion failed", ...a]);
    },
    count: (label = "default") => {
      const n = (counts.get(label) || 0) + 1;
      counts.set(label, n);
      emit("info", [`${label}: ${n}`]);
    },
    time: (label = "default") => {
      timers.set(label, Date.now());
    },
    timeEnd: (label = "default") => {
      const t = timers.get(label);
      timers.delete(label);
      if (t !== undefined) emit("info", [`${label}: ${Date.now() - t}ms`]);
    },
  };
}

/** Install the polyfills for `engine` ("quickjs" or "starlingmonkey"). */
export function installPolyfills(engine) {
  const g = globalThis;
  if (typeof g.TextEncoder !== "function") g.TextEncoder = TextEncoderPolyfill;
  if (typeof g.TextDecoder !== "function") g.TextDecoder = TextDecoderPolyfill;
  g.console = makeConsole(typeof g.console === "object" ? g.console : undefined);
  if (engine === "quickjs") installRandomPolyfills();
}
