#!/usr/bin/env python3
"""The cache, side by side with the caches it replaces: hits, misses and memory.

Runs with bench/e2e.py's plumbing (nginx, wrk, CPU per request, one core for the
system under test on CPU 1, wrk and the origin on CPU 0) and writes its tables into
docs/benchmarks.md between `<!-- cache:start -->` and `<!-- cache:end -->`.

The origin is nginx serving static objects (`/1k`, `/16k`) with
`Cache-Control: max-age=3600`, `/u/<anything>` (the 1 KiB object under a fresh URL,
cacheable), `/nostore` (the same object with `no-store`) and `/big/<anything>` (64 KiB,
cacheable, for the memory run); its `stub_status` counts what reaches it, and every
case is checked before it is measured: five requests for a stored object must not
reach the origin on a cache (hits), and must on edgechain without one.

- Hits: every proxy serves the same stored object. nginx `proxy_cache` with the
  production JSON access line (e2e.py's) and with logging off; Varnish (Debian's
  `varnishd` and default VCL, `-s malloc,256m`, as the Debian service runs it), which
  writes no access log of its own, and with `varnishncsa` writing a JSON line per
  request to a file (its process counted with varnishd's CPU); edgechain with
  `{"name": "cache", "cache": {}}` and no links, access log on (its default) and off;
  and edgechain without a cache (every request forwarded) for reference.
- Misses: edgechain with the cache against the same edgechain without it, on unique
  URLs (every request a miss that is stored) and on a `no-store` object (passed
  through); nginx and Varnish on unique URLs for reference.
- Collapsing: COLLAPSE_CLIENTS (200) requests at once for one cold key, the origin
  (a Python server behind the nginx origin's `/slow/`) answering after 0.5 s: how many
  reach it, for nginx (`proxy_cache_lock on`), Varnish and edgechain.
- Memory: `max_size_mb` 32, then 10× that in distinct objects pushed through, 64 KiB
  ones and 1 KiB ones (where per-object overhead counts most); peak RSS (VmHWM)
  against the budget plus 50 MB, and what the cache holds at the end (its metrics).

Rows that need the cache are skipped with a note when EDGECHAIN (default
target/release/edgechain) does not accept the cache entry (`edgechain validate`).
CACHE_TABLES picks tables (default `hits,misses,collapse,memory`); ROUNDS, DURATION, WARMUP,
CONNECTIONS as for e2e.py.

    python3 bench/cache.py            # after bash bench/run.sh (or a release build)
"""

import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import e2e  # noqa: E402  (the shared plumbing: nginx, edgechain, wrk, measure, stop)

ALL_TABLES = ["hits", "misses", "collapse", "memory"]
TABLES = os.environ.get("CACHE_TABLES", ",".join(ALL_TABLES)).split(",")
# Ports of its own (e2e.py's origin listens on 18000 with SO_REUSEPORT, so a run of it
# beside this one would share the origin's port silently); checked free before use.
e2e.ORIGIN_PORT = int(os.environ.get("BENCH_ORIGIN_PORT", "18390"))
CACHE = {"name": "cache", "cache": {}}
OBJECTS = [("1 KiB", "/1k", 1024), ("16 KiB", "/16k", 16 * 1024)]
BIG = 64 * 1024
MEMORY_BUDGET_MB = 32
PORT = 18400

ORIGIN = """
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location = /status {{ stub_status; }}
        location = /1k {{ add_header Cache-Control "max-age=3600"; }}
        location = /16k {{ add_header Cache-Control "max-age=3600"; }}
        location /u/ {{ try_files /1k =404; add_header Cache-Control "max-age=3600"; }}
        location = /nostore {{ try_files /1k =404; add_header Cache-Control "no-store"; }}
        location /big/ {{ try_files /64k =404; add_header Cache-Control "max-age=3600"; }}
        location /slow/ {{ proxy_pass http://127.0.0.1:{slow}; }}
    }}
"""
COLLAPSE_CLIENTS = 200
SLOW_SECONDS = 0.5

