#!/usr/bin/env python3
"""Side-by-side end-to-end benchmark of edgechain against nginx.

Every case serves the same tiny origin (nginx `return 200`) and is loaded by the
same wrk run. The system under test is pinned to CPU 1, wrk and the origin to
CPU 0, so each proxy setup gets exactly one core: nginx with one worker process
(five of them, one per hop, for the daisy chain), edgechain with one async
worker thread. Keep-alive everywhere, access logs off everywhere. Each case runs
a warm-up (discarded), then ROUNDS measured rounds; the table shows medians and
ratios to the one-hop nginx of the same run.
"""

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

ROOT = Path(__file__).resolve().parent.parent
EDGECHAIN = ROOT / "target/release/edgechain"
PLUGINS = ROOT / "target/plugins"
ROUNDS = int(os.environ.get("ROUNDS", "3"))
DURATION = int(os.environ.get("DURATION", "5"))
WARMUP = int(os.environ.get("WARMUP", "2"))
CONNECTIONS = int(os.environ.get("CONNECTIONS", "32"))
SUT_CPU, LOAD_CPU = "1", "0"
ORIGIN_PORT = 18000
CLK_TCK = os.sysconf("SC_CLK_TCK")

NGINX_MAIN = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    {body}
}}
"""

ORIGIN = """
    server {{
        listen 127.0.0.1:{port} reuseport;
        location / {{ return 200 "hello from origin\\n"; }}
    }}
