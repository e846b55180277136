"""Service definitions: systemd user units (service, or one-shot + timer) and a launchd agent.

The files in the repository's ``systemd/`` folder are :func:`systemd_units`
with generic paths (``%h/.local/bin/readwise-sync``, ``%h/Obsidian``);
``readwise-sync service install`` writes the same units with this machine's
paths filled in (the executable running now, the vault, the state folder),
so the hardening (read-only system and home, writable vault and state only)
fits the machine it is installed on. ``service uninstall`` stops what install
enabled and removes exactly the files it wrote.

A service never sees the shell's environment, so what install resolved there
is written into the unit: the vault, the state folder and the config file as
arguments, ``READWISE_API_URL`` as an environment setting, and install refuses
when the token would only come from this shell.

Every path is written as systemd reads it back (systemd.service "Command
lines", systemd.exec ``ReadWritePaths=``): a word with a space, a quote or a
backslash in double quotes, ``\\`` and ``"`` escaped in them, ``%`` doubled
(a specifier otherwise) and, on an ``ExecStart=`` line, ``$`` doubled (an
environment variable otherwise). Text that is meant as a specifier, like the
generic ``%h``, is a :class:`Specified`.
"""

from __future__ import annotations

import os
import plistlib
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from readwise_sync.app.config import Settings, load_settings
from readwise_sync.app.locations import VaultLocations
from readwise_sync.app.timer import TimerSchedule, timer_schedule
from readwise_sync.errors import ConfigError, ReadwiseSyncError

SERVICE = "readwise-sync.service"
ONCE = "readwise-sync-once.service"
TIMER = "readwise-sync.timer"
LAUNCHD_LABEL = "io.github.readwise-sync"
INIT_HINT = "run `readwise-sync init` to keep the token in a file it reads"

Runner = Callable[[list[str]], subprocess.CompletedProcess[str]]

_HARDENING = """\
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths={writable}
{private_tmp}
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
SystemCallArchitectures=native
"""
_HEADER = (
    "# readwise-sync: keep an Obsidian vault in step with Readwise.\n"
    "# `readwise-sync service install` writes this with your paths filled in;\n"
    "# by hand: copy to ~/.config/systemd/user/, set the vault in ReadWritePaths.\n"
)
# Characters a word may hold without quotes: nothing systemd splits on or unescapes.
_PLAIN = re.compile(r"[^\s\"'\\;]+")


class Specified(str):
    """Unit-file text kept as it is: the specifiers in it (``%h``, ``%S``) are meant."""


@dataclass(frozen=True)
class Plan:
    """What the installed service runs with, resolved from this shell's settings."""

    args: list[str]
    writable: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    schedule: TimerSchedule = field(default_factory=lambda: timer_schedule(None, None))
    private_tmp: bool = True  # False when a path it needs is under /tmp (see service_plan)


