"""Service files: the shipped units, `service install` / `uninstall`, and systemd's own verdict."""

from __future__ import annotations

import os
import plistlib
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from readwise_sync.app.config import Settings
from readwise_sync.app.service import (
    ONCE,
    SERVICE,
    TIMER,
    Plan,
    generic_units,
    install,
    launchd_agent,
    service_plan,
    systemd_units,
    uninstall,
)
from readwise_sync.app.timer import cron_calendars, timer_schedule
from readwise_sync.errors import ConfigError

from .conftest import TOKEN, run_cli
from .factories import CRONS, cron_times, need, setting, systemd_words, unspecify, verify

ROOT = Path(__file__).resolve().parents[1]
AWKWARD = ["Obsidian Vault", "Bibliothèque", "100% notes"]
# Every character systemd treats specially in a unit file, in one folder name.
HOSTILE = "a b\\c \"d\" 'e' %h $HOME ${X} ; é"


def test_shipped_units_are_the_generated_ones() -> None:
    for name, text in generic_units().items():
        assert (ROOT / "systemd" / name).read_text(encoding="utf-8") == text, name


def test_shipped_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / "readwise-sync").symlink_to(
        Path(sys.executable).parent / "readwise-sync"
    )
    units = sorted((ROOT / "systemd").iterdir())
    result = verify(units, home, tmp_path)
    assert result.returncode == 0, result.stderr
    # warnings (an unknown key, a typo'd section) don't fail verify: fail on them here
    assert result.stderr.strip() == "" and result.stdout.strip() == "", result.stderr
    text = (ROOT / "systemd" / "readwise-sync.timer").read_text()
    assert "Persistent=true" in text and "OnCalendar=" in text
    service = (ROOT / "systemd" / "readwise-sync.service").read_text()
    for key in ("Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict"):
        assert key in service


def test_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    broken = tmp_path / "broken.service"
    broken.write_text("[Service]\nExecStart=/nonexistent/readwise-sync daemon\n")
    result = verify([broken], tmp_path, tmp_path)
    assert result.returncode != 0 or result.stderr.strip()


@pytest.mark.parametrize("name", [*AWKWARD, HOSTILE])
def test_paths_in_units_read_back_exactly(name: str) -> None:
    vault, state = f"/home/me/{name}", f"/home/me/.local/state/{name}"
    command = [f"/opt/{name}/bin/readwise-sync"]
    units = systemd_units(command, ["--vault", vault], [vault, state])
    for unit in units.values():
        for value in setting(unit, "ReadWritePaths"):
            assert [unspecify(word) for word in systemd_words(value)] == [f"-{vault}", f"-{state}"]
    for name_, tail in ((SERVICE, ["daemon"]), (ONCE, ["sync", "-q", "--wait", "300"])):
        (value,) = setting(units[name_], "ExecStart")
        words = [unspecify(word, exec_line=True) for word in systemd_words(value)]
        assert words == [*command, *tail, "--vault", vault]


def test_a_path_no_unit_file_can_hold_is_one_line() -> None:
    with pytest.raises(ConfigError, match="control character"):
        systemd_units(["/bin/readwise-sync"], [], ["/home/me/two\nlines"])


@pytest.mark.parametrize("name", AWKWARD)
def test_units_for_awkward_paths_pass_verify(tmp_path: Path, name: str) -> None:
    home = tmp_path / "home"
    vault, bindir = home / name, tmp_path / name / "bin"
    for folder in (vault, bindir):
        folder.mkdir(parents=True)
    (bindir / "readwise-sync").symlink_to(Path(sys.executable).parent / "readwise-sync")
    # 45m: a monotonic timer (OnActiveSec=, OnUnitActiveSec=), checked by verify as well
    schedule = timer_schedule("45m", None)
    plan = Plan(["--vault", str(vault)], [str(vault), str(home / "state")], schedule=schedule)
    written, _ = install(
        plan, timer=False, home=home, platform="linux", command=[str(bindir / "readwise-sync")]
    )
    written += install(plan, timer=True, home=home, platform="linux", command=[sys.executable])[0]
    result = verify(written, home, tmp_path)
    assert result.returncode == 0 and not (result.stderr + result.stdout).strip(), result.stderr


def timer_config(tmp_path: Path, vault: Path, extra: str = "") -> Path:
    """A config naming the vault and a token file, as `readwise-sync init` writes them."""
    token = tmp_path / "token"
    token.write_text(TOKEN, encoding="utf-8")
    config = tmp_path / "my config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'vault = "{vault}"\ntoken_file = "{token}"\n{extra}', encoding="utf-8")
    return config


