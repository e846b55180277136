"""The terminal's side of a sync's progress: the live line, and the log lines it keeps off.

:class:`LiveLine` shows the engine's :class:`~readwise_sync.engine.progress.Tally` as one
line on a terminal (stderr). It is the only user of rich, imported only when a line is
shown: a run under cron never loads it.

:class:`InReportFilter` keeps off a handler the log lines the engine marked
:data:`~readwise_sync.engine.progress.IN_REPORT` (a conflict, a note left alone): the
closing report prints them too, so each is said once on the terminal, while a log file
and the daemon keep them.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from readwise_sync.engine.progress import IN_REPORT, Tally

if TYPE_CHECKING:
    from rich.console import Console


class LiveLine(Tally):
    """The tally as a live line on a terminal (stderr), gone when :meth:`stop` is called."""

    def __init__(self, *, log_pages: bool = False, console: Console | None = None) -> None:
        super().__init__(log_pages=log_pages)
        from rich.console import Console
        from rich.progress import Progress as Bar
        from rich.progress import SpinnerColumn, TextColumn

        self._console = console or Console(stderr=True)
        self._bar = Bar(
            SpinnerColumn(), TextColumn("{task.description}"), transient=True, console=self._console
        )
        self._task = self._bar.add_task("syncing: connecting", total=None)
        self._moved: list[logging.StreamHandler[Any]] = []
        self._real: Any = sys.stderr

    def start(self) -> LiveLine:
        real = sys.stderr
        self._bar.start()
        # Log lines (-v, warnings) then go through rich, above the line, not across it.
        self._moved = [
            handler
            for handler in logging.getLogger().handlers
            if isinstance(handler, logging.StreamHandler) and handler.stream is real
        ]
        for handler in self._moved:
            handler.setStream(sys.stderr)
        self._real = real
        return self

    def changed(self) -> None:
        self._bar.update(self._task, description=f"syncing: {self.line()}")

    def refresh(self) -> None:
        """Draw now (the line redraws itself ten times a second anyway)."""
        self._bar.refresh()

    def stop(self) -> None:
        self._bar.stop()
        for handler in self._moved:
            handler.setStream(self._real)
        self._moved = []


class InReportFilter(logging.Filter):
    """Keeps off a handler the log lines the closing report prints as well."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(getattr(record, key, False) for key in IN_REPORT)
