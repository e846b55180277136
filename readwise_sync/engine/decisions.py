"""The closed vocabulary of what a sync decides for one document.

Planning (:mod:`readwise_sync.engine.plan`) finds and classifies; it returns one of two
decisions per document, each a frozen value:

- :class:`Write`: put a new text in the note (or only record it, when the file already
  holds it), classified by :class:`Change`: a new note, a rewrite of a note still as the
  tool left it, a merge into the user's edits (with conflicts, or not), an adoption of a
  note the tool did not write;
- :class:`Leave`: leave the note as it is, for a :class:`Skip` reason.

Applying (:mod:`readwise_sync.engine.apply`) carries out the writes; the run presents
both to the report and the progress line as they are made. :class:`Outcome` is what
:class:`~readwise_sync.engine.progress.Progress` hears of a document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import TYPE_CHECKING

from readwise_sync.store.durable import text_hash
from readwise_sync.store.packing import Packed, pack, pack_once

if TYPE_CHECKING:  # (only their types: a sync with nothing to decide never loads merge)
    from readwise_sync.domain import Document
    from readwise_sync.notes.merge import Layout


class Outcome(StrEnum):
    """A document's progress: decided to be written, or put in place (or found as it was)."""

    TO_WRITE = "to write"
    UNCHANGED = "unchanged"
    CREATED = "created"
    UPDATED = "updated"


class Change(Enum):
    """What kind of write a :class:`Write` is."""

    CREATE = "create"  # a new note
    REWRITE = "rewrite"  # exactly the tool's last rendering: rendered again whole
    MERGE = "merge"  # the user edited it: Readwise's changes merged in
    CONFLICT = "conflict"  # merged, and some pieces conflict: the user's text is kept
    ADOPT = "adopt"  # an existing note the tool did not write, taken as the book's


class Skip(Enum):
    """Why a document's note is left as it is."""

    UNCHANGED = "unchanged"  # the same rendering as last time
    EMPTY = "empty"  # a new book with no highlight yet
    DELETED_UPSTREAM = "deleted upstream"  # deleted in Readwise: the note is kept
    MISSING = "missing"  # deleted by the user, nowhere else in the vault: not recreated
    JUST_SAVED = "just saved"  # saved within the quiet period: the next run takes it
    KEPT_CHANGING = "kept changing"  # saved again each time it was written
    OFFLOADED = "offloaded"  # only in the cloud: the next run takes it
    OUTSIDE_VAULT = "outside the vault"  # a link out of the vault: fetched again
    READ_ONLY = "read-only"  # a file the tool may not write
    FAILED = "failed"  # the note could not be read: tried again next run

    @property
    def retried(self) -> bool:
        """Whether the next run fetches the document again."""
        return self in _RETRIED


_RETRIED = {Skip.JUST_SAVED, Skip.KEPT_CHANGING, Skip.OFFLOADED, Skip.OUTSIDE_VAULT, Skip.FAILED}

# Why a note is left for the next run, as the log says it.
LEFT_FOR_NEXT_RUN = {
    Skip.JUST_SAVED: "was saved moments ago (quiet_period)",
    Skip.OFFLOADED: "is offloaded to iCloud: download it",
    Skip.KEPT_CHANGING: "kept changing as it was written",
}


@dataclass(frozen=True)
class Write:
    """A decision to (re)write one note, or only to record it when ``on_disk``.

    It carries everything the write and the state need, and nothing heavier, because
    a full sync decides every note while the pages arrive and keeps the decisions in
    a spool file until the last page is in. (The new text itself waits in the note's
    temporary file once it is staged; ``text`` is then empty.)
    """

    book_id: str
    data: Packed  # the book, as the state keeps it
    highlights: int  # live highlights in the book
    path: str
    text: str
    digest: str  # text_hash(text)
    render_hash: str
    layout: Packed  # Layout.to_json(), as the state keeps it
    change: Change
    what: str
    base: str | None = None  # the hash of the note as it was read when deciding
    on_disk: bool = False  # the file already holds ``text``: record, don't write
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    whole: bool = False  # decided from every piece of a book sent in pieces
    moved_from: str | None = None  # the recorded path, when the note was found elsewhere

    @property
    def created(self) -> bool:
        return self.change is Change.CREATE

    @property
    def outcome(self) -> Outcome:
        return Outcome.UNCHANGED if self.on_disk else Outcome.TO_WRITE


@dataclass(frozen=True)
class Leave:
    """A decision to leave a document's note as it is."""

    book_id: str
    reason: Skip
    path: str | None = None  # the note concerned, when there is one
    detail: str = ""  # the message that tells of it, when it is one of its own
    moved_from: str | None = None  # as for a Write: the note was followed first

    @property
    def outcome(self) -> Outcome | Skip:
        return Outcome.UNCHANGED if self.reason is Skip.UNCHANGED else self.reason


Decision = Write | Leave


def write(
    book: Document,
    path: str,
    text: str,
    render_hash: str,
    layout: Layout,
    change: Change,
    what: str,
    *,
    base: str | None = None,
    on_disk: bool = False,
    conflicts: list[tuple[str, str]] | None = None,
    moved_from: str | None = None,
) -> Write:
    """A write of ``text`` for ``book`` at ``path``."""
    return Write(
        book.id,
        pack_once(book.record),
        len(book.live_highlights()),
        path,
        text,
        text_hash(text),
        render_hash,
        pack(layout.to_json()),
        change,
        what,
        base=base,
        on_disk=on_disk,
        conflicts=conflicts or [],
        moved_from=moved_from,
    )
