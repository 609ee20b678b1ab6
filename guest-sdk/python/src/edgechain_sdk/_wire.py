"""The packed header block of the WIT ``headers`` type (see ``wire/src/lib.rs``).

Each field is: name length (u32, little-endian), name bytes, value length
(u32, little-endian), value bytes. Lengths, not delimiters, so no value can
smuggle in another field.
"""

from __future__ import annotations

import struct
from typing import Iterable

_U32 = struct.Struct("<I")
_unpack_from = _U32.unpack_from
_pack = _U32.pack


class MalformedBlock(ValueError):
    """A header block whose lengths run past its end."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"malformed header block at byte {offset}")
        self.offset = offset


def encode(fields: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Encode ``(name, value)`` byte pairs as one block."""
    parts: list[bytes] = []
    for name, value in fields:
        parts.append(_pack(len(name)))
        parts.append(name)
        parts.append(_pack(len(value)))
        parts.append(value)
    return b"".join(parts)


def decode(block: bytes) -> list[tuple[bytes, bytes]]:
    """The fields of ``block`` in order; raises :class:`MalformedBlock`."""
    out: list[tuple[bytes, bytes]] = []
    n = len(block)
    i = 0
    while i < n:
        start = i
        if i + 4 > n:
            raise MalformedBlock(start)
        (ln,) = _unpack_from(block, i)
        i += 4
        name = block[i : i + ln]
        i += ln
        if i + 4 > n:
            raise MalformedBlock(start)
        (lv,) = _unpack_from(block, i)
        i += 4
        value = block[i : i + lv]
        i += lv
        if i > n:
            raise MalformedBlock(start)
        out.append((name, value))
    return out
