"""What a sync shows as it goes: the events the engine emits, the line a terminal shows,
the log line per page of -v, nothing under cron, and each left-alone note named once."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from readwise_sync.app.config import Settings
from readwise_sync.app.live import LiveLine
from readwise_sync.app.wiring import sync_once
from readwise_sync.engine.progress import TO_WRITE, PageIn, Silent, Tally
from readwise_sync.readwise.fakeapi import FakeReadwise

from .conftest import cli_env, run_cli

WALDEN = "Readwise/Books/Walden.md"
PODCAST = "Readwise/Podcasts/Episode 42 Notes That Outlive the App.md"


def test_the_line_counts_documents_decisions_and_notes_written() -> None:
    tally = Tally()
    tally.page(PageIn(documents=2, highlights=7, count=7))  # a count of the page's own
    tally.decided(1, TO_WRITE)
    tally.decided(2, "unchanged")
    assert tally.line() == "2 documents, 2 decided, 0 of 1 notes written"
    tally.decided(1, TO_WRITE)  # decided again (it changed meanwhile): still one
    tally.written(1, "created")
    assert tally.line() == "2 documents, 2 decided, 1 of 1 notes written"


def test_an_export_count_beyond_the_page_is_the_estimate_in_highlights() -> None:
    tally = Tally()
    tally.page(PageIn(documents=100, highlights=2_300, count=9_800))
    assert tally.estimate() == (2_300, 9_800)
    assert tally.line().endswith(", 2,300 of 9,800 highlights (23%)")
    tally.page(PageIn(documents=100, highlights=8_000, count=9_800))
    assert tally.estimate() is None  # more came than the count said: no estimate at all
    assert "of" not in tally.line().split("written")[1]


def test_the_live_line_renders_on_a_terminal() -> None:
    out = io.StringIO()
    line = LiveLine(console=Console(file=out, force_terminal=True, width=120)).start()
    try:
        line.page(PageIn(documents=100, highlights=2_300, count=9_800))
        line.decided(7, TO_WRITE)
        line.refresh()
        shown = out.getvalue()
    finally:
        line.stop()
    assert "syncing: 100 documents, 1 decided, 0 of 1 notes written, 2,300 of 9,800" in shown


@dataclass
class Event:
    kind: str
    value: object
    requests: int  # export requests the server had received by then


class Recorder(Silent):
    def __init__(self, fake: FakeReadwise) -> None:
        self.fake = fake
        self.events: list[Event] = []

    def _add(self, kind: str, value: object) -> None:
        served = sum(1 for r in self.fake.requests if r.path == "/api/v2/export/")
        self.events.append(Event(kind, value, served))

    def page(self, page: PageIn) -> None:
        self._add("page", page.documents)

    def decided(self, book_id: int, outcome: str) -> None:
        self._add("decided", outcome)

    def written(self, book_id: int, outcome: str) -> None:
        self._add("written", outcome)


def test_a_first_sync_reports_documents_and_decisions_while_pages_arrive(
    settings: Settings, fake: FakeReadwise
) -> None:
    fake.page_size = 1  # four pages, a document each
    fake.latency = 0.3
    recorder = Recorder(fake)
    sync_once(settings, progress=recorder)
    kinds = [e.kind for e in recorder.events]
    assert kinds == ["page", "decided"] * 4 + ["written"] * 4
    early = [e for e in recorder.events if e.requests < 4]  # before the last page was asked
    assert [e.kind for e in early][:4] == ["page", "decided", "page", "decided"]
    assert all(e.value == TO_WRITE for e in early if e.kind == "decided")
    assert [e.value for e in recorder.events if e.kind == "written"] == ["created"] * 4


@pytest.fixture
def env(fake: FakeReadwise, tmp_path: Path) -> dict[str, str]:
    # quiet_period 0: the note edited just before a sync is merged, not left for the next
    return cli_env(fake, tmp_path, 'retries = 1\ntimeout = 5\ntimezone = "UTC"\nquiet_period = 0\n')


def test_verbose_logs_one_line_per_page(
    env: dict[str, str], vault: Path, fake: FakeReadwise
) -> None:
    fake.page_size = 2  # two pages
    result = run_cli("sync", "-v", "--vault", str(vault), env=env)
    assert result.returncode == 0, result.stderr
    pages = [line.split(" INFO ", 1)[1] for line in result.stderr.splitlines() if " page " in line]
    assert pages == [
        "page 1: 2 documents, 5 highlights so far",
        "page 2: 2 documents, 29 highlights so far",  # a discarded one too
    ]


def conflict_and_deletion(vault: Path, fake: FakeReadwise) -> None:
    """After a first sync: a conflict in Walden, and the podcast deleted in Readwise."""
    note = vault / WALDEN
    text = note.read_text(encoding="utf-8")
    note.write_text(
        text.replace("Simplify, simplify.", "Simplify! (I disagree.)"), encoding="utf-8"
    )
    fake.update_highlight(701000013, text="Our life is frittered away by detail. (new edition)")
    fake.delete_book(60233871)


def test_under_cron_only_the_report_on_stdout_each_note_once(
    env: dict[str, str], vault: Path, fake: FakeReadwise
) -> None:
    first = run_cli("sync", "--vault", str(vault), env=env)
    assert first.returncode == 0 and first.stderr == ""  # no progress text, no log line
    conflict_and_deletion(vault, fake)
    result = run_cli("sync", "--vault", str(vault), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        f"{WALDEN}: has conflicts, your text kept (see `readwise-sync status`)",
        f"{PODCAST}: deleted in Readwise, kept in the vault",
        "0 notes created, 0 updated, 0 new or changed highlights,"  # the note is as it was
        " 1 with conflicts (see `readwise-sync status`)",
    ]
    quiet = run_cli("sync", "-q", "--full", "--vault", str(vault), env=env)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""


def run_on_terminal(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run the command line with stderr on a pseudo-terminal: (exit code, stdout, terminal)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("READWISE", "XDG_"))}
    full_env.update(env, TERM="xterm", COLUMNS="160")
    master, slave = pty.openpty()
    shown: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed its end
                return
            if not data:
                return
            shown.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        child = subprocess.run(
            [sys.executable, "-m", "readwise_sync", *args],
            stdout=subprocess.PIPE,
            stderr=slave,
            stdin=subprocess.DEVNULL,
            env=full_env,
            text=True,
            timeout=60,
        )
    finally:
        os.close(slave)
        reader.join(5)
        os.close(master)
    return child.returncode, child.stdout, b"".join(shown).decode(errors="replace")


def test_on_a_terminal_progress_moves_and_each_note_is_named_once(
    env: dict[str, str], vault: Path, fake: FakeReadwise
) -> None:
    fake.page_size = 1
    fake.latency = 0.3  # long enough for the line to be redrawn as pages come in
    code, out, terminal = run_on_terminal("sync", "--vault", str(vault), env=env)
    assert code == 0, terminal
    assert "syncing: 1 document, 1 decided, 0 of 1 notes written" in terminal
    assert out.splitlines() == ["4 notes created, 0 updated, 28 new or changed highlights"]
    fake.latency = 0
    conflict_and_deletion(vault, fake)
    code, out, terminal = run_on_terminal("sync", "--vault", str(vault), env=env)
    assert code == 0, terminal
    assert "conflict" not in terminal and "deleted" not in terminal
    assert sum(WALDEN in line for line in out.splitlines()) == 1
    assert sum(PODCAST in line for line in out.splitlines()) == 1
