"""Whose note is this? The evidence that ties a note in the vault to its Readwise book.

A sync asks it of a note at a book's recorded path before merging into it (the
user may have put another note there), and, only when a note has moved or is
missing, of the whole vault: every note is then read once into a
:class:`~readwise_sync.notes.locate.NoteIndex`, the tracked notes are settled first
(a moved note is reserved for its own book before any new book may adopt a
note), and the rest stay candidates. Deciding and writing are
:mod:`readwise_sync.engine.sync`'s; this module only weighs evidence.
"""

from __future__ import annotations

import hashlib
import logging

from readwise_sync.notes import naming
from readwise_sync.notes.locate import NoteEntry, NoteIndex, describe_note
from readwise_sync.notes.merge import Layout, bullet_blocks
from readwise_sync.readwise.wire import Book
from readwise_sync.store.state import NoteRecord, State
from readwise_sync.store.vault import Vault

log = logging.getLogger(__name__)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _block_key(block: str) -> bytes:
    return hashlib.blake2b(block.encode("utf-8"), digest_size=12).digest()


class Owners:
    """The evidence of one run, gathered lazily: nothing is read until it is asked for."""

    def __init__(self, vault: Vault, state: State, *, dry_run: bool = False) -> None:
        self.vault = vault
        self.state = state
        self.dry_run = dry_run
        self.moved: dict[int, str] = {}  # book id -> where its note went (after index())
        self._index: NoteIndex | None = None
        self._building = False  # index() is judging the tracked notes
        # book id -> the editions that lost their note since the last sync, sharing what is
        # left of this book's note: whether it is theirs waits for the search (index()).
        self._doubts: dict[int, set[int]] = {}
        # Who wrote which block, title and metadata section: built on first need.
        self._owners: tuple[dict[bytes, int], dict[str, set[int]], dict[str, set[int]]] | None
        self._owners = None

    def index(self) -> NoteIndex:
        """The vault's notes that no book holds, built once per run and only when needed.

        Building it first settles every tracked note: one still holding its book's text
        stays that book's; one that moved (or whose path now holds another note) is
        looked for among the rest and reserved for its book, before any new book may
        adopt a note. So a moved note is never handed to another book of the same title.
        """
        if self._index is None:
            tracked = self.state.load_paths()
            records = self.state.load_notes(tracked)
            at: dict[str, list[int]] = {}  # path -> the books recorded there
            for book_id, (path, _) in tracked.items():
                at.setdefault(path, []).append(book_id)
            entries: list[NoteEntry] = []
            kept: set[int] = set()
            unsure: set[int] = set()
            self._building = True
            try:
                self._index_notes(at, tracked, records, entries, kept, unsure)
            finally:
                self._building = False
            self._index = NoteIndex(entries, read=self._read)
            log.info("looked through %d notes in the vault", len(entries))
            self._settle_tracked(self._index, tracked, records, kept, unsure)
        return self._index

    def _index_notes(
        self,
        at: dict[str, list[int]],
        tracked: dict[int, tuple[str, bool]],
        records: dict[int, NoteRecord],
        entries: list[NoteEntry],
        kept: set[int],
        unsure: set[int],
    ) -> None:
        """Read every note once: its evidence goes to ``entries``, and each tracked note
        found at its book's path is judged ``kept`` (its book's) or ``unsure``."""
        for path in self.vault.iter_notes():
            text = self._read(path)
            if text is None:
                continue
            # Only the evidence stays in memory, not the text (see NoteEntry); whether
            # a tracked note still is its book's is judged now, while the text is here.
            entries.append(describe_note(path, text, keep_text=False))
            holders = [b for b in at.get(path, ()) if tracked[b][1]]
            for book_id in at.get(path, ()):
                held = tracked[book_id][1]
                if not held and holders:
                    continue  # let go of, and another book's note is there now
                verdict = self.judge(records[book_id], text, released=not held)
                if verdict:
                    kept.add(book_id)
                elif verdict is None:
                    unsure.add(book_id)

    def _read(self, path: str) -> str | None:
        try:
            return self.vault.read_text(path)
        except Exception as exc:  # unreadable or outside: not a candidate
            log.debug("not indexing %s: %s", path, exc)
            return None

    def _settle_tracked(
        self,
        index: NoteIndex,
        tracked: dict[int, tuple[str, bool]],
        records: dict[int, NoteRecord],
        kept: set[int],
        unsure: set[int],
    ) -> None:
        """``kept``: books whose note is at their path; ``unsure``: books whose path holds
        a note with nothing for or against them (see :meth:`judge`): theirs unless their
        note is found elsewhere."""
        lost: list[NoteRecord] = []
        for book_id, (path, _) in tracked.items():
            if book_id in kept:
                index.claim(path)
            elif book_id in unsure:
                # Not for another book to adopt; looked for below. (Unless an edition that
                # lost its note may have moved it here: it may find it here, then.)
                if book_id not in self._doubts:
                    index.claim(path)
                lost.append(records[book_id])
            elif records[book_id].hash is not None:
                lost.append(records[book_id])
        # Strongest evidence first, for all of them: a note moved untouched is its book's
        # before any other book may recognise it by a shared piece or title.
        unresolved = []
        for record in lost:
            found = index.find_exact((record.hash, record.pending_hash))
            if found is not None:
                index.claim(found)
                self.moved[record.book_id] = found
            else:
                unresolved.append(record)
        # Counted in one pass over the notes for all of them, not one pass each.
        hits = index.piece_hits(
            {record.book_id: self.pieces(record, blocks_only=True) for record in unresolved}
        )
        for record in unresolved:
            data = self.state.load_book_data(record.book_id)
            found = index.find(
                Book.model_validate(data or {"user_book_id": record.book_id}),
                piece_hits=hits[record.book_id],
            )
            if found is not None:
                index.claim(found)
                self.moved[record.book_id] = found
        for book_id, editions in self._doubts.items():
            if book_id not in unsure:
                continue
            path = tracked[book_id][0]
            if any(self.moved.get(edition) in (None, path) for edition in editions):
                unsure.discard(book_id)  # that edition's note may be the one here: let it go
            elif self.moved.get(book_id, path) == path:
                # Their notes are elsewhere: the note here is its own (the search may have
                # found it here, by a link: that is no move).
                self.moved.pop(book_id, None)
                index.claim(path)
        # The unsure whose note is nowhere else keep their path and the note at it.
        gone = [r for r in lost if r.book_id not in unsure or r.book_id in self.moved]
        if gone and not self.dry_run:
            # Their paths are free now: a note found there may belong to another book.
            with self.state.transaction():
                for record in gone:
                    self.state.release_path(record.book_id)

    def layouts(self, record: NoteRecord) -> list[Layout]:
        """What the tool last wrote into the book's note, and what it was about to write."""
        stored = (self.state.load_layout(record.book_id, pending=p) for p in (False, True))
        return [Layout.from_json(layout) for layout in stored if layout is not None]

    def pieces(self, record: NoteRecord, *, blocks_only: bool = False) -> list[str]:
        """The blocks the tool wrote (and the metadata, unless ``blocks_only``: two editions
        of a book share it)."""
        pieces: list[str] = []
        for layout in self.layouts(record):
            pieces += layout.blocks.values()
            if not blocks_only:
                pieces.append(layout.sections.get("preamble", ""))
        return [piece for piece in pieces if piece]

    def judge(self, record: NoteRecord, text: str, *, released: bool = False) -> bool | None:
        """Whether the note at a book's recorded path still is that book's note: True,
        False, or None when nothing in it says either.

        Evidence for: our exact text; a block the tool wrote here; its metadata section
        or title property, when no other book has the same. Evidence against: another
        book's exact text, blocks, metadata section or title (its note, moved onto this
        path); a book sharing what is left of it (two editions share title and metadata)
        that lost its own note since the last sync, and whose note is nowhere else in
        the vault (it may be that one, moved here): finding that out reads the vault.

        None, at a path the book still holds, means the note is its own unless its note
        is found elsewhere (the user may well have deleted every highlight of it); the
        caller looks. At a path the book let go of (``released``: its note went missing
        earlier) the path proves nothing, and None means no.
        """
        digest = text_hash(text)
        if digest in (record.hash, record.pending_hash):
            return True
        if any(other != record.book_id for other in self.state.find_books_by_hash(digest)):
            return False
        text = text.replace("\r\n", "\n")
        layouts = self.layouts(record)
        if not layouts:
            return True  # a record from before layouts were kept can't tell: trust the path
        _, title_owners, preamble_owners = self._owner_maps()
        sharing: set[int] = set()  # other books with this metadata section or title
        for layout in layouts:
            if any(block and block in text for block in layout.blocks.values()):
                return True
            preamble = layout.sections.get("preamble", "")
            if preamble:
                others = preamble_owners.get(preamble, set()) - {record.book_id}
                if preamble in text and not others:
                    return True
                sharing |= others
        if self.owners_of(text) - {record.book_id}:
            return False
        titles = {title for layout in layouts if (title := layout.frontmatter.get("title"))}
        for title in titles:
            others = title_owners.get(title, set()) - {record.book_id}
            if title in text and not others:
                return True
            sharing |= others
        if released:
            return False
        if self._others_evidence(text, record.book_id, sharing):
            return False
        lost = {book_id for book_id in sharing if self._lost(book_id)}
        if lost:
            if self._building:
                self._doubts[record.book_id] = lost
                return None  # settled once the vault is searched (see _settle_tracked)
            self.index()
            # Found elsewhere in the vault, an edition's note is not the one here.
            if any(self.moved.get(book_id) in (None, record.path) for book_id in lost):
                return False
        return None

    def written_for_another(self, text: str, book_id: int) -> bool:
        """Whether the tool wrote this note for another book: its blocks, its metadata
        section or its title property are in it. Such a note is never adopted: it is
        that book's, moved and edited (another edition may share the title)."""
        return bool(self.owners_of(text) - {book_id}) or self._others_evidence(text, book_id, set())

    def _others_evidence(self, text: str, book_id: int, sharing: set[int]) -> bool:
        """Whether the text holds the metadata section or title property the tool wrote
        for another book, one this book does not share (that book's note, moved here)."""
        _, title_owners, preamble_owners = self._owner_maps()
        return any(
            owners - {book_id} - sharing and piece in text
            for owners_by_piece in (title_owners, preamble_owners)
            for piece, owners in owners_by_piece.items()
        )

    def _lost(self, book_id: int) -> bool:
        """Whether a book's note went from the path it holds since the last sync. (A book
        that let go of its path lost its note before, when this one was still known.)"""
        record = self.state.load_notes([book_id]).get(book_id)
        if record is None or record.hash is None:
            return False  # never written: nothing of it can be anywhere
        if self.state.path_holder(naming.name_key(record.path)) != book_id:
            return False
        try:
            return not self.vault.exists(record.path)
        except Exception:  # a path the vault refuses: its note is not there either
            return True

    def _owner_maps(
        self,
    ) -> tuple[dict[bytes, int], dict[str, set[int]], dict[str, set[int]]]:
        """Which book wrote each block, and which books have each title property and
        each metadata section.

        Built once per run, and only when a note's owner is in doubt: a hash per block.
        """
        if self._owners is None:
            blocks: dict[bytes, int] = {}
            titles: dict[str, set[int]] = {}
            preambles: dict[str, set[int]] = {}
            for book_id, stored in self.state.iter_layouts():
                layout = Layout.from_json(stored)
                for block in layout.blocks.values():
                    blocks[_block_key(block)] = book_id
                if "title" in layout.frontmatter:
                    titles.setdefault(layout.frontmatter["title"], set()).add(book_id)
                if layout.sections.get("preamble"):
                    preambles.setdefault(layout.sections["preamble"], set()).add(book_id)
            self._owners = (blocks, titles, preambles)
        return self._owners

    def owners_of(self, text: str) -> set[int]:
        """The books whose blocks (as the tool last wrote them) stand in this text."""
        block_owners, _, _ = self._owner_maps()
        keys = (_block_key(block) for block in bullet_blocks(text))
        return {block_owners[key] for key in keys if key in block_owners}

    def claim(self, path: str) -> None:
        """A book took this note in this run: no other book may find it."""
        if self._index is not None:
            self._index.claim(path)
