#!/usr/bin/env node
// Side-by-side measurements of JS plugins in the real host (NOTES.md).
//
//   node guest-sdk/js/bench/measure.mjs [--engines quickjs,quickjs-opt,starlingmonkey]
//        [--examples ab-router,jwt-verify] [--seconds 8] [--connections 16] [--out results.json]
//
// For every example x engine: build (edgechain-build), .wasm size, `edgechain
// validate` wall/CPU time (compile + init), then for "per-request" and
// "reuse" serve the chain with `edgechain serve` in front of a separate
// origin (an `edgechain demo` with an empty chain) and load it with wrk for a
// fixed time: host CPU per request (utime+stime of the serve process from
// /proc over the run / requests), requests/s, and the host's RSS (peak
// sampled during the run, and VmHWM). A chain with no links is the baseline;
// the Rust add-headers plugin from target/plugins (when built) is a
// reference. Needs: wrk, curl, /usr/bin/time, the edgechain binary
// ($EDGECHAIN_BIN, default this checkout's target/release/edgechain).

import { execFileSync, spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createHmac } from "node:crypto";

const here = dirname(fileURLToPath(import.meta.url));
const sdk = join(here, "..");
const repo = join(sdk, "..", "..");
const BIN = process.env.EDGECHAIN_BIN || join(repo, "target", "release", "edgechain");
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const ENGINES = (args.engines || "quickjs,quickjs-opt,starlingmonkey").split(",");
const EXAMPLES = (args.examples || "noop,ab-router,jwt-verify").split(",");
const SECONDS = Number(args.seconds || 8);
const CONNS = Number(args.connections || 16);
const WARMUP = 2;
const TICK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

function cpuTicks(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
}

function status(pid, key) {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : NaN;
}

async function waitReady(admin, child, what) {
  for (let i = 0; i < 1200; i++) {
    const r = spawnSync("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", `http://127.0.0.1:${admin}/readyz`], { encoding: "utf8" });
    if (r.stdout === "200") return;
    if (child.exitCode !== null) throw new Error(`${what} exited`);
    await sleep(100);
  }
  throw new Error(`${what} not ready`);
}

function wrk(port, path, headers, seconds) {
  const a = ["-t", "2", "-c", String(CONNS), "-d", `${seconds}s`, "--latency"];
  for (const [n, v] of Object.entries(headers)) a.push("-H", `${n}: ${v}`);
  a.push(`http://127.0.0.1:${port}${path}`);
  return new Promise((resolve, reject) => {
    const p = spawn("wrk", a, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`wrk failed: ${out}`));
      const requests = Number(/(\d+) requests in/.exec(out)[1]);
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
      const errors = /Socket errors: (.*)/.exec(out)?.[1] ?? "";
      const p50 = /50%\s+([\d.]+\w+)/.exec(out)?.[1];
      const p99 = /99%\s+([\d.]+\w+)/.exec(out)?.[1];
      resolve({ requests, non2xx, errors, p50, p99 });
    });
    p.on("error", reject);
  });
}

