"""Fault injection through the fake server, end to end through the real command line.

Every fault ends either in a complete sync (exit 0, the vault as a clean run makes it) or in
one clear line and exit 1 with the cursor and every note as they were; none hangs past its
timeout; and the token shows up nowhere: not in the output at -vv, not in the state, not in
a log file.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from readwise_sync.readwise.fakeapi import FakeReadwise

from .conftest import TOKEN, cli_env, note_files, run_cli

WALDEN = "Readwise/Books/Walden.md"
SECRET = "sEcReT-t0ken-9f8e7d6c5b4a"

FAULTS: dict[str, Callable[[FakeReadwise], None]] = {
    "429 with Retry-After": lambda f: f.throttle(1, times=2),
    "429 without Retry-After": lambda f: f.throttle(None, times=1),
    "500 burst": lambda f: f.fail(500, times=2),
    "502 burst": lambda f: f.fail(502, times=2, body="<html>bad gateway</html>"),
    "503 burst": lambda f: f.fail(503, times=2),
    "dropped connection": lambda f: f.drop(times=2),
    "dropped mid-body": lambda f: f.drop(times=2, mid_body=True),
    "slow answer": lambda f: f.delay(5, times=1),
    "permanent 500": lambda f: f.fail(500, times=100),
    "permanent 503": lambda f: f.fail(503, times=100),
    "always dropped": lambda f: f.drop(times=100),
    "always too slow": lambda f: f.delay(5, times=100),
    "truncated JSON": lambda f: f.garbage(b'{"count": 3, "nextPageCursor": null, "resu'),
    "not JSON at all": lambda f: f.garbage(b"<html>maintenance</html>"),
    "missing field": lambda f: f.garbage(
        b'{"count": 1, "nextPageCursor": null, "results": [{"title": "no id", "highlights": []}]}'
    ),
    "string for a number": lambda f: f.garbage(
        b'{"count": 1, "nextPageCursor": null, "results": [{"user_book_id": 38100452,'
        b' "highlights": [{"id": 1, "location": "ten", "text": "x"}]}]}'
    ),
    "body trickling for ever": lambda f: f.endless(interval=0.02, chunk=b" "),
    "body that never ends": lambda f: f.endless(times=100),
    "gzip bomb": lambda f: f.gzip_bomb(times=100),
    "Retry-After of 10**9": lambda f: f.throttle(10**9, times=100),
    "Retry-After of inf": lambda f: f.throttle("inf", times=100),
    "cursor changing for ever": lambda f: f.endless_cursor(times=1000, fresh=True, count=1000),
    "same page for ever": lambda f: f.endless_cursor(times=1000),
    "JSON nested too deeply": lambda f: f.garbage(b"[" * 100_000 + b"]" * 100_000),
}
# A record that can't be read costs that record: the rest syncs, the run says which one
# (exit 5) and keeps the cursor, so the next run asks again.
PARTIAL = {"missing field"}
# Faults that retrying can't cure; the others must end in a complete sync.
PERMANENT = {
    "permanent 500",
    "permanent 503",
    "always dropped",
    "always too slow",
    "truncated JSON",
    "not JSON at all",
    "body that never ends",
    "gzip bomb",
    "Retry-After of 10**9",
    "Retry-After of inf",
    "cursor changing for ever",
    "same page for ever",
    "JSON nested too deeply",
}


@pytest.fixture
def env(fake: FakeReadwise, tmp_path: Path) -> dict[str, str]:
    fake.token = SECRET
    log = tmp_path / "logs" / "sync.log"
    config = f'timezone = "UTC"\nretries = 2\ntimeout = 1\nlog_file = "{log}"\n'
    return cli_env(fake, tmp_path, config, token=SECRET)


def cursor(state_dir: Path) -> str | None:
    (db,) = state_dir.glob("*.sqlite3")
    row = sqlite3.connect(db).execute("SELECT value FROM meta WHERE key='cursor'").fetchone()
    return row[0] if row else None


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_ends_in_a_full_sync_or_one_clean_error(
    fault: str, fake: FakeReadwise, vault: Path, env: dict[str, str], tmp_path: Path
) -> None:
    assert run_cli("sync", "-q", "--vault", str(vault), env=env).returncode == 0
    fake.add_highlight(38100452, text="Arrived after the fault.", location=5000)
    before_notes, before_cursor = note_files(vault), cursor(tmp_path / "state")
    FAULTS[fault](fake)
    started = time.monotonic()
    result = run_cli("sync", "-vv", "--vault", str(vault), env=env, timeout=90)
    took = time.monotonic() - started
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    if fault in PERMANENT:
        assert result.returncode == 1, output
        errors = [line for line in result.stderr.splitlines() if line.startswith("readwise-sync:")]
        assert len(errors) == 1, result.stderr
        assert note_files(vault) == before_notes
        assert cursor(tmp_path / "state") == before_cursor
    elif fault in PARTIAL:
        assert result.returncode == 5, output
        errors = [line for line in result.stderr.splitlines() if line.startswith("readwise-sync:")]
        assert errors == [], result.stderr  # not a failed run
        assert 'book #1 ("no id"): no user_book_id' in result.stdout
        assert cursor(tmp_path / "state") == before_cursor  # asked again next run
    else:
        assert result.returncode == 0, output
        assert "Arrived after the fault." in note_files(vault)[WALDEN]
        assert (cursor(tmp_path / "state") or "") >= (before_cursor or "")  # Date: whole seconds
        if fault == "string for a number":  # read as none, with one warning naming it
            assert "book 38100452: odd values read leniently" in output
            assert "location" in output
    assert took < 60  # bounded: every request has a timeout, every retry a budget
    # the token is nowhere: output at -vv, the state, the log file
    assert SECRET not in output
    for path in (tmp_path / "state").iterdir():
        assert SECRET.encode() not in path.read_bytes(), path
    log = tmp_path / "logs" / "sync.log"
    assert SECRET not in log.read_text(encoding="utf-8")
    fake.clear_faults()


def test_check_warns_when_the_config_holding_the_token_is_readable_by_others(
    tmp_path: Path, vault: Path, fake: FakeReadwise
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'token = "{TOKEN}"\napi_url = "{fake.url}"\n', encoding="utf-8")
    os.chmod(config, 0o644)
    env = {"READWISE_SYNC_CONFIG": str(config), "READWISE_SYNC_STATE_DIR": str(tmp_path / "s")}
    result = run_cli("check", "--vault", str(vault), env=env)
    assert "readable by others" in result.stdout + result.stderr
    assert f"chmod 600 {config}" in result.stdout + result.stderr
    assert TOKEN not in result.stdout + result.stderr
    os.chmod(config, 0o600)
    result = run_cli("check", "--vault", str(vault), env=env)
    assert result.returncode == 0 and "readable by others" not in result.stdout + result.stderr
