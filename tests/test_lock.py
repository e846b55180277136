"""The vault lock: who holds it is named, even when the loser looks early."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from readwise_sync.app.config import Settings
from readwise_sync.app.wiring import lock_path, sync_once
from readwise_sync.engine.progress import Silent
from readwise_sync.errors import Interrupted, Locked, LockLost, StateError
from readwise_sync.readwise.fakeapi import FakeReadwise
from readwise_sync.store.lock import command_line, vault_lock
from readwise_sync.store.vault import TEMP_PREFIX, Vault

from .conftest import note_files


def test_second_holder_is_refused_and_told_who_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "state" / "vault.lock"
    with vault_lock(path), pytest.raises(Locked) as refused, vault_lock(path):
        pass
    assert refused.value.pid == os.getpid()
    assert f"process {os.getpid()}" in str(refused.value)


def test_lock_is_free_again_after_the_block(tmp_path: Path) -> None:
    path = tmp_path / "vault.lock"
    with vault_lock(path):
        pass
    with vault_lock(path):
        pass
    assert not path.with_name("vault.lock.holder").exists()


def test_loser_waits_a_moment_for_the_holder_to_name_itself(tmp_path: Path) -> None:
    # The race CI found: the winner has the OS lock but has not yet written
    # the holder file when the loser looks.
    path = tmp_path / "vault.lock"
    holder = path.with_name("vault.lock.holder")
    with vault_lock(path):
        holder.unlink()

        def name_later() -> None:
            time.sleep(0.3)
            holder.write_text(f"{os.getpid()} readwise-sync sync since 10:00:00\n")

        thread = threading.Thread(target=name_later)
        thread.start()
        with pytest.raises(Locked) as refused, vault_lock(path):
            pass
        thread.join()
    assert f"process {os.getpid()}" in str(refused.value)


def test_a_dead_pid_in_the_holder_file_is_not_named(tmp_path: Path) -> None:
    path = tmp_path / "vault.lock"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    with vault_lock(path):
        path.with_name("vault.lock.holder").write_text(f"{dead_pid} readwise-sync sync\n")
        started = time.monotonic()
        with pytest.raises(Locked) as refused, vault_lock(path):
            pass
        assert time.monotonic() - started < 5
    assert refused.value.pid is None
    assert "another readwise-sync run" in str(refused.value)


# -- a lock file removed or replaced while its run holds it ----------------------------------


def _remove(path: Path) -> None:
    path.unlink()


def _replace(path: Path) -> None:
    other = path.with_name("elsewhere")
    other.write_text("")
    os.replace(other, path)


def _remove_folder(path: Path) -> None:
    shutil.rmtree(path.parent)


BREAKS = [_remove, _replace, _remove_folder]


@pytest.mark.parametrize("break_lock", BREAKS[:2], ids=["removed", "replaced"])
def test_a_second_run_is_refused_when_the_lock_file_was_removed_or_replaced(
    tmp_path: Path, break_lock: Callable[[Path], None]
) -> None:
    path = tmp_path / "state" / "vault.lock"
    with vault_lock(path):
        break_lock(path)
        with pytest.raises(Locked) as refused, vault_lock(path):
            pass
    assert refused.value.pid == os.getpid()
    with vault_lock(path):  # the first run is over: the lock is free again
        pass


def test_a_second_run_is_refused_when_the_state_folder_was_removed(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    path = tmp_path / "state" / "vault.lock"
    with vault_lock(path, anchor=vault):
        _remove_folder(path)
        with pytest.raises(Locked), vault_lock(path, anchor=vault):
            pass
    with vault_lock(path, anchor=vault):
        pass


def test_two_state_folders_for_one_vault_still_take_turns(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    with (
        vault_lock(tmp_path / "a" / "vault.lock", anchor=vault),
        pytest.raises(Locked, match="another readwise-sync run"),
        vault_lock(tmp_path / "b" / "vault.lock", anchor=vault),
    ):
        pass


@pytest.mark.parametrize("break_lock", BREAKS, ids=["removed", "replaced", "folder removed"])
def test_the_holder_learns_its_lock_file_was_removed_or_replaced(
    tmp_path: Path, break_lock: Callable[[Path], None]
) -> None:
    path = tmp_path / "state" / "vault.lock"
    with vault_lock(path) as held:
        held.verify()  # intact: nothing to say
        break_lock(path)
        with pytest.raises(LockLost) as lost:
            held.verify()
    assert str(path) in str(lost.value)
    assert lost.value.exit_code == 1


def test_a_holder_file_left_by_a_killed_run_blocks_nothing_even_if_its_pid_lives_again(
    tmp_path: Path,
) -> None:
    # kill -9 leaves the holder file; its pid may since belong to another process (here:
    # this one). It names the lock file the dead run held, which is the one there now.
    path = tmp_path / "vault.lock"
    holder = path.with_name("vault.lock.holder")
    with vault_lock(path):
        left = holder.read_text(encoding="utf-8")
    holder.write_text(left, encoding="utf-8")
    with vault_lock(path):
        pass


def test_a_run_leaves_the_holder_file_of_a_later_run_alone(tmp_path: Path) -> None:
    # Without a folder to anchor to (Windows), a second run may start once the first's
    # state folder is gone; the first, ending, must not remove the second's name.
    path = tmp_path / "state" / "vault.lock"
    holder = path.with_name("vault.lock.holder")
    with contextlib.ExitStack() as first:
        first.enter_context(vault_lock(path))
        _remove_folder(path)
        with vault_lock(path):
            first.close()
            assert holder.exists()


def test_a_state_folder_that_cannot_be_made_is_one_line_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(StateError) as failed, vault_lock(blocker / "state" / "vault.lock"):
        pass
    assert str(blocker / "state") in str(failed.value)
    assert "\n" not in str(failed.value)


@pytest.mark.parametrize("break_lock", BREAKS, ids=["removed", "replaced", "folder removed"])
def test_a_sync_whose_lock_file_goes_stops_before_its_next_page(
    fake: FakeReadwise, settings: Settings, vault: Path, break_lock: Callable[[Path], None]
) -> None:
    fake.page_size = 1  # four pages, a note each
    lock = lock_path(settings, Vault(vault))

    class Breaker(Silent):
        def written(self, book_id: int, outcome: str) -> None:
            if outcome == "created" and lock.exists():
                break_lock(lock)

    with pytest.raises(LockLost) as lost:
        sync_once(settings, progress=Breaker())
    assert "\n" not in str(lost.value) and str(lock) in str(lost.value)
    assert len(note_files(vault)) == 1  # the first page's note, whole; no other
    assert not [p for p in vault.rglob(f"{TEMP_PREFIX}*")]  # no temporary file left
    again = sync_once(settings)
    assert len(note_files(vault)) == 4 and not again.skipped_missing


def test_the_holder_is_named_by_its_whole_command_quoted_on_one_line(tmp_path: Path) -> None:
    argv = ["/usr/bin/readwise-sync", "sync", "--vault", "/home/me/My Vault", "--wait", "300"]
    assert command_line(argv) == "readwise-sync sync --vault '/home/me/My Vault' --wait 300"
    assert "\n" not in command_line(["x", "sync", "--vault", "two\nlines"])
    path = tmp_path / "vault.lock"
    with vault_lock(path), pytest.raises(Locked) as refused, vault_lock(path):
        pass
    assert f"({command_line(sys.argv)} since " in str(refused.value)


def test_a_wait_for_the_lock_ends_as_soon_as_stop_is_set(tmp_path: Path) -> None:
    path = tmp_path / "vault.lock"
    stop = threading.Event()
    with vault_lock(path):
        timer = threading.Timer(0.3, stop.set)
        timer.start()
        started = time.monotonic()
        with pytest.raises(Interrupted), vault_lock(path, wait=30, stop=stop):
            pass
        timer.join()
    assert time.monotonic() - started < 2
