"""The tolerant models of the Readwise export: real recorded data and every documented drift."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readwise_sync.readwise.wire import Book, ExportPage, Highlight, ReaderDocument, Tag

from .conftest import REFDATA, need_shared


def load_ref(name: str) -> Any:
    return json.loads(need_shared(REFDATA / name).read_text(encoding="utf-8"))


def book(**kw: Any) -> dict[str, Any]:
    return {"user_book_id": 1, "title": "T", **kw}


def highlight(**kw: Any) -> dict[str, Any]:
    return {"id": 1, "text": "x", **kw}


# -- real recorded data ------------------------------------------------------------------------


def test_real_v2_export_page() -> None:
    page = ExportPage.model_validate(load_ref("v2_export_page_supplementals__readwise-ruby.json"))
    assert page.count == 521
    assert len(page.results) == 9
    assert sum(len(b.highlights) for b in page.results) == 521
    assert page.next_page_cursor is None
    for b in page.results:
        # 2023 data: no summary, no is_deleted, no book external_id; document_note null.
        assert b.summary is None
        assert b.is_deleted is False
        assert b.external_id is None
        assert all(h.book_id == b.user_book_id for h in b.highlights)
        assert all(h.highlighted_at is None for h in b.highlights)  # supplementals
        assert all(h.note is None or h.note.strip() for h in b.highlights)


def test_real_v2_export_results_list() -> None:
    raw = load_ref("v2_export_results_kindle__quoordinates.json")
    books = [Book.model_validate(item) for item in raw]
    assert len(books) == 3
    assert sum(len(b.highlights) for b in books) == 51
    for b in books:
        assert b.category == "books"
        for h in b.highlights:
            assert h.highlighted_at is None or h.highlighted_at.tzinfo is not None
            assert h.note is None or h.note.strip()


def test_real_v2_highlight_detail() -> None:
    raw = load_ref("v2_highlight_detail_kindle__readwise-ruby.json")
    assert "updated" in raw and "updated_at" not in raw
    h = Highlight.model_validate(raw)
    assert h.updated_at == datetime(2023, 2, 25, 5, 32, 38, 34577, tzinfo=UTC)
    assert h.highlighted_at == datetime(2020, 5, 9, 4, 56, tzinfo=UTC)
    assert h.location_type == "location"
    assert h.note is None  # "" in the data
    assert [t.name for t in h.tags] == ["blue"]


@pytest.mark.parametrize("kind", ["documents", "highlights", "notes"])
def test_real_v3_list_results(kind: str) -> None:
    raw = load_ref(f"v3_list_results_{kind}__readwise-reader-cli.json")
    docs = [ReaderDocument.model_validate(item) for item in raw]
    assert docs and len(docs) == len(raw)
    for doc, item in zip(docs, raw, strict=True):
        assert doc.id == item["id"]
        assert doc.created_at is not None and doc.created_at.tzinfo is not None
        assert isinstance(doc.tags, dict)  # null on highlight and note documents
        if item.get("parent_id"):
            assert doc.parent_id == item["parent_id"]


# -- the documented example (readwise-api.md §1.5) ---------------------------------------------

DOC_EXAMPLE = """
{"count": 2, "nextPageCursor": null, "results": [{
  "user_book_id": 123, "is_deleted": false, "title": "Some title", "author": "Some author",
  "readable_title": "Some title", "source": "raindrop",
  "cover_image_url": "https://cover.com/image.png",
  "unique_url": "", "book_tags": [], "category": "articles", "document_note": "", "summary": "",
  "readwise_url": "https://readwise.io/bookreview/123", "source_url": "",
  "external_id": "01arz3ndektsv4rrffq69g5fav", "asin": null,
  "highlights": [
   {"id": 456, "is_deleted": false, "text": "\u201cXPTO.\u201d", "location": 1,
    "location_type": "order", "note": null, "color": "yellow",
    "highlighted_at": "2022-09-13T16:41:53.186Z", "created_at": "2022-09-13T16:41:53.186Z",
    "updated_at": "2022-09-14T18:50:30.564Z", "external_id": "6320b2bd7fbcdd7b0c000b3e",
    "end_location": null, "url": null, "book_id": 123, "tags": [], "is_favorite": false,
    "is_discard": false, "readwise_url": "https://readwise.io/open/456"},
   {"id": 890, "is_deleted": false, "text": "Foo Bar.", "location": 2,
    "location_type": "order", "note": null, "color": "yellow",
    "highlighted_at": "2022-09-13T16:41:53.186Z", "created_at": "2022-09-13T16:41:53.186Z",
    "updated_at": "2022-09-14T18:50:30.568Z", "external_id": "6320b2c77fbcdde217000b3f",
    "end_location": null, "url": null, "book_id": 123, "tags": [], "is_favorite": false,
    "is_discard": false, "readwise_url": "https://readwise.io/open/890"}]}]}