"""

HOP = """
    upstream next {{ server 127.0.0.1:{next}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://next;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
"""


def nginx(work, name, body, cpu):
    d = Path(work) / name
    d.mkdir()
    conf = d / "nginx.conf"
    conf.write_text(NGINX_MAIN.format(dir=d, body=body))
    return subprocess.Popen(
        ["taskset", "-c", cpu, "nginx", "-c", str(conf), "-p", str(d)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_http(port, path="/", timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as r:
                if r.status == 200:
                    return
        except Exception:
            time.sleep(0.05)
    raise SystemExit(f"nothing answered on port {port} within {timeout}s")


def tree_pids(pid):
    """The process and all its descendants (nginx workers)."""
    pids = [pid]
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                stat = (p / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid == pid:
                    pids.append(int(p.name))
            except (OSError, ValueError, IndexError):
                pass
    return pids


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / CLK_TCK


def rss_mib(pids):
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def to_ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(port, seconds):
    out = subprocess.run(
        ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency",
         f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    lat = {m.group(1): to_ms(m.group(2), m.group(3))
           for m in re.finditer(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if errors or socket_errors:
        raise SystemExit(f"errors during the run on port {port}:\n{out}")
    return rps, total, lat["50"], lat["99"]


def measure(name, port, sut_pids):
    wrk(port, WARMUP)
    rounds = []
    for _ in range(ROUNDS):
        pids = [p for root in sut_pids for p in tree_pids(root)]
        cpu0 = cpu_seconds(pids)
        rps, total, p50, p99 = wrk(port, DURATION)
        cpu = cpu_seconds(pids) - cpu0
        rounds.append({"rps": rps, "p50": p50, "p99": p99,
                       "cpu_us": cpu / total * 1e6, "rss": rss_mib(pids)})
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    med["name"] = name
    print(f"{name:42} {med['rps']:>9.0f} req/s  p50 {med['p50']:6.2f} ms  p99 {med['p99']:6.2f} ms  "
          f"cpu {med['cpu_us']:6.1f} us/req  rss {med['rss']:6.1f} MiB", flush=True)
    return med


def chain_dir(work, name, links, instance):
    d = Path(work) / name
    d.mkdir()
    chain = []
    for i, plugin in enumerate(links):
        shutil.copy(PLUGINS / f"{plugin}.wasm", d / f"{plugin}.wasm")
        link = {"name": f"{plugin}-{i}", "module": f"{plugin}.wasm", "instance": instance}
        if plugin == "add-headers":
            link["config"] = {"request": {"x-edge": "edgechain"}, "response": {"x-served-by": "edgechain"}}
        chain.append(link)
    (d / "proxychain.json").write_text(json.dumps({"proxychain": chain}))
    return d


def edgechain(config, port):
    return subprocess.Popen(
        ["taskset", "-c", SUT_CPU, str(EDGECHAIN), "serve", "--config", str(config),
         "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{port + 1}",
         "--next-hop", f"127.0.0.1:{ORIGIN_PORT}", "--access-log", "off",
         "--worker-threads", "1", "--poll-interval", "0", "--log-level", "warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def stop(procs):
    for p in procs:
        p.send_signal(signal.SIGTERM if p.args[0] != "taskset" or "nginx" not in p.args else signal.SIGQUIT)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


def versions():
    nginx_v = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    edge_v = subprocess.run([str(EDGECHAIN), "--version"], capture_output=True, text=True).stdout.strip()
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), "unknown")
    return {"nginx": nginx_v, "wrk": wrk_v, "edgechain": edge_v, "rustc": rustc, "cpu": cpu,
            "cores": os.cpu_count()}


def main():
    results = []
    with tempfile.TemporaryDirectory() as work:
        origin = nginx(work, "origin", ORIGIN.format(port=ORIGIN_PORT), LOAD_CPU)
        wait_http(ORIGIN_PORT)
        try:
            results.append(measure("origin alone", ORIGIN_PORT, [origin.pid]))
            hop = nginx(work, "hop1", HOP.format(port=18001, next=ORIGIN_PORT), SUT_CPU)
            wait_http(18001)
            results.append(measure("nginx, 1 hop", 18001, [hop.pid]))
            stop([hop])
            hops = []
            for i in range(5, 0, -1):
                nxt = ORIGIN_PORT if i == 5 else 18010 + i + 1
                hops.append(nginx(work, f"chain{i}", HOP.format(port=18010 + i, next=nxt), SUT_CPU))
            wait_http(18011)
            results.append(measure("nginx, daisy chain of 5 hops", 18011, [h.pid for h in hops]))
            stop(hops)
            cases = [("edgechain, 0 plugins", [], "per-request")]
            for instance in ("per-request", "reuse"):
                cases.append((f"edgechain, 1 plugin (passthrough), {instance}", ["passthrough"], instance))
                cases.append((f"edgechain, 5 plugins, {instance}",
                               ["passthrough", "add-headers", "passthrough", "add-headers", "passthrough"],
                               instance))
            for i, (name, links, instance) in enumerate(cases):
                port = 18100 + 2 * i
                config = chain_dir(work, f"e{i}", links, instance)
                proc = edgechain(config, port)
                wait_http(port + 1, "/readyz")
                results.append(measure(name, port, [proc.pid]))
                stop([proc])
        finally:
            stop([origin])
    write_report(results, versions())


def write_report(results, v):
    base = next(r for r in results if r["name"] == "nginx, 1 hop")
    rows = ["| setup | req/s | vs 1 nginx hop | p50 ms | p99 ms | p99 vs 1 hop | CPU µs/req | RSS MiB |",
            "|---|---|---|---|---|---|---|---|"]
    for r in results:
        rows.append(f"| {r['name']} | {r['rps']:.0f} | {r['rps'] / base['rps']:.2f}× | {r['p50']:.2f} | "
                    f"{r['p99']:.2f} | {r['p99'] / base['p99']:.2f}× | {r['cpu_us']:.1f} | {r['rss']:.1f} |")
    table = "\n".join(rows)
    section = f"""<!-- e2e:start -->
Command: `bash bench/run.sh` (ROUNDS={ROUNDS}, DURATION={DURATION} s, WARMUP={WARMUP} s,
{CONNECTIONS} connections). Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {v['cpu']},
{v['cores']} cores; {v['nginx']}; {v['wrk']}; {v['edgechain']}; {v['rustc']}.

{table}
<!-- e2e:end -->"""
    print("\n" + table)
    doc = ROOT / "docs/benchmarks.md"
    text = doc.read_text()
    if "<!-- e2e:start -->" in text:
        text = re.sub(r"<!-- e2e:start -->.*<!-- e2e:end -->", lambda _: section, text, flags=re.S)
    else:
        text += "\n## End to end (wrk, loopback)\n\n" + section + "\n"
    doc.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
