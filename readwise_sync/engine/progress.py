"""What a sync tells as it goes: the calls the engine makes, and a tally of them.

The engine (:mod:`readwise_sync.engine.sync`) knows only :class:`Progress`, three calls
with plain values: a page of the export came in, a document was decided, a note
was put in place. It knows nothing of terminals. :class:`Tally` counts them and
words a line (the app's live line on a terminal is one); ``log_pages`` adds one
log line per page (``-v``).

The export's ``count`` counts highlights, not documents, and whether it counts
the whole export or only its own page is not documented. So the estimate is in
highlights: those received of ``count``, taken as the total only when it is more
than the page's own highlights (a page counting only itself says nothing of the
rest); otherwise no total is shown.

:data:`IN_REPORT` marks a log line whose news the closing report prints as well
(a conflict, a note left alone): the command line keeps such lines off the
terminal (:mod:`readwise_sync.app.live`), so each is said once there, while a log
file and the daemon keep them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from readwise_sync.engine.decisions import Outcome, Skip

log = logging.getLogger(__name__)

# ``extra=IN_REPORT`` on a log call: what it says is printed in the closing report too.
IN_REPORT = {"in_report": True}

# The outcome of a decision to put a new text in the note (any other outcome: why not).
TO_WRITE = Outcome.TO_WRITE
WRITTEN = (Outcome.CREATED, Outcome.UPDATED)


@dataclass(frozen=True)
class PageIn:
    """One page of the export as it came in."""

    documents: int
    highlights: int  # highlights sent on the page, deleted ones too (what ``count`` counts)
    count: int | None = None  # the export's own ``count``


class Progress(Protocol):
    """What the engine reports while it runs; each call returns at once."""

    def page(self, page: PageIn) -> None:
        """A page of the export came in (before its documents are decided)."""

    def decided(self, book_id: str, outcome: Outcome | Skip) -> None:
        """A document was decided: :data:`TO_WRITE`, ``UNCHANGED``, or why it is left
        alone (a :class:`Skip`). A document decided again (it changed meanwhile) is
        reported again."""

    def written(self, book_id: str, outcome: Outcome) -> None:
        """A decided note was put in place: ``created``, ``updated`` or ``unchanged``
        (its file already held the text)."""


class Silent:
    """A :class:`Progress` that shows nothing."""

    def page(self, page: PageIn) -> None:
        pass

    def decided(self, book_id: str, outcome: Outcome | Skip) -> None:
        pass

    def written(self, book_id: str, outcome: Outcome) -> None:
        pass


SILENT = Silent()


@dataclass
class Tally:
    """A :class:`Progress` that counts, words the line, and (``log_pages``) logs each page."""

    log_pages: bool = False
    pages: int = 0
    documents: int = 0
    highlights: int = 0
    total: int | None = None  # highlights in the whole export, when the export says
    to_write: int = 0
    _decisions: dict[str, Outcome | Skip] = field(default_factory=dict, repr=False)
    _written: set[str] = field(default_factory=set, repr=False)

    @property
    def decided_count(self) -> int:
        return len(self._decisions)

    @property
    def written_count(self) -> int:
        return len(self._written)

    def page(self, page: PageIn) -> None:
        self.pages += 1
        self.documents += page.documents
        self.highlights += page.highlights
        if page.count is not None and page.count > page.highlights:
            self.total = max(self.total or 0, page.count)
        if self.log_pages:
            log.info("page %d: %s, %s", self.pages, _documents(page.documents), self._highlights())
        self.changed()

    def decided(self, book_id: str, outcome: Outcome | Skip) -> None:
        before = self._decisions.get(book_id)
        self._decisions[book_id] = outcome
        self.to_write += (outcome == TO_WRITE) - (before == TO_WRITE)
        self.changed()

    def written(self, book_id: str, outcome: Outcome) -> None:
        if outcome in WRITTEN:
            self._written.add(book_id)
        self.changed()

    def changed(self) -> None:
        """Called after every event: a display redraws here."""

    def estimate(self) -> tuple[int, int] | None:
        """(highlights received, highlights in all), when the export gave a total."""
        if self.total is None or self.highlights > self.total:
            return None
        return self.highlights, self.total

    def _highlights(self) -> str:
        known = self.estimate()
        if known is None:
            return f"{self.highlights:,} highlights so far"
        got, total = known
        return f"{got:,} of {total:,} highlights ({100 * got // max(total, 1)}%)"

    def line(self) -> str:
        """E.g. ``300 documents, 300 decided, 12 of 120 notes written, 2,300 of 9,800
        highlights (23%)``."""
        text = (
            f"{_documents(self.documents)}, {self.decided_count:,} decided,"
            f" {self.written_count:,} of {self.to_write:,} notes written"
        )
        return text if self.estimate() is None else f"{text}, {self._highlights()}"


def _documents(count: int) -> str:
    return f"{count:,} document{'s' if count != 1 else ''}"
