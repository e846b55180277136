"""The domain documents: what the export's records become, and nothing lost on the way."""

from __future__ import annotations

import dataclasses
import json
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from readwise_sync.domain import Document, Highlight, reading_order
from readwise_sync.readwise.convert import from_record, highlights_changed, to_document
from readwise_sync.readwise.wire import Book

from .conftest import REFDATA, need_shared
from .factories import demo_books, library


def shared_books() -> list[Book]:
    """The books of the recorded export responses (a page, or a bare list of results)."""
    books = []
    for path in sorted(need_shared(REFDATA).glob("v2_export_*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        results = data.get("results", []) if isinstance(data, dict) else data
        books += [Book.model_validate(b) for b in results]
    return books


def assert_carried(book: Book, document: Document) -> None:
    assert document.id == str(book.user_book_id)
    for field in dataclasses.fields(Document):
        if field.init and field.name not in {"id", "tags", "highlights", "source_record"}:
            assert getattr(document, field.name) == getattr(book, field.name), field.name
    assert document.tags == tuple(t.name for t in book.book_tags)
    assert document.display_title == book.display_title
    assert from_record(document.record) == document, "the state's record gives it back"
    assert [h.id for h in document.live_highlights()] == [str(h.id) for h in book.live_highlights()]
    wire = {str(h.id): h for h in book.highlights}
    for highlight in document.highlights:
        source = wire[highlight.id]
        for name in Highlight.__annotations__:
            if name not in {"id", "tags", "is_deleted"}:
                assert getattr(highlight, name) == getattr(source, name), name
        assert highlight.tags == tuple(t.name for t in source.tags)
        assert highlight.is_deleted == (not source.is_live)


def test_the_demo_library_is_carried_whole() -> None:
    for book in demo_books():
        assert_carried(book, to_document(book))


def test_a_generated_library_is_carried_whole() -> None:
    for record in library(random.Random(3), 40):
        book = Book.model_validate(record)
        assert_carried(book, to_document(book))


def test_recorded_export_responses_are_carried_whole() -> None:
    books = shared_books()
    if not books:
        pytest.skip("no recorded export response in ../shared/refdata")
    for book in books:
        assert_carried(book, to_document(book))


@given(
    st.lists(
        st.tuples(st.integers(0, 10**12), st.none() | st.integers(-5, 50), st.booleans()),
        max_size=12,
        unique_by=lambda t: t[0],
    )
)
def test_reading_order_is_the_export_s_order(rows: list[tuple[int, int | None, bool]]) -> None:
    """Location first, the location-less last, ties by id as numbers (not as text)."""
    record = {
        "user_book_id": 1,
        "highlights": [
            {"id": i, "text": f"h{i}", "location": loc, "is_deleted": gone} for i, loc, gone in rows
        ],
    }
    book = Book.model_validate(record)
    assert [h.id for h in to_document(book).live_highlights()] == [
        str(h.id) for h in book.live_highlights()
    ]


def test_ids_that_are_not_numbers_sort_by_location_then_text() -> None:
    later, first = Highlight(id="b", location=2), Highlight(id="a", location=2)
    assert sorted([later, first], key=reading_order) == [first, later]


def test_the_highlights_changed_between_two_records_are_counted_by_their_content() -> None:
    book = max(demo_books(), key=lambda b: len(b.live_highlights()))
    record = to_document(book).record
    first, second = book.live_highlights()[:2]
    only_stamped = book.model_copy(
        update={"highlights": [h.model_copy(update={"updated_at": None}) for h in book.highlights]}
    )
    edited = book.model_copy(
        update={
            "highlights": [
                h.model_copy(update={"text": "rewritten"}) if h is first else h
                for h in book.highlights
                if h is not second
            ]
        }
    )
    assert highlights_changed(record, record) == 0
    assert highlights_changed(record, to_document(only_stamped).record) == 0
    assert highlights_changed(record, to_document(edited).record) == 2  # one edited, one gone
    assert highlights_changed(None, record) == len(book.live_highlights())


def test_a_record_with_other_fields_counts_no_change_of_its_own() -> None:
    """A record an earlier version wrote (a field more or less per highlight) against
    this version's of the same book: nothing changed."""
    book = max(demo_books(), key=lambda b: len(b.live_highlights()))
    record = to_document(book).record
    data = json.loads(record)
    for highlight in data["highlights"]:
        highlight["end_location_v0"] = None
        highlight.pop("color", None)
    earlier = json.dumps(data).encode()
    assert highlights_changed(earlier, record) == 0
    data["highlights"][0]["text"] = "rewritten"
    assert highlights_changed(json.dumps(data).encode(), record) == 1


def test_a_documents_record_is_made_only_when_asked_for() -> None:
    """Most documents a ``--full`` sync reads are unchanged and never written: none of
    them should pay for making its record."""
    book = demo_books()[0]
    made: list[Book] = []
    real = Book.model_dump_json

    def counted(self: Book, **kwargs: Any) -> str:
        made.append(self)
        return real(self, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Book, "model_dump_json", counted)
        document = to_document(book)
        assert made == []
        assert from_record(document.record) == document and made == [book]
    assert to_document(book, b"{}").record == b"{}"  # a record given is kept as it is
