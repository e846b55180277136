"""One lock per vault, so two runs (daemon, cron, by hand) never overlap.

The lock is an OS file lock (``filelock``: ``flock`` on Unix, ``msvcrt`` on
Windows) on a file beside the vault's state database. The OS releases it when
its holder dies, however it dies (``kill -9`` included), so a crashed run never
leaves a lock behind that needs clearing. Beside it, a small text file names
the holder (pid and command) so a second run can say who is running.

A lock on a file only holds while that file is at its path: delete or replace
it and the next run locks a new file. So the lock also:

* remembers the identity (device, inode) of the file it locked, and
  :meth:`VaultLock.verify` (called before each batch of notes is put in place)
  says whether that file is still the one at the path;
* writes that identity into the holder file, and a run that locked a new file
  while the holder file names a live run of another lock file backs off;
* on Unix, also holds ``flock`` on the vault folder itself (``anchor``), which
  no removal of the state folder can take away, and which two state folders
  for one vault share.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import filelock

from readwise_sync.errors import Interrupted, Locked, LockLost, StateError

if sys.platform != "win32":
    import fcntl

Identity = tuple[int, int]  # (st_dev, st_ino) of the lock file


def _identity(status: os.stat_result) -> Identity:
    return status.st_dev, status.st_ino


def _read_holder(info: Path) -> tuple[int | None, str, Identity | None]:
    """The pid (None unless alive), command and lock-file identity the holder file names."""
    try:
        first, _, rest = info.read_text(encoding="utf-8").partition("\n")
        pid_text, _, command = first.partition(" ")
        pid = int(pid_text)
        device, _, inode = rest.strip().removeprefix("lock ").partition(":")
        locked = (int(device), int(inode)) if inode else None
        os.kill(pid, 0)  # a holder file left by a crashed run names a dead pid
    except PermissionError:
        pass  # alive, but another user's process
    except (OSError, ValueError):
        return None, "", None
    return pid, command.strip(), locked


def _describe_holder(info: Path, patience: float = 2.0) -> tuple[int | None, str]:
    # The holder writes its name just after it takes the lock, so a run that
    # lost the race by a hair may look before the name is there: look again
    # for a moment rather than report "another run" without a pid.
    deadline = time.monotonic() + patience
    while True:
        pid, command, _ = _read_holder(info)
        if pid is not None or time.monotonic() >= deadline:
            return pid, command
        time.sleep(0.05)


def command_line(argv: list[str]) -> str:
    """The command a run was started with, whole and quoted as a shell would need it, on
    one line (the holder file keeps one thing per line)."""
    words = ["readwise-sync", *argv[1:]]  # argv[0] may be __main__.py: the pid is exact
    if sys.platform == "win32":
        import subprocess

        text = subprocess.list2cmdline(words)
    else:
        text = shlex.join(words)
    return "".join(char if char.isprintable() else "?" for char in text)


def _holder_text(identity: Identity) -> str:
    command = command_line(sys.argv)
    since = time.strftime("%H:%M:%S")
    return f"{os.getpid()} {command} since {since}\nlock {identity[0]}:{identity[1]}\n"


def _write_holder(info: Path, text: str) -> None:
    temporary = info.with_name(f"{info.name}.{os.getpid()}")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, info)  # never seen half-written


def _lock_folder(folder: Path) -> int | None:
    """A descriptor holding ``flock`` on the folder, or None where a folder can't be
    locked (Windows, some network file systems). BlockingIOError: another holds it."""
    if sys.platform == "win32":
        return None
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise
    except OSError:  # no flock here (NFS without locking, some FUSE): the file lock guards
        os.close(fd)
        return None
    return fd


class VaultLock:
    """A vault lock being held; :func:`vault_lock` makes it."""

    def __init__(
        self, path: Path, pin: int, lock: filelock.BaseFileLock, anchor: int | None
    ) -> None:
        self.path = path
        self.holder = path.with_name(path.name + ".holder")
        self._pin = pin  # an open descriptor of the locked file: its inode can't be reused
        self.identity = _identity(os.fstat(pin))
        self._lock = lock
        self._anchor = anchor
        self._holder_text = _holder_text(self.identity)

    def verify(self) -> None:
        """Raise :class:`LockLost` if the locked file is no longer the one at its path
        (removed, replaced, or its folder gone): another run could start beside this one."""
        try:
            current: Identity | None = _identity(os.stat(self.path))
        except OSError:
            current = None
        if current != self.identity:
            raise LockLost(
                f"the lock file {self.path} was removed or replaced during this run, so "
                "another run could start beside it: stopped before writing more notes "
                "(those written are complete); run the sync again",
                path=str(self.path),
            )

    def claim(self) -> None:
        """Write the holder file naming this run and the file it locked."""
        with contextlib.suppress(OSError):
            _write_holder(self.holder, self._holder_text)

    def release(self) -> None:
        with contextlib.suppress(OSError):
            # Only our own name: once our state folder is gone, the file there may be
            # another run's.
            if self.holder.read_text(encoding="utf-8") == self._holder_text:
                self.holder.unlink()
        os.close(self._pin)  # first: Windows can't remove the lock file while it's open
        self._lock.release()
        if self._anchor is not None:
            os.close(self._anchor)


def _open_pin(path: Path) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StateError(
            f"cannot open or create the lock file {path} ({exc.strerror}): make "
            f"{path.parent} a folder you can write to, or set state_dir to one"
        ) from exc


def _unclaimed(path: Path, pin: int) -> bool:
    """Whether the file just locked is the vault's lock: the one opened first and still at
    the path, and not the successor of a removed or replaced file whose holder lives."""
    mine = _identity(os.fstat(pin))
    if mine != _identity(os.stat(path)):
        return False
    pid, _, locked = _read_holder(path.with_name(path.name + ".holder"))
    return pid is None or locked in (None, mine)


def _try_lock(path: Path, anchor: Path | None) -> VaultLock | None:
    """The lock, or None while another run holds it."""
    pin = _open_pin(path)
    lock = filelock.FileLock(path, mode=0o600)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        os.close(pin)
        return None
    held = None
    try:
        if _unclaimed(path, pin):
            held = VaultLock(path, pin, lock, _lock_folder(anchor) if anchor else None)
    except (BlockingIOError, FileNotFoundError):
        pass  # another run holds the vault folder, or the file went since: not ours
    finally:
        if held is None:
            os.close(pin)
            lock.release()
    return held


@contextlib.contextmanager
def vault_lock(
    lock_path: Path,
    *,
    wait: float = 0.0,
    anchor: Path | None = None,
    stop: threading.Event | None = None,
) -> Iterator[VaultLock]:
    """Hold the vault's lock for the duration of the block.

    ``anchor``: the vault folder, also locked where the platform allows. Raises
    :class:`Locked` naming the running process when another run holds it and it
    is not released within ``wait`` seconds, :class:`StateError` when the lock
    file cannot be made, :class:`Interrupted` when ``stop`` is set while waiting.
    """
    deadline = time.monotonic() + max(wait, 0.0)
    pause = stop or threading.Event()
    while (held := _try_lock(lock_path, anchor)) is None:
        if pause.is_set():
            raise Interrupted("stopped while waiting for the run syncing this vault")
        if time.monotonic() >= deadline:
            pid, command = _describe_holder(lock_path.with_name(lock_path.name + ".holder"))
            who = f"process {pid} ({command})" if pid else "another readwise-sync run"
            raise Locked(f"this vault is being synced by {who}; try again later", pid=pid)
        pause.wait(0.1)
    try:
        held.claim()
        yield held
    finally:
        held.release()
