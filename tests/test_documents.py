"""A document is one note however the export sends it, and the cursor is Readwise's clock.

The export may send a book twice on one page, or split over two pages (whether the real
one does is not documented): the note is the union of its highlights, made once, at the
name it would have had, with no temporary file left and nothing to repair later. The
cursor saved is Readwise's time (the answers' ``Date``), so a machine clock a day off in
either direction neither skips nor refetches changes.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from readwise_sync.app.config import Settings
from readwise_sync.app.locations import state_db_path
from readwise_sync.app.wiring import sync_once
from readwise_sync.readwise.fakeapi import FakeReadwise
from readwise_sync.store.state import State

from .conftest import cli_env, load_cursor, note_files, run_cli

ESSAY = 45210733  # 19 highlights: the demo's longest document
WALDEN = "Readwise/Books/Walden.md"


def reference_notes(settings: Settings, tmp_path: Path) -> dict[str, str]:
    """The notes one plain sync of the demo library makes (no pieces)."""
    vault = tmp_path / "reference"
    vault.mkdir()
    with FakeReadwise.demo(token=settings.token or "") as plain:
        other = dataclasses.replace(
            settings, vault=vault, api_url=plain.url, state_dir=tmp_path / "reference-state"
        )
        sync_once(other)
    return note_files(vault)


def leftovers(vault: Path) -> list[Path]:
    return list(vault.rglob(".readwise-sync-*"))


def tracked_paths(settings: Settings) -> list[str]:
    assert settings.vault is not None
    with State.open(state_db_path(settings.state_dir, settings.vault)) as state:
        return [record.path for record in state.load_notes([ESSAY, 38100452]).values()]


@pytest.mark.parametrize(
    ("page_size", "how"), [(100, "twice on one page"), (3, "split over two pages")]
)
def test_a_document_sent_in_pieces_is_one_note_with_all_its_highlights(
    settings: Settings, fake: FakeReadwise, tmp_path: Path, page_size: int, how: str
) -> None:
    expected = reference_notes(settings, tmp_path)
    fake.page_size = page_size
    fake.pieces = {ESSAY}
    report = sync_once(settings)
    vault = settings.vault
    assert vault is not None
    assert note_files(vault) == expected, how
    assert report.skipped_missing == []
    assert len(report.created) == 4
    assert leftovers(vault) == []
    for path in tracked_paths(settings):
        assert (vault / path).exists()
    # nothing to repair later: a full sync changes nothing, and brings back no second note
    again = sync_once(settings, full=True, recreate_deleted=True)
    assert again.created == [] and again.updated == []
    assert note_files(vault) == expected


def test_pieces_of_a_document_whose_note_exists_update_it_whole(
    settings: Settings, fake: FakeReadwise, tmp_path: Path
) -> None:
    sync_once(settings)
    fake.update_highlight(fake.books()[0]["highlights"][0]["id"], note="changed upstream")
    fake.page_size = 3
    fake.pieces = {ESSAY}
    sync_once(settings, full=True)
    fake.pieces = set()
    plain = note_files(settings.vault)  # type: ignore[arg-type]
    sync_once(settings, full=True)
    assert note_files(settings.vault) == plain  # the pieces gave what the whole book gives
    assert leftovers(settings.vault) == []  # type: ignore[arg-type]


@pytest.mark.parametrize("readwise_is", [timedelta(days=-1), timedelta(days=1)])
def test_a_skewed_machine_clock_skips_no_change(
    settings: Settings, fake: FakeReadwise, readwise_is: timedelta
) -> None:
    """Readwise a day behind this machine (our clock a day ahead), or a day ahead."""
    fake.clock_offset = readwise_is
    sync_once(settings)
    walden_highlight = next(
        h["id"] for b in fake.books() if "Walden" in str(b["title"]) for h in b["highlights"]
    )
    fake.update_highlight(walden_highlight, note="Written in Readwise after the first sync.")
    report = sync_once(settings)
    assert report.updated == [WALDEN]
    assert "Written in Readwise after the first sync." in note_files(settings.vault)[WALDEN]  # type: ignore[arg-type]
    # the cursor is Readwise's time, not this machine's
    cursor = load_cursor(settings)
    assert isinstance(cursor, datetime)
    assert abs(cursor - (datetime.now(UTC) + readwise_is)) < timedelta(minutes=1)


def test_a_note_that_is_not_utf8_costs_only_its_document(
    fake: FakeReadwise, vault: Path, tmp_path: Path
) -> None:
    env = cli_env(fake, tmp_path, "quiet_period = 0\n")  # notes are fixed, then synced
    assert run_cli("sync", "-q", "--vault", str(vault), env=env).returncode == 0
    walden = vault / WALDEN
    broken = walden.read_bytes() + b"\nwritten in Latin-1: caf\xe9\n"
    walden.write_bytes(broken)
    for book in fake.books():  # every document changes upstream
        first = book["highlights"][0]["id"]  # type: ignore[index]
        fake.update_highlight(first, note="changed upstream")
    result = run_cli("sync", "--vault", str(vault), env=env)
    assert result.returncode == 5, result.stderr
    assert f"{WALDEN} is not UTF-8 text" in result.stdout
    assert "3 updated" in result.stdout
    assert walden.read_bytes() == broken  # left exactly as it is
    others = [p for p in vault.rglob("*.md") if p != walden]
    assert all("changed upstream" in p.read_text(encoding="utf-8") for p in others)
    # retried at every run until the user saves it as UTF-8; then it converges
    again = run_cli("sync", "-q", "--vault", str(vault), env=env)
    assert again.returncode == 5 and "not UTF-8" in again.stderr
    walden.write_text(broken.decode("latin-1"), encoding="utf-8")
    fixed = run_cli("sync", "--vault", str(vault), env=env)
    assert fixed.returncode == 0, fixed.stderr
    text = walden.read_text(encoding="utf-8")
    assert "changed upstream" in text and "written in Latin-1: café" in text


def test_a_record_without_an_id_costs_only_itself_and_holds_the_cursor(
    settings: Settings, fake: FakeReadwise
) -> None:
    sync_once(settings)
    cursor = load_cursor(settings)
    fake.add_highlight(38100452, text="Arrived beside an unreadable record.", location=9000)
    fake.garbage(
        b'{"count": 2, "nextPageCursor": null, "results": [{"title": "no id"},'
        b' {"user_book_id": 38100452, "title": "Walden", "highlights": [{"id": 5, "text": "x",'
        b' "updated_at": "2030-01-01T00:00:00Z"}]}]}'
    )
    report = sync_once(settings)
    assert [what for what, _ in report.failed] == ['book #1 ("no id")']
    assert report.updated == [WALDEN]  # the other document on the page synced
    assert load_cursor(settings) == cursor  # not past the record it couldn't read