# e2e.HOP with a proxy_cache in front of the origin (revalidation and request
# collapsing on, as a cache pod would run it).
CACHE_HOP = """
    proxy_cache_path {dir}/cache levels=1:2 keys_zone=edge:16m max_size=256m inactive=60m use_temp_path=off;
    upstream next {{ server 127.0.0.1:{next}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://next;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_cache edge;
            proxy_cache_revalidate on;
            proxy_cache_lock on;
        }}
    }}
"""

VCL = """vcl 4.1;

backend default {{
    .host = "127.0.0.1";
    .port = "{port}";
}}
"""

# The fields of e2e.NGINX_LOG, as varnishncsa writes them.
VARNISHNCSA_FORMAT = (
    '{"time":"%{%Y-%m-%dT%H:%M:%S%z}t","request":"%r","status":%s,"bytes":"%b",'
    '"content_type":"%{Content-Type}o","hostname":"%{Host}i","referrer":"%{Referer}i",'
    '"useragent":"%{User-agent}i","http_x_forwarded_proto":"%{X-Forwarded-Proto}i",'
    '"section_io_id":"%{section-io-id}i","remote_addr":"%h","cache":"%{Varnish:hitmiss}x",'
    '"request_time_seconds":%{Varnish:time_firstbyte}x}'
)

# Every request a URL of its own (per wrk process: a prefix from its start time).
UNIQUE_LUA = """
math.randomseed(os.time())
local prefix = os.time() .. "-" .. math.random(1, 1000000000)
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, "/u/" .. prefix .. "-" .. counter)
end
"""


def ensure_free(*ports):
    """Fail before starting a server on a port something else holds (another run's
    server would answer in its place)."""
    for port in ports:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no obstacle
            try:
                s.bind(("127.0.0.1", port))
            except OSError as e:
                raise SystemExit(f"port {port} is in use ({e}): is another benchmark running?")


def origin_requests():
    """Requests the origin has served, this one included (stub_status)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{e2e.ORIGIN_PORT}/status", timeout=2) as r:
        return int(r.read().decode().splitlines()[2].split()[2])


def get(port, path, size):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        body = r.read()
        if r.status != 200 or len(body) != size:
            raise SystemExit(f"GET {path} on port {port}: {r.status}, {len(body)} bytes (expected {size})")
        return r.headers


def check(name, port, path, size, cached):
    """Five requests after a first one: none reaches the origin on a cache, all do
    without one; otherwise the row would not measure what it says."""
    get(port, path, size)
    before = origin_requests()
    for _ in range(5):
        get(port, path, size)
    reached = origin_requests() - before - 1
    if reached != (0 if cached else 5):
        raise SystemExit(f"{name}: {reached} of 5 requests for {path} reached the origin "
                         f"({'expected hits' if cached else 'expected every one forwarded'})")


class SlowOrigin(ThreadingHTTPServer):
    """Behind the origin's `/slow/`: answers after SLOW_SECONDS with a cacheable 1 KiB
    object and counts the requests for each path (request collapsing)."""

    daemon_threads = True
    request_queue_size = 1024

    def __init__(self):
        self.seen = Counter()
        self.lock = threading.Lock()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                with origin.lock:
                    origin.seen[self.path] += 1
                time.sleep(SLOW_SECONDS)
                body = b"x" * 1024
                self.send_response(200)
                self.send_header("Cache-Control", "max-age=3600")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def collapse_row(case, slow):
    """COLLAPSE_CLIENTS requests at once for one cold key: how many reach the origin."""
    path = f"/slow/{os.getpid()}-{case.port}"
    barrier = threading.Barrier(COLLAPSE_CLIENTS)
    statuses = Counter()

    def one():
        barrier.wait()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{case.port}{path}", timeout=30) as r:
                statuses[r.status if len(r.read()) == 1024 else "short body"] += 1
        except Exception as e:  # counted, shown in the table
            statuses[type(e).__name__] += 1

    try:
        started = time.time()
        clients = [threading.Thread(target=one) for _ in range(COLLAPSE_CLIENTS)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        row = {"name": case.name, "origin": slow.seen[path], "seconds": time.time() - started,
               "statuses": ", ".join(f"{n}× {k}" for k, n in sorted(statuses.items(), key=str))}
        print(f"{case.name:50} {COLLAPSE_CLIENTS} concurrent requests for one cold key: {row['origin']} reached "
              f"the origin; {row['statuses']}; {row['seconds']:.2f} s", flush=True)
        return row
    finally:
        e2e.stop(case.procs)


def collapse_rows(work, cache_ok, slow):
    port = PORT + 300
    starts = [
        lambda p: nginx_cache(work, "nginx proxy_cache (proxy_cache_lock on)", p, True),
        lambda p: varnish(work, "Varnish", p, True),
    ]
    if cache_ok:
        starts.append(lambda p: edgechain(work, "edgechain cache", p, [CACHE]))
    starts.append(lambda p: edgechain(work, "edgechain, no cache (for reference)", p, []))
    rows = []
    for start in starts:
        rows.append(collapse_row(start(port), slow))
        port += 2
    return rows


def cache_metrics(admin_port):
    """edgechain's `edgechain_cache_*` series on its admin port (name: value)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=2) as r:
        text = r.read().decode()
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"^(edgechain_cache_[a-z_]+)(?:\{[^}]*\})? ([0-9.e+]+)$", text, re.M)}


