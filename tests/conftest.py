"""Shared fixtures: a fake Readwise server on loopback, a vault, settings that point at both."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from readwise_sync.app.config import Settings
from readwise_sync.app.locations import state_db_path
from readwise_sync.readwise.client import ReadwiseClient
from readwise_sync.readwise.fakeapi import FakeReadwise
from readwise_sync.store.state import State

from .factories import HANG

# What scales a suite up to a long run (the README's Reliability section gives each).
LONG_RUNS = (
    "READWISE_SYNC_HYPOTHESIS_EXAMPLES",
    "READWISE_SYNC_HYPOTHESIS_STEPS",
    "READWISE_SYNC_HYPOTHESIS_SHRINK",
    "READWISE_SYNC_CRASH_KILLS",
    "READWISE_SYNC_RACE_ROUNDS",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first: with ``-n 2`` each worker starts on a long one and the
    short ones fill in around them, rather than a long one starting last (a run
    that ended minutes after the rest of the suite).

    A long run asked for by one of :data:`LONG_RUNS` takes as long as it takes (a
    random state-machine run of 1,500 x 25 takes over 15 minutes here): the per-test
    guard against a hang (``timeout`` in pyproject.toml) is for the default run only,
    and the tests' own waits for a child process still bound every step."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    if any(name in os.environ for name in LONG_RUNS):
        for item in items:
            item.add_marker(pytest.mark.timeout(0))


# ../shared next to the checkout: reference data we may read but must not ship.
SHARED = Path(__file__).resolve().parents[2] / "shared"
REFDATA = SHARED / "refdata"
SAMPLE_NOTE = SHARED / "reference" / "sample-note.md"
TOKEN = "test-token-5f0c1d2e3a4b"


def need_shared(path: Path) -> Path:
    """Skip the calling test when the shared reference folder is not beside the checkout."""
    if not path.exists():
        pytest.skip(f"{path} not present (../shared is only beside a development checkout)")
    return path


@pytest.fixture
def fake() -> Iterator[FakeReadwise]:
    """The demo library, served over real HTTP on 127.0.0.1."""
    with FakeReadwise.demo(token=TOKEN) as server:
        yield server


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    path = tmp_path / "vault"
    path.mkdir()
    return path


@pytest.fixture
def local(vault: Path, tmp_path: Path) -> Settings:
    """Settings with no token and no server: a sync from a source in memory needs neither."""
    return Settings(vault=vault, state_dir=tmp_path / "state", timezone="Europe/Madrid")


def settings_for(server: FakeReadwise, vault: Path, state_dir: Path, **kw: Any) -> Settings:
    """Settings for a sync of ``vault`` from ``server`` (overrides in ``kw``)."""
    options: dict[str, Any] = {"timezone": "Europe/Madrid", "timeout": 5}
    options.update(kw)
    return Settings(vault=vault, token=TOKEN, api_url=server.url, state_dir=state_dir, **options)


@pytest.fixture
def settings(fake: FakeReadwise, vault: Path, tmp_path: Path) -> Settings:
    return settings_for(fake, vault, tmp_path / "state")


def fast_client(server: FakeReadwise, **kw: object) -> ReadwiseClient:
    """A client whose backoff is milliseconds, so retry tests stay quick."""
    options: dict[str, object] = {"timeout": 5.0, "backoff": 0.01, "max_backoff": 0.05}
    options.update(kw)
    return ReadwiseClient(TOKEN, server.url, **options)  # type: ignore[arg-type]


def note_files(vault: Path) -> dict[str, str]:
    """Every visible Markdown file in the vault, by relative path."""
    return {
        p.relative_to(vault).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(vault.rglob("*.md"))
        if not any(part.startswith(".") for part in p.relative_to(vault).parts)
    }


def mtimes(vault: Path) -> dict[str, int]:
    return {p.relative_to(vault).as_posix(): p.stat().st_mtime_ns for p in vault.rglob("*.md")}


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = HANG,
    stdin: str | None = None,
    umask: int = -1,
) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point in a child process (exit codes, stderr, no
    tracebacks); ``stdin``, if given, is its standard input (never a terminal)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("READWISE", "XDG_"))}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "readwise_sync", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        umask=umask,
    )


def first_sync(settings: Settings, note: str = "Readwise/Books/Walden.md") -> tuple[Path, Path]:
    """Sync the library once; the vault, and the file of one of its notes."""
    from readwise_sync.app.wiring import sync_once

    sync_once(settings)
    assert settings.vault is not None
    return settings.vault, settings.vault / note


def load_cursor(settings: Settings) -> object:
    """The export cursor the state of ``settings``' vault holds."""
    assert settings.vault is not None
    with State.open(state_db_path(settings.state_dir, settings.vault)) as state:
        return state.load_cursor()


def cli_env(
    server: FakeReadwise, tmp_path: Path, config: str, token: str | None = TOKEN
) -> dict[str, str]:
    """The environment of a command-line run against ``server``: ``config`` as its config
    file, its state in ``tmp_path / "state"``, and ``token`` (None: no READWISE_TOKEN)."""
    path = tmp_path / "config.toml"
    path.write_text(config, encoding="utf-8")
    env = {
        "READWISE_API_URL": server.url,
        "READWISE_SYNC_STATE_DIR": str(tmp_path / "state"),
        "READWISE_SYNC_CONFIG": str(path),
    }
    return env if token is None else {"READWISE_TOKEN": token, **env}
