"""A fake Readwise v2 API server for tests and the ``readwise-sync demo`` command.

Owns: an in-memory Readwise library (export-shaped books with their highlights); a real HTTP
server on 127.0.0.1 (ephemeral port, daemon thread) answering ``GET /api/v2/auth/`` and
``GET /api/v2/export/`` the way the real API does (token auth, ``updatedAfter`` strict filter on
highlight ``updated_at``, ``ids``, ``includeDeleted``, integer ``nextPageCursor`` over books in
descending ``user_book_id``, chunked ``Connection: close`` responses, DRF-style ``{"detail"}``
errors); mutation helpers that stamp strictly increasing ``updated_at`` values; and fault
injection (error statuses, 429 throttling with any ``Retry-After``, dropped connections, delays,
malformed bodies, redirects, and the hostile bodies of :mod:`.fakefaults`: endless, trickled,
huge, gzip bombs, cursors that change for ever).

Stdlib only and deliberately independent of the rest of ``readwise_sync``: the fake must not share
code (and therefore bugs) with the client it is used to test.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import socketserver
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from readwise_sync.readwise import fakefaults

AUTH_PATH = "/api/v2/auth/"
EXPORT_PATH = "/api/v2/export/"

Book = dict[str, Any]
_Response = tuple[int, dict[str, str], bytes | None]


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the query string
    query: dict[str, str]  # last value wins for repeated parameters
    headers: dict[str, str]  # names lower-cased so lookups don't depend on client casing


@dataclass
class _Fault:
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


def _fmt(dt: datetime) -> str:
    # The export's own format: millisecond precision with a literal Z.
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@functools.lru_cache(maxsize=1 << 20)
def _parse_ts(value: str) -> datetime:
    # "All dates used/returned are in UTC": a naive value is UTC, not local time.
    dt = datetime.fromisoformat(value)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Response:
    return status, dict(headers or {}), json.dumps(payload).encode()


def _throttle_message(wait: int | None) -> str:
    # DRF's exact wording, including its singular/plural switch.
    if wait is None:
        return "Request was throttled."
    return f"Request was throttled. Expected available in {wait} second{'' if wait == 1 else 's'}."


def _books_from(data: Any) -> list[Book]:
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and isinstance(data.get("books"), list):
        return data["books"]
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        return data["results"]
    raise ValueError('expected {"books": [...]}, {"results": [...]} or a list of books')


class FakeReadwise:
    """An in-memory Readwise library served over HTTP on 127.0.0.1."""

    def __init__(
        self,
        books: list[Book] | None = None,
        *,
        token: str = "demo-token",
        page_size: int = 100,
        rate_limit_per_minute: int | None = None,
        port: int = 0,  # 0: any free port
    ) -> None:
        self.token = token
        self.page_size = page_size
        self.rate_limit_per_minute = rate_limit_per_minute
        self.latency = 0.0  # seconds added to every answer, like a far-away server
        # Readwise's clock against this machine's: its updated_at stamps and Date headers.
        self.clock_offset = timedelta(0)
        # Books sent in two pieces (half their highlights each): split over two pages when
        # a page ends at one, else twice on one page. Whether the real export ever does
        # this is not documented; a client must not care.
        self.pieces: set[int] = set()
        self.requests: list[RecordedRequest] = []
        self._lock = threading.RLock()
        # Books are kept verbatim (no defaults filled): real 2023 exports lack keys such as
        # is_deleted and summary, and clients must cope with exactly that.
        self._books: dict[int, Book] = {}
        for book in copy.deepcopy(books or []):
            book.setdefault("highlights", [])
            self._books[int(book["user_book_id"])] = book
        self._faults: list[_Fault] = []
        self._hits: deque[float] = deque()
        self._last_now: datetime | None = None
        self._server: _Server | None = None
        self._port = port
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._endless_pages = 0

    @classmethod
    def demo(cls, **kw: Any) -> FakeReadwise:
        package = __package__ or "readwise_sync.readwise"
        text = resources.files(package).joinpath("demo/library.json").read_text(encoding="utf-8")
        return cls(_books_from(json.loads(text)), **kw)

    @classmethod
    def from_file(cls, path: str | Path, **kw: Any) -> FakeReadwise:
        return cls(_books_from(json.loads(Path(path).read_text(encoding="utf-8"))), **kw)

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is None:
            self._stopping.clear()
            # A restarted server comes back on its old port: "the server is back" for a client.
            self._server = _Server(self, self._port)
            self._port = self._server.server_port
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # short poll so stop() returns promptly
                name="fake-readwise",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes handlers sleeping in a delay() fault
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeReadwise is not running; call start() first")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- library -------------------------------------------------------------------------------

    def books(self) -> list[Book]:
        with self._lock:
            return copy.deepcopy(list(self._books.values()))

    def _now(self) -> str:
        with self._lock:
            now = datetime.now(UTC) + self.clock_offset
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)
            # Clients use the newest updated_at as a strict updatedAfter bound, so two mutations
            # in the same millisecond must still get distinct, increasing stamps.
            if self._last_now is not None and now <= self._last_now:
                now = self._last_now + timedelta(milliseconds=1)
            self._last_now = now
            return _fmt(now)

    def _highlight(self, highlight_id: int) -> dict[str, Any]:
        for book in self._books.values():
            for hl in book["highlights"]:
                if hl.get("id") == highlight_id:
                    return hl
        raise KeyError(f"no highlight with id {highlight_id}")

    def _book(self, book_id: int) -> Book:
        if book_id not in self._books:
            raise KeyError(f"no book with user_book_id {book_id}")
        return self._books[book_id]

    def add_book(self, book: Book) -> Book:
        with self._lock:
            book_id = book.get("user_book_id")
            if book_id is None:
                book_id = max(self._books, default=0) + 1
            if book_id in self._books:
                raise ValueError(f"book {book_id} already exists")
            title = book.get("title", "Untitled")
            defaults: Book = {
                "user_book_id": book_id, "is_deleted": False, "title": title, "author": None,
                "readable_title": title, "source": "api_article", "cover_image_url": None,
                "unique_url": None, "book_tags": [], "category": "articles",
                "document_note": None, "summary": None,
                "readwise_url": f"https://readwise.io/bookreview/{book_id}", "source_url": None,
                "external_id": None, "asin": None,
            }  # fmt: skip
            stored = {**defaults, **copy.deepcopy(book), "highlights": []}
            self._books[book_id] = stored
            for hl in book.get("highlights", []):
                self.add_highlight(book_id, **{k: v for k, v in hl.items() if k != "book_id"})
            return copy.deepcopy(stored)

    def add_highlight(self, book_id: int, **fields: Any) -> dict[str, Any]:
        with self._lock:
            book = self._book(book_id)
            all_ids = [h.get("id") or 0 for b in self._books.values() for h in b["highlights"]]
            hl_id = fields.get("id") or max(all_ids, default=0) + 1
            if hl_id in all_ids:
                raise ValueError(f"highlight {hl_id} already exists")
            locations = [h["location"] for h in book["highlights"] if h.get("location") is not None]
            now = self._now()
            defaults: dict[str, Any] = {
                "id": hl_id, "is_deleted": False, "text": "",
                "location": max(locations) + 1 if locations else 1, "location_type": "order",
                "note": "", "color": "", "highlighted_at": now, "created_at": now,
                "updated_at": now, "external_id": None, "end_location": None, "url": None,
                "book_id": book_id, "tags": [], "is_favorite": False, "is_discard": False,
                "readwise_url": f"https://readwise.io/open/{hl_id}",
            }  # fmt: skip
            stored = {**defaults, **fields, "id": hl_id, "book_id": book_id}
            book["highlights"].append(stored)
            return copy.deepcopy(stored)

    def update_highlight(self, highlight_id: int, **fields: Any) -> dict[str, Any]:
        """Set fields and bump updated_at (unless the caller passes updated_at explicitly)."""
        with self._lock:
            hl = self._highlight(highlight_id)
            hl.update({"updated_at": self._now(), **fields})
            return copy.deepcopy(hl)

    def delete_highlight(self, highlight_id: int) -> None:
        # The row stays: includeDeleted=true is how clients learn about deletions.
        self.update_highlight(highlight_id, is_deleted=True)

    def discard_highlight(self, highlight_id: int) -> None:
        with self._lock:
            hl = self._highlight(highlight_id)
            tags = list(hl.get("tags") or [])
            # Real exports mirror the discard flag with a tag named "discard".
            if not any(t.get("name") == "discard" for t in tags):
                tags.append({"id": self._next_tag_id(), "name": "discard"})
            self.update_highlight(highlight_id, is_discard=True, tags=tags)

    def _next_tag_id(self) -> int:
        ids = [t.get("id") or 0 for b in self._books.values() for t in b.get("book_tags") or []]
        ids += [t.get("id") or 0 for b in self._books.values() for h in b["highlights"]
                for t in h.get("tags") or []]  # fmt: skip
        return max(ids, default=0) + 1

    def update_book(self, book_id: int, **fields: Any) -> Book:
        # Book-only edits are not known to surface through updatedAfter, so no highlight is bumped.
        with self._lock:
            book = self._book(book_id)
            book.update(fields)
            return copy.deepcopy(book)

    def delete_book(self, book_id: int) -> None:
        with self._lock:
            book = self._book(book_id)
            book["is_deleted"] = True
            now = self._now()
            for hl in book["highlights"]:
                hl.update(is_deleted=True, updated_at=now)

    def forget_book(self, book_id: int) -> None:
        """Drop a book from the library entirely: no answer lists it again, not even with
        ``ids`` and ``includeDeleted`` (as for a book Readwise purged)."""
        with self._lock:
            self._books.pop(book_id, None)

    # --- fault injection -----------------------------------------------------------------------

    def _queue(self, fault: _Fault) -> None:
        if fault.times > 0:
            with self._lock:
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
        self._queue(_Fault("respond", times, path_prefix, status, dict(headers or {}), raw, ctype))

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
        body = {"detail": _throttle_message(wait)}
        self.fail(429, times=times, headers=headers, body=body, path_prefix=path_prefix)

    def redirect(
        self, location: str, *, status: int = 302, times: int = 1, path_prefix: str = EXPORT_PATH
    ) -> None:
        """Answer with a redirect to ``location`` (as a server at a moved address would)."""
        headers = {"Location": location}
        self._queue(_Fault("respond", times, path_prefix, status, headers, b"", "text/html"))

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
        self._queue(_Fault("stream", times, path_prefix, seconds=interval, chunks=chunks))

    def huge(self, size: int, *, times: int = 1, path_prefix: str = EXPORT_PATH) -> None:
        """A valid, empty export page of ``size`` bytes (whitespace), sent as fast as it goes."""
        chunks = functools.partial(fakefaults.padded, size)
        self._queue(_Fault("stream", times, path_prefix, chunks=chunks))

    def gzip_bomb(
        self, size: int = 4 << 30, *, times: int = 1, path_prefix: str = EXPORT_PATH
    ) -> None:
        """``Content-Encoding: gzip``, about size/1000 bytes that decompress to ``size``."""
        chunks = functools.partial(fakefaults.gzip_bomb, size)
        headers = {"Content-Encoding": "gzip"}
        self._queue(_Fault("stream", times, path_prefix, headers=headers, chunks=chunks))

    def trickle(
        self, seconds_per_byte: float, *, times: int = 1, path_prefix: str = EXPORT_PATH
    ) -> None:
        """The true answer, one byte every ``seconds_per_byte``: each read brings something."""
        self._queue(_Fault("trickle", times, path_prefix, seconds=seconds_per_byte))

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
        self._queue(_Fault("cursor", times, path_prefix, fresh=fresh, count=count))

    def drop(
        self, *, times: int = 1, mid_body: bool = False, path_prefix: str = EXPORT_PATH
    ) -> None:
        self._queue(_Fault("drop", times, path_prefix, mid_body=mid_body))

    def delay(self, seconds: float, *, times: int = 1, path_prefix: str = EXPORT_PATH) -> None:
        self._queue(_Fault("delay", times, path_prefix, seconds=seconds))

    def pass_through(self, times: int, *, path_prefix: str = EXPORT_PATH) -> None:
        """Answer the next ``times`` requests normally: faults queued after this come later."""
        self._queue(_Fault("delay", times, path_prefix, seconds=0.0))

    def garbage(
        self, body: bytes, *, times: int = 1, status: int = 200, path_prefix: str = EXPORT_PATH
    ) -> None:
        self._queue(_Fault("respond", times, path_prefix, status, body=bytes(body)))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.path_prefix):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # --- request handling (runs on server threads) ---------------------------------------------

    def _rate_limited(self) -> int | None:
        """Seconds to wait if this request exceeds rate_limit_per_minute, else None."""
        limit = self.rate_limit_per_minute
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

    def _respond(
        self, method: str, path: str, query: dict[str, str], authorization: str | None
    ) -> _Response:
        if path not in (AUTH_PATH, EXPORT_PATH):
            return _json(404, {"detail": "Not found."})
        # DRF order: authenticate, then throttle, then method dispatch.
        if not authorization or authorization.split(" ", 1)[0] != "Token":
            detail = "Authentication credentials were not provided."
            return _json(401, {"detail": detail}, {"WWW-Authenticate": "Token"})
        if authorization != f"Token {self.token}":
            return _json(401, {"detail": "Invalid token."}, {"WWW-Authenticate": "Token"})
        wait = self._rate_limited()
        if wait is not None:
            return _json(429, {"detail": _throttle_message(wait)}, {"retry-after": str(wait)})
        if method != "GET":
            return _json(405, {"detail": f'Method "{method}" not allowed.'})
        if path == AUTH_PATH:
            return 204, {}, None
        return self._export(query)

    def _export(self, query: dict[str, str]) -> _Response:
        try:
            raw = query.get("updatedAfter")
            after = _parse_ts(raw) if raw else None
        except ValueError:
            return _json(400, {"detail": f"Invalid updatedAfter {raw!r}: expected ISO 8601."})
        try:
            raw = query.get("ids")
            ids = {int(x) for x in raw.split(",") if x.strip()} if raw else None
            raw = query.get("pageCursor")
            cursor = int(raw) if raw else None
        except ValueError:
            return _json(400, {"detail": f"Invalid ids or pageCursor {raw!r}."})
        include_deleted = query.get("includeDeleted", "").lower() == "true"
        carried = None  # a book whose second piece this page starts with
        if cursor is not None and cursor < 0:
            carried = -cursor
            cursor = carried + 1

        def wanted(hl: dict[str, Any]) -> bool:
            if hl.get("is_deleted") and not include_deleted:
                return False
            # Strict ">": a highlight updated exactly at updatedAfter was already seen.
            stamp = hl.get("updated_at")
            return after is None or (bool(stamp) and _parse_ts(stamp) > after)

        # Only as many books as fit on the page (plus one, to know there is more) are
        # copied, so serving a large library costs per page, not per library.
        selected: list[Book] = []
        next_cursor: int | None = None
        with self._lock:
            size = max(1, self.page_size)
            for book_id in sorted(self._books, reverse=True):
                book = self._books[book_id]
                if ids is not None and book_id not in ids:
                    continue
                if cursor is not None and book_id >= cursor:
                    continue
                if book.get("is_deleted") and not include_deleted:
                    continue
                highlights = [hl for hl in book["highlights"] if wanted(hl)]
                if after is not None and not highlights:
                    continue  # incremental pulls only list books that changed
                if len(selected) == size:
                    next_cursor = selected[-1]["user_book_id"]
                    break  # another page follows
                split = book_id in self.pieces and len(highlights) >= 2
                half = len(highlights) // 2
                if split and carried == book_id:  # its second piece, carried over
                    highlights, split = highlights[half:], False
                if not split:
                    selected.append(copy.deepcopy({**book, "highlights": highlights}))
                    continue
                selected.append(copy.deepcopy({**book, "highlights": highlights[:half]}))
                if len(selected) == size:  # the page ends here: the rest on the next one
                    next_cursor = -book_id
                    break
                selected.append(copy.deepcopy({**book, "highlights": highlights[half:]}))
        return _page(selected, next_cursor)

    def _endless_page(self, response: _Response, fault: _Fault) -> _Response:
        """The answer of an ``endless_cursor`` fault: a page with a cursor never seen before."""
        status, headers, body = response
        if status != 200 or body is None:
            return response
        with self._lock:
            self._endless_pages += 1
            serial = self._endless_pages
        if fault.fresh:
            body = _page(fakefaults.made_up_books(serial, max(1, self.page_size)), None)[2]
        assert body is not None
        cursor = fakefaults.ENDLESS_IDS + serial
        return status, headers, fakefaults.with_cursor(body, cursor, fault.count)


def _page(books: list[Book], cursor: int | None) -> _Response:
    # ``count`` counts the page's own highlights (whether the real one counts the whole
    # answer is not documented).
    count = sum(len(b["highlights"]) for b in books)
    return _json(200, {"count": count, "nextPageCursor": cursor, "results": books})


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so responses can be chunked like the real API's (no Content-Length).
    protocol_version = "HTTP/1.1"
    server_version = "FakeReadwise/1.0"
    timeout = 30  # a client that connects and goes silent must not pin a thread forever
    server: _Server

    def version_string(self) -> str:
        return self.server_version  # no Python version suffix in the Server header

    def date_time_string(self, timestamp: float | None = None) -> str:
        offset = self.server.fake.clock_offset.total_seconds()
        return super().date_time_string((time.time() if timestamp is None else timestamp) + offset)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests and the demo must not get a stderr line per request

    def _dispatch(self) -> None:
        fake = self.server.fake
        self.close_connection = True  # the real API sends Connection: close
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        with fake._lock:
            fake.requests.append(RecordedRequest(self.command, split.path, query, headers))
        # Drain any request body so closing the socket doesn't turn into a reset.
        length = int(self.headers.get("Content-Length") or 0)
        if length > 0:
            self.rfile.read(min(length, 1 << 20))
        if fake.latency and fake._stopping.wait(fake.latency):
            return
        fault = fake._take_fault(split.path)
        if fault is None or not self._fault_answered(fault):
            response = fake._respond(
                self.command, split.path, query, self.headers.get("Authorization")
            )
            self._send(response)

    def _fault_answered(self, fault: _Fault) -> bool:
        """Play ``fault``; False when the request is then to be answered as usual."""
        fake = self.server.fake
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        if fault.kind == "drop" and not fault.mid_body:
            return True  # close without writing a single byte
        if fault.kind == "delay":
            return fake._stopping.wait(fault.seconds)  # server is stopping: don't answer late
        if fault.kind == "respond":
            self._send((fault.status, fault.headers, fault.body), fault.content_type)
            return True
        if fault.kind == "stream" and fault.chunks is not None:
            self._stream(fault.headers, fault.chunks(), fault.seconds)
            return True
        if fault.kind == "cursor":
            query.pop("pageCursor", None)  # every page is the first page again
        response = fake._respond(self.command, split.path, query, self.headers.get("Authorization"))
        if fault.kind == "cursor":
            response = fake._endless_page(response, fault)
        if fault.kind == "trickle" and response[2]:
            self._stream(response[1], fakefaults.dripped(response[2]), fault.seconds)
        else:
            self._send(response, cut=fault.kind == "drop")
        return True

    def _stream(self, headers: dict[str, str], chunks: Iterator[bytes], pause: float) -> None:
        """A 200 sent chunk by chunk, ``pause`` seconds apart, until the chunks or client end."""
        stopping = self.server.fake._stopping
        try:
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            for chunk in chunks:
                if chunk:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                if stopping.wait(pause) if pause else stopping.is_set():
                    return  # the server is stopping: hang up mid-body
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the client went away (or stopped reading): nothing to tell it

    def _send(
        self, response: _Response, content_type: str = "application/json", *, cut: bool = False
    ) -> None:
        status, headers, body = response
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if body is not None or cut:
                body = body or b""
                self.send_header("Content-Type", content_type)
                self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            if body is None:
                return
            chunk = f"{len(body):x}\r\n".encode() + body
            if cut:
                # Announce the whole chunk but send only part of it, then hang up.
                self.wfile.write(chunk[: len(chunk) - max(1, len(body) // 2)])
            else:
                self.wfile.write(chunk + b"\r\n0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away first; nothing to tell it

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler stuck in a delay must not block interpreter exit

    def __init__(self, fake: FakeReadwise, port: int = 0) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would call socket.getfqdn(), a reverse DNS lookup; skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up early is a scenario under test, not a server error.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)
