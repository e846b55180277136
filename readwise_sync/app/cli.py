"""The ``readwise-sync`` command line (click).

The only place that turns errors into messages and exit codes:

    0  done             3  token rejected
    1  sync failed      4  another run holds the vault's lock
    2  usage or config  5  done but for the documents named (retried next run)
       error          130  stopped by SIGTERM or Ctrl-C

A user's mistake is one clear line on stderr, never a traceback (``-v``
adds the traceback of an unexpected error). On a terminal a progress line
shows while a sync runs; under cron only the summary and what needs the
user's attention (stdout) and errors (stderr). The sentences themselves are
in :mod:`wording`; ``-q`` leaves only errors.
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

from readwise_sync import __version__
from readwise_sync.app.logs import add_log_file, said_once, setup_logging
from readwise_sync.app.wording import (
    KEPT_APART,
    demo_lines,
    exposed_token,
    failure_line,
    init_lines,
    report_lines,
    status_lines,
)
from readwise_sync.errors import ConfigError, Interrupted, Locked, ReadwiseSyncError

if TYPE_CHECKING:  # imported where used: `--version` and `--help` need none of it
    from readwise_sync.app.config import Settings
    from readwise_sync.engine.progress import Progress

log = logging.getLogger("readwise_sync")


# Exit code of a sync that synced everything but some documents (each named): retried next run.
PARTLY_DONE = 5


def _freeze_imports() -> None:
    """Exempt what is alive now (modules, classes, pydantic's schemas) from garbage
    collection: a sync makes many objects and every collection would walk all of those
    again. Measured: about 5% of a first sync's time."""
    import gc

    gc.freeze()


def _graceful_stop() -> threading.Event:
    """SIGTERM (and a first Ctrl-C) ask the run to finish the note it is writing and stop."""
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now (writes are atomic anyway)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def _leave(code: int | str | None) -> NoReturn:
    """Exit with ``code``. A request the run gave up waiting for may still be blocked on the
    network in a background thread (bounded by the timeout; it touches neither notes nor
    state): then exit at once, so the interpreter is never torn down under that thread."""
    if threading.active_count() > 1:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 1)
    sys.exit(code)


def _fail(error: BaseException, verbose: int, quiet: bool = False) -> NoReturn:
    """Print one line per problem and exit with the error's code. No Python text reaches
    the user: a file error is the file and the reason, anything else a plain line (the
    traceback only with -v)."""
    if isinstance(error, Locked) and quiet:
        sys.exit(error.exit_code)  # cron with -q: another run is on it, nothing to say
    if isinstance(error, ReadwiseSyncError):
        lines = error.problems if isinstance(error, ConfigError) else [str(error)]
        for line in lines:
            click.echo(f"readwise-sync: {line}", err=True)
        sys.exit(error.exit_code)
    if verbose:
        import traceback

        traceback.print_exception(error)
    click.echo(f"readwise-sync: {failure_line(error)}", err=True)
    sys.exit(1)


def _settings(config: Path | None, vault: Path | None, state_dir: Path | None) -> Settings:
    from readwise_sync.app.config import load_settings

    return load_settings(config_file=config, vault=vault, state_dir=state_dir)


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
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


_VARIABLES = {
    "READWISE_TOKEN": "the Readwise access token (wins over the config's)",
    "READWISE_SYNC_VAULT": "the vault, for --vault",
    "READWISE_SYNC_CONFIG": "the config file, for --config",
    "READWISE_SYNC_STATE_DIR": "the state folder, for --state-dir",
    "READWISE_API_URL": "the API (default https://readwise.io)",
}


def _environment(*names: str) -> str:
    """The end of a --help: the environment variables the command reads."""
    rows = [f"  {name:<24} {_VARIABLES[name]}" for name in names or _VARIABLES]
    return "\b\nEnvironment (an option given wins):\n" + "\n".join(rows)


