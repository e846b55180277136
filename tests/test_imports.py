"""What each command imports: a cron run must not pay for what it does not use.

Not a timing test (the benchmark in bench/ has the figures): it checks which
libraries a process loaded, which is deterministic.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from readwise_sync.readwise.fakeapi import FakeReadwise

from .conftest import TOKEN

HEAVY = {"jinja2", "apscheduler", "rich", "pygments", "frontmatter", "yaml"}


# What only deciding notes needs: a sync with nothing to decide never loads it (nor,
# with no conflict recorded, the module that settles conflicts).
PLANNING = {
    "readwise_sync.engine.plan",
    "readwise_sync.engine.owners",
    "readwise_sync.notes.merge",
    "readwise_sync.notes.identity",
}


def imported(*args: str, env: dict[str, str] | None = None) -> set[str]:
    """Top-level packages a real ``readwise-sync ARGS`` process imported."""
    return {name.split(".")[0] for name in imported_modules(*args, env=env)}


def imported_modules(*args: str, env: dict[str, str] | None = None) -> set[str]:
    """Every module a real ``readwise-sync ARGS`` process imported, by its full name."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("READWISE", "XDG_"))}
    full_env.update(env or {})
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "readwise_sync", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=True,
    )
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip())
    assert "readwise_sync" in names  # the output was the import log, not something else
    return names


def test_version_imports_no_library_but_click() -> None:
    names = imported("--version")
    assert names.isdisjoint(HEAVY | {"pydantic", "httpx", "tenacity", "sqlite3", "filelock"})


def test_a_sync_with_nothing_to_do_imports_no_template_scheduler_or_terminal_library(
    tmp_path: Path,
) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    with FakeReadwise.demo(token=TOKEN) as fake:
        env = {
            "READWISE_TOKEN": TOKEN,
            "READWISE_API_URL": fake.url,
            "READWISE_SYNC_STATE_DIR": str(tmp_path / "state"),
        }
        first = imported_modules("sync", "--vault", str(vault), "-q", env=env)
        assert "jinja2" in first and first >= PLANNING  # the first sync renders notes
        again = imported_modules("sync", "--vault", str(vault), "-q", env=env)
    assert again.isdisjoint(HEAVY), again & HEAVY
    assert again.isdisjoint(PLANNING | {"readwise_sync.engine.resolving"}), again & PLANNING
    assert {"httpx", "pydantic"} <= again
