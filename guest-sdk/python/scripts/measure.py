#!/usr/bin/env python3
"""Measure Python plugins side by side in the real host (the numbers in NOTES.md).

    .venv/bin/python scripts/measure.py --edgechain /path/to/edgechain [--rust-wasm-dir DIR]

For each case: the component's size and core modules, `edgechain validate`
(compile + init: wall time, CPU, peak RSS), then `edgechain serve` in front of
an nginx origin under wrk load, in both instance modes: requests/s, latency,
CPU per request of the edgechain process (minus the no-plugin baseline), and
its RSS. Same pinning as bench/e2e.py: edgechain on CPU 1 with one worker
thread, wrk and nginx on CPU 0, keep-alive, access log off. Each case: a
warm-up, then ROUNDS rounds of DURATION seconds; medians. Needs nginx and wrk
(apt-get install nginx-light wrk). Every request carries a valid JWT so the
jwt-verify case runs its whole verification.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
SDK = HERE.parent
EXAMPLES = SDK.parents[1] / "examples" / "python"
sys.path.insert(0, str(SDK / "src"))
sys.path.insert(0, str(EXAMPLES / "jwt-verify"))

from edgechain_sdk import _component  # noqa: E402
from edgechain_sdk import build as sdk_build  # noqa: E402
from jwt_verify import sign_hs256  # noqa: E402

SUT_CPU, LOAD_CPU = "1", "0"
CLK_TCK = os.sysconf("SC_CLK_TCK")
JWT_KEY = "m" * 32
TOKEN = sign_hs256({"sub": "bench", "aud": "api", "exp": 4102444800}, JWT_KEY.encode())

NGINX = """
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
    uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port} reuseport;
        location / {{ return 200 "hello from origin\\n"; }}
    }}
}}
"""


def proc_stat(pid: int) -> tuple[float, float, float]:
    """(cpu seconds, rss MiB, peak rss MiB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    rss = hwm = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    return cpu, rss, hwm


def to_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(port: int, seconds: int, connections: int) -> dict:
    out = subprocess.run(
        ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
         "--latency", "-H", f"Authorization: Bearer {TOKEN}", "-H", "x-api-key: bench",
         f"http://127.0.0.1:{port}/api/items"],
        capture_output=True, text=True, check=True).stdout
    lat = {m[1]: to_ms(m[2], m[3])
           for m in re.finditer(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockerr = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),
        "total": int(re.search(r"(\d+) requests in", out)[1]),
        "p50": lat.get("50", 0.0), "p99": lat.get("99", 0.0),
        "errors": (int(non2xx[1]) if non2xx else 0), "socket_errors": sockerr[1] if sockerr else "",
    }


def wait_ready(admin: int, proc: subprocess.Popen, timeout: float = 180) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise SystemExit("edgechain exited during startup")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz", timeout=1) as r:
                if r.status == 200:
                    return time.monotonic() - start
        except OSError:
            time.sleep(0.1)
    raise SystemExit("edgechain did not become ready")


def timed_validate(edgechain: str, d: Path) -> dict:
    start = time.monotonic()
    p = subprocess.Popen([edgechain, "validate", str(d)], stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - start
    err = p.stderr.read().decode() if p.stderr else ""
    if status != 0:
        raise SystemExit(f"validate failed for {d}: {err}")
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "maxrss_mib": ru.ru_maxrss / 1024}


