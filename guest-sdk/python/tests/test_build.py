"""The build's component checks (no componentize-py needed)."""

from pathlib import Path

import pytest

from edgechain_sdk import _component, build

# A Rust plugin of this checkout (`cargo xtask plugins`; CI builds it before these tests).
RUST_COMPONENT = Path(__file__).resolve().parents[3] / "target/plugins/add-headers.wasm"


def leb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def name(s: str) -> bytes:
    return leb(len(s)) + s.encode()


def component(imports: list[str], exports: list[str]) -> bytes:
    imp = leb(len(imports)) + b"".join(b"\x00" + name(n) + b"\x05" + leb(0) for n in imports)
    exp = leb(len(exports)) + b"".join(b"\x00" + name(n) + b"\x05" + leb(0) + b"\x00" for n in exports)
    return (b"\0asm\x0d\x00\x01\x00" + b"\x0a" + leb(len(imp)) + imp
            + b"\x0b" + leb(len(exp)) + exp)


def test_every_0_3_world_up_to_the_sdk_s_is_linkable():
    for name in ["edgechain:plugin/host@0.3.0", "edgechain:plugin/kv@0.3.1",
                 "edgechain:plugin/cache@0.3.1"]:
        assert _component.disallowed_import(name) is None, name


def test_imports_and_exports_are_read():
    data = component(["wasi:io/poll@0.2.9", "edgechain:plugin/kv@0.3.0"],
                     ["edgechain:plugin/filter@0.3.0"])
    info = _component.inspect(data)
    assert info.imports == ["wasi:io/poll@0.2.9", "edgechain:plugin/kv@0.3.0"]
    assert info.exports == ["edgechain:plugin/filter@0.3.0"]
    assert build.check_component(data).imports == info.imports


@pytest.mark.parametrize("bad, why", [
    ("wasi:http/types@0.2.0", "does not provide wasi:http"),
    ("wasi:cli/environment@0.3.0", "0.2.x"),
    ("wasi:io/poll@0.2.13", "up to 0.2.12"),
    ("wasi:clocks/timezone@0.2.9", "wasi:clocks/timezone"),
    ("edgechain:plugin/host@0.2.0", "@0.3.0 to @0.3.1"),
    ("edgechain:plugin/cache@0.3.2", "@0.3.0 to @0.3.1"),
    ("edgechain:plugin/cache", "unversioned"),
    ("edgechain:plugin/filter@0.3.0", "not an import"),
    ("acme:thing/x@1.0.0", "acme:thing"),
    ("log", "not an interface"),
])
def test_what_the_host_cannot_link_is_refused(bad, why):
    reason = _component.disallowed_import(bad)
    assert reason is not None and why in reason
    with pytest.raises(build.BuildError) as e:
        build.check_component(component([bad], [_component.FILTER_EXPORT]))
    assert bad in str(e.value)


def test_a_component_without_the_filter_export_is_refused():
    with pytest.raises(build.BuildError, match="does not export"):
        build.check_component(component([], ["other:pkg/x@1.0.0"]))


def test_not_a_component():
    with pytest.raises(build.BuildError, match="core module"):
        build.check_component(b"\0asm\x01\x00\x00\x00")


@pytest.mark.skipif(not RUST_COMPONENT.exists(), reason="no Rust component at hand")
def test_a_real_rust_component():
    info = build.check_component(RUST_COMPONENT.read_bytes())
    assert info.core_instances == 3
    assert any(i.startswith("edgechain:plugin/host@0.3.") for i in info.imports)


def test_entry_module_and_settings(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.edgechain]\nmodule = "mine"\npreload = ["csv"]\n')
    assert build._project_settings(tmp_path) == {"module": "mine", "preload": ["csv"]}
    src = build.ENTRY.format(module="mine", preload="import csv  # preload\n", gc_freeze=True)
    compile(src, "edgechain_entry.py", "exec")
    with pytest.raises(build.BuildError, match="no module `mine`"):
        build.build(tmp_path, tmp_path / "out.wasm", quiet=True, cache_dir=None)


def test_a_build_error_names_the_authors_files_not_the_generated_entry():
    # componentize-py's report of an import that raised, as the guest names
    # the staged directories (/0: the project, /1: the SDK).
    output = (
        "Error: AssertionError: Traceback (most recent call last):\n"
        '  File "/0/edgechain_entry.py", line 5, in <module>\n'
        "    import mine  # noqa: E402,F401  (the plugin: runs its top level once, now)\n"
        "    ^^^^^^^^^^^\n"
        '  File "/0/mine.py", line 4, in <module>\n'
        "    helper.boom()\n"
        '  File "/1/edgechain_sdk/plugin.py", line 9, in boom\n'
        '    raise ValueError("bad thing")\n'
        "ValueError: bad thing\n\nCaused by:\n    x\n"
    )
    project, sdk = Path("/home/me/mine"), Path("/opt/edgechain/guest-sdk/python/src")
    said = build._explain_failure(output, "mine", [project, sdk])
    assert build.ENTRY_MODULE not in said, said
    assert 'File "/home/me/mine/mine.py", line 4' in said
    assert 'File "/opt/edgechain/guest-sdk/python/src/edgechain_sdk/plugin.py"' in said
    assert said.startswith("importing `mine` failed at build time:\nTraceback")
    assert said.rstrip().endswith("ValueError: bad thing")