def supports_cache(work):
    """Whether EDGECHAIN accepts the cache entry (it does once the cache exists)."""
    d = e2e.chain_dir(work, "probe", [CACHE], "per-request")
    probe = subprocess.run([str(e2e.EDGECHAIN), "validate", str(d)], capture_output=True, text=True)
    if probe.returncode != 0:
        print(f"{e2e.EDGECHAIN} does not accept the cache entry, skipping the rows that need it: "
              f"{probe.stderr.strip()}", flush=True)
    return probe.returncode == 0


class Case:
    """A proxy under test on `port`: `procs` to stop, `pids` whose CPU counts."""

    def __init__(self, name, port, procs, pids=None):
        self.name, self.port, self.procs = name, port, procs
        self.pids = pids or [p.pid for p in procs]

    def run(self, check_path=None, size=None, cached=True, **load):
        try:
            if check_path:
                check(self.name, self.port, check_path, size, cached)
            try:
                return e2e.measure(self.name, self.port, self.pids, **load)
            except SystemExit as e:  # e2e.wrk: errors or timeouts in a round
                # This machine is shared: a stall elsewhere can time a round out. Once
                # more, then the failure stands.
                print(f"{self.name}: {str(e).splitlines()[0]}; measuring once more", flush=True)
                return e2e.measure(self.name, self.port, self.pids, **load)
        finally:
            e2e.stop(self.procs)


def nginx_cache(work, name, port, log):
    ensure_free(port)
    hop = e2e.nginx(work, f"n{port}", CACHE_HOP.format(dir=Path(work) / f"n{port}", next=e2e.ORIGIN_PORT,
                                                         port=port), e2e.SUT_CPU, log=log)
    e2e.wait_http(port, "/1k")
    return Case(name, port, [hop])


def varnish(work, name, port, log):
    ensure_free(port)
    d = Path(work) / f"v{port}"
    d.mkdir()
    (d / "default.vcl").write_text(VCL.format(port=e2e.ORIGIN_PORT))
    procs = [subprocess.Popen(
        ["taskset", "-c", e2e.SUT_CPU, "varnishd", "-F", "-j", "unix,user=vcache", "-n", str(d / "n"),
         "-a", f"127.0.0.1:{port}", "-f", str(d / "default.vcl"), "-s", "malloc,256m"],
        stdout=subprocess.DEVNULL, stderr=open(d / "stderr.log", "w"))]
    e2e.wait_http(port, "/1k", timeout=60)
    if log:
        procs.append(subprocess.Popen(
            ["taskset", "-c", e2e.SUT_CPU, "varnishncsa", "-n", str(d / "n"), "-j", "-F", VARNISHNCSA_FORMAT,
             "-w", str(d / "access.log")], stdout=subprocess.DEVNULL, stderr=open(d / "ncsa.log", "w")))
        deadline = time.time() + 10
        while not (d / "access.log").exists() and time.time() < deadline:
            time.sleep(0.05)
    return Case(name, port, procs)


