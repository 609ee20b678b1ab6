import pytest

from edgechain_sdk import NEXT, Headers, Request, Respond, Response, _wire
from edgechain_sdk.message import decide


def test_lookups_ignore_case_and_set_replaces_all():
    h = Headers()
    h.append("X-A", "1")
    h.append("x-a", "2")
    assert h.get_all("x-A") == ["1", "2"]
    assert h.get("X-a") == "1"
    h.set("X-A", "3")
    assert h.get_all("x-a") == ["3"]
    assert list(h)[0][0] == "x-a", "names are stored lower-case"
    assert h.remove("x-a") == 1
    assert not h and len(h) == 0


def test_non_utf8_values_are_kept_as_bytes():
    h = Headers()
    h.append("x-bin", b"\xff\x00")
    assert h.get_bytes("x-bin") == b"\xff\x00"
    assert h.get("x-bin") is None
    with pytest.raises(TypeError):
        h.set("x-n", 5)  # type: ignore[arg-type]


def test_packed_headers_are_read_in_place_and_returned_untouched():
    block = _wire.encode([(b"accept", b"*/*"), (b"x-a", b"1")])
    h = Headers.from_packed(block)
    assert h.get("Accept") == "*/*"
    assert len(h) == 2 and "X-A" in h and "x-b" not in h
    assert h.remove("absent") == 0
    h.setdefault("accept", "text/html")
    assert h.to_packed() is block, "reads and no-op edits hand back the same object"
    assert not h.changed
    h.set("x-a", "2")
    assert h.changed
    assert h.to_packed() == _wire.encode([(b"accept", b"*/*"), (b"x-a", b"2")])
    assert Headers.from_packed(h.to_packed()) == Headers({"Accept": "*/*", "x-a": "2"})


def test_dict_style_access():
    h = Headers([("a", "1")])
    h["B"] = "2"
    assert h["b"] == "2"
    del h["a"]
    with pytest.raises(KeyError):
        h["a"]
    assert h.items() == [("b", "2")]


def test_path_and_query_split():
    r = Request.get("/a/b?x=1&y=hello+w%6Frld&z", authority="example.com")
    assert r.path == "/a/b"
    assert r.query == "x=1&y=hello+w%6Frld&z"
    assert r.query_param("y") == "hello world"
    assert r.query_param("z") == ""
    assert r.query_param("missing") is None
    assert r.query_params() == [("x", "1"), ("y", "hello world"), ("z", "")]
    assert Request.get("/p").query is None


def test_set_path_keeps_query():
    r = Request.get("/old?q=1")
    r.set_path("/new")
    assert r.path_with_query == "/new?q=1"


def test_path_is_normalised_and_follows_rewrites():
    r = Request.get("/x/../%61dmin//panel?next=/../")
    assert r.path == "/admin/panel"
    assert r.raw_path == "/x/../%61dmin//panel"
    r.set_path("/%62")
    assert r.path == "/b"
    assert r.path_with_query == "/%62?next=/../"


def test_bodies():
    r = Request.post("/", body='{"a": 1}')
    assert r.body == b'{"a": 1}'
    assert r.body_json() == {"a": 1}
    assert r.body_text() == '{"a": 1}'
    r.set_json({"b": [1]})
    assert r.body == b'{"b":[1]}' and r.header("content-type") == "application/json"
    assert Request.get("/").body_json() is None


def test_response_builders():
    t = Response.text(403, "no\n")
    assert (t.status, t.header("content-type"), t.body) == (403, "text/plain; charset=utf-8", b"no\n")
    j = Response.json(200, {"ok": True})
    assert j.body_json() == {"ok": True}
    r = Response.redirect(308, "/new").with_header("x-a", "1")
    assert r.header("location") == "/new" and r.header("x-a") == "1" and r.body is None


def test_decisions():
    resp = Response(204)
    assert decide(None) is None and decide(NEXT) is None
    assert decide(resp) is resp and decide(Respond(resp)) is resp
    with pytest.raises(TypeError):
        decide(True)


def test_the_raw_record_is_updated_in_place():
    class Raw:
        method = "GET"
        path_with_query = "/a?b"
        normalized_path = "/a"
        authority = "h"
        headers = _wire.encode([(b"x", b"1")])
        body = None

    raw = Raw()
    block = raw.headers
    r = Request._from_raw(raw)
    assert r.path == "/a" and r.header("x") == "1"
    out = r._to_raw()
    assert out is raw and out.headers is block
    r.set_path("/%63")
    r.set_header("y", "2")
    r._to_raw()
    assert raw.path_with_query == "/%63?b" and raw.normalized_path == "/c"
    assert raw.headers == _wire.encode([(b"x", b"1"), (b"y", b"2")])


# That the SDK's host-owned headers are the host's list is checked against
# wire/vectors.json in test_wire_vectors.py.
