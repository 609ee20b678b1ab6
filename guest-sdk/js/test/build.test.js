// The build contract end to end: bin/edgechain-build.mjs on small fixture
// projects, the component checks, and (when a host binary is at hand:
// $EDGECHAIN_BIN, else this checkout's target/{debug,release}/edgechain or edgechain on PATH) a
// real `edgechain validate`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { get as httpGet } from "node:http";
import { createServer } from "node:net";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { componentRole, inspectComponent, unsupportedImports } from "../src/component.js";

const here = dirname(fileURLToPath(import.meta.url));
const build = join(here, "..", "bin", "edgechain-build.mjs");
const fixtures = join(here, "fixtures");
const tmp = mkdtempSync(join(tmpdir(), "edgechain-sdk-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

function hostBinary() {
  if (process.env.EDGECHAIN_BIN) return process.env.EDGECHAIN_BIN;
  for (const profile of ["debug", "release"]) {
    const built = join(here, "..", "..", "..", "target", profile, "edgechain");
    if (existsSync(built)) return built;
  }
  const which = spawnSync("sh", ["-c", "command -v edgechain"], { encoding: "utf8" });
  return which.status === 0 ? which.stdout.trim() : undefined;
}

function run(args) {
  return spawnSync(process.execPath, [build, ...args], { encoding: "utf8" });
}

test("unsupported imports are named with a reason", () => {
  const bad = unsupportedImports([
    { name: "wasi:cli/stdout@0.2.12", kind: "instance" },
    { name: "wasi:random/random@0.2.3", kind: "instance" },
    { name: "edgechain:plugin/kv@0.3.0", kind: "instance" },
    { name: "edgechain:plugin/cache@0.3.1", kind: "instance" },
    { name: "wasi:http/types@0.2.10", kind: "instance" },
    { name: "wasi:cli/stdout@0.3.0-rc-2025-09-16", kind: "instance" },
    { name: "wasi:keyvalue/store@0.2.0-draft", kind: "instance" },
    { name: "edgechain:plugin/admin@0.3.0", kind: "instance" },
    { name: "edgechain:plugin/kv@0.2.0", kind: "instance" },
    { name: "acme:thing/x@1.0.0", kind: "instance" },
    { name: "env-var", kind: "func" },
  ]);
  assert.deepEqual(
    bad.map((b) => b.name),
    ["wasi:http/types@0.2.10", "wasi:cli/stdout@0.3.0-rc-2025-09-16", "wasi:keyvalue/store@0.2.0-draft", "edgechain:plugin/admin@0.3.0", "edgechain:plugin/kv@0.2.0", "acme:thing/x@1.0.0", "env-var"],
  );
  assert.match(bad[0].reason, /a plugin gets no wasi:http/);
});

test("an edge app (a wasi:http handler) may import wasi:http types and outgoing-handler", () => {
  const app = [{ name: "wasi:http/incoming-handler@0.2.10", kind: "instance" }];
  assert.equal(componentRole(app), "app");
  assert.equal(componentRole([{ name: "edgechain:plugin/filter@0.3.0", kind: "instance" }]), "plugin");
  assert.equal(componentRole([{ name: "wasi:http/incoming-handler@0.3.0", kind: "instance" }]), "unknown");
  assert.equal(componentRole([]), "unknown");
  const imports = [
    { name: "wasi:http/types@0.2.10", kind: "instance" },
    { name: "wasi:http/outgoing-handler@0.2.10", kind: "instance" },
    { name: "wasi:http/incoming-handler@0.2.10", kind: "instance" },
    { name: "wasi:http/types@0.3.0", kind: "instance" },
  ];
  const bad = unsupportedImports(imports, { app: true });
  assert.deepEqual(bad.map((b) => b.name), ["wasi:http/incoming-handler@0.2.10", "wasi:http/types@0.3.0"]);
  assert.equal(unsupportedImports(imports).length, 4, "a plugin gets none of them");
});

/** Whether the optional StarlingMonkey engine is installed (CI installs it: .ci/languages). */
function starlingMonkey(t) {
  const installed = existsSync(join(here, "..", "engines", "starlingmonkey", "node_modules", "@bytecodealliance", "componentize-js", "package.json"));
  if (!installed && process.env.EDGECHAIN_REQUIRE_STARLINGMONKEY === "1") {
    assert.fail("EDGECHAIN_REQUIRE_STARLINGMONKEY=1 but engines/starlingmonkey is not installed (npm ci --prefix engines/starlingmonkey)");
  }
  if (!installed) t.skip("the StarlingMonkey engine is not installed (npm ci --prefix engines/starlingmonkey)");
  return installed;
}

test("an edge app builds into a wasi:http component that --inspect calls an app and the host loads", (t) => {
  if (!starlingMonkey(t)) return;
  const out = join(tmp, "edge_app.wasm");
  const r = run([join(fixtures, "edge-app"), out, "--json", "--quiet"]);
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.engine, "starlingmonkey");
  assert.equal(summary.kind, "app");
  const inspected = run(["--inspect", out, "--json"]);
  assert.equal(inspected.status, 0, inspected.stdout + inspected.stderr);
  const info = JSON.parse(inspected.stdout);
  assert.equal(info.role, "app");
  assert.deepEqual(info.unsupported, []);
  // StarlingMonkey implements wasi:http 0.2.10: the world must say so, or the host cannot find the export.
  assert.ok(info.exports.some((e) => e.name === "wasi:http/incoming-handler@0.2.10"), JSON.stringify(info.exports));
  assert.ok(info.imports.some((i) => i.name === "wasi:http/types@0.2.10"));
  const text = run(["--inspect", out]);
  assert.equal(text.status, 0);
  assert.match(text.stdout, /a wasi:http edge app: the host serves it as the last link of a chain/);
  assert.doesNotMatch(text.stdout, /UNSUPPORTED/);
  const bin = hostBinary();
  if (!bin) return;
  const dir = join(tmp, "app-chain");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "proxychain.json"), JSON.stringify({ proxychain: [{ name: "app", module: out, timeout_ms: 2000 }] }));
  const v = spawnSync(bin, ["validate", "--module-dir", tmp, dir], { encoding: "utf8" });
  assert.equal(v.status, 0, v.stderr);
});