def edgechain(work, name, port, links, log=True):
    ensure_free(port, port + 1)
    proc = e2e.edgechain(e2e.chain_dir(work, f"e{port}", links, "per-request"), port, log=log)
    e2e.wait_http(port + 1, "/readyz", timeout=180)
    return Case(name, port, [proc])


def hit_rows(work, cache_ok):
    rows = []
    port = PORT
    for label, path, size in OBJECTS:
        starts = [
            (lambda p: nginx_cache(work, "nginx proxy_cache, logging", p, True), True),
            (lambda p: nginx_cache(work, "nginx proxy_cache, access log off", p, False), True),
            (lambda p: varnish(work, "Varnish (no access log)", p, False), True),
            (lambda p: varnish(work, "Varnish + varnishncsa logging", p, True), True),
        ]
        if cache_ok:
            starts += [
                (lambda p: edgechain(work, "edgechain cache, 0 links (access log on)", p, [CACHE]), True),
                (lambda p: edgechain(work, "edgechain cache, 0 links, access log off", p, [CACHE], log=False),
                 True),
            ]
        starts.append((lambda p: edgechain(work, "edgechain, no cache (forwards every request)", p, []), False))
        for start, cached in starts:
            case = start(port)
            row = case.run(path, size, cached, path=path)
            row["object"] = label
            rows.append(row)
            port += 2
    return rows


def miss_rows(work, cache_ok):
    script = Path(work) / "unique.lua"
    script.write_text(UNIQUE_LUA)
    unique = {"path": "/u/", "script": script}
    nostore = {"path": "/nostore"}
    rows = []
    port = PORT + 100
    cases = [
        (lambda p: edgechain(work, "edgechain, no cache, unique URLs", p, []), unique),
        (lambda p: edgechain(work, "edgechain cache, unique URLs (each a miss, stored)", p, [CACHE]), unique),
        (lambda p: edgechain(work, "edgechain, no cache, no-store object", p, []), nostore),
        (lambda p: edgechain(work, "edgechain cache, no-store object (passed through)", p, [CACHE]), nostore),
        (lambda p: nginx_cache(work, "nginx proxy_cache, logging, unique URLs", p, True), unique),
        (lambda p: varnish(work, "Varnish + varnishncsa logging, unique URLs", p, True), unique),
    ]
    for i, (start, load) in enumerate(cases):
        if i in (1, 3) and not cache_ok:
            continue
        case = start(port)
        rows.append(case.run(**load))
        port += 2
    return rows


