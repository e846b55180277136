"""Reading and writing notes inside the vault, atomically and confined.

Every path handed to this module is relative to the vault root and is checked
to resolve inside the vault *after* following symlinks, before anything is
read, created or written; a path that escapes raises :class:`OutsideVault`
and nothing is touched. Folders are created one component at a time so a
symlinked folder pointing outside the vault can't be created through either
(:class:`~readwise_sync.store.folders.Folders` does both).

Writes are atomic: the text goes to a hidden temporary file in the target's
own folder (a leading dot, so Obsidian never shows it), is made durable, then
put in place, guarded: only if the note still holds what it was decided from
(:func:`durable.replace_if_unchanged`), so a save that lands meanwhile is never
overwritten. A crash leaves the old note or the new one, never half of one;
leftover temporary files are swept on the next write into the same folder. A
batch (:meth:`Vault.stage_text`, then :meth:`Vault.commit`) is flushed with one
``syncfs`` before any rename: "data on disk, then the rename" for each note.

A :class:`Vault` lives for one run: the folders it has checked once (inside
the vault, a real folder) are not checked again for every note.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple

from readwise_sync.errors import ReadOnlyNote, UnreadableNote, VaultError
from readwise_sync.notes import cloud
from readwise_sync.store import durable
from readwise_sync.store.folders import Folders

TEMP_PREFIX = ".readwise-sync-"
TEMP_SUFFIX = ".tmp"


_STAT_FLAGS = any(hasattr(os.stat_result, a) for a in ("st_flags", "st_file_attributes"))
# How long a replaced note's old text is kept after its swap, for a save that opened the
# file just before the swap to land in it (and be given back rather than lost).
SETTLE_SECONDS = 0.005
# Below this many notes a batch fsyncs each file: cheaper than flushing the file system.
SYNCFS_MIN_BATCH = 4


class FileId(NamedTuple):
    """Which file a note is, as the filesystem tells: a rename keeps the device and the
    inode (an edit in place keeps them too, and changes the size or the mtime)."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    def same_file(self, other: FileId | None) -> bool:
        return other is not None and (self.device, self.inode) == (other.device, other.inode)

    def untouched(self, other: FileId | None) -> bool:
        """The same file, not written since (as far as size and mtime tell)."""
        return other is not None and self == other


@dataclass
class StagedNote:
    """A note's new text, written to its temporary file but not yet in place.

    No file descriptor is kept open (a first sync stages more notes than a process may
    hold open: 256 by default on macOS), and paths are kept as text (``Path`` objects
    took twice the memory at 10,000 notes).
    """

    relpath: str
    target: str
    temp: str
    durable: bool = False  # its data is on disk already (see Vault.make_durable)
    # Put in place only if the note still holds what it was decided from: with ``guard``,
    # ``expect`` is the sha256 of the note's bytes then (what ``durable.text_hash`` gives
    # for its text), or None for a note that must not exist yet.
    guard: bool = False
    expect: str | None = None
    digest: str = ""  # the sha256 of the new text's bytes, when guarded


