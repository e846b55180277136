"""Whose note is this? The evidence gathered from the state and the vault, for the judge
of :mod:`readwise_sync.notes.identity`, and the one search of the vault it may ask for.

A sync asks it of a note at a book's recorded path before merging into it (the
user may have put another note there), and, only when a note has moved or is
missing, of the whole vault: every note is then read once into a
:class:`~readwise_sync.notes.locate.NoteIndex`, the tracked notes are settled first
(a moved note is reserved for its own book before any new book may adopt a
note), and the rest stay candidates. The search runs at most once per run; what it
found is a value (:class:`Search`), and the paths it frees are written to the state in
one place (:meth:`Owners.search`). Deciding and writing notes are the engine's.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from readwise_sync.domain import Document
from readwise_sync.notes import identity, naming
from readwise_sync.notes.identity import (
    Authorship,
    Evidence,
    Library,
    NeedsLibrary,
    NeedsSearch,
    Ours,
    Settled,
    Unknown,
    Verdict,
)
from readwise_sync.notes.locate import NoteEntry, NoteIndex, describe_note
from readwise_sync.notes.merge import Layout
from readwise_sync.readwise.convert import from_record
from readwise_sync.store.durable import text_hash
from readwise_sync.store.state import NoteRecord, State
from readwise_sync.store.texts import NoteTexts
from readwise_sync.store.vault import FileId

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Search:
    """What the run's search of the vault found."""

    index: NoteIndex  # the notes no book holds (claimed from as books take them)
    moved: Mapping[str, str]  # book id -> where its note is now, away from its path
    freed: tuple[str, ...]  # the books whose paths are free now: the state is told so


_Files = dict[tuple[int, int], tuple[str, FileId]]  # (device, inode) -> that note


@dataclass
class _Read:
    """The vault as the search read it: every note's evidence, and the verdicts on the
    tracked notes found at their books' paths."""

    entries: list[NoteEntry]
    verdicts: dict[str, Verdict]
    doubts: dict[str, Evidence]  # the verdicts waiting for the search: their evidence
    files: _Files


