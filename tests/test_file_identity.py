"""File identity as evidence: which file a note is (device and inode, which a rename
keeps), recorded when the tool writes it, and used before what the note holds.

The syncs come from a :class:`~readwise_sync.readwise.source.MemorySource`; the vault is
a real folder, so the filesystem's own inodes are what is tested.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from readwise_sync.app.config import Settings
from readwise_sync.app.locations import state_db_path
from readwise_sync.app.wiring import sync_once
from readwise_sync.notes.identity import Authorship, Evidence, Library, NotOurs, Ours, judge
from readwise_sync.notes.layout import Layout
from readwise_sync.readwise.source import MemorySource
from readwise_sync.readwise.wire import Book
from readwise_sync.store.state import State
from readwise_sync.store.vault import Vault

from .factories import library


@pytest.fixture
def records() -> list[dict[str, Any]]:
    return library(random.Random(11), 3)


def changed(records: list[dict[str, Any]], doc: str) -> Book:
    """The document with a highlight added in Readwise, after everything the source had."""
    (record,) = [r for r in records if str(r["user_book_id"]) == doc]
    added = {**record["highlights"][0], "id": 999_999, "text": "A highlight made later."}
    added.update(location=10_000, updated_at="2027-01-01T00:00:00Z")
    return Book.model_validate({**record, "highlights": [*record["highlights"], added]})


def paths_of(settings: Settings) -> dict[str, str]:
    with State.open(state_db_path(settings.state_dir, settings.vault)) as state:
        return {doc: path for doc, (path, held) in state.load_paths().items() if held}


def test_each_note_written_is_recorded_with_the_file_it_is(
    local: Settings, records: list[dict[str, Any]]
) -> None:
    sync_once(local, source=MemorySource.of(Book.model_validate(r) for r in records))
    vault = Vault(local.vault)
    with State.open(state_db_path(local.state_dir, local.vault)) as state:
        notes = state.load_notes(state.load_paths())
    assert len(notes) == 3
    for record in notes.values():
        assert record.file is not None
        assert record.file == vault.file_id(record.path)


def test_a_renamed_note_is_told_from_a_copy_of_it_by_the_file(
    local: Settings, records: list[dict[str, Any]]
) -> None:
    """The user copies a note, then renames the original, and edits both alike: what
    the two hold can't tell them apart; the file can."""
    source = MemorySource.of(Book.model_validate(r) for r in records)
    sync_once(local, source=source)
    doc, path = sorted(paths_of(local).items())[0]
    original = local.vault / path
    copy = local.vault / "Copy of it.md"
    shutil.copyfile(original, copy)
    moved = local.vault / "Renamed.md"
    original.rename(moved)
    for note in (moved, copy):
        note.write_text(note.read_text(encoding="utf-8") + "\nMy own line.\n", encoding="utf-8")
    copy_text = copy.read_text(encoding="utf-8")
    source.put(changed(records, doc))
    report = sync_once(local, source=source)
    assert paths_of(local)[doc] == "Renamed.md"
    assert copy.read_text(encoding="utf-8") == copy_text  # the copy is the user's, untouched
    assert not report.created and not original.exists()  # no note made again


def test_an_inode_taken_by_another_file_proves_nothing(
    local: Settings, records: list[dict[str, Any]], tmp_path: Path
) -> None:
    """A note deleted frees its inode, which a new file may get: a file holding nothing
    of the book's is not its note, whatever its inode."""
    source = MemorySource.of(Book.model_validate(r) for r in records)
    sync_once(local, source=source)
    doc, path = sorted(paths_of(local).items())[0]
    note = local.vault / path
    text = note.read_text(encoding="utf-8")
    stranger = local.vault / "Shopping.md"
    note.rename(stranger)  # the same inode, now a file of the user's own
    stranger.write_text("milk\neggs\n", encoding="utf-8")
    source.put(changed(records, doc))
    sync_once(local, source=source, recreate_deleted=True)
    assert stranger.read_text(encoding="utf-8") == "milk\neggs\n"
    assert paths_of(local)[doc] != "Shopping.md"
    assert (
        (local.vault / paths_of(local)[doc])
        .read_text(encoding="utf-8")
        .startswith(text.split("## Highlights")[0])
    )


def _emptied(same_file: bool) -> Evidence:
    """A note at its book's path, emptied by the user, while another edition of the book
    (same title and metadata) lost its note since the last sync."""
    layout = Layout(
        frontmatter={"title": "Walden"},
        sections={"preamble": "## Metadata\n- Author: [[Thoreau]]"},
        blocks={"1": "- The mass of men lead lives of quiet desperation."},
    )
    twin = Layout(frontmatter=layout.frontmatter, sections=layout.sections, blocks={"9": "- x"})
    return Evidence(
        book_id="1",
        path="Walden.md",
        text="",
        digest="emptied",
        written=("what the tool wrote",),
        library=Library(
            hash_owners=frozenset(),
            layouts=(layout,),
            authorship=Authorship.of([("1", layout), ("2", twin)]),
            lost=frozenset({"2"}),
        ),
        found={},
        same_file=same_file,
    )


def test_an_emptied_note_still_the_file_the_tool_wrote_is_the_books() -> None:
    assert isinstance(judge(_emptied(same_file=True)), Ours)


def test_without_the_file_an_emptied_note_may_be_the_other_editions() -> None:
    assert isinstance(judge(_emptied(same_file=False)), NotOurs)


def test_a_path_that_cannot_be_asked_gives_no_file_identity(tmp_path: Path) -> None:
    vault = Vault(tmp_path)
    (tmp_path / "note.md").write_text("x", encoding="utf-8")
    assert vault.file_id("note.md") is not None
    for refused in ("../outside.md", "a\x00b.md", "note.md/below.md", "missing.md"):
        assert vault.file_id(refused) is None, refused
