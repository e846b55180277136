"""A new user's first hour: `init`, the demo's guard for real notes, and `fake-server`.

Every command runs in a child process with HOME and the XDG folders in tmp_path, so the
default config file is a fresh user's and nothing touches the real home.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from readwise_sync.app.config import load_settings
from readwise_sync.app.initialize import config_text, toml_string
from readwise_sync.readwise.fakeapi import FakeReadwise

from .conftest import TOKEN, note_files, run_cli
from .factories import HANG

ODD = "odd dir 'q' \"dq\" back\\slash tab\there ünï 日本 #[x] = y"


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """The environment of a user with an empty home in tmp_path."""
    root = tmp_path / "home"
    root.mkdir()
    return {
        "HOME": str(root),
        "XDG_CONFIG_HOME": str(root / ".config"),
        "XDG_STATE_HOME": str(root / ".local" / "state"),
    }


@pytest.fixture
def obsidian_vault(tmp_path: Path) -> Path:
    path = tmp_path / "My Vault"
    (path / ".obsidian").mkdir(parents=True)
    return path


def default_config(home: dict[str, str]) -> Path:
    """The config file every command reads by default, as the child process sees it."""
    code = (
        "from readwise_sync.app.locations import default_config_file; print(default_config_file())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **home}, capture_output=True, text=True
    )
    return Path(result.stdout.strip())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# --- init ---------------------------------------------------------------------------------------


def test_init_writes_the_config_sync_and_the_service_read(
    fake: FakeReadwise, home: dict[str, str], obsidian_vault: Path
) -> None:
    args = ["init", "--vault", str(obsidian_vault), "--token", TOKEN, "--api-url", fake.url]
    result = run_cli(*args, env=home)
    assert result.returncode == 0, result.stderr
    config = default_config(home)
    token_file = config.with_name("token")
    assert str(Path(home["HOME"])) in str(config)  # the fresh user's, not the real home's
    assert f"wrote {config}" in result.stdout and f"wrote {token_file}" in result.stdout
    assert (
        "readwise-sync sync " in result.stdout and "readwise-sync service install" in result.stdout
    )
    assert "--config" not in result.stdout  # the default config: no option needed
    assert result.stderr == ""  # a real vault: no warning
    assert TOKEN not in result.stdout + config.read_text(encoding="utf-8")
    settings = load_settings(config_file=config, env={})
    assert settings.vault == obsidian_vault.resolve()
    assert settings.token == TOKEN and settings.token_path == token_file
    assert settings.api_url == fake.url
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    synced = run_cli("sync", env=home)  # no --vault, no token in the environment
    assert synced.returncode == 0, synced.stderr
    assert "4 notes created" in synced.stdout
    assert "Readwise/Books/Walden.md" in note_files(obsidian_vault)


def test_init_round_trips_any_path(
    fake: FakeReadwise, tmp_path: Path, home: dict[str, str]
) -> None:
    vault = tmp_path / ODD / ("vault " + ODD)
    vault.mkdir(parents=True)
    config = tmp_path / ODD / "conf dir" / f"readwise {ODD}.toml"
    args = ["init", "--vault", str(vault), "--token", TOKEN, "--api-url", fake.url]
    result = run_cli(*args, "--config", str(config), env=home)
    assert result.returncode == 0, result.stderr
    settings = load_settings(config_file=config, env={})
    assert settings.vault == vault.resolve()
    assert settings.token == TOKEN
    assert settings.token_path is not None and settings.token_path.parent == config.parent
    assert not default_config(home).exists()


@pytest.mark.parametrize(
    "value",
    [
        ODD,
        "C:\\Users\\me\\Vault",
        'a"b',
        "\\",
        "line\nbreak\r",
        "\x00\x1f\x7f",
        "é\u2028\ufeff",
        "",
    ],
)
def test_toml_string_reads_back_as_written(value: str) -> None:
    assert tomllib.loads(f"key = {toml_string(value)}")["key"] == value


def test_config_text_names_api_url_only_when_not_readwise() -> None:
    own = tomllib.loads(config_text(Path("/v"), Path("/t"), "https://readwise.io"))
    assert own == {"vault": "/v", "token_file": "/t"}
    other = tomllib.loads(config_text(Path("/v"), Path("/t"), "http://127.0.0.1:9"))
    assert other["api_url"] == "http://127.0.0.1:9"


def test_init_reads_the_token_from_stdin_with_umask_0(
    fake: FakeReadwise, home: dict[str, str], obsidian_vault: Path
) -> None:
    args = ["init", "--vault", str(obsidian_vault), "--token", "-", "--api-url", fake.url]
    result = run_cli(*args, env=home, stdin=TOKEN + "\n", umask=0)
    assert result.returncode == 0, result.stderr
    token_file = default_config(home).with_name("token")
    assert token_file.read_text(encoding="utf-8").strip() == TOKEN
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600  # even where files default to 0666
    assert files_under(token_file.parent) == ["config.toml", "token"]  # no temporary left


def answer_prompts(args: list[str], env: dict[str, str], answers: dict[str, str]) -> str:
    """Run ``args`` on a pseudo-terminal, typing each answer after its prompt; the screen."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("READWISE", "XDG_"))}
    full_env.update(env)
    leader, follower = os.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "readwise_sync", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=full_env,
    )
    os.close(follower)
    screen, waiting = "", dict(answers)
    try:
        while select.select([leader], [], [], 30)[0]:
            try:
                chunk = os.read(leader, 4096).decode("utf-8", "replace")
            except OSError:  # the child is gone and closed the terminal
                break
            if not chunk:
                break
            screen += chunk
            for prompt in [p for p in waiting if screen.rstrip().endswith(p)]:
                os.write(leader, (waiting.pop(prompt) + "\n").encode())
    finally:
        os.close(leader)
        assert child.wait(timeout=HANG) == 0, screen
    return screen


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_init_asks_on_a_terminal_and_hides_the_token(
    fake: FakeReadwise, home: dict[str, str], obsidian_vault: Path
) -> None:
    answers = {"Obsidian vault folder:": str(obsidian_vault), "Readwise token:": TOKEN}
    screen = answer_prompts(["init", "--api-url", fake.url], home, answers)
    assert TOKEN not in screen  # typed, never shown
    assert str(obsidian_vault) in screen  # typed and shown
    settings = load_settings(config_file=default_config(home), env={})
    assert settings.vault == obsidian_vault.resolve() and settings.token == TOKEN


