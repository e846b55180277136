"""The commands that look at a vault and settle it: ``status``, ``resolve``, ``check``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from readwise_sync.app.cli_options import Command, common, fail, settings_from, warn
from readwise_sync.app.logs import setup_logging
from readwise_sync.app.wording import (
    NO_CHOICE,
    exposed_token,
    read_only_line,
    settled_line,
    status_lines,
)
from readwise_sync.errors import ConfigError


@click.command(cls=Command)
@common
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(
    vault: Path | None,
    config: Path | None,
    state_dir: Path | None,
    verbose: int,
    quiet: bool,
    as_json: bool,
) -> None:
    """Show the last run, the conflicts waiting for you, and where things are kept."""
    setup_logging(verbose, quiet)
    import json

    from readwise_sync.app.overview import status_info

    try:
        info = status_info(settings_from(config, vault, state_dir))
    except Exception as exc:
        fail(exc, verbose)
    if as_json:
        click.echo(json.dumps(info, indent=2, ensure_ascii=False))
        return
    for line in status_lines(info):
        click.echo(line)


@click.command(cls=Command)
@common
@click.argument("note")
@click.option(
    "--take-readwise", "choice", flag_value="readwise", help="Put Readwise's version in the note."
)
@click.option(
    "--keep-mine", "choice", flag_value="mine", help="Keep your version; Readwise's counts as seen."
)
@click.option("--block", metavar="ID", help="Only this conflict (e.g. h:12345, as status shows).")
def resolve(
    vault: Path | None,
    config: Path | None,
    state_dir: Path | None,
    verbose: int,
    quiet: bool,
    note: str,
    choice: str | None,
    block: str | None,
) -> None:
    """Settle the conflicts of NOTE: take Readwise's version or keep yours.

    NOTE is the note's path, as `readwise-sync status` shows it (relative to the
    vault) or as a file path. Without --block, every conflict in the note.
    """
    setup_logging(verbose, quiet)
    if choice is None:
        fail(ConfigError(NO_CHOICE), verbose)
    from readwise_sync.app.checks import Need, preflight
    from readwise_sync.app.wiring import resolve_conflicts

    take = choice == "readwise"
    try:
        settings = settings_from(config, vault, state_dir)
        preflight(settings, needs=Need.WRITE)
        report, settled = resolve_conflicts(settings, note, take=take, block=block)
    except Exception as exc:
        fail(exc, verbose)
    for block_id in settled:
        click.echo(settled_line(note, block_id, take=take))
    for _, why in report.failed:
        warn(why)
    for path in report.skipped_readonly:
        warn(read_only_line(path))
    if report.failed or report.skipped_readonly:
        sys.exit(1)


@click.command(cls=Command)
@common
def check(
    vault: Path | None, config: Path | None, state_dir: Path | None, verbose: int, quiet: bool
) -> None:
    """Check the config, the token, the templates and the vault: one line each.

    The same checks every command makes before it starts (a problem here stops them
    too, worded alike), and Readwise asked about the token, retried as a sync would."""
    setup_logging(verbose, quiet)
    from readwise_sync.app.checks import check_lines

    codes: list[int] = []

    def say(line: str, code: int = 0) -> None:
        codes.append(code)
        if not quiet or code:
            click.echo(line, err=bool(code))

    try:
        settings = settings_from(config, vault, state_dir)
    except ConfigError as exc:
        for problem in exc.problems:
            say(f"config: {problem}", 2)
        sys.exit(2)
    for line, code in check_lines(settings):
        say(line, code)
        if line.startswith("config: ok") and (warning := exposed_token(settings)):
            say(f"config: warning: {warning}")
    sys.exit(max(codes))
