#!/usr/bin/env python3
"""The same plugin in Rust, JavaScript and Python, side by side.

Each language's `edgechain new` scaffold (the same plugin in all three: answer
`/hello`, tag every other request, mark the response) is created outside the
checkout, built with `edgechain build`, and measured: component size, build
time, `edgechain validate` time (compiling and pre-initialising it, no compile
cache), and, as bench/e2e.py runs its cases (one core for edgechain with one
worker, wrk and the origin on the other), throughput, CPU and RSS with the
plugin as the only link, per-request and reuse. "CPU over bare" subtracts the
same run's edgechain with no plugin: what one link of that language costs.

    python3 bench/languages.py      # after bench/run.sh has built edgechain
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import e2e  # noqa: E402  (the shared helpers: nginx origin, wrk, measure, stop)

LANGS = [("rust", "Rust"), ("js", "JavaScript (QuickJS)"), ("python", "Python (componentize-py)")]


def run(cmd, **kw):
    env = {k: v for k, v in os.environ.items() if k != "CARGO_TARGET_DIR"}
    started = time.time()
    subprocess.run([str(c) for c in cmd], check=True, env=env, stdout=subprocess.DEVNULL, **kw)
    return time.time() - started


def build(work, lang):
    """Scaffold and build one language's plugin; returns (wasm, build s, validate s)."""
    proj = Path(work) / f"bench-{lang}"
    run([e2e.EDGECHAIN, "new", proj.name, "--lang", lang, "--path", proj, "--sdk", e2e.ROOT / "guest-sdk"])
    build_s = run([e2e.EDGECHAIN, "build", proj])
    config = proj / "proxy_config"
    module = json.loads((config / "proxychain.json").read_text())["proxychain"][0]["module"]
    wasm = (config / module).resolve()
    validate_s = run([e2e.EDGECHAIN, "validate", config])
    return wasm, build_s, validate_s


def serve_case(work, name, wasm, instance, port):
    d = Path(work) / f"c{port}"
    d.mkdir()
    chain = []
    if wasm is not None:
        (d / "plugin.wasm").write_bytes(wasm.read_bytes())
        chain.append({"name": "plugin", "module": "plugin.wasm", "instance": instance,
                      "config": {"greeting": "hi"}})
    (d / "proxychain.json").write_text(json.dumps({"proxychain": chain}))
    proc = e2e.edgechain(d, port)
    try:
        e2e.wait_http(port + 1, "/readyz", timeout=300)
        return e2e.measure(name, port, [proc.pid])
    finally:
        e2e.stop([proc])


def main():
    rows = []
    with tempfile.TemporaryDirectory() as work:
        built = {}
        for lang, label in LANGS:
            built[lang] = build(work, lang)
            wasm, b, v = built[lang]
            print(f"{label}: {wasm.stat().st_size / 1e6:.2f} MB, build {b:.1f} s, validate {v:.1f} s", flush=True)
        origin = e2e.nginx(work, "origin", e2e.ORIGIN.format(port=e2e.ORIGIN_PORT), e2e.LOAD_CPU)
        e2e.wait_http(e2e.ORIGIN_PORT)
        try:
            bare = serve_case(work, "edgechain, no plugin", None, None, 18300)
            for i, (lang, label) in enumerate(LANGS):
                wasm, build_s, validate_s = built[lang]
                modes = {}
                for j, instance in enumerate(("per-request", "reuse")):
                    modes[instance] = serve_case(work, f"{label}, {instance}", wasm, instance,
                                                 18310 + 10 * i + 2 * j)
                rows.append((label, wasm.stat().st_size, build_s, validate_s, modes))
        finally:
            e2e.stop([origin])
    write_report(bare, rows)


def write_report(bare, rows):
    lines = ["| plugin | component | build | validate (compile + pre-init) | per-request: req/s | CPU µs/req over bare | "
             "reuse: req/s | CPU µs/req over bare | RSS MiB (per-request / reuse) |",
             "|---|---|---|---|---|---|---|---|---|",
             f"| none (bare edgechain) | — | — | — | {bare['rps']:.0f} | ({bare['cpu_us']:.1f} total) | — | — | "
             f"{bare['rss']:.1f} |"]
    for label, size, build_s, validate_s, m in rows:
        pr, ru = m["per-request"], m["reuse"]
        lines.append(f"| {label} | {size / 1e6:.2f} MB | {build_s:.1f} s | {validate_s:.1f} s | {pr['rps']:.0f} | "
                     f"{pr['cpu_us'] - bare['cpu_us']:.1f} | {ru['rps']:.0f} | {ru['cpu_us'] - bare['cpu_us']:.1f} | "
                     f"{pr['rss']:.1f} / {ru['rss']:.1f} |")
    table = "\n".join(lines)
    v = e2e.versions()
    section = f"""<!-- languages:start -->
Command: `python3 bench/languages.py` (after `bash bench/run.sh`; ROUNDS={e2e.ROUNDS},
DURATION={e2e.DURATION} s, {e2e.CONNECTIONS} connections). Run
{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {v['cpu']}, {v['cores']} cores; {v['edgechain']}.

{table}
<!-- languages:end -->"""
    print("\n" + table)
    e2e.write_doc_section("languages", "Plugin languages", section)


if __name__ == "__main__":
    sys.exit(main())
