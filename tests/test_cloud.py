"""Tests for readwise_sync.notes.cloud: what sync clients leave in a vault, told from real notes."""

from __future__ import annotations

import unicodedata
from datetime import date, time

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from readwise_sync.notes.cloud import (
    FILE_ATTRIBUTE_RECALL_ON_DATA_ACCESS,
    MAX_COPY_NUMBER,
    SF_DATALESS,
    CloudFile,
    Folder,
    classify,
    offloaded,
    placeholder_name,
    placeholder_of,
    too_recent,
)
from readwise_sync.notes.naming import name_key, note_relpath, safe_name

# Titles as Readwise may send them: any text, cloud markers included now and then.
TITLES = st.text(min_size=1, max_size=60) | st.sampled_from(
    ["Chapter 2", "Notes (1)", "Vol. 2", "1984", "Catch-22", "Part 2 (2)", "A (b) 3"]
)
# Stems the tool itself may write: safe_name of any title, without ".md".
STEMS = TITLES.map(lambda title: safe_name(title).removesuffix(".md"))


def copy_of(name: str, siblings: set[str]) -> CloudFile:
    found = classify(name, siblings)
    assert found is not None, name
    assert found.kind == "conflict"
    return found


# --- conflict copies, one client at a time ---------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Walden.sync-conflict-20240115-093012-ABCDEFG.md",
        "Walden.sync-conflict-20240115-093012-K3X2R2T.md",
        "Walden.sync-conflict-20240115-093012.md",  # before the device ID was added
    ],
)
def test_syncthing_conflict_copies(name: str) -> None:
    found = copy_of(name, {"Walden.md", name})
    assert (found.client, found.original, found.certain, found.beside) == (
        "Syncthing",
        "Walden.md",
        True,
        True,
    )


def test_a_conflict_copy_of_a_conflict_copy_names_the_note() -> None:
    name = "Walden.sync-conflict-20240115-093012-ABCDEFG.sync-conflict-20240116-101010-ZZZZZZZ.md"
    assert copy_of(name, {"Walden.md"}).original == "Walden.md"


def test_an_unmistakable_copy_is_one_even_with_its_note_gone() -> None:
    found = copy_of("Walden.sync-conflict-20240115-093012-ABCDEFG.md", set())
    assert found.original == "Walden.md" and not found.beside
    assert "not beside it" in found.advice("Readwise/Books")


@pytest.mark.parametrize(
    ("name", "client"),
    [
        ("Walden (Jane's conflicted copy 2024-01-15).md", "Dropbox"),
        ("Walden (Jane Doe's conflicted copy 2024-01-15).md", "Dropbox"),
        ("Walden (Jane’s MacBook Pro’s conflicted copy 2024-01-15).md", "Dropbox"),
        ("Walden (conflicted copy 2024-01-15).md", "Dropbox"),
        ("Walden (Conflicted Copy 2024-01-15).md", "Dropbox"),
        ("Walden (conflicted copy 2018-04-10 093612).md", "Nextcloud"),
        ("Walden (conflicted copy alice 2018-04-10 093612).md", "Nextcloud"),
        ("Walden (conflicted copy).md", "your sync client"),
    ],
)
def test_conflicted_copies_of_dropbox_and_nextcloud(name: str, client: str) -> None:
    found = copy_of(name, {"Walden.md"})
    assert (found.client, found.original, found.certain) == (client, "Walden.md", True)


def test_a_title_with_brackets_keeps_them_in_the_original() -> None:
    found = copy_of("Walden (Annotated) (Jane's conflicted copy 2024-01-15).md", set())
    assert found.original == "Walden (Annotated).md"


@pytest.mark.parametrize("number", [2, 3, 12, MAX_COPY_NUMBER])
def test_icloud_numbered_duplicates_only_beside_their_note(number: int) -> None:
    name = f"Chapter {number}.md"
    found = copy_of(name, {"Chapter.md", name})
    assert (found.client, found.original, found.certain) == ("iCloud", "Chapter.md", False)
    assert classify(name, {name}) is None  # a book called "Chapter 2", on its own
    assert classify(name, set()) is None


