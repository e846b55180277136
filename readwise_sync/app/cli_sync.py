"""The commands that run a sync: ``sync`` once, the ``daemon`` on a schedule, ``rerender``.

On a terminal a progress line shows while a sync runs; under cron only the summary
and what needs the user's attention (stdout) and errors (stderr); ``-q`` leaves only
errors.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from readwise_sync.app.cli_options import (
    INTERRUPTED,
    PARTLY_DONE,
    Command,
    common,
    fail,
    freeze_imports,
    graceful_stop,
    leave,
    settings_from,
    warn,
)
from readwise_sync.app.logs import add_log_file, said_once, setup_logging
from readwise_sync.app.wording import (
    BOTH_SCHEDULES,
    KEPT_APART,
    STOPPED,
    exposed_token,
    report_lines,
)
from readwise_sync.errors import ConfigError, Interrupted

if TYPE_CHECKING:
    from readwise_sync.engine.progress import Progress
    from readwise_sync.engine.report import SyncReport

log = logging.getLogger("readwise_sync")


def _progress(quiet: bool, verbose: int) -> tuple[Progress, Callable[[], None]]:
    """What a sync shows as it goes: a live line on a terminal (documents in, decided,
    notes written, highlights of the export's total); with -v a log line per page;
    otherwise, as under cron, nothing (the summary says what was done)."""
    from readwise_sync.engine.progress import SILENT, Tally

    if quiet:
        return SILENT, lambda: None
    if sys.stderr.isatty():
        from readwise_sync.app.live import LiveLine

        line = LiveLine(log_pages=verbose > 0).start()
        return line, line.stop
    return (Tally(log_pages=True) if verbose else SILENT), lambda: None


def _given_up(error: BaseException, verbose: int, quiet: bool) -> NoReturn:
    """A sync that did not finish: stopped on request (exit 130), or failed."""
    try:
        if isinstance(error, Interrupted | KeyboardInterrupt):
            warn(STOPPED)
            sys.exit(INTERRUPTED)  # SIGTERM or SIGINT alike: stopped on request, nothing half-done
        fail(error, verbose, quiet)
    except SystemExit as leaving:
        leave(leaving.code)


def _tell(report: SyncReport, quiet: bool) -> None:
    """What a finished sync did; exit 5 when some documents failed."""
    if not quiet:
        for line in report_lines(report):
            click.echo(line)
    else:  # -q: errors only, and any words of the user's that were kept apart
        for path in report.copies:
            warn(f"{path}: {KEPT_APART}")
    if report.failed:
        if quiet:  # errors still show with -q
            for _, why in report.failed:
                warn(why)
        leave(PARTLY_DONE)


@click.command(cls=Command)
@common
@click.option("--full", is_flag=True, help="Ignore the cursor: fetch the whole library again.")
@click.option("--dry-run", is_flag=True, help="List, per note, what would change; write nothing.")
@click.option(
    "--recreate-deleted", is_flag=True, help="Write again the notes you deleted from the vault."
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0,
    metavar="SECONDS",
    help="When another run is syncing this vault, wait up to SECONDS for it (default: exit 4).",
)
def sync(
    vault: Path | None,
    config: Path | None,
    state_dir: Path | None,
    verbose: int,
    quiet: bool,
    full: bool,
    dry_run: bool,
    recreate_deleted: bool,
    wait: float,
) -> None:
    """Fetch what changed in Readwise and update the notes once."""
    setup_logging(verbose, quiet)
    from readwise_sync.app.checks import Need, preflight
    from readwise_sync.app.wiring import sync_once

    freeze_imports()
    stop_requested = graceful_stop()
    said_once()
    progress, stop_progress = _progress(quiet, verbose)
    try:
        settings = settings_from(config, vault, state_dir)
        preflight(settings, needs=Need.TOKEN | (Need.VAULT if dry_run else Need.WRITE))
        add_log_file(settings)
        if warning := exposed_token(settings):
            log.warning("%s", warning)
        report = sync_once(
            settings,
            full=full,
            dry_run=dry_run,
            recreate_deleted=True if recreate_deleted else None,
            progress=progress,
            stop=stop_requested,
            lock_wait=wait,
        )
    except (Exception, KeyboardInterrupt) as exc:
        stop_progress()
        _given_up(exc, verbose, quiet)
    stop_progress()
    _tell(report, quiet)


@click.command(cls=Command)
@common
@click.option("--interval", metavar="DURATION", help="Sync every DURATION: 90s, 30m, 1h, 1d.")
@click.option("--cron", metavar="EXPR", help="Sync on a cron schedule, e.g. '*/30 * * * *'.")
def daemon(
    vault: Path | None,
    config: Path | None,
    state_dir: Path | None,
    verbose: int,
    quiet: bool,
    interval: str | None,
    cron: str | None,
) -> None:
    """Sync now, then on a schedule (default every hour), until stopped.

    SIGTERM or Ctrl-C stop it cleanly (exit 0); SIGHUP reloads the config. A
    rejected token (exit 3) or a bad config (exit 2) stops it.
    """
    setup_logging(verbose, quiet, daemon=True)
    from readwise_sync.app.checks import preflight
    from readwise_sync.app.config import parse_duration
    from readwise_sync.app.daemon import RUN_NEEDS, Daemon

    if interval and cron:
        fail(ConfigError(BOTH_SCHEDULES), verbose)
    try:
        seconds = parse_duration(interval) if interval else None
        load = functools.partial(settings_from, config, vault, state_dir)
        runner = Daemon(load, interval=seconds, cron=cron)
        preflight(runner.settings, needs=RUN_NEEDS, interval=interval, cron=cron)
        add_log_file(runner.settings)
        code = runner.run()
    except Exception as exc:
        fail(exc, verbose, quiet)
    sys.exit(code)


@click.command(cls=Command)
@common
@click.option("--dry-run", is_flag=True, help="List, per note, what would change; write nothing.")
def rerender(
    vault: Path | None,
    config: Path | None,
    state_dir: Path | None,
    verbose: int,
    quiet: bool,
    dry_run: bool,
) -> None:
    """Apply the current templates to every note, without fetching anything.

    Notes you haven't edited are rendered whole; in notes you edited only the
    tool's own blocks that you left as they were are replaced.
    """
    setup_logging(verbose, quiet)
    from readwise_sync.app.checks import Need, preflight
    from readwise_sync.app.wiring import rerender_all

    freeze_imports()
    said_once()
    try:
        settings = settings_from(config, vault, state_dir)
        preflight(settings, needs=Need.VAULT if dry_run else Need.WRITE)
        report = rerender_all(settings, dry_run=dry_run)
    except Exception as exc:
        fail(exc, verbose)
    if not quiet:
        for line in report_lines(report):
            click.echo(line)