/** Start `edgechain serve` for a chain dir; returns {child, port}. */
async function serve(dir, nextHop) {
  const [listen, admin] = [await freePort(), await freePort()];
  const child = spawn(
    BIN,
    ["serve", "--config", dir, "--listen", `127.0.0.1:${listen}`, "--admin", `127.0.0.1:${admin}`, "--next-hop", nextHop, "--access-log", "off", "--poll-interval", "0", "--log-level", "warn"],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  await waitReady(admin, child, "edgechain serve");
  return { child, port: listen };
}

async function stop(child) {
  child.kill("SIGTERM");
  await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
}

/** Load one chain: CPU per request, req/s, RSS. */
async function load(dir, nextHop, path, headers) {
  const { child, port } = await serve(dir, nextHop);
  try {
    const probe = spawnSync("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", ...Object.entries(headers).flatMap(([n, v]) => ["-H", `${n}: ${v}`]), `http://127.0.0.1:${port}${path}`], { encoding: "utf8" });
    if (probe.stdout !== "200") throw new Error(`probe request got ${probe.stdout}`);
    await wrk(port, path, headers, WARMUP);
    const rssBefore = status(child.pid, "VmRSS");
    let peak = 0;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, status(child.pid, "VmRSS"));
      } catch {}
    }, 200);
    const t0 = cpuTicks(child.pid);
    const w0 = process.hrtime.bigint();
    const r = await wrk(port, path, headers, SECONDS);
    const wall = Number(process.hrtime.bigint() - w0) / 1e9;
    const t1 = cpuTicks(child.pid);
    clearInterval(sampler);
    const hwm = status(child.pid, "VmHWM");
    return {
      requests: r.requests,
      rps: Math.round(r.requests / wall),
      cpuUsPerRequest: (((t1 - t0) / TICK) * 1e6) / r.requests,
      rssIdleMiB: rssBefore / 1024,
      rssPeakMiB: peak / 1024,
      hwmMiB: hwm / 1024,
      non2xx: r.non2xx,
      errors: r.errors,
      p50: r.p50,
      p99: r.p99,
    };
  } finally {
    await stop(child);
  }
}

function validate(dir) {
  const r = spawnSync("/usr/bin/time", ["-f", "%e %U %S %M", BIN, "validate", dir], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`validate failed: ${r.stderr}`);
  const [wall, user, sys, maxKb] = r.stderr.trim().split("\n").pop().split(" ").map(Number);
  return { wallS: wall, cpuS: user + sys, maxRssMiB: maxKb / 1024 };
}

const JWT_SECRET = "demo-secret-change-me-0123456789abcdef";
function jwt() {
  const b64 = (s) => Buffer.from(s).toString("base64url");
  const input = `${b64(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${b64(JSON.stringify({ iss: "https://auth.example.com", aud: "api", sub: "user-42", scope: "read", exp: 4102444800 }))}`;
  return `${input}.${createHmac("sha256", JWT_SECRET).update(input).digest("base64url")}`;
}

/** The request each example is loaded with: the plugin's full work path. */
const WORKLOAD = {
  "ab-router": { path: "/checkout/cart?step=1", headers: {} }, // a new visitor: assign, route, Set-Cookie
  "jwt-verify": { path: "/api/orders", headers: { authorization: `Bearer ${jwt()}` } }, // verify HS256 + claims
  "add-headers (Rust)": { path: "/x", headers: {} },
  noop: { path: "/x", headers: {} }, // bench/noop: an empty onRequest
  "no plugin (baseline)": { path: "/x", headers: {} },
};

function chainDir(tmp, name, wasmFile, linkConfig, mode) {
  const dir = join(tmp, `${name}-${mode}`.replace(/[^a-z0-9-]+/gi, "_"));
  mkdirSync(dir, { recursive: true });
  const links = [];
  if (wasmFile) {
    copyFileSync(wasmFile, join(dir, "plugin.wasm"));
    links.push({ name: "p", module: "plugin.wasm", config: linkConfig, instance: mode, timeout_ms: 1000 });
  }
  writeFileSync(join(dir, "proxychain.json"), JSON.stringify({ proxychain: links }));
  return dir;
}

