"""Nothing is taken for the user's in silence: Readwise's edits arrive after the state is
lost, and an edit Readwise makes to a block the user changed past recognition is a conflict.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from readwise_sync.app.config import Settings
from readwise_sync.app.locations import state_db_path
from readwise_sync.app.wiring import sync_once
from readwise_sync.notes.merge import Layout, merge_note
from readwise_sync.readwise.fakeapi import FakeReadwise
from readwise_sync.store.state import State

from .conftest import first_sync, note_files

WALDEN = "Readwise/Books/Walden.md"
WALDEN_ID = 38100452


def first_highlight(fake: FakeReadwise, book_id: int) -> dict[str, object]:
    (book,) = [b for b in fake.books() if b["user_book_id"] == book_id]
    live = [h for h in book["highlights"] if not h.get("is_deleted") and not h.get("is_discard")]  # type: ignore[union-attr]
    return min(live, key=lambda h: h.get("location") or 0)  # type: ignore[no-any-return]


def lose_the_state(settings: Settings) -> None:
    shutil.rmtree(settings.state_dir)


def age(note: Path, seconds: float = 60) -> None:
    """Make a note look saved a while ago (before the edit Readwise is about to make)."""
    then = time.time() - seconds
    os.utime(note, (then, then))


def test_after_the_state_is_lost_a_readwise_edit_is_a_conflict_not_the_users_text(
    settings: Settings, fake: FakeReadwise
) -> None:
    """The note still says what Readwise said before: whose the difference is can't be
    told (see the next test), so it is a conflict that shows Readwise's text, at every
    sync until it is settled, and the note is left as it is."""
    sync_once(settings)
    vault = settings.vault
    assert vault is not None
    age(vault / WALDEN)
    lose_the_state(settings)
    highlight = first_highlight(fake, WALDEN_ID)
    fake.update_highlight(int(highlight["id"]), text="Edited in Readwise, state lost.")  # type: ignore[call-overload]
    report = sync_once(settings)
    assert report.conflicts == [WALDEN]
    assert str(highlight["text"]) in note_files(vault)[WALDEN]
    (waiting,) = conflicts(settings)
    assert "Edited in Readwise, state lost." in str(waiting["upstream"])
    fake.update_highlight(int(highlight["id"]), note="And a note.")  # type: ignore[call-overload]
    assert sync_once(settings).conflicts == [WALDEN]  # still one, not a silent drop


def test_a_tag_added_in_readwise_does_not_undo_the_users_wording(
    settings: Settings, fake: FakeReadwise
) -> None:
    """Readwise moves updated_at for a tag too: the note's time against it proves nothing."""
    _, note = first_sync(settings)
    original = "The mass of men lead lives of quiet desperation."
    reworded = "The mass of men lead lives of quiet, desperate resignation."
    note.write_text(note.read_text(encoding="utf-8").replace(original, reworded))
    age(note, 86400)
    lose_the_state(settings)
    fake.update_highlight(701000011, tags=[{"id": 77, "name": "favorite"}])
    report = sync_once(settings)
    assert reworded in note.read_text(encoding="utf-8")
    assert report.conflicts == [WALDEN]


def test_a_deleted_highlight_whose_words_another_repeats_is_no_conflict() -> None:
    """Two overlapping highlights of one passage; the user deleted one, Readwise edits it."""
    one = "- I went to the woods because I wished to live deliberately."
    two = "- Went to the woods because I wished to live deliberately, to front only the facts."
    last = Layout(blocks={1: one, 2: two})
    new = Layout(blocks={1: one.replace("went", "WENT"), 2: two})
    merged = merge_note("## Highlights\n" + two + "\n", last, new)
    assert merged.conflicts == []


def test_a_short_deleted_highlight_is_no_trace_inside_a_longer_word() -> None:
    last = Layout(blocks={1: "- Love", 2: "- Loveliness is everywhere in these woods."})
    new = Layout(blocks={1: "- Love, edited", 2: last.blocks[2]})
    merged = merge_note("## Highlights\n" + last.blocks[2] + "\n", last, new)
    assert merged.conflicts == []


def test_after_the_state_is_lost_a_note_saved_since_is_a_conflict_not_a_silent_win(
    settings: Settings, fake: FakeReadwise
) -> None:
    sync_once(settings)
    vault = settings.vault
    assert vault is not None
    lose_the_state(settings)
    highlight = first_highlight(fake, WALDEN_ID)
    fake.update_highlight(int(highlight["id"]), text="Edited in Readwise, state lost.")  # type: ignore[call-overload]
    time.sleep(0.05)
    note = vault / WALDEN
    note.write_text(note.read_text(encoding="utf-8") + "\nMy line.\n", encoding="utf-8")
    report = sync_once(settings)
    text = note.read_text(encoding="utf-8")
    assert str(highlight["text"]) in text and "My line." in text  # both kept, unknown whose
    assert report.conflicts == [WALDEN]


def add_linkless_book(fake: FakeReadwise) -> None:
    fake.add_book(
        {
            "user_book_id": 700,
            "title": "Commonplace",
            "category": "books",
            "highlights": [
                {"id": 7001, "text": "Simplify, simplify, and then simplify again.", "location": 1},
                {
                    "id": 7002,
                    "text": "Short.\n\nThe second paragraph of a longer highlight, with words.",
                    "location": 2,
                },
            ],
        }
    )


def test_readwise_edit_of_a_block_edited_past_recognition_is_a_conflict(
    settings: Settings, fake: FakeReadwise
) -> None:
    """Bold on the first words of a highlight with no location link, and a line written
    under the short first paragraph of a multi-paragraph one: nothing the old rule looked
    for is left, the blocks were taken for deleted, and Readwise's edits showed nowhere."""
    add_linkless_book(fake)
    sync_once(settings)
    vault = settings.vault
    assert vault is not None
    note = vault / "Readwise/Books/Commonplace.md"
    original = note.read_text(encoding="utf-8")
    assert "- Simplify, simplify, and then simplify again.\n" in original
    assert "- Short.\n" in original
    edited = original.replace("- Simplify, simplify,", "- **Simplify, simplify**,").replace(
        "- Short.\n", "- Short.\nMy thought on it.\n"
    )
    note.write_text(edited, encoding="utf-8")
    fake.update_highlight(7001, note="Readwise added a note.")
    fake.update_highlight(7002, note="And another.")
    report = sync_once(settings)
    assert report.conflicts == ["Readwise/Books/Commonplace.md"]
    assert note.read_text(encoding="utf-8") == edited  # the user's text stays as it is
    assert sorted(c["block_id"] for c in conflicts(settings)) == ["h:7001", "h:7002"]


def conflicts(settings: Settings) -> list[dict[str, object]]:
    assert settings.vault is not None
    with State.open(state_db_path(settings.state_dir, settings.vault)) as state:
        return state.load_conflicts()
