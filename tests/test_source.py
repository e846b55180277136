"""The source seam: the export over HTTP and the in-memory library answer alike.

The same library is put behind :class:`ExportV2Source` (the fake server, over loopback)
and :class:`MemorySource` (no socket); a first run, a change, and a run with nothing new
must give the same documents, the same highlights, and a cursor that moves on.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from readwise_sync.readwise.fakeapi import FakeReadwise
from readwise_sync.readwise.source import ExportV2Source, MemorySource, Source
from readwise_sync.readwise.wire import Book

from .conftest import TOKEN, fast_client
from .factories import library


def books_of(source: Source, since: datetime | None, retry: list[str] | None = None) -> dict:
    """Each document the source sends as changed, by id, with its highlight ids."""
    sent = [d for batch in source.changes(since, retry or []) for d in batch.documents]
    assert len({d.id for d in sent}) == len(sent)  # each document once
    return {d.id: sorted(h.id for h in d.highlights) for d in sent}


def ids_of(book: Book) -> dict[str, list[str]]:
    """What :func:`books_of` gives for ``book`` alone."""
    return {str(book.user_book_id): sorted(str(h.id) for h in book.highlights)}


@pytest.fixture
def records() -> list[dict[str, object]]:
    return library(random.Random(7), 30)


@pytest.fixture
def server(records: list[dict[str, object]]) -> Iterator[FakeReadwise]:
    with FakeReadwise(token=TOKEN, page_size=7) as fake:
        for record in records:
            fake.add_book(record)
        yield fake


def test_both_sources_send_the_whole_library_first(
    server: FakeReadwise, records: list[dict[str, object]]
) -> None:
    memory = MemorySource.of([Book.model_validate(r) for r in records], page_size=7)
    with fast_client(server) as client:
        export = ExportV2Source(client)
        over_http = books_of(export, None)
        assert export.requests == 5  # 30 documents, 7 a page
    assert over_http == books_of(memory, None)
    assert len(over_http) == 30
    assert memory.requests == 5


def test_a_change_sends_its_document_whole_and_the_cursor_moves_on(
    server: FakeReadwise, records: list[dict[str, object]]
) -> None:
    memory = MemorySource.of([Book.model_validate(r) for r in records])
    first_cursor = memory.cursor(None)
    with fast_client(server) as client:
        export = ExportV2Source(client)
        books_of(export, None)
        http_cursor = export.cursor(None)
        assert http_cursor is not None
        changed = Book.model_validate(server.books()[3])
        server.update_highlight(changed.highlights[0].id, text="changed")
        again = ExportV2Source(client)
        assert books_of(again, http_cursor) == ids_of(changed)
    edited = Book.model_validate(records[3])
    first = edited.highlights[0].model_copy(
        update={"text": "changed", "updated_at": first_cursor + timedelta(minutes=1)}
    )
    memory.put(edited.model_copy(update={"highlights": [first, *edited.highlights[1:]]}))
    assert books_of(memory, first_cursor) == ids_of(edited)
    later = memory.cursor(first_cursor)
    assert later is not None and later > first_cursor
    assert books_of(memory, later) == {}


def test_retried_documents_come_whole_even_unchanged(records: list[dict[str, object]]) -> None:
    memory = MemorySource.of([Book.model_validate(r) for r in records])
    cursor = memory.cursor(None)
    assert set(books_of(memory, cursor, retry=["4", "9"])) == {"4", "9"}


def test_documents_by_id_are_whole_and_once(
    server: FakeReadwise, records: list[dict[str, object]]
) -> None:
    memory = MemorySource.of([Book.model_validate(r) for r in records])
    with fast_client(server) as client:
        over_http = ExportV2Source(client).documents(["5", "2", "5", "999"])
    in_memory = memory.documents(["5", "2", "5", "999"])
    for got in (over_http, in_memory):
        assert sorted(d.id for d in got) == ["2", "5"]  # 999 is nowhere: left out
    assert {d.id: len(d.highlights) for d in over_http} == {
        d.id: len(d.highlights) for d in in_memory
    }


def test_a_cursor_from_a_wrong_clock_is_behind_the_source() -> None:
    memory = MemorySource.of([], now=datetime(2026, 1, 1, tzinfo=UTC))
    assert memory.behind(datetime(2026, 1, 2, tzinfo=UTC))
    assert not memory.behind(datetime(2026, 1, 1, tzinfo=UTC))
