"""``wire/vectors.json``, the wire rules' verdicts shared with the host and the
Rust and JavaScript suites: this SDK must give every one, so a rule changed in
one place fails here until ``_path.py`` and ``testing.py`` follow."""

import json
import re
from pathlib import Path

import pytest

from edgechain_sdk import _path, _wire
from edgechain_sdk.headers import MANAGED_HEADERS, is_managed_header
from edgechain_sdk.message import Request, Response
from edgechain_sdk.testing import InvalidDecision, check_headers, check_request, check_response

VECTORS = json.loads(
    (Path(__file__).resolve().parents[3] / "wire" / "vectors.json").read_text("utf-8")
)


def entries(section, name):
    found = VECTORS[section][name]
    assert isinstance(found, list) and found, f"vectors.json has {section}.{name}"
    return found


@pytest.mark.parametrize("v", entries("path", "normalize"), ids=lambda v: repr(v["path"]))
def test_paths_normalise_as_the_vectors_say(v):
    if "error" in v:
        with pytest.raises(_path.PathError) as e:
            _path.normalize(v["path"])
        assert str(e.value) == VECTORS["path_errors"][v["error"]]
    else:
        assert _path.normalize(v["path"]) == v["normalized"]


def test_escaped_slashes_and_the_path_of_a_target_are_the_vectors():
    for v in entries("path", "escaped_slash"):
        assert _path.has_escaped_slash(v["target"]) is v["has"], v
    for v in entries("path", "path_of"):
        assert _path.path_of(v["target"]) == v["path"], v


def test_the_host_owned_headers_are_the_vectors_list():
    assert sorted(MANAGED_HEADERS) == sorted(entries("managed", "managed"))
    for name in entries("managed", "managed"):
        assert is_managed_header(name.upper()), name
    for name in entries("managed", "not_managed"):
        assert not is_managed_header(name), name


_KINDS = [
    (r"invalid method ", "method"),
    (r"method `.*` is never forwarded$", "not-forwarded"),
    (r"invalid authority ", "authority"),
    (r"invalid header name ", "header-name"),
    (r"invalid value for header `", "header-value"),
    (r"header `.*` is managed by the host", "managed"),
    (r"status .* is outside 200\.\.=599$", "status"),
]


def verdict(check, target=""):
    """The verdict (as vectors.json spells it) of ``check``, read from its
    :class:`InvalidDecision`."""
    try:
        check()
        return "ok"
    except InvalidDecision as e:
        m = str(e)
    prefix = f"invalid path {target!r}: "
    if m.startswith(prefix):
        why = m[len(prefix):]
        if why.startswith("an encoded `/` (%2F) is refused"):
            return "path:encoded-slash"
        for code, text in VECTORS["path_errors"].items():
            if why == text:
                return f"path:{code}"
        if why.startswith(("must be origin-form", "characters that must be percent-encoded")):
            return "target"
    for pattern, kind in _KINDS:
        if re.match(pattern, m, re.S):
            return kind
    return f"unclassified: {m}"


def request(**part):
    r = Request.get("/")
    r.authority = "h"
    for k, v in part.items():
        setattr(r, k, v)
    return r


DECISIONS = [
    (part, v) for part in ["method", "target", "authority", "field", "status"]
    for v in entries("decision", part)
]


@pytest.mark.parametrize("part,v", DECISIONS, ids=lambda x: x if isinstance(x, str) else json.dumps(x))
def test_decisions_get_the_vectors_verdicts(part, v):
    if part == "method":
        got = verdict(lambda: check_request(request(method=v["method"])))
    elif part == "target":
        got = verdict(lambda: check_request(request(path_with_query=v["target"])), v["target"])
    elif part == "authority":
        got = verdict(lambda: check_request(request(authority=v["authority"])))
    elif part == "field":
        block = _wire.encode([(v["name"].encode(), v["value"].encode())])
        got = verdict(lambda: check_headers(block))
    else:
        got = verdict(lambda: check_response(Response(v["status"])))
    assert got == v["verdict"]


def test_scopes_decide_as_the_vectors_say():
    from edgechain_sdk.scope import Scope, ScopeError

    checked = 0
    for case in VECTORS["scope"]["matches"]:
        scope = Scope(case["rule"])
        for r in case["requests"]:
            req = Request(r["method"], r["target"], authority=r["authority"])
            for name, value in r["headers"]:
                req.headers.append(name, value)
            assert scope.reaches(req) is r["runs"], (case["rule"], r)
            checked += 1
    assert checked > 50
    for case in entries("scope", "refused"):
        with pytest.raises(ScopeError) as e:
            Scope(case["rule"])
        assert e.value.at == case["at"], (case["rule"], str(e.value))


def _code(refusal):
    return "ok" if refusal is None else refusal[0]


def test_cache_calls_get_the_vectors_verdicts():
    from edgechain_sdk import cache
    for v in entries("cache", "phase"):
        assert _code(cache.check_phase(v["call"], v["phase"])) == v["verdict"], v
    for v in entries("cache", "key_part"):
        assert _code(cache.check_key_part(v["part"])) == v["verdict"], v
    for v in entries("cache", "ttl"):
        assert _code(cache.check_ttl(v["seconds"])) == v["verdict"], v
    for v in entries("cache", "surrogate_key"):
        assert _code(cache.check_surrogate_key(v["key"])) == v["verdict"], v
    assert cache.LIMITS == VECTORS["cache"]["limits"]
