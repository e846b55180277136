"""One odd value costs nothing, one unreadable record costs only its document.

An odd value (a null where text belongs, a tag given as a string, a fractional location,
a timestamp that is no date) is read as none or leniently, with one warning naming the
document and the field; a record that can't be read at all (no id) is left out of its
page and listed in ``ExportPage.skipped``; the rest of the page is as if it were alone.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from readwise_sync.app.config import Settings
from readwise_sync.app.wiring import sync_once
from readwise_sync.notes import naming
from readwise_sync.notes.naming import note_relpath
from readwise_sync.readwise.fakeapi import FakeReadwise
from readwise_sync.readwise.wire import Book, ExportPage, Highlight

from .conftest import REFDATA, TOKEN, need_shared, note_files, settings_for


def book(**kw: Any) -> dict[str, Any]:
    return {"user_book_id": 7, "title": "Walden", "highlights": [highlight()], **kw}


def highlight(**kw: Any) -> dict[str, Any]:
    return {"id": 70, "text": "x", "location": 1, "location_type": "page", **kw}


OTHER = {"user_book_id": 8, "title": "Other", "highlights": [highlight(id=80)]}


def page_of(*books: Any, **kw: Any) -> bytes:
    return json.dumps({"count": 1, "nextPageCursor": None, "results": list(books), **kw}).encode()


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# (what, the odd record, the record it reads as, a word the warning must hold)
ODD = [
    ("null title", book(title=None), book(title=""), "title"),
    ("numeric title", book(title=1984), book(title="1984"), "title"),
    ("null category", book(category=None), book(category="books"), "category"),
    (
        "null text",
        book(highlights=[highlight(text=None)]),
        book(highlights=[highlight(text="")]),
        "text",
    ),
    (
        "numeric text",
        book(highlights=[highlight(text=42)]),
        book(highlights=[highlight(text="42")]),
        "text",
    ),
    (
        "null book tag name",
        book(book_tags=[{"id": 1, "name": None}, {"id": 2, "name": "kept"}]),
        book(book_tags=[{"id": 2, "name": "kept"}]),
        "tag",
    ),
    (
        "null tag",
        book(book_tags=[None, {"name": "kept"}]),
        book(book_tags=[{"name": "kept"}]),
        "tag",
    ),
    (
        "null highlight tag name",
        book(highlights=[highlight(tags=[{"id": 3, "name": None}])]),
        book(highlights=[highlight(tags=[])]),
        "tag",
    ),
    (
        "tags as bare strings",
        book(book_tags=["blue"], highlights=[highlight(tags=["red", {"id": 4, "name": "x"}])]),
        book(
            book_tags=[{"name": "blue"}],
            highlights=[highlight(tags=[{"name": "red"}, {"id": 4, "name": "x"}])],
        ),
        "tag",
    ),
    ("tags as one string", book(book_tags="blue"), book(book_tags=[{"name": "blue"}]), "tag"),
    (
        "fractional location",
        book(highlights=[highlight(location=12.5, end_location=13.75)]),
        book(highlights=[highlight(location=12, end_location=13)]),
        "location",
    ),
    (
        "fractional location as text",
        book(highlights=[highlight(location="12.5")]),
        book(highlights=[highlight(location=12)]),
        "location",
    ),
    (
        "unreadable location",
        book(highlights=[highlight(location="twelve")]),
        book(highlights=[highlight(location=None)]),
        "location",
    ),
    (
        "highlighted_at no date",
        book(highlights=[highlight(highlighted_at="yesterday")]),
        book(highlights=[highlight(highlighted_at=None)]),
        "highlighted_at",
    ),
    (
        "updated_at out of range",
        book(highlights=[highlight(updated_at="2024-13-45T99:00:00Z")]),
        book(highlights=[highlight()]),
        "updated_at",
    ),
    (
        "updated (the /highlights/ name) no date",
        book(highlights=[highlight(updated="soon")]),
        book(highlights=[highlight()]),
        "updated",
    ),
    (
        "created_at a list",
        book(highlights=[highlight(created_at=[2024, 1, 1])]),
        book(highlights=[highlight()]),
        "created_at",
    ),
    (
        "odd flag",
        book(highlights=[highlight(is_favorite="maybe")]),
        book(highlights=[highlight(is_favorite=False)]),
        "is_favorite",
    ),
    (
        "tag id no number",
        book(book_tags=[{"id": "t1", "name": "a"}]),
        book(book_tags=[{"name": "a"}]),
        "id",
    ),
]


@pytest.mark.parametrize(("odd", "reading", "field"), [c[1:] for c in ODD], ids=[c[0] for c in ODD])
def test_an_odd_value_is_read_leniently_with_one_warning(
    odd: dict[str, Any], reading: dict[str, Any], field: str, caplog: pytest.LogCaptureFixture
) -> None:
    expected = ExportPage.parse(page_of(reading, OTHER))
    assert warnings(caplog) == []
    parsed = ExportPage.parse(page_of(odd, OTHER))
    assert parsed.model_dump() == expected.model_dump()
    assert parsed.skipped == []
    (line,) = warnings(caplog)
    assert "book 7" in line and field in line
    if isinstance(odd["title"], str):
        assert "Walden" in line
    (repair,) = parsed.repaired
    assert repair.book_id == 7 and str(repair) == line
    # The careful path on its own (what the stdlib's decoder gives) reads it the same way.
    caplog.clear()
    careful = ExportPage.model_validate(json.loads(page_of(odd, OTHER)))
    assert careful.model_dump() == expected.model_dump()
    assert len(warnings(caplog)) == 1


def test_a_null_author_is_no_author_and_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    parsed = ExportPage.parse(page_of(book(author=None, summary=None, highlights=[])))
    assert parsed.results[0].author is None
    assert warnings(caplog) == [] and parsed.repaired == []


@pytest.mark.parametrize("readable_title", [None, "", "Walden"])
def test_a_null_title_still_names_the_note(readable_title: str | None) -> None:
    (parsed,) = ExportPage.parse(page_of(book(title=None, readable_title=readable_title))).results
    expected = readable_title or "Untitled"
    assert parsed.display_title == expected
    path = note_relpath(
        "Readwise", parsed.category, parsed.display_title, book_id=7, is_taken=set().__contains__
    )
    assert path == f"Readwise/Books/{expected}.md"


def test_many_odd_values_in_a_document_make_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    odd = book(
        title=None,
        category=None,
        highlights=[highlight(id=i, location=i + 0.5, highlighted_at="never") for i in range(50)],
    )
    parsed = ExportPage.parse(page_of(odd, OTHER))
    assert [h.location for h in parsed.results[0].highlights] == list(range(50))
    assert all(h.highlighted_at is None for h in parsed.results[0].highlights)
    (line,) = warnings(caplog)
    for field in ("book 7", "title", "category", "location", "highlighted_at"):
        assert field in line
    assert "49 more" in line and len(line) < 600  # one line, not one per highlight


def test_a_tag_read_and_a_tag_left_out_are_both_told(caplog: pytest.LogCaptureFixture) -> None:
    parsed = ExportPage.parse(page_of(book(book_tags=["blue", {"name": None}, None])))
    assert [t.name for t in parsed.results[0].book_tags] == ["blue"]
    (line,) = warnings(caplog)
    assert "read as a tag named blue" in line
    assert "left out" in line and "1 more" in line  # the two tags left out, one phrase


def test_an_odd_count_costs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    parsed = ExportPage.parse(page_of(book(), count="many"))
    assert parsed.count is None and [b.user_book_id for b in parsed.results] == [7]
    (line,) = warnings(caplog)
    assert "count" in line


# -- records that can't be read -------------------------------------------------------------


UNREADABLE = [
    ({"title": "No id", "highlights": [highlight()]}, None, "No id", "user_book_id"),
    (book(user_book_id="abc", title="Letters"), None, "Letters", "user_book_id"),
    (book(user_book_id=2.5, title="Half"), None, "Half", "user_book_id"),
    (book(user_book_id=None, title=None), None, "", "user_book_id"),
    (
        book(user_book_id=3, title="No hl id", highlights=[highlight(), {"text": "t"}]),
        3,
        "No hl id",
        "id",
    ),
    (book(user_book_id=4, title="Bad hl id", highlights=[highlight(id="x")]), 4, "Bad hl id", "id"),
    (
        book(user_book_id=5, title="Hl a string", highlights=["just text"]),
        5,
        "Hl a string",
        "highlight",
    ),
    (book(user_book_id=6, title="Highlights an object", highlights={"a": 1}), 6, "", "highlights"),
    ("a string", None, "", "object"),
    (None, None, "", "object"),
]


@pytest.mark.parametrize(("raw", "book_id", "title", "why"), UNREADABLE)
def test_an_unreadable_record_is_left_out_of_its_page(
    raw: Any, book_id: int | None, title: str, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    data = page_of(book(user_book_id=1), raw, book(user_book_id=9, title=None))
    parsed = ExportPage.parse(data)
    assert [b.user_book_id for b in parsed.results] == [1, 9]
    (skipped,) = parsed.skipped
    assert skipped.book_id == book_id
    assert skipped.what and title in skipped.what
    if book_id is not None:
        assert str(book_id) in skipped.what
    assert why in skipped.why
    assert str(skipped) == f"{skipped.what}: {skipped.why}"
    # Only the readable book with an odd value (book 9's null title) warns.
    (line,) = warnings(caplog)
    assert "book 9" in line
    careful = ExportPage.model_validate(json.loads(data))
    assert careful.skipped == parsed.skipped
    assert careful.model_dump() == parsed.model_dump()


def test_a_skipped_record_s_odd_values_are_not_reported(caplog: pytest.LogCaptureFixture) -> None:
    odd = book(user_book_id=3, title=None, highlights=[highlight(location=1.5), {"text": None}])
    parsed = ExportPage.parse(page_of(odd, OTHER))
    assert [b.user_book_id for b in parsed.results] == [8]
    assert [s.book_id for s in parsed.skipped] == [3]
    assert warnings(caplog) == [] and parsed.repaired == []


def test_what_cannot_be_read_alone_is_still_an_error() -> None:
    with pytest.raises(ValidationError):
        ExportPage.parse(b'{"count": 1, "results": {"user_book_id": 1}}')
    with pytest.raises(ValidationError):
        Book.model_validate({"title": "no id"})
    with pytest.raises(ValidationError):
        Book.model_validate(book(highlights=[{"text": "no id"}]))
    with pytest.raises(ValidationError):
        Highlight.model_validate({"text": "no id"})


def test_a_single_book_is_read_leniently_too(caplog: pytest.LogCaptureFixture) -> None:
    parsed = Book.model_validate(book(title=None, highlights=[highlight(location=2.5)]))
    assert parsed.title == "" and parsed.highlights[0].location == 2
    (line,) = warnings(caplog)
    assert "book 7" in line and "title" in line and "location" in line


def test_an_ordinary_page_has_nothing_skipped_or_repaired(caplog: pytest.LogCaptureFixture) -> None:
    parsed = ExportPage.parse(page_of(book(), OTHER))
    assert parsed.skipped == [] and parsed.repaired == []
    assert warnings(caplog) == []


# -- real recorded data ----------------------------------------------------------------------


def test_real_page_with_odd_values_keeps_every_other_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = json.loads(
        need_shared(REFDATA / "v2_export_page_supplementals__readwise-ruby.json").read_text()
    )
    clean = ExportPage.parse(json.dumps(raw).encode())
    odd = copy.deepcopy(raw)
    books = odd["results"]
    books[0]["title"] = None
    books[1]["highlights"][3]["location"] = 7.5
    books[2]["highlights"][0]["created_at"] = "not a date"
    books[3]["book_tags"] = ["blue"]
    books[4]["highlights"][1]["tags"] = [{"id": 1, "name": None}, {"id": 2, "name": "kept"}]
    books[5]["highlights"][2]["text"] = None
    del books[6]["highlights"][0]["id"]
    del books[7]["user_book_id"]
    parsed = ExportPage.parse(json.dumps(odd).encode())

    assert [s.book_id for s in parsed.skipped] == [raw["results"][6]["user_book_id"], None]
    assert raw["results"][7]["title"] in parsed.skipped[1].what
    got = {b.user_book_id: b.model_dump() for b in parsed.results}
    want = {b.user_book_id: b.model_dump() for b in clean.results}
    skipped = {raw["results"][i]["user_book_id"] for i in (6, 7)}
    assert set(got) == set(want) - skipped
    want_changes = {0: {"title"}, 3: {"book_tags"}} | {i: {"highlights"} for i in (1, 2, 4, 5)}
    for i, b in enumerate(raw["results"]):
        if b["user_book_id"] in skipped:
            continue
        a, w = got[b["user_book_id"]], want[b["user_book_id"]]
        assert {k for k in w if a[k] != w[k]} == want_changes.get(i, set()), i
    by_index = parsed_by_raw(parsed, raw["results"])
    assert by_index[0].display_title == raw["results"][0]["readable_title"]
    assert by_index[1].highlights[3].location == 7
    assert by_index[2].highlights[0].created_at is None
    assert [t.name for t in by_index[3].book_tags] == ["blue"]
    assert [t.name for t in by_index[4].highlights[1].tags] == ["kept"]
    assert by_index[5].highlights[2].text == ""
    assert len(warnings(caplog)) == 6


def parsed_by_raw(page: ExportPage, books: list[dict[str, Any]]) -> list[Book]:
    """The parsed books of the first six raw ones, in their order."""
    by_id = {b.user_book_id: b for b in page.results}
    return [by_id[b["user_book_id"]] for b in books[:6]]


# -- a whole sync ----------------------------------------------------------------------------


def library() -> list[dict[str, Any]]:
    return [
        book(user_book_id=1, title=None, readable_title=None, category=None),
        book(
            user_book_id=2,
            title="Tags",
            book_tags=["blue", {"name": None}],
            highlights=[highlight(id=20, tags=["red"])],
        ),
        book(
            user_book_id=3,
            title="Places",
            highlights=[
                highlight(id=30, location=12.5, text=None),
                highlight(id=31, text="later", location=13),
            ],
        ),
        book(
            user_book_id=4,
            title="Times",
            highlights=[highlight(id=40, highlighted_at="yesterday", updated_at="?")],
        ),
        book(
            user_book_id=5,
            title="Wal\u200bden\u00ad \u2060Pond\ufeff",
            highlights=[highlight(id=50, text="zero\u200bwidth")],
        ),
    ]


def sync_settings(tmp_path: Path, fake: FakeReadwise) -> tuple[Settings, Path]:
    vault = tmp_path / "vault"
    vault.mkdir()
    conf = settings_for(fake, vault, tmp_path / "state", timezone="UTC", retries=0, timeout=30)
    return conf, vault


def test_a_library_with_odd_values_syncs_every_document(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeReadwise(library(), token=TOKEN) as fake:
        conf, vault = sync_settings(tmp_path, fake)
        report = sync_once(conf)
        notes = note_files(vault)
        assert sorted(notes) == [
            "Readwise/Books/Places.md",
            "Readwise/Books/Tags.md",
            "Readwise/Books/Times.md",
            "Readwise/Books/Untitled.md",
            "Readwise/Books/Walden Pond.md",
        ]
        assert len(report.created) == 5
        lines = warnings(caplog)
        assert len([line for line in lines if "read leniently" in line]) == 4
        tags = notes["Readwise/Books/Tags.md"]
        assert "[[blue]]" in tags and "[[red]]" in tags and "None" not in tags
        assert "Page 12" in notes["Readwise/Books/Places.md"]
        # Format characters leave the file name only: the title and text keep them.
        walden = notes["Readwise/Books/Walden Pond.md"]
        assert "Wal\u200bden\u00ad \u2060Pond\ufeff" in walden and "zero\u200bwidth" in walden
        again = sync_once(conf, full=True)
        assert again.created == [] and again.updated == []


def test_a_tracked_note_keeps_the_name_it_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names only change for new notes: a note an older version named with a zero-width
    space in it stays where it is, and its updates go there."""
    old_name = "Readwise/Books/Wal\u200bden.md"
    with FakeReadwise([book(user_book_id=5, title="Wal\u200bden")], token=TOKEN) as fake:
        conf, vault = sync_settings(tmp_path, fake)
        with monkeypatch.context() as patch:
            patch.setattr(naming, "note_relpath", lambda *a, **k: old_name)
            sync_once(conf)
        assert list(note_files(vault)) == [old_name]
        new_name = naming.note_relpath(
            "Readwise", "books", "Wal\u200bden", book_id=5, is_taken=set().__contains__
        )
        assert new_name == "Readwise/Books/Walden.md"
        fake.add_highlight(5, id=71, text="Arrived later.", location=2, location_type="page")
        report = sync_once(conf)
        assert report.updated == [old_name] and report.created == []
        notes = note_files(vault)
        assert list(notes) == [old_name] and "Arrived later." in notes[old_name]
