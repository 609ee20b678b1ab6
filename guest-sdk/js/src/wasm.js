// What the generated wasm entry calls (see bin/edgechain-build.mjs): bind the
// component's imports, install polyfills, and build the `filter` export.
// Not for plugin code.

import { installPolyfills } from "./polyfills.js";
import { makeFilter } from "./runtime.js";
import { bindHost } from "./sys.js";

/**
 * @param {{host: any, kv: any, http: any, cache: any, random: any}} imports the WIT imports
 * @param {"quickjs"|"starlingmonkey"} engine
 */
export function setup(imports, engine) {
  bindHost({ ...imports, engine, fake: false });
  installPolyfills(engine);
}

export { makeFilter };
