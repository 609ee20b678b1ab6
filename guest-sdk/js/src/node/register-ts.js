// `node --import @edgechain/sdk/register-ts --test test/*.test.ts`: run
// TypeScript plugin code and tests under plain Node 20 (which cannot strip
// types itself) by transpiling .ts files with the SDK's pinned esbuild.
// Types are not checked here: that is `tsc --noEmit`'s job.

import { register } from "node:module";

register("./ts-hooks.js", import.meta.url);
