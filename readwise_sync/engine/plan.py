"""Planning: from a document, its record in the state and its note's text, a decision.

:meth:`Planner.plan` finds the book's note (at its recorded path, moved elsewhere, or a
note to adopt), classifies what to do with it and returns a
:class:`~readwise_sync.engine.decisions.Decision`: a write (create, rewrite, merge,
conflict, adopt) or a reason to leave it. It writes nothing and reports nothing: the
run presents each decision, and applying carries out the writes. Per note: a note
still exactly as last rendered is rendered again whole; a note the user edited is
merged (:mod:`readwise_sync.notes.merge`); whether a note is still its book's, and
where a note went that left its path, is :mod:`readwise_sync.engine.owners`'s to say.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from readwise_sync.domain import Document
from readwise_sync.engine.decisions import Change, Decision, Leave, Skip, Write, write
from readwise_sync.engine.options import RunOptions
from readwise_sync.engine.owners import Owners
from readwise_sync.engine.paths import Paths
from readwise_sync.errors import OutsideVault, UnreadableNote
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
from readwise_sync.store.durable import text_hash
from readwise_sync.store.state import NoteRecord, State
from readwise_sync.store.texts import NoteTexts

if TYPE_CHECKING:
    from readwise_sync.notes.render import RenderedNote, Renderer

log = logging.getLogger(__name__)


def layout_of(rendered: RenderedNote) -> Layout:
    return Layout(
        frontmatter=layout_frontmatter(rendered.frontmatter or ""),
        sections=dict(rendered.sections),
        blocks=dict(rendered.blocks),
    )


@dataclass(frozen=True)
class _Rendering:
    """A book rendered by the current templates: what a write of it starts from."""

    book: Document
    text: str
    render_hash: str
    layout: Layout

    @classmethod
    def of(cls, book: Document, rendered: RenderedNote) -> _Rendering:
        return cls(book, rendered.text, text_hash(rendered.text), layout_of(rendered))

    @property
    def book_id(self) -> str:
        return self.book.id

    def created(self, path: str) -> Write:
        count = len(self.book.live_highlights())
        what = f"{count} highlight{'s' if count != 1 else ''}"
        return write(self.book, path, self.text, self.render_hash, self.layout, Change.CREATE, what)


class Planner:
    """Decides, one document at a time, from its record in the state and the notes' texts
    (:class:`~readwise_sync.store.texts.NoteTexts`: the vault, or notes in memory)."""

    def __init__(
        self,
        notes: NoteTexts,
        state: State,
        renderer: Callable[[], Renderer],
        options: RunOptions,
        owners: Owners,
    ) -> None:
        self.notes = notes
        self.state = state
        self.options = options
        self.owners = owners
        self.paths = Paths(notes, state, options.folder)
        # Merged even when their rendering is unchanged: their note settled a conflict, or
        # the user resolved one (see resolving).
        self.remerge: set[str] = set()
        self.chosen: dict[str, Layout] = {}  # resolve: the layout to merge by, per book
        self._make_renderer = renderer
        self._renderer: Renderer | None = None

    def renderer(self) -> Renderer:
        """The templates, compiled on first need: a sync with nothing to render (the
        usual cron run) never even imports Jinja2."""
        if self._renderer is None:
            self._renderer = self._make_renderer()
        return self._renderer

    def _render(self, book: Document) -> _Rendering:
        return _Rendering.of(book, self.renderer().render_note(book))

    def plan(self, book: Document, record: NoteRecord | None) -> Decision:
        """The decision for one book; a note that cannot be read or reached is left."""
        try:
            return self._plan(book, record)
        except OutsideVault as exc:
            return Leave(book.id, Skip.OUTSIDE_VAULT, exc.path or book.display_title, str(exc))
        except UnreadableNote as exc:
            return Leave(book.id, Skip.FAILED, exc.path or book.display_title, str(exc))

    def _plan(self, book: Document, record: NoteRecord | None) -> Decision:
        if book.is_deleted:
            path = None if record is None else record.path
            return Leave(book.id, Skip.DELETED_UPSTREAM, path)
        new = self._render(book)
        if record is None:
            return self._plan_new(new)
        unchanged = record.pending_hash is None and record.render_hash == new.render_hash
        if unchanged and book.id not in self.remerge:
            return Leave(book.id, Skip.UNCHANGED)  # no need to even read the note
        current = self._read_recorded(book, record)
        if isinstance(current, Leave):
            return current
        if current is not None:
            return self._plan_text(new, record, record.path, current)
        lost = self._plan_lost(new, record)
        if isinstance(lost, Write | Leave):
            return lost
        path, current = lost
        return self._plan_text(new, record, path, current, moved_from=record.path)

    def _read_recorded(self, book: Document, record: NoteRecord) -> Leave | str | None:
        """The note at the book's recorded path, if it still is the book's."""
        path = record.path
        if self.notes.dataless(path):  # reading it would wait for a download
            return Leave(book.id, Skip.OFFLOADED, path)
        current = self.notes.read_text(path)
        if current is None and self.notes.has_placeholder(path):
            return Leave(book.id, Skip.OFFLOADED, path)
        holder = self.state.path_holder(naming.name_key(path))
        if current is not None and self.paths.held_by_another(record, holder):
            # This book let go of the path (its note went missing) and another book's
            # note has it now: whatever they share (a title, the metadata of two editions),
            # that note is not this book's.
            log.info("%s is the note of another book now", path)
            return None
        if current is None:
            return None
        released = holder != book.id
        verdict = self.owners.judge(record, current, released=released)
        if verdict is None:
            # Nothing in it says whose it is, at the path the book holds: its own note
            # (emptied by the user, say) unless the book's note turns up elsewhere.
            self.owners.index()
            verdict = book.id not in self.owners.moved
        if not verdict:
            log.info("%s no longer holds the note of book %s", path, book.id)
            return None
        return current

    def _plan_lost(self, new: _Rendering, record: NoteRecord) -> Decision | tuple[str, str]:
        """A note not at its recorded path: where it went (and its text), or what to do."""
        path = record.path
        if record.hash is None:  # claimed but never written: a run died before the write
            return new.created(path)
        self.owners.index()
        found = self.owners.moved.get(new.book_id)
        if found is not None:
            log.info("%s was moved to %s; following it", path, found)
            current = self.notes.read_text(found)
            assert current is not None
            return found, current
        if self.options.recreate_deleted:
            return new.created(path if not self.notes.exists(path) else self.paths.new(new.book))
        where = "holds another note now" if self.notes.exists(path) else "is gone"
        return Leave(new.book_id, Skip.MISSING, path, where)

    def _plan_text(
        self,
        new: _Rendering,
        record: NoteRecord,
        path: str,
        current: str,
        moved_from: str | None = None,
    ) -> Decision:
        """The book's note, read: rendered again whole, merged, or left for now."""
        digest = text_hash(current)
        if digest not in (record.hash, record.pending_hash) and self._just_saved(path):
            return Leave(new.book_id, Skip.JUST_SAVED, path, moved_from=moved_from)
        last_hash, last_render, pending = record.hash, record.render_hash, False
        if record.pending_hash is not None and digest == record.pending_hash:
            last_hash, last_render, pending = record.pending_hash, record.pending_render_hash, True
        chosen = self.chosen.get(new.book_id)
        stored = (
            chosen.to_json()
            if chosen is not None
            else self.state.load_layout(new.book_id, pending=pending)
        )
        if digest == last_hash and last_hash == last_render:
            # Exactly our last plain rendering: the user hasn't touched it; render it whole.
            return write(
                new.book,
                path,
                new.text,
                new.render_hash,
                new.layout,
                Change.REWRITE,
                describe_changes(Layout.from_json(stored), new.layout),
                base=digest,
                on_disk=digest == new.render_hash,
                moved_from=moved_from,
            )
        last = None if stored is None else Layout.from_json(stored)
        return self._merged(new, path, current, last, moved_from)

    def _merged(
        self, new: _Rendering, path: str, current: str, last: Layout | None, moved_from: str | None
    ) -> Write:
        """Readwise's changes merged into the user's edits of the note."""
        # An editor (or git on Windows) may have turned every line end into \r\n: merge on
        # \n, the way the tool wrote it, and give the note back its own line ends.
        crlf = "\r\n" in current
        plain = current.replace("\r\n", "\n") if crlf else current
        if last is None:  # no record of what was written: adopt it, as a note of another tool's
            last = adopt_layout(plain, new.layout, _said(new.book))
        merged = merge_note(plain, last, new.layout, on_delete=self.options.on_delete)
        if crlf:
            merged.text = merged.text.replace("\n", "\r\n")
        conflicts = [(c.block_id, c.upstream) for c in merged.conflicts]
        return write(
            new.book,
            path,
            merged.text,
            new.render_hash,
            merged.layout,
            Change.CONFLICT if conflicts else Change.MERGE,
            merged.describe(),
            base=text_hash(current),
            on_disk=merged.text == current,
            conflicts=conflicts,
            moved_from=moved_from,
        )

    def _plan_new(self, new: _Rendering) -> Decision:
        book = new.book
        if not book.live_highlights():
            # nothing to show yet; the note comes with the first highlight
            return Leave(book.id, Skip.EMPTY)
        candidate = self.owners.index().find(book, by_title=True) if self.options.adopt else None
        default = self.paths.default(book)
        default_exists = self.notes.exists(default) or self.notes.has_placeholder(default)
        if candidate is None and default_exists:
            # A file sits where this note would go. If it is this book's note (made by
            # another tool, and not another book's note moved there), adopt it;
            # otherwise keep both and say so.
            entry = self.owners.index().entries.get(default)
            if entry is not None and NoteIndex([entry]).find(book, by_title=True):
                candidate = default
        current = None
        if candidate is not None:
            current = self.notes.read_text(candidate)  # the index keeps no texts
            if current is None or self.owners.written_for_another(current, book.id):
                # Gone since, or the tool wrote it for another book: that book's note,
                # moved and edited, never one to adopt (another edition may share its
                # title).
                candidate = None
        if candidate is None or current is None:
            path = self.paths.new(book, default, free=not default_exists)
            if path != default:
                log.warning("%s is another note; this one goes to %s", default, path)
            return new.created(path)
        self.paths.claim(candidate)
        self.owners.claim(candidate)
        return self._adopted(new, candidate, current)

    def plan_whole(
        self, book: Document, record: NoteRecord | None, earlier: Write | None
    ) -> Decision:
        """A book sent in pieces over pages, decided again from all of it; ``earlier``:
        the decision made from its first piece."""
        if earlier is None or record is not None:
            return self.plan(book, record)  # nothing claimed for it that could differ
        # A new book's first piece chose its note (a new one, or one adopted): the same.
        new = self._render(book)
        if earlier.created:
            return new.created(earlier.path)
        current = self.notes.read_text(earlier.path)
        if current is None:
            return self.plan(book, record)
        return self._adopted(new, earlier.path, current)

    def _adopted(self, new: _Rendering, candidate: str, current: str) -> Write:
        """Take an existing note as this book's: add what it is missing, keep the rest."""
        layout = adopt_layout(current, new.layout, _said(new.book))
        merged = merge_note(current, layout, new.layout, on_delete="keep")
        return write(
            new.book,
            candidate,
            merged.text,
            new.render_hash,
            merged.layout,
            Change.ADOPT,
            "adopted: " + merged.describe(),
            base=text_hash(current),
            on_disk=merged.text == current,
            conflicts=[(c.block_id, c.upstream) for c in merged.conflicts],
        )

    def _just_saved(self, path: str) -> bool:
        saved = self.notes.modified_at(path)
        quiet = self.options.quiet_period
        return saved is not None and cloud.too_recent(saved, time.time(), quiet)

    def forget(self, decision: Write) -> None:
        """A decision given up, to be made again: the name it claimed is free again."""
        self.paths.release(decision.path)


def _said(book: Document) -> dict[str, Said]:
    """What Readwise has for each highlight: what adoption checks a bullet against."""
    return {h.id: Said((h.text, h.note or "")) for h in book.live_highlights()}
