from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest

from edgechain_sdk import ConfigError
from edgechain_sdk.config import parse


@dataclass
class Inner:
    max: int = 10


@dataclass
class Cfg:
    name: str
    ratio: float = 0.5
    tags: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    mode: Literal["enforce", "report"] = "enforce"
    inner: Inner = field(default_factory=Inner)
    note: Optional[str] = None


def test_valid_config_is_built():
    c = parse(Cfg, {"name": "x", "ratio": 1, "tags": ["a"], "inner": {"max": 3}, "note": None})
    assert c == Cfg(name="x", ratio=1.0, tags=["a"], inner=Inner(3))


@pytest.mark.parametrize(
    "value, message",
    [
        ({"name": "x", "nmae": 1}, "unknown field `nmae`"),
        ({}, "missing field `name`"),
        ({"name": 5}, "`name`: expected a string, got a number"),
        ({"name": "x", "tags": "a"}, "`tags`: expected an array, got a string"),
        ({"name": "x", "tags": [1]}, "`tags[0]`: expected a string"),
        ({"name": "x", "inner": {"max": "3"}}, "`inner.max`: expected an integer"),
        ({"name": "x", "inner": {"max": True}}, "`inner.max`: expected an integer, got a boolean"),
        ({"name": "x", "mode": "off"}, "expected one of 'enforce', 'report'"),
        ([], "expected an object, got an array"),
    ],
)
def test_invalid_configs_name_the_problem(value, message):
    with pytest.raises(ConfigError) as e:
        parse(Cfg, value)
    assert message in str(e.value)


def test_null_is_an_empty_object_and_none_type_passes_through():
    @dataclass
    class AllDefaults:
        a: int = 1

    assert parse(AllDefaults, None) == AllDefaults()
    assert parse(None, {"any": ["thing"]}) == {"any": ["thing"]}
