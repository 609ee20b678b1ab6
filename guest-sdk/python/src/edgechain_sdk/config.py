"""Typed configuration: the manifest's JSON ``config`` read into a dataclass.

Set ``Config = MyDataclass`` on the plugin class and ``__init__`` receives an
instance. Unknown keys are errors (like serde's ``deny_unknown_fields``), so
typos in a manifest reject the chain instead of being ignored; every field
is type-checked; fields without a default are required; a missing ``config``
(JSON ``null``) counts as ``{}``. Supported field types: ``str``, ``int``,
``float``, ``bool``, ``Any``, ``list[T]``, ``dict[str, T]``, ``Optional[T]``
(``T | None``), ``Literal[...]`` and nested dataclasses.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from .errors import ConfigError

_NoneType = type(None)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _where(path: str) -> str:
    return f"`{path}`: " if path else ""


def convert(tp: Any, value: Any, path: str = "") -> Any:
    """Check ``value`` (parsed JSON) against type ``tp``; return it converted
    (dataclasses built). Raises :class:`ConfigError`."""
    if tp is Any or tp is object:
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _dataclass(tp, value, path)
    origin = get_origin(tp)
    if origin is Union or (sys.version_info >= (3, 10) and origin is _union_type()):
        args = get_args(tp)
        if value is None and _NoneType in args:
            return None
        rest = [a for a in args if a is not _NoneType]
        errors = []
        for a in rest:
            try:
                return convert(a, value, path)
            except ConfigError as e:
                errors.append(str(e))
        if len(rest) == 1:
            raise ConfigError(errors[0])
        raise ConfigError(f"{_where(path)}{_kind(value)} matches none of the allowed types")
    if origin is Literal:
        allowed = get_args(tp)
        if any(value == a and type(value) is type(a) for a in allowed):
            return value
        raise ConfigError(
            f"{_where(path)}expected one of {', '.join(repr(a) for a in allowed)}, got {value!r}"
        )
    if origin in (list, typing.List, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{_where(path)}expected an array, got {_kind(value)}")
        (item,) = get_args(tp)[:1] or (Any,)
        return [convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, typing.Dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{_where(path)}expected an object, got {_kind(value)}")
        args = get_args(tp)
        vt = args[1] if len(args) == 2 else Any
        return {k: convert(vt, v, f"{path}.{k}" if path else k) for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{_where(path)}expected a boolean, got {_kind(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{_where(path)}expected an integer, got {_kind(value)}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{_where(path)}expected a number, got {_kind(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{_where(path)}expected a string, got {_kind(value)}")
    if tp is list:
        return convert(list[Any], value, path)
    if tp is dict:
        return convert(dict[str, Any], value, path)
    raise ConfigError(f"{_where(path)}unsupported config field type {tp!r}")


def _union_type() -> Any:
    return getattr(types, "UnionType", Union)


# Per dataclass: (type hints, init fields by name, JSON key -> field name).
# Resolving hints evaluates string annotations (~90 µs a class natively); the
# build primes this cache for the exported plugin's Config (see prime()), so
# it is in the snapshot and a fresh instance does not pay it per request.
_SHAPES: dict[type, tuple[dict[str, Any], dict[str, Any], dict[str, str]]] = {}


def _shape(cls: type) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    shape = _SHAPES.get(cls)
    if shape is None:
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        keys = {f.metadata.get("json", f.name): f.name for f in fields.values()}
        shape = _SHAPES[cls] = (hints, fields, keys)
    return shape


def prime(tp: Any) -> None:
    """Resolve and cache the shape of config type ``tp`` and of every
    dataclass it contains (called at build time)."""
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if tp in _SHAPES:
            return
        hints, _, _ = _shape(tp)
        for h in hints.values():
            prime(h)
    else:
        for arg in get_args(tp):
            prime(arg)


def _dataclass(cls: type, value: Any, path: str) -> Any:
    if value is None and not path:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(f"{_where(path)}expected an object, got {_kind(value)}")
    hints, fields, keys = _shape(cls)
    unknown = [k for k in value if k not in keys]
    if unknown:
        raise ConfigError(
            f"{_where(path)}unknown field `{unknown[0]}`, expected one of: "
            + ", ".join(f"`{k}`" for k in keys)
        )
    kwargs = {}
    for key, attr in keys.items():
        f = fields[attr]
        sub = f"{path}.{key}" if path else key
        if key in value:
            kwargs[attr] = convert(hints.get(attr, Any), value[key], sub)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{_where(path)}missing field `{key}`")
    return cls(**kwargs)


def parse(config_type: Any, value: Any) -> Any:
    """The config value ``__init__`` receives: ``value`` (parsed JSON) as is
    when ``config_type`` is ``None``, else converted and checked."""
    if config_type is None:
        return value
    return convert(config_type, value)
