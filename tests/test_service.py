"""Service files: the shipped units, `service install`, and systemd's own verdict on both."""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from readwise_sync.service import generic_units, launchd_agent

from .conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]


def verify(units: list[Path], home: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here (.ci/run installs it where it can)")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}
    return subprocess.run(
        ["systemd-analyze", "--user", "verify", *map(str, units)],
        env=env,
        capture_output=True,
        text=True,
        cwd=units[0].parent,
    )


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
    for setting in ("Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict"):
        assert setting in service


def test_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    broken = tmp_path / "broken.service"
    broken.write_text("[Service]\nExecStart=/nonexistent/readwise-sync daemon\n")
    result = verify([broken], tmp_path, tmp_path)
    assert result.returncode != 0 or result.stderr.strip()


@pytest.mark.parametrize("timer", [False, True])
def test_service_install_writes_units_with_this_machines_paths(
    tmp_path: Path, vault: Path, timer: bool
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "READWISE_TOKEN": "t",
        "READWISE_SYNC_STATE_DIR": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(home / ".config"),
    }
    args = ["service", "install", "--vault", str(vault)] + (["--timer"] if timer else [])
    result = run_cli(*args, env=env)
    assert result.returncode == 0, result.stderr
    folder = home / ".config" / "systemd" / "user"
    names = (
        ["readwise-sync-once.service", "readwise-sync.timer"]
        if timer
        else ["readwise-sync.service"]
    )
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
    enable = "readwise-sync.timer" if timer else "readwise-sync.service"
    assert f"systemctl --user enable --now {enable}" in result.stdout
    unit = (folder / names[0]).read_text()
    assert f"--vault {vault.resolve()}" in unit
    assert f"ReadWritePaths=-{vault.resolve()} -{(tmp_path / 'state').resolve()}" in unit
    result = verify(sorted(folder.iterdir()), home, tmp_path)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_launchd_agent_runs_the_daemon_at_login(tmp_path: Path) -> None:
    plist = plistlib.loads(
        launchd_agent(["/usr/local/bin/readwise-sync"], ["--vault", "/v"], tmp_path)
    )
    assert plist["ProgramArguments"] == ["/usr/local/bin/readwise-sync", "daemon", "--vault", "/v"]
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] == {"SuccessfulExit": False}
