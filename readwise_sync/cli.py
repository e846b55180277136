"""The ``readwise-sync`` command line (click).

The only place that turns errors into messages and exit codes:

    0  done             2  usage or config error
    1  sync failed      3  token rejected
                        4  another run holds the vault's lock

A user's mistake is one clear line on stderr, never a traceback (``-v``
adds the traceback of an unexpected error). On a terminal a progress line
shows while notes are written; otherwise, as under cron, plain log lines.
The closing summary goes to stdout, unless ``-q``.
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

from . import __version__
from .errors import ConfigError, Interrupted, Locked, ReadwiseSyncError, TokenRejected

if TYPE_CHECKING:  # imported where used: `--version` and `--help` need none of it
    from .config import Settings

log = logging.getLogger("readwise_sync")


_STAMPED = "%(asctime)s %(levelname)s %(message)s"
# Exit code of a sync that synced everything but some documents (each named): retried next run.
PARTLY_DONE = 5


def _freeze_imports() -> None:
    """Exempt what is alive now (modules, classes, pydantic's schemas) from garbage
    collection: a sync makes many objects and every collection would walk all of those
    again. Measured: about 5% of a first sync's time."""
    import gc

    gc.freeze()


def _setup_logging(verbose: int, quiet: bool, *, daemon: bool = False) -> None:
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


def _add_log_file(settings: Settings) -> None:
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


def _exposed_token(settings: Settings) -> str | None:
    """A warning when the file holding the token is open to others (the mode `check` and
    `sync` warn of), else None."""
    holder = settings.token_path
    try:
        exposed = holder is not None and os.name == "posix" and holder.stat().st_mode & 0o077
    except OSError:
        return None
    if not exposed:
        return None
    return f"{holder} holds the token and is readable by others; run: chmod 600 {holder}"


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
    """Print one line per problem and exit with the error's code."""
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
    reason = f"{type(error).__name__}: {error}"
    click.echo(f"readwise-sync: unexpected error ({reason}); run with -v for details", err=True)
    sys.exit(1)


def _settings(config: Path | None, vault: Path | None, state_dir: Path | None) -> Settings:
    from .config import load_settings

    return load_settings(config_file=config, vault=vault, state_dir=state_dir)


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command takes."""
    options = [
        click.option("--vault", type=click.Path(path_type=Path), help="The Obsidian vault folder."),
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
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="readwise-sync")
def main() -> None:
    """Keep an Obsidian vault in step with your Readwise library."""


def _progress(quiet: bool) -> tuple[Callable[..., None] | None, Callable[[], None]]:
    """A live 'N documents' line on a terminal; nothing otherwise (cron gets log lines)."""
    if quiet or not sys.stderr.isatty():
        return None, lambda: None
    from rich.progress import Progress, SpinnerColumn, TextColumn

    progress = Progress(
        SpinnerColumn(), TextColumn("{task.description}"), transient=True, console=None
    )
    progress.start()
    task = progress.add_task("syncing", total=None)
    counts = {"seen": 0, "written": 0}

    def on_book(book_id: int, outcome: str) -> None:
        counts["seen"] += 1
        if outcome in ("created", "updated"):
            counts["written"] += 1
        progress.update(
            task, description=f"{counts['seen']} documents, {counts['written']} notes written"
        )

    return on_book, progress.stop


def _print_report(report: Any, quiet: bool, verbose: int = 0) -> None:
    if quiet:
        return
    if report.dry_run:  # with -v the same lines came as log lines already
        created = set(report.created)
        for path, what in report.changes:
            verb = "would create" if path in created else "would update"
            click.echo(f"{verb} {path}: {what}")
    notes = [
        ("has conflicts, your text kept (see `readwise-sync status`)", report.conflicts),
        (
            "deleted by you, not recreated (--recreate-deleted brings it back)",
            report.skipped_missing,
        ),
        ("read-only or outside the vault, left untouched", report.skipped_readonly),
        ("deleted in Readwise, kept in the vault", report.deleted_upstream),
        (
            "being edited (just saved, or saved as it was written); left for the next run",
            report.skipped_busy,
        ),
        (
            "offloaded to iCloud (only in the cloud); download it and the next sync updates it",
            report.offloaded,
        ),
        (
            "a version you saved while the sync wrote the note, kept apart: take what you"
            " want from it into the note, then delete it",
            report.copies,
        ),
        ("existing note adopted", report.adopted),
    ]
    for label, paths in notes:
        for path in paths:
            click.echo(f"{path}: {label}")
    for old, new in report.moved:
        click.echo(f"{new}: moved from {old}, followed")
    for advice in report.cloud_copies:
        click.echo(advice)
    for _, why in report.failed:
        click.echo(f"{why}; the rest synced, this one is tried again next run")
    click.echo(report.summary())


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
    _setup_logging(verbose, quiet)
    from .sync import sync_once

    _freeze_imports()
    stop_requested = _graceful_stop()
    on_book, stop_progress = _progress(quiet)
    try:
        settings = _settings(config, vault, state_dir)
        _add_log_file(settings)
        if warning := _exposed_token(settings):
            log.warning("%s", warning)
        report = sync_once(
            settings,
            full=full,
            dry_run=dry_run,
            recreate_deleted=True if recreate_deleted else None,
            on_book=on_book,
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
    _print_report(report, quiet, verbose)
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
    _setup_logging(verbose, quiet, daemon=True)
    from .config import parse_duration
    from .daemon import Daemon

    if interval and cron:
        _fail(ConfigError("give --interval or --cron, not both"), verbose)
    try:
        seconds = parse_duration(interval) if interval else None
        runner = Daemon(lambda: _settings(config, vault, state_dir), interval=seconds, cron=cron)
        runner.settings.require_vault()
        runner.settings.require_token()
        _add_log_file(runner.settings)
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
    _setup_logging(verbose, quiet)
    from .sync import rerender_all

    _freeze_imports()
    try:
        report = rerender_all(_settings(config, vault, state_dir), dry_run=dry_run)
    except Exception as exc:
        _fail(exc, verbose)
    _print_report(report, quiet, verbose)


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
    _setup_logging(verbose, quiet)
    import json

    from .daemon import read_daemon_status
    from .paths import state_db_path
    from .state import State

    try:
        settings = _settings(config, vault, state_dir)
        root = settings.require_vault().expanduser().resolve()
        db = state_db_path(settings.state_dir, root)
        if db.exists():
            with State.open(db) as state:
                recorded = {
                    "notes_tracked": state.count_notes(),
                    "cursor": (c.isoformat() if (c := state.load_cursor()) else None),
                    "last_run": state.load_last_run(),
                    "conflicts": state.load_conflicts(),
                }
        else:
            recorded = {"notes_tracked": 0, "cursor": None, "last_run": None, "conflicts": []}
        info = {
            "vault": str(root),
            "state": str(db),
            "config": str(settings.config_file) if settings.config_file else None,
            "log_file": str(settings.log_file) if settings.log_file else None,
            "daemon": read_daemon_status(settings),
            **recorded,
        }
    except Exception as exc:
        _fail(exc, verbose)
    if as_json:
        click.echo(json.dumps(info, indent=2, ensure_ascii=False))
        return
    click.echo(f"vault: {info['vault']}")
    last = info["last_run"]
    if last:
        created, updated = len(last["created"]), len(last["updated"])
        click.echo(
            f"last run: {last['finished_at']}: {last.get('result', 'ok')}, {created} created, "
            f"{updated} updated, {last['highlights']} highlights"
        )
    else:
        click.echo("last run: never")
    daemon_info = info["daemon"]
    if daemon_info:
        click.echo(
            f"daemon: running (pid {daemon_info['pid']}), next run {daemon_info['next_run']}"
        )
    else:
        click.echo("daemon: not running")
    click.echo(f"notes tracked: {info['notes_tracked']}")
    conflicts = info["conflicts"]
    click.echo(f"conflicts waiting: {len(conflicts)}")
    for conflict in conflicts:
        upstream = " ".join(conflict["upstream"].split())
        shown = upstream[:100] + ("..." if len(upstream) > 100 else "")
        what = f"Readwise now has: {shown}" if upstream else "deleted in Readwise"
        click.echo(f"  {conflict['path']} [{conflict['block_id']}]: {what}")
    click.echo(f"state: {info['state']}")
    click.echo(f"config: {info['config'] or 'none (defaults and environment)'}")
    click.echo(f"log file: {info['log_file'] or 'none (logs go to stderr)'}")


@main.command()
@_common
def check(
    vault: Path | None, config: Path | None, state_dir: Path | None, verbose: int, quiet: bool
) -> None:
    """Check the config, the token, the templates and the vault: one line each."""
    _setup_logging(verbose, quiet)
    from .client import ReadwiseClient
    from .vault import Vault

    codes: list[int] = []

    def say(line: str, code: int = 0) -> None:
        codes.append(code)
        if not quiet or code:
            click.echo(line, err=bool(code))

    try:
        settings = _settings(config, vault, state_dir)
        where = settings.config_file or "no config file, defaults and environment"
        say(f"config: ok ({where})")
        if warning := _exposed_token(settings):
            say(f"config: warning: {warning}")
    except ConfigError as exc:
        for problem in exc.problems:
            say(f"config: {problem}", 2)
        sys.exit(2)
    if not settings.token:
        say("token: missing (set READWISE_TOKEN, or token / token_file in the config)", 2)
    else:
        try:
            with ReadwiseClient(
                settings.token, settings.api_url, timeout=settings.timeout, max_retries=1
            ) as client:
                client.check_token()
            say(f"token: ok (from {settings.token_source}, accepted by {settings.api_url})")
        except TokenRejected:
            say(f"token: rejected by {settings.api_url} (from {settings.token_source})", 3)
        except ReadwiseSyncError as exc:
            say(f"token: cannot check: {exc}", 1)
    try:
        from .render import Renderer

        Renderer(settings.template_dir, settings.tzinfo())
        say(f"templates: ok ({settings.template_dir or 'built in'})")
    except ReadwiseSyncError as exc:
        say(f"templates: {exc}", 2)
    try:
        root = Vault(settings.require_vault()).root
        say(f"vault: ok ({root})")
    except ReadwiseSyncError as exc:
        say(f"vault: {exc}", 2)
    sys.exit(max(codes))


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
    _setup_logging(verbose, False)
    from .config import Settings
    from .fakeapi import FakeReadwise
    from .sync import sync_once

    path.mkdir(parents=True, exist_ok=True)
    try:
        with FakeReadwise.demo() as server:
            settings = Settings(
                vault=path,
                token=server.token,
                api_url=server.url,
                # Kept inside the demo vault (a hidden folder Obsidian ignores), so the demo
                # never touches the state of a real vault.
                state_dir=path / ".readwise-sync",
            )
            report = sync_once(settings)
    except ReadwiseSyncError as exc:
        _fail(exc, verbose)
    click.echo(report.summary())
    notes = sorted(report.created + report.updated)
    if notes:
        click.echo(f"Notes in {path.resolve()}:")
        for note in notes:
            click.echo(f"  {note}")
    else:
        click.echo(f"The notes in {path.resolve()} are already up to date.")
    click.echo("Open that folder as a vault in Obsidian, or run `readwise-sync demo` again.")


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
    """Write the user service for this machine and print the command that enables it."""
    _setup_logging(verbose, quiet)
    from .service import install

    try:
        settings = _settings(config, vault, state_dir)
        root = settings.require_vault().expanduser().resolve()
        settings.require_token()
        args: list[str] = []
        if vault is not None:
            args += ["--vault", str(root)]
        if config is not None:
            args += ["--config", str(config.expanduser().resolve())]
        if state_dir is not None:
            args += ["--state-dir", str(state_dir.expanduser().resolve())]
        writable = [str(root), str(settings.state_dir.expanduser().resolve())]
        if settings.log_file is not None:
            writable.append(str(settings.log_file.parent.resolve()))
        written, enable = install(timer=timer, args=args, writable=writable)
    except Exception as exc:
        _fail(exc, verbose, quiet)
    for path in written:
        click.echo(f"wrote {path}")
    if settings.token_source == "READWISE_TOKEN":
        click.echo(
            "note: the service won't see READWISE_TOKEN from this shell; "
            "put token_file in the config file"
        )
    click.echo(f"enable it with:\n  {enable}")
