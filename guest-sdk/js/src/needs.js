// What a plugin asks the host for (the WIT `needs` flags), as bit flags that
// combine with `|`, like the Rust SDK's `Needs`.

/** @enum {number} */
export const Needs = Object.freeze({
  /** Nothing: bodies stream past, `onResponse` is never called. */
  NONE: 0,
  /** Buffer the request body and pass it in `req.body` (up to the link's `max_body_bytes`). */
  REQUEST_BODY: 1,
  /** Buffer the response body and pass it in `resp.body`. */
  RESPONSE_BODY: 2,
  /** Call `onResponse` for requests this plugin passed on. */
  RESPONSE_PHASE: 4,
});

/** Flags (number, or an object with the WIT's camel-case names) to the WIT record. */
export function needsToRaw(needs) {
  if (needs == null) return { requestBody: false, responseBody: false, responsePhase: false };
  if (typeof needs === "number") {
    if (!Number.isInteger(needs) || needs < 0 || needs > 7) {
      throw new TypeError(`needs() returned ${needs}: combine Needs.* flags with |`);
    }
    return {
      requestBody: (needs & 1) !== 0,
      responseBody: (needs & 2) !== 0,
      responsePhase: (needs & 4) !== 0,
    };
  }
  if (typeof needs === "object") {
    for (const k of Object.keys(needs)) {
      if (k !== "requestBody" && k !== "responseBody" && k !== "responsePhase") {
        throw new TypeError(`needs() returned an unknown flag \`${k}\` (known: requestBody, responseBody, responsePhase)`);
      }
    }
    return {
      requestBody: !!needs.requestBody,
      responseBody: !!needs.responseBody,
      responsePhase: !!needs.responsePhase,
    };
  }
  throw new TypeError(`needs() returned a ${typeof needs}: return Needs flags`);
}

/** The WIT record back to bit flags. */
export function needsFromRaw(raw) {
  return (raw.requestBody ? 1 : 0) | (raw.responseBody ? 2 : 0) | (raw.responsePhase ? 4 : 0);
}
