"""The source seam: where a sync's documents come from, and the cursor it saves.

The engine asks a :class:`Source` three things: the documents changed since a cursor
(whole, page by page), some documents by id (a document met again on a later page is
decided once more from all of it), and the cursor to save when the run is done. Two
implement it:

- :class:`ExportV2Source`, Readwise's export over HTTP, with the incremental protocol of
  :mod:`readwise_sync.readwise.incremental` (``updatedAfter``, then the changed documents
  whole by ``ids``; Readwise's own clock for the cursor);
- :class:`MemorySource`, a library held in memory with a clock of its own, so the engine's
  decisions can be tested with no server and no socket.

Both send :class:`~readwise_sync.domain.Document` s, each with its source's record for
the state (see :mod:`readwise_sync.readwise.convert`). A source never touches the vault
or the state: the engine saves the cursor it is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from readwise_sync.domain import Document
from readwise_sync.readwise import incremental
from readwise_sync.readwise.convert import id_numbers, to_document
from readwise_sync.readwise.wire import Book, SkippedRecord


@dataclass(frozen=True)
class Batch:
    """One page of changed documents, as the source sent it."""

    documents: list[Document]
    count: int | None = None  # highlights the whole answer holds, when the source says


class Source(Protocol):
    """What a sync needs of wherever its documents come from."""

    def changes(self, since: datetime | None, retry: Sequence[str] = ()) -> Iterator[Batch]:
        """Every document changed since the cursor ``since`` (all of them when it is
        None), each whole, with the documents ``retry`` names (the last run's failures)."""
        ...

    def documents(self, ids: Sequence[str]) -> list[Document]:
        """The documents with these ids, each whole (one per id; a missing one is left out)."""
        ...

    def cursor(self, previous: datetime | None) -> datetime | None:
        """The cursor to save once the changes are in: the source's time, never ours."""
        ...

    def behind(self, cursor: datetime) -> bool:
        """Whether a saved cursor is ahead of the source's time (saved from a wrong clock)."""
        ...

    @property
    def unread(self) -> list[SkippedRecord]:
        """The records the source sent that could not be read, so far in this run."""
        ...

    @property
    def requests(self) -> int:
        """Requests made so far (a no-op sync should make one)."""
        ...


class ExportV2Source:
    """Readwise's export (API v2) through a client: the incremental protocol and its clock.

    One per run: the clock it keeps is the run's (the time of its first answer).
    """

    def __init__(self, client: incremental.ExportClient) -> None:
        self.client = client
        self.clock = incremental.Clock()
        self._requests_before = client.requests_made

    def changes(self, since: datetime | None, retry: Sequence[str] = ()) -> Iterator[Batch]:
        pages = incremental.pages(self.client, since, self.clock, retry=id_numbers(retry))
        for page in pages:
            yield Batch([to_document(b) for b in incremental.union(page.results)], page.count)

    def documents(self, ids: Sequence[str]) -> list[Document]:
        books = incremental.whole_books(self.client, id_numbers(ids))
        return [to_document(book) for book in books]

    def cursor(self, previous: datetime | None) -> datetime | None:
        return self.clock.cursor(previous)

    def behind(self, cursor: datetime) -> bool:
        return self.clock.behind(cursor)

    @property
    def unread(self) -> list[SkippedRecord]:
        return self.clock.unread

    @property
    def requests(self) -> int:
        return self.client.requests_made - self._requests_before


@dataclass
class MemorySource:
    """A library in memory, with a clock of its own that :meth:`put` moves on.

    A document counts as changed since a cursor when one of its highlights was updated
    after it (as the export's ``updatedAfter`` sees changes), and it is sent whole.
    """

    library: dict[int, Book] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    page_size: int = 1000
    unread: list[SkippedRecord] = field(default_factory=list)
    requests: int = 0

    @classmethod
    def of(cls, documents: Iterable[Book], **options: object) -> MemorySource:
        source = cls(**options)  # type: ignore[arg-type]
        source.put(*documents)
        return source

    def put(self, *documents: Book) -> None:
        """Add or replace documents; the clock moves past their newest change."""
        for document in documents:
            self.library[document.user_book_id] = document
            stamps = [h.updated_at for h in document.highlights if h.updated_at is not None]
            self.now = max([self.now, *stamps]) + timedelta(seconds=1)

    def changes(self, since: datetime | None, retry: Sequence[str] = ()) -> Iterator[Batch]:
        again = set(id_numbers(retry))
        wanted = [
            document
            for document in self.library.values()
            if since is None or _changed_since(document, since) or document.user_book_id in again
        ]
        count = sum(len(document.highlights) for document in wanted)
        for start in range(0, max(len(wanted), 1), self.page_size):
            self.requests += 1
            yield Batch([to_document(b) for b in wanted[start : start + self.page_size]], count)

    def documents(self, ids: Sequence[str]) -> list[Document]:
        self.requests += 1
        wanted = id_numbers(dict.fromkeys(ids))
        return [to_document(self.library[i]) for i in wanted if i in self.library]

    def cursor(self, previous: datetime | None) -> datetime | None:
        return self.now

    def behind(self, cursor: datetime) -> bool:
        return cursor > self.now + incremental.OVERLAP


def _changed_since(document: Book, since: datetime) -> bool:
    return any(h.updated_at is not None and h.updated_at > since for h in document.highlights)
