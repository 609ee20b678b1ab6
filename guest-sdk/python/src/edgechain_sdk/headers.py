"""Case-insensitive HTTP header lists over the host's packed header block."""

from __future__ import annotations

from typing import Iterable, Iterator, Mapping, Union

from . import _wire

#: Header names the host owns: the hop-by-hop fields, ``host``,
#: ``content-length`` and ``expect``. A plugin never sees them and setting one
#: fails the link. The host's list (``edgechain-wire``'s ``managed`` module).
MANAGED_HEADERS = frozenset(
    {
        "connection", "keep-alive", "proxy-connection", "te", "trailer",
        "transfer-encoding", "upgrade", "proxy-authenticate", "proxy-authorization",
        "host", "content-length", "expect",
    }
)


def is_managed_header(name: str) -> bool:
    """Whether the host owns header ``name`` (any case): refuse it in a config."""
    return name.lower() in MANAGED_HEADERS


#: What a header value may be given as: text (encoded as UTF-8) or raw bytes.
HeaderValue = Union[str, bytes]
#: What a header list may be built from.
HeadersLike = Union[
    "Headers", Mapping[str, HeaderValue], Iterable[tuple[str, HeaderValue]], None
]


def _b(value: HeaderValue) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(
        f"a header value must be str or bytes, not {type(value).__name__}"
        " (convert numbers with str())"
    )


def _n(name: str) -> bytes:
    if not isinstance(name, str):
        raise TypeError(f"a header name must be str, not {type(name).__name__}")
    return name.lower().encode("ascii", "replace")


class Headers:
    """HTTP header fields in order; names are stored lower-case and may repeat.

    Lookups ignore case. Values are bytes (HTTP allows non-UTF-8 octets); the
    ``str`` helpers (:meth:`get`, :meth:`get_all`) decode UTF-8 and skip values
    that are not valid UTF-8, like the Rust SDK's ``get_str``.

    Headers arrive from the host packed in one buffer. Reading parses it once;
    a list that is never changed hands the *same* ``bytes`` object back, so the
    host sees with one ``memcmp`` that nothing changed. So only touch headers
    you mean to change: a ``set`` of an identical value still counts as a change.
    """

    __slots__ = ("_packed", "_fields")

    def __init__(self, fields: HeadersLike = None) -> None:
        self._packed: bytes | None = None
        self._fields: list[tuple[bytes, bytes]] | None = []
        if fields is None:
            return
        if isinstance(fields, Headers):
            self._fields = list(fields._parsed())
            return
        items = fields.items() if isinstance(fields, Mapping) else fields
        self._fields = [(_n(n), _b(v)) for n, v in items]

    @classmethod
    def from_packed(cls, block: bytes) -> "Headers":
        """A list backed by a packed block (as the host sends it)."""
        h = cls.__new__(cls)
        h._packed = block
        h._fields = None
        return h

    def to_packed(self) -> bytes:
        """The packed block: the very object received if nothing changed."""
        if self._packed is not None:
            return self._packed
        return _wire.encode(self._fields or ())

    @property
    def changed(self) -> bool:
        """Whether the list differs from (or was not) a block from the host."""
        return self._packed is None

    # -- reading ---------------------------------------------------------

    def _parsed(self) -> list[tuple[bytes, bytes]]:
        f = self._fields
        if f is None:
            try:
                f = _wire.decode(self._packed or b"")
            except _wire.MalformedBlock:
                f = []
            self._fields = f
        return f

    def get_bytes(self, name: str) -> bytes | None:
        """The first value of ``name`` as bytes, or ``None``."""
        key = _n(name)
        for n, v in self._parsed():
            if n == key:
                return v
        return None

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name`` that is valid UTF-8, else ``default``."""
        key = _n(name)
        for n, v in self._parsed():
            if n == key:
                try:
                    return v.decode("utf-8")
                except UnicodeDecodeError:
                    return default
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` (valid UTF-8 ones), in order."""
        key = _n(name)
        out = []
        for n, v in self._parsed():
            if n == key:
                try:
                    out.append(v.decode("utf-8"))
                except UnicodeDecodeError:
                    pass
        return out

    def get_all_bytes(self, name: str) -> list[bytes]:
        """Every value of ``name`` as bytes, in order."""
        key = _n(name)
        return [v for n, v in self._parsed() if n == key]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = _n(name)
        return any(n == key for n, _ in self._parsed())

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        """``(name, value)`` pairs in order; names are ``str``, values ``bytes``."""
        for n, v in self._parsed():
            yield n.decode("ascii", "replace"), v

    def items(self) -> list[tuple[str, str]]:
        """``(name, value)`` pairs with values decoded (invalid UTF-8 replaced)."""
        return [
            (n.decode("ascii", "replace"), v.decode("utf-8", "replace"))
            for n, v in self._parsed()
        ]

    def names(self) -> list[str]:
        """Distinct names, in order of first appearance."""
        seen: dict[str, None] = {}
        for n, _ in self._parsed():
            seen.setdefault(n.decode("ascii", "replace"), None)
        return list(seen)

    def __len__(self) -> int:
        return len(self._parsed())

    def __bool__(self) -> bool:
        if self._packed is not None:
            return len(self._packed) > 0
        return bool(self._fields)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._parsed() == other._parsed()
        return NotImplemented

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"

    # -- writing ---------------------------------------------------------

    def _edit(self) -> list[tuple[bytes, bytes]]:
        f = self._parsed()
        self._packed = None
        return f

    def set(self, name: str, value: HeaderValue) -> None:
        """Replace every value of ``name`` with ``value``."""
        key, val = _n(name), _b(value)
        f = self._edit()
        f[:] = [(n, v) for n, v in f if n != key]
        f.append((key, val))

    def append(self, name: str, value: HeaderValue) -> None:
        """Add a value for ``name``, keeping existing ones."""
        self._edit().append((_n(name), _b(value)))

    def setdefault(self, name: str, value: HeaderValue) -> None:
        """Set ``name`` only if it is absent (no change otherwise)."""
        if name not in self:
            self.append(name, value)

    def remove(self, name: str) -> int:
        """Remove every value of ``name``; returns how many were removed.
        Removing an absent header is not a change."""
        if name not in self:
            return 0
        key = _n(name)
        f = self._edit()
        before = len(f)
        f[:] = [(n, v) for n, v in f if n != key]
        return before - len(f)

    def __setitem__(self, name: str, value: HeaderValue) -> None:
        self.set(name, value)

    def __getitem__(self, name: str) -> str:
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def __delitem__(self, name: str) -> None:
        if not self.remove(name):
            raise KeyError(name)

    def copy(self) -> "Headers":
        """An independent copy (packed blocks are shared, being immutable)."""
        h = Headers.__new__(Headers)
        h._packed = self._packed
        h._fields = None if self._fields is None else list(self._fields)
        return h