def memory_row(work, links, name, port, size, unique):
    """Pushes 10× the budget in distinct objects of `size` bytes through edgechain:
    64 KiB ones from 8 Python connections, or (`unique`, a wrk Lua script) 1 KiB ones
    from wrk in 5 s runs. Returns idle, peak (VmHWM) and final RSS in MiB, and what the
    cache holds at the end (its metrics)."""
    case = edgechain(work, name, port, links)
    pid = case.procs[0].pid
    budget = MEMORY_BUDGET_MB * 10 * 2**20
    try:
        idle = e2e.rss_mib([pid])
        started = time.time()
        if unique:
            pushed = 0
            while pushed * size < budget and time.time() - started < 120:
                pushed += e2e.wrk(port, 5, path="/u/", script=unique)[1]
        else:
            pushed = push_big(name, port, budget // size)
        seconds = time.time() - started
        status = Path(f"/proc/{pid}/status").read_text()
        peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024
        held = cache_metrics(port + 1)
        row = {"name": name, "idle": idle, "peak": peak, "final": e2e.rss_mib([pid]), "size": size,
               "pushed_mib": pushed * size / 2**20, "seconds": seconds,
               "held": (f"{held.get('edgechain_cache_stored_bytes', 0) / 2**20:.1f} MiB in "
                        f"{held.get('edgechain_cache_objects', 0):.0f} objects"
                        if "edgechain_cache_objects" in held else "—")}
        print(f"{name:50} pushed {row['pushed_mib']:.0f} MiB in {seconds:.1f} s: RSS idle {idle:.1f}, "
              f"peak {peak:.1f}, final {row['final']:.1f} MiB; held {row['held']}", flush=True)
        return row
    finally:
        e2e.stop(case.procs)


def push_big(name, port, objects):
    """`objects` distinct 64 KiB objects from 8 connections in parallel."""
    def push(first, count):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for i in range(first, first + count):
            conn.request("GET", f"/big/{os.getpid()}-{i}")
            r = conn.getresponse()
            if r.status != 200 or len(r.read()) != BIG:
                raise SystemExit(f"{name}: GET /big/{i}: {r.status}")
        conn.close()

    per = objects // 8
    workers = [threading.Thread(target=push, args=(k * per, per)) for k in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return per * 8


def memory_rows(work, cache_ok):
    script = Path(work) / "unique-memory.lua"
    script.write_text(UNIQUE_LUA)
    cache = {"name": "cache", "cache": {"max_size_mb": MEMORY_BUDGET_MB}}
    rows = []
    port = PORT + 200
    for size, unique in ((BIG, None), (1024, script)):
        rows.append(memory_row(work, [], "edgechain, no cache", port, size, unique))
        if cache_ok:
            rows.append(memory_row(work, [cache], f"edgechain cache, max_size_mb {MEMORY_BUDGET_MB}", port + 2,
                                   size, unique))
        port += 4
    return rows


def hits_table(rows):
    out = ["| object | setup | req/s | vs nginx proxy_cache (logging) | vs Varnish + varnishncsa | p50 ms | p99 ms "
           "| CPU µs/req | RSS MiB |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        same = [x for x in rows if x["object"] == r["object"]]
        ng = next(x for x in same if x["name"] == "nginx proxy_cache, logging")
        va = next(x for x in same if x["name"] == "Varnish + varnishncsa logging")
        out.append(f"| {r['object']} | {r['name']} | {r['rps']:.0f} | {r['rps'] / ng['rps']:.2f}× | "
                   f"{r['rps'] / va['rps']:.2f}× | {r['p50']:.2f} | {r['p99']:.2f} | {r['cpu_us']:.1f} | "
                   f"{r['rss']:.1f} |")
    return "\n".join(out)


def misses_table(rows):
    out = ["| setup | req/s | vs edgechain without a cache, same URLs | p50 ms | p99 ms | CPU µs/req | RSS MiB |",
           "|---|---|---|---|---|---|---|"]
    base = {kind: next((r for r in rows if r["name"] == f"edgechain, no cache, {kind}"), None)
            for kind in ("unique URLs", "no-store object")}
    for r in rows:
        kind = "no-store object" if "no-store" in r["name"] else "unique URLs"
        ratio = (f"{r['rps'] / base[kind]['rps']:.2f}×" if base[kind] and r["name"].startswith("edgechain")
                 else "—")
        out.append(f"| {r['name']} | {r['rps']:.0f} | {ratio} | {r['p50']:.2f} | {r['p99']:.2f} | "
                   f"{r['cpu_us']:.1f} | {r['rss']:.1f} |")
    return "\n".join(out)


def collapse_table(rows):
    out = [f"| setup | of {COLLAPSE_CLIENTS} requests, reached the origin | answers | all answered in |",
           "|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['name']} | {r['origin']} | {r['statuses']} | {r['seconds']:.2f} s |")
    return "\n".join(out)


def memory_table(rows):
    out = ["| setup | objects | pushed | held at the end (metrics) | RSS idle MiB | peak RSS MiB (VmHWM) "
           "| final RSS MiB | limit (budget + 50 MB) |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        limit = "—"
        if "max_size_mb" in r["name"]:
            bound = (MEMORY_BUDGET_MB * 2**20 + 50e6) / 2**20
            limit = f"{bound:.0f} MiB: {'within' if r['peak'] <= bound else 'OVER'}"
        out.append(f"| {r['name']} | {r['size'] // 1024} KiB | {r['pushed_mib']:.0f} MiB in {r['seconds']:.1f} s | "
                   f"{r['held']} | {r['idle']:.1f} | "
                   f"{r['peak']:.1f} | {r['final']:.1f} | {limit} |")
    return "\n".join(out)


def main():
    with tempfile.TemporaryDirectory() as work:
        os.chmod(work, 0o755)  # nginx's workers and varnishd's child run as other users
        root = Path(work) / "www"
        root.mkdir()
        for name, size in (("1k", 1024), ("16k", 16 * 1024), ("64k", BIG)):
            (root / name).write_bytes(bytes(ord("a") + i % 26 for i in range(size)))
        ensure_free(e2e.ORIGIN_PORT)
        slow = SlowOrigin()
        origin = e2e.nginx(work, "origin", ORIGIN.format(port=e2e.ORIGIN_PORT, root=root,
                                                         slow=slow.server_address[1]), e2e.LOAD_CPU)
        e2e.wait_http(e2e.ORIGIN_PORT, "/1k")
        cache_ok = supports_cache(work)
        tables = {}
        try:
            if "hits" in TABLES:
                tables["hits"] = hits_table(hit_rows(work, cache_ok))
            if "misses" in TABLES:
                tables["misses"] = misses_table(miss_rows(work, cache_ok))
            if "collapse" in TABLES:
                tables["collapse"] = collapse_table(collapse_rows(work, cache_ok, slow))
            if "memory" in TABLES:
                tables["memory"] = memory_table(memory_rows(work, cache_ok))
        finally:
            e2e.stop([origin])
            slow.shutdown()
    write_report(tables)


def write_report(tables):
    v = e2e.versions()
    varnish_v = subprocess.run(["varnishd", "-V"], capture_output=True, text=True).stderr.splitlines()[0]
    titles = {
        "hits": "Hits: the same stored object, one core for the proxy (wrk and the origin on the other)",
        "misses": "Misses: 1 KiB from the origin every time, one core for the proxy",
        "collapse": f"Collapsing: {COLLAPSE_CLIENTS} concurrent requests for one cold key, the origin answering "
                    f"after {SLOW_SECONDS * 1000:.0f} ms",
        "memory": f"Memory: {MEMORY_BUDGET_MB * 10} MiB of distinct objects through a "
                  f"{MEMORY_BUDGET_MB} MB budget",
    }
    body = "\n\n".join(f"{titles[k]}:\n\n{t}" for k, t in tables.items())
    command = "python3 bench/cache.py" + ("" if set(TABLES) == set(ALL_TABLES)
                                          else f" (CACHE_TABLES={','.join(TABLES)})")
    section = f"""<!-- cache:start -->
Command: `{command}` (ROUNDS={e2e.ROUNDS}, DURATION={e2e.DURATION} s, WARMUP={e2e.WARMUP} s,
{e2e.CONNECTIONS} connections). Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {v['cpu']},
{v['cores']} cores; {v['nginx']}; {varnish_v}; {v['wrk']}; {v['edgechain']}.

{body}
<!-- cache:end -->"""
    print("\n" + body)
    if os.environ.get("CACHE_NO_DOC"):
        return
    e2e.write_doc_section("cache", "Cache (wrk, loopback)", section)


if __name__ == "__main__":
    sys.exit(main())
