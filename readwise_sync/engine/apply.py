"""Applying: the decided writes put in place, in three steps a killed run can finish.

Each new text is staged in a hidden temporary file as soon as it is decided
(:meth:`Applier.stage`), so it need not wait in the spool, and creating the files
overlaps with the next page's download. A page of writes is then applied in three
steps: record the intended result (``pending``), put the staged notes in place (each
only if the note is still what it was decided from), confirm them; a run killed in
between is recognised and completed by the next one. A note the user saved while it
was put in place is handed back (:attr:`Applied.again`) to be decided again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from readwise_sync.engine.decisions import Leave, Outcome, Skip, Write
from readwise_sync.engine.progress import IN_REPORT, Progress
from readwise_sync.engine.report import Ledger
from readwise_sync.errors import OutsideVault, ReadOnlyNote
from readwise_sync.notes import naming
from readwise_sync.readwise.convert import highlights_changed
from readwise_sync.store.durable import text_hash
from readwise_sync.store.packing import unpack_json
from readwise_sync.store.state import State
from readwise_sync.store.vault import StagedNote, Vault

log = logging.getLogger(__name__)


@dataclass
class Applied:
    """What applying a page did not finish: notes saved meanwhile, to decide again."""

    again: list[Write] = field(default_factory=list)


class Applier:
    """Stages, puts in place and confirms the writes of one run."""

    def __init__(
        self,
        vault: Vault,
        state: State,
        ledger: Ledger,
        progress: Progress,
        stop: threading.Event | None = None,
    ) -> None:
        self.vault = vault
        self.state = state
        self.ledger = ledger
        self.report = ledger.report
        self.progress = progress
        self.stop = stop
        self._staging: dict[str, StagedNote | Exception] = {}  # book id -> its staged text
        self._staged_any = False

    # -- staging ------------------------------------------------------------------------------

    def stage(self, decision: Write) -> Write:
        """Start writing the note's new text to its temporary file; the decision comes
        back without its text, which waits in that file."""
        if self.report.dry_run or decision.on_disk:
            return decision
        if not self._staged_any:
            # Temporary files may now be left by a kill: the next run sweeps the vault.
            with self.state.transaction():
                self.state.mark_writing(True)
            self._staged_any = True
        try:
            self._staging[decision.book_id] = self.vault.stage_text(
                decision.path,
                decision.text,
                guard=True,  # put in place only if the note is still what it was decided from
                expect=None if decision.created else decision.base,
                digest=decision.digest,
            )
        except (ReadOnlyNote, OutsideVault) as exc:
            self._staging[decision.book_id] = exc  # reported when the page is written
        return replace(decision, text="")

    def is_staged(self, decision: Write) -> bool:
        """Whether the decision's text waits to be put in place (a dry run stages nothing)."""
        return self.report.dry_run or decision.on_disk or decision.book_id in self._staging

    def make_durable(self) -> None:
        """Flush every staged text to disk at once, before the pages are put in place."""
        staged = [note for note in self._staging.values() if isinstance(note, StagedNote)]
        self.vault.make_durable(staged)

    def unstage(self, book_id: str) -> None:
        staged = self._staging.pop(book_id, None)
        if isinstance(staged, StagedNote):
            self.vault.discard([staged])

    def abandon(self) -> None:
        """Remove what was staged and not written (a run that failed or stopped)."""
        for book_id in list(self._staging):
            self.unstage(book_id)
        if self._staged_any:
            self._staged_any = False
            self.vault.remove_new_empty_folders()
            with self.state.transaction():
                self.state.mark_writing(False)

    def changed_since_decided(self, decision: Write) -> bool:
        """Whether the note is no longer what the decision was made from (the user may
        write while a long sync fetches). Raises UnreadableNote."""
        if decision.created:
            return self.vault.exists(decision.path)
        current = self.vault.read_text(decision.path)
        return current is None or text_hash(current) != decision.base

    # -- the three steps ----------------------------------------------------------------------

    def apply(self, writes: Sequence[Write]) -> Applied:
        """Record intent, put the notes in place, confirm."""
        if self.report.dry_run:
            for decision in writes:
                self._count(decision, changed=not decision.on_disk)
            return Applied()
        # 1. record intent, so a kill during step 2 never makes our text look like the user's
        with self.state.transaction():
            self.state.mark_writing(True)
            for decision in writes:
                self.state.save_pending(
                    decision.book_id,
                    decision.path,
                    naming.name_key(decision.path),
                    decision.digest,
                    decision.render_hash,
                    decision.layout,
                )
        # 2. put the notes in place: their texts were staged when they were decided
        done, staged = self._take_staged(writes)
        again = self._put_in_place(writes, done, staged)
        for number in sorted(done):
            self._count(writes[number], changed=not writes[number].on_disk)
        # 3. confirm, with which file each note is now (the evidence a rename keeps)
        files = {number: self.vault.file_id(writes[number].path) for number in done}
        now = datetime.now(UTC).isoformat()
        with self.state.transaction():
            for number, decision in enumerate(writes):
                if number not in done:
                    self.state.drop_pending(decision.book_id)
                    continue
                self.state.save_written(decision.book_id, decision.data, files[number])
                self.state.save_conflicts(decision.book_id, decision.path, decision.conflicts, now)
            self.state.mark_writing(bool(self._staging))  # later pages' files wait still
        return Applied(again)

    def _take_staged(self, writes: Sequence[Write]) -> tuple[set[int], dict[int, StagedNote]]:
        """The notes to put in place (indexes into ``writes``) and their staged texts."""
        done: set[int] = set()
        staged: dict[int, StagedNote] = {}
        try:
            for number, decision in enumerate(writes):
                if self.stop is not None and self.stop.is_set():
                    break  # the notes staged so far are finished; record them, then stop
                if not decision.on_disk:
                    note = self._staging.pop(decision.book_id)
                    if isinstance(note, ReadOnlyNote | OutsideVault):
                        self.ledger.present(_refused(decision, note))
                        continue
                    if isinstance(note, Exception):
                        raise note
                    staged[number] = note
                done.add(number)
        except BaseException:
            self.vault.discard(list(staged.values()))
            raise
        return done, staged

    def _put_in_place(
        self, writes: Sequence[Write], done: set[int], staged: dict[int, StagedNote]
    ) -> list[Write]:
        """Commit the staged notes; returns the writes whose note changed meanwhile (the
        user saved it after it was last read), which are then not done."""
        number_of = {note.temp: number for number, note in staged.items()}
        again: list[Write] = []
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

    def _count(self, decision: Write, *, changed: bool) -> None:
        """Report a note put in place (or, in a dry run, one that would be); called before
        the state records its new book, so the one it had is still there to compare."""
        report = self.report
        if decision.conflicts:
            report.conflicts.append(decision.path)
        if not changed:
            report.unchanged += 1
            self.progress.written(decision.book_id, Outcome.UNCHANGED)
            return
        outcome = Outcome.CREATED if decision.created else Outcome.UPDATED
        (report.created if decision.created else report.updated).append(decision.path)
        report.changes.append((decision.path, decision.what))
        before = None if decision.created else self.state.load_record(decision.book_id)
        if before is None:  # a new note, or one adopted: all its highlights are new
            report.highlights_changed += decision.highlights
        else:
            report.highlights_changed += highlights_changed(before, unpack_json(decision.data))
        dry = report.dry_run
        verb = ("would create" if decision.created else "would update") if dry else outcome.value
        # A dry run's report prints this very line: the terminal needn't show it twice.
        log.info("%s %s: %s", verb, decision.path, decision.what, extra=IN_REPORT if dry else None)
        self.progress.written(decision.book_id, outcome)


def _refused(decision: Write, exc: ReadOnlyNote | OutsideVault) -> Leave:
    reason = Skip.OUTSIDE_VAULT if isinstance(exc, OutsideVault) else Skip.READ_ONLY
    return Leave(decision.book_id, reason, decision.path, str(exc))