test("an edge app without a fetch handler, or built with QuickJS, is refused with the reason", (t) => {
  const noHandler = join(tmp, "no-handler");
  mkdirSync(join(noHandler, "src"), { recursive: true });
  writeFileSync(join(noHandler, "package.json"), JSON.stringify({ name: "no-handler", edgechain: { app: true } }));
  writeFileSync(join(noHandler, "src", "index.js"), "export function handle(request) { return new Response('x'); }\n");
  const quickjs = run([noHandler, join(tmp, "nh.wasm"), "--engine", "quickjs"]);
  assert.equal(quickjs.status, 2);
  assert.match(quickjs.stderr, /built with the starlingmonkey engine/);
  if (!starlingMonkey(t)) return;
  const r = run([noHandler, join(tmp, "nh.wasm")]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /registers no fetch handler/);
  assert.ok(!existsSync(join(tmp, "nh.wasm")));
});

test("a JS project builds into a component the host accepts", () => {
  const out = join(tmp, "tagger.wasm");
  const r = run([join(fixtures, "tagger"), out, "--json", "--quiet"]);
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.engine, "quickjs");
  const info = inspectComponent(new Uint8Array(readFileSync(out)));
  const wit = /package edgechain:plugin@([0-9.]+);/.exec(readFileSync(new URL("../../../wit/plugin.wit", import.meta.url), "utf8"))[1];
  assert.ok(info.exports.some((e) => e.name === `edgechain:plugin/filter@${wit}`));
  assert.ok(info.imports.some((i) => i.name === `edgechain:plugin/cache@${wit}`), "the cache import is linked");
  assert.ok(info.imports.some((i) => i.name.startsWith("wasi:random/random@0.2")));
  assert.ok(!info.imports.some((i) => i.name.startsWith("wasi:http")));
  assert.deepEqual(unsupportedImports(info.imports), []);
  const bin = hostBinary();
  if (!bin) return;
  const dir = join(tmp, "chain");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "proxychain.json"), JSON.stringify({ proxychain: [{ name: "t", module: out, config: { tag: "x" } }] }));
  const v = spawnSync(bin, ["validate", "--module-dir", tmp, dir], { encoding: "utf8" });
  assert.equal(v.status, 0, v.stderr);
});

