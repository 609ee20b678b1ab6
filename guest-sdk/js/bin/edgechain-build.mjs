#!/usr/bin/env node
// edgechain-build: turn a JS/TS plugin project into an edgechain component.
//
//   node guest-sdk/js/bin/edgechain-build.mjs <project-dir> <out.wasm> [options]
//
// The build contract (README.md, "Build contract"): bundle the project's
// entry with esbuild, componentize it against the edgechain:plugin WIT with
// the pinned engine, and refuse an output that imports anything the host
// does not provide. A project with `"edgechain": {"app": true}` is an edge
// app instead (README.md, "Edge apps"): a standard wasi:http component built
// with StarlingMonkey, served as the last link of a chain. Exit 0: <out.wasm> written (atomically). Exit 1: build
// failed, reasons on stderr. Exit 2: bad usage.

import { existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, mkdirSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { componentRole, inspectComponent, unsupportedImports } from "../src/component.js";

const SDK = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const ENGINES = ["quickjs", "starlingmonkey"];
const USAGE = `usage: edgechain-build <project-dir> <out.wasm> [options]
       edgechain-build --inspect <file.wasm> [--json]

Builds the JS/TS plugin in <project-dir> (entry: package.json "edgechain.entry",
else "main", else src/index.ts / src/index.js / index.ts / index.js) into the
component <out.wasm>. With "edgechain": {"app": true} in package.json the
project is an edge app: its entry calls addEventListener("fetch", ...) and
the build is a standard wasi:http component (StarlingMonkey), which the host
serves as the last link of a chain.

options:
  --engine quickjs|starlingmonkey  JS engine (default: package.json "edgechain.engine", else quickjs)
  --wit DIR                        edgechain:plugin WIT (default: $EDGECHAIN_WIT, else the repository's wit/)
  --opt-size                       QuickJS: the size-optimised runtime (smaller, slower per request)
  --no-gc                          QuickJS: no automatic cycle collection (refcounting still frees
                                   most garbage); for "per-request" instances, which die after one request
  --minify                         minify the bundle
  --bundle-out FILE                also write the bundled JS there
  --json                           print a JSON summary on stdout
  --quiet                          no summary line on stderr
  -h, --help                       this text`;

class BuildError extends Error {}

function fail(message) {
  throw new BuildError(message);
}

function parseArgs(argv) {
  const opts = { positional: [], engine: undefined, wit: undefined, optSize: false, noGc: false, minify: false, bundleOut: undefined, json: false, quiet: false, inspect: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === "-h" || a === "--help") {
      console.log(USAGE);
      process.exit(0);
    } else if (a === "--engine") opts.engine = value();
    else if (a.startsWith("--engine=")) opts.engine = a.slice(9);
    else if (a === "--wit") opts.wit = value();
    else if (a.startsWith("--wit=")) opts.wit = a.slice(6);
    else if (a === "--opt-size") opts.optSize = true;
    else if (a === "--no-gc") opts.noGc = true;
    else if (a === "--minify") opts.minify = true;
    else if (a === "--bundle-out") opts.bundleOut = value();
    else if (a === "--json") opts.json = true;
    else if (a === "--quiet") opts.quiet = true;
    else if (a === "--inspect") opts.inspect = value();
    else if (a.startsWith("-")) usage(`unknown option ${a}`);
    else opts.positional.push(a);
  }
  return opts;
}

