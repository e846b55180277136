"""Rendering a book into note text: the sample note, YAML safety, filters, links, layout."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from readwise_sync.domain import Document
from readwise_sync.errors import ConfigError
from readwise_sync.notes.markdown import filter_yaml, filter_yaml_quote
from readwise_sync.notes.render import Renderer, filter_date, filter_pluralize

from .conftest import SAMPLE_NOTE, need_shared
from .factories import demo_document, document

MADRID = ZoneInfo("Europe/Madrid")
UTC_ZONE = ZoneInfo("UTC")


def make_book(highlights: list[dict[str, Any]] | None = None, **kw: Any) -> Document:
    raw: dict[str, Any] = {
        "user_book_id": 7,
        "title": "A Title",
        "author": "An Author",
        "category": "articles",
        **kw,
    }
    raw["highlights"] = [{"id": 100 + i, **h} for i, h in enumerate(highlights or [])]
    return document(raw)


def render(book: Document, tz: Any = MADRID, **kw: Any) -> str:
    return Renderer(tz=tz, **kw).render_note(book).text


def frontmatter(text: str) -> Any:
    assert text.startswith("---\n")
    end = text.index("\n---\n", 3)
    return yaml.safe_load(text[4:end])


def only_block(book: Document) -> str:
    (block,) = Renderer(tz=MADRID).render_note(book).blocks.values()
    return block


# -- the sample note ---------------------------------------------------------------------------


def test_demo_book_renders_the_sample_note_byte_for_byte() -> None:
    expected = need_shared(SAMPLE_NOTE).read_bytes().decode("utf-8")
    lines = expected.split("\n")
    assert lines[1] == "author: [[Antonio Ortiz]]"
    # The one intended difference: the sample's unquoted [[...]] is a YAML flow list.
    lines[1] = 'author: "[[Antonio Ortiz]]"'
    note = Renderer(tz=MADRID).render_note(demo_document(45210733))
    assert note.text.encode("utf-8") == "\n".join(lines).encode("utf-8")
    assert frontmatter(note.text)["author"] == "[[Antonio Ortiz]]"
    assert len(note.blocks) == 19


# -- frontmatter values survive YAML -------------------------------------------------------------

PIECES = [
    "\0", "\x01", "\x08", "\t", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1b", "\x7f", "\x85",
    "\xa0", "\u2028", "\u2029", "\ufeff", "\u200b", "\u200e", "\u200f", "\u202e", "\u2066",
    "\u0301", "e\u0301", "\U0001f44d\U0001f3fd", "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\ufffd", "\uffff", "\U0010ffff", "'", '"', "\\", "\\n", "\\x41", ":", ": ", " :", "---",
    "...", "#", " #", "[[", "]]", "[", "]", "{", "}", "%%", "%", "- ", "-", "? ", "&a", "*a",
    "!tag", "!!str", "|", ">", ",", "@", "`", " ", "  ", "yes", "no", "null", "true", "False",
    "~", "on", "OFF", "y", "123", "-1", "1e3", "0x1F", "0o17", ".inf", ".NaN", "1_000", "1:20",
    "2024-01-01", "<<", "=", "Hello World",
]  # fmt: skip
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff", "\ud83d", "\ude00"]

piece = st.one_of(st.sampled_from(PIECES), st.characters(), st.text(max_size=4))
nasty_text = st.one_of(
    st.sampled_from(PIECES),
    st.lists(piece, max_size=12).map("".join),
    st.builds(
        lambda s, n: s * n,
        st.lists(piece, min_size=1, max_size=3).map("".join),
        st.integers(100, 600),
    ),
)
# As data arrives from json.loads: lone surrogates possible.
nasty_wire_text = st.one_of(
    nasty_text,
    st.lists(st.one_of(piece, st.sampled_from(SURROGATES)), max_size=10).map("".join),
)

_SURROGATE = re.compile("[\ud800-\udfff]")


def via_json(value: str) -> str:
    """What the client sees after the HTTP body went through json.loads, then models' cleanup
    (lone surrogates become U+FFFD, every line end a plain newline)."""
    text = _SURROGATE.sub("\ufffd", json.loads(json.dumps(value)))
    return text.replace("\r\n", "\n").replace("\r", "\n")


@settings(max_examples=500, deadline=None)
@given(title=nasty_wire_text, author=nasty_wire_text, category=nasty_wire_text)
@example(title="yes", author="null", category="123")
@example(title="---\n- a: b", author="]] [[x", category="#tag")
@example(title=" lead and trail ", author="a: b", category="- x")
@example(title="\ud800", author="\udfff\ud83d\ude00", category="\ud83d")
@example(title="\u2028\u2029\x85\ufeff", author="%% x %%", category="no")
def test_frontmatter_parses_back_to_the_values(title: str, author: str, category: str) -> None:
    raw = {
        "user_book_id": 1,
        "title": title,
        "author": author,
        "category": category,
        "highlights": [{"id": 1, "text": "t", "highlighted_at": "2024-11-18T10:00:00Z"}],
    }
    book = document(json.loads(json.dumps(raw)))
    assert book.title == via_json(title)
    assert book.category == via_json(category)
    text = render(book)
    text.encode("utf-8")  # writable as a note
    data = frontmatter(text)
    assert data["title"] == (book.title or "Untitled")
    if author.strip():
        assert book.author == via_json(author)
        assert data["author"] == "[[" + book.author + "]]"
    else:
        assert book.author is None
        assert "author" not in data
    assert data["tags"] == [book.category, "literature-note"]
    assert data["date"] == date(2024, 11, 18)
    assert set(data) <= {"author", "title", "date", "tags"}


# -- filter_yaml ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["articles", "books", "literature-note", "Mi_Tag", "a.b/c"])
def test_filter_yaml_plain_when_safe(text: str) -> None:
    assert filter_yaml(text) == text


@pytest.mark.parametrize(
    "text",
    ["yes", "No", "NULL", "~", "true", "123", "1.5", "-1", ".inf", "a: b", "#x", " x", "x ",
     "", "- x", "[x]", "{x}", "x #y", "'x'", '"x"', "*x", "&x", "!x", "%x", "@x", "2024-01-01",
     "\u2028", "a\nb"],
)  # fmt: skip
def test_filter_yaml_quotes_when_not_safe(text: str) -> None:
    out = filter_yaml(text)
    assert out.startswith('"') and out.endswith('"')
    assert yaml.safe_load(f"k: {out}") == {"k": text}


def test_filter_yaml_none_is_empty_string() -> None:
    assert yaml.safe_load(f"k: {filter_yaml(None)}") == {"k": ""}
    assert filter_yaml_quote(None) == '""'


@settings(max_examples=500, deadline=None)
@given(nasty_text)
def test_filter_yaml_round_trips(text: str) -> None:
    out = filter_yaml(text)
    assert "\n" not in out and "\r" not in out
    assert yaml.safe_load(f"k: {out}\n") == {"k": text}
    assert yaml.safe_load(f"tags: \n- {out}\n- literature-note\n") == {
        "tags": [text, "literature-note"]
    }
    if not out.startswith('"'):
        assert out == text  # plain only for text that stays itself
    quoted = filter_yaml_quote(text)
    assert yaml.safe_load(f"k: {quoted}") == {"k": text}


# -- date and pluralize --------------------------------------------------------------------------

MONDAY = datetime(2024, 11, 18, 9, 5, 7)


def test_date_readwise_default_format() -> None:
    assert filter_date(date(2024, 11, 18), "F j, Y") == "November 18, 2024"
    assert filter_date(MONDAY, "F j, Y") == "November 18, 2024"
    assert filter_date("2024-11-18T20:11:07.838Z", "F j, Y") == "November 18, 2024"
    assert filter_date(date(2024, 11, 18)) == "2024-11-18"


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("d", "18"),
        ("D", "Mon"),
        ("l", "Monday"),
        ("jS", "18th"),
        ("M", "Nov"),
        ("n", "11"),
        ("m", "11"),
        ("y", "24"),
        ("H:i:s", "09:05:07"),
        ("g a", "9 am"),
        ("Y-m-d", "2024-11-18"),
        ("\\T\\o\\d\\a\\y \\i\\s l", "Today is Monday"),
        ("jS \\o\\f F", "18th of November"),
        ("\\\\", "\\"),
        ("Y年n月j日", "2024年11月18日"),
    ],
)
def test_date_php_codes(fmt: str, expected: str) -> None:
    assert filter_date(MONDAY, fmt) == expected


@pytest.mark.parametrize(
    ("day", "suffix"),
    [(1, "st"), (2, "nd"), (3, "rd"), (4, "th"), (11, "th"), (12, "th"), (13, "th"), (21, "st"),
     (22, "nd"), (23, "rd"), (31, "st")],
)  # fmt: skip
def test_date_ordinal_suffix(day: int, suffix: str) -> None:
    assert filter_date(date(2024, 1, day), "S") == suffix


def test_date_of_nothing_is_empty() -> None:
    assert filter_date(None, "F j, Y") == ""
    assert filter_date("", "F j, Y") == ""


def test_pluralize() -> None:
    assert [filter_pluralize(n) for n in (0, 1, 2)] == ["s", "", "s"]
    assert [filter_pluralize(n, "es") for n in (1, 2)] == ["", "es"]
    assert [filter_pluralize(n, "y,ies") for n in (0, 1, 2)] == ["ies", "y", "ies"]
    assert filter_pluralize([1]) == "" and filter_pluralize([1, 2]) == "s"
    assert filter_pluralize([]) == "s" and filter_pluralize(["a"], "y,ies") == "y"
    assert filter_pluralize("1") == "" and filter_pluralize("3") == "s"


def test_filters_inside_templates(tmp_path: Path) -> None:
    (tmp_path / "page_title.jinja").write_text(
        "# {{ title }} ({{ date|date('F j, Y') }}): "
        "{{ num_highlights }} highlight{{ num_highlights|pluralize }}, "
        "{{ document_tags|length }} categor{{ document_tags|pluralize('y,ies') }}\n",
        encoding="utf-8",
    )
    book = make_book(
        [{"text": "a", "highlighted_at": "2024-11-18T10:00:00Z"}],
        book_tags=[{"name": "x"}, {"name": "y"}],
    )
    assert "# A Title (November 18, 2024): 1 highlight, 2 categories\n" in render(
        book, template_dir=tmp_path
    )


# -- highlight links -----------------------------------------------------------------------------

READER_URL = "https://read.readwise.io/read/01jd0ecznyjxyacpcf18m98091"
TWEET_URL = "https://twitter.com/fchollet/status/1855362153563463762"


def test_reader_article_links_view_highlight() -> None:
    book = make_book(
        [{"text": "Hi.", "location": 1200, "location_type": "offset", "url": READER_URL}]
    )
    assert only_block(book) == f"- Hi. ([View Highlight]({READER_URL}))"


def test_tweet_links_view_tweet() -> None:
    book = make_book([{"text": "A tweet.", "url": TWEET_URL}], category="tweets")
    assert only_block(book) == f"- A tweet. ([View Tweet]({TWEET_URL}))"


def test_kindle_location_with_asin_links_the_kindle_app() -> None:
    book = make_book(
        [{"text": "K.", "location": 152, "location_type": "location"}],
        category="books",
        asin="B07HDSHP7N",
    )
    assert only_block(book) == (
        "- K. ([Location 152](kindle://book?action=open&asin=B07HDSHP7N&location=152))"
    )


def test_kindle_location_without_asin_is_plain() -> None:
    book = make_book([{"text": "K.", "location": 152, "location_type": "location"}], asin=None)
    assert only_block(book) == "- K. (Location 152)"


def test_page_location() -> None:
    book = make_book([{"text": "P.", "location": 12, "location_type": "page"}], category="books")
    assert only_block(book) == "- P. (Page 12)"


@pytest.mark.parametrize(
    ("location", "location_type"),
    [(None, "none"), (3, "none"), (3, None), (None, None), (2, "order"), (0, "order"),
     (900, "time_offset"), (5, "hologram")],
)  # fmt: skip
def test_no_location_without_url(location: int | None, location_type: str | None) -> None:
    book = make_book([{"text": "Plain.", "location": location, "location_type": location_type}])
    assert only_block(book) == "- Plain."


# -- layout of a highlight block -------------------------------------------------------------------


def test_multi_paragraph_text_stays_in_its_bullet() -> None:
    text = "First paragraph.\n\nSecond paragraph,\nsame paragraph.\n   \r\nThird.\n\n"
    book = make_book([{"text": text, "url": READER_URL}])
    assert only_block(book) == (
        "- First paragraph.\n"
        "\n"
        "    Second paragraph,\n"
        "    same paragraph.\n"
        "\n"
        f"    Third. ([View Highlight]({READER_URL}))"
    )


def test_multi_line_note_and_tags() -> None:
    book = make_book(
        [
            {
                "text": "Text.",
                "note": "Line one.\n\nLine two.\nLine three.",
                "tags": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
            }
        ]
    )
    assert only_block(book) == (
        "- Text.\n"
        "    - Tags: [[a]] [[b]]\n"
        "    - Note: Line one.\n"
        "\n"
        "      Line two.\n"
        "      Line three."
    )


def test_note_without_tags_and_tags_without_note() -> None:
    book = make_book([{"text": "A.", "note": "n"}, {"text": "B.", "tags": [{"name": "x"}]}])
    blocks = list(Renderer(tz=MADRID).render_note(book).blocks.values())
    assert blocks == ["- A.\n    - Note: n", "- B.\n    - Tags: [[x]]"]


def test_highlights_in_location_order_and_only_live_ones() -> None:
    book = make_book(
        [
            {"text": "third", "location": 30},
            {"text": "last, no location", "location": None},
            {"text": "deleted", "location": 5, "is_deleted": True},
            {"text": "first", "location": 10},
            {"text": "discarded", "location": 15, "is_discard": True},
            {"text": "second", "location": 20},
        ]
    )
    note = Renderer(tz=MADRID).render_note(book)
    assert list(note.blocks) == ["103", "105", "100", "101"]
    body = note.text.split("## Highlights\n", 1)[1]
    assert body == "- first\n- second\n- third\n- last, no location\n"
    assert "deleted" not in note.text and "discarded" not in note.text
    for block in note.blocks.values():
        assert block in note.text


def test_blocks_are_the_live_highlights_of_the_demo() -> None:
    book = demo_document(45210733)
    note = Renderer(tz=MADRID).render_note(book)
    assert set(note.blocks) == {h.id for h in book.live_highlights()}
    for block in note.blocks.values():
        assert block in note.text


# -- the date line -------------------------------------------------------------------------------


def test_date_is_the_local_day_of_the_earliest_highlight() -> None:
    book = make_book(
        [
            {"text": "later", "highlighted_at": "2024-11-20T10:00:00Z"},
            {"text": "earliest", "highlighted_at": "2024-11-18T23:30:00Z"},
        ]
    )
    assert frontmatter(render(book, tz=MADRID))["date"] == date(2024, 11, 19)
    assert frontmatter(render(book, tz=UTC_ZONE))["date"] == date(2024, 11, 18)
    assert "\ndate: 2024-11-19\n" in render(book, tz=MADRID)


def test_date_ignores_deleted_highlights() -> None:
    book = make_book(
        [
            {"text": "gone", "highlighted_at": "2020-01-01T10:00:00Z", "is_deleted": True},
            {"text": "kept", "highlighted_at": "2024-11-18T10:00:00Z"},
        ]
    )
    assert frontmatter(render(book))["date"] == date(2024, 11, 18)


def test_date_falls_back_to_created_at() -> None:
    book = make_book(
        [
            {"text": "a", "highlighted_at": None, "created_at": "2023-03-04T12:00:00Z"},
            {"text": "b", "highlighted_at": "2023-05-06T12:00:00Z"},
        ]
    )
    assert frontmatter(render(book))["date"] == date(2023, 3, 4)


def test_no_highlights_no_date_line() -> None:
    text = render(make_book([]))
    assert "date:" not in text
    assert "date" not in frontmatter(text)
    assert text.endswith("## Highlights\n")
    undated = render(make_book([{"text": "x"}]))  # neither highlighted_at nor created_at
    assert "date" not in frontmatter(undated)


# -- user templates --------------------------------------------------------------------------------


def test_template_dir_overrides_one_section(tmp_path: Path) -> None:
    (tmp_path / "highlight.jinja").write_text(
        "* {{ highlight_text }} [{{ highlight_id }}]\n", encoding="utf-8"
    )
    book = make_book([{"text": "One."}, {"text": "Two."}])
    note = Renderer(template_dir=tmp_path, tz=MADRID).render_note(book)
    assert note.blocks == {"100": "* One. [100]", "101": "* Two. [101]"}
    assert note.text.endswith("## Highlights\n* One. [100]\n* Two. [101]\n")
    assert "## Metadata\n- Author: [[An Author]]\n" in note.text  # defaults for the rest
    assert 'title: "A Title"' in note.text


def test_highlight_template_sees_jinja_globals_and_other_templates(tmp_path: Path) -> None:
    """Each block is the highlight template rendered with the note's variables and the
    highlight's, beside Jinja's own globals (``range``, ``namespace``, ``cycler``...), and
    an ``include`` sees them too; ``loop`` is no variable there."""
    (tmp_path / "highlight.jinja").write_text(
        "{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}"
        "{% endfor %}{% set row = cycler('odd', 'even') %}"
        "- {{ ns.n }} {{ row.next() }} {{ dict(a=1).a }}{{ loop.index }} "
        "{% include 'part.jinja' %}\n\n",
        encoding="utf-8",
    )
    (tmp_path / "part.jinja").write_text(
        "{{ highlight_text }} ({{ title }}) {{ range(2) | list }}", encoding="utf-8"
    )
    note = Renderer(template_dir=tmp_path, tz=MADRID).render_note(
        make_book([{"text": "One."}, {"text": "Two."}])
    )
    assert note.blocks == {
        "100": "- 3 odd 1 One. (A Title) [0, 1]",
        "101": "- 3 odd 1 Two. (A Title) [0, 1]",
    }
    assert note.text.endswith("## Highlights\n" + "\n".join(note.blocks.values()) + "\n")


def test_highlight_template_error_names_the_template(tmp_path: Path) -> None:
    (tmp_path / "highlight.jinja").write_text("- {{ highlight_text | nosuchfilter }}\n")
    with pytest.raises(ConfigError, match=r"highlight\.jinja"):
        Renderer(template_dir=tmp_path)
    (tmp_path / "highlight.jinja").write_text("- {% include 'gone.jinja' %}\n")
    with pytest.raises(ConfigError, match=r"highlight\.jinja: gone\.jinja"):
        Renderer(template_dir=tmp_path).render_note(make_book([{"text": "One."}]))


def test_template_syntax_error_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "metadata.jinja").write_text(
        "## Metadata\n- Title: {{ title }}\n{% if author %}\n- {{ author\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as info:
        Renderer(template_dir=tmp_path)
    message = str(info.value)
    assert "metadata.jinja" in message
    assert re.search(r"line [34]\b", message), message


def test_template_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "highlight.jinja").write_bytes("- {{ highlight_text }} \xa7\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"highlight\.jinja"):
        Renderer(template_dir=tmp_path)


def test_missing_template_dir_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        Renderer(template_dir=tmp_path / "nope")


READWISE_METADATA = """\
{% if image_url -%}
![rw-book-cover]({{image_url}})

