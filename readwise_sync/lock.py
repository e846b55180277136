"""One lock per vault, so two runs (daemon, cron, by hand) never overlap.

The lock is an OS file lock (``filelock``: ``flock`` on Unix, ``msvcrt`` on
Windows) on a file beside the vault's state database. The OS releases it when
its holder dies, however it dies (``kill -9`` included), so a crashed run never
leaves a lock behind that needs clearing. Beside it, a small text file names
the holder (pid and command) so a second run can say who is running.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import filelock

from .errors import Locked


def _read_holder(info: Path) -> tuple[int | None, str]:
    try:
        pid_text, _, command = info.read_text(encoding="utf-8").partition(" ")
        pid = int(pid_text)
        os.kill(pid, 0)  # a holder file left by a crashed run names a dead pid
    except PermissionError:
        pass  # alive, but another user's process
    except (OSError, ValueError):
        return None, ""
    return pid, command.strip()


def _describe_holder(info: Path, patience: float = 2.0) -> tuple[int | None, str]:
    # The holder writes its name just after it takes the lock, so a run that
    # lost the race by a hair may look before the name is there: look again
    # for a moment rather than report "another run" without a pid.
    deadline = time.monotonic() + patience
    while True:
        pid, command = _read_holder(info)
        if pid is not None or time.monotonic() >= deadline:
            return pid, command
        time.sleep(0.05)


def _write_holder(info: Path) -> None:
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:3]])
    temporary = info.with_name(f"{info.name}.{os.getpid()}")
    temporary.write_text(f"{os.getpid()} {command} since {time.strftime('%H:%M:%S')}\n")
    os.replace(temporary, info)  # never seen half-written


@contextlib.contextmanager
def vault_lock(lock_path: Path, *, wait: float = 0.0) -> Iterator[None]:
    """Hold the vault's lock for the duration of the block.

    Raises :class:`Locked` naming the running process when another run holds it
    and it is not released within ``wait`` seconds.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = filelock.FileLock(lock_path, mode=0o600)
    info = lock_path.with_name(lock_path.name + ".holder")
    try:
        lock.acquire(timeout=max(wait, 0.0), poll_interval=0.1)
    except filelock.Timeout:
        pid, command = _describe_holder(info)
        who = f"process {pid} ({command})" if pid else "another readwise-sync run"
        raise Locked(f"this vault is being synced by {who}; try again later", pid=pid) from None
    try:
        with contextlib.suppress(OSError):
            _write_holder(info)
        yield
    finally:
        with contextlib.suppress(OSError):
            info.unlink()
        lock.release()
