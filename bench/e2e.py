#!/usr/bin/env python3
"""Side-by-side end-to-end benchmark of edgechain against nginx.

Every case serves the same tiny origin (nginx `return 200`) and is loaded by the
same wrk run. In the one-core table the system under test is pinned to CPU 1,
wrk and the origin to CPU 0, so each proxy setup gets exactly one core: nginx
with one worker process (five of them, one per hop, for the daisy chain),
edgechain with one worker. The two-core table gives nginx two worker processes
and edgechain two workers; there wrk and the origin share both cores with the
proxy. Keep-alive everywhere, access logs off everywhere. Each case runs a
warm-up (discarded), then ROUNDS measured rounds; the tables show medians and
ratios to the one-hop nginx of the same table.

The first table is the configuration users run in production: every nginx hop
writes a JSON access line per request (the same fields as edgechain's, unbuffered,
to a file), edgechain runs with its defaults (access log on, stdout to a file),
and the links are `add-headers` setting one request and one response header. The
tables after it switch the access logs off everywhere, to show what the proxies
cost without them. `TABLES=production` runs only the first; `EDGECHAIN_BEFORE`
(a path to another `edgechain` binary) adds its rows to the first table, to
compare two builds in one run.

`TABLES=scope` runs only the table of issue 27 (`when`): a chain of 10 per-request
`add-headers` links of which the request is in scope of 2 (the other 8 scoped to other
paths, hosts, methods and headers), against the same 2 links alone and 10 unscoped, one
core each, access log on; it is written between the `e2e-scope` markers.

The wasi:http rows serve a standard `wasi:http/incoming-handler` component
(wstd's `http_server` example, built by `cargo xtask wasi-http` into
target/wasi-http/components/) as edgechain's only link and under `wasmtime
serve` (48, from WASMTIME or PATH, with its defaults plus `-Scli`, which the
component imports; the row is skipped when there is none).
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
EDGECHAIN = Path(os.environ.get("EDGECHAIN") or ROOT / "target/release/edgechain")
EDGECHAIN_BEFORE = os.environ.get("EDGECHAIN_BEFORE")
TABLES = os.environ.get("TABLES", "all")
PLUGINS = ROOT / "target/plugins"
ROUNDS = int(os.environ.get("ROUNDS", "3"))
DURATION = int(os.environ.get("DURATION", "5"))
WARMUP = int(os.environ.get("WARMUP", "2"))
CONNECTIONS = int(os.environ.get("CONNECTIONS", "32"))
SUT_CPU, LOAD_CPU, BOTH_CPUS = "1", "0", "0,1"
ORIGIN_PORT = int(os.environ.get("BENCH_ORIGIN_PORT", "18000"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
WASI_HTTP_APP = ROOT / "target/wasi-http/components/wstd_http_server.wasm"
WASMTIME = os.environ.get("WASMTIME") or shutil.which("wasmtime")

NGINX_MAIN = """
worker_processes {workers};
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    {access_log}
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

# The fields of edgechain's access line, as nginx writes them (escape=json).
NGINX_LOG = """log_format edge escape=json '{{"time":"$time_iso8601","request":"$request",'
        '"status":$status,"bytes":$bytes_sent,"response_body_bytes":$body_bytes_sent,'
        '"content_type":"$sent_http_content_type","hostname":"$host","referrer":"$http_referer",'
        '"useragent":"$http_user_agent","http_x_forwarded_proto":"$http_x_forwarded_proto",'
        '"section_io_id":"$http_section_io_id","remote_addr":"$remote_addr",'
        '"upstream_status":"$upstream_status","request_time_seconds":$request_time,'
        '"upstream_time_seconds":"$upstream_response_time"}}';
    access_log {dir}/access.log edge;"""

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


def nginx(work, name, body, cpu, workers=1, log=False):
    d = Path(work) / name
    d.mkdir()
    conf = d / "nginx.conf"
    access_log = NGINX_LOG.format(dir=d) if log else "access_log off;"
    conf.write_text(NGINX_MAIN.format(dir=d, body=body, workers=workers, access_log=access_log))
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


