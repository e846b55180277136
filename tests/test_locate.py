"""Finding a book's note by what is inside it: digest, tracking property, links, title+author."""

from __future__ import annotations

import hashlib
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from readwise_sync.domain import Document
from readwise_sync.notes.locate import NoteIndex, book_markers, describe_note, text_markers
from readwise_sync.notes.render import Renderer

from .conftest import SAMPLE_NOTE, need_shared
from .factories import demo_document, document

RENDERER = Renderer(tz=ZoneInfo("UTC"))


def make_book(**kw: Any) -> Document:
    raw: dict[str, Any] = {
        "user_book_id": 123,
        "title": "Walden",
        "author": "Henry David Thoreau",
        "category": "books",
        "readwise_url": "https://readwise.io/bookreview/123",
        "highlights": [
            {"id": 1, "text": "one", "url": "https://read.readwise.io/read/aaa111"},
            {"id": 2, "text": "two", "url": "https://read.readwise.io/read/bbb222"},
            {"id": 3, "text": "three", "readwise_url": "https://readwise.io/open/3"},
        ],
    }
    raw.update(kw)
    return document(raw)


def index(notes: dict[str, str]) -> NoteIndex:
    # As a sync builds it: the entries keep no text, and the index reads one when it must.
    entries = (describe_note(path, text, keep_text=False) for path, text in notes.items())
    return NoteIndex(entries, read=notes.get)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


UNRELATED = "---\ntitle: Something else\n---\n# Something else\nhttps://example.com/x\n"


# -- markers ----------------------------------------------------------------------------------


def test_text_markers_take_urls_without_trailing_punctuation_and_asins() -> None:
    text = (
        "See https://read.readwise.io/read/aaa111. And (https://x.example/p?q=1), "
        '"https://quoted.example/a" <https://angle.example/b> `https://tick.example/c`\n'
        "- x ([Location 12](kindle://book?action=open&asin=B0DEMO0WLD&location=12))\n"
    )
    assert text_markers(text) == {
        "https://read.readwise.io/read/aaa111",
        "https://x.example/p?q=1",
        "https://quoted.example/a",
        "https://angle.example/b",
        "https://tick.example/c",
        "kindle://book?action=open&asin=B0DEMO0WLD&location=12",
        "asin=B0DEMO0WLD",
    }


def test_book_markers() -> None:
    assert book_markers(make_book(asin="B0DEMO0WLD")) == {
        "https://readwise.io/bookreview/123",
        "https://read.readwise.io/read/aaa111",
        "https://read.readwise.io/read/bbb222",
        "https://readwise.io/open/3",
        "asin=B0DEMO0WLD",
    }
    assert book_markers(make_book(readwise_url=None, highlights=[])) == set()


@pytest.mark.parametrize(
    "line",
    [
        "readwise_id: 123",
        'readwise_id: "123"',
        "readwise_book_id: '123'",
        "book_id: 123  ",
        "readwise_url: https://readwise.io/bookreview/123",
        'readwise_url: "https://readwise.io/bookreview/123"',
    ],
)
def test_tracking_properties_become_markers(line: str) -> None:
    entry = describe_note("n.md", f"---\ntitle: x\n{line}\n---\nbody\n")
    assert entry.markers & {"id:123", "https://readwise.io/bookreview/123"}
    assert index({"n.md": entry.text, "other.md": UNRELATED}).find(make_book()) == "n.md"


def test_tracking_properties_count_only_in_the_frontmatter() -> None:
    assert "id:123" not in describe_note("n.md", "readwise_id: 123\n").markers
    assert "id:123" not in describe_note("n.md", "---\nx: 1\n---\nreadwise_id: 123\n").markers
    assert "id:123" not in describe_note("n.md", "---\nreadwise_id: 123\n").markers  # unclosed
    assert "id:123" not in describe_note("n.md", "---\nreadwise_id: 123 # c\n---\n").markers


