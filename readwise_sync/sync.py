"""One sync: fetch what changed in Readwise and bring the vault's notes in step.

:func:`sync_once` is the one unit of work the CLI and the daemon call. It
knows nothing of terminals or exit codes; it raises the errors of
:mod:`readwise_sync.errors` and returns a :class:`SyncReport`.

The incremental protocol (the export's ``updatedAfter`` returns only the
changed *highlights* of each book, not whole books):

1. with no cursor (first run, or ``full``): page through the whole export;
2. otherwise ask ``updatedAfter = cursor - OVERLAP`` and collect the ids of
   the changed books, then refetch those books whole (``ids`` in chunks,
   ``includeDeleted=true``) so each note is rendered from its whole book;
3. the cursor saved is the time taken just *before* the run began, and only
   after every changed book was handled, so a failed run is simply redone.

Each page is written in three steps: record the intended hashes
(``pending``), write the notes atomically, confirm them. A note whose file is
no longer exactly what the tool last wrote belongs to the user: it is left
untouched and reported (merging into edited notes is a later feature).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from . import naming
from .client import ReadwiseClient
from .config import Settings
from .errors import ReadOnlyNote
from .models import Book
from .paths import state_db_path
from .render import Renderer
from .state import NoteRecord, State
from .vault import Vault

log = logging.getLogger(__name__)

# Re-ask a little before the cursor: the cursor is our clock, the filter is Readwise's.
OVERLAP = timedelta(minutes=10)
IDS_PER_REQUEST = 100  # keeps the refetch URL well under common 8 KB limits


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
    highlights: int = 0  # highlights in the notes created or updated
    books_seen: int = 0
    requests: int = 0
    skipped_edited: list[str] = field(default_factory=list)  # the user's edits win
    skipped_missing: list[str] = field(default_factory=list)  # deleted or moved by the user
    skipped_foreign: list[str] = field(default_factory=list)  # a file we did not write is there
    skipped_readonly: list[str] = field(default_factory=list)
    deleted_upstream: list[str] = field(default_factory=list)  # kept in the vault

    def summary(self) -> str:
        """The closing line, e.g. ``3 notes created, 1 updated, 57 highlights``."""
        verb = "would be " if self.dry_run else ""
        created = len(self.created)
        parts = [
            f"{created} note{'s' if created != 1 else ''} {verb}created",
            f"{len(self.updated)} {verb}updated",
            f"{self.highlights} highlight{'s' if self.highlights != 1 else ''}",
        ]
        skipped = (
            len(self.skipped_edited)
            + len(self.skipped_missing)
            + len(self.skipped_foreign)
            + len(self.skipped_readonly)
        )
        if skipped:
            parts.append(f"{skipped} left untouched")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        for key in ("started_at", "finished_at"):
            value = data[key]
            data[key] = value.isoformat() if value else None
        return data


@dataclass
class _Write:
    book: Book
    path: str
    text: str
    digest: str
    created: bool
    on_disk: bool = False  # the file already holds this text (a run died before confirming)


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Run:
    """The state of one sync run; :meth:`sync_page` handles one export page."""

    def __init__(
        self,
        vault: Vault,
        state: State,
        renderer: Renderer,
        folder: str,
        report: SyncReport,
        on_book: Callable[[Book, str], None] | None,
    ) -> None:
        self.vault = vault
        self.state = state
        self.renderer = renderer
        self.folder = folder
        self.report = report
        self.on_book = on_book
        self.claimed: set[str] = set()  # path keys chosen in this run (not yet in the state)

    def _is_taken(self, key: str) -> bool:
        return key in self.claimed or self.state.is_path_taken(key)

    def _plan(self, book: Book, record: NoteRecord | None) -> _Write | str:
        """Decide what to do with one book: a write, or the name of what happened."""
        if book.is_deleted:
            if record is not None:
                self.report.deleted_upstream.append(record.path)
            return "deleted upstream"
        rendered = self.renderer.render_note(book)
        digest = text_hash(rendered.text)
        if record is None:
            if not book.live_highlights():
                return "empty"  # nothing to show yet; the note comes with the first highlight
            path = naming.note_relpath(
                self.folder,
                book.category,
                book.display_title,
                book_id=book.user_book_id,
                is_taken=self._is_taken,
            )
            self.claimed.add(naming.name_key(path))
            if self.vault.exists(path):
                self.report.skipped_foreign.append(path)
                log.warning("%s exists and was not written by readwise-sync; left untouched", path)
                return "foreign"
            return _Write(book, path, rendered.text, digest, created=True)
        if record.hash == digest and record.pending_hash is None:
            return "unchanged"  # the note already holds this text: no need to even read it
        current = self.vault.read_text(record.path)
        if current is None:
            if record.hash is None:  # claimed but never confirmed: a run died before writing
                return _Write(book, record.path, rendered.text, digest, created=True)
            self.report.skipped_missing.append(record.path)
            log.warning("%s is gone (deleted or moved); not recreated", record.path)
            return "missing"
        current_digest = text_hash(current)
        if current_digest == digest:
            return _Write(book, record.path, rendered.text, digest, created=False, on_disk=True)
        if record.is_ours(current_digest):
            return _Write(book, record.path, rendered.text, digest, created=False)
        self.report.skipped_edited.append(record.path)
        log.warning("%s was edited since the last sync; left untouched", record.path)
        return "edited"

    def sync_page(self, books: Iterable[Book]) -> None:
        books = list(books)
        self.report.books_seen += len(books)
        records = self.state.load_notes(book.user_book_id for book in books)
        writes: list[_Write] = []
        for book in books:
            outcome = self._plan(book, records.get(book.user_book_id))
            if isinstance(outcome, _Write):
                writes.append(outcome)
            elif outcome == "unchanged":
                self.report.unchanged += 1
            if self.on_book and not isinstance(outcome, _Write):
                self.on_book(book, outcome)
        if self.report.dry_run:
            for write in writes:
                self._count(write, changed=not write.on_disk)
            return
        # 1. record intent, so a kill during step 2 never makes our text look like the user's
        with self.state.transaction():
            for write in writes:
                key = naming.name_key(write.path)
                self.state.save_pending(write.book.user_book_id, write.path, key, write.digest)
        # 2. write the notes
        done: list[_Write] = []
        for write in writes:
            if write.on_disk:
                done.append(write)  # confirm only: rewriting would change nothing but the mtime
                self._count(write, changed=False)
                continue
            try:
                self.vault.write_text(write.path, write.text)
            except ReadOnlyNote as exc:
                log.warning("%s", exc)
                self.report.skipped_readonly.append(write.path)
                continue
            done.append(write)
            self._count(write, changed=True)
        self.vault.flush()
        # 3. confirm
        with self.state.transaction():
            for write in done:
                self.state.save_written(write.book.user_book_id, write.digest)
                self.state.save_book_data(
                    write.book.user_book_id, write.book.model_dump(mode="json")
                )

    def _count(self, write: _Write, *, changed: bool) -> None:
        if changed:
            (self.report.created if write.created else self.report.updated).append(write.path)
            self.report.highlights += len(write.book.live_highlights())
            log.info("%s %s", "created" if write.created else "updated", write.path)
        else:
            self.report.unchanged += 1
        if self.on_book:
            self.on_book(
                write.book, ("created" if write.created else "updated") if changed else "unchanged"
            )


def sync_once(
    settings: Settings,
    *,
    full: bool = False,
    dry_run: bool = False,
    client: ReadwiseClient | None = None,
    on_book: Callable[[Book, str], None] | None = None,
) -> SyncReport:
    """Run one sync of ``settings.vault`` and return what it did."""
    vault = Vault(settings.require_vault())
    renderer = Renderer(settings.template_dir, settings.tzinfo())
    own_client = client is None
    if client is None:
        client = ReadwiseClient(
            settings.require_token(),
            settings.api_url,
            timeout=settings.timeout,
            max_retries=settings.retries,
        )
    report = SyncReport(full=full, dry_run=dry_run, started_at=datetime.now(UTC))
    requests_before = client.requests_made
    state = State.open(state_db_path(settings.state_dir, vault.root))
    try:
        run = _Run(vault, state, renderer, settings.folder, report, on_book)
        started = report.started_at
        assert started is not None
        cursor = None if full else state.load_cursor()
        if cursor is None:
            for page in client.iter_export():
                run.sync_page(page.results)
        else:
            changed: dict[int, None] = {}  # ordered set: keep the server's order
            for page in client.iter_export(updated_after=cursor - OVERLAP):
                changed.update((book.user_book_id, None) for book in page.results)
            for chunk in _chunks(list(changed), IDS_PER_REQUEST):
                for page in client.iter_export(ids=chunk, include_deleted=True):
                    run.sync_page(page.results)
        report.finished_at = datetime.now(UTC)
        report.requests = client.requests_made - requests_before
        if not dry_run:
            with state.transaction():
                state.save_cursor(started)
                state.save_last_run(report.as_dict())
        return report
    finally:
        state.close()
        if own_client:
            client.close()
