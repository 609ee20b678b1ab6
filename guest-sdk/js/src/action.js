// What `onRequest` decides (the Rust SDK's `Action`).

import { Response } from "./message.js";

const NEXT = Object.freeze({ kind: "next" });

/** Pass the (possibly rewritten) request on to the next link or the next hop. */
export function next() {
  return NEXT;
}

/** Answer the client with `response`; later links and the next hop never see the request. */
export function respond(response) {
  if (!(response instanceof Response)) {
    throw new TypeError("respond() takes a Response (Response.text(403, 'no'), new Response(204), ...)");
  }
  return { kind: "respond", response };
}

/**
 * Normalise what `onRequest` returned: nothing or `next()` is next; a
 * Response or `respond(r)` answers.
 */
export function toAction(value) {
  if (value === undefined || value === null || value === NEXT) return NEXT;
  if (value instanceof Response) return { kind: "respond", response: value };
  if (typeof value === "object" && value.kind === "next") return NEXT;
  if (typeof value === "object" && value.kind === "respond" && value.response instanceof Response) return value;
  if (typeof value === "object" && typeof value.then === "function") {
    throw new TypeError(
      "onRequest returned a Promise: hooks are synchronous (http.send() blocks until the answer), so drop async/await",
    );
  }
  throw new TypeError("onRequest must return nothing, next(), respond(response) or a Response");
}