@pytest.mark.parametrize("timer", [False, True])
def test_service_install_writes_units_with_this_machines_paths(
    tmp_path: Path, vault: Path, timer: bool
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "READWISE_SYNC_STATE_DIR": str(tmp_path / "state"),
        "READWISE_SYNC_CONFIG": str(timer_config(tmp_path, tmp_path / "elsewhere")),
        "XDG_CONFIG_HOME": str(home / ".config"),
    }
    args = ["service", "install", "--vault", str(vault)] + (["--timer"] if timer else [])
    result = run_cli(*args, env=env)
    assert result.returncode == 0, result.stderr
    folder = home / ".config" / "systemd" / "user"
    names = [ONCE, TIMER] if timer else [SERVICE]
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
    enable = TIMER if timer else SERVICE
    assert f"systemctl --user enable --now {enable}" in result.stdout
    unit = (folder / names[0]).read_text()
    assert f"--vault {vault.resolve()}" in unit
    assert f"ReadWritePaths=-{vault.resolve()} -{(tmp_path / 'state').resolve()}" in unit
    result = verify(sorted(folder.iterdir()), home, tmp_path)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_the_service_gets_what_this_shell_resolved(tmp_path: Path) -> None:
    """Vault, config, state folder and api_url from the environment reach the service."""
    home, vault, state = tmp_path / "home", tmp_path / "Obsidian Vault", tmp_path / "my state"
    for folder in (home, vault):
        folder.mkdir()
    config = timer_config(tmp_path, tmp_path / "not this one")
    env = {
        "HOME": str(home),
        "READWISE_SYNC_VAULT": str(vault),
        "READWISE_SYNC_CONFIG": str(config),
        "READWISE_SYNC_STATE_DIR": str(state),
        "READWISE_API_URL": "http://127.0.0.1:9/a%20b",
        "READWISE_TOKEN": "from-the-shell",  # the config's token_file is what the service uses
    }
    result = run_cli("service", "install", env=env)
    assert result.returncode == 0, result.stderr
    unit = (home / ".config" / "systemd" / "user" / SERVICE).read_text(encoding="utf-8")
    (start,) = setting(unit, "ExecStart")
    words = [unspecify(word, exec_line=True) for word in systemd_words(start)]
    assert words[words.index("daemon") + 1 :] == [
        "--vault",
        str(vault),
        "--state-dir",
        str(state),
        "--config",
        str(config),
    ]
    (environment,) = setting(unit, "Environment")
    assert [unspecify(w) for w in systemd_words(environment)] == [
        "READWISE_API_URL=http://127.0.0.1:9/a%20b"
    ]
    assert "from-the-shell" not in unit
    result = verify([home / ".config" / "systemd" / "user" / SERVICE], home, tmp_path)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


