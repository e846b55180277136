"""Fault injection for the fake Readwise: what a test tells the next answers to do wrong.

Owns: the queue of faults, each for a number of requests under a path prefix (the first
queued that matches is played), and the helpers that queue them: error statuses, 429
throttling with any ``Retry-After``, redirects, malformed bodies, dropped connections,
delays, and the hostile bodies of :mod:`.fakefaults` (endless, trickled, huge, gzip bombs,
cursors that change for ever). :mod:`.fakehttp` plays them.

Stdlib only and, like the rest of the fake, independent of the client it is used to test.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from readwise_sync.readwise import fakefaults
from readwise_sync.readwise.fakeanswers import EXPORT_PATH, throttle_message


@dataclass
class Fault:
    """One queued fault, played for the next ``times`` requests under ``path_prefix``."""

    # "respond" (fail/throttle/garbage/redirect), "drop", "delay", "stream" (a body of
    # ``chunks``), "trickle" (the true answer, dripped) or "cursor" (a cursor that never ends)
    kind: str
    times: int
    path_prefix: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    content_type: str = "application/json"
    seconds: float = 0.0  # a delay's length, or the pause between a stream's chunks
    mid_body: bool = False
    chunks: Callable[[], Iterator[bytes]] | None = None
    fresh: bool = False  # "cursor": made-up books on every page, not the same ones again
    count: int | None = None  # "cursor": the ``count`` every page claims


class FaultInjection:
    """The faults queued for a server's next answers, and the helpers that queue them."""

    def __init__(self) -> None:
        self._faults_lock = threading.Lock()
        self._faults: list[Fault] = []

    def _queue(self, fault: Fault) -> None:
        if fault.times > 0:
            with self._faults_lock:
                self._faults.append(fault)

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | str | None = None,
        path_prefix: str = EXPORT_PATH,
    ) -> None:
        if body is None:
            body = {"detail": HTTPStatus(status).phrase}
        # A str body stands in for the HTML error pages a CDN serves in front of the API.
        is_text = isinstance(body, str)
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        ctype = "text/html; charset=utf-8" if is_text else "application/json"
        self._queue(Fault("respond", times, path_prefix, status, dict(headers or {}), raw, ctype))

    def throttle(
        self,
        retry_after: int | float | str | None,
        *,
        times: int = 1,
        path_prefix: str = EXPORT_PATH,
    ) -> None:
        """A 429; ``retry_after`` goes into the header as given (``10**9``, ``"inf"``, ...)."""
        # Lowercase on purpose: real 429s arrive over HTTP/2 with a lowercase header name.
        headers = {} if retry_after is None else {"retry-after": str(retry_after)}
        wait = retry_after if isinstance(retry_after, int) or retry_after is None else None
        body = {"detail": throttle_message(wait)}
        self.fail(429, times=times, headers=headers, body=body, path_prefix=path_prefix)

    def redirect(
        self, location: str, *, status: int = 302, times: int = 1, path_prefix: str = EXPORT_PATH
    ) -> None:
        """Answer with a redirect to ``location`` (as a server at a moved address would)."""
        headers = {"Location": location}
        self._queue(Fault("respond", times, path_prefix, status, headers, b"", "text/html"))

    def endless(
        self,
        *,
        interval: float = 0.0,
        chunk: bytes = b" " * 65536,
        times: int = 1,
        path_prefix: str = EXPORT_PATH,
    ) -> None:
        """A 200 whose body never ends: the start of a page, then ``chunk`` every ``interval``."""
        chunks = functools.partial(fakefaults.endless, chunk)
        self._queue(Fault("stream", times, path_prefix, seconds=interval, chunks=chunks))

    def huge(self, size: int, *, times: int = 1, path_prefix: str = EXPORT_PATH) -> None:
        """A valid, empty export page of ``size`` bytes (whitespace), sent as fast as it goes."""
        chunks = functools.partial(fakefaults.padded, size)
        self._queue(Fault("stream", times, path_prefix, chunks=chunks))

    def gzip_bomb(
        self, size: int = 4 << 30, *, times: int = 1, path_prefix: str = EXPORT_PATH
    ) -> None:
        """``Content-Encoding: gzip``, about size/1000 bytes that decompress to ``size``."""
        chunks = functools.partial(fakefaults.gzip_bomb, size)
        headers = {"Content-Encoding": "gzip"}
        self._queue(Fault("stream", times, path_prefix, headers=headers, chunks=chunks))

    def trickle(
        self, seconds_per_byte: float, *, times: int = 1, path_prefix: str = EXPORT_PATH
    ) -> None:
        """The true answer, one byte every ``seconds_per_byte``: each read brings something."""
        self._queue(Fault("trickle", times, path_prefix, seconds=seconds_per_byte))

    def endless_cursor(
        self,
        *,
        times: int = 1000,
        fresh: bool = False,
        count: int | None = None,
        path_prefix: str = EXPORT_PATH,
    ) -> None:
        """Export answers whose ``nextPageCursor`` is new every time, so paging never ends.

        The pages repeat the first page of the answer, or with ``fresh`` hold made-up books
        never seen before; ``count`` sets the ``count`` every page claims.
        """
        self._queue(Fault("cursor", times, path_prefix, fresh=fresh, count=count))

    def drop(
        self, *, times: int = 1, mid_body: bool = False, path_prefix: str = EXPORT_PATH
    ) -> None:
        self._queue(Fault("drop", times, path_prefix, mid_body=mid_body))

    def delay(self, seconds: float, *, times: int = 1, path_prefix: str = EXPORT_PATH) -> None:
        self._queue(Fault("delay", times, path_prefix, seconds=seconds))

    def pass_through(self, times: int, *, path_prefix: str = EXPORT_PATH) -> None:
        """Answer the next ``times`` requests normally: faults queued after this come later."""
        self._queue(Fault("delay", times, path_prefix, seconds=0.0))

    def garbage(
        self, body: bytes, *, times: int = 1, status: int = 200, path_prefix: str = EXPORT_PATH
    ) -> None:
        self._queue(Fault("respond", times, path_prefix, status, body=bytes(body)))

    def clear_faults(self) -> None:
        with self._faults_lock:
            self._faults.clear()

    def take_fault(self, path: str) -> Fault | None:
        """The fault to play on a request for ``path`` (counted as played), or None."""
        with self._faults_lock:
            for fault in self._faults:
                if path.startswith(fault.path_prefix):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None
