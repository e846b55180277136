"""One sync: fetch what changed in Readwise and bring the vault's notes in step.

:func:`sync_once` is the one unit of work the CLI and the daemon call, and
:func:`rerender_all` applies a template change from the stored data without
the network. Neither knows of terminals or exit codes: they raise the errors
of :mod:`readwise_sync.errors` and return a :class:`SyncReport`.

The incremental protocol (the export's ``updatedAfter`` returns only the
changed *highlights* of each book, not whole books):

1. with no cursor (first run, or ``full``): page through the whole export;
2. otherwise ask ``updatedAfter = cursor - OVERLAP`` and collect the ids of
   the changed books, then refetch those books whole (``ids`` in chunks,
   ``includeDeleted=true``) so each note is rendered from its whole book;
3. each page is decided (rendered, merged) while the next one downloads, and
   each new text is staged in a hidden temporary file, but no note is put in
   place before the last page is in, so a fetch that fails leaves the vault
   as it was; the decisions wait in a spool file (:mod:`readwise_sync.store.spool`);
4. the cursor saved is the time taken just *before* the run began, and only
   after every changed book was handled, so a failed run is simply redone.

Per note: a note still exactly as last rendered is rendered again whole; a
note the user edited is merged (:mod:`readwise_sync.notes.merge`); whether a note
is still its book's, and where a note went that left its path, is
:mod:`readwise_sync.engine.owners`'s to say. Each page is written in three steps:
record the intended result (``pending``), put the staged notes in place,
confirm them; a run killed in between is recognised and completed by the
next one. A note the user changed after it was decided is decided again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from readwise_sync.app.config import Settings
from readwise_sync.app.locations import state_db_path
from readwise_sync.engine import resolving
from readwise_sync.engine.owners import Owners, text_hash
from readwise_sync.engine.progress import IN_REPORT, SILENT, TO_WRITE, PageIn, Progress
from readwise_sync.errors import (
    Interrupted,
    OutsideVault,
    ReadOnlyNote,
    ReadwiseSyncError,
    UnreadableNote,
)
from readwise_sync.notes import cloud, naming
from readwise_sync.notes.locate import NoteIndex
from readwise_sync.notes.merge import (
    Layout,
    Said,
    adopt_layout,
    describe_changes,
    layout_frontmatter,
    merge_note,
)
from readwise_sync.readwise import incremental
from readwise_sync.readwise.client import ReadwiseClient
from readwise_sync.readwise.incremental import union
from readwise_sync.readwise.wire import Book
from readwise_sync.store.lock import VaultLock, vault_lock
from readwise_sync.store.packing import Packed, pack, unpack
from readwise_sync.store.spool import Spool, read_ahead
from readwise_sync.store.state import NoteRecord, State
from readwise_sync.store.vault import StagedNote, Vault

if TYPE_CHECKING:
    from readwise_sync.notes.render import RenderedNote, Renderer

log = logging.getLogger(__name__)

# How often one note is decided again in a run when the user keeps saving it as it is written.
WRITE_ATTEMPTS = 3


@dataclass
class SyncReport:
    """What one sync did (or, with ``dry_run``, would do). Paths are relative to the vault."""

    full: bool = False
    dry_run: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    # Highlights this run added to the notes, changed or removed in them (a new note's all
    # count as added); stored rows of earlier versions have "highlights" instead.
    highlights_changed: int = 0
    books_seen: int = 0
    requests: int = 0
    changes: list[tuple[str, str]] = field(default_factory=list)  # (path, what changed)
    conflicts: list[str] = field(default_factory=list)  # notes with a conflict this run
    moved: list[tuple[str, str]] = field(default_factory=list)  # (recorded path, found at)
    adopted: list[str] = field(default_factory=list)  # existing notes taken over
    skipped_missing: list[str] = field(default_factory=list)  # deleted by the user
    skipped_readonly: list[str] = field(default_factory=list)  # read-only, or outside the vault
    deleted_upstream: list[str] = field(default_factory=list)  # kept in the vault
    skipped_busy: list[str] = field(default_factory=list)  # being edited: left for the next run
    copies: list[str] = field(default_factory=list)  # a version saved mid-write, kept apart
    failed: list[tuple[str, str]] = field(default_factory=list)  # (what, why): retried next run
    offloaded: list[str] = field(default_factory=list)  # only in the cloud: retried next run
    cloud_copies: list[str] = field(default_factory=list)  # sync clients' copies: what to do

    def summary(self) -> str:
        """The closing line, e.g. ``3 notes created, 1 updated, 57 new or changed highlights``."""
        verb = "would be " if self.dry_run else ""
        created, changed = len(self.created), self.highlights_changed
        parts = [
            f"{created} note{'s' if created != 1 else ''} {verb}created",
            f"{len(self.updated)} {verb}updated",
            f"{changed} new or changed highlight{'s' if changed != 1 else ''}",
        ]
        if self.conflicts:
            parts.append(f"{len(self.conflicts)} with conflicts (see `readwise-sync status`)")
        if self.failed:
            parts.append(f"{len(self.failed)} failed (tried again next run)")
        skipped = sum(
            map(
                len,
                (self.skipped_missing, self.skipped_readonly, self.skipped_busy, self.offloaded),
            )
        )
        if skipped:
            parts.append(f"{skipped} left untouched")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("started_at", "finished_at"):
            value = data[key]
            data[key] = value.isoformat() if value else None
        return data


@dataclass
class _Write:
    """A decision to (re)write one note, or only to record it when ``on_disk``.

    It carries everything the write and the state need, and nothing heavier, because
    a full sync decides every note while the pages arrive and keeps the decisions in
    a spool file until the last page is in. (The new text itself waits in the note's
    temporary file once it is staged; ``text`` is then emptied.)
    """

    book_id: int
    data: Packed  # the book, as the state keeps it
    highlights: int  # live highlights in the book
    path: str
    text: str
    digest: str  # text_hash(text)
    render_hash: str
    layout: Packed  # Layout.to_json(), as the state keeps it
    created: bool
    what: str
    base: str | None = None  # the hash of the note as it was read when deciding
    on_disk: bool = False  # the file already holds ``text``: record, don't write
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    whole: bool = False  # decided from every piece of a book sent in pieces


def _write(
    book: Book,
    path: str,
    text: str,
    render_hash: str,
    layout: Layout,
    created: bool,
    what: str,
    **more: Any,
) -> _Write:
    return _Write(
        book.user_book_id,
        pack(book.model_dump_json().encode()),
        len(book.live_highlights()),
        path,
        text,
        text_hash(text),
        render_hash,
        pack(layout.to_json()),
        created,
        what,
        **more,
    )


@dataclass
class RunOptions:
    folder: str = "Readwise"
    on_delete: str = "remove"
    recreate_deleted: bool = False
    adopt: bool = False  # look for existing notes of new books across the vault (full runs)
    quiet_period: float = 0.0  # a note the user saved this recently is left for the next run


def _count_what(book: Book) -> str:
    count = len(book.live_highlights())
    return f"{count} highlight{'s' if count != 1 else ''}"


def layout_of(rendered: RenderedNote) -> Layout:
    return Layout(
        frontmatter=layout_frontmatter(rendered.frontmatter or ""),
        sections=dict(rendered.sections),
        blocks=dict(rendered.blocks),
    )


class _Run:
    """One sync run over a vault; :meth:`sync_page` handles one batch of books."""

    def __init__(
        self,
        vault: Vault,
        state: State,
        renderer: Callable[[], Renderer],
        options: RunOptions,
        report: SyncReport,
        progress: Progress = SILENT,
        stop: threading.Event | None = None,
        lock: VaultLock | None = None,
    ) -> None:
        self.stop = stop
        self.lock = lock  # verified before each page: a lost lock stops the run
        self.vault = vault
        self.state = state
        self._make_renderer = renderer
        self._renderer: Renderer | None = None
        self.options = options
        self.report = report
        self.progress = progress
        self.claimed: set[str] = set()  # path keys chosen in this run (not yet in the state)
        self.seen: set[int] = set()  # books decided in this run
        self.split: set[int] = set()  # books met again on a later page
        self.superseded: set[int] = set()  # decided again whole: their first decision is void
        self.retry: set[int] = set()  # books that failed: fetched again by the next run
        # Merged even when their rendering is unchanged: their note settled a conflict, or
        # the user resolved one (see resolving).
        self.remerge: set[int] = set()
        self.chosen: dict[int, Layout] = {}  # resolve: the layout to merge by, per book
        self.hold_cursor = False  # a record without an id failed: keep the cursor back
        self.owners = Owners(vault, state, dry_run=report.dry_run)
        # New texts go to their temporary files as soon as they are decided, so they need
        # not wait in the spool (and creating the files overlaps with the next page's
        # download); they are renamed into place only in write_page, after every page.
        self._staging: dict[int, StagedNote | Exception] = {}  # book id -> its staged text
        self._staged_any = False

    def renderer(self) -> Renderer:
        """The templates, compiled on first need: a sync with nothing to render (the
        usual cron run) never even imports Jinja2."""
        if self._renderer is None:
            self._renderer = self._make_renderer()
        return self._renderer

    def _held_by_another(self, record: NoteRecord, holder: int | None) -> bool:
        """``holder``: the book the state gives the record's path to now."""
        if holder is not None:
            return holder != record.book_id
        # a new note of another book is going there in this run
        return naming.name_key(record.path) in self.claimed

    def _is_taken(self, key: str) -> bool:
        return key in self.claimed or self.state.is_path_taken(key)

    def _default_path(self, book: Book, occupied: set[str] | None = None) -> str:
        return naming.note_relpath(
            self.options.folder,
            book.category,
            book.display_title,
            book_id=book.user_book_id,
            is_taken=lambda key: self._is_taken(key) or key in (occupied or ()),
        )

    def _new_path(self, book: Book, default: str | None = None, *, free: bool = False) -> str:
        """A free name for a new note: not claimed by a book, and no file there either.
        (``free``: the caller just saw that no file is at ``default``.)"""
        occupied: set[str] = set()
        path = default or self._default_path(book)
        while not free and (self.vault.exists(path) or self.vault.has_placeholder(path)):
            occupied.add(naming.name_key(path))
            path = self._default_path(book, occupied)
        self.claimed.add(naming.name_key(path))
        return path

    # -- deciding -----------------------------------------------------------------------------

    def _plan(self, book: Book, record: NoteRecord | None) -> _Write | str:
        """What to do with one book: a write, or the name of what happened instead."""
        if book.is_deleted:
            if record is not None:
                self.report.deleted_upstream.append(record.path)
                log.warning(
                    "%s: deleted in Readwise; the note is kept", record.path, extra=IN_REPORT
                )
            return "deleted upstream"
        rendered = self.renderer().render_note(book)
        render_hash = text_hash(rendered.text)
        new = layout_of(rendered)
        if record is None:
            return self._plan_new(book, rendered, render_hash, new)
        unchanged = record.pending_hash is None and record.render_hash == render_hash
        if unchanged and book.user_book_id not in self.remerge:
            return "unchanged"  # same rendering as last time: no need to even read the note

        path = record.path
        if self.vault.dataless(path):  # reading it would wait for a download
            return self._offloaded(book, path)
        current = self.vault.read_text(path)
        if current is None and self.vault.has_placeholder(path):
            return self._offloaded(book, path)
        holder = self.state.path_holder(naming.name_key(path))
        if current is not None and self._held_by_another(record, holder):
            # This book let go of the path (its note went missing) and another book's
            # note has it now: whatever they share (a title, the metadata of two editions),
            # that note is not this book's.
            log.info("%s is the note of another book now", path)
            current = None
        released = holder != book.user_book_id
        verdict = None if current is None else self.owners.judge(record, current, released=released)
        if verdict is None and current is not None:
            # Nothing in it says whose it is, at the path the book holds: its own note
            # (emptied by the user, say) unless the book's note turns up elsewhere.
            self.owners.index()
            verdict = book.user_book_id not in self.owners.moved
        if current is not None and not verdict:
            log.info("%s no longer holds the note of book %d", path, book.user_book_id)
            current = None
        if current is None:
            if record.hash is None:  # claimed but never written: a run died before the write
                return _write(book, path, rendered.text, render_hash, new, True, _count_what(book))
            self.owners.index()
            found = self.owners.moved.get(book.user_book_id)
            if found is not None:
                self.report.moved.append((path, found))
                log.info("%s was moved to %s; following it", path, found)
                path, current = found, self.vault.read_text(found)
            elif self.options.recreate_deleted:
                path = path if not self.vault.exists(path) else self._new_path(book)
                return _write(book, path, rendered.text, render_hash, new, True, _count_what(book))
            else:
                self.report.skipped_missing.append(path)
                where = "holds another note now" if self.vault.exists(path) else "is gone"
                log.warning(
                    "%s %s and the note of book %d is nowhere else in the vault; not recreated",
                    path,
                    where,
                    book.user_book_id,
                    extra=IN_REPORT,
                )
                return "missing"
        assert current is not None

        digest = text_hash(current)
        if digest not in (record.hash, record.pending_hash) and self._just_saved(path):
            return self._left(book.user_book_id, path, "was saved moments ago (quiet_period)")
        last_hash, last_render, pending = record.hash, record.render_hash, False
        if record.pending_hash is not None and digest == record.pending_hash:
            last_hash, last_render, pending = record.pending_hash, record.pending_render_hash, True
        chosen = self.chosen.get(book.user_book_id)
        stored = (
            chosen.to_json()
            if chosen is not None
            else self.state.load_layout(book.user_book_id, pending=pending)
        )
        if digest == last_hash and last_hash == last_render:
            # Exactly our last plain rendering: the user hasn't touched it; render it whole.
            what = describe_changes(Layout.from_json(stored), new)
            return _write(
                book,
                path,
                rendered.text,
                render_hash,
                new,
                False,
                what,
                base=digest,
                on_disk=digest == render_hash,
            )
        # An editor (or git on Windows) may have turned every line end into \r\n: merge on
        # \n, the way the tool wrote it, and give the note back its own line ends.
        crlf = "\r\n" in current
        plain = current.replace("\r\n", "\n") if crlf else current
        if stored is not None:
            last = Layout.from_json(stored)
        else:  # no record of what was written: adopt it, as a note of another tool's
            last = adopt_layout(plain, new, self._said(book))
        merged = merge_note(plain, last, new, on_delete=self.options.on_delete)
        if crlf:
            merged.text = merged.text.replace("\n", "\r\n")
        conflicts = [(c.block_id, c.upstream) for c in merged.conflicts]
        if conflicts:
            log.warning(
                "%s: %d conflict(s); your text was kept", path, len(conflicts), extra=IN_REPORT
            )
        return _write(
            book,
            path,
            merged.text,
            render_hash,
            merged.layout,
            False,
            merged.describe(),
            base=digest,
            on_disk=merged.text == current,
            conflicts=conflicts,
        )

    def _plan_new(
        self, book: Book, rendered: RenderedNote, render_hash: str, new: Layout
    ) -> _Write | str:
        if not book.live_highlights():
            return "empty"  # nothing to show yet; the note comes with the first highlight
        candidate = self.owners.index().find(book, by_title=True) if self.options.adopt else None
        default = self._default_path(book)
        default_exists = self.vault.exists(default) or self.vault.has_placeholder(default)
        if candidate is None and default_exists:
            # A file sits where this note would go. If it is this book's note (made by
            # another tool, and not another book's note moved there), adopt it;
            # otherwise keep both and say so.
            entry = self.owners.index().entries.get(default)
            if entry is not None and NoteIndex([entry]).find(book, by_title=True):
                candidate = default
        current = None
        if candidate is not None:
            current = self.vault.read_text(candidate)  # the index keeps no texts
            if current is None or self.owners.written_for_another(current, book.user_book_id):
                # Gone since, or the tool wrote it for another book: that book's note,
                # moved and edited, never one to adopt (another edition may share its
                # title).
                candidate = None
        if candidate is None:
            path = self._new_path(book, default, free=not default_exists)
            if path != default:
                log.warning("%s is another note; this one goes to %s", default, path)
            return _write(book, path, rendered.text, render_hash, new, True, _count_what(book))
        self.claimed.add(naming.name_key(candidate))
        self.owners.claim(candidate)
        assert current is not None
        return self._adopted(book, candidate, current, rendered, render_hash, new)

    def _adopted(
        self,
        book: Book,
        candidate: str,
        current: str,
        rendered: RenderedNote,
        render_hash: str,
        new: Layout,
    ) -> _Write:
        """Take an existing note as this book's: add what it is missing, keep the rest."""
        layout = adopt_layout(current, new, self._said(book))
        merged = merge_note(current, layout, new, on_delete="keep")
        self.report.adopted.append(candidate)
        log.info("%s: adopted as the note of Readwise book %d", candidate, book.user_book_id)
        return _write(
            book,
            candidate,
            merged.text,
            render_hash,
            merged.layout,
            False,
            "adopted: " + merged.describe(),
            base=text_hash(current),
            on_disk=merged.text == current,
            conflicts=[(c.block_id, c.upstream) for c in merged.conflicts],
        )

    def _offloaded(self, book: Book, path: str) -> str:
        why = "is offloaded to iCloud: download it"
        return self._left(book.user_book_id, path, why, offloaded=True)

    def _just_saved(self, path: str) -> bool:
        saved = self.vault.modified_at(path)
        quiet = self.options.quiet_period
        return saved is not None and cloud.too_recent(saved, time.time(), quiet)

    def _left(self, book_id: int, path: str, why: str, *, offloaded: bool = False) -> str:
        """A note left alone this run, and its book fetched again by the next one."""
        log.info("%s %s; left for the next run", path, why)
        self.retry.add(book_id)
        (self.report.offloaded if offloaded else self.report.skipped_busy).append(path)
        return "left for the next run"

    @staticmethod
    def _said(book: Book) -> dict[int, Said]:
        """What Readwise has for each highlight: what adoption checks a bullet against."""
        return {h.id: Said((h.text, h.note or "")) for h in book.live_highlights()}

    # -- doing --------------------------------------------------------------------------------

    def check_stop(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise Interrupted("stopped on request; the next run picks up from here")

    def sync_page(self, books: Iterable[Book]) -> None:
        """Decide and write one batch of books."""
        self.write_page(self.plan_page(books))

    def plan_page(self, books: Iterable[Book]) -> list[_Write]:
        """Decide what to do with each book; what needs no write is reported at once.
        A book met on an earlier page too is left for :meth:`plan_whole`."""
        self.check_stop()
        books = [book for book in union(books) if self._first_time(book.user_book_id)]
        self.report.books_seen += len(books)
        records = self.state.load_notes(book.user_book_id for book in books)
        writes: list[_Write] = []
        for book in books:
            outcome = self._plan_one(book, records.get(book.user_book_id))
            if isinstance(outcome, _Write):
                self._stage(outcome)
                writes.append(outcome)
            elif outcome == "unchanged":
                self.report.unchanged += 1
            self.progress.decided(book.user_book_id, _outcome(outcome))
        return writes

    def _first_time(self, book_id: int) -> bool:
        if book_id in self.seen:
            self.split.add(book_id)  # sent in pieces over pages: decided whole at the end
            return False
        self.seen.add(book_id)
        return True

    def plan_whole(self, books: list[Book], earlier: dict[int, _Write]) -> list[_Write]:
        """Decide again, from the whole book, each book the export sent in pieces over
        pages; ``earlier`` holds what was decided from its first piece, which is dropped."""
        records = self.state.load_notes(book.user_book_id for book in books)
        writes: list[_Write] = []
        for book in books:
            self._unstage(book.user_book_id)
            self.superseded.add(book.user_book_id)
            outcome = self._plan_whole_one(
                book, records.get(book.user_book_id), earlier.get(book.user_book_id)
            )
            if isinstance(outcome, _Write):
                outcome.whole = True
                self._stage(outcome)
                writes.append(outcome)
            self.progress.decided(book.user_book_id, _outcome(outcome))
        return writes

    def _plan_whole_one(
        self, book: Book, record: NoteRecord | None, earlier: _Write | None
    ) -> _Write | str:
        if earlier is None or record is not None:
            return self._plan_one(book, record)  # nothing claimed for it that could differ
        # A new book's first piece chose its note (a new one, or one adopted): the same.
        rendered = self.renderer().render_note(book)
        render_hash = text_hash(rendered.text)
        new = layout_of(rendered)
        if earlier.created:
            what = _count_what(book)
            return _write(book, earlier.path, rendered.text, render_hash, new, True, what)
        current = self.vault.read_text(earlier.path)
        if current is None:
            return self._plan_one(book, record)
        if earlier.path in self.report.adopted:
            self.report.adopted.remove(earlier.path)  # counted once, below
        return self._adopted(book, earlier.path, current, rendered, render_hash, new)

    def _plan_one(self, book: Book, record: NoteRecord | None) -> _Write | str:
        try:
            return self._plan(book, record)
        except OutsideVault as exc:
            log.warning("%s", exc, extra=IN_REPORT)
            self.report.skipped_readonly.append(exc.path or book.display_title)
            self.retry.add(book.user_book_id)  # a link out of the vault, to mend: fetched again
            return "refused"
        except UnreadableNote as exc:
            self.failed(book.user_book_id, exc.path or book.display_title, str(exc))
            return "failed"

    def failed(self, book_id: int | None, what: str, why: str) -> None:
        """One document could not be synced: reported, retried next run, the rest go on."""
        log.warning("%s", why, extra=IN_REPORT)
        self.report.failed.append((what, why))
        if book_id is None:
            self.hold_cursor = True  # no id to fetch it again by: ask again from here
        else:
            self.retry.add(book_id)

    def _stage(self, write: _Write) -> None:
        """Start writing the note's new text to its temporary file."""
        if self.report.dry_run or write.on_disk:
            return
        if not self._staged_any:
            # Temporary files may now be left by a kill: the next run sweeps the vault.
            with self.state.transaction():
                self.state.mark_writing(True)
            self._staged_any = True
        try:
            self._staging[write.book_id] = self.vault.stage_text(
                write.path,
                write.text,
                guard=True,  # put in place only if the note is still what it was decided from
                expect=None if write.created else write.base,
                digest=write.digest,
            )
        except (ReadOnlyNote, OutsideVault) as exc:
            self._staging[write.book_id] = exc  # reported when the page is written
        write.text = ""  # it is in the temporary file now; the spool needn't carry it

    def make_staged_durable(self) -> None:
        """Flush every staged text to disk at once, before the pages are put in place.
        (A dry run stages nothing.)"""
        staged = [note for note in self._staging.values() if isinstance(note, StagedNote)]
        self.vault.make_durable(staged)

    def _unstage(self, book_id: int) -> None:
        staged = self._staging.pop(book_id, None)
        if isinstance(staged, StagedNote):
            self.vault.discard([staged])

    def abandon(self) -> None:
        """Remove what was staged and not written (a run that failed or stopped)."""
        for book_id in list(self._staging):
            self._unstage(book_id)
        if self._staged_any:
            self._staged_any = False
            self.vault.remove_new_empty_folders()
            with self.state.transaction():
                self.state.mark_writing(False)

    def _recheck(self, write: _Write) -> _Write | None:
        """The decision again if the note changed since it was read (the user may write
        while a long sync fetches): their latest words are what gets merged."""
        if write.created:
            changed = self.vault.exists(write.path)
        else:
            try:
                current = self.vault.read_text(write.path)
            except UnreadableNote as exc:
                self._unstage(write.book_id)
                self.failed(write.book_id, write.path, str(exc))
                return None
            changed = current is None or text_hash(current) != write.base
        # Its staged text was used up by an attempt that found the note changed (saved,
        # then undone, say): it must be decided and staged again.
        staged = self.report.dry_run or write.on_disk or write.book_id in self._staging
        changed = changed or not staged  # (a dry run stages nothing)
        if not changed:
            return write
        log.info("%s changed while this sync ran; deciding again", write.path)
        self._unstage(write.book_id)
        book = Book.model_validate(unpack(write.data))
        self.claimed.discard(naming.name_key(write.path))
        record = self.state.load_notes([write.book_id]).get(write.book_id)
        outcome = self._plan_one(book, record)
        self.progress.decided(write.book_id, _outcome(outcome))
        if isinstance(outcome, _Write):
            outcome.whole = write.whole  # a book decided whole stays so
            self._stage(outcome)
            return outcome
        return None

    def write_page(self, planned: Iterable[_Write], attempt: int = 1) -> None:
        """Write one batch of decided notes: record intent, write, confirm. A note that
        changed while it was being put in place is decided again from the user's latest
        text and written in another round (``attempt``), a few times at most."""
        self.check_stop()
        if self.lock is not None:
            self.lock.verify()
        planned = [w for w in planned if w.whole or w.book_id not in self.superseded]
        writes = [w for w in map(self._recheck, planned) if w is not None]
        if not writes:
            return  # nothing to record either
        if self.report.dry_run:
            for write in writes:
                self._count(write, changed=not write.on_disk)
            return
        # 1. record intent, so a kill during step 2 never makes our text look like the user's
        with self.state.transaction():
            self.state.mark_writing(True)
            for write in writes:
                self.state.save_pending(
                    write.book_id,
                    write.path,
                    naming.name_key(write.path),
                    write.digest,
                    write.render_hash,
                    write.layout,
                )
        # 2. put the notes in place: their texts were staged when they were decided
        done, staged = self._take_staged(writes)
        again = self._put_in_place(writes, done, staged)
        for number in sorted(done):
            self._count(writes[number], changed=not writes[number].on_disk)
        # 3. confirm
        now = datetime.now(UTC).isoformat()
        with self.state.transaction():
            for number, write in enumerate(writes):
                if number not in done:
                    self.state.drop_pending(write.book_id)
                    continue
                self.state.save_written(write.book_id, write.data)
                self.state.save_conflicts(write.book_id, write.path, write.conflicts, now)
            self.state.mark_writing(bool(self._staging))  # later pages' files wait still
        if again and attempt < WRITE_ATTEMPTS:
            self.write_page(again, attempt + 1)
        elif again:
            for write in again:
                self._left(write.book_id, write.path, "kept changing as it was written")
        self.check_stop()

    def _take_staged(self, writes: list[_Write]) -> tuple[set[int], dict[int, StagedNote]]:
        """The notes to put in place (indexes into ``writes``) and their staged texts."""
        done: set[int] = set()
        staged: dict[int, StagedNote] = {}
        try:
            for number, write in enumerate(writes):
                if self.stop is not None and self.stop.is_set():
                    break  # the notes staged so far are finished; record them, then stop
                if not write.on_disk:
                    try:
                        note = self._staging.pop(write.book_id)
                        if isinstance(note, Exception):
                            raise note
                        staged[number] = note
                    except (ReadOnlyNote, OutsideVault) as exc:
                        # One note the tool may not write is that note's problem, not the run's.
                        log.warning("%s", exc, extra=IN_REPORT)
                        self.report.skipped_readonly.append(write.path)
                        if isinstance(exc, OutsideVault):  # a link to mend: fetched again
                            self.retry.add(write.book_id)
                        continue
                done.add(number)
        except BaseException:
            self.vault.discard(list(staged.values()))
            raise
        return done, staged

    def _put_in_place(
        self, writes: list[_Write], done: set[int], staged: dict[int, StagedNote]
    ) -> list[_Write]:
        """Commit the staged notes; returns the writes whose note changed meanwhile (the
        user saved it after it was last read), which are then not done."""
        number_of = {note.temp: number for number, note in staged.items()}
        again: list[_Write] = []
        for note, copy in self.vault.commit(list(staged.values())):
            number = number_of[note.temp]
            done.discard(number)
            again.append(writes[number])
            log.info("%s changed while it was being written; deciding again", note.relpath)
            if copy is not None:
                # Not left to the closing report alone: a run stopped or failing later
                # prints none, and this names words of the user's in a file of its own.
                log.warning(
                    "%s was saved while being written; that version is %s", note.relpath, copy
                )
                self.report.copies.append(copy)
        self.vault.flush()
        return again

    def _count(self, write: _Write, *, changed: bool) -> None:
        """Report a note put in place (or, in a dry run, one that would be); called before
        the state records its new book, so the one it had is still there to compare."""
        if write.conflicts:
            self.report.conflicts.append(write.path)
        outcome = ("created" if write.created else "updated") if changed else "unchanged"
        if changed:
            (self.report.created if write.created else self.report.updated).append(write.path)
            self.report.changes.append((write.path, write.what))
            if write.created:  # a new note: all its highlights are new
                self.report.highlights_changed += write.highlights
            else:
                before = self.state.load_book_data(write.book_id)
                self.report.highlights_changed += highlights_changed(before, unpack(write.data))
            dry = self.report.dry_run
            verb = ("would create" if write.created else "would update") if dry else outcome
            # A dry run's report prints this very line: the terminal needn't show it twice.
            log.info("%s %s: %s", verb, write.path, write.what, extra=IN_REPORT if dry else None)
        else:
            self.report.unchanged += 1
        self.progress.written(write.book_id, outcome)


def _outcome(decision: _Write | str) -> str:
    """A decision as :class:`Progress` hears of it."""
    if isinstance(decision, str):
        return decision
    return "unchanged" if decision.on_disk else TO_WRITE


def highlights_changed(before: dict[str, Any] | None, after: dict[str, Any]) -> int:
    """The highlights added, changed or removed between two versions of a book (as the
    state keeps them): live ones only, a change to ``updated_at`` alone is none."""

    def live(book: dict[str, Any] | None) -> dict[Any, dict[str, Any]]:
        highlights = (book or {}).get("highlights") or []
        return {
            h.get("id"): {k: v for k, v in h.items() if k != "updated_at"}
            for h in highlights
            if not (h.get("is_deleted") or h.get("is_discard"))
        }

    old, new = live(before), live(after)
    changed = sum(1 for key, value in new.items() if old.get(key) != value)
    return changed + len(old.keys() - new.keys())


def _plan_split_books(run: _Run, spool: Spool[_Write], client: ReadwiseClient) -> None:
    """Books the export sent in pieces over pages: fetched whole once more and decided
    from all their highlights (the decisions from their first pieces are dropped)."""
    earlier = {
        write.book_id: write
        for batch in spool.batches()
        for write in batch
        if write.book_id in run.split
    }
    log.info("%d document(s) came in pieces; deciding them whole", len(run.split))
    books = incremental.whole_books(client, sorted(run.split))
    spool.add(run.plan_whole(books, earlier))


def _renderer(settings: Settings) -> Callable[[], Renderer]:
    def make() -> Renderer:
        from readwise_sync.notes.render import Renderer

        return Renderer(settings.template_dir, settings.tzinfo())

    return make


def _options(settings: Settings, **overrides: Any) -> RunOptions:
    options = RunOptions(
        folder=settings.folder,
        on_delete=settings.on_delete,
        recreate_deleted=settings.recreate_deleted,
        quiet_period=settings.quiet_period,
    )
    for key, value in overrides.items():
        setattr(options, key, value)
    return options


def sync_once(
    settings: Settings,
    *,
    full: bool = False,
    dry_run: bool = False,
    recreate_deleted: bool | None = None,
    client: ReadwiseClient | None = None,
    progress: Progress = SILENT,
    stop: threading.Event | None = None,
    lock_wait: float = 0.0,
) -> SyncReport:
    """Run one sync of ``settings.vault`` and return what it did.

    Holds the vault's lock throughout (raising :class:`Locked` when another run
    has it for longer than ``lock_wait`` seconds). Setting ``stop`` makes the run
    finish the notes it is writing, record what it did and raise :class:`Interrupted`.
    ``progress`` hears of each page as it comes in, each document as it is decided and
    each note as it is put in place (:class:`~readwise_sync.engine.progress.Progress`).
    """
    vault = Vault(settings.require_vault())
    path = lock_path(settings, vault)
    with vault_lock(path, wait=lock_wait, anchor=vault.root, stop=stop) as lock:
        args = (full, dry_run, recreate_deleted, client, progress, stop, lock)
        return _sync_locked(settings, vault, *args)


def lock_path(settings: Settings, vault: Vault) -> Path:
    return state_db_path(settings.state_dir, vault.root).with_suffix(".lock")


def _sync_locked(
    settings: Settings,
    vault: Vault,
    full: bool,
    dry_run: bool,
    recreate_deleted: bool | None,
    client: ReadwiseClient | None,
    progress: Progress,
    stop: threading.Event | None,
    lock: VaultLock,
) -> SyncReport:
    own_client = client is None
    if client is None:
        client = ReadwiseClient(
            settings.require_token(),
            settings.api_url,
            timeout=settings.timeout,
            max_retries=settings.retries,
            stop=stop,
            token_source=settings.token_source,
        )
    report = SyncReport(full=full, dry_run=dry_run, started_at=datetime.now(UTC))
    requests_before = client.requests_made
    state = State.open(state_db_path(settings.state_dir, vault.root))
    try:
        if state.was_writing() and not dry_run:
            # A run died while writing: its hidden temporary files may be left in any folder.
            swept = vault.sweep_temp_files()
            log.info("a previous run was interrupted; removed %d temporary file(s)", swept)
            with state.transaction():
                state.mark_writing(False)
        cursor = None if full else state.load_cursor()
        overrides: dict[str, Any] = {"adopt": cursor is None}
        if recreate_deleted is not None:
            overrides["recreate_deleted"] = recreate_deleted
        began = time.perf_counter()
        clock = incremental.Clock()
        run = _Run(
            vault,
            state,
            _renderer(settings),
            _options(settings, **overrides),
            report,
            progress,
            stop,
            lock,
        )
        settled = resolving.settling(state, vault)
        run.remerge.update(settled.remerge)
        try:
            with Spool[_Write](settings.state_dir) as spool:
                # Decide every note while the pages arrive (the next page is fetched
                # meanwhile) and stage its text, but put none in place before the last page
                # is in: a fetch that fails half-way then leaves every note as it was. The
                # decisions wait on disk, not in memory.
                retry = state.load_retry() if cursor is not None else []
                fetch = incremental.pages(client, cursor, clock, retry=retry)
                for page in read_ahead(fetch, stop=stop):
                    run.check_stop()
                    sent = sum(len(book.highlights) for book in page.results)
                    progress.page(PageIn(len(page.results), sent, page.count))
                    spool.add(run.plan_page(page.results))
                for skipped in clock.unread:
                    run.failed(skipped.book_id, skipped.what, f"{skipped}; left out")
                if run.split:
                    _plan_split_books(run, spool, client)
                decided = time.perf_counter()
                log.debug(
                    "fetched and decided %d documents (%d pages) in %.2f s",
                    report.books_seen,
                    len(spool),
                    decided - began,
                )
                run.make_staged_durable()
                for writes in spool.batches():
                    run.write_page(writes)
                _settle_conflicts(run, settled)
                log.debug("wrote the notes in %.2f s", time.perf_counter() - decided)
        finally:
            run.abandon()
        report.finished_at = datetime.now(UTC)
        report.requests = client.requests_made - requests_before
        report.cloud_copies = list(dict.fromkeys(vault.copies))
        for path in vault.recovered:  # a save a killed run had swapped out: kept, named
            log.warning("%s holds a save an interrupted sync had set aside; kept", path)
            report.copies.append(path)
        # A run that found nothing changed in Readwise (the usual cron run) writes nothing,
        # not even its time: the cursor it would save is no better than the one there, since
        # the next run asks again from that one. Only a run that follows a failed or
        # stopped one records its success, so `status` never shows a failure that is over.
        quiet = (
            report.books_seen == 0
            and cursor is not None
            and not retry  # a retried book gone from Readwise: the list is cleared
            and not clock.behind(cursor)
            and _last_result(state) == "ok"
        )
        if not dry_run and not quiet:
            with state.transaction():
                saved = clock.cursor(previous=state.load_cursor())
                if saved is not None and not run.hold_cursor:  # Readwise's time, never ours
                    state.save_cursor(saved)
                state.save_retry(sorted(run.retry))
                state.save_last_run({**report.as_dict(), "result": "ok"})
        return report
    except ReadwiseSyncError as exc:
        if not dry_run:  # what was written is recorded; the cursor stays where it was
            report.finished_at = datetime.now(UTC)
            reason = "stopped" if isinstance(exc, Interrupted) else f"failed: {exc}"
            with state.transaction():
                state.save_last_run({**report.as_dict(), "result": reason})
        raise
    finally:
        state.close()
        if own_client:
            client.close()


def _settle_conflicts(run: _Run, settled: resolving.Settling) -> None:
    """The notes that settled a conflict since it was recorded (the user took Readwise's
    text, or deleted the piece) are merged again, which clears it: those the pages
    brought, as they came (see ``remerge``); the rest here, from the stored data. The
    conflicts of a note the user deleted go with it."""
    books = [b for b in settled.remerge if b not in run.seen]
    stored = (run.state.load_book_data(book_id) for book_id in books)
    run.sync_page(Book.model_validate(data) for data in stored if data is not None)
    if settled.gone and not run.report.dry_run:
        resolving.forget(run.state, settled.gone)


def resolve_conflicts(
    settings: Settings, note: str, *, take: bool, block: str | None = None, lock_wait: float = 0.0
) -> tuple[SyncReport, list[str]]:
    """Settle the conflicts of ``note`` (one ``block``, or all): take Readwise's version
    (``take``) or keep the user's. Returns what the write did and the blocks settled."""
    vault = Vault(settings.require_vault())
    report = SyncReport(started_at=datetime.now(UTC))
    with (
        vault_lock(lock_path(settings, vault), wait=lock_wait, anchor=vault.root) as lock,
        State.open(state_db_path(settings.state_dir, vault.root)) as state,
    ):
        choice = resolving.choose(state, vault, note, take=take, block=block)
        # The user asked for this note now: a save a moment ago is the one to merge into.
        options = _options(settings, quiet_period=0.0)
        run = _Run(vault, state, _renderer(settings), options, report, lock=lock)
        run.remerge.add(choice.book_id)
        if choice.layout is not None:
            run.chosen[choice.book_id] = choice.layout
        data = None if choice.gone else state.load_book_data(choice.book_id)
        try:
            run.sync_page([Book.model_validate(data)] if data is not None else [])
        finally:
            run.abandon()
    report.finished_at = datetime.now(UTC)
    return report, choice.blocks


def _last_result(state: State) -> str | None:
    last = state.load_last_run()
    return None if last is None else last.get("result", "ok")


def rerender_all(
    settings: Settings, *, dry_run: bool = False, lock_wait: float = 0.0
) -> SyncReport:
    """Apply the current templates to every tracked note, from the stored data (no network)."""
    vault = Vault(settings.require_vault())
    renderer = _renderer(settings)
    renderer()  # a broken template is reported before anything else is done
    report = SyncReport(full=True, dry_run=dry_run, started_at=datetime.now(UTC))
    with (
        vault_lock(lock_path(settings, vault), wait=lock_wait, anchor=vault.root) as lock,
        State.open(state_db_path(settings.state_dir, vault.root)) as state,
    ):
        run = _Run(vault, state, renderer, _options(settings), report, lock=lock)
        settled = resolving.settling(state, vault)
        run.remerge.update(settled.remerge)
        try:
            for batch in state.iter_book_json():
                run.sync_page(Book.parse_json(data) for data in batch)
            _settle_conflicts(run, settled)  # all stored books went above: forgets the deleted
        finally:
            run.abandon()
    report.finished_at = datetime.now(UTC)
    return report