{% endif -%}
## Metadata
- Author: {% if author %}[[{{author}}]]{% endif %}
- Full Title: {{full_title}}
- Category: #{{category}}
- Published: {{ published_date }}|{{ published_date|date('F j, Y') }}
- Last: {{ last_highlighted_date }}|{{ date }}|{{ time }}
- Unknown: {{ tweet_url }}|{{ highlights_url }}|{{ books[0].title }}|{{ meta.x.y }}
- Sync: {{ num_books }} book{{ num_books|pluralize }}{% for b in books %}{{ b.title }}{% endfor %}
{% if document_tags -%}
- Document Tags: {% for tag in document_tags %}[[{{tag}}]] {% endfor %}
{% endif -%}
{% if url -%}
- URL: {{url}}
{% endif -%}
"""

READWISE_HIGHLIGHT = """\
- {{ highlight_text }}{% if highlight_location and highlight_location_url %} \
([{{highlight_location}}]({{highlight_location_url}})){% elif highlight_location %} \
({{highlight_location}}){% endif %}{% if highlight_tags %}
    - Tags: {% for tag in highlight_tags %}[[{{tag}}]] {% endfor %}{% endif %}\
{% if highlight_note %}
    - Note: {{ highlight_note }}{% endif %} {{ highlight_color_name }}{{ highlighted_at }}
"""


def test_pasted_readwise_template_with_unknown_variables(tmp_path: Path) -> None:
    (tmp_path / "metadata.jinja").write_text(READWISE_METADATA, encoding="utf-8")
    (tmp_path / "highlight.jinja").write_text(READWISE_HIGHLIGHT, encoding="utf-8")
    book = make_book([{"text": "Undated."}], category="books")
    text = render(book, template_dir=tmp_path)
    assert "None" not in text and "Undefined" not in text
    assert "- Published: |\n" in text
    assert "- Last: ||\n" in text
    assert "- Unknown: |||\n" in text
    assert "- Sync:  book\n" in text
    assert "- Category: #books\n" in text
    assert "- Undated. \n" in text or text.endswith("- Undated.\n")
