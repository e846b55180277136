"""One set of checks for every command: `check` and the run agree on every problem."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from readwise_sync.app.checks import Need, preflight, problems
from readwise_sync.app.config import Settings
from readwise_sync.errors import ConfigError
from readwise_sync.readwise.fakeapi import FakeReadwise

from .conftest import TOKEN, cli_env, run_cli
from .factories import HANG, errors

BROKEN_CRON = "61 * * * *"


@pytest.fixture
def env(fake: FakeReadwise, tmp_path: Path) -> dict[str, str]:
    # The token in a file: `service install` refuses one only this shell has.
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    token_file.chmod(0o600)
    config = f'retries = 1\ntimeout = 5\ntimezone = "UTC"\ntoken_file = "{token_file}"\n'
    # HOME: where `service install` would write its units
    return {**cli_env(fake, tmp_path, config, token=None), "HOME": str(tmp_path / "home")}


def add_to_config(env: dict[str, str], text: str) -> Path:
    config = Path(env["READWISE_SYNC_CONFIG"])
    config.write_text(config.read_text(encoding="utf-8") + text, encoding="utf-8")
    return config


def each_command(vault: Path, env: dict[str, str]) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every command that runs from the settings, on ``vault`` (the daemon stops itself or
    is stopped by the timeout, which fails the test)."""
    commands = {
        "sync": ["sync"],
        "rerender": ["rerender"],
        "daemon": ["daemon"],
        "service install": ["service", "install"],
    }
    return {
        name: run_cli(*args, "--vault", str(vault), env=env, timeout=HANG)
        for name, args in commands.items()
    }


@pytest.fixture
def unwritable() -> Iterator[Callable[[Path], None]]:
    """Make a folder unwritable, even for root (immutable), and writable again after."""
    made: list[Path] = []

    def make(folder: Path) -> None:
        if os.geteuid() == 0:
            done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
            if done.returncode:
                pytest.skip("root writes anywhere and chattr +i is not available here")
        else:
            folder.chmod(0o555)
        made.append(folder)

    yield make
    for folder in made:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


# -- the schedule ---------------------------------------------------------------------------


def test_a_cron_out_of_range_stops_every_command_with_the_line_check_prints(
    env: dict[str, str], vault: Path
) -> None:
    config = add_to_config(env, f'cron = "{BROKEN_CRON}"\n')
    checked = run_cli("check", "--vault", str(vault), env=env)
    assert checked.returncode == 2
    (said,) = [line for line in checked.stderr.splitlines() if BROKEN_CRON in line]
    assert said.startswith(f"config: {config}: cron: ")
    assert "'61' is outside 0-59" in said
    ran = each_command(vault, env)
    for name, result in ran.items():
        assert result.returncode == 2, (name, result.stderr)
        if name != "service install":
            assert errors(result) == [f"readwise-sync: {said.removeprefix('config: ')}"], name
    # service install reads the cron for its timer first, in words of its own
    (line,) = errors(ran["service install"])
    assert f"cron: '{BROKEN_CRON}' is not a cron expression" in line
    assert not (Path(env["HOME"]) / ".config" / "systemd").exists()


def test_a_schedule_that_never_comes_or_cannot_be_held_is_refused(tmp_path: Path) -> None:
    settings = Settings(vault=tmp_path, token=TOKEN, cron="0 0 31 2 *")
    with pytest.raises(ConfigError, match="never comes"):
        preflight(settings, needs=Need.NOTHING)
    settings = Settings(vault=tmp_path, token=TOKEN, interval="9999999999d")
    with pytest.raises(ConfigError, match="interval: '9999999999d' is too long"):
        preflight(settings, needs=Need.NOTHING)
    settings = Settings(vault=tmp_path, token=TOKEN)
    with pytest.raises(ConfigError) as info:
        preflight(settings, needs=Need.NOTHING, interval="1h", cron="* * * * 9")
    assert info.value.problems[0].startswith("--cron: '* * * * 9' is not a cron expression")
    preflight(Settings(interval="30m", cron="*/30 * * * *"), needs=Need.NOTHING)


