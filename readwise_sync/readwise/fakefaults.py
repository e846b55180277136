"""Hostile answers for the fake Readwise server (:mod:`readwise_sync.readwise.fakeapi`).

Bodies that test a client's bounds rather than its parsing: one that never ends, one that
arrives a byte at a time, one far larger than any export page, a gzip bomb (a few MB that
decompress to gigabytes), and pages whose ``nextPageCursor`` changes forever. Each body is a
generator of chunks, so the server never holds more than a chunk of it.

Stdlib only and, like the fake, independent of the client it is used to test.
"""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Iterator
from typing import Any

PAGE_HEAD = b'{"count": 0, "nextPageCursor": null, "results": ['
PAGE_TAIL = b"]}"
_MIB = 1 << 20
# Where the made-up ids of an endless listing start: far from any real or demo id.
ENDLESS_IDS = 9 * 10**11


def endless(chunk: bytes) -> Iterator[bytes]:
    """The start of an export page, then ``chunk`` (JSON whitespace, say) for ever."""
    yield PAGE_HEAD
    while True:
        yield chunk


def padded(size: int) -> Iterator[bytes]:
    """A valid, empty export page of about ``size`` bytes: whitespace inside the list."""
    yield PAGE_HEAD
    left = max(0, size - len(PAGE_HEAD) - len(PAGE_TAIL))
    block = b" " * _MIB
    while left > 0:
        yield block[: min(left, _MIB)]
        left -= _MIB
    yield PAGE_TAIL


def dripped(body: bytes, size: int = 1) -> Iterator[bytes]:
    """``body`` cut into pieces of ``size`` bytes (sent with a pause between them)."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


@functools.lru_cache(maxsize=1)
def _gzipped_spaces() -> bytes:
    # One gzip member of a MiB of spaces: about 1 KB. Repeated members are still one valid
    # gzip stream (RFC 1952 allows concatenated members), so a bomb costs no compression time.
    return gzip.compress(b" " * _MIB, compresslevel=9, mtime=0)


def gzip_bomb(size: int) -> Iterator[bytes]:
    """A gzip stream that decompresses to a valid, empty export page of about ``size`` bytes."""
    yield gzip.compress(PAGE_HEAD, mtime=0)
    members = max(0, size // _MIB)
    batch = _gzipped_spaces() * 64  # written about 64 KB at a time
    for _ in range(members // 64):
        yield batch
    yield _gzipped_spaces() * (members % 64)
    yield gzip.compress(PAGE_TAIL, mtime=0)


def made_up_books(serial: int, count: int) -> list[dict[str, Any]]:
    """``count`` books never seen before, one highlight each, for the ``serial``-th page."""
    first = ENDLESS_IDS - serial * count
    return [
        {
            "user_book_id": first - i,
            "title": f"Endless {first - i}",
            "category": "articles",
            "highlights": [
                {"id": first - i, "text": f"Made up {first - i}.", "location": 1},
            ],
        }
        for i in range(count)
    ]


def with_cursor(body: bytes, cursor: int, count: int | None) -> bytes:
    """An export page's JSON with its ``nextPageCursor`` (and ``count``, if given) replaced."""
    page = json.loads(body)
    page["nextPageCursor"] = cursor
    if count is not None:
        page["count"] = count
    return json.dumps(page).encode()
