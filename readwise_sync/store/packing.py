"""How the state packs what it keeps: JSON, compressed with zstd (level 1).

A large first sync packs every book twice (its data and its layout), so packing
is made ahead of the write that stores it (:class:`Packed`), in the thread that
decides. Databases from earlier versions hold zlib; those blobs still read.
"""

from __future__ import annotations

import json
import threading
import zlib
from typing import Any


class Packed(bytes):
    """JSON as the state stores it (compressed), made ahead of the write that stores it."""


_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # every zstd frame starts so; a zlib stream never does
_codecs = threading.local()  # zstd contexts are reused (cheaper) but not shared by threads


def _zstd() -> tuple[Any, Any]:
    codecs = getattr(_codecs, "zstd", None)
    if codecs is None:
        import zstandard

        # Level 1: a large first sync packs every book twice (data and layout); zstd at
        # level 1 does it in less than half zlib's level-1 time, and smaller.
        codecs = _codecs.zstd = (zstandard.ZstdCompressor(level=1), zstandard.ZstdDecompressor())
    return codecs


def pack(data: Any) -> Packed:
    """Compress JSON-able data, or JSON text given as bytes, for the state."""
    raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    return Packed(_zstd()[0].compress(raw))


def unpack_json(blob: bytes) -> bytes:
    """The JSON text :func:`pack` packed. Earlier versions packed with zlib; those blobs
    still read."""
    if blob[:4] == _ZSTD_MAGIC:
        return bytes(_zstd()[1].decompress(blob))
    return zlib.decompress(blob)


def unpack(blob: bytes | None) -> Any:
    """The data :func:`pack` packed."""
    return None if blob is None else json.loads(unpack_json(blob))


def pack_once(data: Any) -> Packed:
    """``data`` packed, unless it is already."""
    return data if isinstance(data, Packed) else pack(data)
