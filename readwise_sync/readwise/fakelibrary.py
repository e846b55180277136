"""The fake Readwise's library: export-shaped books, the edits a test makes, and the paging.

Owns: the books (kept verbatim, the way a file or the demo gave them), the mutation helpers
that stamp strictly increasing ``updated_at`` values, and :meth:`Library.export_page`, the
export's filters (``updatedAfter`` strictly after a highlight's ``updated_at``, ``ids``,
``includeDeleted``) and its integer cursor over books in descending ``user_book_id``,
including books sent in two pieces.

No HTTP and no threads of its own (a lock makes it safe to share with the server's); the
clock is handed in, so a test can move Readwise's time. Stdlib only and, like the rest of the
fake, independent of the client it is used to test.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable, Collection, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

Book = dict[str, Any]
Highlight = dict[str, Any]


def fmt(dt: datetime) -> str:
    """``dt`` in the export's own format: millisecond precision with a literal Z."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@functools.lru_cache(maxsize=1 << 20)
def parse_ts(value: str) -> datetime:
    """An ISO 8601 stamp as an aware UTC datetime (ValueError if it is none)."""
    # "All dates used/returned are in UTC": a naive value is UTC, not local time.
    dt = datetime.fromisoformat(value)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def books_from(data: Any) -> list[Book]:
    """The books of a library file: ``{"books": [...]}``, an export page, or a bare list."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and isinstance(data.get("books"), list):
        return data["books"]
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        return data["results"]
    raise ValueError('expected {"books": [...]}, {"results": [...]} or a list of books')


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _pieces(highlights: list[Highlight], split: bool, carried: bool) -> list[list[Highlight]]:
    """The pieces a listed book is sent in: whole, or two halves of its highlights (only
    the second when the first ended the previous page)."""
    if not split or len(highlights) < 2:
        return [highlights]
    half = len(highlights) // 2
    return [highlights[half:]] if carried else [highlights[:half], highlights[half:]]


class Library:
    """An in-memory Readwise library, safe to read and edit from several threads."""

    def __init__(
        self, books: list[Book] | None = None, *, clock: Callable[[], datetime] = _utc_now
    ) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        # Books are kept verbatim (no defaults filled): real 2023 exports lack keys such as
        # is_deleted and summary, and clients must cope with exactly that.
        self._books: dict[int, Book] = {}
        for book in copy.deepcopy(books or []):
            book.setdefault("highlights", [])
            self._books[int(book["user_book_id"])] = book
        self._last_now: datetime | None = None

    def books(self) -> list[Book]:
        with self._lock:
            return copy.deepcopy(list(self._books.values()))

    def _now(self) -> str:
        with self._lock:
            now = self._clock()
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)
            # Clients use the newest updated_at as a strict updatedAfter bound, so two mutations
            # in the same millisecond must still get distinct, increasing stamps.
            if self._last_now is not None and now <= self._last_now:
                now = self._last_now + timedelta(milliseconds=1)
            self._last_now = now
            return fmt(now)

    def _highlight(self, highlight_id: int) -> Highlight:
        for book in self._books.values():
            for hl in book["highlights"]:
                if hl.get("id") == highlight_id:
                    return hl
        raise KeyError(f"no highlight with id {highlight_id}")

    def _book(self, book_id: int) -> Book:
        if book_id not in self._books:
            raise KeyError(f"no book with user_book_id {book_id}")
        return self._books[book_id]

    # --- edits ---------------------------------------------------------------------------------

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

    def add_highlight(self, book_id: int, **fields: Any) -> Highlight:
        with self._lock:
            book = self._book(book_id)
            all_ids = [h.get("id") or 0 for b in self._books.values() for h in b["highlights"]]
            hl_id = fields.get("id") or max(all_ids, default=0) + 1
            if hl_id in all_ids:
                raise ValueError(f"highlight {hl_id} already exists")
            locations = [h["location"] for h in book["highlights"] if h.get("location") is not None]
            now = self._now()
            defaults: Highlight = {
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

    def update_highlight(self, highlight_id: int, **fields: Any) -> Highlight:
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

    # --- the export ----------------------------------------------------------------------------

    def export_page(
        self,
        cursor: int | None,
        updated_after: datetime | None,
        ids: Collection[int] | None,
        include_deleted: bool,
        page_size: int,
        *,
        pieces: Collection[int] = (),
    ) -> tuple[list[Book], int | None]:
        """One page of the export and the cursor of the next (None: this was the last).

        ``cursor`` is one this method returned (or None for the first page): a book id, the
        listing going on below it, or minus the id of a book in ``pieces`` whose first piece
        ended the previous page. A book in ``pieces`` with two highlights or more is sent as
        two, half its highlights each: over two pages when a page ends at one, else twice on
        one page. Whether the real export ever does this is not documented; a client must
        not care.
        """
        carried = None  # a book whose second piece this page starts with
        if cursor is not None and cursor < 0:
            carried = -cursor
            cursor = carried + 1
        size = max(1, page_size)
        # Only as many books as fit on the page (plus one, to know there is more) are
        # copied, so serving a large library costs per page, not per library.
        selected: list[Book] = []
        with self._lock:
            listed = self._listed(cursor, updated_after, ids, include_deleted)
            for book_id, book, highlights in listed:
                if len(selected) == size:
                    return selected, selected[-1]["user_book_id"]  # another page follows
                parts = _pieces(highlights, book_id in pieces, carried == book_id)
                for n, part in enumerate(parts):
                    if n and len(selected) == size:
                        return selected, -book_id  # the rest of it on the next page
                    selected.append(copy.deepcopy({**book, "highlights": part}))
        return selected, None

    def _listed(
        self,
        below: int | None,
        after: datetime | None,
        ids: Collection[int] | None,
        include_deleted: bool,
    ) -> Iterator[tuple[int, Book, list[Highlight]]]:
        """The books an export lists, newest id first, each with its id and the highlights
        it shows (the caller holds the lock)."""

        def shown(hl: Highlight) -> bool:
            if hl.get("is_deleted") and not include_deleted:
                return False
            # Strict ">": a highlight updated exactly at updatedAfter was already seen.
            stamp = hl.get("updated_at")
            return after is None or (bool(stamp) and parse_ts(stamp) > after)

        for book_id in sorted(self._books, reverse=True):
            book = self._books[book_id]
            if ids is not None and book_id not in ids:
                continue
            if below is not None and book_id >= below:
                continue
            if book.get("is_deleted") and not include_deleted:
                continue
            highlights = [hl for hl in book["highlights"] if shown(hl)]
            if after is not None and not highlights:
                continue  # incremental pulls only list books that changed
            yield book_id, book, highlights
