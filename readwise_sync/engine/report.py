"""What a sync did: the report it returns, and the account it keeps as it decides.

:class:`SyncReport` is what :func:`~readwise_sync.engine.run.run_sync` returns and the
state keeps of the last run. :class:`Ledger` presents each decision as it is made: the
report's lists, the log lines of what the closing report prints too, and the documents
the next run fetches again.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from readwise_sync.engine.decisions import LEFT_FOR_NEXT_RUN, Change, Decision, Leave, Skip
from readwise_sync.engine.progress import IN_REPORT

log = logging.getLogger(__name__)


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

    def left_alone(self) -> list[tuple[Skip, list[str]]]:
        """The notes left as they were, by why (the report's order)."""
        return [
            (Skip.MISSING, self.skipped_missing),
            (Skip.READ_ONLY, self.skipped_readonly),
            (Skip.DELETED_UPSTREAM, self.deleted_upstream),
            (Skip.JUST_SAVED, self.skipped_busy),
            (Skip.OFFLOADED, self.offloaded),
        ]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("started_at", "finished_at"):
            value = data[key]
            data[key] = value.isoformat() if value else None
        return data


@dataclass
class Ledger:
    """The account of one run: its report, and the documents to fetch again."""

    report: SyncReport
    retry: set[str] = field(default_factory=set)  # books that failed: fetched by the next run
    hold_cursor: bool = False  # a record without an id failed: keep the cursor back

    def present(self, decision: Decision) -> None:
        """Tell of one decision as it is made (a decision made again is told again)."""
        if decision.moved_from is not None and decision.path is not None:
            self.report.moved.append((decision.moved_from, decision.path))
        if isinstance(decision, Leave):
            self._left(decision)
        elif decision.change is Change.ADOPT:
            self.report.adopted.append(decision.path)
            log.info("%s: adopted as the note of Readwise book %s", decision.path, decision.book_id)
        elif decision.change is Change.CONFLICT:
            count = len(decision.conflicts)
            log.warning(
                "%s: %d conflict(s); your text was kept", decision.path, count, extra=IN_REPORT
            )

    def _left(self, leave: Leave) -> None:
        reason, path = leave.reason, leave.path or ""
        if reason is Skip.UNCHANGED:
            self.report.unchanged += 1
        elif reason is Skip.DELETED_UPSTREAM and leave.path is not None:
            self.report.deleted_upstream.append(path)
            log.warning("%s: deleted in Readwise; the note is kept", path, extra=IN_REPORT)
        elif reason is Skip.MISSING:
            self.report.skipped_missing.append(path)
            log.warning(
                "%s %s and the note of book %s is nowhere else in the vault; not recreated",
                path,
                leave.detail,
                leave.book_id,
                extra=IN_REPORT,
            )
        elif reason in LEFT_FOR_NEXT_RUN:
            log.info("%s %s; left for the next run", path, LEFT_FOR_NEXT_RUN[reason])
            self.retry.add(leave.book_id)
            (
                self.report.offloaded if reason is Skip.OFFLOADED else self.report.skipped_busy
            ).append(path)
        elif reason in (Skip.OUTSIDE_VAULT, Skip.READ_ONLY):
            # One note the tool may not write is that note's problem, not the run's.
            log.warning("%s", leave.detail, extra=IN_REPORT)
            self.report.skipped_readonly.append(path)
            if reason.retried:  # a link out of the vault, to mend: fetched again
                self.retry.add(leave.book_id)
        elif reason is Skip.FAILED:
            self.failed(leave.book_id, path, leave.detail)

    def failed(self, book_id: str | None, what: str, why: str) -> None:
        """One document could not be synced: reported, retried next run, the rest go on."""
        log.warning("%s", why, extra=IN_REPORT)
        self.report.failed.append((what, why))
        if book_id is None:
            self.hold_cursor = True  # no id to fetch it again by: ask again from here
        else:
            self.retry.add(book_id)
