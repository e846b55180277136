"""What every command of the command line shares: its options, its errors, its exits.

The only place that turns errors into messages and exit codes (see :mod:`cli`). A
user's mistake is one clear line on stderr, never a traceback (``-v`` adds the
traceback of an unexpected error).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from readwise_sync.app.wording import failure_line
from readwise_sync.errors import ConfigError, Locked, ReadwiseSyncError

if TYPE_CHECKING:  # imported where used: `--version` and `--help` need none of it
    from readwise_sync.app.settings import Settings

# Exit code of a sync that synced everything but some documents (each named): retried next run.
PARTLY_DONE = 5
# Exit code of a run stopped by SIGTERM or Ctrl-C.
INTERRUPTED = 130


def warn(line: str) -> None:
    """One line for the user on stderr, named as the tool's."""
    click.echo(f"readwise-sync: {line}", err=True)


def freeze_imports() -> None:
    """Exempt what is alive now (modules, classes, pydantic's schemas) from garbage
    collection: a sync makes many objects and every collection would walk all of those
    again. Measured: about 5% of a first sync's time."""
    import gc

    gc.freeze()


def graceful_stop() -> threading.Event:
    """SIGTERM (and a first Ctrl-C) ask the run to finish the note it is writing and stop."""
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now (writes are atomic anyway)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def leave(code: int | str | None) -> NoReturn:
    """Exit with ``code``. A request the run gave up waiting for may still be blocked on the
    network in a background thread (bounded by the timeout; it touches neither notes nor
    state): then exit at once, so the interpreter is never torn down under that thread."""
    if threading.active_count() > 1:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 1)
    sys.exit(code)


def fail(error: BaseException, verbose: int, quiet: bool = False) -> NoReturn:
    """Print one line per problem and exit with the error's code. No Python text reaches
    the user: a file error is the file and the reason, anything else a plain line (the
    traceback only with -v)."""
    if isinstance(error, Locked) and quiet:
        sys.exit(error.exit_code)  # cron with -q: another run is on it, nothing to say
    if isinstance(error, ReadwiseSyncError):
        lines = error.problems if isinstance(error, ConfigError) else [str(error)]
        for line in lines:
            warn(line)
        sys.exit(error.exit_code)
    if verbose:
        import traceback

        traceback.print_exception(error)
    warn(failure_line(error))
    sys.exit(1)


def settings_from(config: Path | None, vault: Path | None, state_dir: Path | None) -> Settings:
    """The settings of a command given the common options."""
    from readwise_sync.app.config import load_settings

    return load_settings(config_file=config, vault=vault, state_dir=state_dir)


def common(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command takes."""
    options = [
        click.option(
            "--vault",
            type=click.Path(path_type=Path),
            help="The Obsidian vault folder (default: READWISE_SYNC_VAULT, else the config's).",
        ),
        click.option(
            "--config",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Config file (default: READWISE_SYNC_CONFIG, else the user config folder).",
        ),
        click.option(
            "--state-dir",
            type=click.Path(path_type=Path, file_okay=False),
            help="Where the sync state lives (default: READWISE_SYNC_STATE_DIR, "
            "else the user state folder).",
        ),
        click.option(
            "-v", "--verbose", count=True, help="More output (-vv: every request, and timings)."
        ),
        click.option("-q", "--quiet", is_flag=True, help="Only errors."),
    ]
    for option in reversed(options):
        func = option(func)
    func.reads_environment = True  # type: ignore[attr-defined]
    return func


VARIABLES = {
    "READWISE_TOKEN": "the Readwise access token (wins over the config's)",
    "READWISE_SYNC_VAULT": "the vault, for --vault",
    "READWISE_SYNC_CONFIG": "the config file, for --config",
    "READWISE_SYNC_STATE_DIR": "the state folder, for --state-dir",
    "READWISE_API_URL": "the API (default https://readwise.io)",
}


def environment(*names: str) -> str:
    """The end of a --help: the environment variables the command reads."""
    rows = [f"  {name:<24} {VARIABLES[name]}" for name in names or VARIABLES]
    return "\b\nEnvironment (an option given wins):\n" + "\n".join(rows)


class Command(click.Command):
    """A command taking the common options ends its --help with the environment."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if getattr(kwargs.get("callback"), "reads_environment", False):
            kwargs.setdefault("epilog", environment())
        super().__init__(*args, **kwargs)


class Group(click.Group):
    command_class = Command
    group_class = type  # subgroups (service) are of this class too, and so their commands
