"""What the fake Readwise answers to a request, HTTP aside.

Owns: the two endpoints (``GET /api/v2/auth/`` and ``GET /api/v2/export/``) and DRF's order
of checks before them (authenticate, then throttle, then method dispatch), with DRF-style
``{"detail"}`` errors; the export's query parameters read and its page written as JSON; the
per-minute rate limiter; and the page of an endless cursor (:mod:`.fakefaults` makes its
books and cursor).

Stdlib only and, like the rest of the fake, independent of the client it is used to test.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from typing import Any, Protocol

from readwise_sync.readwise import fakefaults
from readwise_sync.readwise.fakelibrary import Book, Library, parse_ts

AUTH_PATH = "/api/v2/auth/"
EXPORT_PATH = "/api/v2/export/"

# A status, its headers and its body (None: no body at all, as for a 204).
Response = tuple[int, dict[str, str], bytes | None]


class Settings(Protocol):
    """What a test may change on a running fake, read afresh for every request."""

    token: str
    page_size: int
    rate_limit_per_minute: int | None
    pieces: set[int]


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return status, dict(headers or {}), json.dumps(payload).encode()


def throttle_message(wait: int | None) -> str:
    """DRF's exact wording of a 429, including its singular/plural switch."""
    if wait is None:
        return "Request was throttled."
    return f"Request was throttled. Expected available in {wait} second{'' if wait == 1 else 's'}."


def page(books: list[Book], cursor: int | None) -> Response:
    """An export page of ``books``, ``cursor`` its ``nextPageCursor``."""
    # ``count`` counts the page's own highlights (whether the real one counts the whole
    # answer is not documented).
    count = sum(len(b["highlights"]) for b in books)
    return json_response(200, {"count": count, "nextPageCursor": cursor, "results": books})


class RateLimiter:
    """A sliding window of the last minute's requests, as DRF throttles them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: deque[float] = deque()

    def wait(self, limit: int | None) -> int | None:
        """Seconds to wait if this request is one over ``limit`` a minute, else None."""
        if limit is None:
            return None
        with self._lock:
            now = time.monotonic()
            while self._hits and now - self._hits[0] >= 60:
                self._hits.popleft()
            if len(self._hits) >= limit:
                return max(1, math.ceil(60 - (now - self._hits[0])))
            self._hits.append(now)  # like DRF, throttled requests don't count
            return None


class Api:
    """The answers of a fake Readwise serving ``library`` as ``settings`` say."""

    def __init__(self, library: Library, settings: Settings) -> None:
        self.library = library
        self.settings = settings
        self._limiter = RateLimiter()
        self._lock = threading.Lock()
        self._endless_pages = 0

    def respond(
        self, method: str, path: str, query: dict[str, str], authorization: str | None
    ) -> Response:
        if path not in (AUTH_PATH, EXPORT_PATH):
            return json_response(404, {"detail": "Not found."})
        # DRF order: authenticate, then throttle, then method dispatch.
        if not authorization or authorization.split(" ", 1)[0] != "Token":
            detail = "Authentication credentials were not provided."
            return json_response(401, {"detail": detail}, {"WWW-Authenticate": "Token"})
        if authorization != f"Token {self.settings.token}":
            return json_response(401, {"detail": "Invalid token."}, {"WWW-Authenticate": "Token"})
        wait = self._limiter.wait(self.settings.rate_limit_per_minute)
        if wait is not None:
            detail = throttle_message(wait)
            return json_response(429, {"detail": detail}, {"retry-after": str(wait)})
        if method != "GET":
            return json_response(405, {"detail": f'Method "{method}" not allowed.'})
        if path == AUTH_PATH:
            return 204, {}, None
        return self.export(query)

    def export(self, query: dict[str, str]) -> Response:
        """The export's answer to ``query`` (its parameters, as strings), authorized."""
        try:
            raw = query.get("updatedAfter")
            after = parse_ts(raw) if raw else None
        except ValueError:
            detail = f"Invalid updatedAfter {raw!r}: expected ISO 8601."
            return json_response(400, {"detail": detail})
        try:
            raw = query.get("ids")
            ids = {int(x) for x in raw.split(",") if x.strip()} if raw else None
            raw = query.get("pageCursor")
            cursor = int(raw) if raw else None
        except ValueError:
            return json_response(400, {"detail": f"Invalid ids or pageCursor {raw!r}."})
        include_deleted = query.get("includeDeleted", "").lower() == "true"
        books, next_cursor = self.library.export_page(
            cursor,
            after,
            ids,
            include_deleted,
            self.settings.page_size,
            pieces=self.settings.pieces,
        )
        return page(books, next_cursor)

    def endless_page(self, response: Response, *, fresh: bool, count: int | None) -> Response:
        """``response`` (an export page) with a cursor never seen before; with ``fresh``,
        made-up books instead of its own; with ``count``, that ``count``."""
        status, headers, body = response
        if status != 200 or body is None:
            return response
        with self._lock:
            self._endless_pages += 1
            serial = self._endless_pages
        if fresh:
            body = page(fakefaults.made_up_books(serial, max(1, self.settings.page_size)), None)[2]
        assert body is not None
        cursor = fakefaults.ENDLESS_IDS + serial
        return status, headers, fakefaults.with_cursor(body, cursor, count)
