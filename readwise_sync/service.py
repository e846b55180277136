"""Service definitions: systemd user units (service, or one-shot + timer) and a launchd agent.

The files in the repository's ``systemd/`` folder are :func:`systemd_units`
with generic paths (``%h/.local/bin/readwise-sync``, ``%h/Obsidian``);
``readwise-sync service install`` writes the same units with this machine's
paths filled in (the executable running now, the vault, the state folder),
so the hardening (read-only system and home, writable vault and state only)
fits the machine it is installed on.
"""

from __future__ import annotations

import plistlib
import shlex
import sys
from pathlib import Path

SERVICE = "readwise-sync.service"
ONCE = "readwise-sync-once.service"
TIMER = "readwise-sync.timer"
LAUNCHD_LABEL = "io.github.readwise-sync"

_HARDENING = """\
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths={writable}
PrivateTmp=yes
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


def _command(words: list[str]) -> str:
    # systemd's ExecStart quoting is close enough to the shell's for paths and flags;
    # the first word stays unquoted so specifiers such as %h keep working.
    return " ".join([words[0], *(shlex.quote(word) for word in words[1:])])


def systemd_units(command: list[str], args: list[str], writable: list[str]) -> dict[str, str]:
    """The three unit files, by name.

    ``command`` runs readwise-sync, ``args`` follow its subcommand, ``writable``
    are the vault and the state folder.
    """
    # "-" before a path: a folder that doesn't exist yet is not an error at start-up.
    hardening = _HARDENING.format(writable=" ".join(f"-{path}" for path in writable))
    header = (
        "# readwise-sync: keep an Obsidian vault in step with Readwise.\n"
        "# `readwise-sync service install` writes this with your paths filled in;\n"
        "# by hand: copy to ~/.config/systemd/user/, set the vault in ReadWritePaths.\n"
    )
    service = (
        f"{header}"
        "[Unit]\n"
        "Description=readwise-sync daemon: sync Readwise into an Obsidian vault\n"
        "\n"
        "[Service]\n"
        "Type=exec\n"
        f"ExecStart={_command([*command, 'daemon', *args])}\n"
        "ExecReload=/bin/kill -HUP $MAINPID\n"
        "Restart=on-failure\n"
        "RestartSec=60\n"
        "# A bad config (2) or a rejected token (3) needs you, not a restart loop.\n"
        "RestartPreventExitStatus=2 3\n"
        "TimeoutStopSec=15\n"
        f"{hardening}"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )
    once = (
        f"{header}"
        "[Unit]\n"
        "Description=readwise-sync: one sync of Readwise into an Obsidian vault\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        "# -q: quiet unless something fails; --wait: let a running sync finish first.\n"
        f"ExecStart={_command([*command, 'sync', '-q', '--wait', '300', *args])}\n"
        f"{hardening}"
    )
    timer = (
        f"{header}"
        "[Unit]\n"
        "Description=Run readwise-sync every hour\n"
        "\n"
        "[Timer]\n"
        "OnCalendar=hourly\n"
        "RandomizedDelaySec=5min\n"
        "# A run missed while the machine was off happens at the next boot.\n"
        "Persistent=true\n"
        f"Unit={ONCE}\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
    return {SERVICE: service, ONCE: once, TIMER: timer}


def generic_units() -> dict[str, str]:
    """The units as shipped in the repository's systemd/ folder."""
    return systemd_units(["%h/.local/bin/readwise-sync"], [], ["%h/Obsidian", "%S/readwise-sync"])


def launchd_agent(command: list[str], args: list[str], log_dir: Path) -> bytes:
    """A macOS LaunchAgent running the daemon at login, restarted if it dies."""
    return plistlib.dumps(
        {
            "Label": LAUNCHD_LABEL,
            "ProgramArguments": [*command, "daemon", *args],
            "RunAtLoad": True,
            "KeepAlive": {"SuccessfulExit": False},
            "ThrottleInterval": 60,
            "StandardErrorPath": str(log_dir / "daemon.log"),
            "ProcessType": "Background",
        }
    )


def current_command() -> list[str]:
    """The readwise-sync command that is running now, with absolute paths."""
    here = Path(sys.argv[0])
    if here.name.startswith("readwise-sync") and here.exists():
        return [str(here.absolute())]
    return [sys.executable, "-m", "readwise_sync"]  # run as `python -m readwise_sync`


def install(
    *, timer: bool, args: list[str], writable: list[str], home: Path | None = None
) -> tuple[list[Path], str]:
    """Write the unit files (or the launchd agent); return them and the command enabling them."""
    home = home or Path.home()
    command = current_command()
    if sys.platform == "darwin":
        from .paths import default_log_dir

        target = home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(launchd_agent(command, args, default_log_dir()))
        return [target], f"launchctl bootstrap gui/$(id -u) {shlex.quote(str(target))}"
    units = systemd_units(command, args, writable)
    folder = home / ".config" / "systemd" / "user"
    folder.mkdir(parents=True, exist_ok=True)
    names = [ONCE, TIMER] if timer else [SERVICE]
    written = []
    for name in names:
        (folder / name).write_text(units[name], encoding="utf-8")
        written.append(folder / name)
    enable = TIMER if timer else SERVICE
    return written, f"systemctl --user daemon-reload && systemctl --user enable --now {enable}"
