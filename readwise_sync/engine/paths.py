"""Where a new note goes: a free name, claimed for the run as soon as it is chosen.

A run decides many books before it writes any of them, so a name chosen for one new
note must not be chosen again for another before the state knows of either: the
names chosen in this run are kept here, beside those the state gives to books.
"""

from __future__ import annotations

from readwise_sync.domain import Document
from readwise_sync.notes import naming
from readwise_sync.store.state import NoteRecord, State
from readwise_sync.store.texts import NoteTexts


class Paths:
    """The names of one run's notes: those the state holds and those chosen in the run."""

    def __init__(self, notes: NoteTexts, state: State, folder: str) -> None:
        self.notes = notes
        self.state = state
        self.folder = folder
        self.claimed: set[str] = set()  # path keys chosen in this run (not yet in the state)

    def claim(self, path: str) -> None:
        self.claimed.add(naming.name_key(path))

    def release(self, path: str) -> None:
        """A decision given up (its note is decided again): its name is free again."""
        self.claimed.discard(naming.name_key(path))

    def held_by_another(self, record: NoteRecord, holder: str | None) -> bool:
        """``holder``: the book the state gives the record's path to now."""
        if holder is not None:
            return holder != record.book_id
        # a new note of another book is going there in this run
        return naming.name_key(record.path) in self.claimed

    def _is_taken(self, key: str) -> bool:
        return key in self.claimed or self.state.is_path_taken(key)

    def default(self, book: Document, occupied: set[str] | None = None) -> str:
        """The book's name in its folder, free of every name a book holds (and ``occupied``)."""
        return naming.note_relpath(
            self.folder,
            book.category,
            book.display_title,
            book_id=book.id,
            is_taken=lambda key: self._is_taken(key) or key in (occupied or ()),
        )

    def new(self, book: Document, default: str | None = None, *, free: bool = False) -> str:
        """A free name for a new note, claimed: not a book's, and no file there either.
        (``free``: the caller just saw that no file is at ``default``.)"""
        occupied: set[str] = set()
        path = default or self.default(book)
        while not free and (self.notes.exists(path) or self.notes.has_placeholder(path)):
            occupied.add(naming.name_key(path))
            path = self.default(book, occupied)
        self.claim(path)
        return path
