"""The runs: a sync from a source, a rerender from the stored books, one note resolved.

Each is handed what it works on (:class:`Workspace`: the vault, its open state, the
lock held, the renderer, the options) and, for a sync, a
:class:`~readwise_sync.readwise.source.Source`; it builds none of them and knows no
settings (:mod:`readwise_sync.app.wiring` does). They raise the errors of
:mod:`readwise_sync.errors` and return a :class:`~readwise_sync.engine.report.SyncReport`.

A sync's incremental protocol (the export's ``updatedAfter`` returns only the changed
*highlights* of each book, not whole books, and the source makes the changed books
whole; see :mod:`readwise_sync.readwise.source`):

1. with no cursor (first run, or ``full``): every document;
2. otherwise the documents changed since the cursor, with those the last run failed;
3. each page is decided (rendered, merged) while the next one downloads, and each new
   text is staged in a hidden temporary file, but no note is put in place before the
   last page is in, so a fetch that fails leaves the vault as it was; the decisions
   wait in a spool file (:mod:`readwise_sync.store.spool`);
4. the cursor saved is the source's, and only after every changed book was handled,
   so a failed run is simply redone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from readwise_sync.engine.decisions import Write
from readwise_sync.engine.options import RunOptions
from readwise_sync.engine.progress import SILENT, PageIn, Progress
from readwise_sync.engine.report import SyncReport
from readwise_sync.engine.sync import Run
from readwise_sync.errors import Interrupted, ReadwiseSyncError
from readwise_sync.readwise.convert import from_record
from readwise_sync.readwise.source import Source
from readwise_sync.store.lock import VaultLock
from readwise_sync.store.spool import Spool, read_ahead
from readwise_sync.store.state import State
from readwise_sync.store.vault import Vault

if TYPE_CHECKING:
    from readwise_sync.engine.resolving import Settling
    from readwise_sync.notes.render import Renderer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workspace:
    """What a run works on, built by the wiring: the state open, the lock held."""

    vault: Vault
    state: State
    renderer: Callable[[], Renderer]
    options: RunOptions
    spool_dir: Path  # where the decisions wait between planning and applying
    lock: VaultLock | None = None

    def run(
        self,
        report: SyncReport,
        options: RunOptions | None = None,
        progress: Progress = SILENT,
        stop: threading.Event | None = None,
    ) -> Run:
        options = self.options if options is None else options
        return Run(
            self.vault, self.state, self.renderer, options, report, progress, stop, self.lock
        )


def run_sync(
    space: Workspace,
    source: Source,
    *,
    full: bool = False,
    dry_run: bool = False,
    recreate_deleted: bool | None = None,
    progress: Progress = SILENT,
    stop: threading.Event | None = None,
) -> SyncReport:
    """One sync of the workspace's vault from ``source``, and what it did.

    Setting ``stop`` makes the run finish the notes it is writing, record what it did and
    raise :class:`Interrupted`. ``progress`` hears of each page as it comes in, each
    document as it is decided and each note as it is put in place.
    """
    state, vault = space.state, space.vault
    report = SyncReport(full=full, dry_run=dry_run, started_at=datetime.now(UTC))
    try:
        if state.was_writing() and not dry_run:
            # A run died while writing: its hidden temporary files may be left in any folder.
            swept = vault.sweep_temp_files()
            log.info("a previous run was interrupted; removed %d temporary file(s)", swept)
            with state.transaction():
                state.mark_writing(False)
        cursor = None if full else state.load_cursor()
        options = replace(space.options, adopt=cursor is None)
        if recreate_deleted is not None:
            options = replace(options, recreate_deleted=recreate_deleted)
        run = space.run(report, options, progress, stop)
        retry = state.load_retry() if cursor is not None else []
        _fetch_and_write(run, space, source, cursor, retry)
        _finish(report, vault, source)
        # A run that found nothing changed in Readwise (the usual cron run) writes nothing,
        # not even its time: the cursor it would save is no better than the one there, since
        # the next run asks again from that one. Only a run that follows a failed or
        # stopped one records its success, so `status` never shows a failure that is over.
        quiet = (
            report.books_seen == 0
            and cursor is not None
            and not retry  # a retried book gone from Readwise: the list is cleared
            and not source.behind(cursor)
            and _last_result(state) == "ok"
        )
        if not dry_run and not quiet:
            _save_success(state, source, run, report)
        return report
    except ReadwiseSyncError as exc:
        if not dry_run:  # what was written is recorded; the cursor stays where it was
            report.finished_at = datetime.now(UTC)
            reason = "stopped" if isinstance(exc, Interrupted) else f"failed: {exc}"
            with state.transaction():
                state.save_last_run({**report.as_dict(), "result": reason})
        raise


def _fetch_and_write(
    run: Run, space: Workspace, source: Source, cursor: datetime | None, retry: Sequence[str]
) -> None:
    """Plan every page as it arrives, then apply the decisions, page by page."""
    began = time.perf_counter()
    settled = _settling(space)
    if settled is not None:
        run.planner.remerge.update(settled.remerge)
    try:
        with Spool[Write](space.spool_dir) as spool:
            # Decide every note while the pages arrive (the next page is fetched
            # meanwhile) and stage its text, but put none in place before the last page
            # is in: a fetch that fails half-way then leaves every note as it was. The
            # decisions wait on disk, not in memory.
            for batch in read_ahead(source.changes(cursor, retry), stop=run.stop):
                run.check_stop()
                sent = sum(len(book.highlights) for book in batch.documents)
                run.progress.page(PageIn(len(batch.documents), sent, batch.count))
                spool.add(run.plan_page(batch.documents))
            for skipped in source.unread:
                run.ledger.failed(_text_id(skipped.book_id), skipped.what, f"{skipped}; left out")
            if run.split:
                _plan_split_books(run, spool, source)
            decided = time.perf_counter()
            log.debug(
                "fetched and decided %d documents (%d pages) in %.2f s",
                run.report.books_seen,
                len(spool),
                decided - began,
            )
            run.make_staged_durable()
            for writes in spool.batches():
                run.write_page(writes)
            if settled is not None:
                _settle_conflicts(run, settled)
            log.debug("wrote the notes in %.2f s", time.perf_counter() - decided)
    finally:
        run.abandon()


def _plan_split_books(run: Run, spool: Spool[Write], source: Source) -> None:
    """Books the export sent in pieces over pages: fetched whole once more and decided
    from all their highlights (the decisions from their first pieces are dropped)."""
    earlier = {
        write.book_id: write
        for batch in spool.batches()
        for write in batch
        if write.book_id in run.split
    }
    log.info("%d document(s) came in pieces; deciding them whole", len(run.split))
    books = source.documents(sorted(run.split))
    spool.add(run.plan_whole(books, earlier))


def _finish(report: SyncReport, vault: Vault, source: Source) -> None:
    report.finished_at = datetime.now(UTC)
    report.requests = source.requests
    report.cloud_copies = list(dict.fromkeys(vault.copies))
    for path in vault.recovered:  # a save a killed run had swapped out: kept, named
        log.warning("%s holds a save an interrupted sync had set aside; kept", path)
        report.copies.append(path)


def _save_success(state: State, source: Source, run: Run, report: SyncReport) -> None:
    with state.transaction():
        saved = source.cursor(state.load_cursor())
        if saved is not None and not run.ledger.hold_cursor:  # the source's time, never ours
            state.save_cursor(saved)
        state.save_retry(sorted(run.retry))
        state.save_last_run({**report.as_dict(), "result": "ok"})


def _last_result(state: State) -> str | None:
    last = state.load_last_run()
    return None if last is None else last.get("result", "ok")


def _settling(space: Workspace) -> Settling | None:
    """What the run does with the conflicts the notes settled (see
    :mod:`~readwise_sync.engine.resolving`); None when the state holds no conflict, as it
    usually does: the conflict and merge machinery is then not even loaded."""
    if not space.state.load_conflicts():
        return None
    from readwise_sync.engine import resolving

    return resolving.settling(space.state, space.vault)


def _settle_conflicts(run: Run, settled: Settling) -> None:
    """The notes that settled a conflict since it was recorded (the user took Readwise's
    text, or deleted the piece) are merged again, which clears it: those the pages
    brought, as they came (see ``remerge``); the rest here, from the stored data. The
    conflicts of a note the user deleted go with it."""
    books = [b for b in settled.remerge if b not in run.seen]
    stored = (run.state.load_record(book_id) for book_id in books)
    run.sync_page(from_record(data) for data in stored if data is not None)
    if settled.gone and not run.report.dry_run:
        from readwise_sync.engine import resolving

        resolving.forget(run.state, settled.gone)


def _text_id(number: int | None) -> str | None:
    return None if number is None else str(number)


def resolve(
    space: Workspace, note: str, *, take: bool, block: str | None = None
) -> tuple[SyncReport, list[str]]:
    """Settle the conflicts of ``note`` (one ``block``, or all): take Readwise's version
    (``take``) or keep the user's. Returns what the write did and the blocks settled."""
    from readwise_sync.engine import resolving

    report = SyncReport(started_at=datetime.now(UTC))
    choice = resolving.choose(space.state, space.vault, note, take=take, block=block)
    # The user asked for this note now: a save a moment ago is the one to merge into.
    run = space.run(report, replace(space.options, quiet_period=0.0))
    run.planner.remerge.add(choice.book_id)
    if choice.layout is not None:
        run.planner.chosen[choice.book_id] = choice.layout
    data = None if choice.gone else space.state.load_record(choice.book_id)
    try:
        run.sync_page([from_record(data)] if data is not None else [])
    finally:
        run.abandon()
    report.finished_at = datetime.now(UTC)
    return report, choice.blocks


def rerender(space: Workspace, *, dry_run: bool = False) -> SyncReport:
    """Apply the current templates to every tracked note, from the stored data (no network)."""
    report = SyncReport(full=True, dry_run=dry_run, started_at=datetime.now(UTC))
    run = space.run(report)
    settled = _settling(space)
    if settled is not None:
        run.planner.remerge.update(settled.remerge)
    try:
        for batch in space.state.iter_records():
            run.sync_page(from_record(data) for data in batch)
        if settled is not None:  # all stored books went above: forgets the deleted
            _settle_conflicts(run, settled)
    finally:
        run.abandon()
    report.finished_at = datetime.now(UTC)
    return report
