"""Read the top-level imports and exports of a WebAssembly component.

A few dozen lines of the component binary format (the outer layer only) so the
build can check what a component imports without another tool. Nested
components and core modules are skipped by size; their count is reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_MAGIC = b"\0asm"
_COMPONENT_VERSION = b"\x0d\x00\x01\x00"
_CORE_VERSION = b"\x01\x00\x00\x00"

# Section ids of the component binary format.
_CORE_MODULE, _CORE_INSTANCE, _COMPONENT, _IMPORT, _EXPORT = 1, 2, 4, 10, 11


class NotAComponent(ValueError):
    """The bytes are not a WebAssembly component."""


@dataclass
class ComponentInfo:
    """What the outer layer of a component declares."""

    imports: list[str] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)
    #: Core modules embedded directly in the component.
    core_modules: int = 0
    #: Core module instantiations per component instance (outer layer): what
    #: each instance takes from the host's pool of core instances.
    core_instances: int = 0
    #: Linear memories and tables the core modules define (each instance
    #: takes these from the host's pool, like the core instances).
    core_memories: int = 0
    core_tables: int = 0
    #: Nested components.
    components: int = 0
    #: Core module instantiations inside nested components (if instantiated).
    nested_core_instances: int = 0


def _leb(b: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = b[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, i


def _name(b: bytes, i: int) -> tuple[str, int]:
    n, i = _leb(b, i)
    return b[i : i + n].decode("utf-8"), i + n


def _externdesc(b: bytes, i: int) -> int:
    kind = b[i]
    i += 1
    if kind == 0x00:  # core module: 0x11 typeidx
        i += 1
        _, i = _leb(b, i)
    elif kind in (0x01, 0x04, 0x05):  # func / component / instance: typeidx
        _, i = _leb(b, i)
    elif kind == 0x02:  # value bound
        i += 1
        _, i = _leb(b, i)
    elif kind == 0x03:  # type bound: 0x00 eq typeidx | 0x01 sub resource
        bound = b[i]
        i += 1
        if bound == 0x00:
            _, i = _leb(b, i)
    else:
        raise NotAComponent(f"unknown extern kind 0x{kind:02x} at byte {i - 1}")
    return i


def _import_name(b: bytes, i: int) -> tuple[str, int]:
    tag = b[i]
    i += 1
    name, i = _name(b, i)
    if tag == 0x01:  # with a version suffix
        _, i = _name(b, i)
    elif tag != 0x00:
        raise NotAComponent(f"unknown import name form 0x{tag:02x} at byte {i}")
    return name, i


def _core_defs(module: bytes) -> tuple[int, int]:
    """(memories, tables) a core module defines (imports excluded)."""
    memories = tables = 0
    i = 8
    while i < len(module):
        sid = module[i]
        size, j = _leb(module, i + 1)
        if sid == 5:
            memories, _ = _leb(module, j)
        elif sid == 4:
            tables, _ = _leb(module, j)
        i = j + size
    return memories, tables


def inspect(data: bytes) -> ComponentInfo:
    """Parse the outer layer of a component."""
    if data[:4] != _MAGIC:
        raise NotAComponent("not WebAssembly (bad magic)")
    if data[4:8] == _CORE_VERSION:
        raise NotAComponent("a core module, not a component")
    if data[4:8] != _COMPONENT_VERSION:
        raise NotAComponent(f"unknown WebAssembly version/layer {data[4:8].hex()}")
    info = ComponentInfo()
    i = 8
    while i < len(data):
        sid = data[i]
        size, j = _leb(data, i + 1)
        end = j + size
        if sid == _CORE_MODULE:
            info.core_modules += 1
            mem, tab = _core_defs(data[j:end])
            info.core_memories += mem
            info.core_tables += tab
        elif sid == _COMPONENT:
            info.components += 1
            nested = inspect(data[j:end])
            info.nested_core_instances += nested.core_instances + nested.nested_core_instances
        elif sid == _CORE_INSTANCE:
            n, j = _leb(data, j)
            for _ in range(n):
                form = data[j]
                j += 1
                if form == 0x00:  # instantiate a module: modidx, vec(arg)
                    info.core_instances += 1
                    _, j = _leb(data, j)
                    args, j = _leb(data, j)
                    for _ in range(args):
                        _, j = _name(data, j)
                        j += 1  # 0x12 (instance)
                        _, j = _leb(data, j)
                else:  # from inline exports: vec(name, sort, idx)
                    exports, j = _leb(data, j)
                    for _ in range(exports):
                        _, j = _name(data, j)
                        j += 1
                        _, j = _leb(data, j)
        elif sid == _IMPORT:
            n, j = _leb(data, j)
            for _ in range(n):
                name, j = _import_name(data, j)
                j = _externdesc(data, j)
                info.imports.append(name)
        elif sid == _EXPORT:
            n, j = _leb(data, j)
            for _ in range(n):
                name, j = _import_name(data, j)
                sort = data[j]
                j += 1
                if sort == 0x00:
                    j += 1
                _, j = _leb(data, j)
                if data[j] == 0x01:
                    j = _externdesc(data, j + 1)
                else:
                    j += 1
                info.exports.append(name)
        i = end
    if i != len(data):
        raise NotAComponent("truncated component")
    return info


# What the edgechain host links (wasmtime-wasi 48: WASI 0.2.0 ..= 0.2.12,
# matched semver-compatibly, plus the edgechain:plugin imports).
HOST_WASI_MAX_PATCH = 12
HOST_WASI: dict[str, frozenset[str]] = {
    "cli": frozenset(
        {
            "environment", "exit", "stdin", "stdout", "stderr", "terminal-input",
            "terminal-output", "terminal-stdin", "terminal-stdout", "terminal-stderr",
        }
    ),
    "clocks": frozenset({"monotonic-clock", "wall-clock"}),
    "filesystem": frozenset({"types", "preopens"}),
    "io": frozenset({"error", "poll", "streams"}),
    "random": frozenset({"random", "insecure", "insecure-seed"}),
    "sockets": frozenset(
        {
            "network", "instance-network", "ip-name-lookup", "tcp", "tcp-create-socket",
            "udp", "udp-create-socket",
        }
    ),
}
EDGECHAIN_IMPORTS = frozenset({"types", "host", "kv", "http", "cache"})
#: The world this SDK builds against; the host links any 0.3.x up to it
#: (0.3.0 components, which lack `cache`, included).
EDGECHAIN_VERSION = "0.3.1"
FILTER_EXPORT = f"edgechain:plugin/filter@{EDGECHAIN_VERSION}"


def exports_filter(exports: list[str]) -> bool:
    """Whether ``exports`` hold the filter interface at a 0.3.x the host
    links (it matches 0.3 names semver-compatibly)."""
    prefix = "edgechain:plugin/filter@"
    return any(
        e.startswith(prefix) and disallowed_import("edgechain:plugin/host@" + e[len(prefix):]) is None
        for e in exports
    )

_NAME = re.compile(r"^(?P<ns>[a-z0-9-]+):(?P<pkg>[a-z0-9-]+)/(?P<iface>[a-z0-9-]+)(@(?P<ver>[0-9A-Za-z.+-]+))?$")


def disallowed_import(name: str) -> str | None:
    """Why the host cannot satisfy import ``name``, or ``None`` if it can."""
    m = _NAME.match(name)
    if not m:
        return "not an interface of a package (the host links only WASI and edgechain:plugin)"
    ns, pkg, iface, ver = m["ns"], m["pkg"], m["iface"], m["ver"] or ""
    if ns == "wasi":
        if pkg not in HOST_WASI:
            return f"the host does not provide wasi:{pkg} (it provides wasi:{', wasi:'.join(sorted(HOST_WASI))})"
        if iface not in HOST_WASI[pkg]:
            return f"the host does not provide wasi:{pkg}/{iface}"
        parts = ver.split(".")
        if len(parts) != 3 or parts[:2] != ["0", "2"] or not parts[2].isdigit():
            return f"the host provides WASI 0.2.x (preview 2), not `{ver or 'unversioned'}`"
        if int(parts[2]) > HOST_WASI_MAX_PATCH:
            return f"the host provides WASI up to 0.2.{HOST_WASI_MAX_PATCH}, not {ver}"
        return None
    if ns == "edgechain" and pkg == "plugin":
        if iface not in EDGECHAIN_IMPORTS:
            return f"edgechain:plugin/{iface} is not an import of the plugin world"
        major, minor, patch = EDGECHAIN_VERSION.split(".")
        parts = ver.split(".")
        if (len(parts) != 3 or parts[:2] != [major, minor] or not parts[2].isdigit()
                or int(parts[2]) > int(patch)):
            return (f"the host implements edgechain:plugin@{major}.{minor}.0 to "
                    f"@{EDGECHAIN_VERSION}, not @{ver or 'unversioned'}")
        return None
    return f"the host does not provide {ns}:{pkg} (wasi:http in particular is not linked)"
