"""End to end: build components with the build contract and serve them with
the real host (``edgechain validate`` + ``edgechain demo``), in both instance
modes. Slow (a build takes ~10 s, compiling it in the host ~10 s), so it runs
only when ``EDGECHAIN_BIN`` names an edgechain binary:

    EDGECHAIN_BIN=/path/to/edgechain .venv/bin/python -m pytest tests/test_host_e2e.py
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgechain_sdk import build as sdk_build

BIN = os.environ.get("EDGECHAIN_BIN")
pytestmark = pytest.mark.skipif(not BIN, reason="set EDGECHAIN_BIN to run the host tests")

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parents[2] / "examples" / "python"
MODES = ["per-request", "reuse"]
JWT_KEY = "s" * 32

sys.path.insert(0, str(EXAMPLES / "jwt-verify"))
from jwt_verify import sign_hs256  # noqa: E402


@pytest.fixture(scope="session")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def components(work):
    out = {}
    for name, project in [("probe", HERE / "probe"),
                          ("header_policy", EXAMPLES / "header-policy"),
                          ("jwt_verify", EXAMPLES / "jwt-verify")]:
        wasm = work / f"{name}.wasm"
        sdk_build.build(project, wasm, quiet=True,
                        cache_dir=Path(os.environ.get("EDGECHAIN_PY_CACHE", work / "cache")))
        out[name] = wasm
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chain(work: Path, name: str, links: list[dict], wasm: dict[str, Path]) -> Path:
    d = work / name
    d.mkdir(exist_ok=True)
    for link in links:
        shutil.copyfile(wasm[link["module"].removesuffix(".wasm")], d / link["module"])
    (d / "proxychain.json").write_text(json.dumps({"proxychain": links}))
    return d


def validate(d: Path) -> None:
    r = subprocess.run([BIN, "validate", str(d)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@contextlib.contextmanager
def demo(d: Path, work: Path):
    port, admin = free_port(), free_port()
    err = open(d / "demo.err", "w")
    proc = subprocess.Popen(
        [BIN, "demo", "--config", str(d), "--listen", f"127.0.0.1:{port}",
         "--admin", f"127.0.0.1:{admin}", "--access-log", "off", "--poll-interval", "0",
         "--compile-cache", str(work / "compile-cache")],
        stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (d / "demo.err").read_text()
            try:
                c = http.client.HTTPConnection("127.0.0.1", admin, timeout=1)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "demo did not get ready"
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(30)
        err.close()


def get(port: int, path: str, method: str = "GET", body: bytes | None = None, **headers):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers={k.replace("_", "-"): v for k, v in headers.items()})
    r = c.getresponse()
    data = r.read()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


@pytest.mark.parametrize("mode", MODES)
def test_probe(work, components, mode):
    d = chain(work, f"probe-{mode}", [{"name": "probe", "module": "probe.wasm", "instance": mode,
                                       "timeout_ms": 500, "config": {"answer": 42}}], components)
    validate(d)
    with demo(d, work) as port:
        first = json.loads(get(port, "/probe?q=a%20b", "POST", b"hi")[2])
        second = json.loads(get(port, "/%70robe")[2])
        assert first["config"] == {"answer": 42}
        assert first["link"] == "probe" and first["client_ip"] == "127.0.0.1"
        assert first["http"] == "denied", "no grants: outbound calls are denied"
        assert (first["kv"], second["kv"]) == (1, 2), "kv is shared by all instances"
        assert first["q"] == "a b" and first["body"] == "hi" and second["raw_path"] == "/%70robe"
        assert first["random"] != second["random"], "random differs per instance and per call"
        assert first["snapshot_random"] == second["snapshot_random"], "module top level ran once"
        assert first["urandom"] != second["urandom"]
        assert second["now"] > first["now"] > first["built_at"], "clocks are live"
        assert first["cache"] == ["ok", "invalid: key part has a control character", "ok"], \
            "cache calls reach the host, and its refusals come back as CacheError"
        if mode == "reuse":
            assert second["calls"] == first["calls"] + 1, "reuse keeps the plugin object"
        else:
            assert first["calls"] == second["calls"] == 1, "per-request starts over"
        status, headers, body = get(port, "/rewrite?x=1", "POST", b"old")
        seen = json.loads(body)
        assert status == 200 and seen["path"] == "/rewritten?x=1"
        assert seen["headers"]["x-probe"] == "1" and seen["body_bytes"] == 8
        assert headers["x-probe-seen"] == "/rewrite"
        assert headers["x-probe-cache"] == "wrong-phase,ok", "bypass is too late in on_response"
        assert get(port, "/boom")[0] == 500, "an exception traps the instance: fail-closed"
        assert get(port, "/lazy-import")[0] == 500
        assert get(port, "/after")[0] == 200, "a trap does not poison later requests"
    log = (d / "demo.err").read_text()
    assert "ValueError: boom" in log
    assert "import of `fractions` failed at request time" in log


@pytest.mark.parametrize("mode", MODES)
def test_header_policy(work, components, mode):
    d = chain(work, f"header-policy-{mode}", [{
        "name": "policy", "module": "header_policy.wasm", "instance": mode, "timeout_ms": 500,
        "config": {"require": [{"header": "x-api-key", "paths": ["/api"], "status": 401}],
                   "strip_request": ["x-user-id"],
                   "response": {"set": {"cache-control": "no-store"}}}}], components)
    validate(d)
    with demo(d, work) as port:
        for path in ["/api/x", "/%61pi/x", "//api/./x"]:
            assert get(port, path)[0] == 401, path
        status, headers, body = get(port, "/api/x", x_api_key="k", x_user_id="root")
        assert status == 200
        seen = json.loads(body)["headers"]
        assert "x-user-id" not in seen and seen["x-api-key"] == "k"
        assert headers["cache-control"] == "no-store"
        assert headers["x-content-type-options"] == "nosniff"
        assert get(port, "/public")[0] == 200


def test_header_policy_rejects_a_bad_config(work, components):
    d = chain(work, "header-policy-bad", [{"name": "policy", "module": "header_policy.wasm",
                                          "config": {"require": [{"header": "bad name"}]}}],
              components)
    r = subprocess.run([BIN, "validate", str(d)], capture_output=True, text=True)
    assert r.returncode == 1 and "`bad name` is not a valid header name" in r.stderr


@pytest.mark.parametrize("mode", MODES)
def test_jwt_verify(work, components, mode):
    d = chain(work, f"jwt-{mode}", [{
        "name": "jwt", "module": "jwt_verify.wasm", "instance": mode, "timeout_ms": 500,
        "config": {"key": JWT_KEY, "paths": ["/api"], "audience": "api",
                   "forward_claims": {"sub": "x-user-id"}, "max_failures_per_minute": 2}}],
        components)
    validate(d)
    good = sign_hs256({"sub": "alice", "aud": "api", "exp": int(time.time()) + 60},
                      JWT_KEY.encode())
    with demo(d, work) as port:
        status, headers, _ = get(port, "/api/orders")
        assert status == 401 and headers["www-authenticate"].startswith("Bearer")
        status, _, body = get(port, "/api/orders", authorization=f"Bearer {good}",
                              x_user_id="mallory")
        assert status == 200 and json.loads(body)["headers"]["x-user-id"] == "alice"
        bad = good[:-3] + "abc"
        codes = [get(port, "/api/x", authorization=f"Bearer {bad}")[0] for _ in range(3)]
        assert codes == [401, 401, 429], "failures are counted in kv across instances"
        assert get(port, "/public", x_user_id="mallory")[0] == 200
