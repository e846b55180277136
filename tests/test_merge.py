"""Merging Readwise's changes into a note the user edited: the rules, by example and by property."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readwise_sync.domain import Document
from readwise_sync.engine.plan import layout_of
from readwise_sync.notes.merge import (
    Conflict,
    Layout,
    MergeResult,
    adopt_layout,
    describe_changes,
    frontmatter_chunks,
    join_frontmatter,
    layout_frontmatter,
    merge_note,
    split_frontmatter,
)
from readwise_sync.notes.render import RenderedNote, Renderer

from .conftest import SAMPLE_NOTE, need_shared
from .factories import demo_book, document

RENDERER = Renderer(tz=ZoneInfo("UTC"))
HEADER = "## Highlights"
# The same examples every run, so CI is repeatable; READWISE_SYNC_HYPOTHESIS_EXAMPLES
# explores fresh random ones (as the other property suites do).
PROPERTY = settings(
    max_examples=int(os.environ.get("READWISE_SYNC_HYPOTHESIS_EXAMPLES", "300")),
    deadline=None,
    derandomize="READWISE_SYNC_HYPOTHESIS_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow],
)


def make_book(highlights: list[dict[str, Any]], **kw: Any) -> Document:
    raw: dict[str, Any] = {
        "user_book_id": 7,
        "title": "A Title",
        "author": "An Author",
        "category": "articles",
        **kw,
        "highlights": highlights,
    }
    return document(raw)


def hl(hid: int, text: str, location: int | None = None, **kw: Any) -> dict[str, Any]:
    """A highlight; its location defaults to its id, so ids give the reading order."""
    return {
        "id": hid,
        "text": text,
        "location": hid if location is None else location,
        "location_type": "offset",
        **kw,
    }


def rendered(book: Document) -> tuple[RenderedNote, Layout]:
    note = RENDERER.render_note(book)
    return note, layout_of(note)


def bullets(text: str) -> list[str]:
    """The top-level bullets below the metadata (highlight blocks and any the user wrote)."""
    body = split_frontmatter(text)[1]
    if "## Metadata\n" in body:
        body = body.split("## Metadata\n", 1)[1].split("\n\n", 1)[-1]
    return re.findall(r"^- .*$", body, re.MULTILINE)


def assert_in_order(text: str, pieces: list[str]) -> None:
    """Every piece is in ``text``, whole, one after the other."""
    position = 0
    for piece in pieces:
        found = text.find(piece, position)
        assert found != -1, f"{piece!r} lost or moved out of order in\n{text}"
        position = found + len(piece)


# -- Layout, frontmatter helpers, descriptions ---------------------------------------------------


def test_layout_json_round_trip_keeps_the_ids_and_their_order() -> None:
    layout = Layout(
        frontmatter={"title": 'title: "T"\n'},
        sections={"header": HEADER},
        blocks={"30": "- c", "10": "- a", "20": "- b"},
        rendered={"h:10": "- a ([View Highlight](https://x.y/1))"},
    )
    data = json.loads(json.dumps(layout.to_json()))
    back = Layout.from_json(data)
    assert back == layout
    assert list(back.blocks) == ["30", "10", "20"]
    assert Layout.from_json(None) == Layout() == Layout.from_json({})
    assert back.rendering("h:10", "- a") == "- a ([View Highlight](https://x.y/1))"
    assert back.rendering("h:20", "- b") == "- b"


def test_split_and_join_frontmatter() -> None:
    assert split_frontmatter("---\na: 1\n---\nbody\n") == ("a: 1\n", "body\n")
    assert split_frontmatter("---\n---\nbody") == ("", "body")
    assert split_frontmatter("---\na: 1\n---") == ("a: 1\n", "")
    assert split_frontmatter("no frontmatter\n---\n") == (None, "no frontmatter\n---\n")
    assert split_frontmatter("---\nunclosed: 1\n") == (None, "---\nunclosed: 1\n")
    # A "---" line in the body (a highlight, a rule) is not the frontmatter's end.
    text = "---\na: 1\n---\n- x\n---\n- y\n"
    assert split_frontmatter(text) == ("a: 1\n", "- x\n---\n- y\n")
    for sample in ("---\na: 1\n---\nbody\n", "---\n---\nbody", "plain\n"):
        assert join_frontmatter(*split_frontmatter(sample)) == sample
    assert join_frontmatter("a: 1", "b") == "---\na: 1\n---\nb"


def test_frontmatter_chunks_keep_list_items_comments_and_odd_lines_with_their_key() -> None:
    text = (
        "# a comment first\n"
        'author: "[[An Author]]"\n'
        "tags: \n"
        "- articles\n"
        "  - nested\n"
        "# between\n"
        "'quoted key': 1\n"
        "url: https://x.y/a:b\n"
        "multi: |\n"
        "  line one\n"
        "  line two\n"
    )
    chunks = frontmatter_chunks(text)
    assert "".join(chunk for _, chunk in chunks) == text
    assert chunks == [
        (None, "# a comment first\n"),
        ("author", 'author: "[[An Author]]"\n'),
        ("tags", "tags: \n- articles\n  - nested\n"),
        (None, "# between\n"),
        ("quoted key", "'quoted key': 1\n"),
        ("url", "url: https://x.y/a:b\n"),
        ("multi", "multi: |\n  line one\n  line two\n"),
    ]
    assert layout_frontmatter("a: 1\nb: 2\na: 3") == {"a": "a: 1\n", "b": "b: 2\n"}


def test_describe_and_describe_changes() -> None:
    assert MergeResult("", Layout()).describe() == "no change"
    result = MergeResult("", Layout(), added=2, updated=1, removed=1)
    result.frontmatter_changed = ["title"]
    result.conflicts = [Conflict("h:1", "x")]
    assert result.describe() == (
        "2 highlights added, 1 updated, 1 removed, properties title updated, "
        "1 conflict (your text kept)"
    )
    last = Layout(frontmatter={"a": "a: 1\n"}, sections={"header": "## H"}, blocks={"1": "- a"})
    assert describe_changes(last, last) == "no change"
    new = Layout(frontmatter={"a": "a: 2\n"}, sections={"header": "## H"}, blocks={"2": "- b"})
    assert describe_changes(last, new) == "1 highlight added, 1 removed, properties a updated"
    assert describe_changes(last, Layout(last.frontmatter, {"header": "## X"}, last.blocks)) == (
        "metadata updated"
    )
    # An adopted block counts as changed only when Readwise's rendering changed.
    adopted = Layout(blocks={"1": "- a (theirs)"}, rendered={"h:1": "- a"})
    assert describe_changes(adopted, Layout(blocks={"1": "- a"})) == "no change"


# -- new highlights ---------------------------------------------------------------------------


def edited(text: str) -> str:
    """The note with a line of the user's at its end (so it is no longer the tool's own)."""
    return text + "\nMy closing thought.\n"


def test_new_highlight_goes_between_its_neighbours_in_location_order() -> None:
    old, last = rendered(make_book([hl(10, "ten"), hl(30, "thirty")]))
    _, new = rendered(make_book([hl(10, "ten"), hl(20, "twenty"), hl(30, "thirty")]))
    result = merge_note(edited(old.text), last, new)
    assert bullets(result.text) == ["- ten", "- twenty", "- thirty"]
    assert result.text.endswith("- thirty\n\nMy closing thought.\n")
    assert result.added == 1 and result.describe() == "1 highlight added"
    assert list(result.layout.blocks) == ["10", "20", "30"]


def test_new_highlights_first_and_last_and_without_location() -> None:
    old, last = rendered(make_book([hl(10, "ten"), hl(30, "thirty")]))
    book = make_book(
        [hl(5, "five"), hl(10, "ten"), hl(30, "thirty"), hl(40, "forty"), hl(1, "nowhere")]
    )
    book = replace(
        book, highlights=(*book.highlights[:-1], book.highlights[-1]._replace(location=None))
    )  # no location: read last
    _, new = rendered(book)
    result = merge_note(edited(old.text), last, new)
    assert bullets(result.text) == ["- five", "- ten", "- thirty", "- forty", "- nowhere"]
    # Appended after the last block, not after the user's paragraph below the list.
    assert result.text.endswith("- nowhere\n\nMy closing thought.\n")


def test_new_highlight_goes_after_the_last_block_when_its_place_cannot_be_told() -> None:
    old, last = rendered(make_book([hl(10, "ten"), hl(30, "thirty")]))
    current = edited(old.text).replace("- thirty", "- thirty, which I rephrased")
    _, new = rendered(make_book([hl(10, "ten"), hl(20, "twenty"), hl(30, "thirty")]))
    result = merge_note(current, last, new)
    # 30 is the user's now: 20 can't be put before it, so it goes after the list.
    assert bullets(result.text) == ["- ten", "- thirty, which I rephrased", "- twenty"]
    assert result.text.endswith("- twenty\n\nMy closing thought.\n")


def test_new_highlights_into_an_empty_section_and_into_a_note_without_the_header() -> None:
    old, last = rendered(make_book([]))
    assert old.text.endswith(HEADER + "\n")
    _, new = rendered(make_book([hl(1, "one"), hl(2, "two")]))
    result = merge_note(edited(old.text), last, new)
    assert result.text.endswith(f"{HEADER}\n- one\n- two\n\nMy closing thought.\n")
    # The user renamed the header: the tool's piece is gone, a highlights heading still guides.
    renamed = edited(old.text).replace(HEADER, "## Highlights I kept")
    result = merge_note(renamed, last, new)
    assert "## Highlights I kept\n- one\n- two\n\nMy closing thought.\n" in result.text
    # No heading at all: at the end of the note.
    bare = edited(old.text).replace(HEADER + "\n", "")
    assert merge_note(bare, last, new).text.endswith("My closing thought.\n- one\n- two\n")


def test_new_highlight_before_a_neighbour_replaced_in_the_same_merge() -> None:
    old, last = rendered(make_book([hl(10, "ten"), hl(30, "thirty")]))
    _, new = rendered(make_book([hl(10, "ten"), hl(20, "twenty"), hl(30, "thirty, revised")]))
    result = merge_note(edited(old.text), last, new)
    assert bullets(result.text) == ["- ten", "- twenty", "- thirty, revised"]
    assert (result.added, result.updated) == (1, 1)


def test_new_highlight_is_not_put_inside_a_multi_paragraph_block_being_removed() -> None:
    # Block 20 has a blank line inside (a two-paragraph highlight); Readwise deleted it.
    old, last = rendered(make_book([hl(10, "ten"), hl(20, "first para\n\nsecond para")]))
    assert old.blocks["20"] == "- first para\n\n    second para"
    _, new = rendered(make_book([hl(10, "ten"), hl(30, "thirty")]))
    result = merge_note(edited(old.text), last, new)
    assert result.text.endswith(f"{HEADER}\n- ten\n- thirty\n\nMy closing thought.\n")
    assert "para" not in result.text
    assert (result.added, result.removed) == (1, 1)


def test_new_highlight_is_not_put_inside_any_piece_being_removed() -> None:
    # A custom template's block with a blank line not followed by an indented one.
    last = Layout(sections={"header": HEADER}, blocks={"1": "- a", "2": "> quote\n\n— source"})
    new = Layout(sections={"header": HEADER}, blocks={"1": "- a", "3": "- new"})
    current = "## Highlights\n- a\n> quote\n\n— source\n\nMine\n"
    result = merge_note(current, last, new)
    assert result.text == "## Highlights\n- a\n- new\n\nMine\n"
    # ... nor inside one being replaced.
    newer = Layout(
        sections={"header": HEADER}, blocks={"1": "- a", "2": "> quoted\n\n— src", "3": "- x"}
    )
    result = merge_note(current, last, newer)
    assert result.text == "## Highlights\n- a\n> quoted\n\n— src\n- x\n\nMine\n"


def test_new_highlight_is_not_put_inside_a_multi_paragraph_block_the_user_edited() -> None:
    old, last = rendered(make_book([hl(10, "ten"), hl(20, "first para\n\nsecond para")]))
    current = edited(old.text).replace("- first para", "- first para (mine)")
    _, new = rendered(make_book([hl(10, "ten"), hl(20, "first para\n\nsecond para"), hl(30, "x")]))
    result = merge_note(current, last, new)
    assert result.text.endswith(
        "- ten\n- first para (mine)\n\n    second para\n- x\n\nMy closing thought.\n"
    )


def test_the_readme_example() -> None:
    def walden(*extra: tuple[int, str], note: str = "") -> Document:
        texts = [
            (1401, "Our life is frittered away by detail. Simplify, simplify."),
            (1477, "Time is but the stream I go a-fishing in."),
            *extra,
        ]
        highlights = [
            hl(hid, text, location_type="location", note=note if hid == 1401 else "")
            for hid, text in sorted(texts)
        ]
        return make_book(highlights, asin="B0DEMO0WLD", category="books")

    def line(location: int, text: str) -> str:
        url = f"kindle://book?action=open&asin=B0DEMO0WLD&location={location}"
        return f"- {text} ([Location {location}]({url}))\n"

    simplify = "Our life is frittered away by detail. Simplify, simplify."
    stream = "Time is but the stream I go a-fishing in."
    luxuries = "Most of the luxuries are not only not indispensable, but positive hindrances."
    old, last = rendered(walden())
    assert old.text.endswith(HEADER + "\n" + line(1401, simplify) + line(1477, stream))
    current = old.text.replace(
        line(1401, simplify), line(1401, simplify) + "This is the whole book, really.\n"
    )
    current += "\n## My thoughts\nRead it again in winter.\n"
    _, new = rendered(walden((1450, luxuries), note="The whole book in four words."))
    result = merge_note(current, last, new)
    assert result.text.endswith(
        "## Highlights\n"
        + line(1401, simplify)
        + "    - Note: The whole book in four words.\n"
        + "This is the whole book, really.\n"
        + line(1450, luxuries)
        + line(1477, stream)
        + "\n## My thoughts\nRead it again in winter.\n"
    )
    assert (result.added, result.updated, result.conflicts) == (1, 1, [])


# -- edits and deletions upstream ---------------------------------------------------------------


def test_upstream_edit_replaces_a_block_still_as_written() -> None:
    old, last = rendered(make_book([hl(1, "one"), hl(2, "two")]))
    _, new = rendered(make_book([hl(1, "one, revised", note="a note"), hl(2, "two")]))
    result = merge_note(edited(old.text), last, new)
    assert bullets(result.text) == ["- one, revised", "- two"]
    assert "- one, revised\n    - Note: a note\n- two\n" in result.text
    assert (result.updated, result.conflicts) == (1, [])
    assert result.layout.blocks == new.blocks


def test_upstream_edit_of_a_block_the_user_edited_is_a_conflict_and_the_user_wins() -> None:
    old, last = rendered(make_book([hl(1, "one, the original words"), hl(2, "two")]))
    current = edited(old.text).replace("- one, the original words", "- one, the original words!")
    _, new = rendered(make_book([hl(1, "one, revised upstream"), hl(2, "two")]))
    result = merge_note(current, last, new)
    assert result.text == current
    assert result.conflicts == [Conflict("h:1", "- one, revised upstream")]
    assert result.updated == 0
    assert result.layout.blocks["1"] == "- one, the original words"  # what we wrote, remembered
    assert "conflict" in result.describe()


def test_a_sub_bullet_the_user_added_under_a_block_makes_it_theirs() -> None:
    old, last = rendered(make_book([hl(1, "one, the original words"), hl(2, "two")]))
    current = old.text.replace(
        "- one, the original words\n", "- one, the original words\n    - my own comment\n"
    )
    _, new = rendered(make_book([hl(1, "one, revised upstream"), hl(2, "two")]))
    result = merge_note(current, last, new)
    assert result.text == current
    assert [c.block_id for c in result.conflicts] == ["h:1"]


@pytest.mark.parametrize("how", ["deleted", "discarded", "dropped"])
def test_upstream_delete_removes_a_block_still_as_written(how: str) -> None:
    old, last = rendered(make_book([hl(1, "one"), hl(2, "two"), hl(3, "three")]))
    gone: dict[str, Any] = {"deleted": {"is_deleted": True}, "discarded": {"is_discard": True}}
    remaining = [hl(1, "one"), hl(3, "three")]
    if how != "dropped":
        remaining.insert(1, hl(2, "two", **gone[how]))
    _, new = rendered(make_book(remaining))
    result = merge_note(edited(old.text), last, new)
    assert result.text == edited(old.text).replace("- two\n", "")
    assert (result.removed, result.conflicts) == (1, [])
    assert 2 not in result.layout.blocks
    kept = merge_note(edited(old.text), last, new, on_delete="keep")
    assert kept.text == edited(old.text) and kept.removed == 0
    assert kept.layout.blocks["2"] == "- two"  # still remembered, so a later merge leaves it too
    again = merge_note(kept.text, kept.layout, new, on_delete="keep")
    assert again.text == kept.text


def test_upstream_delete_of_the_last_block_without_a_final_newline() -> None:
    old, last = rendered(make_book([hl(1, "one"), hl(2, "two")]))
    current = "Mine.\n\n" + old.text.rstrip("\n")
    _, new = rendered(make_book([hl(1, "one")]))
    result = merge_note(current, last, new)
    assert result.text == current.removesuffix("- two")


def test_upstream_delete_of_a_block_the_user_edited_keeps_it_as_a_conflict() -> None:
    old, last = rendered(make_book([hl(1, "one, the original words"), hl(2, "two")]))
    current = edited(old.text).replace("- one, the original words", "- one, the original words!")
    _, new = rendered(make_book([hl(2, "two")]))
    result = merge_note(current, last, new)
    assert result.text == current
    assert result.conflicts == [Conflict("h:1", "")]
    assert result.removed == 0


@pytest.mark.parametrize("upstream", ["unchanged", "edited", "deleted"])
def test_a_block_the_user_deleted_is_not_brought_back(upstream: str) -> None:
    old, last = rendered(make_book([hl(1, "one, the original words"), hl(2, "two")]))
    current = edited(old.text).replace("- one, the original words\n", "")
    texts = {"unchanged": "one, the original words", "edited": "one, revised", "deleted": None}
    highlights = [hl(2, "two")]
    if texts[upstream] is not None:
        highlights.insert(0, hl(1, texts[upstream]))
    _, new = rendered(make_book(highlights))
    result = merge_note(current, last, new)
    assert result.text == current
    assert result.conflicts == []  # no trace of it left: nothing to warn about
    again = merge_note(result.text, result.layout, new)
    assert again.text == current


# -- the user's text ---------------------------------------------------------------------------


def test_text_the_user_added_anywhere_stays_byte_for_byte() -> None:
    old, last = rendered(make_book([hl(1, "one"), hl(2, "two"), hl(3, "three")]))
    assert old.text.endswith("## Highlights\n- one\n- two\n- three\n")
    current = old.text.replace(
        "## Highlights\n- one\n- two\n- three\n",
        "Intro I wrote.  \n\n## Highlights\nA line under the header.\n- one\n"
        "After one, no blank line.\n\n- two\n\n- three\n\n## Mine\n- a bullet of mine\n"
        "%% a comment %% ^myblock\n\nThe end, no newline",
    )
    # 1 edited, 3 deleted, 0 and 4 new.
    _, new = rendered(make_book([hl(0, "zero"), hl(1, "one*"), hl(2, "two"), hl(4, "four")]))
    result = merge_note(current, last, new)
    assert result.text == current.replace(
        "A line under the header.\n- one\n", "A line under the header.\n- zero\n- one*\n"
    ).replace("- two\n\n- three\n", "- two\n- four\n\n")
    assert (result.added, result.updated, result.removed) == (2, 1, 1)


def test_a_whitespace_only_line_after_a_block_is_a_blank_line_not_an_edit() -> None:
    old, last = rendered(make_book([hl(1, "one, the original words"), hl(2, "two")]))
    current = old.text.replace("words\n", "words\n  \n")
    _, new = rendered(make_book([hl(1, "one, revised"), hl(2, "two")]))
    result = merge_note(current, last, new)
    assert result.text == current.replace("one, the original words", "one, revised")
    assert (result.updated, result.conflicts) == (1, [])
    # A new highlight put after it doesn't make the block look different the next time.
    _, newer = rendered(make_book([hl(1, "one, revised"), hl(2, "two"), hl(3, "three")]))
    current = old.text.replace("- two\n", "- two\n  \n")
    result = merge_note(current, last, newer)
    assert merge_note(result.text, result.layout, newer).text == result.text


def test_user_paragraph_right_after_the_list_stays_after_new_highlights() -> None:
    old, last = rendered(make_book([hl(1, "one")]))
    current = old.text + "\nMy paragraph after the list.\n"
    _, new = rendered(make_book([hl(1, "one"), hl(2, "two")]))
    result = merge_note(current, last, new)
    assert result.text.endswith("- one\n- two\n\nMy paragraph after the list.\n")


# -- frontmatter and metadata --------------------------------------------------------------------


def test_frontmatter_user_keys_and_user_changes_kept_owned_keys_updated() -> None:
    old, last = rendered(make_book([hl(1, "one")]))
    fm = split_frontmatter(old.text)[0]
    assert (
        fm == 'author: "[[An Author]]"\ntitle: "A Title"\ntags: \n- articles\n- literature-note\n'
    )
    current = old.text.replace(
        'author: "[[An Author]]"\n', "rating: 5   # mine\nauthor: '[[Me]]'\n"
    ).replace("tags: \n", "tags: \n# my comment\n")
    _, new = rendered(make_book([hl(1, "one")], title="New Title", author="Another"))
    result = merge_note(current, last, new)
    assert split_frontmatter(result.text)[0] == (
        "rating: 5   # mine\n"
        "author: '[[Me]]'\n"
        'title: "New Title"\n'
        "tags: \n# my comment\n- articles\n- literature-note\n"
    )
    assert result.frontmatter_changed == ["title"]
    assert result.conflicts == [Conflict("fm:author", 'author: "[[Another]]"\n')]
    # The author line the tool wrote is still remembered; the user's key never is.
    assert result.layout.frontmatter["author"] == 'author: "[[An Author]]"\n'
    assert "rating" not in result.layout.frontmatter
    assert merge_note(result.text, result.layout, new).text == result.text


def test_frontmatter_lines_the_tool_does_not_change_keep_their_order_and_form() -> None:
    old, last = rendered(make_book([hl(1, "one")]))
    # The user moved tags to the top and re-quoted the author their way.
    current = old.text.replace(
        '---\nauthor: "[[An Author]]"\ntitle: "A Title"\ntags: \n- articles\n- literature-note\n',
        '---\ntags: \n- articles\n- literature-note\ntitle: "A Title"\nauthor: [[An Author]]\n',
    )
    assert current != old.text
    _, new = rendered(make_book([hl(1, "one")], title="Retitled", category="books"))
    result = merge_note(current, last, new)
    assert split_frontmatter(result.text)[0] == (
        'tags: \n- books\n- literature-note\ntitle: "Retitled"\nauthor: [[An Author]]\n'
    )
    assert result.frontmatter_changed == ["tags", "title"]


def test_frontmatter_deleted_keys_stay_deleted_new_keys_are_appended() -> None:
    last = Layout(
        frontmatter={"a": "a: 1\n", "b": "b: 1\n", "c": "c: 1\n", "d": "d: 1\n"},
        sections={"header": HEADER},
    )
    new = Layout(
        frontmatter={"a": "a: 2\n", "b": "b: 2\n", "e": "e:\n  - x\n"},
        sections={"header": HEADER},
    )
    current = "---\nb: 1\nc: 1\nd: mine\nz: user\n---\n## Highlights\n"  # a deleted by the user
    result = merge_note(current, last, new)
    # b updated; c dropped by the template (untouched, so removed); d the user's; a stays gone.
    assert result.text == "---\nb: 2\nd: mine\nz: user\ne:\n  - x\n---\n## Highlights\n"
    assert result.layout.frontmatter == {
        "a": "a: 1\n",
        "b": "b: 2\n",
        "d": "d: 1\n",
        "e": "e:\n  - x\n",
    }
    assert merge_note(result.text, result.layout, new).text == result.text


def test_frontmatter_the_user_removed_stays_removed_and_none_is_added_unasked() -> None:
    old, last = rendered(make_book([hl(1, "one")]))
    body = split_frontmatter(old.text)[1]
    _, new = rendered(make_book([hl(1, "one")], title="Retitled"))
    result = merge_note(body, last, new)
    assert split_frontmatter(result.text)[0] is None
    # A note that never had one (adopted) gets none either: its frontmatter stays as it is.
    adopted = Layout(sections=dict(last.sections), blocks=last.blocks)
    assert split_frontmatter(merge_note(body, adopted, new).text)[0] is None
    # An empty frontmatter block is the way to ask for the tool's keys.
    result = merge_note("---\n---\n" + body, adopted, new)
    assert result.text.startswith('---\nauthor: "[[An Author]]"\ntitle: "Retitled"\n')


def test_frontmatter_keys_the_user_added_with_a_name_the_template_later_writes() -> None:
    last = Layout(frontmatter={"a": "a: 1\n"})
    new = Layout(frontmatter={"a": "a: 1\n", "status": "status: new\n"})
    result = merge_note("---\na: 1\nstatus: mine\n---\nbody\n", last, new)
    assert result.text == "---\na: 1\nstatus: mine\n---\nbody\n"
    assert "status" not in result.layout.frontmatter  # still the user's, next time too
    same = merge_note("---\na: 1\nstatus: new\n---\nbody\n", last, new)
    assert same.layout.frontmatter["status"] == "status: new\n"  # identical: the tool's now


def test_metadata_updated_while_untouched_kept_once_edited() -> None:
    old, last = rendered(make_book([hl(1, "one")], source_url="https://a.example/x"))
    _, new = rendered(make_book([hl(1, "one")], source_url="https://a.example/moved"))
    result = merge_note(edited(old.text), last, new)
    assert "- URL: https://a.example/moved\n" in result.text
    assert "https://a.example/x" not in result.text
    assert result.layout.sections == new.sections
    current = edited(old.text).replace("- Full Title: A Title\n", "- Full Title: A Title\n- Mine\n")
    result = merge_note(current, last, new)
    assert "- Mine\n- URL: https://a.example/x\n" in result.text  # the user's block now
    assert result.layout.sections["preamble"] == last.sections["preamble"]


def test_a_title_cannot_fake_the_highlights_header() -> None:
    # A preamble holding a "## Highlights" line: the header is looked for after it.
    last = Layout(
        sections={PRE: "# T\n## Highlights\nabout", "header": HEADER}, blocks={"1": "- a"}
    )
    new = Layout(sections=dict(last.sections), blocks={"1": "- a", "2": "- b"})
    current = "# T\n## Highlights\nabout\n\n## Highlights\nmine\n\n- a\n"
    result = merge_note(current.replace("\n- a\n", "\n"), last, new)
    assert result.text == "# T\n## Highlights\nabout\n\n## Highlights\nmine\n- b\n\n"


PRE = "preamble"


# -- adoption of notes made by another tool ------------------------------------------------------

MIDDLE_URL = "https://read.readwise.io/read/01jdnew0000000000000000001"
END_URL = "https://read.readwise.io/read/01jdnew0000000000000000002"
MIDDLE = "Un subrayado nuevo entre el segundo y el tercero."
END = "Y otro al final, después de todos los demás."


def sample_book_plus_two() -> Document:
    raw = demo_book(45210733).model_dump(mode="json")
    for hid, location, text, url in [
        (812345800, 3000, MIDDLE, MIDDLE_URL),
        (812345801, 30000, END, END_URL),
    ]:
        raw["highlights"].append(
            {
                "id": hid,
                "text": text,
                "location": location,
                "location_type": "offset",
                "highlighted_at": "2024-11-21T09:00:00Z",
                "url": url,
            }
        )
    return document(raw)


def adopt(current: str, book: Document) -> MergeResult:
    """What sync does with a note it did not write: adopt its pieces, merge, keep the rest."""
    new = layout_of(RENDERER.render_note(book))
    return merge_note(current, adopt_layout(current, new), new, on_delete="keep")


def highlight_bullets(text: str) -> list[str]:
    return [line for line in bullets(text) if "View Highlight" in line]


def assert_lines_kept_in_order(original: str, merged: str) -> None:
    merged_lines = iter(merged.splitlines(keepends=True))
    for line in original.splitlines(keepends=True):
        assert any(line == candidate for candidate in merged_lines), f"lost: {line!r}"


def test_adopting_the_sample_note_adds_only_the_missing_highlights() -> None:
    sample = need_shared(SAMPLE_NOTE).read_bytes().decode("utf-8")
    result = adopt(sample, sample_book_plus_two())
    found = highlight_bullets(result.text)
    assert len(found) == 21 and len(set(found)) == 21
    assert result.added == 2 and result.conflicts == [] and result.removed == 0
    assert_lines_kept_in_order(sample, result.text)
    lines = sample.splitlines(keepends=True)
    second = next(i for i, line in enumerate(lines) if "01jd0ed0vvf2veh5bdfjh50p1w" in line)
    lines.insert(second + 1, f"- {MIDDLE} ([View Highlight]({MIDDLE_URL}))\n")
    lines.append(f"- {END} ([View Highlight]({END_URL}))\n")
    assert result.text == "".join(lines)
    assert result.text.startswith("---\nauthor: [[Antonio Ortiz]]\n")  # the user's form kept
    # The adopted note is the tool's now: a second sync changes nothing.
    new = layout_of(RENDERER.render_note(sample_book_plus_two()))
    again = merge_note(result.text, result.layout, new)
    assert again.text == result.text
    assert (again.added, again.updated, again.removed, again.conflicts) == (0, 0, 0, [])


def test_adopting_a_note_with_the_plugins_new_highlights_sections() -> None:
    sample = need_shared(SAMPLE_NOTE).read_bytes().decode("utf-8")
    lines = sample.splitlines(keepends=True)
    blocks = [i for i, line in enumerate(lines) if "View Highlight" in line]
    assert len(blocks) == 19
    # The plugin appended the 5th highlight and the last three in a later sync.
    moved = [blocks[4], *blocks[-3:]]
    section = "## New highlights added November 20, 2024 at 10:00 AM\n"
    kept = [line for i, line in enumerate(lines) if i not in moved]
    later = ["\n", section, *(lines[i] for i in moved)]
    # ... one of them as the plugin once wrote it (no link), one edited by the user.
    later[3] = re.sub(r" \(\[View Highlight\]\(.*\)\)$", "", later[3])
    later[4] = later[4].replace("- Incluso", "- (¡clave!) Incluso")
    note = "".join(kept + later) + "\nMis notas.\n"
    result = adopt(note, sample_book_plus_two())
    assert result.added == 2 and result.removed == 0
    assert_lines_kept_in_order(note, result.text)
    texts = bullets(result.text)
    assert len(texts) == 21
    for item in sample_book_plus_two().highlights:
        assert sum(item.text[:40] in line for line in texts) == 1, item.text
    # The middle one goes before the 3rd highlight; the last one after the plugin's section.
    third = next(i for i, line in enumerate(texts) if "Mejorar cualitativamente" in line)
    assert MIDDLE in texts[third - 1]
    assert END in texts[-1]
    assert result.text.endswith(f"- {END} ([View Highlight]({END_URL}))\n\nMis notas.\n")
    new = layout_of(RENDERER.render_note(sample_book_plus_two()))
    assert merge_note(result.text, result.layout, new).text == result.text


def test_an_adopted_block_in_another_form_is_replaced_only_when_readwise_changes_it() -> None:
    old_form = "- one, as another tool wrote it (https://x.example/h/1)\n    - with a comment\n"
    note = f"## Highlights\n{old_form}\n## Mine\n"
    book = make_book([hl(1, "one, as we write it", url="https://x.example/h/1"), hl(2, "two")])
    new = layout_of(RENDERER.render_note(book))
    layout = adopt_layout(note, new)
    assert layout.blocks == {"1": old_form.rstrip("\n")}
    assert layout.rendered == {"h:1": new.blocks["1"]}
    result = merge_note(note, layout, new, on_delete="keep")
    assert result.text == f"## Highlights\n{old_form}- two\n\n## Mine\n"  # no frontmatter added
    assert merge_note(result.text, result.layout, new).text == result.text
    changed = make_book([hl(1, "one, revised", url="https://x.example/h/1"), hl(2, "two")])
    _, newer = rendered(changed)
    updated = merge_note(result.text, result.layout, newer)
    assert updated.text.startswith(f"## Highlights\n{newer.blocks['1']}\n- two\n")
    assert updated.updated == 1


def test_adoption_never_matches_a_bullet_twice_or_inside_the_metadata() -> None:
    book = make_book(
        [
            hl(1, "A Title"),
            hl(2, "shared opening words, then one"),
            hl(3, "shared opening words, then two"),
        ]
    )
    note = RENDERER.render_note(book)
    current = note.text.replace("- A Title\n", "").replace("- shared opening words, then two\n", "")
    result = adopt(current, book)
    assert bullets(result.text) == [
        "- A Title",
        "- shared opening words, then one",
        "- shared opening words, then two",
    ]
    assert result.added == 2


# -- hostile highlight text ----------------------------------------------------------------------


def test_hostile_highlight_texts_do_not_confuse_the_merge() -> None:
    texts = [
        "## Highlights",
        "---",
        "looks like\n- foo\n- bar",
        "%% hidden %% and ^block",
        "[[unclosed and ]] closed",
        "- leading dash",
        "para one\n\n\npara two",
        "same words",
        "same words",
        "prefix",
        "prefix and more",
        "My closing thought.",
    ]
    old_book = make_book([hl(i + 1, text) for i, text in enumerate(texts)])
    old, last = rendered(old_book)
    current = edited(old.text).replace("- - leading dash\n", "- - leading dash\nmine, under it\n")
    changed = list(texts)
    changed[8] = "same words, the second edited"  # the second of two equal blocks
    changed[9] = "prefix, edited"
    changed[0] = None  # type: ignore[call-overload]  # "## Highlights" deleted upstream
    highlights = [hl(i + 1, text) for i, text in enumerate(changed) if text is not None]
    highlights.append(hl(100, "---"))
    highlights.append(hl(101, "same words", location=7))  # before the equal pair
    _, new = rendered(make_book(highlights))
    result = merge_note(current, last, new)
    expected_blocks = [
        "- \\---",  # escaped, else a thematic break that would end the list
        "- looks like\n    - foo\n    - bar",
        "- %% hidden %% and ^block",
        "- [[unclosed and ]] closed",
        "- - leading dash\nmine, under it",
        "- para one\n\n\n    para two",
        "- same words",
        "- same words",
        "- same words, the second edited",
        "- prefix, edited",
        "- prefix and more",
        "- My closing thought.",
        "- \\---",
    ]
    body = result.text.split(f"\n{HEADER}\n", 1)[1]
    assert body == "\n".join(expected_blocks) + "\n\nMy closing thought.\n"
    assert (result.added, result.updated, result.removed, result.conflicts) == (2, 2, 1, [])
    assert merge_note(result.text, result.layout, new).text == result.text


def test_a_highlight_equal_to_the_users_closing_line_is_still_its_own_block() -> None:
    old, last = rendered(make_book([hl(1, "one")]))
    current = old.text + "\n- two\n"  # the user wrote a bullet that looks like a block
    _, new = rendered(make_book([hl(1, "one"), hl(2, "two")]))
    result = merge_note(current, last, new)
    assert result.text == old.text.replace("- one\n", "- one\n- two\n") + "\n- two\n"


# -- properties ---------------------------------------------------------------------------------

HOSTILE = [
    "## Highlights", "# Heading", "---", "- foo", "* bar", "1. one", "%%", "%% hidden %%",
    "^block", "^abc-123", "[[", "]]", "[[Note|alias]]", "- ", "-", "> quote", "    indented",
    "\t", "([View Highlight](https://read.readwise.io/read/x))", "- Note: fake",
    "    - Tags: [[t]]", "```", "My closing thought.", "ⓤ", "same words", "\u2028", "\r\n",
]  # fmt: skip
WORDS = st.text(alphabet="abxy .", min_size=1, max_size=6)
SEPARATORS = ["", " ", "\n", "\n\n", "\n\n\n", "\n  "]


@st.composite
def hostile_texts(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.one_of(st.sampled_from(HOSTILE), WORDS), min_size=1, max_size=4))
    text = parts[0]
    for part in parts[1:]:
        text += draw(st.sampled_from(SEPARATORS)) + part
    return text


@st.composite
def related_texts(draw: st.DrawFn, earlier: list[str]) -> str:
    """A fresh hostile text, or one equal to, a prefix of, or extending an earlier one."""
    how = draw(st.sampled_from(["fresh", "fresh", "equal", "prefix", "extends"]))
    if not earlier or how == "fresh":
        return draw(hostile_texts())
    base = draw(st.sampled_from(earlier))
    if how == "equal":
        return base
    if how == "prefix":
        return base[: draw(st.integers(1, max(1, len(base))))]
    return base + draw(st.sampled_from(["", " ", "\n", "\n\n"])) + draw(hostile_texts())


@st.composite
def highlight_dicts(draw: st.DrawFn, hid: int, earlier: list[str]) -> dict[str, Any]:
    text = draw(related_texts(earlier))
    earlier.append(text)
    item: dict[str, Any] = {
        "id": hid,
        "text": text,
        "location": draw(st.one_of(st.none(), st.integers(0, 12))),
        "location_type": "offset",
        "note": draw(st.one_of(st.just(""), hostile_texts())),
        "tags": [{"name": n} for n in draw(st.lists(st.sampled_from(["t", "u"]), unique=True))],
    }
    if draw(st.booleans()):
        item["url"] = f"https://read.readwise.io/read/h{hid}"
    return item


@st.composite
def book_changes(draw: st.DrawFn) -> tuple[Document, Document]:
    """A book as last written, and the same book after arbitrary changes in Readwise."""
    texts: list[str] = []
    count = draw(st.integers(0, 6))
    old = [draw(highlight_dicts(100 + i, texts)) for i in range(count)]
    new: list[dict[str, Any]] = []
    for item in old:
        action = draw(
            st.sampled_from(["keep", "keep", "text", "note", "tags", "deleted", "discard", "gone"])
        )
        changed = dict(item)
        if action == "text":
            changed["text"] = draw(related_texts(texts))
        elif action == "note":
            changed["note"] = draw(st.one_of(st.just(""), hostile_texts()))
        elif action == "tags":
            changed["tags"] = [] if item["tags"] else [{"name": "v"}]
        elif action == "deleted":
            changed["is_deleted"] = True
        elif action == "discard":
            changed["is_discard"] = True
        if action != "gone":
            new.append(changed)
    new += [draw(highlight_dicts(200 + i, texts)) for i in range(draw(st.integers(0, 3)))]
    title = draw(st.sampled_from(["A Title", "A Title", "Another Title"]))
    category = draw(st.sampled_from(["articles", "articles", "books"]))
    return make_book(old), make_book(new, title=title, category=category)


def piece_spans(note: RenderedNote) -> tuple[int, list[tuple[int, int]]]:
    """Where the body starts, and where each of the tool's body pieces stands in ``note.text``."""
    position = len(f"---\n{note.frontmatter}\n---\n") if note.frontmatter is not None else 0
    body_start = position
    pieces = [(note.sections.get("preamble"), 2), (note.sections.get("header"), 1)]
    pieces += [(block, 1) for block in note.blocks.values()]
    spans = []
    for piece, gap in pieces:
        if piece is None:
            continue
        assert note.text.startswith(piece, position)
        spans.append((position, position + len(piece)))
        position += len(piece) + gap
    return body_start, spans


