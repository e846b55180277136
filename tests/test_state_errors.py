"""A state database that is corrupt, read-only or on a full disk: one line naming the file
and what to do, exit 1, and the vault as it was or fully written.

A full disk and a read-only file are simulated in the SQLite they reach (a page limit, a
read-only open), through ``sqlite3.connect``; a child process gets the same through a
``sitecustomize`` module on its PYTHONPATH.
"""

from __future__ import annotations

import errno
import os
import shlex
import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from readwise_sync.app.config import Settings
from readwise_sync.app.locations import state_db_path
from readwise_sync.app.wiring import sync_once
from readwise_sync.errors import StateError
from readwise_sync.readwise.fakeapi import FakeReadwise
from readwise_sync.store.state import State
from readwise_sync.store.vault import TEMP_PREFIX

from .conftest import cli_env, note_files, run_cli

FULL_DISK = """
import sqlite3
real_connect = sqlite3.connect

def connect(*args, **kw):
    db = real_connect(*args, **kw)
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {max(pages, 1)}")  # not one page more
    return db

sqlite3.connect = connect
"""

READ_ONLY = """
import sqlite3
from pathlib import Path
real_connect = sqlite3.connect

def connect(database, *args, **kw):
    uri = Path(database).absolute().as_uri() + "?mode=ro"
    return real_connect(uri, *args, **{**kw, "uri": True})

sqlite3.connect = connect
"""


