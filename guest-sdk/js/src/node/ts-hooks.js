// Module hooks for register-ts.js: resolve `./x.js` to `./x.ts` (the
// TypeScript convention) and extensionless relative imports, and transpile
// .ts/.mts/.tsx with esbuild.

import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { transform } from "esbuild";

const TS = /\.(ts|mts|cts|tsx)$/;

function candidates(specifier) {
  if (/\.js$/.test(specifier)) return [specifier.replace(/\.js$/, ".ts"), specifier.replace(/\.js$/, ".tsx")];
  if (/\.mjs$/.test(specifier)) return [specifier.replace(/\.mjs$/, ".mts")];
  if (!/\.[a-z]+$/i.test(specifier)) {
    return [`${specifier}.ts`, `${specifier}.tsx`, `${specifier}.js`, `${specifier}/index.ts`, `${specifier}/index.js`];
  }
  return [];
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    const relative = specifier.startsWith("./") || specifier.startsWith("../") || specifier.startsWith("/") || specifier.startsWith("file:");
    if (relative) {
      for (const candidate of candidates(specifier)) {
        try {
          return await nextResolve(candidate, context);
        } catch {
          // try the next spelling
        }
      }
    }
    throw error;
  }
}

export async function load(url, context, nextLoad) {
  if (url.startsWith("file:") && TS.test(url)) {
    const file = fileURLToPath(url);
    const source = await readFile(file, "utf8");
    const { code } = await transform(source, {
      loader: file.endsWith(".tsx") ? "tsx" : "ts",
      format: "esm",
      target: "node20",
      sourcemap: "inline",
      sourcefile: file,
    });
    return { format: "module", source: code, shortCircuit: true };
  }
  return nextLoad(url, context);
}
