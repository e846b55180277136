"""A fake Readwise v2 API server for tests and the ``readwise-sync demo`` command.

:class:`FakeReadwise` puts together an in-memory Readwise library (:mod:`.fakelibrary`:
export-shaped books, mutation helpers that stamp strictly increasing ``updated_at`` values,
the export's filters and integer cursor), the answers the real API gives (:mod:`.fakeanswers`:
token auth, throttling, ``GET /api/v2/auth/`` and ``GET /api/v2/export/``, DRF-style
``{"detail"}`` errors), fault injection (:mod:`.fakeinjection`, with the hostile bodies of
:mod:`.fakefaults`) and a real HTTP server on 127.0.0.1 (:mod:`.fakehttp`: ephemeral port,
daemon thread, chunked ``Connection: close`` responses). Everything tests and the app use is
importable from here.

Stdlib only and deliberately independent of the rest of ``readwise_sync``: the fake must not share
code (and therefore bugs) with the client it is used to test.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Self

from readwise_sync.readwise.fakeanswers import AUTH_PATH, EXPORT_PATH, Api, Response
from readwise_sync.readwise.fakehttp import RecordedRequest, Server
from readwise_sync.readwise.fakeinjection import Fault, FaultInjection
from readwise_sync.readwise.fakelibrary import Book, Library, books_from

__all__ = ["AUTH_PATH", "EXPORT_PATH", "Book", "FakeReadwise", "RecordedRequest"]


class FakeReadwise(FaultInjection):
    """An in-memory Readwise library served over HTTP on 127.0.0.1.

    The fault helpers (``fail``, ``throttle``, ``drop``, ...) come from
    :class:`.fakeinjection.FaultInjection`; the library's edits are :class:`.fakelibrary.Library`'s.
    """

    def __init__(
        self,
        books: list[Book] | None = None,
        *,
        token: str = "demo-token",
        page_size: int = 100,
        rate_limit_per_minute: int | None = None,
        port: int = 0,  # 0: any free port
    ) -> None:
        super().__init__()
        self.token = token
        self.page_size = page_size
        self.rate_limit_per_minute = rate_limit_per_minute
        self.latency = 0.0  # seconds added to every answer, like a far-away server
        # Readwise's clock against this machine's: its updated_at stamps and Date headers.
        self.clock_offset = timedelta(0)
        # Books sent in two pieces (half their highlights each): see Library.export_page.
        self.pieces: set[int] = set()
        self.requests: list[RecordedRequest] = []
        self.library = Library(books, clock=self._readwise_now)
        self._api = Api(self.library, self)
        self._requests_lock = threading.Lock()
        self._server: Server | None = None
        self._port = port

    @classmethod
    def demo(cls, **kw: Any) -> FakeReadwise:
        package = __package__ or "readwise_sync.readwise"
        text = resources.files(package).joinpath("demo/library.json").read_text(encoding="utf-8")
        return cls(books_from(json.loads(text)), **kw)

    @classmethod
    def from_file(cls, path: str | Path, **kw: Any) -> FakeReadwise:
        return cls(books_from(json.loads(Path(path).read_text(encoding="utf-8"))), **kw)

    def _readwise_now(self) -> datetime:
        return datetime.now(UTC) + self.clock_offset

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is None:
            # A restarted server comes back on its old port: "the server is back" for a client.
            self._server = Server(self, self._port)
            self._port = self._server.server_port
            self._server.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()

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
        return self.library.books()

    def add_book(self, book: Book) -> Book:
        return self.library.add_book(book)

    def add_highlight(self, book_id: int, **fields: Any) -> dict[str, Any]:
        return self.library.add_highlight(book_id, **fields)

    def update_highlight(self, highlight_id: int, **fields: Any) -> dict[str, Any]:
        """Set fields and bump updated_at (unless the caller passes updated_at explicitly)."""
        return self.library.update_highlight(highlight_id, **fields)

    def delete_highlight(self, highlight_id: int) -> None:
        self.library.delete_highlight(highlight_id)

    def discard_highlight(self, highlight_id: int) -> None:
        self.library.discard_highlight(highlight_id)

    def update_book(self, book_id: int, **fields: Any) -> Book:
        return self.library.update_book(book_id, **fields)

    def delete_book(self, book_id: int) -> None:
        self.library.delete_book(book_id)

    def forget_book(self, book_id: int) -> None:
        """Drop a book from the library entirely: no answer lists it again, not even with
        ``ids`` and ``includeDeleted`` (as for a book Readwise purged)."""
        self.library.forget_book(book_id)

    # --- what the server asks (on its own threads) ---------------------------------------------

    def record(self, request: RecordedRequest) -> None:
        with self._requests_lock:
            self.requests.append(request)

    def respond(
        self, method: str, path: str, query: dict[str, str], authorization: str | None
    ) -> Response:
        return self._api.respond(method, path, query, authorization)

    def endless_page(self, response: Response, fault: Fault) -> Response:
        return self._api.endless_page(response, fresh=fault.fresh, count=fault.count)