# -- finding ----------------------------------------------------------------------------------


def test_a_moved_note_is_found_by_its_exact_digest() -> None:
    book = make_book(highlights=[], readwise_url=None)  # nothing inside names the book
    text = RENDERER.render_note(book).text
    notes = {"Archive/Walden (moved).md": text, "other.md": UNRELATED}
    assert index(notes).find(book, digests=[digest(text)]) == "Archive/Walden (moved).md"
    assert index(notes).find(book, digests=[digest(text + "edited")]) is None
    # Two identical copies: the digest can't choose, and nothing else tells them apart.
    notes["Copy.md"] = text
    assert index(notes).find(book, digests=[digest(text)]) is None


def test_the_digest_wins_over_links_in_other_notes() -> None:
    book = make_book()
    text = RENDERER.render_note(book).text
    quoting = (
        "Quoting https://read.readwise.io/read/aaa111 and https://read.readwise.io/read/bbb222"
    )
    notes = {"moved.md": text, "quoting.md": quoting + " https://readwise.io/open/3\n"}
    assert index(notes).find(book, digests=[digest(text)]) == "moved.md"


def test_found_by_its_highlight_links() -> None:
    book = make_book()
    note = (
        "# my own notes on it\n"
        "- one ([View Highlight](https://read.readwise.io/read/aaa111))\n"
        "- two ([View Highlight](https://read.readwise.io/read/bbb222))\n"
    )
    quoting = "I quoted https://read.readwise.io/read/aaa111 once.\n"
    notes = {"renamed.md": note, "quoting.md": quoting, "other.md": UNRELATED}
    assert index(notes).find(book) == "renamed.md"  # two links beat one
    assert index(notes).find(book, digests=[digest("not any note")]) == "renamed.md"
    # The open/<id> link and the book's review URL count too.
    notes = {"a.md": "[x](https://readwise.io/open/3) https://readwise.io/bookreview/123\n"}
    assert index(notes).find(book) == "a.md"
    # A Kindle deep link names the book by its ASIN.
    kindle = make_book(asin="B0DEMO0WLD", highlights=[], readwise_url=None)
    notes = {"k.md": "([Location 9](kindle://book?action=open&asin=B0DEMO0WLD&location=9))"}
    assert index(notes).find(kindle) == "k.md"
    assert index(notes).find(make_book(asin="B0OTHER000", highlights=[])) is None


def test_two_notes_matching_equally_well_give_none() -> None:
    book = make_book()
    both = "- ([View Highlight](https://read.readwise.io/read/aaa111))\n"
    assert index({"a.md": both, "b.md": both}).find(book) is None
    other = "see https://read.readwise.io/read/bbb222\n"
    assert index({"a.md": both, "b.md": other}).find(book) is None  # one link each
    assert index({"a.md": both, "b.md": both + other}).find(book) == "b.md"
    # Equal evidence is not broken by the title either.
    titled = "---\ntitle: Walden\nauthor: Henry David Thoreau\n---\n" + both
    assert index({"Walden.md": titled, "b.md": both}).find(book, by_title=True) is None


def test_the_tracking_property_wins_over_links() -> None:
    book = make_book()
    tracked = "---\nreadwise_id: 123\n---\nno links here\n"
    links = "https://read.readwise.io/read/aaa111 https://read.readwise.io/read/bbb222\n"
    assert index({"t.md": tracked, "l.md": links}).find(book) == "t.md"
    assert index({"t.md": tracked}).find(make_book(user_book_id=1234)) is None
    # Two notes both tracking the book: the links decide.
    notes = {"t.md": tracked, "l.md": tracked.replace("no links here\n", links)}
    assert index(notes).find(book) == "l.md"


# -- title and author (adoption only) ---------------------------------------------------------