def unit_word(text: str, *, exec_line: bool = False) -> str:
    """``text`` as one word of a unit-file setting, read back by systemd as exactly ``text``."""
    if isinstance(text, Specified):
        return str(text)
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise ConfigError(f"{text!r}: a unit file can't hold a control character; rename it")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{text!r}: a unit file holds UTF-8 only; rename it") from None
    word = text.replace("%", "%%")
    if exec_line:
        word = word.replace("$", "$$")
    if _PLAIN.fullmatch(word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _command(words: list[str]) -> str:
    return " ".join(unit_word(word, exec_line=True) for word in words)


def _service_lines(
    exec_start: list[str],
    writable: list[str],
    environment: Mapping[str, str],
    private_tmp: bool = True,
) -> tuple[str, str]:
    """The ``Environment=`` and ``ExecStart=`` lines, and the hardening with its paths."""
    # "-" before a path: a folder that doesn't exist yet is not an error at start-up.
    paths = " ".join(
        unit_word(Specified(f"-{path}") if isinstance(path, Specified) else f"-{path}")
        for path in writable
    )
    lines = [f"Environment={unit_word(f'{key}={value}')}" for key, value in environment.items()]
    lines.append(f"ExecStart={_command(exec_start)}")
    tmp = (
        "PrivateTmp=yes"
        if private_tmp
        else "# Not PrivateTmp: the vault, the state or the config is under /tmp.\nPrivateTmp=no"
    )
    return "".join(f"{line}\n" for line in lines), _HARDENING.format(
        writable=paths, private_tmp=tmp
    )


def systemd_units(
    command: list[str], args: list[str], writable: list[str], plan: Plan | None = None
) -> dict[str, str]:
    """The three unit files, by name.

    ``command`` runs readwise-sync, ``args`` follow its subcommand, ``writable``
    are the vault and the state folder; ``plan`` brings the environment and the schedule.
    """
    environment = plan.environment if plan else {}
    schedule = plan.schedule if plan else timer_schedule(None, None)
    private = plan.private_tmp if plan else True
    start, hardening = _service_lines([*command, "daemon", *args], writable, environment, private)
    once_start, _ = _service_lines(
        [*command, "sync", "-q", "--wait", "300", *args], writable, environment, private
    )
    timer_lines = "".join(f"{line}\n" for line in schedule.lines)
    service = (
        f"{_HEADER}[Unit]\n"
        "Description=readwise-sync daemon: sync Readwise into an Obsidian vault\n\n"
        f"[Service]\nType=exec\n{start}"
        "ExecReload=/bin/kill -HUP $MAINPID\n"
        "Restart=on-failure\n"
        "RestartSec=60\n"
        "# A bad config (2) or a rejected token (3) needs you, not a restart loop.\n"
        "RestartPreventExitStatus=2 3\n"
        "TimeoutStopSec=15\n"
        f"{hardening}\n"
        "[Install]\nWantedBy=default.target\n"
    )
    once = (
        f"{_HEADER}[Unit]\n"
        "Description=readwise-sync: one sync of Readwise into an Obsidian vault\n\n"
        "[Service]\nType=oneshot\n"
        "# -q: quiet unless something fails; --wait: let a running sync finish first.\n"
        f"{once_start}{hardening}"
    )
    timer = (
        f"{_HEADER}[Unit]\n"
        f"Description={schedule.description.replace('%', '%%')}\n\n"
        f"[Timer]\n{timer_lines}Unit={ONCE}\n\n"
        "[Install]\nWantedBy=timers.target\n"
    )
    return {SERVICE: service, ONCE: once, TIMER: timer}


def generic_units() -> dict[str, str]:
    """The units as shipped in the repository's systemd/ folder."""
    return systemd_units(
        [Specified("%h/.local/bin/readwise-sync")],
        [],
        [Specified("%h/Obsidian"), Specified("%S/readwise-sync")],
    )


def launchd_agent(
    command: list[str], args: list[str], log_dir: Path, environment: Mapping[str, str] | None = None
) -> bytes:
    """A macOS LaunchAgent running the daemon at login, restarted if it dies."""
    agent: dict[str, object] = {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": [*command, "daemon", *args],
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": 60,
        "StandardErrorPath": str(log_dir / "daemon.log"),
        "ProcessType": "Background",
    }
    if environment:
        agent["EnvironmentVariables"] = dict(environment)
    return plistlib.dumps(agent)


def current_command() -> list[str]:
    """The readwise-sync command that is running now, with absolute paths."""
    here = Path(sys.argv[0])
    if here.name.startswith("readwise-sync") and here.exists():
        return [str(here.absolute())]
    return [sys.executable, "-m", "readwise_sync"]  # run as `python -m readwise_sync`


def _check_token(settings: Settings, env: Mapping[str, str]) -> None:
    """Refuse a service that would start with no token: it never sees this shell's one."""
    if settings.token_source != "READWISE_TOKEN":
        if not settings.token:
            raise ConfigError(f"the service would have no Readwise token; {INIT_HINT}")
        settings.require_token()
        return
    if settings.config_file is None:
        raise ConfigError(f"the service won't see READWISE_TOKEN from this shell; {INIT_HINT}")
    # What the service will find: the same settings with no token in the environment.
    without = {key: value for key, value in env.items() if key != "READWISE_TOKEN"}
    own = load_settings(config_file=settings.config_file, env=without)
    if not own.token:
        raise ConfigError(f"the service won't see READWISE_TOKEN from this shell; {INIT_HINT}")
    own.require_token()


def service_plan(settings: Settings, env: Mapping[str, str] | None = None) -> Plan:
    """The arguments, writable folders, environment and schedule of the installed service.

    The vault, the state folder and the config file are passed as absolute paths,
    wherever they came from (an option, the environment, the config, a default):
    the service's own environment and default folders may differ from this shell's,
    and the hardening lets it write only the folders resolved here.
    """
    env = os.environ if env is None else env
    _check_token(settings, env)
    root = VaultLocations.of(settings).root
    state = settings.state_dir.expanduser().resolve()
    args = ["--vault", str(root), "--state-dir", str(state)]
    if settings.config_file is not None:
        args += ["--config", str(settings.config_file.expanduser().resolve())]
    writable = [str(root), str(state)]
    if settings.log_file is not None:
        writable.append(str(settings.log_file.expanduser().parent.resolve()))
    environment = {"READWISE_API_URL": settings.api_url} if env.get("READWISE_API_URL") else {}
    if env.get("XDG_STATE_HOME"):  # where `log_file = true` puts the log, as resolved here
        environment["XDG_STATE_HOME"] = env["XDG_STATE_HOME"]
    # A private /tmp would hide a vault, state, config or token file kept under /tmp.
    needed = [*writable, *args[1::2], str(settings.token_path or "")]
    private = not any(_under_tmp(path) for path in needed if path)
    schedule = timer_schedule(settings.interval, settings.cron)
    return Plan(args, writable, environment, schedule, private_tmp=private)


def _under_tmp(path: str) -> bool:
    real = Path(path).expanduser().resolve()
    return any(real.is_relative_to(Path(tmp).resolve()) for tmp in ("/tmp", "/var/tmp"))


def _unit_folder(home: Path) -> Path:
    return home / ".config" / "systemd" / "user"


def _agent_file(home: Path) -> Path:
    return home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"


def install(
    plan: Plan,
    *,
    timer: bool,
    home: Path | None = None,
    platform: str | None = None,
    command: list[str] | None = None,
) -> tuple[list[Path], str]:
    """Write the unit files (or the launchd agent); return them and the command enabling them."""
    home = home or Path.home()
    command = command or current_command()
    if (platform or sys.platform) == "darwin":
        target = _agent_file(home)
        log_dir = home / "Library" / "Logs" / "readwise-sync"  # platformdirs' place on macOS
        for folder in (target.parent, log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        target.write_bytes(launchd_agent(command, plan.args, log_dir, plan.environment))
        return [target], f"launchctl bootstrap gui/$(id -u) {shlex.quote(str(target))}"
    units = systemd_units(command, plan.args, plan.writable, plan)
    folder = _unit_folder(home)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in [ONCE, TIMER] if timer else [SERVICE]:
        (folder / name).write_text(units[name], encoding="utf-8")
        written.append(folder / name)
    enable = TIMER if timer else SERVICE
    return written, f"systemctl --user daemon-reload && systemctl --user enable --now {enable}"


def run_command(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``argv``, its output captured (the default runner of :func:`uninstall`)."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def _attempt(run: Runner, argv: list[str]) -> str | None:
    """Run ``argv``; None when it worked, else what went wrong, in one line."""
    try:
        result = run(argv)
    except (OSError, subprocess.SubprocessError) as exc:
        return getattr(exc, "strerror", None) or str(exc)
    if result.returncode == 0:
        return None
    said = (result.stderr or result.stdout or "").strip().splitlines()
    return said[-1] if said else f"exit code {result.returncode}"


def _remove(path: Path) -> str:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ReadwiseSyncError(f"{path}: cannot remove it ({exc.strerror})") from exc
    return f"removed {path}"


def uninstall(
    *, home: Path | None = None, platform: str | None = None, run: Runner = run_command
) -> list[str]:
    """Stop and disable what install enabled, remove the files it wrote: one line per step.

    No line at all: nothing was installed. A unit that is not running or not enabled
    is no error; the step says what systemctl or launchctl answered.
    """
    home = home or Path.home()
    if (platform or sys.platform) == "darwin":
        agent = _agent_file(home)
        if not agent.exists():
            return []
        argv = ["launchctl", "bootout", f"gui/{os.getuid()}", str(agent)]
        problem = _attempt(run, argv)
        stopped = "stopped the agent" if problem is None else f"not stopped: {problem}"
        return [f"{LAUNCHD_LABEL}: {stopped}", _remove(agent)]
    folder = _unit_folder(home)
    # The timer first, so it can't start a one-shot sync while the rest goes.
    # A symlink counts too (a unit linked from the repository's systemd/ folder): only the
    # link goes, never what it points at.
    present = [
        name
        for name in (TIMER, SERVICE, ONCE)
        if (folder / name).is_file() or (folder / name).is_symlink()
    ]
    if not present:
        return []
    lines = []
    for name in present:
        action = ["stop"] if name == ONCE else ["disable", "--now"]
        problem = _attempt(run, ["systemctl", "--user", *action, name])
        done = "stopped" if name == ONCE else "stopped and disabled"
        lines.append(f"{name}: {done}" if problem is None else f"{name}: not stopped: {problem}")
    lines += [_remove(folder / name) for name in present]
    problem = _attempt(run, ["systemctl", "--user", "daemon-reload"])
    lines.append(
        "systemd: reloaded the user units"
        if problem is None
        else f"systemd: not reloaded: {problem}"
    )
    return lines