def patched(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Apply one of the patches above in this process."""
    namespace: dict[str, Any] = {}
    real = sqlite3.connect
    exec(code, namespace)  # rebinds sqlite3.connect ...
    patch = sqlite3.connect
    sqlite3.connect = real
    monkeypatch.setattr(sqlite3, "connect", patch)  # ... undone after the test


def child_env(env: dict[str, str], code: str, folder: Path) -> dict[str, str]:
    folder.mkdir(exist_ok=True)
    (folder / "sitecustomize.py").write_text(code, encoding="utf-8")
    return {**env, "PYTHONPATH": str(folder)}


@pytest.fixture
def env(fake: FakeReadwise, tmp_path: Path) -> dict[str, str]:
    env = cli_env(fake, tmp_path, 'retries = 1\ntimeout = 5\ntimezone = "UTC"\n')
    os.chmod(env["READWISE_SYNC_CONFIG"], 0o600)
    return env


def db_of(env: dict[str, str], vault: Path) -> Path:
    return state_db_path(Path(env["READWISE_SYNC_STATE_DIR"]), vault)


def one_error_line(result: Any) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("readwise-sync: ") and "unexpected" not in lines[0]
    return str(lines[0])


def no_temp_files(vault: Path) -> bool:
    return not list(vault.rglob(f"{TEMP_PREFIX}*"))


def more_books(fake: FakeReadwise, count: int = 6) -> None:
    for n in range(count):
        text = f"Highlight of new book {n}. " + "words " * 3000
        fake.add_book(
            {"user_book_id": 900 + n, "title": f"New {n}", "highlights": [{"text": text}]}
        )


# -- corrupt -----------------------------------------------------------------------------------


def test_a_corrupt_state_says_so_and_removing_it_as_told_loses_no_note(
    env: dict[str, str], vault: Path
) -> None:
    assert run_cli("sync", "--vault", str(vault), env=env).returncode == 0
    walden = vault / "Readwise/Books/Walden.md"
    walden.write_text(walden.read_text(encoding="utf-8") + "\nMy thoughts.\n", encoding="utf-8")
    before = note_files(vault)
    db = db_of(env, vault)
    db.write_bytes(os.urandom(8192))

    line = one_error_line(run_cli("sync", "--vault", str(vault), env=env))
    assert str(db) in line and "corrupt" in line
    assert note_files(vault) == before  # nothing written with a state it can't read
    # Do as told: the command in the message removes the database and its WAL files.
    command = line.split("(rm ", 1)[1].split(")", 1)[0]
    removed = [Path(p) for p in shlex.split(command.replace("*", ""))]
    assert removed == [db]
    for leftover in db.parent.glob(db.name + "*"):
        leftover.unlink()
    again = run_cli("sync", "--vault", str(vault), env=env)
    assert again.returncode == 0, again.stderr
    assert note_files(vault) == before  # every note adopted again, the user's line kept
    assert again.stdout.count("existing note adopted") == 4


def test_corruption_met_after_opening_is_a_state_error_too(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite3"
    with State.open(path) as state, state.transaction():
        state.save_pending(1, "A.md", "a.md", "h", "h", {"blocks": {}})
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'notes'").fetchone()
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with path.open("r+b") as raw:  # the notes table's page, overwritten with noise
        raw.seek((root - 1) * page_size)
        raw.write(os.urandom(page_size))
    with State.open(path) as state, pytest.raises(StateError) as failed:
        state.load_notes([1])
    assert str(path) in str(failed.value) and "corrupt" in str(failed.value)


# -- read-only ---------------------------------------------------------------------------------


def test_a_read_only_state_is_one_line_saying_what_to_make_writable(
    env: dict[str, str], vault: Path, fake: FakeReadwise, tmp_path: Path
) -> None:
    assert run_cli("sync", "--vault", str(vault), env=env).returncode == 0
    before = note_files(vault)
    read_only = child_env(env, READ_ONLY, tmp_path / "read-only")
    again = run_cli("sync", "--vault", str(vault), env=read_only)
    assert again.returncode == 0, again.stderr  # nothing to write: a read-only state will do
    more_books(fake, 1)
    line = one_error_line(run_cli("sync", "--vault", str(vault), env=read_only))
    db = db_of(env, vault)
    assert str(db) in line and "writable" in line
    assert note_files(vault) == before and no_temp_files(vault)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_state_folder_for_real(tmp_path: Path) -> None:
    # (A read-only file of one's own is made 0600 again when opened: see State.open.)
    path = tmp_path / "state" / "v.sqlite3"
    with State.open(path):
        pass
    os.chmod(path.parent, 0o500)
    try:
        with State.open(path) as state, pytest.raises(StateError) as failed, state.transaction():
            state.save_cursor(datetime.now(UTC))
    finally:
        os.chmod(path.parent, 0o700)
    assert str(path) in str(failed.value) and "writable" in str(failed.value)


# -- full disk ---------------------------------------------------------------------------------


def test_a_full_disk_under_the_state_is_a_state_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "v.sqlite3"
    with State.open(path):
        pass
    patched(FULL_DISK, monkeypatch)
    with State.open(path) as state, pytest.raises(StateError) as failed, state.transaction():
        for book_id in range(200):
            state.save_pending(book_id, f"{book_id}.md", f"{book_id}.md", "h", "h", {})
    message = str(failed.value)
    assert str(path) in message and "space" in message
    assert "rollback" not in message  # the failure itself, not a failed clean-up after it
    monkeypatch.undo()
    with State.open(path) as state:
        assert state.count_notes() == 0  # all of the transaction, or none


def test_a_full_state_disk_in_a_sync_is_one_line_and_the_next_run_completes(
    env: dict[str, str], vault: Path, fake: FakeReadwise, tmp_path: Path
) -> None:
    assert run_cli("sync", "--vault", str(vault), env=env).returncode == 0
    more_books(fake)
    full = child_env(env, FULL_DISK, tmp_path / "full")
    line = one_error_line(run_cli("sync", "--vault", str(vault), env=full))
    assert str(db_of(env, vault)) in line and "space" in line
    assert no_temp_files(vault)
    again = run_cli("sync", "--vault", str(vault), env=env)
    assert again.returncode == 0, again.stderr
    assert len(note_files(vault)) == 4 + 6
    assert no_temp_files(vault)


class FullFile:
    """A temporary file on a disk with no space left."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        self.file = real_temporary_file(*args, **kw)

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.file, name)


real_temporary_file = tempfile.TemporaryFile


def test_a_full_disk_under_the_state_folder_while_spooling_names_the_folder(
    settings: Settings, vault: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "TemporaryFile", FullFile)
    with pytest.raises(StateError) as failed:
        sync_once(settings)
    assert str(settings.state_dir) in str(failed.value) and "space" in str(failed.value)
    assert note_files(vault) == {} and no_temp_files(vault)


@pytest.fixture(autouse=True)
def no_leftover_patch() -> Iterator[None]:
    real = sqlite3.connect
    yield
    assert sqlite3.connect is real
