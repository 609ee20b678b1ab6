// @edgechain/sdk: write edgechain plugins in JavaScript or TypeScript.
//
// A plugin is a class: the constructor takes the parsed config (and throws to
// reject it), `needs()` declares what it needs, `onRequest(req)` returns
// nothing / next() to pass the request on or a Response / respond(r) to
// answer at the edge, and `onResponse(req, resp)` edits the response in
// place. The module's default export is the class; `edgechain-build` turns
// the project into a component.

export { HeaderList, MANAGED_HEADERS, isManagedHeader } from "./headers.js";
export { Request, Response } from "./message.js";
export { Needs } from "./needs.js";
export { next, respond } from "./action.js";
export { ConfigError, parseConfig } from "./runtime.js";
export { NoHostError } from "./sys.js";
export { PathError, normalizePath, pathOf, percentDecode, encodeQueryComponent } from "./path.js";
export { encodeUtf8, decodeUtf8 } from "./utf8.js";
export { randomBytes, randomInt, randomUUID, random } from "./random.js";
export * as kv from "./kv.js";
export * as log from "./log.js";
export * as context from "./context.js";
export * as http from "./http.js";
export * as cache from "./cache.js";
export { KvError } from "./kv.js";
export { CacheError } from "./cache.js";
export { HttpError, HttpResponse } from "./http.js";

/**
 * Check that a config object has only `known` keys, so typos are errors (the
 * Rust SDK's `deny_unknown_fields`). Throws with the operator's message.
 * @param {unknown} config
 * @param {string[]} known
 * @param {string} [where] a prefix for the message, e.g. "response"
 */
export function checkKeys(config, known, where) {
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new Error(`${where ? where + ": " : ""}expected an object, got ${Array.isArray(config) ? "an array" : config === null ? "null" : typeof config}`);
  }
  for (const k of Object.keys(config)) {
    if (!known.includes(k)) {
      throw new Error(
        `${where ? where + ": " : ""}unknown field \`${k}\`, expected ${known.length === 1 ? "" : "one of "}${known.map((x) => `\`${x}\``).join(", ")}`,
      );
    }
  }
  return config;
}
