"""The file-system calls the vault's write protocol rests on, where the platform has them.

* :func:`syncfs`: Linux's ``syncfs(2)``, one flush of a whole file system instead of one
  ``fsync`` per note;
* :func:`exchange`: Linux's ``renameat2(RENAME_EXCHANGE)``, which swaps two names in one
  step. Putting a note in place by swapping its new text with the note, then checking what
  came out, is a compare-and-swap: an editor's save that lands after the note was last read
  is caught and given back, where a plain rename would overwrite it;
* :func:`rename_noreplace`: ``renameat2(RENAME_NOREPLACE)``, or a hard link, which creates
  a new note only if no file appeared at its name meanwhile.

While a note's old text waits to be checked it sits in a hidden swap file named for the
two texts it may hold (the new one, the one decided from); :func:`sweep_folder`, after a
killed run, removes such a file only if it holds one of them, else keeps it as a note.

Each returns ``False`` (or ``None`` for :func:`syncfs`) where the platform or the file
system has no such call, so the caller can fall back to a slower check; any other failure
is the ``OSError`` it is.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
from typing import Any

# A note's new text while it is swapped in: see replace_if_unchanged.
SWAP_PREFIX = ".readwise-sync-swap-"
SWAP_SUFFIX = ".tmp"
# How long a replaced note's old file may wait for an editor that has it open to close it.
CLOSE_WAIT = 2.0
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
# What renameat2 answers on a file system, or a kernel, that can't do what was asked.
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP}


@cache
def _libc_function(name: str) -> Any:
    """A libc function by name on Linux; None elsewhere or where libc lacks it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes  # only a write needs it

        function = ctypes.CDLL(None, use_errno=True)[name]
    except (OSError, AttributeError):
        return None
    if name == "syncfs":
        function.argtypes = [ctypes.c_int]
    else:  # renameat2(olddirfd, oldpath, newdirfd, newpath, flags)
        text, number = ctypes.c_char_p, ctypes.c_int
        function.argtypes = [number, text, number, text, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def _errno() -> int:
    import ctypes

    return ctypes.get_errno()


def syncfs_call() -> Callable[[int], int] | None:
    """``syncfs(fd)``, or None where it does not exist (per-file fsync is used there)."""
    return _libc_function("syncfs")  # type: ignore[no-any-return]


def _renameat2(source: str, target: str, flags: int) -> bool:
    function = _libc_function("renameat2")
    if function is None:
        return False
    result = function(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), flags)
    if result == 0:
        return True
    code = _errno()
    if code in _UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), target)


def exchange(first: str, second: str) -> bool:
    """Swap the files at two names atomically; False where that can't be done here.
    Raises ``FileNotFoundError`` when either name is missing."""
    return _renameat2(first, second, _RENAME_EXCHANGE)


def rename_noreplace(source: str, target: str) -> bool:
    """Rename ``source`` to ``target`` only if nothing is at ``target``; False where that
    can't be done here. Raises ``FileExistsError`` when something is there."""
    if _renameat2(source, target, _RENAME_NOREPLACE):
        return True
    try:
        os.link(source, target)  # fails with EEXIST if a file appeared: no-replace too
    except FileExistsError:
        raise
    except OSError:
        return False  # no hard links here (some FUSE and FAT file systems)
    os.unlink(source)
    return True


@dataclass(frozen=True)
class Placed:
    """What :func:`replace_if_unchanged` did: ``done``, or the note had changed and was left
    as the user has it. ``copy`` names a file kept beside it in the rarest case (a save
    landing on the new text in the instant it was in place): nothing is ever discarded.
    ``old`` is the file now holding the replaced text, and ``stamp`` its size and mtime
    when it was checked: :func:`settle` removes it."""

    done: bool
    copy: str | None = None
    old: str | None = None
    stamp: tuple[int, int] | None = None


def text_hash(text: str) -> str:
    """sha256 of a note's text as written (UTF-8): what the state records of each note,
    and what :func:`file_digest` gives for the file holding it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_digest(path: str) -> str | None:
    """sha256 of a file's bytes; None when there is no such file."""
    return _digest_and_stamp(path)[0]


def _digest_and_stamp(path: str) -> tuple[str | None, tuple[int, int]]:
    try:
        with open(path, "rb") as handle:
            # Stamp first: a write landing during the read then shows at settle().
            info = os.fstat(handle.fileno())
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
    except FileNotFoundError:
        return None, (0, 0)
    return digest, (info.st_size, info.st_mtime_ns)


def replace_if_unchanged(temp: str, target: str, expect: str | None, ours: str) -> Placed:
    """Put the file ``temp`` (whose bytes hash to ``ours``) at ``target``, but only if
    ``target`` still hashes to ``expect`` (None: only if no file is there).

    Where names can be swapped, this is a compare-and-swap: swap, check what came out,
    swap back if it is not what was expected. Elsewhere the check comes just before the
    rename, which leaves a window of microseconds instead of the whole write. When the
    note changed, ``temp`` is removed and the note is as the user left it.
    """
    if expect is None:
        return _create(temp, target)
    # Named for both texts it may hold: a run killed while the note's old text waits
    # here is swept by what it holds (see sweep_folder), never blindly.
    swap = os.path.join(
        os.path.dirname(temp), f"{SWAP_PREFIX}{ours[:16]}-{expect[:16]}{SWAP_SUFFIX}"
    )
    os.rename(temp, swap)
    try:
        swapped = exchange(swap, target)
    except FileNotFoundError:  # the note was deleted meanwhile
        _unlink(swap)
        return Placed(False)
    if not swapped:
        if file_digest(target) != expect:
            _unlink(swap)
            return Placed(False)
        os.replace(swap, target)
        return Placed(True)
    digest, stamp = _digest_and_stamp(swap)
    if digest == expect:  # what came out is what was decided from
        return Placed(True, old=swap, stamp=stamp)
    return _give_back(swap, target, ours)


