"""The write window: an edit saved while its note is being written is never lost.

A real sync (the CLI, in its own process) rewrites every note of the library, every
book having changed upstream, while a thread here appends a line to a few notes about
every millisecond, the way an editor's autosave lands at any moment. After each sync
every line appended so far is in its note exactly once, in order, or, when a save
landed on the new text in the instant it was in place, in the copy the sync kept
beside the note and reported.

READWISE_SYNC_RACE_ROUNDS sets the number of syncs (default 4; the README's long run
uses 40).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from readwise_sync.readwise.fakeapi import FakeReadwise

from .conftest import TOKEN
from .factories import library

ROUNDS = int(os.environ.get("READWISE_SYNC_RACE_ROUNDS", "4"))
BOOKS = 150
TARGETS = 3  # notes the "editor" appends to, round robin


class Appender(threading.Thread):
    """Appends numbered lines to some notes until stopped, as an autosave would."""

    def __init__(self, notes: list[Path]) -> None:
        super().__init__(daemon=True)
        self.notes = notes
        self.lines: dict[Path, list[str]] = {note: [] for note in notes}
        self.halt = threading.Event()

    def run(self) -> None:
        number = 0
        while not self.halt.is_set():
            note = self.notes[number % len(self.notes)]
            line = f"typed while syncing, line {number}"
            with open(note, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
            self.lines[note].append(line)
            number += 1
            time.sleep(0.001)


def run_sync(vault: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "readwise_sync", "sync", "-q", "--vault", str(vault)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def change_every_book(fake: FakeReadwise, round_number: int) -> None:
    for book in fake.books():
        book_id = int(book["user_book_id"])  # type: ignore[arg-type]
        fake.update_highlight(book_id * 100 + 1, text=f"Round {round_number} of book {book_id}.")


def copies_of(note: Path) -> list[Path]:
    """The copies a sync kept beside a note (a save landing in the instant of a swap)."""
    return sorted(note.parent.glob(f"{note.stem} (saved during sync *).md"))


def missing_lines(appender: Appender) -> dict[str, list[str]]:
    """Per note, the appended lines found neither in the note (exactly once, in order)
    nor in a copy kept beside it. (Lines the appender writes while this reads may or may
    not be in the text read, and a line may be in the text before it is in the list.)"""
    lost: dict[str, list[str]] = {}
    for note, lines in appender.lines.items():
        before = list(lines)
        text = note.read_text(encoding="utf-8")
        after = {line: number for number, line in enumerate(lines)}
        text_lines = text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]
        typed = [line for line in text_lines if line.startswith("typed while syncing")]
        while typed and typed[-1] not in after:
            typed.pop()  # appended after the list was copied
        kept = set(typed)
        for copy in copies_of(note):
            kept.update(copy.read_text(encoding="utf-8").splitlines())
        numbers = [after.get(line, -1) for line in typed]
        in_order = numbers == sorted(set(numbers)) and -1 not in numbers
        if set(before) - kept or not in_order:
            lost[note.name] = sorted(set(before) - kept)[:5] or ["(order or duplicates)"]
    return lost


@pytest.mark.timeout(1800)  # the long run; the default one takes seconds
def test_edits_saved_while_notes_are_written_are_kept(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("READWISE", "XDG_"))}
    vault = tmp_path / "vault"
    vault.mkdir()
    with FakeReadwise(library(random.Random(11), BOOKS), token=TOKEN, page_size=50) as fake:
        # No quiet period: with one, a note saved every few milliseconds would simply be
        # left for later; without it the write protocol alone must keep every line.
        config = tmp_path / "config.toml"
        config.write_text("quiet_period = 0\n", encoding="utf-8")
        env.update(
            READWISE_TOKEN=TOKEN,
            READWISE_API_URL=fake.url,
            READWISE_SYNC_STATE_DIR=str(tmp_path / "state"),
            READWISE_SYNC_CONFIG=str(config),
        )
        first = run_sync(vault, env)
        assert first.returncode == 0, first.stderr
        notes = sorted(vault.rglob("*.md"))
        assert len(notes) == BOOKS
        appender = Appender(random.Random(5).sample(notes, TARGETS))
        appender.start()
        try:
            for round_number in range(1, ROUNDS + 1):
                change_every_book(fake, round_number)
                result = run_sync(vault, env)
                assert result.returncode == 0, result.stderr
                assert missing_lines(appender) == {}, f"after sync {round_number}"
        finally:
            appender.halt.set()
            appender.join()
        assert missing_lines(appender) == {}
        typed = sum(len(lines) for lines in appender.lines.values())
        assert typed > ROUNDS * 20  # the appends did overlap the syncs
        # A note the appends kept changing is left for the next run (a few tries a run):
        # with the editor quiet, one more sync brings every note up to date.
        assert run_sync(vault, env).returncode == 0
        assert missing_lines(appender) == {}
        for note in notes:
            assert f"Round {ROUNDS} of book" in note.read_text(encoding="utf-8")
    copies = sum(len(copies_of(note)) for note in appender.lines)
    print(
        f"\nrace test: {ROUNDS} syncs of {BOOKS} notes, {typed} lines appended, none lost;"
        f" {copies} copies kept beside a note"
    )
