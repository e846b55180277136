"""Crash consistency: kill -9 a real sync at random moments; nothing is ever lost or half-written.

Two vaults start identical (same library, same user edits). Readwise then changes. Vault B
gets one clean sync: the reference. Vault A gets syncs killed with SIGKILL at random moments,
resumed each time from what was left. Half the kills wait for the first note of the run to
land and kill then: notes are written in a short burst after the last page has arrived, and
a kill at a purely random moment would seldom hit it. After every kill, each note of A is
either exactly as it was before or exactly as B has it (no partial note, no lost edit), no
temporary file is visible, and the state claims no note that isn't on disk. A final clean
run makes A equal to B, byte for byte.

READWISE_SYNC_CRASH_KILLS sets the number of kills (default 35); the long run in the README
uses 200.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from readwise_sync.app.locations import state_db_path
from readwise_sync.readwise.fakeapi import FakeReadwise
from readwise_sync.store.state import State

from .conftest import TOKEN, note_files
from .factories import HANG, library

pytestmark = pytest.mark.slow  # -m 'not slow' leaves it out

KILLS = int(os.environ.get("READWISE_SYNC_CRASH_KILLS", "35"))
BOOKS = 300


def edit_like_a_user(vault: Path, rng: random.Random) -> None:
    """The same edits in both vaults: text typed at the end, under a header, into a block."""
    for path in sorted(vault.rglob("*.md"))[::3]:
        text = path.read_text(encoding="utf-8")
        choice = rng.random()
        if choice < 0.4:
            text += f"\nMy thoughts on {path.stem}.\n"
        elif choice < 0.7:
            text = text.replace("## Highlights\n", "## Highlights\nRead in May.\n", 1)
        else:
            first = next(line for line in text.splitlines() if line.startswith("- Highlight"))
            text = text.replace(first, first + " (I disagree)", 1)
        path.write_text(text, encoding="utf-8")


def change_upstream(fake: FakeReadwise, rng: random.Random) -> None:
    for book in fake.books():
        book_id = int(book["user_book_id"])  # type: ignore[arg-type]
        roll = rng.random()
        if roll < 0.5:
            fake.add_highlight(
                book_id,
                text=f"A new highlight in book {book_id}.",
                location=999,
                location_type="location",
            )
        elif roll < 0.65:
            fake.update_highlight(book_id * 100 + 1, text=f"Edited first highlight of {book_id}.")
        elif roll < 0.75:
            fake.delete_highlight(book_id * 100 + 1)


def run_sync(vault: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "readwise_sync", "sync", "-q", "--vault", str(vault)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def kill_once_writing(proc: subprocess.Popen[bytes], vault: Path, since: int) -> bool:
    """SIGKILL the run as soon as a note in the vault changes after ``since`` (ns)."""

    def changed(path: str) -> bool:
        try:
            return os.stat(path).st_mtime_ns > since
        except FileNotFoundError:
            return False

    while proc.poll() is None:
        for folder, _, files in os.walk(vault):
            notes = (name for name in files if name.endswith(".md") and name[0] != ".")
            if any(changed(os.path.join(folder, name)) for name in notes):
                proc.send_signal(signal.SIGKILL)
                return True
        time.sleep(0.002)
    return False


def visible_files(vault: Path) -> list[str]:
    return sorted(
        p.relative_to(vault).as_posix()
        for p in vault.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(vault).parts)
    )


def test_sync_survives_kill_9_at_random_moments(tmp_path: Path) -> None:
    rng = random.Random(20261126)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("READWISE", "XDG_"))}
    config = tmp_path / "config.toml"
    # quiet_period = 0: the edits are made just before the syncs, and must be merged at once
    config.write_text(
        'timezone = "UTC"\nretries = 2\ntimeout = 10\nquiet_period = 0\n', encoding="utf-8"
    )
    with FakeReadwise(library(rng, BOOKS), token=TOKEN, page_size=20) as fake:
        envs = {
            name: {
                **base_env,
                "READWISE_TOKEN": TOKEN,
                "READWISE_API_URL": fake.url,
                "READWISE_SYNC_CONFIG": str(config),
                "READWISE_SYNC_STATE_DIR": str(tmp_path / f"state-{name}"),
            }
            for name in ("A", "B")
        }
        vaults = {name: tmp_path / f"vault-{name}" for name in ("A", "B")}
        for name, vault in vaults.items():
            vault.mkdir()
            assert run_sync(vault, envs[name]).wait(timeout=120) == 0
            edit_like_a_user(vault, random.Random(7))
        assert note_files(vaults["A"]) == note_files(vaults["B"])
        change_upstream(fake, rng)
        assert run_sync(vaults["B"], envs["B"]).wait(timeout=120) == 0
        reference = note_files(vaults["B"])
        before = note_files(vaults["A"])
        assert reference != before  # there is something to do

        fake.latency = 0.02  # a far-away server: the run spans fetching and writing
        kills = mid_write = 0
        while kills < KILLS:
            started = time.time_ns()
            proc = run_sync(vaults["A"], envs["A"])
            if rng.random() < 0.5:
                kills += kill_once_writing(proc, vaults["A"], started)
            else:
                time.sleep(rng.uniform(0.25, 1.6))
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
            proc.wait(timeout=HANG)
            now = note_files(vaults["A"])
            for path, text in now.items():
                assert text in (before.get(path), reference.get(path)), f"{path} is half-done"
            done = sum(now.get(p) == t for p, t in reference.items() if before.get(p) != t)
            todo = sum(before.get(p) != t for p, t in reference.items())
            mid_write += proc.returncode != 0 and 0 < done < todo
            assert set(now) <= set(before) | set(reference)
            for path in visible_files(vaults["A"]):
                assert path.endswith(".md"), f"visible temporary file {path}"
            db = state_db_path(tmp_path / "state-A", vaults["A"])
            with State.open(db) as state:
                records = state.load_notes(range(1, BOOKS + 1))
            for record in records.values():
                if record.hash is not None:
                    assert (vaults["A"] / record.path).exists(), f"state claims {record.path}"
            if proc.returncode == 0:
                # that run finished: make more changes upstream so later kills still bite
                change_upstream(fake, rng)
                assert run_sync(vaults["B"], envs["B"]).wait(timeout=120) == 0
                before, reference = note_files(vaults["A"]), note_files(vaults["B"])
        fake.latency = 0.0
        assert run_sync(vaults["A"], envs["A"]).wait(timeout=120) == 0
    assert note_files(vaults["A"]) == note_files(vaults["B"])
    leftovers = [p for p in vaults["A"].rglob(".readwise-sync-*")]
    assert leftovers == []
    print(
        f"\ncrash test: {kills} kills ({mid_write} mid-write), {BOOKS} books, final vault identical"
    )
    assert mid_write >= kills // 10  # the kills do land while notes are being written