/** A free local port. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** GET `path` on 127.0.0.1:`port`: {status, headers}, or undefined if nothing answers. */
function fetchHead(port, path) {
  return new Promise((resolve) => {
    const req = httpGet({ host: "127.0.0.1", port, path, timeout: 5000 }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers }));
    });
    req.on("error", () => resolve(undefined));
    req.on("timeout", () => req.destroy());
  });
}

test("a JS plugin's cache calls reach the real host and its refusals come back as CacheError", async (t) => {
  const bin = hostBinary();
  if (!bin) return t.skip("no edgechain binary");
  const out = join(tmp, "tagger3.wasm");
  assert.equal(run([join(fixtures, "tagger"), out, "--quiet"]).status, 0);
  const dir = join(tmp, "cache-chain");
  mkdirSync(dir, { recursive: true });
  copyFileSync(out, join(dir, "tagger.wasm"));
  writeFileSync(join(dir, "proxychain.json"), JSON.stringify({ proxychain: [{ name: "t", module: "tagger.wasm", config: { tag: "x" } }] }));
  const [port, admin] = [await freePort(), await freePort()];
  const demo = spawn(bin, ["demo", "--config", dir, "--listen", `127.0.0.1:${port}`, "--admin", `127.0.0.1:${admin}`,
    "--access-log", "off", "--poll-interval", "0", "--compile-cache", "off"], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  demo.stderr.on("data", (d) => (stderr += d));
  try {
    const deadline = Date.now() + 150_000;
    for (;;) {
      const ready = await fetchHead(admin, "/readyz");
      if (ready?.status === 200) break;
      assert.ok(demo.exitCode === null, `demo exited: ${stderr}`);
      assert.ok(Date.now() < deadline, `demo not ready in 150 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const r = await fetchHead(port, "/page");
    assert.equal(r?.status, 200, stderr);
    assert.equal(r.headers["x-cache-answers"], "ok,invalid,wrong-phase,ok");
  } finally {
    demo.kill("SIGTERM");
  }
});

test("a TypeScript project with the crypto helpers builds", () => {
  const out = join(tmp, "typed.wasm");
  const r = run([join(fixtures, "typed"), out, "--quiet"]);
  assert.equal(r.status, 0, r.stderr);
});

test("a host call at module top level fails the build with the SDK's explanation", () => {
  const r = run([join(fixtures, "toplevel"), join(tmp, "top.wasm")]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /context\.linkName\(\) was called outside a hook, most likely at module top level/);
  assert.ok(!existsSync(join(tmp, "top.wasm")), "no output on failure");
});

test("usage errors and bad projects exit non-zero with a readable message", () => {
  assert.equal(run([]).status, 2);
  const missing = run([join(tmp, "nope"), join(tmp, "x.wasm")]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /is not a directory/);
  const bad = join(tmp, "bad");
  mkdirSync(join(bad, "src"), { recursive: true });
  writeFileSync(join(bad, "src", "index.js"), 'import { readFileSync } from "node:fs";\nexport default class X {}\n');
  const r = run([bad, join(tmp, "bad.wasm")]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /Node built-ins do not exist in a plugin/);
});

test("--inspect lists imports and refuses nothing for a good component", () => {
  const out = join(tmp, "tagger2.wasm");
  assert.equal(run([join(fixtures, "tagger"), out, "--quiet"]).status, 0);
  const r = run(["--inspect", out, "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.ok(info.pool.coreInstances >= 1);
  assert.deepEqual(info.unsupported, []);
});