def serve_case(args, work: Path, name: str, links: list[dict], origin: int) -> dict:
    d = work / name
    d.mkdir()
    for link in links:
        shutil.copyfile(args.modules[link["module"]], d / link["module"])
    (d / "proxychain.json").write_text(json.dumps({"proxychain": links}))
    result = {"name": name}
    if links:
        result["validate"] = timed_validate(args.edgechain, d)
    port = args.port
    args.port += 2
    err = open(d / "serve.err", "w")
    proc = subprocess.Popen(
        ["taskset", "-c", SUT_CPU, args.edgechain, "serve", "--config", str(d),
         "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{port + 1}",
         "--next-hop", f"127.0.0.1:{origin}", "--access-log", "off", "--worker-threads", "1",
         "--poll-interval", "0", "--log-level", "warn"]
        + (["--max-instances", str(args.max_instances)] if args.max_instances else []),
        stdout=subprocess.DEVNULL, stderr=err)
    try:
        result["startup_s"] = wait_ready(port + 1, proc)
        wrk(port, args.warmup, args.connections)
        rounds = []
        for _ in range(args.rounds):
            cpu0, _, _ = proc_stat(proc.pid)
            w = wrk(port, args.duration, args.connections)
            cpu1, rss, hwm = proc_stat(proc.pid)
            w["cpu_us"] = (cpu1 - cpu0) / max(w["total"], 1) * 1e6
            w["rss"], w["hwm"] = rss, hwm
            rounds.append(w)
        for k in ("rps", "p50", "p99", "cpu_us", "rss", "hwm"):
            result[k] = statistics.median(r[k] for r in rounds)
        result["errors"] = sum(r["errors"] for r in rounds)
        result["socket_errors"] = [r["socket_errors"] for r in rounds if r["socket_errors"]]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        err.close()
    log = (d / "serve.err").read_text()
    result["pool_limit_hits"] = log.count("maximum concurrent limit")
    result["plugin_failures"] = log.count("plugin failed")
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgechain", required=True)
    ap.add_argument("--rust-wasm-dir", help="directory with add_headers.wasm (Rust reference)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--max-instances", type=int, default=0)
    ap.add_argument("--only", help="comma-separated case name prefixes")
    ap.add_argument("--port", type=int, default=19100)
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="edgechain-py-measure-"))
    args.modules = {}
    info = {}
    for module, project in [("header_policy.wasm", EXAMPLES / "header-policy"),
                            ("jwt_verify.wasm", EXAMPLES / "jwt-verify")]:
        out = work / module
        s = sdk_build.build(project, out, quiet=True,
                            cache_dir=Path.home() / ".cache/edgechain-sdk/builds")
        args.modules[module] = out
        info[module] = {"bytes": s["bytes"], "core_modules": s["core_modules"],
                        "core_instances": s["core_instances"]}
    if args.rust_wasm_dir:
        rust = Path(args.rust_wasm_dir) / "add_headers.wasm"
        args.modules["add_headers.wasm"] = rust
        ci = _component.inspect(rust.read_bytes())
        info["add_headers.wasm"] = {"bytes": rust.stat().st_size, "core_modules": ci.core_modules,
                                    "core_instances": ci.core_instances}
    print(json.dumps({"components": info}), flush=True)

    nginx_dir = work / "nginx"
    nginx_dir.mkdir()
    origin = 18990
    (nginx_dir / "nginx.conf").write_text(NGINX.format(d=nginx_dir, port=origin))
    ng = subprocess.Popen(["taskset", "-c", LOAD_CPU, "nginx", "-c", str(nginx_dir / "nginx.conf"),
                           "-p", str(nginx_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    configs = {
        "header_policy.wasm": {"require": [{"header": "x-api-key", "paths": ["/api"]}],
                               "strip_request": ["x-user-id"],
                               "response": {"set": {"cache-control": "no-store"}}},
        "jwt_verify.wasm": {"key": JWT_KEY, "audience": "api", "paths": ["/api"],
                            "forward_claims": {"sub": "x-user-id"}},
        "add_headers.wasm": {"request": {"x-edge": "edgechain"},
                             "response": {"x-served-by": "edgechain"}},
    }
    cases = [("baseline (no plugin)", [])]
    for module in args.modules:
        for mode in ("per-request", "reuse"):
            cases.append((f"{module.removesuffix('.wasm')} {mode}", [{
                "name": module.removesuffix(".wasm").replace("_", "-"), "module": module, "instance": mode,
                "timeout_ms": 1000, "config": configs[module]}]))
    results = []
    try:
        for name, links in cases:
            if args.only and not any(name.startswith(p) for p in args.only.split(",")):
                continue
            results.append(serve_case(args, work, name.replace(" ", "_").replace("(", "")
                                      .replace(")", ""), links, origin))
    finally:
        ng.send_signal(signal.SIGQUIT)
        ng.wait(10)
    base = next((r for r in results if r["name"].startswith("baseline")), None)
    print("\n| case | req/s | p50 ms | p99 ms | CPU µs/req | above baseline | RSS MiB | peak RSS MiB | errors |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        above = r["cpu_us"] - base["cpu_us"] if base else float("nan")
        print(f"| {r['name']} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
              f"{r['cpu_us']:.1f} | {above:.1f} | {r['rss']:.0f} | {r['hwm']:.0f} | "
              f"{r['errors']} |")
    print("\n| component | validate wall s | validate CPU s | validate peak RSS MiB | serve startup s |")
    print("|---|---|---|---|---|")
    for r in results:
        if "validate" in r:
            v = r["validate"]
            print(f"| {r['name']} | {v['wall_s']:.1f} | {v['cpu_s']:.1f} | {v['maxrss_mib']:.0f} |"
                  f" {r['startup_s']:.1f} |")
    if args.json_out:
        args.json_out.write_text(json.dumps({"components": info, "results": results}, indent=1))
    if not os.environ.get("KEEP_WORK"):
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"work dir kept: {work}")


if __name__ == "__main__":
    main()
