"""Glue between the component's ``filter`` export and a :class:`Plugin`.

One component instance holds at most one plugin object, built lazily from the
host's ``config()`` the first time a hook runs (or by ``init``). componentize-py
creates the exported ``Filter`` object at build time, several times, so no
state lives on it: everything is in this module's globals, which the build
snapshot captures in their pre-request state (no plugin object yet).
"""

from __future__ import annotations

import gc
import json
import os
import random
import sys

# The standard library imports `warnings` lazily in many places (hmac among
# them); a component cannot import anything after the build snapshot, so have
# it in every snapshot.
import warnings  # noqa: F401
from typing import Any, Optional

from . import _sys
from .config import parse as _parse_config
from .config import prime as _prime_config
from .errors import ConfigError
from .message import Request, Response, _body, decide
from .plugin import Needs, Plugin

_exported: Optional[type] = None
_plugin: Optional[Plugin] = None
# True in the snapshot, so in every new instance until its first hook call.
_fresh_instance = True
# First output of `random` seeded with _SNAPSHOT_SEED (see finish_build).
_SNAPSHOT_SEED = 0x6564676563
_snapshot_probe: Optional[int] = None


def export_plugin(cls: type) -> type:
    """Make ``cls`` (a :class:`Plugin` subclass) this component's plugin.
    Call it once, at the top level of your plugin module (it also works as a
    class decorator)."""
    global _exported
    if not (isinstance(cls, type) and issubclass(cls, Plugin)):
        raise TypeError("export_plugin() takes a subclass of edgechain_sdk.Plugin")
    # Under CPython a test session may import several plugin modules; in the
    # build, a second export is a mistake.
    if _sys.BUILDING and _exported is not None and _exported is not cls:
        raise RuntimeError(
            f"export_plugin() called twice ({_exported.__name__}, then {cls.__name__}):"
            " a component exports one plugin"
        )
    _exported = cls
    return cls


def exported() -> Optional[type]:
    """The exported plugin class, if any."""
    return _exported


def build(cls: type, config_text: str) -> Plugin:
    """Parse ``config_text`` as ``init`` does and build the plugin. Any
    failure becomes a :class:`ConfigError` carrying the operator's message."""
    try:
        value = json.loads(config_text)
    except ValueError as e:
        raise ConfigError(f"invalid config: not JSON: {e}") from None
    try:
        config = _parse_config(getattr(cls, "Config", None), value)
    except ConfigError as e:
        raise ConfigError(f"invalid config: {e}") from None
    try:
        plugin = cls(config)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - every failure rejects the chain
        raise ConfigError(f"{type(e).__name__}: {e}") from None
    return plugin


def _first_call() -> None:
    """Once per instance: make sure ``random`` does not replay the snapshot's
    sequence. componentize-py 0.25 reseeds it itself before the first export
    call; if it did not (another version, or --stub-wasi), reseed from WASI
    random here."""
    global _fresh_instance
    _fresh_instance = False
    if _snapshot_probe is not None and random.getrandbits(64) == _snapshot_probe:
        random.seed(os.urandom(32))


def plugin() -> Plugin:
    """This instance's plugin object, built on first use."""
    global _plugin
    if _fresh_instance:
        _first_call()
    p = _plugin
    if p is None:
        if _exported is None:
            raise RuntimeError("no plugin exported: call export_plugin(YourPlugin)")
        # `init` accepted this config when the chain loaded, so failing now
        # means the host broke its contract: raise (trap) so its failure
        # policy handles it.
        p = build(_exported, _sys.host().config())
        _plugin = p
    return p


def _report(exc: BaseException) -> None:
    """Explain failures that have a known cause, then let them trap."""
    if isinstance(exc, ImportError) and _sys.IN_WASM:
        name = getattr(exc, "name", None) or "?"
        try:
            _sys.host().log(
                4,
                f"import of `{name}` failed at request time: a Python component can only"
                " use modules imported while it was built (componentize-py snapshots them;"
                f" there is no filesystem at run time). Add `import {name}` at the top of"
                " the plugin module and rebuild.",
            )
        except Exception:  # noqa: BLE001
            pass