"""


def test_documented_example() -> None:
    page = ExportPage.model_validate_json(DOC_EXAMPLE)
    assert page.count == 2 and page.next_page_cursor is None
    (b,) = page.results
    assert b.user_book_id == 123 and b.category == "articles" and b.source == "raindrop"
    # "" in the docs, stored as None like real data's null.
    assert b.unique_url is None and b.source_url is None
    assert b.summary is None and b.document_note is None
    assert b.external_id == "01arz3ndektsv4rrffq69g5fav" and b.asin is None
    assert [h.id for h in b.live_highlights()] == [456, 890]
    first = b.highlights[0]
    assert first.text == "\u201cXPTO.\u201d"
    assert first.highlighted_at == datetime(2022, 9, 13, 16, 41, 53, 186000, tzinfo=UTC)
    assert first.updated_at == datetime(2022, 9, 14, 18, 50, 30, 564000, tzinfo=UTC)
    assert first.note is None and first.color == "yellow" and first.end_location is None


# -- drift: keys, nulls, empties -----------------------------------------------------------------


def test_2023_shape_without_new_keys() -> None:
    raw = book(author="A", highlights=[highlight(location=3, location_type="location")])
    b = Book.model_validate(raw)
    assert b.summary is None and b.external_id is None and b.is_deleted is False
    assert b.highlights[0].is_deleted is False and b.highlights[0].is_live


def test_unknown_keys_ignored() -> None:
    raw = book(
        resurface_weighting=1.0,
        source_syncs_all_books_together=False,
        book_tags=[{"id": 1, "user_book": 1, "name": "baselines"}],
        highlights=[highlight(brand_new_field={"a": [1]})],
    )
    b = Book.model_validate(raw)
    assert b.book_tags == [Tag(id=1, name="baselines")]
    assert not hasattr(b, "resurface_weighting")
    page = ExportPage.model_validate({"count": 0, "results": [], "futureKey": 1})
    assert page.results == []


@pytest.mark.parametrize("empty", [None, "", "   "])
def test_null_and_empty_text_are_alike(empty: str | None) -> None:
    fields = ("url", "source_url", "summary", "document_note", "unique_url", "author")
    b = Book.model_validate(
        {
            **book(**dict.fromkeys(fields, empty)),
            "highlights": [highlight(note=empty, url=empty)],
        }
    )
    for name in ("source_url", "summary", "document_note", "unique_url", "author"):
        assert getattr(b, name) is None, name
    assert b.highlights[0].note is None
    assert b.highlights[0].url is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"nextPageCursor": 49244648}, "49244648"),
        ({"nextPageCursor": "49244648"}, "49244648"),
        ({"nextPageCursor": "01h8707jqgjsfzznh281xxashb"}, "01h8707jqgjsfzznh281xxashb"),
        ({"nextPageCursor": None}, None),
        ({}, None),
        ({"nextPageCursor": ""}, None),
    ],
)
def test_next_page_cursor(raw: dict[str, Any], expected: str | None) -> None:
    page = ExportPage.model_validate({"count": 0, "results": [], **raw})
    assert page.next_page_cursor == expected


@pytest.mark.parametrize(
    "location_type", ["location", "page", "order", "offset", "time_offset", "none", "hologram"]
)
def test_location_type_is_open(location_type: str) -> None:
    h = Highlight.model_validate(highlight(location_type=location_type))
    assert h.location_type == location_type


@pytest.mark.parametrize("location", [0, None, 78999682, 2**40])
def test_location_values(location: int | None) -> None:
    assert Highlight.model_validate(highlight(location=location)).location == location


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-08-06T16:23:21.803Z", datetime(2021, 8, 6, 16, 23, 21, 803000, tzinfo=UTC)),
        ("2023-07-23T04:56:00Z", datetime(2023, 7, 23, 4, 56, tzinfo=UTC)),
        ("2025-12-22T18:04:41.152618Z", datetime(2025, 12, 22, 18, 4, 41, 152618, tzinfo=UTC)),
        (
            "2023-08-19T13:37:24.567027+00:00",
            datetime(2023, 8, 19, 13, 37, 24, 567027, tzinfo=UTC),
        ),
        ("2024-01-01T10:00:00", datetime(2024, 1, 1, 10, tzinfo=UTC)),
    ],
)
def test_timestamps(text: str, expected: datetime) -> None:
    h = Highlight.model_validate(highlight(highlighted_at=text, created_at=text, updated_at=text))
    for moment in (h.highlighted_at, h.created_at, h.updated_at):
        assert moment == expected
        assert moment is not None and moment.utcoffset() is not None
        assert moment.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_highlighted_at_null() -> None:
    h = Highlight.model_validate(highlight(highlighted_at=None, created_at="2021-08-06T16:23Z"))
    assert h.highlighted_at is None
    assert h.created_at == datetime(2021, 8, 6, 16, 23, tzinfo=UTC)


def test_a_timestamp_that_is_no_date_is_none() -> None:
    h = Highlight.model_validate(highlight(highlighted_at="yesterday", created_at="2021-08-06"))
    assert h.highlighted_at is None
    assert h.created_at == datetime(2021, 8, 6, tzinfo=UTC)


def test_tags_null_becomes_empty_list() -> None:
    b = Book.model_validate(book(book_tags=None, highlights=[highlight(tags=None)]))
    assert b.book_tags == []
    assert b.highlights[0].tags == []
    assert Book.model_validate(book(highlights=None)).highlights == []
    doc = ReaderDocument.model_validate({"id": "01h", "tags": None})
    assert doc.tags == {}


def test_live_highlights_filters_and_sorts() -> None:
    b = Book.model_validate(
        book(
            highlights=[
                highlight(id=1, location=None),
                highlight(id=2, location=30),
                highlight(id=3, location=10, is_deleted=True),
                highlight(id=4, location=0),
                highlight(id=5, location=20, is_discard=True),
                highlight(id=6, location=20),
                highlight(id=7, location=None),
                highlight(id=8, location=5, is_deleted=True, is_discard=True),
                highlight(id=0, location=20),
            ]
        )
    )
    assert [h.id for h in b.live_highlights()] == [4, 0, 6, 2, 1, 7]
    assert len(b.highlights) == 9  # the raw list keeps everything


def test_lone_surrogates_become_replacement_char() -> None:
    # json.loads (what an HTTP client uses) lets a lone surrogate escape through.
    raw = json.loads(
        '{"user_book_id": 1, "title": "a\\ud800b", "author": "\\udfff",'
        ' "book_tags": [{"name": "t\\ud83d"}],'
        ' "highlights": [{"id": 1, "text": "x\\ude00y", "note": "ok \\ud83d\\ude00"}]}'
    )
    b = Book.model_validate(raw)
    assert b.title == "a\ufffdb"
    assert b.author == "\ufffd"
    assert b.book_tags[0].name == "t\ufffd"
    assert b.highlights[0].text == "x\ufffdy"
    assert b.highlights[0].note == "ok \U0001f600"  # a proper pair is a real character
    # Whatever is rendered from it can be written as UTF-8.
    b.model_dump_json().encode("utf-8")
    doc = ReaderDocument.model_validate({"id": "01h", "content": "c\ud800", "title": "\udbff"})
    assert doc.content == "c\ufffd" and doc.title == "\ufffd"


# -- the fast path: JSON straight into the models ----------------------------------------------

_awkward_text = st.lists(
    st.one_of(
        st.sampled_from(["\r\n", "\r", "\n", "\\", "\\r", "\ud83d", "\ude00", "é", "😀"]),
        st.characters(codec="utf-8"),
    ),
    max_size=12,
).map("".join)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    title=_awkward_text,
    text=_awkward_text,
    note=_awkward_text,
    tag=_awkward_text.filter(str.strip),
    ascii_only=st.booleans(),
)
def test_json_parse_equals_the_careful_path(
    title: str, text: str, note: str, tag: str, ascii_only: bool
) -> None:
    """Parsing bytes (pydantic's parser, cleaning only when needed) gives exactly what
    decoding with the stdlib and cleaning every string gives, whatever the text holds."""
    data = {
        "count": 1,
        "nextPageCursor": None,
        "results": [
            book(
                title=title,
                highlights=[highlight(text=text, note=note, tags=[{"name": tag}])],
            )
        ],
    }
    raw = json.dumps(data, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    fast = ExportPage.parse(raw)
    careful = ExportPage.model_validate(json.loads(raw))
    assert fast.model_dump() == careful.model_dump()
    parsed = fast.results[0]
    for value in (parsed.title, parsed.highlights[0].text, parsed.highlights[0].note or ""):
        assert "\r" not in value
        value.encode("utf-8")  # no lone surrogate left


def test_carriage_returns_in_json_become_newlines() -> None:
    raw = (
        b'{"results": [{"user_book_id": 1, "title": "a\\r\\nb\\u000Dc",'
        b' "highlights": [{"id": 1, "text": "one\\rtwo", "note": "C:\\\\reports"}]}]}'
    )
    page = ExportPage.parse(raw)
    assert page.results[0].title == "a\nb\nc"
    assert page.results[0].highlights[0].text == "one\ntwo"
    assert page.results[0].highlights[0].note == "C:\\reports"  # a backslash and an r


# Values the native types take as they are, values only the careful path accepts, and
# values only read leniently (as none, or a fraction rounded down).
_loose_numbers = st.sampled_from(
    [None, 0, 7, 2**40, "", "  ", "12", 3.0, "x", True, 12.5, "12.5", -0.5, 1e300, "NaN", [1]]
)
_loose_times = st.sampled_from(
    [
        None,
        "",
        " ",
        "2021-08-06T16:23:21.803Z",
        "2021-08-06T16:23:21.803z",
        " 2023-07-23T04:56:00Z ",
        "2024-01-01T10:00:00",
        "2024-01-01",
        "2023-08-19T13:37:24.567027+02:00",
        "1700000000",
        1700000000,
        "20240101",
        "19991231",
        "0",
        " -1 ",
        "1000000000.0",
        "yesterday",
        "2024-13-45T99:00:00Z",
        "1e999",
        {"date": "2024-01-01"},
    ]
)
_loose_texts = st.sampled_from([None, "", " \t", "text", " padded ", 42, ["a"]])
_loose_lists = st.sampled_from(
    [
        None,
        [],
        [{"id": 3, "name": "tag"}],
        [{"id": "", "name": "t"}],
        ["blue"],
        [{"id": 4, "name": None}, None, "red", 5],
        "green",
        {"name": "x"},
    ]
)
# A required text or id: as it should be, null, missing, or of the wrong kind.
_MISSING = object()
_loose_titles = st.sampled_from([_MISSING, None, "", "T", 1984, {"a": 1}])
_loose_ids = st.sampled_from([1, "1", _MISSING, None, "x", 2.5])


def _put(item: dict[str, Any], **values: Any) -> dict[str, Any]:
    return {**item, **{k: v for k, v in values.items() if v is not _MISSING}}


@settings(max_examples=500, deadline=None, derandomize=True)
@given(
    number=_loose_numbers,
    moment=_loose_times,
    text=_loose_texts,
    tags=_loose_lists,
    title=_loose_titles,
    book_id=_loose_ids,
    highlight_id=_loose_ids,
    highlights_null=st.booleans(),
)
def test_fast_path_equals_careful_path_for_loose_values(
    number: Any,
    moment: Any,
    text: Any,
    tags: Any,
    title: Any,
    book_id: Any,
    highlight_id: Any,
    highlights_null: bool,
) -> None:
    """JSON straight into the native types (then one tidying pass) gives what preparing
    each field in Python first gives; an odd value never refuses the page, and a record
    without a readable id is the only thing left out (on both paths alike)."""
    item = _put(
        {"text": "x"},
        id=highlight_id,
        text=title,
        location=number,
        end_location=number,
        highlighted_at=moment,
        updated=moment,
        note=text,
        url=text,
        tags=tags,
    )
    record = _put(
        {},
        user_book_id=book_id,
        title=title,
        category=title,
        author=text,
        book_tags=tags,
        highlights=None if highlights_null else [item],
    )
    data = {"count": number, "results": [record, book(user_book_id=2)]}
    raw = json.dumps(data).encode()
    careful = ExportPage.model_validate(json.loads(raw))
    fast = ExportPage.parse(raw)
    assert fast.model_dump() == careful.model_dump()
    assert fast.model_dump_json() == careful.model_dump_json()
    assert fast.skipped == careful.skipped
    assert [str(r) for r in fast.repaired] == [str(r) for r in careful.repaired]
    unreadable = book_id in (_MISSING, None, "x", 2.5) or (
        not highlights_null and highlight_id in (_MISSING, None, "x", 2.5)
    )
    assert len(fast.skipped) == unreadable
    assert [b.user_book_id for b in fast.results] == ([2] if unreadable else [1, 2])
    for parsed in fast.results[0].highlights:
        for value in (parsed.highlighted_at, parsed.updated_at):
            assert value is None or value.utcoffset() is not None
        assert parsed.note is None or parsed.note.strip()
        assert parsed.location is None or isinstance(parsed.location, int)


def test_an_ordinary_page_needs_no_python_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path is the one taken for ordinary data: the stdlib decoder never runs."""
    page = {
        "count": 2,
        "nextPageCursor": 17,
        "results": [
            book(
                author="",
                summary=None,
                book_tags=[],
                highlights=[
                    highlight(note="", location=5, highlighted_at="2024-01-01T10:00:00Z"),
                    highlight(id=2, note="n", location=None, created_at="2024-01-01T10:00:00"),
                ],
            )
        ],
    }
    raw = json.dumps(page).encode()
    monkeypatch.setattr("readwise_sync.readwise.wire.json.loads", lambda *_: pytest.fail("careful"))
    parsed = ExportPage.parse(raw)
    (first, second) = parsed.results[0].highlights
    assert parsed.results[0].author is None and first.note is None and second.note == "n"
    assert second.created_at == datetime(2024, 1, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize("escaped", [False, True])
def test_a_compact_iso_date_is_that_date_on_every_path(escaped: bool) -> None:
    """pydantic alone would read "20240101" as seconds since 1970; the page goes the
    careful way, where it is the date it says, as it always was (its digits written
    as JSON escapes too)."""
    raw = json.dumps(
        {"results": [book(highlights=[highlight(highlighted_at="20240101", updated="19991231")])]}
    ).encode()
    if escaped:
        raw = raw.replace(b'"2024', b'"\\u0032\\u0030\\u00324')
        raw = raw.replace(b'"1999', b'"1\\u0039\\u00399')
        assert b"2024" not in raw and b"1999" not in raw
        (item,) = json.loads(raw)["results"][0]["highlights"]
        assert (item["highlighted_at"], item["updated"]) == ("20240101", "19991231")
    (parsed,) = ExportPage.parse(raw).results[0].highlights
    assert parsed.highlighted_at == datetime(2024, 1, 1, tzinfo=UTC)
    assert parsed.updated_at == datetime(1999, 12, 31, tzinfo=UTC)