@pytest.mark.parametrize("number", [1, 2, 9, MAX_COPY_NUMBER])
def test_google_drive_numbered_copies_only_beside_their_note(number: int) -> None:
    name = f"Notes ({number}).md"
    found = copy_of(name, {"Notes.md", name})
    assert (found.client, found.original, found.certain) == ("Google Drive", "Notes.md", False)
    assert classify(name, {name}) is None


@pytest.mark.parametrize(
    "name",
    [
        "Chapter 1.md",  # iCloud counts from 2
        "Chapter 0.md",
        "Chapter 02.md",
        f"Chapter {MAX_COPY_NUMBER + 1}.md",
        "Chapter 1984.md",
        "Notes (0).md",
        "Notes (01).md",
        f"Notes ({MAX_COPY_NUMBER + 1}).md",
        "Notes (51877310).md",  # our own suffix for a second book of the same title
        "Notes (51877310-2).md",
        "Notes (2-2).md",
        "Chapter2.md",
        "Notes(1).md",
    ],
)
def test_numbers_that_are_no_copy_even_beside_the_note(name: str) -> None:
    assert classify(name, {"Chapter.md", "Notes.md", name}) is None


def test_siblings_match_as_the_file_system_does() -> None:
    nfd = unicodedata.normalize("NFD", "Café.md")
    assert copy_of("Café 2.md", {nfd}).original == "Café.md"
    assert copy_of("Notes (1).md", {"notes.md"}).original == "Notes.md"


def test_a_folder_classifies_many_names_against_one_listing() -> None:
    names = ["Walden.md", "Walden 2.md", "Walden (1).md", "Other.md", ".Gone.md.icloud"]
    folder = Folder(names)
    assert "walden.md" in folder and "Missing.md" not in folder
    found = {name: folder.classify(name) for name in names}
    assert found["Walden.md"] is None and found["Other.md"] is None
    assert found["Walden 2.md"] is not None and found["Walden (1).md"] is not None
    gone = found[".Gone.md.icloud"]
    assert gone is not None and gone.kind == "placeholder" and gone.original == "Gone.md"


# --- placeholders -----------------------------------------------------------------------------


def test_icloud_placeholder_maps_back_to_the_note() -> None:
    assert placeholder_name("Walden.md") == ".Walden.md.icloud"
    assert placeholder_of(".Walden.md.icloud") == "Walden.md"
    found = classify(".Walden.md.icloud", {".Walden.md.icloud"})
    assert found is not None
    assert (found.kind, found.client, found.original, found.beside) == (
        "placeholder",
        "iCloud",
        "Walden.md",
        False,
    )
    assert "Readwise/Books/Walden.md" in found.advice("Readwise/Books")


@pytest.mark.parametrize(
    "name", ["Walden.md.icloud", "..icloud", ".icloud", ".Walden.md", ".Walden.md.iCloud"]
)
def test_not_a_placeholder(name: str) -> None:
    assert placeholder_of(name) is None
    assert classify(name, set()) is None


@given(STEMS)
@settings(max_examples=200)
def test_every_note_name_round_trips_through_its_placeholder(stem: str) -> None:
    name = stem + ".md"
    assert placeholder_of(placeholder_name(name)) == name


def test_offloaded_by_stat_flags() -> None:
    assert offloaded(st_flags=SF_DATALESS)
    assert offloaded(st_flags=SF_DATALESS | 0x20)
    assert offloaded(file_attributes=FILE_ATTRIBUTE_RECALL_ON_DATA_ACCESS)
    assert offloaded(file_attributes=0x1000)  # FILE_ATTRIBUTE_OFFLINE
    assert not offloaded()
    assert not offloaded(st_flags=0x8000, file_attributes=0x20)  # UF_HIDDEN, ARCHIVE


# --- no false positives ----------------------------------------------------------------------


