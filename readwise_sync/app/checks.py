"""The checks every command runs before it starts, and that ``check`` prints.

One set, so ``check`` and the run can't disagree: :func:`preflight` raises one
:class:`ConfigError` (exit 2) listing every problem it finds, and ``check`` prints
the same lines, each under its subject (``config``, ``token``, ``vault``).

* the schedule (``interval`` or ``cron`` in the config, or the daemon's options), always:
  a broken config is broken for every command. A cron expression is checked by building
  the trigger the daemon runs on and asking it for its next run, so apscheduler is
  loaded only when one is set (an interval needs only arithmetic);
* the token, when the command sends one: present, and sendable (one word of ASCII);
* the vault: an existing folder, and, when the command writes notes, a folder it can
  write to. That is tried for real: a hidden file is created and removed in the notes
  folder (``folder``), or in its nearest existing parent inside the vault.

``check`` also asks Readwise about the token (with the run's own retries) and compiles
the templates; a run does neither before it needs to.
"""

from __future__ import annotations

import contextlib
import enum
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from readwise_sync.app.config import Settings, parse_duration
from readwise_sync.errors import ConfigError, ReadwiseSyncError, TokenRejected
from readwise_sync.store.vault import TEMP_PREFIX, TEMP_SUFFIX

ACCESS_TOKEN_PAGE = "https://readwise.io/access_token"


class Need(enum.Flag):
    """What a command needs besides a valid config."""

    NOTHING = 0
    TOKEN = enum.auto()  # it talks to Readwise
    VAULT = enum.auto()  # it reads the vault: an existing folder
    WRITE = enum.auto()  # it writes notes: the vault folder, writable (implies VAULT)
    # Tried by writing a file (check only: a run's own writes then show it, and a sync
    # with nothing to do must leave the vault's folders as they were).
    PROBE = enum.auto()


@dataclass(frozen=True)
class Problem:
    """One problem: ``line`` is what the user reads, ``topic`` what ``check`` files it under."""

    topic: str
    line: str


def preflight(
    settings: Settings,
    *,
    needs: Need,
    interval: str | None = None,
    cron: str | None = None,
) -> None:
    """Raise :class:`ConfigError` listing every problem a run needing ``needs`` would meet.

    ``interval`` and ``cron``: the daemon's command-line schedule, checked as well.
    """
    found = problems(settings, needs, interval=interval, cron=cron)
    if found:
        raise ConfigError([problem.line for problem in found])


def problems(
    settings: Settings,
    needs: Need,
    *,
    interval: str | None = None,
    cron: str | None = None,
) -> list[Problem]:
    """Every problem, in the order ``check`` prints its subjects."""
    found = [Problem("config", line) for line in schedule_problems(settings, interval, cron)]
    if Need.TOKEN in needs:
        found += [Problem("token", line) for line in token_problems(settings)]
    if needs & (Need.VAULT | Need.WRITE | Need.PROBE):
        write = bool(needs & (Need.WRITE | Need.PROBE))
        lines = vault_problems(settings, write=write, probe=Need.PROBE in needs)
        found += [Problem("vault", line) for line in lines]
    return found


def schedule_problems(
    settings: Settings, interval: str | None = None, cron: str | None = None
) -> list[str]:
    """The config's schedule, then the one given as options: each must run as written."""
    where = f"{settings.config_file}: " if settings.config_file else ""
    found = [
        problem
        for setting, duration in ((where + "interval", settings.interval), ("--interval", interval))
        if duration and (problem := interval_problem(duration, setting))
    ]
    for setting, expression in ((where + "cron", settings.cron), ("--cron", cron)):
        if expression:
            from readwise_sync.app.schedule import cron_problem

            if problem := cron_problem(expression, setting=setting):
                found.append(problem)
    return found


def interval_problem(text: str, setting: str) -> str | None:
    """A duration the daemon can run on: one that parses, whose next run is a date."""
    try:
        seconds = parse_duration(text, setting=setting)
        datetime.now(UTC) + timedelta(seconds=seconds)  # what the daemon's trigger computes
    except ConfigError as exc:
        return str(exc)
    except OverflowError:
        return f"{setting}: {text!r} is too long to schedule"
    return None


def token_problems(settings: Settings) -> list[str]:
    """A missing token, or one that could never be sent (checked before any request)."""
    try:
        settings.require_token()
    except ConfigError as exc:
        return exc.problems
    return []