def settle(placed: Placed, target: str, ours: str) -> Placed:
    """Remove the replaced text's file, unless something was written into it since it
    was checked: a save through a file the editor opened before the swap. Then that text
    goes back in place of ours (and the note counts as changed)."""
    if placed.old is None:
        return placed
    _wait_until_closed(placed.old)
    try:
        info = os.lstat(placed.old)
    except FileNotFoundError:
        return placed
    if (info.st_size, info.st_mtime_ns) == placed.stamp:
        _unlink(placed.old)
        return Placed(True)
    try:
        exchange(placed.old, target)
    except FileNotFoundError:  # the note itself was deleted meanwhile: keep the text
        return Placed(False, _keep_beside(placed.old, target))
    return _after_give_back(placed.old, target, ours)


def _wait_until_closed(path: str, limit: float = CLOSE_WAIT) -> None:
    """Wait, a bounded time, until no other process has the file open: a Linux write
    lease is granted only then. An editor that opened the note just before the swap may
    still write into this, its old file; once the lease is had, nobody can (the file's
    name is ours alone). Where leases don't exist or aren't ours to take (another user's
    file, a network file system), the settle time has to do."""
    setlease = getattr(fcntl, "F_SETLEASE", None) if fcntl is not None else None
    if setlease is None:
        return
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return
    deadline = time.monotonic() + limit
    try:
        while True:
            try:
                fcntl.fcntl(fd, setlease, fcntl.F_WRLCK)
                fcntl.fcntl(fd, setlease, fcntl.F_UNLCK)
                return
            except BlockingIOError:  # open elsewhere: its write may still come
                if time.monotonic() > deadline:
                    return
                time.sleep(0.002)
            except OSError:
                return
    finally:
        os.close(fd)


def _give_back(temp: str, target: str, ours: str) -> Placed:
    exchange(temp, target)  # an edit landed after the note was read: give it back
    return _after_give_back(temp, target, ours)


def _after_give_back(temp: str, target: str, ours: str) -> Placed:
    if file_digest(temp) == ours:
        _unlink(temp)
        return Placed(False)
    return Placed(False, _keep_beside(temp, target))


def _create(temp: str, target: str) -> Placed:
    try:
        if rename_noreplace(temp, target):
            return Placed(True)
    except FileExistsError:
        _unlink(temp)
        return Placed(False)
    if os.path.lexists(target):
        _unlink(temp)
        return Placed(False)
    os.replace(temp, target)
    return Placed(True)


def _keep_beside(temp: str, target: str) -> str:
    """Give a file a visible name of its own next to ``target``; returns that name."""
    stem, suffix = os.path.splitext(target)
    for number in range(1, 1000):
        copy = f"{stem} (saved during sync {number}){suffix}"
        with contextlib.suppress(FileExistsError):
            if rename_noreplace(temp, copy):
                return copy
            if not os.path.lexists(copy):
                os.replace(temp, copy)
                return copy
    return temp  # a thousand copies already: leave it where it is rather than lose it


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def sweep_folder(folder: str, prefix: str, suffix: str, kept: list[str]) -> int:
    """Remove the temporary files a killed run left in a folder; returns how many. A
    swap file holding neither the new text nor the one the note was decided from holds
    a save that landed in the instant of the swap: it is kept, as a visible note named
    in ``kept``."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        name = entry.name
        if not entry.is_file(follow_symlinks=False):
            continue
        if name.startswith(SWAP_PREFIX) and name.endswith(SWAP_SUFFIX):
            known = name[len(SWAP_PREFIX) : -len(SWAP_SUFFIX)].split("-")
            if (file_digest(entry.path) or "")[:16] not in known:
                kept.append(_keep_beside(entry.path, os.path.join(folder, "Recovered.md")))
                continue
        elif not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed += 1
    return removed


def chmod(fd: int, path: str, mode: int) -> None:
    """Set a file's mode by descriptor where the OS can: no second walk of its path."""
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode)
    else:
        os.chmod(path, mode)


def flush_files(root: str, paths: list[str], *, whole_disk: bool) -> None:
    """Put these files' data on disk: one ``syncfs`` of the file system holding ``root``
    where that exists and ``whole_disk`` is asked (many files), else an fsync each."""
    syncfs = syncfs_call() if whole_disk else None
    if syncfs is not None:
        fd = os.open(root, os.O_RDONLY)
        try:
            if syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    for path in paths:
        fd = os.open(path, os.O_RDWR)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_folders(folders: Iterable[str]) -> None:
    """fsync folders whose entries changed, so renames in them survive a power cut."""
    for folder in folders:
        try:
            fd = os.open(folder, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
        except OSError:
            pass  # some file systems refuse fsync on folders; the rename is still atomic
        finally:
            os.close(fd)


def current_umask() -> int:
    # os.umask can only be read by setting it; set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def text_in(folder: str, name: str) -> str | None:
    """The text of a file in a folder; None when it can't be read as UTF-8 text."""
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return Path(folder, name).read_text(encoding="utf-8")
    return None
