"""Reading and writing notes inside the vault, atomically and confined.

Every path handed to this module is relative to the vault root and is checked
to resolve inside the vault *after* following symlinks, before anything is
read, created or written; a path that escapes raises :class:`OutsideVault`
and nothing is touched. Folders are created one component at a time so a
symlinked folder pointing outside the vault can't be created through either.

Writes are atomic: the text goes to a hidden temporary file in the target's
own folder (a leading dot, so Obsidian never shows it as a note), is flushed
and fsynced, then renamed over the target. A crash leaves either the old note
or the new one, never half of one; leftover temporary files are swept
on the next write into the same folder.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from .errors import OutsideVault, ReadOnlyNote, VaultError

TEMP_PREFIX = ".readwise-sync-"
TEMP_SUFFIX = ".tmp"


def _current_umask() -> int:
    # os.umask can only be read by setting it; set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class Vault:
    """An Obsidian vault: a folder of notes that readwise-sync may write into."""

    def __init__(self, root: Path | str) -> None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise VaultError(
                f"vault folder {root} does not exist or is not a folder", path=str(root)
            )
        self.root = root.resolve()
        self._file_mode = 0o666 & ~_current_umask()
        self._dirty_dirs: set[Path] = set()
        self._swept: set[Path] = set()

    # -- confinement --------------------------------------------------------------------------

    def _inside(self, path: Path) -> bool:
        return path == self.root or self.root in path.parents

    def path_of(self, relpath: str) -> Path:
        """The absolute path of a note, refusing anything that could leave the vault."""
        rel = PurePosixPath(relpath)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts or "\\" in relpath:
            raise OutsideVault(f"refusing path {relpath!r}: not a plain path inside the vault")
        target = self.root.joinpath(*rel.parts)
        # Resolve the folder (following symlinks) and check it; the file itself must not
        # be a symlink at all, since replacing or reading it would act on its target.
        real_parent = target.parent.resolve()
        if not self._inside(real_parent):
            raise OutsideVault(
                f"refusing to touch {relpath!r}: its folder resolves outside the vault",
                path=relpath,
            )
        if target.is_symlink():
            real = target.resolve()
            if not self._inside(real):
                raise OutsideVault(
                    f"refusing to touch {relpath!r}: it is a symlink pointing outside the vault",
                    path=relpath,
                )
        return target

    def _ensure_folder(self, relpath: str) -> Path:
        """Create the note's folders one by one, checking each lies inside the vault."""
        current = self.root
        for part in PurePosixPath(relpath).parent.parts:
            current = current / part
            if current.is_symlink() or current.exists():
                if not self._inside(current.resolve()):
                    raise OutsideVault(
                        f"refusing to write {relpath!r}: folder {part!r} leads outside the vault",
                        path=relpath,
                    )
                if not current.resolve().is_dir():
                    raise VaultError(
                        f"cannot write {relpath!r}: {part!r} is a file, not a folder",
                        path=relpath,
                    )
                continue
            current.mkdir()
            self._dirty_dirs.add(current.parent)
        return self.path_of(relpath)

    # -- reading ------------------------------------------------------------------------------

    def exists(self, relpath: str) -> bool:
        return self.path_of(relpath).exists()

    def read_text(self, relpath: str) -> str | None:
        """The note's text, or None when there is no such file."""
        path = self.path_of(relpath)
        try:
            with open(path, encoding="utf-8", newline="") as handle:
                return handle.read()
        except FileNotFoundError:
            return None
        except UnicodeDecodeError as exc:
            raise VaultError(f"{relpath} is not UTF-8 text; left untouched", path=relpath) from exc
        except OSError as exc:
            raise VaultError(f"cannot read {relpath}: {exc.strerror}", path=relpath) from exc

    def iter_notes(self) -> Iterator[str]:
        """Relative paths of the vault's visible Markdown notes.

        Hidden folders (``.obsidian``, ``.trash``, our own state) are skipped, and
        symlinked folders are not followed, so the walk stays inside the vault.
        """
        for folder, dirs, files in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            base = Path(folder).relative_to(self.root)
            for name in sorted(files):
                if name.endswith(".md") and not name.startswith("."):
                    yield (base / name).as_posix()

    # -- writing ------------------------------------------------------------------------------

    def write_text(self, relpath: str, text: str) -> None:
        """Atomically replace (or create) a note with ``text``."""
        target = self._ensure_folder(relpath)
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
        temp = target.parent / f"{TEMP_PREFIX}{secrets.token_hex(6)}{TEMP_SUFFIX}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.chmod(temp, mode)  # O_CREAT's mode is filtered by the umask; restore the note's own
            os.replace(temp, target)
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            reason = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror
            raise VaultError(
                f"cannot write {relpath}: {reason}; note left as it was", path=relpath
            ) from exc
        self._dirty_dirs.add(target.parent)

    def flush(self) -> None:
        """fsync the folders whose entries changed, so the renames survive a power cut."""
        for folder in self._dirty_dirs:
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
        self._dirty_dirs.clear()

    def sweep_temp_files(self) -> int:
        """Remove the temporary files a killed run left anywhere in the vault."""
        removed = 0
        for folder, dirs, _ in os.walk(self.root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            removed += self._sweep_temp_files(Path(folder))
        return removed

    @staticmethod
    def _sweep_temp_files(folder: Path) -> int:
        """Remove temporary files a killed run left in a folder; returns how many.

        Done once per folder per run, on the first write there, so a no-op sync
        lists no folder at all.
        """
        removed = 0
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return 0
        for entry in entries:
            name = entry.name
            if name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX) and entry.is_file():
                try:
                    os.unlink(entry.path)
                    removed += 1
                except OSError:
                    pass
        return removed