BODY_SNIPPETS = [
    "ⓤ{n} a paragraph of mine\n",
    "\nⓤ{n} after a blank line\n",
    "## ⓤ{n} My section\nwith a line\n\n",
    "- ⓤ{n} a bullet of mine\n",
    "    ⓤ{n} indented, under the line above\n",
    "\tⓤ{n} tab-indented\n",
    "%% ⓤ{n} %% ^mine{n} [[Link]]\n",
    "---\nⓤ{n} under a rule\n",
    "## Highlights ⓤ{n}\n",
    "  \n\nⓤ{n} after a whitespace line\n",
]
FM_SNIPPETS = ["ⓤkey{n}: value {n}\n", "# ⓤ{n} comment\n", "ⓤlist{n}:\n  - a{n}\n  - b\n"]


@st.composite
def user_edits(draw: st.DrawFn, note: RenderedNote) -> tuple[str, list[str], list[str]]:
    """The note with the user's text put in at line boundaries outside the tool's pieces.

    Returns the edited text, all the user's snippets in text order, and those in the
    frontmatter.
    """
    text = note.text
    body_start, spans = piece_spans(note)
    body_points = sorted(
        {body_start, len(text)}
        | {i + 1 for i, char in enumerate(text) if char == "\n" and i + 1 > body_start}
    )
    body_points = [p for p in body_points if not any(s < p < e for s, e in spans)]
    fm_points: list[int] = []
    if note.frontmatter is not None:
        position = 4
        fm_points.append(position)
        for _, chunk in frontmatter_chunks(note.frontmatter + "\n"):
            position += len(chunk)
            fm_points.append(position)
    inserts: list[tuple[int, int, str]] = []
    fm_snippets: list[str] = []
    for n in range(draw(st.integers(1, 6))):
        in_fm = bool(fm_points) and draw(st.integers(0, 3)) == 0
        if in_fm:
            snippet = draw(st.sampled_from(FM_SNIPPETS)).format(n=n)
            fm_snippets.append(snippet)
            point = draw(st.sampled_from(fm_points))
        else:
            snippet = draw(st.sampled_from(BODY_SNIPPETS)).format(n=n)
            point = draw(st.sampled_from(body_points))
        inserts.append((point, n, snippet))
    if draw(st.booleans()):
        inserts.append((len(text), 99, "ⓤ the end, without a newline"))
    inserts.sort()
    out, previous = [], 0
    for point, _, snippet in inserts:
        out.append(text[previous:point])
        out.append(snippet)
        previous = point
    out.append(text[previous:])
    return "".join(out), [snippet for _, _, snippet in inserts], fm_snippets


