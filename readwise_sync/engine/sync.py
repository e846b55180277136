"""One sync run: plan each page of documents, then apply the decisions.

:class:`Run` holds the two phases of a run over one vault and its state. Planning
(:mod:`readwise_sync.engine.plan`) turns each document into a typed decision
(:mod:`readwise_sync.engine.decisions`), which the run presents to the report and the
progress line as it is made; applying (:mod:`readwise_sync.engine.apply`) stages the
new texts and runs the pending, rename, confirm protocol. Before a page is applied,
one named step, :meth:`Run.replan_changed`, re-reads each note and decides again
those the user changed after they were decided; a note saved while it was put in
place is handed back by the apply and goes through that step again (a few times
at most).

The run functions (:mod:`readwise_sync.engine.run`) drive it over a source's pages,
a rerender's stored books, or one note to resolve.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from readwise_sync.domain import Document
from readwise_sync.engine.apply import Applier
from readwise_sync.engine.decisions import Change, Decision, Leave, Skip, Write
from readwise_sync.engine.options import RunOptions
from readwise_sync.engine.progress import SILENT, Progress
from readwise_sync.engine.report import Ledger, SyncReport
from readwise_sync.errors import Interrupted, UnreadableNote
from readwise_sync.readwise.convert import from_record
from readwise_sync.store.lock import VaultLock
from readwise_sync.store.packing import unpack_json
from readwise_sync.store.state import NoteRecord, State
from readwise_sync.store.vault import Vault

if TYPE_CHECKING:
    from readwise_sync.engine.plan import Planner
    from readwise_sync.notes.render import Renderer

log = logging.getLogger(__name__)

# How often one note is decided again in a run when the user keeps saving it as it is written.
WRITE_ATTEMPTS = 3


class Run:
    """One sync run over a vault; :meth:`sync_page` plans and applies one batch of books."""

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
        self.state = state
        self.report = report
        self.progress = progress
        self.ledger = Ledger(report)
        self._planning = (vault, renderer, options)
        self._planner: Planner | None = None
        self.applier = Applier(vault, state, self.ledger, progress, stop)
        self.seen: set[str] = set()  # books decided in this run
        self.split: set[str] = set()  # books met again on a later page
        self.superseded: set[str] = set()  # decided again whole: their first decision is void

    @property
    def planner(self) -> Planner:
        """The planner, made on first need: a run with nothing to decide (the usual cron
        run) never loads the planning, merge and ownership modules (what a sync
        imports took 0.43 s instead of 0.46 s, measured five times each)."""
        if self._planner is None:
            from readwise_sync.engine.owners import Owners
            from readwise_sync.engine.plan import Planner

            vault, renderer, options = self._planning
            owners = Owners(vault, self.state, dry_run=self.report.dry_run)
            self._planner = Planner(vault, self.state, renderer, options, owners)
        return self._planner

    @property
    def retry(self) -> set[str]:
        return self.ledger.retry

    def check_stop(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise Interrupted("stopped on request; the next run picks up from here")

    def _decided(self, decision: Decision) -> Write | None:
        """Present a decision as it is made; a write comes back staged."""
        self.ledger.present(decision)
        self.progress.decided(decision.book_id, decision.outcome)
        return self.applier.stage(decision) if isinstance(decision, Write) else None

    # -- planning -----------------------------------------------------------------------------

    def sync_page(self, books: Iterable[Document]) -> None:
        """Decide and write one batch of books."""
        self.write_page(self.plan_page(books))

    def plan_page(self, books: Iterable[Document]) -> list[Write]:
        """Decide what to do with each book; what needs no write is reported at once.
        A book met on an earlier page too is left for :meth:`plan_whole`."""
        self.check_stop()
        books = [book for book in books if self._first_time(book.id)]
        self.report.books_seen += len(books)
        if not books:
            return []
        records = self.state.load_notes(book.id for book in books)
        decisions = (self.planner.plan(book, records.get(book.id)) for book in books)
        return [write for write in map(self._decided, decisions) if write is not None]

    def _first_time(self, book_id: str) -> bool:
        if book_id in self.seen:
            self.split.add(book_id)  # sent in pieces over pages: decided whole at the end
            return False
        self.seen.add(book_id)
        return True

    def plan_whole(self, books: list[Document], earlier: dict[str, Write]) -> list[Write]:
        """Decide again, from the whole book, each book the export sent in pieces over
        pages; ``earlier`` holds what was decided from its first piece, which is dropped."""
        records = self.state.load_notes(book.id for book in books)
        writes: list[Write] = []
        for book in books:
            book_id = book.id
            self.applier.unstage(book_id)
            self.superseded.add(book_id)
            first = earlier.get(book_id)
            decision = self.planner.plan_whole(book, records.get(book_id), first)
            if isinstance(decision, Write):
                decision = replace(decision, whole=True)
                if first is not None and _adopted_again(first, decision, self.report):
                    self.report.adopted.remove(first.path)  # counted once, below
            staged = self._decided(decision)
            if staged is not None:
                writes.append(staged)
        return writes

    # -- applying -----------------------------------------------------------------------------

    def write_page(self, planned: Iterable[Write], attempt: int = 1) -> None:
        """Write one batch of decided notes: re-read and decide again those changed since
        they were decided, then record intent, write, confirm. A note that changed while
        it was being put in place goes round again (``attempt``), a few times at most."""
        self.check_stop()
        if self.lock is not None:
            self.lock.verify()
        planned = [w for w in planned if w.whole or w.book_id not in self.superseded]
        writes = self.replan_changed(planned)
        if not writes:
            return  # nothing to record either
        again = self.applier.apply(writes).again
        if again and attempt < WRITE_ATTEMPTS:
            self.write_page(again, attempt + 1)
        elif again:
            for decision in again:
                self.ledger.present(Leave(decision.book_id, Skip.KEPT_CHANGING, decision.path))
        if not self.report.dry_run:
            self.check_stop()

    def replan_changed(self, planned: Sequence[Write]) -> list[Write]:
        """The re-plan step: each note re-read, and decided again if it changed since it
        was decided (the user may write while a long sync fetches), so their latest
        words are what gets merged. Returns the writes to apply."""
        writes: list[Write] = []
        for decision in planned:
            try:
                changed = self.applier.changed_since_decided(decision)
            except UnreadableNote as exc:
                self.applier.unstage(decision.book_id)
                self.ledger.failed(decision.book_id, decision.path, str(exc))
                continue
            # Its staged text was used up by an attempt that found the note changed (saved,
            # then undone, say): it must be decided and staged again.
            if not changed and self.applier.is_staged(decision):
                writes.append(decision)
                continue
            log.info("%s changed while this sync ran; deciding again", decision.path)
            again = self._replan(decision)
            if again is not None:
                writes.append(again)
        return writes

    def _replan(self, decision: Write) -> Write | None:
        self.applier.unstage(decision.book_id)
        self.planner.forget(decision)
        book = from_record(unpack_json(decision.data))
        record: NoteRecord | None = self.state.load_notes([decision.book_id]).get(decision.book_id)
        again = self.planner.plan(book, record)
        if isinstance(again, Write):
            again = replace(again, whole=decision.whole)  # a book decided whole stays so
        return self._decided(again)

    def make_staged_durable(self) -> None:
        """Flush every staged text to disk at once, before the pages are put in place."""
        self.applier.make_durable()

    def abandon(self) -> None:
        """Remove what was staged and not written (a run that failed or stopped)."""
        self.applier.abandon()


def _adopted_again(first: Write, decision: Write, report: SyncReport) -> bool:
    """Whether the whole book adopts the note its first piece adopted (told once)."""
    return (
        first.change is Change.ADOPT
        and decision.change is Change.ADOPT
        and decision.path == first.path
        and first.path in report.adopted
    )
