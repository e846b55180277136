"""What a second read of the redesign found different from the release before it.

Each difference was either restored (the test holds the old behaviour) or kept as the
better one (the test holds the new behaviour and says why).
"""

from __future__ import annotations

from readwise_sync.app.config import Settings
from readwise_sync.app.wiring import sync_once
from readwise_sync.notes.merge import Layout, merge_note
from readwise_sync.readwise.fakeapi import FakeReadwise

from .conftest import note_files

WALDEN = "Readwise/Books/Walden.md"
WALDEN_ID = 38100452
ARTICLE_ID = 45210733


def test_an_edited_block_that_keeps_its_opening_conflicts_with_readwise_s_change() -> None:
    """Kept: a block's opening is the text of its first 40 characters, the spaces around
    it aside (as adoption always read it). A block the user edited past its opening is
    still there, edited; Readwise changing it too is a conflict: both kept, and said.
    (The release before compared the 40 characters with their trailing space, and took
    such an edit for the block's deletion, saying nothing of Readwise's change.)"""
    first40 = "Alpha beta gamma delta epsilon zeta eta "
    assert len(first40) == 40
    written = "- " + first40 + "theta iota kappa lambda mu nu xi omicron pi rho"
    edited = "- " + first40.rstrip() + ". Something else entirely written by me now."
    last = Layout(sections={"header": "## Highlights"}, blocks={1: written})
    new = Layout(sections={"header": "## Highlights"}, blocks={1: written + " sigma"})
    note = "## Highlights\n" + edited + "\n"
    merged = merge_note(note, last, new)
    assert merged.text == note
    assert [conflict.block_id for conflict in merged.conflicts] == ["h:1"]


def _first_block(text: str) -> str:
    """The first highlight's top-level bullet with its indented continuation lines."""
    lines = text.split("\n")
    header = lines.index("## Highlights")
    start = next(i for i, line in enumerate(lines) if i > header and line.startswith("- "))
    end = start + 1
    while end < len(lines) and lines[end].startswith((" ", "\t")):
        end += 1
    return "\n".join(lines[start:end])


def test_another_books_block_with_a_paragraph_of_mine_under_it_is_no_evidence(
    settings: Settings, fake: FakeReadwise
) -> None:
    """Restored: another book's block is evidence against a note only as a whole
    top-level bullet, continuation lines and all. A quote pasted with a paragraph of the
    user's under it is the user's: the note stays its book's and is merged into."""
    sync_once(settings)
    assert settings.vault is not None
    notes = note_files(settings.vault)
    article = next(text for text in notes.values() if "Hipótesis" in text)
    walden = settings.vault / WALDEN
    mine = "# My reading\n\n" + _first_block(article) + "\n\n    A paragraph of mine on it.\n"
    walden.write_text(mine, encoding="utf-8")
    fake.add_highlight(WALDEN_ID, text="A new highlight, added in Readwise.", location=99_999)
    report = sync_once(settings)
    assert report.skipped_missing == []
    assert report.updated == [WALDEN]
    assert "A new highlight, added in Readwise." in walden.read_text(encoding="utf-8")


def test_a_book_sent_in_pieces_and_found_unchanged_counts_unchanged(
    settings: Settings, fake: FakeReadwise
) -> None:
    """Kept: every document a sync sees is counted once, a book the export sent in
    pieces (and decided again whole) too. (The release before counted it nowhere.)"""
    first = sync_once(settings)
    fake.pieces = {WALDEN_ID}
    fake.page_size = 1
    again = sync_once(settings, full=True)
    assert again.books_seen == first.books_seen
    assert again.created == again.updated == []
    assert again.unchanged == first.books_seen
