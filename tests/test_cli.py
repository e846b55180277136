"""The command line, run as a real child process: exit codes, one-line errors, no token leaks."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from readwise_sync import __version__
from readwise_sync.readwise.fakeapi import FakeReadwise
from readwise_sync.store.state import State

from .conftest import TOKEN, cli_env, run_cli

FAST = 'retries = 1\ntimeout = 5\ntimezone = "UTC"\n'


@pytest.fixture
def env(fake: FakeReadwise, tmp_path: Path) -> dict[str, str]:
    return cli_env(fake, tmp_path, FAST)


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"readwise-sync, version {__version__}"


def test_sync_with_only_vault_and_token(fake: FakeReadwise, vault: Path, tmp_path: Path) -> None:
    # No config file at all: --vault and a token are enough.
    env = {
        "READWISE_TOKEN": TOKEN,
        "READWISE_API_URL": fake.url,
        "XDG_CONFIG_HOME": str(tmp_path / "no-config"),
        "XDG_STATE_HOME": str(tmp_path / "xdg-state"),
    }
    result = run_cli("sync", "--vault", str(vault), env=env)
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last == "4 notes created, 0 updated, 28 new or changed highlights"
    assert (vault / "Readwise/Books/Walden.md").exists()
    assert list((tmp_path / "xdg-state").rglob("*.sqlite3"))  # state in the user state folder
    again = run_cli("sync", "--vault", str(vault), env=env)
    assert again.stdout.strip() == "0 notes created, 0 updated, 0 new or changed highlights"


def test_quiet_prints_nothing_on_success(env: dict[str, str], vault: Path) -> None:
    result = run_cli("sync", "-q", "--vault", str(vault), env=env)
    assert result.returncode == 0
    assert result.stdout == "" and result.stderr == ""


def test_dry_run_lists_changes_and_writes_nothing(env: dict[str, str], vault: Path) -> None:
    result = run_cli("sync", "--dry-run", "--vault", str(vault), env=env)
    assert result.returncode == 0
    assert "would create Readwise/Books/Walden.md: 4 highlights" in result.stdout
    assert list(vault.iterdir()) == []


def test_dry_run_with_verbose_names_each_note_once(env: dict[str, str], vault: Path) -> None:
    result = run_cli("sync", "--dry-run", "-v", "--vault", str(vault), env=env)
    assert result.returncode == 0, result.stderr
    assert "create" not in result.stderr  # the report's line, not a log line as well
    assert "deciding again" not in result.stderr  # each note decided once
    assert result.stdout.count("Readwise/Books/Walden.md") == 1


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_the_summary_counts_the_highlights_that_changed(
    env: dict[str, str], vault: Path, fake: FakeReadwise
) -> None:
    run_cli("sync", "--vault", str(vault), env=env)
    article = 45210733  # 19 highlights: one changed, one deleted, one added
    fake.update_highlight(812345603, text="Scaling, restated.")
    fake.delete_highlight(812345610)
    fake.add_highlight(article, text="A new thought.", location=9000)
    changed = run_cli("sync", "--vault", str(vault), env=env)
    assert last_line(changed) == "0 notes created, 1 updated, 3 new or changed highlights"
    status = run_cli("status", "--vault", str(vault), env=env)
    assert ": ok, 0 created, 1 updated, 3 new or changed highlights\n" in status.stdout
    as_json = json.loads(run_cli("status", "--json", "--vault", str(vault), env=env).stdout)
    assert as_json["last_run"]["highlights_changed"] == 3
    full = run_cli("sync", "--full", "--vault", str(vault), env=env)  # nothing new
    assert last_line(full) == "0 notes created, 0 updated, 0 new or changed highlights"


def test_status_reads_the_last_run_an_earlier_version_recorded(
    env: dict[str, str], vault: Path, tmp_path: Path
) -> None:
    run_cli("sync", "--vault", str(vault), env=env)
    (db,) = (tmp_path / "state").glob("*.sqlite3")
    with State.open(db) as state, state.transaction():
        last = state.load_last_run()
        assert last is not None
        del last["highlights_changed"]
        state.save_last_run({**last, "highlights": 28})  # what it counted: in the notes written
    status = run_cli("status", "--vault", str(vault), env=env)
    assert status.returncode == 0, status.stderr
    assert ": ok, 4 created, 0 updated, 28 highlights in the notes written\n" in status.stdout


@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-vv"]])
def test_rejected_token_exits_3_with_one_line_and_no_token(
    env: dict[str, str], vault: Path, verbosity: list[str]
) -> None:
    secret = "wrong-token-0123456789abcdef"
    env = {**env, "READWISE_TOKEN": secret}
    result = run_cli("sync", *verbosity, "--vault", str(vault), env=env)
    assert result.returncode == 3
    errors = [line for line in result.stderr.splitlines() if "token rejected" in line]
    assert len(errors) == 1
    if not verbosity:
        assert result.stderr.count("\n") == 1  # exactly one line
    assert secret not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_permanent_server_error_exits_1_and_keeps_the_cursor(
    env: dict[str, str], vault: Path, fake: FakeReadwise, tmp_path: Path
) -> None:
    assert run_cli("sync", "--vault", str(vault), env=env).returncode == 0
    state_files = list((tmp_path / "state").glob("*.sqlite3"))
    import sqlite3

    def cursor() -> str:
        row = sqlite3.connect(state_files[0]).execute("SELECT value FROM meta WHERE key='cursor'")
        return row.fetchone()[0]

    before = cursor()
    fake.fail(500, times=1000)
    result = run_cli("sync", "--vault", str(vault), env=env)
    assert result.returncode == 1
    assert "HTTP 500" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert cursor() == before


def test_config_errors_exit_2_one_line_each(
    env: dict[str, str], vault: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('vualt = "x"\ntimeout = "soon"\n', encoding="utf-8")
    result = run_cli("sync", "--config", str(bad), "--vault", str(vault), env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all(str(bad) in line for line in lines)
    assert "Traceback" not in result.stderr


def test_missing_token_and_missing_vault_exit_2(env: dict[str, str], tmp_path: Path) -> None:
    no_token = {k: v for k, v in env.items() if k != "READWISE_TOKEN"}
    result = run_cli("sync", "--vault", str(tmp_path), env=no_token)
    assert result.returncode == 2 and "READWISE_TOKEN" in result.stderr
    result = run_cli("sync", "--vault", str(tmp_path / "nope"), env=env)
    assert result.returncode == 2 or result.returncode == 1
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_usage_error_exits_2(env: dict[str, str]) -> None:
    assert run_cli("sync", "--no-such-flag", env=env).returncode == 2


def test_check_all_fine(env: dict[str, str], vault: Path) -> None:
    result = run_cli("check", "--vault", str(vault), env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["config", "token", "templates", "vault"]
    assert all(": ok" in line for line in lines)
    assert TOKEN not in result.stdout + result.stderr


def test_check_reports_each_problem(env: dict[str, str], tmp_path: Path) -> None:
    env = {**env, "READWISE_TOKEN": "nope-nope-nope"}
    result = run_cli("check", "--vault", str(tmp_path / "missing"), env=env)
    assert result.returncode != 0
    assert "token: rejected" in result.stderr
    assert "vault:" in result.stderr and "does not exist" in result.stderr
    assert "nope-nope-nope" not in result.stdout + result.stderr


def test_check_names_a_broken_template(env: dict[str, str], vault: Path, tmp_path: Path) -> None:
    # A sync only compiles the templates when it has a note to render, so `check` is
    # where a template mistake shows at once.
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "highlight.jinja").write_text("- {{ highlight_text ", encoding="utf-8")
    config = Path(env["READWISE_SYNC_CONFIG"])
    config.write_text(
        config.read_text(encoding="utf-8") + f'template_dir = "{templates}"\n', encoding="utf-8"
    )
    result = run_cli("check", "--vault", str(vault), env=env)
    assert result.returncode == 2
    assert f"templates: template {templates / 'highlight.jinja'}: line 1:" in result.stderr


def test_demo_works_in_a_fresh_folder(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    result = run_cli("demo", str(target), env={"XDG_STATE_HOME": str(tmp_path / "untouched")})
    assert result.returncode == 0, result.stderr
    assert "4 notes created, 0 updated, 28 new or changed highlights" in result.stdout
    assert "Readwise/Books/Walden.md" in result.stdout
    assert (target / "Readwise/Articles").is_dir()
    assert not (tmp_path / "untouched").exists()  # the demo keeps its state inside its folder
    again = run_cli("demo", str(target))
    assert again.returncode == 0 and "already up to date" in again.stdout


def test_log_file_gets_the_run_and_never_the_token(
    env: dict[str, str], vault: Path, tmp_path: Path
) -> None:
    log = tmp_path / "logs" / "sync.log"
    config = Path(env["READWISE_SYNC_CONFIG"])
    config.write_text(config.read_text() + f'log_file = "{log}"\n', encoding="utf-8")
    result = run_cli("sync", "--vault", str(vault), env=env)
    assert result.returncode == 0, result.stderr
    text = log.read_text(encoding="utf-8")
    assert "created Readwise/Books/Walden.md" in text  # INFO lines reach the file ...
    assert "created" not in result.stderr  # ... while the terminal stays quiet
    assert TOKEN not in text


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)  # the usual one, which leaves new files readable by all
    yield
    os.umask(old)


def with_log_file(env: dict[str, str], log: Path) -> None:
    config = Path(env["READWISE_SYNC_CONFIG"])
    config.write_text(config.read_text() + f'log_file = "{log}"\n', encoding="utf-8")


@pytest.mark.usefixtures("umask_022")
def test_the_log_file_is_created_private(env: dict[str, str], vault: Path, tmp_path: Path) -> None:
    log = tmp_path / "logs" / "sync.log"
    with_log_file(env, log)
    result = run_cli("sync", "--vault", str(vault), env=env)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


@pytest.mark.usefixtures("umask_022")
def test_a_rotated_log_file_stays_private_and_an_existing_mode_is_kept(
    env: dict[str, str], vault: Path, tmp_path: Path
) -> None:
    log = tmp_path / "logs" / "sync.log"
    log.parent.mkdir()
    log.write_text("x" * 1_000_000 + "\n", encoding="utf-8")  # full: the next line rotates it
    os.chmod(log, 0o640)  # the user's choice
    with_log_file(env, log)
    result = run_cli("sync", "--vault", str(vault), env=env)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(log.with_name("sync.log.1").stat().st_mode) == 0o640
    assert stat.S_IMODE(log.stat().st_mode) == 0o600  # the new one
    assert "created Readwise/Books/Walden.md" in log.read_text(encoding="utf-8")


@pytest.mark.parametrize("holder", ["token_file", "config"])
def test_sync_warns_once_of_a_token_others_can_read(
    env: dict[str, str], vault: Path, tmp_path: Path, holder: str
) -> None:
    config = Path(env["READWISE_SYNC_CONFIG"])
    if holder == "token_file":
        exposed = tmp_path / "token"
        exposed.write_text(TOKEN + "\n", encoding="utf-8")
        config.write_text(config.read_text() + f'token_file = "{exposed}"\n', encoding="utf-8")
    else:
        exposed = config
        config.write_text(config.read_text() + f'token = "{TOKEN}"\n', encoding="utf-8")
    env = {k: v for k, v in env.items() if k != "READWISE_TOKEN"}
    os.chmod(exposed, 0o644)
    result = run_cli("sync", "--vault", str(vault), env=env)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "readable by others" in line]
    assert len(warnings) == 1 and f"chmod 600 {exposed}" in warnings[0], result.stderr
    assert TOKEN not in result.stderr + result.stdout
    os.chmod(exposed, 0o600)
    quiet = run_cli("sync", "--vault", str(vault), env=env)
    assert quiet.returncode == 0 and "readable by others" not in quiet.stderr


@pytest.mark.parametrize(
    "command", [[], ["sync"], ["daemon"], ["status"], ["resolve"], ["service", "install"]]
)
def test_every_help_names_the_environment_variables(command: list[str]) -> None:
    result = run_cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    for name in (
        "READWISE_TOKEN",
        "READWISE_SYNC_VAULT",
        "READWISE_SYNC_CONFIG",
        "READWISE_SYNC_STATE_DIR",
        "READWISE_API_URL",
    ):
        assert name in result.stdout, (command, name)


def test_a_help_names_only_the_variables_its_command_reads() -> None:
    init = run_cli("init", "--help").stdout
    assert "READWISE_TOKEN" in init and "READWISE_SYNC_STATE_DIR" not in init
    for command in (["demo"], ["fake-server"], ["service", "uninstall"]):
        assert "READWISE_" not in run_cli(*command, "--help").stdout, command


def test_a_sync_with_nothing_to_do_leaves_the_vaults_folders_as_they_were(
    env: dict[str, str], vault: Path
) -> None:
    """Its checks ask the system; they make no file (a sync client would see the folder
    change, an SD card takes the write)."""
    for _ in range(2):  # the books changed just before the first run come back once
        assert run_cli("sync", "--vault", str(vault), env=env).returncode == 0
    folders = {p: p.stat().st_mtime_ns for p in [vault, *vault.rglob("*")] if p.is_dir()}
    time.sleep(0.01)  # a file made and removed would show in the mtimes
    assert run_cli("sync", "--vault", str(vault), env=env).returncode == 0
    assert {p: p.stat().st_mtime_ns for p in folders} == folders


def test_words_of_the_users_kept_apart_are_named_even_with_q(
    env: dict[str, str], vault: Path, fake: FakeReadwise
) -> None:
    """A save a killed run had set aside comes back as a note of its own; -q (the timer's
    one-shot, cron) must still say so, it is the user's text."""
    assert run_cli("sync", "--vault", str(vault), env=env).returncode == 0
    books = vault / "Readwise" / "Books"
    (books / ".readwise-sync-swap-0123456789abcdef-fedcba9876543210.tmp").write_text(
        "My words, saved in the instant of a swap.\n", encoding="utf-8"
    )
    fake.update_highlight(701000013, text="Edited in Readwise, to write in that folder.")
    quiet = run_cli("sync", "-q", "--vault", str(vault), env=env)
    assert quiet.returncode == 0 and quiet.stdout == ""
    (kept,) = books.glob("Recovered*.md")
    assert kept.read_text(encoding="utf-8") == "My words, saved in the instant of a swap.\n"
    assert f"{kept.relative_to(vault).as_posix()}: a version you saved" in quiet.stderr