def vault_problems(settings: Settings, *, write: bool, probe: bool = False) -> list[str]:
    """The vault must be a folder; with ``write``, one its notes can be written into
    (with ``probe``, tried by writing a file, else asked of the system)."""
    try:
        root = settings.require_vault().expanduser()
    except ConfigError as exc:
        return exc.problems
    try:
        mode = root.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return [
            f"vault folder {root} does not exist (a drive not mounted?); "
            "check --vault, READWISE_SYNC_VAULT or vault in the config"
        ]
    except OSError as exc:
        return [f"vault folder {root}: cannot look at it ({exc.strerror})"]
    if not stat.S_ISDIR(mode):
        return [f"vault {root} is a file, not a folder; the vault is the folder of your notes"]
    if not write:
        return []
    return _write_problems(root.resolve(), settings.folder, probe=probe)


def _write_problems(root: Path, folder: str, *, probe: bool) -> list[str]:
    target = root / folder if folder else root
    existing = target
    while existing != root and not os.path.lexists(existing):
        existing = existing.parent
    if not existing.is_dir():
        return [f"folder: {existing} is a file, not a folder; notes go in {target}"]
    real = existing.resolve()
    if real != root and root not in real.parents:
        # A link out of the vault: no note is ever written through one (see vault.py).
        return [
            f"folder: {existing} is a link out of the vault (to {real}); notes are never"
            " written through one: make it a real folder, or point vault at the target"
        ]
    if not probe and os.access(existing, os.W_OK | os.X_OK):
        return []  # (a run asks the system; only when it says no is a write tried, for why)
    return _probe(existing)


def _cannot_write(folder: Path, reason: str | None) -> str:
    return (
        f"cannot write in the vault folder {folder} ({reason}); "
        "make it writable, or point vault at one you can write to"
    )


def _probe(existing: Path) -> list[str]:
    """Create and remove a hidden file in ``existing``: what the system says of it."""
    probe = existing / f"{TEMP_PREFIX}check-{secrets.token_hex(6)}{TEMP_SUFFIX}"
    made = False
    try:
        handle = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        made = True
        try:
            os.write(handle, b"\n")
        finally:
            os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        if made:
            with contextlib.suppress(OSError):
                os.unlink(probe)
        return [_cannot_write(existing, exc.strerror)]
    return []


def check_lines(settings: Settings) -> Iterator[tuple[str, int]]:
    """What ``check`` prints: (line, exit code), by subject: ``config``, ``token``,
    ``templates``, ``vault``. Every problem a run would meet is among them, worded alike."""
    found = problems(settings, Need.TOKEN | Need.PROBE)

    def under(topic: str) -> list[tuple[str, int]]:
        # "vault: folder ... does not exist", not "vault: vault folder ...".
        return [
            (f"{topic}: {p.line.removeprefix(topic + ' ')}", 2) for p in found if p.topic == topic
        ]

    where = settings.config_file or "no config file, defaults and environment"
    yield from under("config") or [(f"config: ok ({where})", 0)]
    yield from under("token") or [_token_line(settings)]
    yield _templates_line(settings)
    root = settings.vault.expanduser().resolve() if settings.vault else None
    yield from under("vault") or [(f"vault: ok ({root}, writable)", 0)]


def _token_line(settings: Settings) -> tuple[str, int]:
    """Ask Readwise, retrying as a sync would (so a failure reads the same)."""
    from readwise_sync.readwise.client import ReadwiseClient

    source = settings.token_source
    try:
        with ReadwiseClient(
            settings.require_token(),
            settings.api_url,
            timeout=settings.timeout,
            max_retries=settings.retries,
            token_source=source,
        ) as client:
            client.check_token()
    except TokenRejected:
        return (
            f"token: rejected by {settings.api_url} (from {source}); "
            f"get a new one at {ACCESS_TOKEN_PAGE}",
            3,
        )
    except ReadwiseSyncError as exc:
        return f"token: cannot check: {exc}", exc.exit_code
    return f"token: ok (from {source}, accepted by {settings.api_url})", 0


def _templates_line(settings: Settings) -> tuple[str, int]:
    from readwise_sync.notes.render import Renderer

    try:
        Renderer(settings.template_dir, settings.tzinfo())
    except ReadwiseSyncError as exc:
        return f"templates: {exc}", 2
    return f"templates: ok ({settings.template_dir or 'built in'})", 0
