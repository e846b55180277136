"""A vault and state made by release 0.1.0, synced by this code.

``tests/fixtures/release-0.1.0`` was made by that release (see its ``make_fixture.py``):
a note edited with a conflict waiting, a note moved, a note deleted. The upgrade must
migrate the state in place and then behave as that release would have: nothing
duplicated, no unchanged note rewritten, every word the user wrote kept.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from readwise_sync.app.config import Settings
from readwise_sync.app.locations import state_db_path
from readwise_sync.app.wiring import sync_once
from readwise_sync.readwise.fakeapi import FakeReadwise
from readwise_sync.store.state import SCHEMA_VERSION, State

from .conftest import TOKEN, settings_for

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "release-0.1.0"
WALDEN = "Readwise/Books/Walden.md"
MOVED = "Moved/Plain.md"
GONE = "Readwise/Podcasts/Episode 42 Notes That Outlive the App.md"
WALDEN_ID, PLAIN_ID = 38100452, 51877310


def snapshot(vault: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(path.relative_to(vault)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(vault.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def upgraded(tmp_path: Path) -> tuple[Settings, FakeReadwise]:
    """The release's vault and state, put where this code looks for them."""
    vault = tmp_path / "vault"
    shutil.copytree(FIXTURE / "vault", vault)
    an_hour_ago = time.time() - 3600  # a checkout's files are new: not the user's saves
    for path in vault.rglob("*.md"):
        os.utime(path, (an_hour_ago, an_hour_ago))
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    shutil.copyfile(FIXTURE / "state.sqlite3", state_db_path(state_dir, vault))
    fake = FakeReadwise.from_file(FIXTURE / "library.json", token=TOKEN).start()
    return settings_for(fake, vault, state_dir), fake


def schema_of(db_path: Path) -> str:
    db = sqlite3.connect(db_path)
    try:
        return db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
    finally:
        db.close()


def test_the_fixture_is_the_release_s() -> None:
    assert schema_of(FIXTURE / "state.sqlite3") == "2"


def test_an_upgraded_sync_with_nothing_new_changes_nothing(
    upgraded: tuple[Settings, FakeReadwise],
) -> None:
    settings, fake = upgraded
    assert settings.vault is not None
    before = snapshot(settings.vault)
    try:
        report = sync_once(settings, full=True)  # every document decided again
    finally:
        fake.stop()
    assert report.created == [] and report.updated == [] and report.adopted == []
    assert snapshot(settings.vault) == before  # not a byte, not an mtime
    assert schema_of(state_db_path(settings.state_dir, settings.vault)) == str(SCHEMA_VERSION)
    state = State.open(state_db_path(settings.state_dir, settings.vault))
    try:
        assert [c["path"] for c in state.load_conflicts()] == [WALDEN]  # still waiting
    finally:
        state.close()


def test_after_the_upgrade_news_merges_into_the_user_s_notes(
    upgraded: tuple[Settings, FakeReadwise],
) -> None:
    settings, fake = upgraded
    assert settings.vault is not None
    try:
        fake.add_highlight(WALDEN_ID, text="Simplify, simplify.")
        fake.add_highlight(PLAIN_ID, text="Plain text is the lingua franca.")
        report = sync_once(settings)
    finally:
        fake.stop()
    assert sorted(report.updated) == sorted([WALDEN, MOVED])
    assert report.created == []
    walden = (settings.vault / WALDEN).read_text(encoding="utf-8")
    assert "Simplify, simplify." in walden
    assert "(my rewording)" in walden and "My own thoughts on Walden." in walden
    assert "Plain text is the lingua franca." in (settings.vault / MOVED).read_text("utf-8")
    assert not (settings.vault / GONE).exists()  # deleted by the user: stays deleted
    notes = sorted(str(p.relative_to(settings.vault)) for p in settings.vault.rglob("*.md"))
    assert len(notes) == 3  # no duplicate of the moved note, none of the deleted one
