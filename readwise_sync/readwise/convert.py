"""The export's wire records made domain documents: one explicit function each.

Everything the API sends that a note or a decision can use is carried over; what only
the wire needs (the lenient reading, the export's cursor, a tag's id) stays behind. Ids
become strings (see :mod:`readwise_sync.domain`). A highlight deleted or discarded in
Readwise is kept, marked ``is_deleted``: the engine must see it go.

Each document carries the book's JSON as its ``record``: the state keeps it, and
:func:`from_record` makes the same document of it again (a rerender, with no network).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from readwise_sync import domain
from readwise_sync.readwise.wire import Book, Highlight


def to_highlight(highlight: Highlight) -> domain.Highlight:
    """One export highlight as a domain highlight."""
    # Made from a tuple in field order: binding fourteen keywords took 40% longer, and a
    # first sync makes one per highlight (test_domain checks each field lands by name).
    return domain.Highlight._make(
        (
            str(highlight.id),
            highlight.text,
            highlight.note,
            highlight.location,
            highlight.location_type,
            highlight.color,
            highlight.highlighted_at,
            highlight.created_at,
            highlight.updated_at,
            highlight.url,
            highlight.readwise_url,
            tuple(tag.name for tag in highlight.tags) if highlight.tags else (),
            highlight.is_favorite,
            not highlight.is_live,
        )
    )


def to_document(book: Book, record: bytes | None = None) -> domain.Document:
    """One export book (whatever its category) as a domain document; ``record``: the
    book's JSON when the caller has it (else it is made from the book)."""
    return domain.Document(
        id=str(book.user_book_id),
        title=book.title,
        readable_title=book.readable_title,
        author=book.author,
        category=book.category,
        source=book.source,
        cover_image_url=book.cover_image_url,
        unique_url=book.unique_url,
        source_url=book.source_url,
        readwise_url=book.readwise_url,
        summary=book.summary,
        document_note=book.document_note,
        asin=book.asin,
        external_id=book.external_id,
        tags=tuple(tag.name for tag in book.book_tags),
        is_deleted=book.is_deleted,
        highlights=tuple(to_highlight(h) for h in book.highlights),
        source_record=record if record is not None else _record_of(book),
    )


def _record_of(book: Book) -> Callable[[], bytes]:
    return lambda: book.model_dump_json().encode()


def from_record(record: bytes) -> domain.Document:
    """The document a stored ``record`` (see :func:`to_document`) was made from."""
    return to_document(Book.parse_json(record), record)


def id_numbers(ids: Iterable[str]) -> list[int]:
    """The export's own (numeric) ids among document ids; another source's are left out."""
    return [int(i) for i in ids if i.isdigit()]


def highlights_changed(before: bytes | None, after: bytes) -> int:
    """The highlights added, changed or removed between two records of a document (as
    :func:`to_document` keeps them): live ones only, a change to ``updated_at`` alone is
    none. Read as plain JSON (records we wrote: 0.55 ms a note against 1.1 ms to read
    them as documents, measured), field by field where both records have the field, so a
    record an earlier version wrote, with other fields, counts no change of its own."""
    if before == after:  # a rerender's, say: nothing to read to know that
        return 0
    old, new = _live(before), _live(after)
    changed = sum(1 for key, value in new.items() if _differ(old.get(key), value))
    return changed + len(old.keys() - new.keys())


def _live(record: bytes | None) -> dict[Any, dict[str, Any]]:
    if record is None:
        return {}
    highlights = json.loads(record).get("highlights") or []
    return {h.get("id"): h for h in highlights if not (h.get("is_deleted") or h.get("is_discard"))}


def _differ(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    if old is None:
        return True
    return any(old[key] != new[key] for key in (old.keys() & new.keys()) - {"updated_at"})