async function main() {
  const tmp = mkdtempSync(join(tmpdir(), "edgechain-js-bench-"));
  const results = [];
  // The origin: an edgechain demo with no links (its echo origin behind its own proxy).
  const originDir = chainDir(tmp, "origin", null, null, "x");
  const [oListen, oAdmin] = [await freePort(), await freePort()];
  const origin = spawn(BIN, ["demo", "--config", originDir, "--listen", `127.0.0.1:${oListen}`, "--admin", `127.0.0.1:${oAdmin}`, "--access-log", "off", "--log-level", "warn"], { stdio: ["ignore", "ignore", "inherit"] });
  await waitReady(oAdmin, origin, "origin");
  const nextHop = `127.0.0.1:${oListen}`;
  try {
    const cases = [{ name: "no plugin (baseline)", engine: "-", wasm: null, config: null, modes: ["-"] }];
    const rust = join(repo, "target", "plugins", "add-headers.wasm");
    if (existsSync(rust)) cases.push({ name: "add-headers (Rust)", engine: "rust", wasm: rust, config: { request: { "x-edge": "edgechain" }, response: { "cache-control": "no-store" } }, modes: ["per-request", "reuse"] });
    for (const spec of EXAMPLES) {
      // "name:nocache" runs an example with its token/signature cache off.
      const [ex, variant] = spec.split(":");
      const exDir = existsSync(join(here, ex)) ? join(here, ex) : join(repo, "examples", "js", ex);
      const manifest = JSON.parse(readFileSync(join(exDir, "proxy_config", "proxychain.json"), "utf8"));
      const config = { ...manifest.proxychain[0].config, ...(variant === "nocache" ? { cacheSeconds: 0 } : {}) };
      for (const engine of ENGINES) {
        const out = join(tmp, `${spec.replace(":", "-")}-${engine}.wasm`);
        const flags = { "quickjs-opt": ["--engine", "quickjs", "--opt-size"], "quickjs-nogc": ["--engine", "quickjs", "--no-gc"] }[engine] ?? ["--engine", engine];
        const b0 = Date.now();
        execFileSync(process.execPath, [join(sdk, "bin", "edgechain-build.mjs"), exDir, out, ...flags, "--quiet"], { stdio: "inherit" });
        cases.push({ name: spec, workload: ex, engine, wasm: out, config, modes: ["per-request", "reuse"], buildS: (Date.now() - b0) / 1000 });
      }
    }
    for (const c of cases) {
      for (const mode of c.modes) {
        const dir = chainDir(tmp, `${c.name}-${c.engine}`, c.wasm, c.config, mode === "-" ? "per-request" : mode);
        const v = c.wasm && mode !== "reuse" ? validate(dir) : undefined;
        const w = WORKLOAD[c.workload ?? c.name];
        const r = await load(dir, nextHop, w.path, w.headers);
        const row = { example: c.name, engine: c.engine, mode, wasmBytes: c.wasm ? statSync(c.wasm).size : 0, buildS: c.buildS, validate: v, ...r };
        results.push(row);
        console.error(JSON.stringify(row));
      }
    }
  } finally {
    await stop(origin);
    rmSync(tmp, { recursive: true, force: true });
  }
  const base = results.find((r) => r.example === "no plugin (baseline)").cpuUsPerRequest;
  const fmt = (x, d = 0) => (x === undefined || Number.isNaN(x) ? "" : x.toFixed(d));
  console.log(`\nload: wrk -t2 -c${CONNS} -d${SECONDS}s after ${WARMUP}s warm-up; baseline ${fmt(base)} µs CPU/request; load average at end: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
  console.log("| example | engine | mode | .wasm | build s | validate s (CPU s) | CPU µs/req above baseline | req/s | RSS peak MiB | p99 | non-2xx |");
  console.log("|---|---|---|---|---|---|---|---|---|---|---|");
  for (const r of results) {
    console.log(
      `| ${r.example} | ${r.engine} | ${r.mode} | ${r.wasmBytes ? (r.wasmBytes / 1048576).toFixed(2) + " MiB" : "-"} | ${fmt(r.buildS, 1)} | ${r.validate ? `${fmt(r.validate.wallS, 2)} (${fmt(r.validate.cpuS, 2)})` : ""} | ${r.example.startsWith("no plugin") ? `(${fmt(r.cpuUsPerRequest)} total)` : fmt(r.cpuUsPerRequest - base)} | ${r.rps} | ${fmt(r.rssPeakMiB)} | ${r.p99} | ${r.non2xx} |`,
    );
  }
  if (args.out) writeFileSync(args.out, JSON.stringify({ when: new Date().toISOString(), seconds: SECONDS, connections: CONNS, results }, null, 2));
}

main().catch((e) => {
  console.error(e.stack || e);
  process.exit(1);
});