class Vault:
    """An Obsidian vault: a folder of notes that readwise-sync may write into."""

    def __init__(self, root: Path | str) -> None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise VaultError(
                f"vault folder {root} does not exist or is not a folder", path=str(root)
            )
        self.root = root.resolve()
        self._file_mode = 0o666 & ~durable.current_umask()
        self._folders = Folders(self.root)
        self._swept: set[Path] = set()
        self.copies: list[str] = []  # sync clients' conflict copies met, each with advice
        self.recovered: list[str] = []  # saves a killed run left in a swap file, now notes

    # -- confinement --------------------------------------------------------------------------

    def path_of(self, relpath: str) -> Path:
        """The absolute path of a note, refusing anything that could leave the vault."""
        return self._folders.path_of(relpath)

    # -- reading ------------------------------------------------------------------------------

    def exists(self, relpath: str) -> bool:
        return self.path_of(relpath).exists()

    def has_placeholder(self, relpath: str) -> bool:
        """Whether an iCloud placeholder holds the (missing) note's place."""
        target = self.path_of(relpath)
        return target.with_name(cloud.placeholder_name(target.name)).exists()

    def dataless(self, relpath: str) -> bool:
        """Whether the note has no data on disk, so reading it would wait for a download
        (only macOS and Windows can tell; elsewhere nothing is asked)."""
        if not _STAT_FLAGS:
            return False
        with contextlib.suppress(FileNotFoundError):
            info = self.path_of(relpath).stat()
            flags, attributes = getattr(info, "st_flags", 0), getattr(info, "st_file_attributes", 0)
            return cloud.offloaded(st_flags=flags, file_attributes=attributes)
        return False

    def file_id(self, relpath: str) -> FileId | None:
        """Which file the note is (see :class:`FileId`); None when it isn't there, can't be
        asked (a path refused, a folder not readable), or the filesystem keeps no inodes
        (a device and inode of 0, as some network mounts give): that evidence only is lost."""
        try:
            found = self.path_of(relpath).stat()
        except (OSError, ValueError, VaultError):
            return None
        if found.st_ino == 0:
            return None
        return FileId(found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns)

    def modified_at(self, relpath: str) -> float | None:
        """When the note was last saved (seconds since the epoch); None when it isn't there."""
        with contextlib.suppress(FileNotFoundError):
            return self.path_of(relpath).stat().st_mtime
        return None

    def read_text(self, relpath: str) -> str | None:
        """The note's text, or None when there is no such file."""
        path = self.path_of(relpath)
        try:
            with open(path, encoding="utf-8", newline="") as handle:
                return handle.read()
        except FileNotFoundError:
            return None
        except UnicodeDecodeError as exc:
            message = f"{relpath} is not UTF-8 text; left untouched (save it as UTF-8)"
            raise UnreadableNote(message, path=relpath) from exc
        except OSError as exc:
            raise UnreadableNote(f"cannot read {relpath}: {exc.strerror}", path=relpath) from exc

    def iter_notes(self) -> Iterator[str]:
        """Relative paths of the vault's visible Markdown notes.

        Hidden folders (``.obsidian``, ``.trash``, our own state) are skipped, and
        symlinked folders are not followed, so the walk stays inside the vault. A sync
        client's conflict copy is no note to adopt: it is listed in :attr:`copies`.
        """
        for folder, dirs, files in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            base = Path(folder).relative_to(self.root)
            names = cloud.Folder(files)
            for name in sorted(files):
                if not name.endswith(".md") or name.startswith("."):
                    continue
                made = names.copy_or_placeholder(name, partial(durable.text_in, folder))
                if made is not None:
                    self.copies.append(made.advice(base.as_posix() if base.parts else ""))
                    continue
                yield (base / name).as_posix()

    # -- writing ------------------------------------------------------------------------------

    def write_text(self, relpath: str, text: str) -> None:
        """Atomically replace (or create) a note with ``text``."""
        self.commit([self.stage_text(relpath, text)])

    def stage_text(
        self,
        relpath: str,
        text: str,
        *,
        guard: bool = False,
        expect: str | None = None,
        digest: str | None = None,
    ) -> StagedNote:
        """Write a note's new text to a temporary file beside it, for :meth:`commit`
        (with ``guard``: only if the note still hashes to ``expect``, or for None is not
        there; ``digest``: the text's hash, if known). Raises :class:`ReadOnlyNote` or
        :class:`OutsideVault` with nothing written."""
        target = self._folders.ensure(relpath)
        if target.parent not in self._swept:
            self._swept.add(target.parent)
            self._sweep_temp_files(target.parent)
        data = text.encode("utf-8")
        mode = self._file_mode
        with contextlib.suppress(FileNotFoundError):
            mode = target.stat().st_mode & 0o7777  # keep the mode the user gave the note
            # Mode bits, not os.access: root may write anything, but a note the user made
            # read-only is a "don't touch" sign whoever runs the sync.
            if not mode & 0o222:
                raise ReadOnlyNote(f"{relpath} is read-only; left untouched", path=relpath)
        temp = os.path.join(target.parent, f"{TEMP_PREFIX}{secrets.token_hex(6)}{TEMP_SUFFIX}")
        fd = -1
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            durable.chmod(fd, temp, mode)  # O_CREAT's mode went through the umask: the note's own
            os.close(fd)
        except OSError as exc:
            _discard(temp, fd)
            raise _write_error(relpath, exc) from exc
        if guard and digest is None:
            digest = hashlib.sha256(data).hexdigest()
        return StagedNote(relpath, os.fspath(target), temp, False, guard, expect, digest or "")

    def commit(self, staged: Sequence[StagedNote]) -> list[tuple[StagedNote, str | None]]:
        """Make the staged notes' data durable, then put each in place.

        A guarded note (see :class:`StagedNote`) goes in only if it still holds what it
        was decided from: the ones that changed are returned (left as the user has them),
        each with the name of a copy kept beside it, if one had to be. On an error the
        rest are left as they were and :class:`VaultError` names the note that failed.
        """
        pending = list(staged)
        if not pending:
            return []
        try:
            self.make_durable(pending)
        except VaultError:
            self.discard(pending)
            raise
        changed: list[tuple[StagedNote, str | None]] = []
        swapped: list[tuple[StagedNote, durable.Placed]] = []
        try:
            for number, note in enumerate(pending):
                try:
                    placed = _put_in_place(note)
                except OSError as exc:
                    self.discard(pending[number:])
                    raise _write_error(note.relpath, exc) from exc
                self._folders.dirty.add(os.path.dirname(note.target))
                if placed.old is not None:
                    swapped.append((note, placed))
                elif not placed.done:
                    changed.append((note, self._relative(placed.copy)))
        finally:
            changed += self._settle(swapped)
        return changed

    def _settle(
        self, swapped: list[tuple[StagedNote, durable.Placed]]
    ) -> list[tuple[StagedNote, str | None]]:
        """Remove the replaced texts, once a save through a file opened before its swap
        would have landed (see :func:`durable.settle`); returns the notes it gave back."""
        if not swapped:
            return []
        time.sleep(SETTLE_SECONDS)
        changed = []
        for note, placed in swapped:
            try:
                settled = durable.settle(placed, os.path.realpath(note.target), note.digest)
            except OSError as exc:
                raise _write_error(note.relpath, exc) from exc
            if not settled.done:
                changed.append((note, self._relative(settled.copy)))
        return changed

    def _relative(self, path: str | None) -> str | None:
        return None if path is None else Path(path).relative_to(self.root).as_posix()

    def make_durable(self, staged: Sequence[StagedNote]) -> None:
        """Put the staged notes' data on disk now, ahead of their commits: one flush of
        the file system for all of them, where each commit would make one of its own.
        Raises :class:`VaultError`; nothing is renamed either way."""
        pending = [note for note in staged if not note.durable]
        if not pending:
            return
        try:
            self._make_durable(pending)
        except OSError as exc:
            raise _write_error(pending[0].relpath, exc) from exc
        for note in pending:
            note.durable = True

    def _make_durable(self, pending: Sequence[StagedNote]) -> None:
        temps = [note.temp for note in pending]
        durable.flush_files(os.fspath(self.root), temps, whole_disk=len(temps) >= SYNCFS_MIN_BATCH)

    def discard(self, staged: Sequence[StagedNote]) -> None:
        """Drop staged notes that will not be committed."""
        for note in staged:
            _discard(note.temp, -1)

    def flush(self) -> None:
        """fsync the folders whose entries changed, so the renames survive a power cut."""
        durable.fsync_folders(self._folders.dirty)
        self._folders.dirty.clear()

    def remove_new_empty_folders(self) -> None:
        """Remove the folders this object made that hold nothing (after a failed run)."""
        self._folders.remove_new_empty()

    def sweep_temp_files(self) -> int:
        """Remove the temporary files a killed run left anywhere in the vault."""
        removed = 0
        for folder, dirs, _ in os.walk(self.root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            removed += self._sweep_temp_files(Path(folder))
        return removed

    def _sweep_temp_files(self, folder: Path) -> int:
        # Once per folder per run, on the first write there: a no-op sync lists no folder.
        kept: list[str] = []
        removed = durable.sweep_folder(os.fspath(folder), TEMP_PREFIX, TEMP_SUFFIX, kept)
        self.recovered += [Path(path).relative_to(self.root).as_posix() for path in kept]
        return removed


def _put_in_place(note: StagedNote) -> durable.Placed:
    if not note.guard:
        os.replace(note.temp, note.target)
        return durable.Placed(True)
    # Through a symlink (to a note inside the vault: path_of checked), to the note itself.
    target = os.path.realpath(note.target)
    return durable.replace_if_unchanged(note.temp, target, note.expect, note.digest)


def _discard(temp: str, fd: int) -> None:
    if fd >= 0:
        with contextlib.suppress(OSError):
            os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp)


def _write_error(relpath: str, exc: OSError) -> VaultError:
    reason = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror
    return VaultError(f"cannot write {relpath}: {reason}; note left as it was", path=relpath)