def wrk(port, seconds, cpus=LOAD_CPU, threads=1, path="/", script=None):
    """wrk on `path`; `script` is a wrk Lua script (e.g. one making every URL unique)."""
    out = subprocess.run(
        ["taskset", "-c", cpus, "wrk", f"-t{threads}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency",
         *(["-s", str(script)] if script else []), f"http://127.0.0.1:{port}{path}"],
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


def measure(name, port, sut_pids, **load):
    wrk(port, WARMUP, **load)
    rounds = []
    for _ in range(ROUNDS):
        pids = [p for root in sut_pids for p in tree_pids(root)]
        cpu0 = cpu_seconds(pids)
        rps, total, p50, p99 = wrk(port, DURATION, **load)
        cpu = cpu_seconds(pids) - cpu0
        rounds.append({"rps": rps, "p50": p50, "p99": p99,
                       "cpu_us": cpu / total * 1e6, "rss": rss_mib(pids)})
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    med["name"] = name
    print(f"{name:42} {med['rps']:>9.0f} req/s  p50 {med['p50']:6.2f} ms  p99 {med['p99']:6.2f} ms  "
          f"cpu {med['cpu_us']:6.1f} us/req  rss {med['rss']:6.1f} MiB", flush=True)
    return med


ADD_HEADERS = {"request": {"x-edge": "edgechain"}, "response": {"x-served-by": "edgechain"}}
FIVE = ["passthrough", "add-headers", "passthrough", "add-headers", "passthrough"]


def redirect_rules(n):
    """`redirect` with n regex rules, none matching the benchmark's `/`."""
    return {"rules": [{"match": "regex", "from": f"^/item{i}/(\\d+)/([a-z]+)$",
                       "to": f"/items{i}/$1/$2", "status": 301} for i in range(n)]}


def bot_networks(n):
    """`bot-block` denying n /24 networks, none holding the client (127.0.0.1)."""
    return {"deny_ips": [f"10.{(i >> 8) & 255}.{i & 255}.0/24" for i in range(n)]}


def chain_dir(work, name, links, instance):
    """A config directory; a link is a plugin name (target/plugins/NAME.wasm),
    a (name, config) pair, a Path to any component, or a dict: a manifest entry
    as it is (e.g. the cache)."""
    d = Path(work) / name
    d.mkdir()
    chain = []
    for i, spec in enumerate(links):
        if isinstance(spec, dict):
            chain.append(spec)
            continue
        extra = {}
        if isinstance(spec, tuple) and len(spec) == 3:
            spec, extra = spec[:2], spec[2]
        plugin, config = spec if isinstance(spec, tuple) else (spec, None)
        source = plugin if isinstance(plugin, Path) else PLUGINS / f"{plugin}.wasm"
        shutil.copy(source, d / source.name)
        link = {"name": f"{source.stem}-{i}".replace("_", "-"), "module": source.name}
        if not isinstance(plugin, Path):
            link["instance"] = instance
        if plugin == "add-headers":
            config = ADD_HEADERS
        if config is not None:
            link["config"] = config
        link.update(extra)
        chain.append(link)
    (d / "proxychain.json").write_text(json.dumps({"proxychain": chain}))
    return d


def edgechain(config, port, workers=1, cpus=SUT_CPU, log=False, binary=None):
    """`edgechain serve`; with `log`, its defaults (the access log to stdout,
    redirected to a file as a container runtime would)."""
    out = open(Path(config) / "access.log", "w") if log else subprocess.DEVNULL
    return subprocess.Popen(
        ["taskset", "-c", cpus, str(binary or EDGECHAIN), "serve", "--config", str(config),
         "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{port + 1}",
         "--next-hop", f"127.0.0.1:{ORIGIN_PORT}", "--access-log", "stdout" if log else "off",
         "--worker-threads", str(workers), "--poll-interval", "0", "--log-level", "warn"],
        stdout=out, stderr=subprocess.DEVNULL,
    )


def edgechain_case(work, name, links, instance, port, workers=1, sut_cpus=SUT_CPU, log=False,
                   binary=None, **load):
    config = chain_dir(work, f"e{port}", links, instance)
    proc = edgechain(config, port, workers, sut_cpus, log, binary)
    try:
        wait_http(port + 1, "/readyz", timeout=180)
        return measure(name, port, [proc.pid], **load)
    finally:
        stop([proc])


def wasmtime_serve_case(name, port):
    proc = subprocess.Popen(
        ["taskset", "-c", SUT_CPU, WASMTIME, "serve", "-Scli", "--addr", f"127.0.0.1:{port}", str(WASI_HTTP_APP)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(port, timeout=120)
        return measure(name, port, [proc.pid])
    finally:
        stop([proc])


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
    wasmtime_v = (subprocess.run([WASMTIME, "--version"], capture_output=True, text=True).stdout.strip()
                  if WASMTIME else "no wasmtime CLI")
    return {"nginx": nginx_v, "wrk": wrk_v, "edgechain": edge_v, "wasmtime": wasmtime_v, "rustc": rustc, "cpu": cpu,
            "cores": os.cpu_count()}


FIVE_HEADERS = ["add-headers"] * 5


# The language examples, built by `edgechain build` (.ci/languages, or by hand),
# with their own manifests (`"instance": "reuse"`).
LANGUAGE_EXAMPLES = [
    ("edgechain, 1 JavaScript link (QuickJS, examples/js/ab-router), reuse", ROOT / "examples/js/ab-router"),
    ("edgechain, 1 Python link (examples/python/header-policy), reuse", ROOT / "examples/python/header-policy"),
]


def example_case(work, name, example, port):
    config = Path(work) / f"x{port}"
    shutil.copytree(example / "proxy_config", config)
    proc = edgechain(config, port, log=True)
    try:
        wait_http(port + 1, "/readyz", timeout=180)
        return measure(name, port, [proc.pid])
    finally:
        stop([proc])


def production_rows(work):
    """The headline: every proxy logging as in production, links doing work in
    both phases, one core each."""
    rows = []
    origin = nginx(work, "origin-p", ORIGIN.format(port=ORIGIN_PORT), LOAD_CPU)
    wait_http(ORIGIN_PORT)
    try:
        rows += nginx_cases(work, "p", SUT_CPU, 1, log=True)
        # What nginx's own access line costs, in the same run.
        hop = nginx(work, "hop-nolog", HOP.format(port=18002, next=ORIGIN_PORT), SUT_CPU)
        wait_http(18002)
        rows.append(measure("nginx, 1 hop, access log off", 18002, [hop.pid]))
        stop([hop])
        builds = [("", None)]
        if EDGECHAIN_BEFORE:
            builds.append((" (before)", EDGECHAIN_BEFORE))
        port = 18300
        for suffix, binary in builds:
            for name, links, instance, log in [
                ("edgechain, 0 plugins", [], "per-request", True),
                ("edgechain, 0 plugins, access log off", [], "per-request", False),
                ("edgechain, 1 add-headers, per-request", ["add-headers"], "per-request", True),
                ("edgechain, 5 add-headers, per-request (default)", FIVE_HEADERS, "per-request", True),
                ("edgechain, 5 add-headers, per-request, access log off", FIVE_HEADERS, "per-request",
                 False),
                ("edgechain, 5 add-headers, reuse", FIVE_HEADERS, "reuse", True),
                ("edgechain, 1 add-headers, reuse", ["add-headers"], "reuse", True),
            ]:
                rows.append(edgechain_case(work, name + suffix, links, instance, port, log=log,
                                           binary=binary))
                port += 2
        for name, example in LANGUAGE_EXAMPLES:
            if not any((example / "proxy_config").glob("*.wasm")):
                print(f"{example} is not built (edgechain build {example}): skipping its row", flush=True)
                continue
            rows.append(example_case(work, name, example, port))
            port += 2
    finally:
        stop([origin])
    return rows


# The benchmark's requests are `GET /` with `Host: 127.0.0.1:PORT`: the first two
# rules hold, the other eight are for other requests.
IN_SCOPE = [{"path": {"prefix": "/"}}, {"method": ["GET", "HEAD"]}]
ELSEWHERE = [
    {"path": {"prefix": "/admin"}},
    {"path": {"glob": "/static/**/*.css"}},
    {"path": {"exact": "/login"}},
    {"host": "api.example.com"},
    {"method": "POST"},
    {"header": {"x-debug": True}},
    {"header": {"authorization": True}, "path": {"prefix": "/api"}},
    {"host": ["*.internal", "localhost"]},
]


def scope_rows(work):
    """Issue 27: links out of scope cost (next to) nothing."""
    rows = []
    origin = nginx(work, "origin-s", ORIGIN.format(port=ORIGIN_PORT), LOAD_CPU)
    wait_http(ORIGIN_PORT)
    two = [("add-headers", None, {"when": w}) for w in IN_SCOPE]
    ten = two + [("add-headers", None, {"when": w}) for w in ELSEWHERE]
    try:
        for i, (name, links) in enumerate([
            ("edgechain, 2 add-headers, per-request", ["add-headers"] * 2),
            ("edgechain, 2 add-headers in scope, per-request", two),
            ("edgechain, 10 add-headers, 2 in scope, per-request", ten),
            ("edgechain, 10 add-headers, per-request (no when)", ["add-headers"] * 10),
        ]):
            rows.append(edgechain_case(work, name, links, "per-request", 18400 + 2 * i, log=True))
    finally:
        stop([origin])
    return rows


def write_scope_report(rows, v):
    base = rows[0]
    lines = ["| setup | req/s | p50 ms | p99 ms | CPU µs/req | CPU vs 2 links |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['cpu_us']:.1f} "
                     f"| {r['cpu_us'] - base['cpu_us']:+.1f} µs |")
    section = f"""<!-- e2e-scope:start -->
Command: `TABLES=scope bash bench/run.sh` (ROUNDS={ROUNDS}, DURATION={DURATION} s, WARMUP={WARMUP} s,
{CONNECTIONS} connections, one core for edgechain, wrk and the origin on the other, access
log on). Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {v['cpu']}, {v['cores']} cores;
{v['edgechain']}; {v['rustc']}.

""" + "\n".join(lines) + """
<!-- e2e-scope:end -->"""
    print("\n" + "\n".join(lines))
    doc = ROOT / "docs/benchmarks.md"
    text = doc.read_text()
    if "<!-- e2e-scope:start -->" in text:
        text = re.sub(r"<!-- e2e-scope:start -->.*<!-- e2e-scope:end -->", lambda _: section, text, flags=re.S)
    else:
        text += "\n" + section + "\n"
    doc.write_text(text)


def main():
    one_core, two_cores = [], []
    with tempfile.TemporaryDirectory() as work:
        if TABLES == "scope":
            write_scope_report(scope_rows(work), versions())
            return
        production = production_rows(work)
        if TABLES == "production":
            write_report(production, [], [], versions())
            return
        origin = nginx(work, "origin", ORIGIN.format(port=ORIGIN_PORT), LOAD_CPU)
        wait_http(ORIGIN_PORT)
        try:
            one_core.append(measure("origin alone", ORIGIN_PORT, [origin.pid]))
            one_core += nginx_cases(work, "", SUT_CPU, 1)
            cases = [("edgechain, 0 plugins", [], "per-request")]
            for instance in ("per-request", "reuse"):
                cases.append((f"edgechain, 1 plugin (passthrough), {instance}", ["passthrough"], instance))
                cases.append((f"edgechain, 5 plugins, {instance}", FIVE, instance))
            cases += [
                ("redirect, 1 regex rule, per-request", [("redirect", redirect_rules(1))], "per-request"),
                ("redirect, 200 regex rules, per-request", [("redirect", redirect_rules(200))], "per-request"),
                ("bot-block, 1 network, per-request", [("bot-block", bot_networks(1))], "per-request"),
                ("bot-block, 10000 networks, per-request", [("bot-block", bot_networks(10_000))],
                 "per-request"),
            ]
            for i, (name, links, instance) in enumerate(cases):
                one_core.append(edgechain_case(work, name, links, instance, 18100 + 2 * i))
            if WASI_HTTP_APP.exists():
                one_core.append(edgechain_case(work, "wasi:http app (wstd), edgechain's only link",
                                               [WASI_HTTP_APP], "per-request", 18150))
                if WASMTIME:
                    one_core.append(wasmtime_serve_case("wasi:http app (wstd), `wasmtime serve`", 18152))
                else:
                    print("no wasmtime on PATH (or WASMTIME): skipping the `wasmtime serve` row", flush=True)
            else:
                print(f"{WASI_HTTP_APP} missing (built by `cargo test`): skipping the wasi:http rows", flush=True)
        finally:
            stop([origin])

        # Two cores: everything shares both, as on a 2-core pod with its load generator.
        origin = nginx(work, "origin2", ORIGIN.format(port=ORIGIN_PORT), BOTH_CPUS, workers=2)
        wait_http(ORIGIN_PORT)
        load = {"cpus": BOTH_CPUS, "threads": 2}
        try:
            two_cores += nginx_cases(work, "2", BOTH_CPUS, 2, **load)
            for i, (name, links, instance) in enumerate([
                ("edgechain, 2 workers, 0 plugins", [], "per-request"),
                ("edgechain, 2 workers, 5 plugins, per-request", FIVE, "per-request"),
                ("edgechain, 2 workers, 5 plugins, reuse", FIVE, "reuse"),
            ]):
                two_cores.append(edgechain_case(work, name, links, instance, 18200 + 2 * i,
                                                workers=2, sut_cpus=BOTH_CPUS, **load))
        finally:
            stop([origin])
    write_report(production, one_core, two_cores, versions())


def nginx_cases(work, tag, sut_cpus, workers, log=False, **load):
    """One nginx hop and the daisy chain of five, each process with `workers` workers."""
    rows = []
    label = ("" if workers == 1 else f"{workers} workers, ") + ("logging, " if log else "")
    hop = nginx(work, f"hop1{tag}", HOP.format(port=18001, next=ORIGIN_PORT), sut_cpus, workers, log)
    wait_http(18001)
    rows.append(measure(f"nginx, {label}1 hop", 18001, [hop.pid], **load))
    stop([hop])
    hops = []
    for i in range(5, 0, -1):
        nxt = ORIGIN_PORT if i == 5 else 18010 + i + 1
        hops.append(nginx(work, f"chain{i}{tag}", HOP.format(port=18010 + i, next=nxt), sut_cpus, workers,
                          log))
    wait_http(18011)
    rows.append(measure(f"nginx, {label}daisy chain of 5 hops", 18011, [h.pid for h in hops], **load))
    stop(hops)
    return rows


def table(results):
    base = next(r for r in results if r["name"].startswith("nginx") and r["name"].endswith("1 hop"))
    chain5 = next(r for r in results if r["name"].startswith("nginx") and "daisy chain" in r["name"])
    rows = ["| setup | req/s | vs 1 nginx hop | vs 5-hop chain | p50 ms | p99 ms | p99 vs 1 hop | CPU µs/req "
            "| RSS MiB |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        rows.append(f"| {r['name']} | {r['rps']:.0f} | {r['rps'] / base['rps']:.2f}× | "
                    f"{r['rps'] / chain5['rps']:.2f}× | {r['p50']:.2f} | "
                    f"{r['p99']:.2f} | {r['p99'] / base['p99']:.2f}× | {r['cpu_us']:.1f} | {r['rss']:.1f} |")
    return "\n".join(rows)


def write_report(production, one_core, two_cores, v):
    tables = f"""Production configuration, one core for the system under test (wrk and the origin on
the other): every nginx hop writes a JSON access line per request, edgechain runs with
its defaults (access log on), links are `add-headers` setting a header in each phase:

{table(production)}"""
    if one_core:
        tables += f"""

Access logs off everywhere, one core for the system under test:

{table(one_core)}

Access logs off, two cores shared by everything (system under test, wrk with 2 threads,
a 2-worker origin):

{table(two_cores)}"""
    command = "bash bench/run.sh" if TABLES == "all" else f"TABLES={TABLES} bash bench/run.sh"
    section = f"""<!-- e2e:start -->
Command: `{command}` (ROUNDS={ROUNDS}, DURATION={DURATION} s, WARMUP={WARMUP} s,
{CONNECTIONS} connections). Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {v['cpu']},
{v['cores']} cores; {v['nginx']}; {v['wrk']}; {v['edgechain']}; {v['wasmtime']}; {v['rustc']}.

{tables}
<!-- e2e:end -->"""
    print("\n" + tables)
    write_doc_section("e2e", "End to end (wrk, loopback)", section)


def write_doc_section(marker, heading, section):
    """Replace the text between `<!-- marker:start -->` and `<!-- marker:end -->` in
    docs/benchmarks.md with `section` (which holds both markers), or append it under
    `## heading` the first time."""
    doc = ROOT / "docs/benchmarks.md"
    text = doc.read_text()
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    if start in text:
        text = text[:text.index(start)] + section + text[text.index(end) + len(end):]
    else:
        text += f"\n## {heading}\n\n" + section + "\n"
    doc.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