def ambiguous(last: Layout, new: Layout) -> bool:
    """Whether two different highlights have (had) the same block: then which is which
    can only be guessed from the order they stand in."""
    pairs = set(last.blocks.items()) | set(new.blocks.items())
    return len({block for _, block in pairs}) < len(pairs)


@pytest.mark.slow  # 300 examples: 10 to 20 s each
@PROPERTY
@given(st.data(), book_changes(), st.sampled_from(["remove", "keep"]))
def test_user_text_survives_any_upstream_change(
    data: st.DataObject, books: tuple[Document, Document], on_delete: str
) -> None:
    old_book, new_book = books
    old, last = rendered(old_book)
    _, new = rendered(new_book)
    current, snippets, fm_snippets = data.draw(user_edits(old))
    result = merge_note(current, last, new, on_delete=on_delete)
    assert_in_order(result.text, snippets)
    frontmatter, _ = split_frontmatter(result.text)
    for snippet in fm_snippets:
        assert frontmatter is not None and snippet in frontmatter
    for hid, block in new.blocks.items():
        if hid not in last.blocks:
            assert block in result.text  # every new highlight is there
    if ambiguous(last, new):
        return  # see test_identical_blocks_can_be_mistaken_for_each_other
    # The second merge of the same change is a no-op.
    again = merge_note(result.text, result.layout, new, on_delete=on_delete)
    assert again.text == result.text
    assert again.layout == result.layout
    assert (again.added, again.updated, again.removed, again.frontmatter_changed) == (0, 0, 0, [])


