"""The incremental protocol: which export pages a run works from, and the cursor it saves.

The export's ``updatedAfter`` returns only the changed *highlights* of each book, not
whole books. So:

1. with no cursor (first run, or ``full``): page through the whole export;
2. otherwise ask ``updatedAfter = cursor - OVERLAP`` and collect the ids of the changed
   books, then refetch those books whole (``ids`` in chunks, ``includeDeleted=true``), so
   each note is rendered from its whole book;
3. the cursor saved is Readwise's own time when the run's first answer was made (its
   ``Date`` header), never this machine's clock: a clock that is off by a day would
   otherwise skip, or refetch, a day of changes. Without a ``Date`` header the newest
   ``updated_at`` seen stands in for it.

Whether the export ever sends one book twice, on one page or split over two, is not
documented, so the run must not care: :func:`union` makes one book of the pieces on a
page, and a book met again on a later page is fetched whole once more at the end
(:func:`whole_books`) and decided from all its highlights.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from readwise_sync.readwise.wire import Book, ExportPage, Highlight, SkippedRecord

# Re-ask a little before the cursor: a change committed while an answer was being made
# may carry a time just before that answer's Date.
OVERLAP = timedelta(minutes=10)
IDS_PER_REQUEST = 100  # keeps the refetch URL well under common 8 KB limits
# A Date further than this from both this machine's clock and Readwise's newest change
# is taken for a wrong header, not for a skewed clock.
TRUSTED_SKEW = timedelta(days=2)


class ExportClient(Protocol):
    """What the protocol needs of a client: the export's pages, and Readwise's clock."""

    def iter_export(
        self,
        *,
        updated_after: datetime | None = None,
        ids: list[int] | None = None,
        include_deleted: bool = False,
    ) -> Iterator[ExportPage]: ...

    @property
    def server_time(self) -> datetime | None: ...

    @property
    def requests_made(self) -> int: ...


@dataclass
class Clock:
    """Readwise's time as this run saw it: the cursor the run may save when it is done."""

    answered_at: datetime | None = None  # the Date of the run's first answer
    newest_change: datetime | None = None  # the newest updated_at seen
    unread: list[SkippedRecord] = field(default_factory=list)  # records that can't be read

    def note_answer(self, source: ExportClient) -> None:
        if self.answered_at is None:
            self.answered_at = source.server_time

    def note_page(self, source: ExportClient, page: ExportPage) -> ExportPage:
        self.note_answer(source)
        self.note_books(page.results)
        self.unread.extend(page.skipped)
        return page

    def note_books(self, books: Iterable[Book]) -> None:
        for book in books:
            for highlight in book.highlights:
                stamp = highlight.updated_at
                if stamp is not None and (self.newest_change is None or stamp > self.newest_change):
                    self.newest_change = stamp

    def server_time(self) -> datetime | None:
        """Readwise's Date, unless it is far from both this machine's clock and the newest
        change Readwise sent: one wrong header must not carry the cursor off for good."""
        answered = self.answered_at
        if answered is None:
            return None
        near = [datetime.now(UTC)] + ([self.newest_change] if self.newest_change else [])
        return answered if any(abs(answered - t) <= TRUSTED_SKEW for t in near) else None

    def cursor(self, previous: datetime | None) -> datetime | None:
        """The cursor to save: Readwise's time, else the newest change seen, else the one
        there was. It may move back (that only asks again for a little more)."""
        return self.server_time() or self.newest_change or previous

    def behind(self, cursor: datetime) -> bool:
        """Whether a saved cursor is ahead of Readwise's time (saved from a wrong clock):
        the run must then save this one, even with nothing else to record."""
        now = self.server_time()
        return now is not None and cursor > now + OVERLAP


def pages(
    source: ExportClient, cursor: datetime | None, clock: Clock, retry: Iterable[int] = ()
) -> Iterator[ExportPage]:
    """The export pages a run works from: all of them, or the changed books whole, with
    the books the last run could not sync (``retry``)."""
    if cursor is None:
        for page in source.iter_export():
            yield clock.note_page(source, page)
        return
    changed: dict[int, None] = dict.fromkeys(retry)  # ordered set: keep the server's order
    # includeDeleted here too: a change that is only a deletion must be seen.
    for page in source.iter_export(updated_after=cursor - OVERLAP, include_deleted=True):
        clock.note_page(source, page)
        changed.update((book.user_book_id, None) for book in page.results)
    for chunk in _chunks(list(changed), IDS_PER_REQUEST):
        for page in source.iter_export(ids=chunk, include_deleted=True):
            clock.unread.extend(page.skipped)
            yield page


def whole_books(source: ExportClient, ids: list[int]) -> list[Book]:
    """The books with these ids, each made whole from every piece the export sends."""
    books: list[Book] = []
    for chunk in _chunks(ids, IDS_PER_REQUEST):
        for page in source.iter_export(ids=chunk, include_deleted=True):
            books.extend(page.results)
    return union(books)


def union(books: Iterable[Book]) -> list[Book]:
    """One book per id, in the order first met: a book sent in pieces gets all their
    highlights (a highlight sent twice counts once, its newest version)."""
    by_id: dict[int, list[Book]] = {}
    for book in books:
        by_id.setdefault(book.user_book_id, []).append(book)
    return [pieces[0] if len(pieces) == 1 else _joined(pieces) for pieces in by_id.values()]


def _joined(pieces: list[Book]) -> Book:
    highlights: dict[int, Highlight] = {}
    for piece in pieces:
        for highlight in piece.highlights:
            known = highlights.get(highlight.id)
            if known is None or _newer(highlight, known):
                highlights[highlight.id] = highlight
    last = pieces[-1]  # the book's own fields as most recently sent
    return last.model_copy(update={"highlights": list(highlights.values())})


def _newer(first: Highlight, second: Highlight) -> bool:
    if first.updated_at is None or second.updated_at is None:
        return True  # no way to tell: the later piece wins
    return first.updated_at >= second.updated_at


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
