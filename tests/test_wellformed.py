"""Notes that stay well-formed whatever the data holds, read by a CommonMark parser.

Every note is rendered with the default templates and parsed with markdown-it-py
(CommonMark, what Obsidian reads): its only headings are the templates' own, the
metadata list has one item per field, under ``## Highlights`` there is one top-level
bullet per live highlight, in reading order, holding that highlight's link, ``Tags:``
and ``Note:`` as text (not code, not HTML), and no control character is written.
READWISE_SYNC_HYPOTHESIS_EXAMPLES scales the property test (default 200).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from readwise_sync.domain import Document
from readwise_sync.notes.markdown import drop_controls
from readwise_sync.notes.render import Renderer

from .factories import document

EXAMPLES = int(os.environ.get("READWISE_SYNC_HYPOTHESIS_EXAMPLES", "200"))
MD = MarkdownIt("commonmark")
RENDERER = Renderer(tz=ZoneInfo("UTC"))
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 but tab and newline, DEL, C1


def url_of(hid: int) -> str:
    return f"https://read.readwise.io/read/{hid}"


# -- reading a note the way a Markdown parser does -------------------------------------------


@dataclass
class Parsed:
    headings: list[str] = field(default_factory=list)  # "h2 Metadata", ...
    before_metadata: list[str] = field(default_factory=list)  # top-level block types
    metadata: list[str] = field(default_factory=list)  # each item's first line of text
    items: list[list[Token]] = field(default_factory=list)  # each top-level highlight bullet
    stray: list[str] = field(default_factory=list)  # other top-level blocks in the lists' sections


def items_of(tokens: list[Token], parsed: Parsed) -> list[list[Token]]:
    """The tokens of each top-level bullet of one section (anything else is stray)."""
    items: list[list[Token]] = []
    for token in tokens:
        if token.level == 0 and token.type not in ("bullet_list_open", "bullet_list_close"):
            parsed.stray.append(token.type)
        elif token.level == 1 and token.type == "list_item_open":
            items.append([])
        elif token.level >= 1 and items:
            items[-1].append(token)
    lists = [t for t in tokens if t.level == 0 and t.type == "bullet_list_open"]
    if len(lists) > 1:
        parsed.stray.append("a second list")
    return items


def parse_note(text: str) -> Parsed:
    assert text.startswith("---\n")
    body = text[text.index("\n---\n", 3) + 5 :]  # Obsidian reads the frontmatter apart
    tokens = MD.parse(body)
    parsed = Parsed()
    starts = [i for i, t in enumerate(tokens) if t.type == "heading_open"]
    parsed.headings = [f"{tokens[i].tag} {tokens[i + 1].content}" for i in starts]
    if parsed.headings != ["h2 Metadata", "h2 Highlights"]:
        return parsed
    metadata, highlights = starts
    parsed.before_metadata = [t.type for t in tokens[:metadata] if t.level == 0]
    for item in items_of(tokens[metadata + 3 : highlights], parsed):
        inline = [t for t in item if t.type == "inline"]
        parsed.metadata.append(inline[0].content.split("\n")[0] if inline else "")
    parsed.items = items_of(tokens[highlights + 3 :], parsed)
    return parsed


def texts_in(item: list[Token]) -> list[str]:
    """The paragraph texts of an item (inline tokens only come from paragraphs here)."""
    return [t.content for t in item if t.type == "inline"]


def links_in(item: list[Token]) -> list[tuple[str, str]]:
    """(target, text) of each link of an item."""
    links = []
    for token in item:
        children = token.children or []
        for index, child in enumerate(children):
            if child.type == "link_open" and index + 1 < len(children):
                links.append((str(child.attrGet("href")), children[index + 1].content))
    return links


def assert_well_formed(book: Document, text: str) -> Parsed:
    assert CONTROLS.search(text) is None, repr(text)
    parsed = parse_note(text)
    assert parsed.headings == ["h2 Metadata", "h2 Highlights"], text
    assert set(parsed.before_metadata) <= {"paragraph_open", "paragraph_close"}, text
    assert parsed.stray == [], text
    expected = ["Author:" if drop_controls(book.author or "") else None, "Full Title:"]
    expected += ["Document Tags:" if book.tags else None]
    expected += ["URL:" if book.source_url or book.unique_url else None]
    labels = [label for label in expected if label]
    assert len(parsed.metadata) == len(labels), text
    for line, label in zip(parsed.metadata, labels, strict=True):
        assert line.startswith(label), (line, text)
    live = book.live_highlights()
    assert len(parsed.items) == len(live), text
    for item, highlight in zip(parsed.items, live, strict=True):
        paragraphs = texts_in(item)
        if highlight.url:
            # A target with whitespace is percent-encoded (tested on its own below).
            target = highlight.url if not re.search(r"\s", highlight.url) else ""
            assert any(
                label == "View Highlight" and (href == target or not target)
                for href, label in links_in(item)
            ), text
        elif highlight.location_type == "page":
            assert any(p.endswith(f"(Page {highlight.location})") for p in paragraphs), text
        if highlight.tags:
            assert any(p.startswith("Tags: [[") for p in paragraphs), text
        if drop_controls(highlight.note or "").strip():  # else there is no note
            assert any(p.startswith("Note:") for p in paragraphs), text
    return parsed


# -- hostile data ------------------------------------------------------------------------------

FRAGMENTS = [
    "```", "````", "~~~", "```python", "---", "***", "___", "- - -", "* * *", "===", "=",
    "-", "#", "# ", "## Highlights", "###### x", "> ", ">", "<!--", "-->", "<div>",
    "</div>", "<pre>", "<script>", "<?php", "<![CDATA[", "<span>", "$$", "%%", "\t", "    ",
    "  ", " ", "\r", "\r\n", "\n", "\n\n", "\n    ", "\n\t", "- ", "* ", "+ ", "1. ", "1) ",
    "2. ", "[a]: /u", "[a]:", "[a]", "\\", "`", "``", "|", "| a |", "[[", "]]", "^block",
    "*", "_", "(", ")", "x", "word", "\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c",
    "\x1b", "\x1f", "\x7f", "\x85", "\x9f", "\U0001f9f5", "\U0001f469\u200d\U0001f467",
    "\u202e", "\u2066", "\u200f", "\u200b", "\u2028", "\u2029", "\ufeff", "e\u0301",
]  # fmt: skip
piece = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=3)), max_size=10)
hostile = st.one_of(
    piece.map("".join),
    st.lists(piece.map("".join), min_size=2, max_size=6).map("\n".join),  # more line starts
)
tag_name = hostile.filter(lambda s: bool(s.strip()))
highlight = st.fixed_dictionaries(
    {
        "text": hostile,
        "note": st.one_of(st.just(""), hostile),
        "tags": st.lists(tag_name.map(lambda name: {"name": name}), max_size=2),
        "kind": st.sampled_from(["url", "page", "none"]),
    }
)
ODD_URLS = [None, "https://example.com/a", "https://example.com/a b", "https://x/\n# h\n- y"]


def make_book(
    title: str, author: str, tags: list[str], highlights: list[dict[str, Any]]
) -> Document:
    raw: dict[str, Any] = {
        "user_book_id": 7,
        "title": title,
        "author": author,
        "category": "articles",
        "book_tags": [{"name": t} for t in tags],
        "source_url": ODD_URLS[len(highlights) % len(ODD_URLS)],
        "cover_image_url": ODD_URLS[len(title) % len(ODD_URLS)],
        "highlights": [],
    }
    for index, spec in enumerate(highlights):
        hid = 100 + index
        entry = {k: v for k, v in spec.items() if k != "kind"}
        entry.update(id=hid, location=index + 1, location_type="page")
        if spec.get("kind") == "url":
            entry["url"] = url_of(hid)
        elif spec.get("kind") == "none":
            entry["location_type"] = "none"
        raw["highlights"].append(entry)
    return document(raw)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="READWISE_SYNC_HYPOTHESIS_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    title=hostile,
    author=hostile,
    tags=st.lists(tag_name, max_size=2),
    highlights=st.lists(highlight, max_size=4),
)
@example(title="X\n## Highlights", author="A\n- B", tags=["t\n# h"], highlights=[])
@example(
    title="t",
    author="",
    tags=[],
    highlights=[
        {"text": "a\n```\nx\n```", "note": "```", "tags": [{"name": "t"}], "kind": "url"},
        {"text": "---", "note": "a\n---", "tags": [], "kind": "page"},
        {"text": "# x", "note": "b\n# c", "tags": [], "kind": "url"},
        {"text": "<!-- x", "note": "<div>", "tags": [{"name": "<!--"}], "kind": "none"},
        {"text": "[a]: /u", "note": "", "tags": [], "kind": "page"},
        {"text": "> " * 30 + "# deep", "note": "", "tags": [], "kind": "url"},
    ],
)
def test_every_note_parses_into_one_bullet_per_highlight(
    title: str, author: str, tags: list[str], highlights: list[dict[str, Any]]
) -> None:
    book = make_book(title, author, tags, highlights)
    note = RENDERER.render_note(book)
    assert_well_formed(book, note.text)
    for block in note.blocks.values():
        assert block in note.text


# -- the cases, one by one ---------------------------------------------------------------------

URL = url_of(100)


def one_block(text: str, note: str = "", tags: tuple[str, ...] = (), kind: str = "url") -> str:
    spec = {"text": text, "note": note, "tags": [{"name": t} for t in tags], "kind": kind}
    book = make_book("T", "A", [], [spec])
    rendered = RENDERER.render_note(book)
    assert_well_formed(book, rendered.text)
    (block,) = rendered.blocks.values()
    return block


def test_a_highlight_ending_in_a_fence_has_its_link_on_a_line_of_its_own() -> None:
    block = one_block("Code:\n```\nx = 1\n```", note="n", tags=("t",))
    assert block == (
        "- Code:\n    ```\n    x = 1\n    ```\n"
        f"    ([View Highlight]({URL}))\n    - Tags: [[t]]\n    - Note: n"
    )
    fences = [t for t in MD.parse(block) if t.type == "fence"]
    assert [t.content for t in fences] == ["x = 1\n"]


def test_a_highlight_ending_in_indented_code_has_its_link_on_a_line_of_its_own() -> None:
    block = one_block("Code:\n\n    x = 1", kind="page")
    assert block == "- Code:\n\n        x = 1\n    (Page 1)"


def test_a_closed_fence_inside_a_highlight_stays_code_untouched() -> None:
    text = "Before:\n```\n# not a heading\n---\n```\nAfter."
    block = one_block(text)
    assert block == (
        "- Before:\n    ```\n    # not a heading\n    ---\n    ```\n"
        f"    After. ([View Highlight]({URL}))"
    )


def test_an_unclosed_fence_is_text() -> None:
    assert one_block("```\ncode", kind="page") == "- \\```\n    code (Page 1)"


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("---", "\\---"),
        ("***", "\\***"),
        ("___", "\\___"),
        ("- - -", "\\- - -"),
        ("# x", "\\# x"),
        ("## Highlights", "\\## Highlights"),
        ("a\n---", "a\n    \\---"),
        ("a\n===", "a\n    \\==="),
        ("a\n# b", "a\n    \\# b"),
        ("> # quoted", "> \\# quoted"),
        ("<!-- hidden", "\\<!-- hidden"),
        ("<div>", "\\<div>"),
        ("[a]: /u", "\\[a]: /u"),
    ],
)
def test_a_line_that_would_be_a_break_a_heading_or_html_is_escaped(text: str, escaped: str) -> None:
    assert one_block(text, kind="page") == f"- {escaped} (Page 1)"


@pytest.mark.parametrize("text", ["- a list", "1. first", "+ plus", "> a quote", "*emph*", "2024"])
def test_lists_quotes_and_emphasis_in_a_highlight_stay_as_they_are(text: str) -> None:
    assert one_block(text, tags=("t",)) == f"- {text} ([View Highlight]({URL}))\n    - Tags: [[t]]"


def test_leading_spaces_of_a_multi_line_highlight_do_not_move_its_bullet() -> None:
    assert one_block("   a\n\nb", kind="page") == "- a\n\n    b (Page 1)"
    assert one_block("  one line", kind="page") == "-   one line (Page 1)"  # as it was


def test_a_note_made_of_markdown_stays_inside_its_bullet() -> None:
    block = one_block("t", note="a\n---\n# b\n<div>\n```")
    assert block.endswith("    - Note: a\n      \\---\n      \\# b\n      \\<div>\n      \\```")


def test_line_breaks_in_title_author_and_tags_are_joined_with_a_space() -> None:
    book = make_book("X\n## Highlights", "An\nAuthor", ["a\n- b"], [])
    text = RENDERER.render_note(book).text
    parsed = assert_well_formed(book, text)
    assert parsed.metadata[:3] == [
        "Author: [[An Author]]",
        "Full Title: X ## Highlights",
        "Document Tags: [[a - b]]",
    ]
    assert 'title: "X\\n## Highlights"' in text  # the frontmatter keeps the exact value


def test_a_url_with_whitespace_is_percent_encoded() -> None:
    book = document(
        {
            "user_book_id": 1,
            "title": "T",
            "source_url": "https://x/a b\n# h",
            "highlights": [{"id": 1, "text": "t", "url": "https://x/\n- y"}],
        }
    )
    text = RENDERER.render_note(book).text
    assert "- URL: https://x/a%20b%0A#%20h\n" in text
    assert "- t ([View Highlight](https://x/%0A-%20y))" in text
    assert_well_formed(book, text)


def test_control_characters_are_dropped_and_separators_become_spaces() -> None:
    block = one_block(
        "a\x00b\x1bc\x7fd\x9fe\x0cf\x85g\x1eh\tTab", note="n\x00\x01", tags=("t\x00",)
    )
    assert (
        block == f"- abcde f g h\tTab ([View Highlight]({URL}))\n    - Tags: [[t]]\n    - Note: n"
    )
    book = make_book("Ti\x00tle\x01", "Au\x07thor", [], [])
    text = RENDERER.render_note(book).text
    assert "\x00" not in text and CONTROLS.search(text) is None
    assert "- Full Title: Title\n" in text and "- Author: [[Author]]\n" in text
    assert 'title: "Ti\\0tle\\x01"' in text  # the frontmatter escapes them instead


def test_a_template_of_ones_own_prints_no_control_character(tmp_path: Any) -> None:
    (tmp_path / "highlight.jinja").write_text("* {{ highlight_text }} {{ title }}\n", "utf-8")
    book = make_book("T\x00", "A", [], [{"text": "x\x00\x1by", "kind": "none"}])
    note = Renderer(template_dir=tmp_path).render_note(book)
    assert note.blocks == {"100": "* xy T"}
    assert CONTROLS.search(note.text) is None
