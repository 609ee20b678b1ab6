#!/usr/bin/env node
// Check JS example plugins in a real edgechain host, in both instance modes.
//
//   node examples/js/smoke.mjs [example ...]      (default: every example here)
//
// For each example: build it with the SDK's edgechain-build (unless
// SMOKE_NO_BUILD=1), `edgechain validate` its proxy_config, then for
// "per-request" and "reuse" serve it with `edgechain demo` (the built-in
// echo origin behind the chain) on free loopback ports and run the example's
// smoke.mjs checks with real curl requests. SMOKE_ENGINE=starlingmonkey
// builds with that engine instead of QuickJS. The host binary is
// $EDGECHAIN_BIN, else /work/snapshot/edgechain, else `edgechain` on PATH.

import { execFileSync, spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import assert from "node:assert/strict";

const here = dirname(fileURLToPath(import.meta.url));
const sdkBuild = join(here, "..", "..", "guest-sdk", "js", "bin", "edgechain-build.mjs");

function hostBinary() {
  if (process.env.EDGECHAIN_BIN) return process.env.EDGECHAIN_BIN;
  if (existsSync("/work/snapshot/edgechain")) return "/work/snapshot/edgechain";
  const which = spawnSync("sh", ["-c", "command -v edgechain"], { encoding: "utf8" });
  if (which.status === 0) return which.stdout.trim();
  throw new Error("no edgechain binary: set EDGECHAIN_BIN");
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * curl(path, {headers, method, data}) -> {status, headers (lower-case names, arrays), body, json()}
 * A real curl process per request.
 */
function makeCurl(port) {
  return (path, { headers = {}, method, data } = {}) => {
    const args = ["-s", "-S", "-i", "--max-time", "10"];
    if (method) args.push("-X", method);
    for (const [n, v] of Object.entries(headers)) args.push("-H", `${n}: ${v}`);
    if (data !== undefined) args.push("--data-binary", data);
    args.push(`http://127.0.0.1:${port}${path}`);
    const raw = execFileSync("curl", args, { encoding: "utf8" });
    const split = raw.indexOf("\r\n\r\n");
    const head = raw.slice(0, split).split("\r\n");
    const status = Number(head[0].split(" ")[1]);
    const hs = {};
    for (const line of head.slice(1)) {
      const i = line.indexOf(":");
      const n = line.slice(0, i).trim().toLowerCase();
      (hs[n] ??= []).push(line.slice(i + 1).trim());
    }
    const body = raw.slice(split + 4);
    return { status, headers: hs, header: (n) => hs[n.toLowerCase()]?.[0], body, json: () => JSON.parse(body) };
  };
}

async function serve(bin, configDir) {
  const [listen, admin] = [await freePort(), await freePort()];
  const child = spawn(bin, ["demo", "--config", configDir, "--listen", `127.0.0.1:${listen}`, "--admin", `127.0.0.1:${admin}`, "--access-log", "off"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  for (let i = 0; i < 600; i++) {
    const r = spawnSync("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", `http://127.0.0.1:${admin}/readyz`], { encoding: "utf8" });
    if (r.stdout === "200") return { child, port: listen, logs: () => stderr };
    if (child.exitCode !== null) throw new Error(`edgechain demo exited: ${stderr}`);
    await sleep(100);
  }
  child.kill();
  throw new Error(`edgechain demo did not get ready: ${stderr}`);
}

async function smoke(example, bin) {
  const dir = join(here, example);
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const out = pkg.edgechain?.wasm ?? `${example.replaceAll("-", "_")}.wasm`;
  if (process.env.SMOKE_NO_BUILD !== "1") {
    const engine = process.env.SMOKE_ENGINE ? ["--engine", process.env.SMOKE_ENGINE] : [];
    execFileSync(process.execPath, [sdkBuild, dir, join(dir, "proxy_config", out), ...engine], { stdio: "inherit" });
  }
  const t0 = Date.now();
  execFileSync(bin, ["validate", join(dir, "proxy_config")], { stdio: "inherit" });
  console.log(`${example}: edgechain validate ok (${Date.now() - t0} ms)`);
  const { checks } = await import(pathToFileURL(join(dir, "smoke.mjs")).href);
  for (const mode of ["per-request", "reuse"]) {
    const tmp = mkdtempSync(join(tmpdir(), `smoke-${example}-`));
    try {
      cpSync(join(dir, "proxy_config"), tmp, { recursive: true });
      const manifest = JSON.parse(readFileSync(join(tmp, "proxychain.json"), "utf8"));
      for (const link of manifest.proxychain) link.instance = mode;
      writeFileSync(join(tmp, "proxychain.json"), JSON.stringify(manifest, null, 2));
      const server = await serve(bin, tmp);
      try {
        const n = await checks(makeCurl(server.port), assert, { mode, logs: server.logs });
        console.log(`${example} [${mode}]: ${n ?? "all"} checks passed`);
      } catch (e) {
        console.error(server.logs());
        throw e;
      } finally {
        server.child.kill("SIGTERM");
        await new Promise((r) => server.child.once("exit", r));
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
}

const bin = hostBinary();
const examples = process.argv.slice(2).length
  ? process.argv.slice(2)
  : readdirSync(here).filter((d) => existsSync(join(here, d, "smoke.mjs")));
let failed = 0;
for (const ex of examples) {
  try {
    await smoke(ex, bin);
  } catch (e) {
    failed++;
    console.error(`${ex}: FAILED: ${e.stack || e}`);
  }
}
console.log(`${examples.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
