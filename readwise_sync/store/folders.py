"""The vault's folders as one run meets them: confined, and made one component at a time.

Every path is checked to resolve inside the vault *after* following symlinks, before
anything is read, created or written; one that escapes raises :class:`OutsideVault`.
Folders are created one component at a time, so a symlinked folder pointing outside the
vault can't be created through either. What was found inside is remembered for the run:
a folder is resolved once, not once for every note in it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path, PurePosixPath

from readwise_sync.errors import OutsideVault, VaultError

_MAX_TARGETS = 1024  # parsed note paths a Vault keeps (a few pages' worth)


class Folders:
    """The folders of one vault that one run has checked, made and changed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dirty: set[str] = set()  # folders whose entries changed, for an fsync
        self._inside_dirs: set[Path] = {root}  # folders known to resolve inside
        self._targets: dict[str, Path] = {}  # relpath -> its path, in a folder known inside
        self._made_dirs: set[Path] = {root}  # folders known to exist, inside
        self._new_dirs: list[Path] = []  # folders this run created, in order

    def inside(self, path: Path) -> bool:
        return path == self.root or self.root in path.parents

    def path_of(self, relpath: str) -> Path:
        """The absolute path of a note, refusing anything that could leave the vault."""
        target = self._targets.get(relpath)
        if target is None:
            target = self._target(relpath)
        # The file itself must not be a symlink pointing out: replacing or reading it
        # would act on its target. Checked every time, as the file may change.
        if target.is_symlink():
            real = target.resolve()
            if not self.inside(real):
                raise OutsideVault(
                    f"refusing to touch {relpath!r}: it is a symlink pointing outside the vault",
                    path=relpath,
                )
        return target

    def _target(self, relpath: str) -> Path:
        rel = PurePosixPath(relpath)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts or "\\" in relpath:
            raise OutsideVault(f"refusing path {relpath!r}: not a plain path inside the vault")
        target = self.root.joinpath(*rel.parts)
        # Resolve the folder (following symlinks) and check it, once per folder.
        if target.parent not in self._inside_dirs:
            if not self.inside(target.parent.resolve()):
                raise OutsideVault(
                    f"refusing to touch {relpath!r}: its folder resolves outside the vault",
                    path=relpath,
                )
            self._inside_dirs.add(target.parent)
        # A sync asks for each note's path several times while deciding it: parse the
        # text once. (As for the folders above, only what was found inside is cached.)
        # Kept small: 10,000 paths would hold 6 MB for the whole run.
        if len(self._targets) >= _MAX_TARGETS:
            self._targets.clear()
        self._targets[relpath] = target
        return target

    def ensure(self, relpath: str) -> Path:
        """Create the note's folders one by one, checking each lies inside the vault."""
        current = self.root
        for part in PurePosixPath(relpath).parent.parts:
            current = current / part
            if current in self._made_dirs:
                continue
            if current.is_symlink() or current.exists():
                if not self.inside(current.resolve()):
                    raise OutsideVault(
                        f"refusing to write {relpath!r}: folder {part!r} leads outside the vault",
                        path=relpath,
                    )
                if not current.resolve().is_dir():
                    raise VaultError(
                        f"cannot write {relpath!r}: {part!r} is a file, not a folder",
                        path=relpath,
                    )
                self._made_dirs.add(current)
                continue
            current.mkdir()
            self._new_dirs.append(current)
            self._made_dirs.add(current)
            self.dirty.add(os.fspath(current.parent))
        return self.path_of(relpath)

    def remove_new_empty(self) -> None:
        """Remove the folders this run made that hold nothing (after a failed run)."""
        for folder in reversed(self._new_dirs):
            with contextlib.suppress(OSError):  # not empty, or gone: leave it
                folder.rmdir()
                self._made_dirs.discard(folder)
                self._inside_dirs.discard(folder)
                self.dirty.add(os.fspath(folder.parent))
                self._targets.clear()  # a folder made again must be checked again
        self._new_dirs.clear()
