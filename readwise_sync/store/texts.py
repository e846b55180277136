"""What planning reads of a vault: its notes' texts, read-only, behind one protocol.

The planner, the names it picks and the search for moved notes (all in
:mod:`readwise_sync.engine`) see the vault only as :class:`NoteTexts`: a note's
text, whether a file or a cloud placeholder holds a name, when a note was saved,
which file it is. A :class:`~readwise_sync.store.vault.Vault` is one, reading the disk;
:class:`MemoryNotes` is another, a dict of texts, so a decision can be made (and
tested) from documents, the state's records and note texts alone, with no file at all,
the way :class:`~readwise_sync.readwise.source.MemorySource` stands in for the server.

The texts are asked for, not handed over up front, because most of them are never
needed: a book whose rendering is what was last written needs no read of its note
(the usual cron run reads none), and the whole vault is read only when a note left
its path.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Protocol

from readwise_sync.errors import OutsideVault
from readwise_sync.store.vault import FileId, Vault


class NoteTexts(Protocol):
    """The notes of a vault, as planning reads them. Paths are relative to the vault."""

    def read_text(self, relpath: str) -> str | None:
        """The note's text; None when there is no such note."""
        ...

    def exists(self, relpath: str) -> bool: ...

    def has_placeholder(self, relpath: str) -> bool:
        """Whether a cloud placeholder holds the place of a note not downloaded."""
        ...

    def dataless(self, relpath: str) -> bool:
        """Whether reading the note would wait for a download."""
        ...

    def modified_at(self, relpath: str) -> float | None: ...

    def file_id(self, relpath: str) -> FileId | None:
        """Which file the note is; None where that can't be told."""
        ...

    def iter_notes(self) -> Iterable[str]:
        """Every visible Markdown note, once each."""
        ...


@dataclass
class MemoryNotes:
    """Notes held in memory: a path (relative to the vault) to its text.

    ``saved`` gives a note's save time (0 when not given), ``files`` its file identity
    (none when not given, as on a filesystem that keeps no inodes), ``offloaded`` the
    notes whose data is in the cloud only, ``placeholders`` the names a cloud placeholder
    holds. A path that could leave the vault is refused, as the vault refuses it.
    """

    texts: dict[str, str] = field(default_factory=dict)
    saved: dict[str, float] = field(default_factory=dict)
    files: dict[str, FileId] = field(default_factory=dict)
    offloaded: set[str] = field(default_factory=set)
    placeholders: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, vault: Vault) -> MemoryNotes:
        """A copy of what a vault holds now: its notes' texts, save times and identities."""
        notes = cls()
        for path in vault.iter_notes():
            text = vault.read_text(path)
            if text is None:
                continue
            notes.texts[path] = text
            notes.saved[path] = vault.modified_at(path) or 0.0
            file = vault.file_id(path)
            if file is not None:
                notes.files[path] = file
        return notes

    def read_text(self, relpath: str) -> str | None:
        return self.texts.get(_inside(relpath))

    def exists(self, relpath: str) -> bool:
        return _inside(relpath) in self.texts

    def has_placeholder(self, relpath: str) -> bool:
        return _inside(relpath) in self.placeholders

    def dataless(self, relpath: str) -> bool:
        return _inside(relpath) in self.offloaded

    def modified_at(self, relpath: str) -> float | None:
        relpath = _inside(relpath)
        return self.saved.get(relpath, 0.0) if relpath in self.texts else None

    def file_id(self, relpath: str) -> FileId | None:
        return self.files.get(relpath) if relpath in self.texts else None

    def iter_notes(self) -> Iterator[str]:
        for path in sorted(self.texts):
            parts = PurePosixPath(path).parts
            if path.endswith(".md") and not any(part.startswith(".") for part in parts):
                yield path


def _inside(relpath: str) -> str:
    """The path, if it stays inside the vault (no absolute path, no step up)."""
    path = PurePosixPath(relpath.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        raise OutsideVault(f"{relpath} is outside the vault", path=relpath)
    return path.as_posix()