function usage(message) {
  console.error(`edgechain-build: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    fail(`${file}: ${e.message}`);
  }
}

/** The project's entry file and engine choice, from its package.json. */
function projectOf(dir) {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) fail(`${dir} is not a directory`);
  const pkgFile = join(dir, "package.json");
  const pkg = existsSync(pkgFile) ? readJson(pkgFile) : {};
  const ec = pkg.edgechain && typeof pkg.edgechain === "object" ? pkg.edgechain : {};
  let entry = ec.entry || pkg.main;
  if (entry) {
    if (!existsSync(join(dir, entry))) fail(`${pkgFile}: entry ${entry} does not exist`);
  } else {
    entry = ["src/index.ts", "src/index.js", "src/index.mjs", "index.ts", "index.js", "index.mjs"].find((f) => existsSync(join(dir, f)));
    if (!entry) fail(`${dir}: no entry: set "edgechain": {"entry": "src/plugin.ts"} in package.json, or add src/index.ts or src/index.js`);
  }
  if (ec.app !== undefined && typeof ec.app !== "boolean") fail(`${pkgFile}: "edgechain": {"app": ...} must be true or false`);
  return { name: pkg.name || dirname(dir), entry: resolve(dir, entry), engine: ec.engine, app: ec.app === true };
}

/** The directory holding the edgechain:plugin WIT package. */
function witDirOf(flag) {
  const candidates = flag ? [resolve(flag)] : process.env.EDGECHAIN_WIT ? [resolve(process.env.EDGECHAIN_WIT)] : [join(SDK, "..", "..", "wit"), join(SDK, "wit", "edgechain-plugin")];
  for (const dir of candidates) {
    if (!existsSync(dir)) continue;
    const files = readdirSync(dir).filter((f) => f.endsWith(".wit"));
    for (const f of files) {
      const m = /^\s*package\s+edgechain:plugin@([0-9.]+)\s*;/m.exec(readFileSync(join(dir, f), "utf8"));
      if (m) return { dir, version: m[1], files };
    }
    if (flag || process.env.EDGECHAIN_WIT) fail(`${dir}: no .wit file declares \`package edgechain:plugin@...\``);
  }
  fail(`cannot find the edgechain:plugin WIT (looked in ${candidates.join(", ")}): set EDGECHAIN_WIT=DIR (or pass --wit DIR to edgechain-build)`);
}

/**
 * A WIT directory for the engine: the edgechain `plugin` world plus
 * wasi:random/random (to reseed randomness per instance), in a world of our
 * own so the repository's WIT stays untouched.
 */
function makeWit(tmp, wit) {
  const root = join(tmp, "wit");
  const deps = join(root, "deps");
  mkdirSync(join(deps, "edgechain-plugin"), { recursive: true });
  for (const f of wit.files) copyFileSync(join(wit.dir, f), join(deps, "edgechain-plugin", f));
  if (existsSync(join(wit.dir, "deps"))) {
    for (const d of readdirSync(join(wit.dir, "deps"))) {
      const src = join(wit.dir, "deps", d);
      if (!statSync(src).isDirectory()) continue;
      mkdirSync(join(deps, d), { recursive: true });
      for (const f of readdirSync(src)) if (f.endsWith(".wit")) copyFileSync(join(src, f), join(deps, d, f));
    }
  }
  mkdirSync(join(deps, "wasi-random"), { recursive: true });
  copyFileSync(join(SDK, "wit", "wasi-random", "random.wit"), join(deps, "wasi-random", "random.wit"));
  writeFileSync(
    join(root, "world.wit"),
    `// Generated by edgechain-build: the edgechain plugin world plus secure randomness.
package edgechain:js-guest;

world plugin {
  include edgechain:plugin/plugin@${wit.version};
  import wasi:random/random@0.2.12;
}
`,
  );
  return root;
}

/** The wasi:http version StarlingMonkey (componentize-js 0.23.0) implements, exactly. */
const APP_WASI_HTTP = "0.2.10";

/**
 * A WIT directory for an edge app: a world exporting
 * wasi:http/incoming-handler at the version the engine implements (a world
 * naming another 0.2.x builds but fails at load: the engine's export keeps
 * its own version), with the vendored wasi packages as dependencies.
 */
function makeAppWit(tmp) {
  const root = join(tmp, "wit");
  const vendored = join(SDK, "wit", `wasi-http-${APP_WASI_HTTP}`);
  for (const f of readdirSync(vendored).filter((f) => f.endsWith(".wit"))) {
    const dir = join(root, "deps", f.slice(0, -4));
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(vendored, f), join(dir, "package.wit"));
  }
  writeFileSync(
    join(root, "world.wit"),
    `// Generated by edgechain-build: an edge app, the wasi:http handler StarlingMonkey implements.
package edgechain:js-app;

world app {
  import wasi:http/outgoing-handler@${APP_WASI_HTTP};
  export wasi:http/incoming-handler@${APP_WASI_HTTP};
}
`,
  );
  return root;
}

const SDK_EXPORTS = {
  "@edgechain/sdk": "src/index.js",
  "@edgechain/sdk/testing": "src/testing.js",
  "@edgechain/sdk/crypto": "src/crypto.js",
  "@edgechain/sdk/wasm": "src/wasm.js",
};