@pytest.mark.parametrize("token_in_shell", [True, False])
def test_service_install_refuses_a_service_with_no_token(
    tmp_path: Path, vault: Path, token_in_shell: bool
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    if token_in_shell:
        env["READWISE_TOKEN"] = TOKEN
    result = run_cli("service", "install", "--vault", str(vault), env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert "`readwise-sync init`" in line and TOKEN not in line
    assert ("READWISE_TOKEN" in line) == token_in_shell
    assert not (home / ".config" / "systemd").exists()


def test_a_token_only_in_the_shell_is_refused_with_a_config_too(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('interval = "30m"\n', encoding="utf-8")
    settings = Settings(vault=tmp_path, token=TOKEN, token_source="READWISE_TOKEN")
    settings.config_file = config
    with pytest.raises(ConfigError, match="READWISE_TOKEN"):
        service_plan(settings, env={"READWISE_TOKEN": TOKEN})


def test_launchd_agent_runs_the_daemon_at_login(tmp_path: Path) -> None:
    plist = plistlib.loads(
        launchd_agent(["/usr/local/bin/readwise-sync"], ["--vault", "/v"], tmp_path)
    )
    assert plist["ProgramArguments"] == ["/usr/local/bin/readwise-sync", "daemon", "--vault", "/v"]
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] == {"SuccessfulExit": False}
    assert "EnvironmentVariables" not in plist


def test_launchd_agent_gets_the_settings_and_uninstall_boots_it_out(tmp_path: Path) -> None:
    vault = tmp_path / "Obsidian Vault"
    plan = Plan(["--vault", str(vault)], [str(vault)], {"READWISE_API_URL": "http://127.0.0.1:9"})
    (agent,), enable = install(plan, timer=False, home=tmp_path, platform="darwin", command=["/rs"])
    plist = plistlib.loads(agent.read_bytes())
    assert plist["ProgramArguments"] == ["/rs", "daemon", "--vault", str(vault)]
    assert plist["EnvironmentVariables"] == {"READWISE_API_URL": "http://127.0.0.1:9"}
    assert enable.startswith("launchctl bootstrap gui/") and str(agent) in enable
    calls: list[list[str]] = []
    lines = uninstall(home=tmp_path, platform="darwin", run=recorder(calls, returncode=0))
    assert calls == [["launchctl", "bootout", f"gui/{os.getuid()}", str(agent)]]
    assert not agent.exists() and lines[-1] == f"removed {agent}" and len(lines) == 2
    assert uninstall(home=tmp_path, platform="darwin", run=recorder(calls, 0)) == []


def recorder(
    calls: list[list[str]], returncode: int, stderr: str = ""
) -> Callable[[list[str]], subprocess.CompletedProcess[str]]:
    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, returncode, "", stderr)

    return run


@pytest.mark.parametrize("timer", [False, True])
def test_uninstall_stops_and_removes_exactly_what_install_wrote(
    tmp_path: Path, timer: bool
) -> None:
    plan = Plan(["--vault", "/v"], ["/v"])
    written, _ = install(plan, timer=timer, home=tmp_path, platform="linux", command=["/rs"])
    folder = written[0].parent
    (folder / "other.service").write_text("[Service]\nExecStart=/bin/true\n")
    calls: list[list[str]] = []
    # systemctl says no to stopping a unit that was never loaded: tolerated, and said.
    lines = uninstall(home=tmp_path, platform="linux", run=recorder(calls, 5, "Unit x not loaded."))
    stop = [["systemctl", "--user", "disable", "--now", TIMER if timer else SERVICE]]
    if timer:
        stop.append(["systemctl", "--user", "stop", ONCE])
    assert calls == [*stop, ["systemctl", "--user", "daemon-reload"]]
    assert sorted(p.name for p in folder.iterdir()) == ["other.service"]
    assert [line for line in lines if line.startswith("removed ")] == [
        f"removed {path}" for path in sorted(written, key=lambda p: p.name != TIMER)
    ]
    assert len(lines) == 2 * len(written) + 1 and "not loaded" in lines[0]
    assert uninstall(home=tmp_path, platform="linux", run=recorder(calls, 0)) == []


def test_service_uninstall_command_runs_systemctl(tmp_path: Path, vault: Path) -> None:
    home, fakebin, log = tmp_path / "home", tmp_path / "bin", tmp_path / "systemctl.log"
    fakebin.mkdir()
    fake = fakebin / "systemctl"
    fake.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\n')
    fake.chmod(0o755)
    env = {"HOME": str(home), "PATH": f"{fakebin}{os.pathsep}{os.environ['PATH']}"}
    result = run_cli("service", "uninstall", env=env)
    assert (result.returncode, result.stdout.strip()) == (0, "nothing installed"), result.stderr
    env["READWISE_SYNC_CONFIG"] = str(timer_config(tmp_path, vault))
    assert run_cli("service", "install", "--timer", env=env).returncode == 0
    result = run_cli("service", "uninstall", env=env)
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [
        f"--user disable --now {TIMER}",
        f"--user stop {ONCE}",
        "--user daemon-reload",
    ]
    assert len(result.stdout.splitlines()) == 5
    assert list((home / ".config" / "systemd" / "user").iterdir()) == []


INTERVALS = [
    ("1h", ["OnCalendar=hourly"], "every hour"),
    ("30m", ["OnCalendar=*-*-* *:00/30:00"], "every 30 minutes"),
    ("15s", ["OnCalendar=*-*-* *:*:00/15", "AccuracySec=1s"], "every 15 seconds"),
    ("6h", ["OnCalendar=*-*-* 00/6:00:00"], "every 6 hours"),
    ("1d", ["OnCalendar=daily"], "every day"),
    ("45m", ["OnActiveSec=1min", "OnUnitActiveSec=45min"], "every 45 minutes"),
    ("90m", ["OnActiveSec=1min", "OnUnitActiveSec=90min"], "every 90 minutes"),
    ("2d", ["OnActiveSec=1min", "OnUnitActiveSec=2d"], "every 2 days"),
]


@pytest.mark.parametrize(("interval", "expected", "words"), INTERVALS)
def test_timer_follows_the_interval(interval: str, expected: list[str], words: str) -> None:
    schedule = timer_schedule(interval, None)
    assert schedule.description == f"Run readwise-sync {words}"
    assert set(expected) <= set(schedule.lines)
    calendar = any(line.startswith("OnCalendar=") for line in schedule.lines)
    # Persistent= only means something for a calendar timer.
    assert ("Persistent=true" in schedule.lines) == calendar


def systemd_times(calendar: str, base: datetime, count: int) -> list[datetime]:
    need("systemd-analyze")
    result = subprocess.run(
        [
            "systemd-analyze",
            "calendar",
            f"--iterations={count}",
            f"--base-time={base:%Y-%m-%d %H:%M:%S} UTC",
            calendar,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": "UTC"},
    )
    assert result.returncode == 0 and "Normalized form" in result.stdout, result.stderr
    found = re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ (\S+ \S+) UTC", result.stdout)
    return [datetime.fromisoformat(text).replace(tzinfo=UTC) for text in found]


@pytest.mark.parametrize("interval", [row[0] for row in INTERVALS])
def test_interval_calendars_are_valid_systemd_calendar_events(interval: str) -> None:
    base = datetime(2026, 3, 1, 0, 0, 30, tzinfo=UTC)
    for calendar in timer_schedule(interval, None).calendars:
        times = systemd_times(calendar, base, 3)
        step = timedelta(
            seconds=int(interval[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[interval[-1]]
        )
        assert times[2] - times[1] == times[1] - times[0] == step


@pytest.mark.parametrize(("cron", "matches"), CRONS)
def test_timer_runs_when_cron_would(cron: str, matches: Callable[[datetime], bool]) -> None:
    base, count = datetime(2026, 1, 1, tzinfo=UTC), 8
    expected = cron_times(matches, base, count)
    schedule = timer_schedule(None, cron)
    assert cron in schedule.description and "Persistent=true" in schedule.lines
    times = sorted({t for spec in schedule.calendars for t in systemd_times(spec, base, count)})
    assert times[:count] == expected


@pytest.mark.parametrize("cron", ["61 * * * *", "* * * * mon-", "*/0 * * * *", "a b c d e"])
def test_a_bad_cron_expression_is_one_config_line(cron: str) -> None:
    with pytest.raises(ConfigError) as caught:
        cron_calendars(cron)
    (line,) = caught.value.problems
    assert line.startswith(f"cron: {cron!r}")


def test_service_install_timer_uses_the_configs_schedule(tmp_path: Path, vault: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    config = timer_config(tmp_path, vault, 'cron = "0 9 1,15 * 0"\n')
    result = run_cli(
        "service",
        "install",
        "--timer",
        env={"HOME": str(home), "READWISE_SYNC_CONFIG": str(config)},
    )
    assert result.returncode == 0, result.stderr
    folder = home / ".config" / "systemd" / "user"
    timer = (folder / TIMER).read_text(encoding="utf-8")
    assert setting(timer, "OnCalendar") == ["Sun *-*-* 09:00:00", "*-*-01,15 09:00:00"]
    assert setting(timer, "Description") == [
        "Run readwise-sync on the cron schedule '0 9 1,15 * 0'"
    ]
    result = verify(sorted(folder.iterdir()), home, tmp_path)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


@pytest.mark.parametrize(
    ("vault", "private"), [("/srv/Obsidian Vault", True), ("/tmp/Obsidian Vault", False)]
)
def test_a_vault_under_tmp_is_not_hidden_by_a_private_tmp(vault: str, private: bool) -> None:
    """PrivateTmp gives the service an empty /tmp of its own: a vault kept there would be
    missing to it (exit 2 at start, and no restart)."""
    settings = Settings(
        vault=Path(vault),
        state_dir=Path("/srv/state"),
        token=TOKEN,
        token_source="token_file /srv/token",
        token_path=Path("/srv/token"),
    )
    plan = service_plan(settings, env={})
    unit = systemd_units(["/usr/bin/readwise-sync"], plan.args, plan.writable, plan)[SERVICE]
    assert setting(unit, "PrivateTmp") == ["yes" if private else "no"]


def test_the_log_folder_the_shell_resolved_is_the_services_too(tmp_path: Path) -> None:
    settings = Settings(
        vault=Path("/srv/v"), token=TOKEN, token_source="token_file /srv/t", log_file=tmp_path
    )
    plan = service_plan(settings, env={"XDG_STATE_HOME": "/srv/state home"})
    assert plan.environment == {"XDG_STATE_HOME": "/srv/state home"}
