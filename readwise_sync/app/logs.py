"""Where log lines go: stderr with times and levels, and the optional rotating log file.

Errors meant for the user are not log lines: the CLI prints them as plain
``readwise-sync: ...`` lines. The log file is created readable only by the user,
since it names their books, and stays so when it is rotated.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from readwise_sync.errors import ConfigError

if TYPE_CHECKING:
    from readwise_sync.app.config import Settings

_STAMPED = "%(asctime)s %(levelname)s %(message)s"


def setup_logging(verbose: int, quiet: bool, *, daemon: bool = False) -> None:
    level = (
        logging.ERROR
        if quiet
        else logging.DEBUG
        if verbose > 1
        else logging.INFO
        if verbose or daemon
        else logging.WARNING
    )
    handler = logging.StreamHandler(sys.stderr)
    # Timestamps and levels always: under cron or journald a line without its time is
    # hard to place. (Errors meant for the user come as plain `readwise-sync: ...` lines.)
    handler.setFormatter(logging.Formatter(_STAMPED, datefmt="%Y-%m-%d %H:%M:%S"))
    handler.setLevel(level)  # its own level: a log file may want more than the terminal
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request at INFO; only -vv wants that much. URLs never hold the token.
    logging.getLogger("httpx").setLevel(logging.INFO if verbose > 1 else logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("filelock").setLevel(logging.WARNING)
    # apscheduler narrates every job run; the daemon logs what matters itself.
    logging.getLogger("apscheduler").setLevel(logging.INFO if verbose > 1 else logging.ERROR)


def add_log_file(settings: Settings) -> None:
    """``log_file`` in the config: also log to a rotating file (1 MB, 3 old ones kept)."""
    if settings.log_file is None:
        return
    from logging.handlers import RotatingFileHandler

    try:
        settings.log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _create_private(settings.log_file)  # it names the user's books, like the state
    except OSError as exc:
        raise ConfigError(f"log_file: cannot write {settings.log_file} ({exc.strerror})") from exc
    handler = RotatingFileHandler(
        settings.log_file, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
    )
    handler.rotator = _rotate_private
    handler.setFormatter(logging.Formatter(_STAMPED, datefmt="%Y-%m-%d %H:%M:%S"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(min(root.level, logging.INFO))


def _create_private(path: str | Path) -> None:
    """Create the file with mode 0600 if it is missing; an existing one keeps its mode."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))


def _rotate_private(source: str, dest: str) -> None:
    if os.path.exists(source):
        os.replace(source, dest)
    _create_private(source)  # before the handler opens it, which would make it 0644


def said_once() -> None:
    """Keep off stderr the log lines whose news the closing report prints (a conflict, a
    note left alone): one line per note. Called before a log file is added, which keeps
    them all."""
    from readwise_sync.app.live import InReportFilter

    for handler in logging.getLogger().handlers:
        handler.addFilter(InReportFilter())