# -- the export (wasm only) ---------------------------------------------------

if _sys.IN_WASM:  # pragma: no cover - exercised in the component only
    from componentize_py_types import Err as _Err
    from wit_world import exports as _exports
    from wit_world.imports import types as _types

    _FilterBase: Any = _exports.Filter
else:
    _FilterBase = object


class Filter(_FilterBase):  # type: ignore[misc, valid-type]
    """The ``edgechain:plugin/filter`` export componentize-py calls."""

    def init(self, config: str) -> Any:
        global _plugin, _fresh_instance
        if _fresh_instance:
            _first_call()
        try:
            p = build(_exported, config)  # type: ignore[arg-type]
            needs = Needs(int(p.needs()))
        except ConfigError as e:
            raise _Err(str(e)) from None
        except Exception as e:  # noqa: BLE001
            raise _Err(f"{type(e).__name__}: {e}") from None
        _plugin = p
        # The host may snapshot this instance right after `init` and start
        # every later instance from that snapshot (pre-initialisation). Leave
        # `random` as the build snapshot had it, so each of those instances
        # still reseeds from WASI random on its first hook call instead of
        # replaying one stream (componentize-py reseeds only once per
        # instance, and that happened before `init`).
        random.seed(_SNAPSHOT_SEED)
        _fresh_instance = True
        return _types.Needs(int(needs))

    def on_request(self, raw: Any) -> Any:
        try:
            req = Request._from_raw(raw)
            answer = decide(plugin().on_request(req))
            if answer is None:
                return _types.RequestAction_Next(req._to_raw())
            return _types.RequestAction_Respond(
                _types.Response(answer.status, answer.headers.to_packed(), _body(answer.body))
            )
        except BaseException as e:
            _report(e)
            raise

    def on_response(self, raw_req: Any, raw_resp: Any) -> Any:
        try:
            req = Request._from_raw(raw_req)
            resp = Response._from_raw(raw_resp)
            out = plugin().on_response(req, resp)
            if out is not None:
                resp = out
            raw_resp.status = resp.status
            raw_resp.headers = resp.headers.to_packed()
            raw_resp.body = _body(resp.body)
            return raw_resp
        except BaseException as e:
            _report(e)
            raise


# -- the build snapshot -------------------------------------------------------


def begin_build() -> None:
    """Called by the generated entry module before it imports the plugin."""
    _sys.BUILDING = True


def finish_build(module_name: str, gc_freeze: bool = True) -> type:
    """Called by the generated entry module after importing the plugin:
    checks that a plugin was exported, leaves the snapshot in a clean state
    and returns the ``Filter`` class componentize-py exports."""
    global _snapshot_probe
    if _exported is None:
        _sys.BUILDING = False
        raise RuntimeError(
            f"edgechain_sdk: module `{module_name}` exported no plugin: call"
            " `export_plugin(YourPlugin)` (or decorate the class with @export_plugin)"
            " at its top level"
        )
    try:
        _prime_config(getattr(_exported, "Config", None))
        _exported.warmup()
    finally:
        _sys.BUILDING = False
    # A fixed state for the snapshot (one source of build-to-build
    # differences fewer); every instance reseeds before first use.
    random.seed(_SNAPSHOT_SEED)
    _snapshot_probe = random.getrandbits(64)
    random.seed(_SNAPSHOT_SEED)
    # Nothing can be imported after the snapshot (no filesystem), so the path
    # finders, with the build's directory mtimes in them, are dead weight.
    sys.path_importer_cache.clear()
    if gc_freeze:
        # Move everything the snapshot holds into the permanent generation:
        # the collector then never walks (and so never pages in) the
        # interpreter's and the plugin's build-time objects during a request.
        gc.collect()
        gc.freeze()
    return Filter