def test_title_and_author_only_when_asked() -> None:
    book = make_book(highlights=[], readwise_url=None)
    note = '---\ntitle: "Walden"\nauthor: "[[Henry David Thoreau]]"\n---\nmy notes\n'
    notes = {"Books/Some name.md": note, "other.md": UNRELATED}
    assert index(notes).find(book) is None
    assert index(notes).find(book, by_title=True) == "Books/Some name.md"


def test_unquoted_wikilink_author_is_a_nested_yaml_list_and_still_matches() -> None:
    book = make_book(highlights=[], readwise_url=None)
    note = "---\nauthor: [[Henry David Thoreau]]\ntitle: WALDEN\n---\n"
    entry = describe_note("x.md", note)
    assert entry.metadata()["author"] == [["Henry David Thoreau"]]
    assert entry.authors() == {"henry david thoreau"}
    assert index({"x.md": note}).find(book, by_title=True) == "x.md"


def test_title_from_the_metadata_list_or_the_file_name() -> None:
    book = make_book(highlights=[], readwise_url=None)
    body = "## Metadata\n- Author: [[Henry David Thoreau]]\n- Full Title: Walden\n"
    assert index({"n.md": body}).find(book, by_title=True) == "n.md"
    by_name = "## Metadata\n- Author: Henry David  Thoreau\n"
    assert index({"Readwise/Books/walden.md": by_name}).find(book, by_title=True) == (
        "Readwise/Books/walden.md"
    )
    # The readable title counts as much as the full one.
    long = make_book(title="Walden: Or, Life in the Woods", readable_title="Walden", highlights=[])
    assert index({"n.md": body}).find(long, by_title=True) == "n.md"


def test_title_match_needs_the_author_and_a_single_candidate() -> None:
    book = make_book(highlights=[], readwise_url=None)
    wrong_author = "---\ntitle: Walden\nauthor: Someone Else\n---\n"
    no_author = "---\ntitle: Walden\n---\n"
    assert index({"a.md": wrong_author, "b.md": no_author}).find(book, by_title=True) is None
    right = "---\ntitle: Walden\nauthor: Henry David Thoreau\n---\n"
    assert index({"a.md": right, "b.md": right}).find(book, by_title=True) is None
    assert index({"a.md": right, "b.md": wrong_author}).find(book, by_title=True) == "a.md"
    # A book without an author matches on the title alone.
    anonymous = make_book(author=None, highlights=[], readwise_url=None)
    assert index({"b.md": no_author}).find(anonymous, by_title=True) == "b.md"


def test_invalid_yaml_in_a_note_is_not_an_error() -> None:
    note = (
        "---\ntitle: [unclosed\nauthor: : :\n---\n"
        "- Full Title: Walden\n- Author: Henry David Thoreau\n"
    )
    entry = describe_note("n.md", note)
    assert entry.metadata() == {}
    book = make_book(highlights=[], readwise_url=None)
    assert index({"n.md": note}).find(book, by_title=True) == "n.md"


def test_the_sample_note_is_found_for_its_book() -> None:
    sample = need_shared(SAMPLE_NOTE).read_bytes().decode("utf-8")
    book = demo_document(45210733)
    notes = {"Clippings/Escalado.md": sample, "other.md": UNRELATED}
    assert index(notes).find(book) == "Clippings/Escalado.md"  # by its highlight links
    no_links = "\n".join(line.split(" ([View")[0] for line in sample.split("\n"))
    notes = {"Clippings/Escalado.md": no_links, "other.md": UNRELATED}
    assert index(notes).find(book) is None
    assert index(notes).find(book, by_title=True) == "Clippings/Escalado.md"
    assert index(notes).find(demo_document(38100452), by_title=True) is None  # Walden


# -- claiming and adding ----------------------------------------------------------------------


