import pytest

from edgechain_sdk import _path, _wire


def test_fields_round_trip_in_order_with_any_bytes():
    fields = [(b"x-a", b"1"), (b"x-a", b""), (b"x-bin", b"\n\0\xff")]
    block = _wire.encode(fields)
    assert _wire.decode(block) == fields
    assert _wire.decode(b"") == []


def test_encoding_matches_the_rust_layout():
    assert _wire.encode([(b"ab", b"xyz")]) == b"\x02\x00\x00\x00ab\x03\x00\x00\x00xyz"


def test_truncated_blocks_are_malformed():
    block = _wire.encode([(b"name", b"value")])
    for cut in range(1, len(block)):
        with pytest.raises(_wire.MalformedBlock) as e:
            _wire.decode(block[:cut])
        assert e.value.offset == 0
    with pytest.raises(_wire.MalformedBlock) as e:
        _wire.decode(block + bytes([200, 0, 0, 0]))
    assert e.value.offset == len(block)


@pytest.mark.parametrize(
    "spelling",
    ["/admin", "/%61dmin", "/%61%64%6D%69%6E", "//admin", "///admin", "/x/../admin",
     "/./admin", "/x/%2e%2e/admin", "/x/%2E./admin", "/x//../admin"],
)
def test_every_spelling_of_admin_is_admin(spelling):
    assert _path.normalize(spelling) == "/admin"


def test_reserved_encodings_stay_encoded_and_upper_case():
    assert _path.normalize("/a%2fb") == "/a%2Fb"
    assert _path.normalize("/a%3fb%25") == "/a%3Fb%25"
    assert _path.normalize("/caf%c3%a9") == "/caf%C3%A9"
    assert _path.normalize("/café") == "/caf%C3%A9"
    assert _path.normalize("/a b") == "/a%20b"


def test_trailing_slashes_and_dots():
    cases = {"/": "/", "/a/": "/a/", "/a/.": "/a/", "/a/b/..": "/a/", "/a/..": "/",
             "/a//": "/a/", "/.well-known/x": "/.well-known/x", "/a..b/...": "/a..b/..."}
    for raw, want in cases.items():
        assert _path.normalize(raw) == want, raw


@pytest.mark.parametrize(
    "bad", ["/..", "/a/../../b", "/%2e%2e/etc", "/a%00b", "/a%zz", "/a%4", "/a\\b",
            "/a%5cb", "admin", ""],
)
def test_ambiguous_paths_are_refused(bad):
    with pytest.raises(_path.PathError):
        _path.normalize(bad)


def test_query_is_not_part_of_the_path():
    assert _path.path_of("/a?b=/../c") == "/a"
    assert _path.path_of("/a") == "/a"


def test_bad_escapes_are_kept():
    assert _path.percent_decode("100%") == "100%"
    assert _path.percent_decode("%zz%4") == "%zz%4"
    assert _path.percent_decode("%41") == "A"
    assert _path.percent_decode("a+b") == "a b"


@pytest.mark.parametrize(
    "target,has",
    [
        ("/%2Fadmin/x", True),
        ("/%2fadmin/x", True),
        ("/x/..%2Fadmin", True),
        ("/x/%2e%2e%2fadmin", True),
        ("/a%2F", True),
        ("/%252Fadmin", False),
        ("/a%2", False),
        ("/a%", False),
        ("/a?next=%2Fadmin", False),
        ("/a%2Fb?next=%2F", True),
        ("/caf%C3%A9", False),
    ],
)
def test_escaped_slashes_are_found_in_the_path_only(target, has):
    assert _path.has_escaped_slash(target) is has
