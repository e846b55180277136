"""The documents a sync works on, apart from any API's shape.

A :class:`Document` is one item of the user's library (a book, an article, a tweet, a
podcast episode, a Reader document) with its :class:`Highlight` s. Ids are strings: the
export's are numbers, Reader's are not, and the state, the merge and the names never do
arithmetic on them. Each source converts its own wire records to these in one function
(for the export: :mod:`readwise_sync.readwise.convert`), so a second source fits without
touching what comes after.

Immutable and plain (a frozen dataclass, a named tuple): the engine holds tens of
thousands of them at once, and nothing may change a document after it was read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple


class Highlight(NamedTuple):
    """One passage the user marked, with their note on it.

    A named tuple rather than a frozen dataclass: as immutable, and made five times
    faster (a frozen dataclass sets each field through ``object.__setattr__``), which
    at 40,000 highlights was 4% of a first sync. Copy one with ``_replace``.
    """

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
    # The source's own record of the document (its wire JSON, or that JSON as the state
    # packs it), which the state keeps so a rerender can rebuild it without the network;
    # opaque to everything but its source. A source may give a function that makes it:
    # only a document written needs one, and most of those a ``--full`` sync reads are
    # unchanged (making and packing each record made such a sync +38% CPU against 0.1.0).
    source_record: bytes | Callable[[], bytes] = field(default=b"", compare=False, repr=False)
    # The live highlights in reading order, worked out once: a sync asks for them several
    # times per document, and sorting 40,000 highlights each time showed in a first sync.
    live: tuple[Highlight, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        live = sorted((h for h in self.highlights if not h.is_deleted), key=reading_order)
        object.__setattr__(self, "live", tuple(live))  # frozen: the one way to set it

    @property
    def record(self) -> bytes:
        """The source's record of the document (made now, if the source deferred it)."""
        record = self.source_record
        return record if isinstance(record, bytes) else record()

    @property
    def display_title(self) -> str:
        """The cleaned title Readwise shows (subtitle dropped), else the full title."""
        return self.readable_title or self.title or "Untitled"

    def live_highlights(self) -> tuple[Highlight, ...]:
        """The highlights that belong in the note, in reading order."""
        return self.live