def test_rejected_token_exits_3_and_writes_nothing(
    fake: FakeReadwise, home: dict[str, str], obsidian_vault: Path
) -> None:
    args = ["init", "--vault", str(obsidian_vault), "--token", "wrong", "--api-url", fake.url]
    result = run_cli(*args, env=home)
    assert result.returncode == 3
    assert len(result.stderr.splitlines()) == 1 and "rejected" in result.stderr
    assert files_under(Path(home["HOME"])) == []


def test_unreachable_api_exits_1_and_writes_nothing(
    home: dict[str, str], obsidian_vault: Path
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = run_cli(
        "init", "--vault", str(obsidian_vault), "--token", TOKEN, "--api-url", url, env=home
    )
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1 and "nothing written" in result.stderr
    assert files_under(Path(home["HOME"])) == []


def test_an_existing_config_is_replaced_only_with_force(
    fake: FakeReadwise, home: dict[str, str], obsidian_vault: Path, tmp_path: Path
) -> None:
    args = ["init", "--token", TOKEN, "--api-url", fake.url]
    assert run_cli(*args, "--vault", str(obsidian_vault), env=home).returncode == 0
    config = default_config(home)
    before = config.read_bytes()
    other = tmp_path / "other"
    other.mkdir()
    again = run_cli(*args, "--vault", str(other), env=home)
    assert again.returncode == 2
    assert again.stderr.splitlines() == [
        f"readwise-sync: {config} already exists; pass --force to replace it"
    ]
    assert config.read_bytes() == before
    forced = run_cli(*args, "--vault", str(other), "--force", env=home)
    assert forced.returncode == 0, forced.stderr
    assert load_settings(config_file=config, env={}).vault == other.resolve()


@pytest.mark.parametrize("missing", ["--vault", "--token"])
def test_without_a_terminal_a_missing_value_names_its_option(
    missing: str, home: dict[str, str], obsidian_vault: Path
) -> None:
    given = {"--vault": str(obsidian_vault), "--token": TOKEN}
    given.pop(missing)
    args = [word for pair in given.items() for word in pair]
    result = run_cli("init", *args, "--api-url", f"http://127.0.0.1:{closed_port()}", env=home)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and f"pass {missing}" in result.stderr
    assert files_under(Path(home["HOME"])) == []


def test_the_vault_is_checked(home: dict[str, str], tmp_path: Path, fake: FakeReadwise) -> None:
    a_file = tmp_path / "file.md"
    a_file.write_text("x", encoding="utf-8")
    for bad in (tmp_path / "missing", a_file):
        result = run_cli(
            "init", "--vault", str(bad), "--token", TOKEN, "--api-url", fake.url, env=home
        )
        assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
        assert str(bad) in result.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    args = ["init", "--vault", str(plain), "--token", TOKEN, "--api-url", fake.url]
    result = run_cli(*args, env=home)
    assert result.returncode == 0, result.stderr
    assert "has no .obsidian folder" in result.stderr
    assert files_under(Path(home["HOME"])) != []


def test_init_writes_where_readwise_sync_config_points(
    fake: FakeReadwise, home: dict[str, str], obsidian_vault: Path, tmp_path: Path
) -> None:
    config = tmp_path / "elsewhere" / "config.toml"
    env = {**home, "READWISE_SYNC_CONFIG": str(config)}
    args = ["init", "--vault", str(obsidian_vault), "--token", TOKEN, "--api-url", fake.url]
    result = run_cli(*args, env=env)
    assert result.returncode == 0, result.stderr
    assert config.is_file() and not default_config(home).exists()
    assert f"service install --config {config}" in result.stdout  # a service sees no env
    checked = run_cli("check", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --- demo ---------------------------------------------------------------------------------------


def test_demo_refuses_a_folder_holding_notes(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    (vault / "Daily").mkdir(parents=True)
    (vault / "Daily" / "today.md").write_text("my words\n", encoding="utf-8")
    before = files_under(vault)
    result = run_cli("demo", str(vault))
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "today.md" in result.stderr
    assert files_under(vault) == before


def test_demo_works_in_an_empty_vault_and_again(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    (vault / ".obsidian").mkdir(parents=True)
    (vault / ".obsidian" / "app.json").write_text("{}", encoding="utf-8")
    first = run_cli("demo", str(vault))
    assert first.returncode == 0, first.stderr
    assert "4 notes created" in first.stdout
    again = run_cli("demo", str(vault))
    assert again.returncode == 0, again.stderr
    assert "already up to date" in again.stdout


def test_demo_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("x", encoding="utf-8")
    result = run_cli("demo", str(target))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert target.read_text(encoding="utf-8") == "x"


# --- fake-server --------------------------------------------------------------------------------


@pytest.fixture
def serve() -> Iterator[list[subprocess.Popen[str]]]:
    """Start `fake-server` children with ``started.append``; any left running are stopped."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=HANG)


def start_server(serve: list[subprocess.Popen[str]], *args: str) -> tuple[str, str]:
    """The URL and token a started `fake-server` prints."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("READWISE", "XDG_"))}
    child = subprocess.Popen(
        [sys.executable, "-m", "readwise_sync", "fake-server", *args],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    serve.append(child)
    assert child.stdout is not None
    exports = dict(
        child.stdout.readline().removeprefix("export ").strip().split("=", 1) for _ in range(2)
    )
    return exports["READWISE_API_URL"], exports["READWISE_TOKEN"]


def test_fake_server_serves_init_and_sync(
    serve: list[subprocess.Popen[str]], home: dict[str, str], obsidian_vault: Path, tmp_path: Path
) -> None:
    url, token = start_server(serve, "--books", "9")
    assert url.startswith("http://127.0.0.1:") and token
    config = tmp_path / "try" / "config.toml"
    args = ["--vault", str(obsidian_vault), "--token", token, "--api-url", url]
    result = run_cli("init", *args, "--config", str(config), env=home)
    assert result.returncode == 0, result.stderr
    synced = run_cli("sync", "--config", str(config), env=home)
    assert synced.returncode == 0, synced.stderr
    assert "9 notes created" in synced.stdout
    assert len(note_files(obsidian_vault)) == 9
    serve[0].send_signal(signal.SIGTERM)
    assert serve[0].wait(timeout=HANG) == 0


def test_fake_server_listens_on_the_port_asked_and_stops_on_ctrl_c(
    serve: list[subprocess.Popen[str]],
) -> None:
    port = closed_port()
    url, _ = start_server(serve, "--port", str(port))
    assert url == f"http://127.0.0.1:{port}"
    serve[0].send_signal(signal.SIGINT)
    assert serve[0].wait(timeout=HANG) == 0


def test_fake_server_on_a_busy_port_is_one_line(serve: list[subprocess.Popen[str]]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run_cli("fake-server", "--port", str(busy.getsockname()[1]))
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "cannot listen" in result.stderr


def _own_terminal() -> None:
    import fcntl
    import termios

    os.setsid()  # the pty becomes the child's terminal, so Ctrl-C on it is a SIGINT
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_ctrl_c_at_the_init_prompt_exits_130_as_the_table_says(tmp_path: Path) -> None:
    import pty
    import subprocess
    import sys
    import time

    vault = tmp_path / "vault"
    vault.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("READWISE", "XDG_"))}
    env["HOME"] = str(tmp_path / "home")
    leader, follower = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "readwise_sync", "init", "--vault", str(vault)],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        preexec_fn=_own_terminal,
    )
    os.close(follower)
    said, deadline = b"", time.monotonic() + HANG
    while b"token:" not in said.lower() and time.monotonic() < deadline:
        said += os.read(leader, 1024)
    os.write(leader, b"\x03")  # Ctrl-C, through the terminal
    code = child.wait(timeout=HANG)
    os.close(leader)
    assert not (tmp_path / "home" / ".config" / "readwise-sync" / "token").exists()
    assert code == 130