async function bundle(project, engine, witVersion, opts) {
  const v = witVersion;
  const setup = `
import * as host from "edgechain:plugin/host@${v}";
import * as kv from "edgechain:plugin/kv@${v}";
import * as http from "edgechain:plugin/http@${v}";
import * as cache from "edgechain:plugin/cache@${v}";
import * as random from "wasi:random/random@0.2.12";
import { setup } from "@edgechain/sdk/wasm";
setup({ host, kv, http, cache, random }, ${JSON.stringify(engine)});
`;
  const entry = `
import "edgechain:setup";
import Plugin from ${JSON.stringify(project.entry)};
import { makeFilter } from "@edgechain/sdk/wasm";
export const filter = makeFilter(Plugin);
`;
  const sdkPlugin = {
    name: "edgechain",
    setup(build) {
      build.onResolve({ filter: /^edgechain:setup$/ }, () => ({ path: "setup", namespace: "edgechain" }));
      build.onLoad({ filter: /.*/, namespace: "edgechain" }, () => ({ contents: setup, loader: "js", resolveDir: SDK }));
      build.onResolve({ filter: /^@edgechain\/sdk(\/.*)?$/ }, (args) => {
        const target = SDK_EXPORTS[args.path];
        if (!target) return { errors: [{ text: `${args.path} is not part of @edgechain/sdk (known: ${Object.keys(SDK_EXPORTS).join(", ")})` }] };
        if (args.path === "@edgechain/sdk/testing") {
          return { errors: [{ text: "@edgechain/sdk/testing is for tests under Node; plugin code cannot import it" }] };
        }
        return { path: join(SDK, target) };
      });
      build.onResolve({ filter: /^(node:|fs$|path$|crypto$|os$|http$|https$|net$|child_process$|buffer$|stream$|util$|events$)/ }, (args) => ({
        errors: [{ text: `${args.path}: Node built-ins do not exist in a plugin (use @edgechain/sdk: http, kv, log, crypto helpers)` }],
      }));
    },
  };
  const result = await esbuildBundle(project, opts, {
    stdin: { contents: entry, resolveDir: dirname(project.entry), sourcefile: "edgechain-entry.js", loader: "js" },
    conditions: ["edgechain", "module"],
    external: ["edgechain:plugin/*", "wasi:*"],
    define: { "process.env.NODE_ENV": '"production"' },
    plugins: [sdkPlugin],
  });
  const js = result.outputFiles[0].text;
  if (!/export\s*\{[^}]*\bfilter\b/.test(js) && !/export\s+const\s+filter\b/.test(js)) fail("internal: the bundle does not export `filter`");
  // The files the bundle was made of (absolute paths): what a watcher should watch.
  const inputs = Object.keys(result.metafile.inputs)
    .filter((f) => !f.startsWith("edgechain:") && f !== "<stdin>")
    .map((f) => resolve(process.cwd(), f));
  return { js, inputs };
}