class _Command(click.Command):
    """A command taking the common options ends its --help with the environment."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if getattr(kwargs.get("callback"), "reads_environment", False):
            kwargs.setdefault("epilog", _environment())
        super().__init__(*args, **kwargs)


class _Group(click.Group):
    command_class = _Command
    group_class = type  # subgroups (service) are of this class too, and so their commands


@click.group(
    cls=_Group, context_settings={"help_option_names": ["-h", "--help"]}, epilog=_environment()
)
@click.version_option(__version__, prog_name="readwise-sync")
def main() -> None:
    """Keep an Obsidian vault in step with your Readwise library."""


def _progress(quiet: bool, verbose: int) -> tuple[Progress, Callable[[], None]]:
    """What a sync shows as it goes: a live line on a terminal (documents in, decided,
    notes written, highlights of the export's total); with -v a log line per page;
    otherwise, as under cron, nothing (the summary says what was done)."""
    from readwise_sync.engine.progress import SILENT, LiveLine, Tally

    if quiet:
        return SILENT, lambda: None
    if sys.stderr.isatty():
        line = LiveLine(log_pages=verbose > 0).start()
        return line, line.stop
    return (Tally(log_pages=True) if verbose else SILENT), lambda: None


@main.command()
@_common
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
    from readwise_sync.engine.sync import sync_once

    _freeze_imports()
    stop_requested = _graceful_stop()
    said_once()
    progress, stop_progress = _progress(quiet, verbose)
    try:
        settings = _settings(config, vault, state_dir)
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
        try:
            if isinstance(exc, Interrupted | KeyboardInterrupt):
                click.echo("readwise-sync: stopped; the next run picks up from here", err=True)
                sys.exit(130)  # SIGTERM or SIGINT alike: stopped on request, nothing half-done
            _fail(exc, verbose, quiet)
        except SystemExit as leaving:
            _leave(leaving.code)
    stop_progress()
    if not quiet:
        for line in report_lines(report):
            click.echo(line)
    else:  # -q: errors only, and any words of the user's that were kept apart
        for path in report.copies:
            click.echo(f"readwise-sync: {path}: {KEPT_APART}", err=True)
    if report.failed:
        if quiet:  # errors still show with -q
            for _, why in report.failed:
                click.echo(f"readwise-sync: {why}", err=True)
        _leave(PARTLY_DONE)


@main.command()
@_common
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
        _fail(ConfigError("give --interval or --cron, not both"), verbose)
    try:
        seconds = parse_duration(interval) if interval else None
        runner = Daemon(lambda: _settings(config, vault, state_dir), interval=seconds, cron=cron)
        preflight(runner.settings, needs=RUN_NEEDS, interval=interval, cron=cron)
        add_log_file(runner.settings)
        code = runner.run()
    except Exception as exc:
        _fail(exc, verbose, quiet)
    sys.exit(code)


@main.command()
@_common
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
    from readwise_sync.engine.sync import rerender_all

    _freeze_imports()
    said_once()
    try:
        settings = _settings(config, vault, state_dir)
        preflight(settings, needs=Need.VAULT if dry_run else Need.WRITE)
        report = rerender_all(settings, dry_run=dry_run)
    except Exception as exc:
        _fail(exc, verbose)
    if not quiet:
        for line in report_lines(report):
            click.echo(line)


@main.command()
@_common
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
        info = status_info(_settings(config, vault, state_dir))
    except Exception as exc:
        _fail(exc, verbose)
    if as_json:
        click.echo(json.dumps(info, indent=2, ensure_ascii=False))
        return
    for line in status_lines(info):
        click.echo(line)


@main.command()
@_common
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
        _fail(ConfigError("say which version to keep: --take-readwise or --keep-mine"), verbose)
    from readwise_sync.app.checks import Need, preflight
    from readwise_sync.engine.sync import resolve_conflicts

    try:
        settings = _settings(config, vault, state_dir)
        preflight(settings, needs=Need.WRITE)
        report, settled = resolve_conflicts(settings, note, take=choice == "readwise", block=block)
    except Exception as exc:
        _fail(exc, verbose)
    kept = "Readwise's version put in the note" if choice == "readwise" else "your version kept"
    for block_id in settled:
        click.echo(f"{note} [{block_id}]: settled, {kept}")
    for _, why in report.failed:
        click.echo(f"readwise-sync: {why}", err=True)
    for path in report.skipped_readonly:
        click.echo(f"readwise-sync: {path} is read-only; nothing written", err=True)
    if report.failed or report.skipped_readonly:
        sys.exit(1)


@main.command()
@_common
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
        settings = _settings(config, vault, state_dir)
    except ConfigError as exc:
        for problem in exc.problems:
            say(f"config: {problem}", 2)
        sys.exit(2)
    for line, code in check_lines(settings):
        say(line, code)
        if line.startswith("config: ok") and (warning := exposed_token(settings)):
            say(f"config: warning: {warning}")
    sys.exit(max(codes))


def _asked(given: str | None, option: str, question: str, *, env: str, hide: bool = False) -> str:
    """The option's value, else the environment's, else the user's answer; without a
    terminal to ask on, a ConfigError naming the option (never a prompt that hangs)."""
    if given == "-" and option == "--token":
        given = sys.stdin.read().strip()
        if not given:
            raise ConfigError("--token -: nothing came on stdin")
    if given:
        return given
    if os.environ.get(env, "").strip():
        click.echo(f"{option[2:]}: from {env}")
        return os.environ[env].strip()
    if not sys.stdin.isatty():
        raise ConfigError(f"no {option[2:]}: pass {option} (stdin is not a terminal to ask on)")
    answer: str = click.prompt(question, hide_input=hide)
    return answer


@main.command(
    epilog=_environment(
        "READWISE_TOKEN", "READWISE_SYNC_VAULT", "READWISE_SYNC_CONFIG", "READWISE_API_URL"
    )
)
@click.option("--vault", metavar="PATH", help="The Obsidian vault folder (asked if not given).")
@click.option("--token", metavar="TOKEN", help="Your Readwise token; `-` reads it from stdin.")
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the config here (default: READWISE_SYNC_CONFIG, else the user config folder).",
)
@click.option("--api-url", metavar="URL", help="A Readwise API other than readwise.io.")
@click.option("--force", is_flag=True, help="Replace an existing config and token file.")
@click.option("-v", "--verbose", count=True, help="More output.")
def init(
    vault: str | None,
    token: str | None,
    config: Path | None,
    api_url: str | None,
    force: bool,
    verbose: int,
) -> None:
    """Check your vault and token, then write the config and a private token file.

    Nothing is written unless Readwise accepts the token. Afterwards `sync` and
    `service install` need no option: the config names the vault and the token.
    """
    setup_logging(verbose, False)
    from readwise_sync.app import initialize

    try:
        target = initialize.Target.choose(config, os.environ, force=force)
        where = _asked(vault, "--vault", "Obsidian vault folder", env="READWISE_SYNC_VAULT")
        root, warning = initialize.check_vault(Path(where))
        if warning:
            click.echo(f"readwise-sync: {warning}", err=True)
        secret = _asked(token, "--token", "Readwise token", env="READWISE_TOKEN", hide=True)
        url = initialize.api_url_for(api_url, os.environ)
        secret = initialize.check_token(secret, url)
        initialize.write_setup(target, root, secret, url, force=force)
    except click.Abort:  # Ctrl-C at a prompt
        click.echo("\nreadwise-sync: stopped; nothing written", err=True)
        sys.exit(130)
    except Exception as exc:
        _fail(exc, verbose)
    shell_token = os.environ.get("READWISE_TOKEN", "").strip()
    for line in init_lines(target, root, url, shadowed=shell_token not in ("", secret)):
        click.echo(line)


@main.command()
@click.argument(
    "path", required=False, default="readwise-demo-vault", type=click.Path(path_type=Path)
)
@click.option("-v", "--verbose", count=True, help="More output.")
def demo(path: Path, verbose: int) -> None:
    """Sync a built-in demo library into PATH (no token needed).

    A fake Readwise server runs on this machine (127.0.0.1) and the real sync
    talks to it over HTTP, so this is exactly what `sync` does with your library.
    """
    setup_logging(verbose, False)
    from readwise_sync.app.config import Settings
    from readwise_sync.app.initialize import DEMO_STATE, foreign_note
    from readwise_sync.engine.sync import sync_once
    from readwise_sync.readwise.fakeapi import FakeReadwise

    try:
        if path.exists() and not path.is_dir():
            raise ConfigError(f"demo: {path} is not a folder")
        if theirs := foreign_note(path):
            raise ConfigError(
                f"demo: {path} already holds notes the demo didn't write ({theirs}); "
                "give it a new or empty folder"
            )
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"demo: cannot create {path} ({exc.strerror})") from exc
        with FakeReadwise.demo() as server:
            settings = Settings(
                vault=path,
                token=server.token,
                api_url=server.url,
                # Kept inside the demo vault (a hidden folder Obsidian ignores), so the demo
                # never touches the state of a real vault.
                state_dir=path / DEMO_STATE,
            )
            report = sync_once(settings)
    except ReadwiseSyncError as exc:
        _fail(exc, verbose)
    for line in demo_lines(report, path):
        click.echo(line)


@main.command("fake-server")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="Port on 127.0.0.1 (default: any)."
)
@click.option(
    "--books", type=click.IntRange(min=1), help="Serve N documents made from the demo library."
)
def fake_server(port: int, books: int | None) -> None:
    """Serve a fake Readwise on 127.0.0.1, to try every command without an account.

    It serves the demo library (or --books N documents) until Ctrl-C or SIGTERM.
    """
    import secrets

    from readwise_sync.app.initialize import fake_server as make_server

    stop = _graceful_stop()
    server = make_server(books=books, token=secrets.token_hex(16), port=port)
    try:
        server.start()
    except OSError as exc:
        _fail(ConfigError(f"--port {port}: cannot listen on 127.0.0.1 ({exc.strerror})"), 0)
    try:
        count = len(server.books())
        click.echo(f"fake Readwise: {count} documents at {server.url}, until Ctrl-C.", err=True)
        click.echo("Run these in the shell you try readwise-sync from:", err=True)
        click.echo(f"export READWISE_API_URL={server.url}")
        click.echo(f"export READWISE_TOKEN={server.token}")
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass  # a second Ctrl-C: stop all the same
    finally:
        server.stop()


@main.group()
def service() -> None:
    """Run readwise-sync as a background service (systemd on Linux, launchd on macOS)."""


@service.command("install")
@_common
@click.option("--timer", is_flag=True, help="A one-shot sync on a systemd timer, not a daemon.")
def service_install(
    vault: Path | None,
    config: Path | None,
    state_dir: Path | None,
    verbose: int,
    quiet: bool,
    timer: bool,
) -> None:
    """Write the user service for this machine and print the command that enables it.

    The service gets this shell's vault, state folder, config file and api_url, and a
    timer (--timer) the schedule of `interval` or `cron` in the config.
    """
    setup_logging(verbose, quiet)
    from readwise_sync.app.checks import Need, preflight
    from readwise_sync.app.service import install, service_plan

    try:
        settings = _settings(config, vault, state_dir)
        preflight(settings, needs=Need.WRITE)  # the schedule and the vault, as `check` says
        # Before the token's own check: a token only this shell has is the service's
        # problem, with its own fix (`init`).
        plan = service_plan(settings)
        preflight(settings, needs=Need.TOKEN)
        written, enable = install(plan, timer=timer)
    except Exception as exc:
        _fail(exc, verbose, quiet)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"enable it with:\n  {enable}")


@service.command("uninstall")
@click.option("-v", "--verbose", count=True, help="More output.")
def service_uninstall(verbose: int) -> None:
    """Stop and disable the user service (or timer, or launchd agent), remove its files."""
    setup_logging(verbose, False)
    from readwise_sync.app.service import uninstall

    try:
        lines = uninstall()
    except Exception as exc:
        _fail(exc, verbose)
    for line in lines or ["nothing installed"]:
        click.echo(line)
