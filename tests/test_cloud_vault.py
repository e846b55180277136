"""A vault kept in iCloud, Syncthing or Dropbox: placeholders, conflict copies and notes
just saved are never adopted, never written over, and each is reported with what to do."""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

from readwise_sync.app.config import Settings
from readwise_sync.app.wiring import sync_once
from readwise_sync.readwise.fakeapi import FakeReadwise

from .conftest import first_sync, note_files

WALDEN = "Readwise/Books/Walden.md"


def test_an_offloaded_note_is_not_deleted_nor_written_again(
    settings: Settings, fake: FakeReadwise
) -> None:
    _, note = first_sync(settings)
    placeholder = note.with_name(".Walden.md.icloud")
    placeholder.write_bytes(b"bplist00")  # iCloud keeps the text in the cloud
    note.unlink()
    fake.add_highlight(38100452, text="Highlighted while the note was offloaded.", location=9)
    report = sync_once(settings, recreate_deleted=True)
    assert report.offloaded == [WALDEN]
    assert report.skipped_missing == [] and report.created == []
    assert not note.exists()  # no second note for iCloud to call "Walden 2.md"
    # downloaded again: the next run updates it, though Readwise changed nothing since
    placeholder.unlink()
    note.write_text(note_files_before(settings, fake)[WALDEN], encoding="utf-8")
    again = sync_once(settings)
    assert again.updated == [WALDEN]
    assert "Highlighted while the note was offloaded." in note.read_text(encoding="utf-8")


def note_files_before(settings: Settings, fake: FakeReadwise) -> dict[str, str]:
    """The notes as the first sync wrote them (a second vault, same library minus the
    new highlight is not needed: the note's old text is any earlier rendering)."""
    vault = settings.vault
    assert vault is not None
    other = dataclasses.replace(
        settings, vault=vault.parent / "again", state_dir=vault.parent / "s2"
    )
    other.vault.mkdir()  # type: ignore[union-attr]
    sync_once(other)
    return note_files(other.vault)  # type: ignore[arg-type]


def test_a_conflict_copy_is_never_adopted_and_is_reported(
    settings: Settings, fake: FakeReadwise
) -> None:
    _, note = first_sync(settings)
    copy = note.with_name("Walden.sync-conflict-20240115-093012-ABCDEFG.md")
    copy.write_text(note.read_text(encoding="utf-8") + "\nOn the other laptop.\n", encoding="utf-8")
    note.unlink()  # the note is gone; only Syncthing's copy holds its text
    fake.add_highlight(38100452, text="A new highlight upstream.", location=9)
    report = sync_once(settings)
    assert report.moved == [] and report.adopted == []
    assert WALDEN in report.skipped_missing
    assert any("Syncthing's conflict copy of Walden.md" in line for line in report.cloud_copies)
    assert "On the other laptop." in copy.read_text(encoding="utf-8")  # never written


def test_a_note_saved_moments_ago_is_left_for_the_next_run(
    settings: Settings, fake: FakeReadwise
) -> None:
    quiet = dataclasses.replace(settings, quiet_period=3600)
    sync_once(quiet)
    vault = settings.vault
    assert vault is not None
    note = vault / WALDEN
    edited = note.read_text(encoding="utf-8") + "\nTyping this right now.\n"
    note.write_text(edited, encoding="utf-8")
    fake.add_highlight(38100452, text="A new highlight upstream.", location=9)
    report = sync_once(quiet)
    assert report.skipped_busy == [WALDEN]
    assert note.read_text(encoding="utf-8") == edited
    # the quiet period over (here: turned off), the next run merges it, asked or not
    then = time.time() - 7200
    import os

    os.utime(note, (then, then))
    later = sync_once(quiet)
    assert later.updated == [WALDEN]
    text = note.read_text(encoding="utf-8")
    assert "A new highlight upstream." in text and "Typing this right now." in text


def test_notes_the_tool_wrote_itself_are_not_held_back(
    settings: Settings, fake: FakeReadwise
) -> None:
    quiet = dataclasses.replace(settings, quiet_period=3600)
    sync_once(quiet)
    fake.add_highlight(38100452, text="Another one.", location=9)
    assert sync_once(quiet).updated == [WALDEN]  # just written by us: not the user's save
    assert Path(settings.vault, WALDEN).exists()  # type: ignore[arg-type]


def test_an_icloud_duplicate_holding_the_notes_text_is_never_taken_for_it(
    settings: Settings, fake: FakeReadwise
) -> None:
    _, note = first_sync(settings)
    duplicate = note.with_name("Walden 2.md")
    duplicate.write_text(note.read_text(encoding="utf-8") + "\nTyped on the phone.\n")
    copy_text = duplicate.read_text(encoding="utf-8")
    shutil.rmtree(settings.state_dir)  # every note is looked for again, by its content
    report = sync_once(settings)
    assert WALDEN in report.adopted and "Readwise/Books/Walden 2.md" not in report.adopted
    assert duplicate.read_text(encoding="utf-8") == copy_text
    assert any("Walden 2.md looks like" in line for line in report.cloud_copies)


def test_a_note_named_like_a_duplicate_but_of_its_own_is_an_ordinary_note(
    settings: Settings, fake: FakeReadwise
) -> None:
    """ "Chapter 2.md" beside "Chapter.md", each another document's: both adopted."""
    vault = settings.vault
    assert vault is not None
    for book_id, title in ((801, "Chapter"), (802, "Chapter 2")):
        fake.add_book(
            {
                "user_book_id": book_id,
                "title": title,
                "category": "books",
                "highlights": [{"id": book_id * 10, "text": f"Words of {title}.", "location": 1}],
            }
        )
    first = sync_once(settings)
    assert {"Readwise/Books/Chapter.md", "Readwise/Books/Chapter 2.md"} <= set(first.created)
    shutil.rmtree(settings.state_dir)  # adopt them again, as notes of another tool
    again = sync_once(settings)
    assert again.created == []
    assert {"Readwise/Books/Chapter.md", "Readwise/Books/Chapter 2.md"} <= set(again.adopted)