/** Bundle an edge app's entry as it is: it registers its own fetch handler. */
async function bundleApp(project, opts) {
  const refuse = {
    name: "edgechain-app",
    setup(build) {
      build.onResolve({ filter: /^@edgechain\/sdk(\/.*)?$/ }, (args) => ({
        errors: [{ text: `${args.path} is for plugins; an edge app is a standard wasi:http component and uses the Web APIs (Request, Response, fetch) instead` }],
      }));
      build.onResolve({ filter: /^(node:|fs$|path$|crypto$|os$|http$|https$|net$|child_process$|buffer$|stream$|util$|events$)/ }, (args) => ({
        errors: [{ text: `${args.path}: Node built-ins do not exist in an edge app (use the Web APIs: fetch, Request, Response, URL, crypto)` }],
      }));
    },
  };
  const result = await esbuildBundle(project, opts, {
    entryPoints: [project.entry],
    conditions: ["worker", "browser", "module"],
    plugins: [refuse],
  });
  const js = result.outputFiles[0].text;
  if (!/addEventListener\s*\(\s*["'`]fetch["'`]/.test(js)) {
    fail(
      `${relative(process.cwd(), project.entry)} registers no fetch handler: an edge app calls ` +
        `addEventListener("fetch", (event) => event.respondWith(handle(event.request))) at its top level`,
    );
  }
  const inputs = Object.keys(result.metafile.inputs).map((f) => resolve(process.cwd(), f));
  return { js, inputs };
}

function explainEngineError(message) {
  const hints = [];
  if (/NoHostError|called outside a hook/.test(message)) {
    // the SDK's own message says it all
  } else if (/unknown import|has not been defined|cannot call arbitrary imported functions|during Wizer initialization/i.test(message)) {
    hints.push(
      "A host function was called while the build ran the module's top level. The build snapshots the " +
        "initialised module before any host exists: call kv/log/context/http only inside the plugin's " +
        "constructor, needs(), onRequest() or onResponse().",
    );
  }
  if (/does not provide an export named|doesn't provide an export named/.test(message)) {
    hints.push("An import from the WIT world names something the world does not export.");
  }
  return hints.length ? `${message}\n\nhint: ${hints.join("\nhint: ")}` : message;
}

async function componentizeQuickjs(js, witRoot, tmp, opts) {
  let mod;
  try {
    mod = await import("componentize-qjs");
  } catch (e) {
    fail(`componentize-qjs is not installed: run \`npm ci\` in ${SDK} (${e.message})`);
  }
  const componentize = mod.componentize || (mod.default && mod.default.componentize);
  const jsPath = join(tmp, "plugin.js");
  writeFileSync(jsPath, js);
  try {
    const { component } = await componentize({ witPath: witRoot, world: "plugin", jsSource: js, jsPath, moduleRoot: tmp, sync: true, optSize: opts.optSize, disableGc: opts.noGc });
    return new Uint8Array(component);
  } catch (e) {
    fail(`QuickJS componentize failed: ${explainEngineError(String(e && e.message ? e.message : e))}`);
  }
}

async function componentizeStarlingMonkey(js, witRoot, tmp, app = false) {
  const dir = join(SDK, "engines", "starlingmonkey");
  const entry = join(dir, "node_modules", "@bytecodealliance", "componentize-js", "src", "componentize.js");
  if (!existsSync(entry)) {
    fail(`the StarlingMonkey engine is not installed: run \`npm ci --prefix ${relative(process.cwd(), dir) || dir}\` (about 390 MB)`);
  }
  const { componentize } = await import(pathToFileURL(entry).href);
  const sourcePath = join(tmp, app ? "app.js" : "plugin.js");
  writeFileSync(sourcePath, js);
  try {
    const { component } = await componentize(
      app
        ? // An edge app: fetch() and the fetch event are wasi:http, which the host gives an app.
          { sourcePath, witPath: witRoot, worldName: "app" }
        : {
            sourcePath,
            witPath: witRoot,
            worldName: "plugin",
            // No fetch() in a plugin: outbound calls go through http.send (edgechain:plugin/http).
            disableFeatures: ["http", "fetch-event"],
          },
    );
    return new Uint8Array(component);
  } catch (e) {
    fail(`StarlingMonkey componentize failed: ${explainEngineError(String(e && e.message ? e.message : e))}`);
  }
}

/** Refuse a component the host would refuse; returns what inspectComponent found. */
function check(bytes, witVersion, app = false) {
  const info = inspectComponent(bytes);
  const bad = unsupportedImports(info.imports, { app });
  if (bad.length) {
    fail(
      `the component imports what the edgechain host does not provide, so it would be refused at load:\n` +
        bad.map((b) => `  ${b.name}: ${b.reason}`).join("\n"),
    );
  }
  if (app) {
    if (componentRole(info.exports) !== "app") {
      fail(`the component does not export wasi:http/incoming-handler@0.2.x (exports: ${info.exports.map((e) => e.name).join(", ") || "none"})`);
    }
    return info;
  }
  const major = witVersion.split(".").slice(0, 2).join(".");
  if (!info.exports.some((e) => e.name.startsWith(`edgechain:plugin/filter@${major}`))) {
    fail(`the component does not export edgechain:plugin/filter@${witVersion} (exports: ${info.exports.map((e) => e.name).join(", ") || "none"})`);
  }
  return info;
}

function writeAtomically(out, bytes) {
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, out);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.inspect) {
    const bytes = new Uint8Array(readFileSync(opts.inspect));
    let info;
    try {
      info = inspectComponent(bytes);
    } catch (e) {
      fail(`${opts.inspect}: ${e.message}`);
    }
    const role = componentRole(info.exports);
    const bad = unsupportedImports(info.imports, { app: role === "app" });
    if (role === "unknown") {
      bad.push({
        name: "(exports)",
        reason: "the component exports neither edgechain:plugin/filter (a plugin) nor wasi:http/incoming-handler@0.2.x (an edge app)",
      });
    }
    const roles = {
      plugin: "an edgechain plugin: a link anywhere in a chain",
      app: "a wasi:http edge app: the host serves it as the last link of a chain (it answers in place of the next hop)",
      unknown: "neither an edgechain plugin nor a wasi:http edge app",
    };
    if (opts.json) console.log(JSON.stringify({ file: opts.inspect, bytes: bytes.length, role, ...info, unsupported: bad }));
    else {
      console.log(`${opts.inspect}: ${bytes.length} bytes, ${roles[role]}`);
      for (const i of info.imports) console.log(`  import ${i.kind} ${i.name}`);
      for (const e of info.exports) console.log(`  export ${e.kind} ${e.name}`);
      console.log(`  per instance: ${info.pool.coreInstances} core instances, ${info.pool.memories} memories, ${info.pool.tables} tables`);
      for (const b of bad) console.log(`  UNSUPPORTED ${b.name}: ${b.reason}`);
    }
    process.exit(bad.length ? 1 : 0);
  }
  if (opts.positional.length !== 2) usage("expected <project-dir> <out.wasm>");
  const started = Date.now();
  const [dirArg, outArg] = opts.positional;
  const project = projectOf(resolve(dirArg));
  const engine = opts.engine || project.engine || (project.app ? "starlingmonkey" : "quickjs");
  if (!ENGINES.includes(engine)) usage(`unknown engine ${engine} (one of ${ENGINES.join(", ")})`);
  if (project.app && engine !== "starlingmonkey") usage(`an edge app ("edgechain": {"app": true}) is built with the starlingmonkey engine: QuickJS has no wasi:http`);
  if ((opts.optSize || opts.noGc) && engine !== "quickjs") usage("--opt-size and --no-gc apply to the quickjs engine only");
  const wit = project.app ? { dir: join(SDK, "wit", `wasi-http-${APP_WASI_HTTP}`), version: APP_WASI_HTTP } : witDirOf(opts.wit);
  const tmp = mkdtempSync(join(tmpdir(), "edgechain-build-"));
  try {
    const witRoot = project.app ? makeAppWit(tmp) : makeWit(tmp, wit);
    const { js, inputs } = project.app ? await bundleApp(project, opts) : await bundle(project, engine, wit.version, opts);
    if (opts.bundleOut) writeFileSync(opts.bundleOut, js);
    const bytes =
      engine === "quickjs" ? await componentizeQuickjs(js, witRoot, tmp, opts) : await componentizeStarlingMonkey(js, witRoot, tmp, project.app);
    const info = check(bytes, wit.version, project.app);
    const out = isAbsolute(outArg) ? outArg : resolve(outArg);
    writeAtomically(out, bytes);
    const seconds = (Date.now() - started) / 1000;
    const summary = {
      out,
      bytes: bytes.length,
      engine,
      kind: project.app ? "app" : "plugin",
      entry: project.entry,
      wit: wit.dir,
      seconds,
      imports: info.imports.map((i) => i.name),
      inputs,
      perInstance: info.pool,
    };
    if (opts.json) console.log(JSON.stringify(summary));
    if (!opts.quiet) {
      console.error(
        `edgechain-build: ${relative(process.cwd(), out) || out}: ${(bytes.length / 1048576).toFixed(2)} MiB, ${engine}, ` +
          `${info.pool.coreInstances} core instances per instance, ${seconds.toFixed(1)} s`,
      );
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  if (e instanceof BuildError) {
    console.error(`edgechain-build: error: ${e.message}`);
  } else {
    console.error(`edgechain-build: internal error: ${e && e.stack ? e.stack : e}`);
  }
  process.exit(1);
});

/**
 * Bundle `project` with esbuild: the options plugins and edge apps share, plus
 * `options` (the entry and what each may import). A failure ends the build
 * with esbuild's messages.
 */
async function esbuildBundle(project, opts, options) {
  let esbuild;
  try {
    esbuild = await import("esbuild");
  } catch {
    fail(`esbuild is not installed: run \`npm ci\` in ${SDK}`);
  }
  try {
    return await esbuild.build({
      bundle: true,
      write: false,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      mainFields: ["module", "main"],
      minify: opts.minify,
      metafile: true,
      legalComments: "none",
      logLevel: "silent",
      ...options,
    });
  } catch (e) {
    const messages = e.errors ? esbuild.formatMessagesSync(e.errors, { kind: "error", color: false }) : [String(e)];
    fail(`bundling ${relative(process.cwd(), project.entry)} failed:\n${messages.join("").trimEnd()}`);
  }
}
