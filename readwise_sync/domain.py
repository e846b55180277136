"""The documents a sync works on, apart from any API's shape.

A :class:`Document` is one item of the user's library (a book, an article, a tweet, a
podcast episode, a Reader document) with its :class:`Highlight` s. Ids are strings: the
export's are numbers, Reader's are not, and the state, the merge and the names never do
arithmetic on them. Each source converts its own wire records to these in one function
(for the export: :mod:`readwise_sync.readwise.convert`), so a second source fits without
touching what comes after.

Frozen, slotted and plain: the engine holds tens of thousands of them at once, and
nothing may change a document after it was read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Highlight:
    """One passage the user marked, with their note on it."""

    id: str
    text: str = ""
    note: str | None = None
    location: int | None = None
    location_type: str | None = None
    color: str | None = None
    highlighted_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    url: str | None = None
    readwise_url: str | None = None
    tags: tuple[str, ...] = ()
    is_favorite: bool = False
    # Gone from the user's library (deleted or discarded): not in the note.
    is_deleted: bool = False


def reading_order(highlight: Highlight) -> tuple[bool, int, int, str]:
    """The sort key of reading order: by location, the location-less last, ties by id
    (numerically when ids are numbers, as the export's are: creation order)."""
    number = int(highlight.id) if highlight.id.isdigit() else 0
    return (highlight.location is None, highlight.location or 0, number, highlight.id)


@dataclass(frozen=True, slots=True)
class Document:
    """One item of the library and its highlights (live and deleted alike)."""

    id: str
    title: str = ""
    readable_title: str | None = None
    author: str | None = None
    category: str = "books"
    source: str | None = None
    cover_image_url: str | None = None
    unique_url: str | None = None
    source_url: str | None = None
    readwise_url: str | None = None
    summary: str | None = None
    document_note: str | None = None
    asin: str | None = None
    external_id: str | None = None
    tags: tuple[str, ...] = ()
    is_deleted: bool = False
    highlights: tuple[Highlight, ...] = ()

    @property
    def display_title(self) -> str:
        """The cleaned title Readwise shows (subtitle dropped), else the full title."""
        return self.readable_title or self.title or "Untitled"

    def live_highlights(self) -> list[Highlight]:
        """The highlights that belong in the note, in reading order (a new list each call)."""
        return sorted((h for h in self.highlights if not h.is_deleted), key=reading_order)
