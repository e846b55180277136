"""Cases a break-it read of the write protocol, the cursor and the retry list found; each
failed before its fix. (Adoption and trace cases are in test_lost_state.py.)"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from readwise_sync.app.config import Settings
from readwise_sync.app.locations import state_db_path
from readwise_sync.app.wiring import sync_once
from readwise_sync.readwise.fakeapi import FakeReadwise
from readwise_sync.store import durable
from readwise_sync.store.state import State

WALDEN_ID = 38100452
WALDEN = "Readwise/Books/Walden.md"
QUIET = "The mass of men lead lives of QUIET desperation."


def retry_list(settings: Settings) -> list[str]:
    assert settings.vault is not None
    with State.open(state_db_path(settings.state_dir, settings.vault)) as state:
        return state.load_retry()


def test_one_run_with_a_wrong_date_does_not_carry_the_cursor_off(
    settings: Settings, fake: FakeReadwise, vault: Path
) -> None:
    """A proxy a year ahead for one run: that Date is far from this clock and from every
    change Readwise sent, so it is not taken for Readwise's time."""
    sync_once(settings)
    fake.add_highlight(WALDEN_ID, text="Seen by the run whose Date is wrong.", location=8)
    fake.clock_offset = timedelta(days=365)
    sync_once(settings)
    fake.clock_offset = timedelta(0)
    fake.add_highlight(WALDEN_ID, text="Added after the clock was right again.", location=9)
    sync_once(settings)
    assert "Added after the clock was right again." in (vault / WALDEN).read_text()


def user_saves_at_every_swap(monkeypatch: pytest.MonkeyPatch, note: str, times: int) -> list[int]:
    """An autosave landing on ``note`` just before each of its first ``times`` swaps."""
    real = durable.replace_if_unchanged
    saves: list[int] = []

    def replace(temp: str, target: str, expect: str | None, ours: str) -> durable.Placed:
        if target.endswith(note) and len(saves) < times:
            saves.append(len(saves))
            with open(target, "a", encoding="utf-8") as handle:
                handle.write(f"typed {len(saves)}\n")
        return real(temp, target, expect, ours)

    monkeypatch.setattr(durable, "replace_if_unchanged", replace)
    return saves


def test_a_note_left_after_three_attempts_is_fetched_again(
    settings: Settings, fake: FakeReadwise, vault: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_once(settings)
    now = datetime.now(UTC)  # the last run was two hours ago, the edit one hour ago
    with State.open(state_db_path(settings.state_dir, vault)) as state, state.transaction():
        state.save_cursor(now - timedelta(hours=2))
    stamp = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    fake.update_highlight(701000011, text=QUIET, updated_at=stamp)
    user_saves_at_every_swap(monkeypatch, "Walden.md", times=100)
    report = sync_once(settings)
    assert WALDEN in report.skipped_busy
    assert retry_list(settings) == [str(WALDEN_ID)]
    monkeypatch.undo()
    sync_once(settings)  # the user stopped typing; nothing else changed in Readwise
    text = (vault / WALDEN).read_text()
    assert QUIET in text and "typed 3" in text
    assert retry_list(settings) == []


def test_a_retried_book_gone_from_readwise_leaves_the_list(
    settings: Settings, fake: FakeReadwise, vault: Path
) -> None:
    sync_once(settings)
    with State.open(state_db_path(settings.state_dir, vault)) as state, state.transaction():
        state.save_retry([WALDEN_ID])
    fake.forget_book(WALDEN_ID)
    sync_once(settings)
    assert retry_list(settings) == []


def test_a_book_in_pieces_decided_again_twice_is_not_dropped(
    settings: Settings, fake: FakeReadwise, vault: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_once(settings)
    fake.page_size = 1
    fake.pieces = {WALDEN_ID}
    fake.update_highlight(701000011, text=QUIET)
    note = vault / WALDEN
    real_flush = durable.flush_files

    def typed_while_fetching(root: str, paths: list[str], *, whole_disk: bool) -> None:
        if "typed while fetching" not in note.read_text():  # once, before the writes begin
            with open(note, "a", encoding="utf-8") as handle:
                handle.write("typed while fetching\n")
        real_flush(root, paths, whole_disk=whole_disk)

    monkeypatch.setattr(durable, "flush_files", typed_while_fetching)
    user_saves_at_every_swap(monkeypatch, "Walden.md", times=1)
    report = sync_once(settings)
    text = note.read_text()
    assert report.updated == [WALDEN]
    assert QUIET in text and "typed while fetching" in text and "typed 1" in text


def test_a_note_that_is_a_symlink_inside_the_vault_is_updated_through_it(
    settings: Settings, fake: FakeReadwise, vault: Path
) -> None:
    sync_once(settings)
    note = vault / WALDEN
    real = vault / "Real notes" / "Walden.md"
    real.parent.mkdir()
    note.rename(real)
    note.symlink_to(real)
    fake.update_highlight(701000011, text=QUIET)
    report = sync_once(settings)
    assert report.updated == [WALDEN]
    assert note.is_symlink() and QUIET in real.read_text()  # the user's link kept


def test_a_save_then_undo_during_the_swap_does_not_stop_the_run(
    settings: Settings, fake: FakeReadwise, vault: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_once(settings)
    fake.update_highlight(701000011, text=QUIET)
    note = vault / WALDEN
    original = note.read_text()
    real = durable.replace_if_unchanged
    done: list[str] = []

    def replace(temp: str, target: str, expect: str | None, ours: str) -> durable.Placed:
        if target.endswith("Walden.md") and not done:
            done.append(target)
            note.write_text(original + "x")  # a key typed ...
            placed = real(temp, target, expect, ours)
            note.write_text(original)  # ... and undone
            return placed
        return real(temp, target, expect, ours)

    monkeypatch.setattr(durable, "replace_if_unchanged", replace)
    report = sync_once(settings)
    assert report.updated == [WALDEN] and QUIET in note.read_text()


CHILD = r"""
import os, sys
from pathlib import Path
from readwise_sync.store import durable
from readwise_sync.app.config import Settings
from readwise_sync.app.wiring import sync_once
vault, url, token, state = sys.argv[1:5]
real = durable.exchange
def exchange(first, second):
    if second.endswith("Walden.md"):
        with open(second, "a", encoding="utf-8") as handle:  # the user's save, after the read
            handle.write("MY PRECIOUS EDIT\n")
        real(first, second)
        os._exit(137)  # killed right after the swap, before its check
    return real(first, second)
durable.exchange = exchange
sync_once(Settings(vault=Path(vault), token=token, api_url=url, state_dir=Path(state)))
"""


def test_a_save_landing_in_the_instant_of_a_swap_survives_a_kill(
    settings: Settings, fake: FakeReadwise, vault: Path
) -> None:
    sync_once(settings)
    fake.update_highlight(701000011, text=QUIET)
    args = [str(vault), fake.url, settings.token or "", str(settings.state_dir)]
    child = subprocess.run(
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 137, child.stderr
    report = sync_once(settings)  # the next run sweeps what the killed one left
    kept = [p for p in vault.rglob("*.md") if "MY PRECIOUS EDIT" in p.read_text()]
    assert kept, "the user's save was swept away"
    assert [p.relative_to(vault).as_posix() for p in kept] == report.copies
    assert not list(vault.rglob(".readwise-sync-*"))