def test_a_claimed_note_is_found_by_nothing() -> None:
    book = make_book()
    text = RENDERER.render_note(book).text + "---\n"
    notes = {"n.md": "---\nreadwise_id: 123\n---\n" + text}
    found = index(notes)
    assert found.find(book) == "n.md"
    found.claim("n.md")
    assert found.find(book, digests=[digest(notes["n.md"])]) is None
    assert found.find(book, by_title=True) is None
    found.claim("n.md")  # twice is fine
    found.claim("never-there.md")


def test_a_claimed_copy_leaves_the_other_copy_findable() -> None:
    book = make_book(highlights=[], readwise_url=None)
    text = RENDERER.render_note(book).text
    found = index({"a.md": text, "b.md": text})
    assert found.find(book, digests=[digest(text)]) is None
    assert found.find(book, by_title=True) is None
    found.claim("a.md")
    assert found.find(book, digests=[digest(text)]) == "b.md"
    assert found.find(book, by_title=True) == "b.md"


def test_a_note_added_after_a_title_search_is_found_by_title() -> None:
    book = make_book(highlights=[], readwise_url=None)
    found = index({"other.md": UNRELATED})
    assert found.find(book, by_title=True) is None  # builds the title index
    found.add(describe_note("Walden.md", "---\nauthor: [[Henry David Thoreau]]\n---\n"))
    assert found.find(book, by_title=True) == "Walden.md"


def test_a_note_claimed_then_added_back_is_found_again() -> None:
    book = make_book(highlights=[], readwise_url=None)
    text = "a moved note with nothing in it that names its book\n"
    found = index({"n.md": text})
    found.claim("n.md")
    found.add(describe_note("n.md", text))
    assert found.find(book, digests=[digest(text)]) == "n.md"
    tracked = "---\nreadwise_id: 123\n---\n"
    found = index({"t.md": tracked})
    found.claim("t.md")
    found.add(describe_note("t.md", tracked))
    assert found.find(book) == "t.md"


# -- memory: the index keeps evidence, not texts -----------------------------------------------


def test_moved_and_edited_notes_are_found_by_their_pieces_reading_each_note_once() -> None:
    walden, other = make_book(), make_book(user_book_id=7, title="Other", highlights=[])
    walden_text = RENDERER.render_note(walden).text
    blocks = list(RENDERER.render_note(walden).blocks.values())
    notes = {
        "moved.md": "my words first\n" + walden_text + "\nand after\n",
        "unrelated.md": UNRELATED,
        "elsewhere.md": "- Something else entirely, long enough to count\n",
    }
    reads: list[str] = []

    def read(path: str) -> str | None:
        reads.append(path)
        return notes.get(path)

    entries = [describe_note(path, text, keep_text=False) for path, text in notes.items()]
    assert all(entry.text is None for entry in entries)
    found = NoteIndex(entries, read=read)
    hits = found.piece_hits({walden.id: blocks, other.id: ["- Something else entirely, long"]})
    assert sorted(reads) == sorted(notes)  # one read of each note for both books
    assert found.find(walden, piece_hits=hits[walden.id]) == "moved.md"
    assert found.find(other, piece_hits=hits[other.id]) == "elsewhere.md"
    # the same answer when the pieces are handed over directly
    assert found.find(walden, pieces=blocks) == "moved.md"


_yaml_line = st.one_of(
    st.sampled_from(
        ["title: Walden", 'author: "[[Thoreau]]"', "tags: [a, b]", "---", "----", "--- ", "x"]
    ),
    st.text(alphabet='ab:- "[]#\n', max_size=12),
)


@given(st.lists(_yaml_line, max_size=8), st.lists(_yaml_line, max_size=4))
def test_the_frontmatter_kept_reads_as_the_whole_note_does(
    head: list[str], body: list[str]
) -> None:
    import frontmatter

    text = "\n".join(["---", *head, *body]) + "\n- Full Title: T\n"
    entry = describe_note("n.md", text, keep_text=False)
    try:
        whole = dict(frontmatter.loads(text).metadata)
    except Exception:
        whole = {}
    assert entry.metadata() == whole