# -- the vault ------------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["missing", "a file"])
def test_a_vault_missing_or_a_file_is_exit_2_from_every_command(
    env: dict[str, str], tmp_path: Path, what: str
) -> None:
    vault = tmp_path / "vault"
    if what == "a file":
        vault.write_text("not a folder\n", encoding="utf-8")
    checked = run_cli("check", "--vault", str(vault), env=env)
    assert checked.returncode == 2
    (said,) = [line for line in checked.stderr.splitlines() if line.startswith("vault:")]
    for name, result in each_command(vault, env).items():
        assert result.returncode == 2, (name, result.stderr)
        (line,) = errors(result)  # check's line, worded alike (its topic said once)
        assert line.startswith("readwise-sync: "), name
        assert line.endswith(said.removeprefix("vault: ")), name


def test_status_of_a_missing_vault_is_exit_2(env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli("status", "--vault", str(tmp_path / "missing"), env=env)
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_an_unwritable_vault_is_found_by_check_and_stops_sync_in_one_line(
    env: dict[str, str], vault: Path, unwritable: Callable[[Path], None]
) -> None:
    notes = vault / "Readwise"
    notes.mkdir()
    before = sorted(os.listdir(notes))
    unwritable(notes)
    checked = run_cli("check", "--vault", str(vault), env=env)
    assert checked.returncode == 2
    (said,) = [line for line in checked.stderr.splitlines() if line.startswith("vault:")]
    assert f"cannot write in the vault folder {notes} (" in said
    result = run_cli("sync", "-v", "--vault", str(vault), env=env)
    assert result.returncode == 2
    assert errors(result) == [f"readwise-sync: {said.removeprefix('vault: ')}"]
    assert sorted(os.listdir(notes)) == before


def test_the_write_check_leaves_nothing_behind_and_tries_the_nearest_folder(
    tmp_path: Path,
) -> None:
    settings = Settings(vault=tmp_path, token=TOKEN, folder="Readwise/Deep")
    assert problems(settings, Need.WRITE) == []
    assert list(tmp_path.iterdir()) == []  # the notes folder is not made by a check
    (tmp_path / "Readwise").write_text("a file where the notes folder goes\n")
    (line,) = [p.line for p in problems(settings, Need.WRITE)]
    assert line.startswith(f"folder: {tmp_path / 'Readwise'} is a file")
    assert problems(settings, Need.VAULT) == []  # reading needs no notes folder


# -- the token ------------------------------------------------------------------------------


def test_check_and_sync_give_up_after_the_same_number_of_attempts(
    fake: FakeReadwise, env: dict[str, str], vault: Path
) -> None:
    config = Path(env["READWISE_SYNC_CONFIG"])
    config.write_text(config.read_text().replace("retries = 1", "retries = 2"), encoding="utf-8")
    fake.fail(503, times=100, path_prefix="/api/")
    checked = run_cli("check", "--vault", str(vault), env=env)
    synced = run_cli("sync", "--vault", str(vault), env=env)
    assert "token: cannot check:" in checked.stderr
    assert "gave up after 3 attempts" in checked.stderr
    assert "gave up after 3 attempts" in errors(synced)[0]


def test_a_token_that_cannot_be_sent_is_exit_2_in_check_as_in_sync(
    fake: FakeReadwise, env: dict[str, str], vault: Path
) -> None:
    env["READWISE_TOKEN"] = "abc123 def456"
    checked = run_cli("check", "--vault", str(vault), env=env)
    synced = run_cli("sync", "--vault", str(vault), env=env)
    assert checked.returncode == synced.returncode == 2
    (said,) = [line for line in checked.stderr.splitlines() if line.startswith("token:")]
    assert errors(synced) == [f"readwise-sync: {said.removeprefix('token: ')}"]
    assert "READWISE_TOKEN" in said and "abc123" not in checked.stderr + synced.stderr
    assert fake.requests == []


def wrong_token_file(env: dict[str, str], tmp_path: Path) -> Path:
    token_file = tmp_path / "token"  # the one the config names
    token_file.write_text("not-the-right-one\n", encoding="utf-8")
    return token_file


def test_check_names_the_token_file_of_a_rejected_token(
    env: dict[str, str], vault: Path, tmp_path: Path
) -> None:
    token_file = wrong_token_file(env, tmp_path)
    checked = run_cli("check", "--vault", str(vault), env=env)
    assert checked.returncode == 3
    assert f"(from token_file {token_file})" in checked.stderr
    assert "READWISE_TOKEN" not in checked.stderr


def test_sync_names_the_token_file_of_a_rejected_token(
    env: dict[str, str], vault: Path, tmp_path: Path
) -> None:
    token_file = wrong_token_file(env, tmp_path)
    synced = run_cli("sync", "--vault", str(vault), env=env)
    assert synced.returncode == 3
    (line,) = errors(synced)
    assert f"token_file {token_file}" in line and "READWISE_TOKEN" not in line


# -- no Python text -------------------------------------------------------------------------


def sync_raising(error: str, vault: Path, env: dict[str, str], *flags: str) -> tuple[int, str]:
    """A real `sync` whose engine raises ``error`` (Python source), as a bug or the OS would."""
    code = (
        "import sys, readwise_sync.app.wiring as engine\n"
        "def broken(*args, **kwargs):\n"
        f"    raise {error}\n"
        "engine.sync_once = broken\n"
        "from readwise_sync.app.cli import main\n"
        "main(sys.argv[1:], prog_name='readwise-sync')\n"
    )
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("READWISE", "XDG_"))}
    done = subprocess.run(
        [sys.executable, "-c", code, "sync", *flags, "--vault", str(vault)],
        capture_output=True,
        text=True,
        env={**full_env, **env},
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    return done.returncode, done.stderr


def test_an_os_error_is_the_file_and_the_reason_and_a_bug_is_one_plain_line(
    env: dict[str, str], vault: Path
) -> None:
    error = "PermissionError(13, 'Permission denied', '/somewhere/state.sqlite3')"
    code, stderr = sync_raising(error, vault, env)
    assert code == 1
    assert stderr.splitlines() == ["readwise-sync: /somewhere/state.sqlite3: Permission denied"]
    code, stderr = sync_raising("RuntimeError('internal words')", vault, env)
    assert code == 1
    (line,) = stderr.splitlines()
    assert line.startswith("readwise-sync: unexpected error") and "-v" in line
    assert "RuntimeError" not in line and "internal words" not in line
    code, stderr = sync_raising("RuntimeError('internal words')", vault, env, "-v")
    assert "Traceback" in stderr and "internal words" in stderr  # the details, when asked


def test_the_write_check_never_writes_outside_the_vault(tmp_path: Path) -> None:
    vault, outside = tmp_path / "vault", tmp_path / "outside"
    vault.mkdir()
    outside.mkdir()
    (vault / "Readwise").symlink_to(outside)
    watched = os.stat(outside).st_mtime_ns
    (found,) = problems(Settings(vault=vault, token=TOKEN), Need.WRITE)
    assert "is a link out of the vault" in found.line
    assert os.stat(outside).st_mtime_ns == watched and list(outside.iterdir()) == []


def test_check_does_not_call_the_vault_writable_when_notes_go_through_a_link_out_of_it(
    fake: FakeReadwise, vault: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (vault / "Readwise").symlink_to(elsewhere)  # every note would be refused by the sync
    env = {
        "READWISE_TOKEN": TOKEN,
        "READWISE_API_URL": fake.url,
        "READWISE_SYNC_STATE_DIR": str(tmp_path / "state"),
        "HOME": str(tmp_path),
    }
    checked = run_cli("check", "--vault", str(vault), env=env)
    assert "vault: ok" not in checked.stdout, checked.stdout
    assert checked.returncode == 2