@pytest.mark.slow  # 300 examples: 10 to 20 s each
@PROPERTY
@given(book_changes())
def test_an_untouched_note_merges_into_exactly_the_fresh_rendering(
    books: tuple[Document, Document],
) -> None:
    old_book, new_book = books
    old, last = rendered(old_book)
    fresh, new = rendered(new_book)
    result = merge_note(old.text, last, new)
    expected_section = "".join(block + "\n" for block in new.blocks.values())
    assert result.text.split(f"\n{HEADER}\n", 1)[1] == expected_section
    assert result.text == fresh.text
    assert result.layout == new
    assert list(result.layout.blocks) == list(new.blocks)
    again = merge_note(result.text, result.layout, new)
    assert again.text == result.text and again.layout == result.layout


@pytest.mark.slow  # 300 examples: 10 to 20 s each
@PROPERTY
@given(book_changes())
def test_adopting_a_note_already_in_step_changes_nothing(books: tuple[Document, Document]) -> None:
    _, book = books
    note, new = rendered(book)
    result = merge_note(note.text, adopt_layout(note.text, new), new, on_delete="keep")
    assert result.text == note.text
    assert result.added == 0


@pytest.mark.xfail(strict=True, reason="a block that is the first line of another is ambiguous")
def test_a_block_equal_to_the_first_line_of_another_is_not_merged_twice_the_same() -> None:
    """Known limitation, found by the property below (a random run, 2026-11-26): one
    highlight's block is exactly the first line of another's multi-line block, the user
    indents a line under the first, the first is deleted upstream (kept) and the other
    gets a tag. The first merge is fine; merging the same change again moves the tag."""
    heading = "## Highlights"
    url = "https://read.readwise.io/read/h{}".format
    before = [
        hl(100, heading, location=None),
        hl(101, heading, location=None, url=url(101)),
        hl(102, heading, location=None, url=url(102)),
        hl(103, f"{heading}\n\n{heading}", location=None),
        hl(104, heading, location=None, url=url(104)),
    ]
    old, last = rendered(make_book(before))
    after = [dict(h) for h in before]
    after[0]["is_deleted"] = True
    after[3]["tags"] = [{"name": "v"}]
    _, new = rendered(make_book(after))
    current = old.text.replace(
        f"- {heading}\n", f"- {heading}\n    mine, under the line above\n", 1
    )
    result = merge_note(current, last, new, on_delete="keep")
    assert "mine, under the line above" in result.text
    assert merge_note(result.text, result.layout, new, on_delete="keep").text == result.text


@pytest.mark.xfail(strict=True, reason="identical blocks can only be told apart by position")
def test_identical_blocks_can_be_mistaken_for_each_other() -> None:
    """Known limitation: three highlights with the same block, the user indents a line
    under the first. The merge takes the second copy for the first highlight and the
    third's block as edited; a fourth identical highlight added later then looks like
    the third's block, and the second merge gives it the third's tags."""
    old, last = rendered(make_book([hl(1, "same words"), hl(2, "same words"), hl(3, "same words")]))
    current = old.text.replace("- same words\n", "- same words\n    mine\n", 1)
    book = make_book(
        [
            hl(1, "same words"),
            hl(2, "same words"),
            hl(3, "same words", tags=[{"name": "v"}]),
            hl(4, "same words"),
        ]
    )
    _, new = rendered(book)
    result = merge_note(current, last, new)
    assert merge_note(result.text, result.layout, new).text == result.text