@given(TITLES, st.integers(min_value=MAX_COPY_NUMBER + 1, max_value=10**12))
@settings(max_examples=300)
def test_our_own_names_for_same_title_books_are_never_copies(title: str, book_id: int) -> None:
    first = note_relpath("Readwise", "books", title, book_id=1, is_taken=lambda key: False)
    taken = {name_key(first)}
    second = note_relpath(
        "Readwise", "books", title, book_id=book_id, is_taken=lambda key: key in taken
    )
    third = note_relpath(
        "Readwise",
        "books",
        title,
        book_id=book_id,
        is_taken=lambda key: key in taken or key.endswith(f"({book_id}).md"),
    )
    names = {path.rsplit("/", 1)[1] for path in (first, second, third)}
    assume(not any(_marked(name) for name in names))
    for name in names - {first.rsplit("/", 1)[1]}:
        assert classify(name, names) is None, name


def _marked(name: str) -> bool:
    """Holds a marker no sync client would leave out (then the title really reads as one)."""
    lowered = name.casefold()
    return ".sync-conflict-" in lowered or "conflicted copy" in lowered


@given(TITLES)
@settings(max_examples=300)
def test_an_ordinary_title_alone_in_its_folder_is_no_cloud_file(title: str) -> None:
    name = safe_name(title)
    assume(not _marked(name))
    assert classify(name, {name}) is None


@given(STEMS, st.integers(min_value=2, max_value=MAX_COPY_NUMBER))
@settings(max_examples=200)
def test_every_numbered_duplicate_beside_its_note_is_found(stem: str, number: int) -> None:
    assume(not _marked(stem))
    original = stem + ".md"
    for name, client in ((f"{stem} {number}.md", "iCloud"), (f"{stem} ({number}).md", "Google")):
        found = classify(name, {original, name})
        assert found is not None and found.client.startswith(client), name
        assert found.original == original


DEVICE_IDS = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=7, max_size=7)


@given(STEMS, st.dates(min_value=date(1970, 1, 1)), st.times(), DEVICE_IDS)
@settings(max_examples=200)
def test_every_syncthing_copy_is_found(stem: str, day: date, moment: time, device: str) -> None:
    assume(not _marked(stem))
    stamp = f"{day:%Y%m%d}-{moment:%H%M%S}"
    found = classify(f"{stem}.sync-conflict-{stamp}-{device}.md", set())
    assert found is not None and found.client == "Syncthing"
    assert found.original == f"{stem}.md"


# --- what the user is told -------------------------------------------------------------------


def test_advice_is_one_line_naming_the_file_the_client_and_what_to_do() -> None:
    name = "Walden.sync-conflict-20240115-093012-ABCDEFG.md"
    advice = copy_of(name, {"Walden.md"}).advice("Readwise/Books")
    assert advice == (
        f"Readwise/Books/{name} is Syncthing's conflict copy of Walden.md; merge what you want "
        "from it into Walden.md and delete it (readwise-sync never adopts or writes it)"
    )
    weak = copy_of("Walden 2.md", {"Walden.md"}).advice()
    assert weak.startswith("Walden 2.md looks like iCloud's duplicate of Walden.md;")
    assert "\n" not in advice + weak


# --- the quiet period ------------------------------------------------------------------------


def test_a_note_modified_within_the_quiet_period_is_left() -> None:
    assert too_recent(100.0, 102.0, 5.0)
    assert too_recent(100.0, 100.0, 5.0)
    assert not too_recent(100.0, 105.0, 5.0)
    assert not too_recent(100.0, 1000.0, 5.0)


def test_a_quiet_period_of_zero_leaves_nothing() -> None:
    assert not too_recent(100.0, 100.0, 0.0)


def test_a_clock_far_ahead_does_not_hold_a_note_back_for_ever() -> None:
    assert too_recent(103.0, 100.0, 5.0)  # a little ahead: as good as just written
    assert not too_recent(100.0 + 86400, 100.0, 5.0)  # a day ahead: a skewed clock


@given(
    st.floats(min_value=0, max_value=2e9),
    st.floats(min_value=0.001, max_value=3600),
    st.floats(min_value=0, max_value=1),
)
def test_too_recent_is_exactly_within_the_period(now: float, period: float, part: float) -> None:
    assert too_recent(now - period * part * 0.999, now, period)
    assert not too_recent(now - period * (1.001 + part), now, period)