class Owners:
    """The evidence of one run, gathered lazily: nothing is read until it is asked for."""

    def __init__(self, notes: NoteTexts, state: State, *, dry_run: bool = False) -> None:
        self.notes = notes
        self.state = state
        self.dry_run = dry_run
        self._search: Search | None = None
        self._authorship: Authorship | None = None  # built on first need

    @property
    def moved(self) -> Mapping[str, str]:
        """Document id -> where its note went, as the search found it (empty before it ran)."""
        return self._search.moved if self._search is not None else {}

    def index(self) -> NoteIndex:
        """The vault's notes that no book holds, built once per run and only when needed
        (see :meth:`search`)."""
        return self.search().index

    def search(self) -> Search:
        """The search of the vault, run once per run and only when needed.

        It first settles every tracked note: one still holding its book's text stays
        that book's; one that moved (or whose path now holds another note) is looked for
        among the rest and reserved for its book, before any new book may adopt a note.
        So a moved note is never handed to another book of the same title. The paths of
        the books whose note left them are let go of in the state (unless a dry run).
        """
        if self._search is None:
            self._search = self._look()
            if self._search.freed and not self.dry_run:
                # Their paths are free now: a note found there may belong to another book.
                with self.state.transaction():
                    for book_id in self._search.freed:
                        self.state.release_path(book_id)
        return self._search

    def judge(self, record: NoteRecord, text: str, *, released: bool = False) -> bool | None:
        """Whether the note at a book's recorded path still is that book's note: True,
        False, or None when nothing in it says either (the rules:
        :mod:`readwise_sync.notes.identity`). None, at a path the book still holds, means
        the note is its own unless its note is found elsewhere (:attr:`moved`, once
        :meth:`index` ran); at a path it let go of (``released``) the answer is never None."""
        verdict = self.verdict(record, text, released=released)
        return None if isinstance(verdict, Unknown) else isinstance(verdict, Ours)

    def verdict(self, record: NoteRecord, text: str, *, released: bool = False) -> Settled:
        """:meth:`judge`'s verdict, typed; the vault is searched if the judge asks."""
        evidence, verdict = self._weigh(record, text, released=released)
        if isinstance(verdict, NeedsSearch):
            verdict = identity.judge(replace(evidence, found=self.search().moved))
        return _settled(verdict)

    def _weigh(self, record: NoteRecord, text: str, *, released: bool) -> tuple[Evidence, Verdict]:
        """The judge's verdict short of a search, with the evidence it went by."""
        evidence = Evidence(
            book_id=record.book_id,
            path=record.path,
            text=text,
            digest=text_hash(text),
            written=(record.hash, record.pending_hash),
            released=released,
        )
        verdict = identity.judge(evidence)
        if isinstance(verdict, NeedsLibrary):
            here = self.notes.file_id(record.path) if record.file is not None else None
            evidence = replace(
                evidence,
                library=self._library(record, evidence.digest),
                same_file=here is not None and here.same_file(record.file),
            )
            verdict = identity.judge(evidence)
        return evidence, verdict

    def _library(self, record: NoteRecord, digest: str) -> Library:
        layouts = tuple(self.layouts(record))
        who = self.authorship()
        lost = (book_id for book_id in who.sharing(record.book_id, layouts) if self._lost(book_id))
        return Library(
            hash_owners=frozenset(self.state.find_books_by_hash(digest)),
            layouts=layouts,
            authorship=who,
            lost=frozenset(lost),
        )

    def _look(self) -> Search:
        tracked = self.state.load_paths()
        records = self.state.load_notes(tracked)
        read = self._read_vault(tracked, records)
        index = NoteIndex(read.entries, read=self._read)
        log.info("looked through %d notes in the vault", len(read.entries))
        lost: list[NoteRecord] = []
        for book_id, (path, _) in tracked.items():
            verdict = read.verdicts.get(book_id)
            if isinstance(verdict, Ours | Unknown):
                index.claim(path)  # (a doubt is not claimed: an edition may find it there)
            if isinstance(verdict, Unknown | NeedsSearch) or (
                not isinstance(verdict, Ours) and records[book_id].hash is not None
            ):
                lost.append(records[book_id])
        found = self._find(index, lost, read.files)
        # The books whose note is nowhere else keep their path and the note at it.
        kept: set[str] = set()
        for book_id, verdict in read.verdicts.items():
            doubt = read.doubts.get(book_id)
            if doubt is not None:
                verdict = identity.judge(replace(doubt, found=found))
            path = tracked[book_id][0]
            # (The search may have found its note here, by a link: that is no move.)
            if isinstance(verdict, Unknown) and found.get(book_id, path) == path:
                kept.add(book_id)
                index.claim(path)
        moved = {book_id: path for book_id, path in found.items() if book_id not in kept}
        freed = tuple(record.book_id for record in lost if record.book_id not in kept)
        return Search(index, moved, freed)

    def _read_vault(
        self, tracked: dict[str, tuple[str, bool]], records: dict[str, NoteRecord]
    ) -> _Read:
        """Read every note once: its evidence goes to the index's entries, and each
        tracked note found at its book's path is judged, while its text is here."""
        at: dict[str, list[str]] = {}  # path -> the books recorded there
        for book_id, (path, _) in tracked.items():
            at.setdefault(path, []).append(book_id)
        read = _Read([], {}, {}, {})
        for path in self.notes.iter_notes():
            text = self._read(path)
            if text is None:
                continue
            file = self.notes.file_id(path)
            if file is not None:
                read.files[file.device, file.inode] = (path, file)
            # Only the evidence stays in memory, not the text (see NoteEntry).
            read.entries.append(describe_note(path, text, keep_text=False))
            holders = [b for b in at.get(path, ()) if tracked[b][1]]
            for book_id in at.get(path, ()):
                held = tracked[book_id][1]
                if not held and holders:
                    continue  # let go of, and another book's note is there now
                evidence, verdict = self._weigh(records[book_id], text, released=not held)
                read.verdicts[book_id] = verdict
                if isinstance(verdict, NeedsSearch):
                    read.doubts[book_id] = evidence
        return read

    def _find(self, index: NoteIndex, lost: Iterable[NoteRecord], files: _Files) -> dict[str, str]:
        """Where the notes that left their paths are now (each claimed for its book)."""
        found: dict[str, str] = {}
        # Strongest evidence first, for all of them: a note moved untouched is its book's
        # before any other book may recognise it by a shared piece or title; the very
        # file the tool wrote (a rename keeps it), untouched, before a copy of its text.
        unresolved = []
        for record in lost:
            path = _same_file(index, record, files, Counter())
            path = path or index.find_exact((record.hash, record.pending_hash))
            if path is not None:
                index.claim(path)
                found[record.book_id] = path
            else:
                unresolved.append(record)
        # Counted in one pass over the notes for all of them, not one pass each.
        hits = index.piece_hits(
            {record.book_id: self.pieces(record, blocks_only=True) for record in unresolved}
        )
        for record in unresolved:
            path = _same_file(index, record, files, hits[record.book_id])
            if path is None:
                data = self.state.load_record(record.book_id)
                known = from_record(data) if data is not None else Document(record.book_id)
                path = index.find(known, piece_hits=hits[record.book_id])
            if path is not None:
                index.claim(path)
                found[record.book_id] = path
        return found

    def _read(self, path: str) -> str | None:
        try:
            return self.notes.read_text(path)
        except Exception as exc:  # unreadable or outside: not a candidate
            log.debug("not indexing %s: %s", path, exc)
            return None

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

    def written_for_another(self, text: str, book_id: str) -> bool:
        """Whether the tool wrote this note for another book (see
        :meth:`~readwise_sync.notes.identity.Authorship.written_for_another`)."""
        return self.authorship().written_for_another(text, book_id)

    def owners_of(self, text: str) -> set[str]:
        """The books whose blocks (as the tool last wrote them) stand in this text."""
        return self.authorship().owners_of(text)

    def authorship(self) -> Authorship:
        """Who wrote which block, title and metadata section. Built once per run, and
        only when a note's owner is in doubt: a hash per block."""
        if self._authorship is None:
            layouts = self.state.iter_layouts()
            self._authorship = Authorship.of((b, Layout.from_json(s)) for b, s in layouts)
        return self._authorship

    def _lost(self, book_id: str) -> bool:
        """Whether a book's note went from the path it holds since the last sync. (A book
        that let go of its path lost its note before, when this one was still known.)"""
        record = self.state.load_notes([book_id]).get(book_id)
        if record is None or record.hash is None:
            return False  # never written: nothing of it can be anywhere
        if self.state.path_holder(naming.name_key(record.path)) != book_id:
            return False
        try:
            return not self.notes.exists(record.path)
        except Exception:  # a path the vault refuses: its note is not there either
            return True

    def claim(self, path: str) -> None:
        """A book took this note in this run: no other book may find it."""
        if self._search is not None:
            self._search.index.claim(path)


def _same_file(
    index: NoteIndex, record: NoteRecord, files: _Files, hits: Counter[str]
) -> str | None:
    """The note that is the very file the tool last wrote for this record, if no book has
    taken it: untouched since, or holding some of the record's blocks (an inode freed by
    a deleted note may be another file's now; that one holds nothing of this book's)."""
    found = None if record.file is None else files.get((record.file.device, record.file.inode))
    if found is None or found[0] not in index.entries:
        return None
    path, file = found
    return path if file.untouched(record.file) or hits[path] else None


def _settled(verdict: Verdict) -> Settled:
    if isinstance(verdict, NeedsLibrary | NeedsSearch):  # the evidence it asks for was given
        raise AssertionError(f"the judge asked again: {verdict}")
    return verdict
