"""The vault lock: who holds it is named, even when the loser looks early."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from readwise_sync.errors import Locked
from readwise_sync.lock import vault_lock


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
