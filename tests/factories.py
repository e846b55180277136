"""Libraries for the tests that need many books (the crash and race tests), cron
expressions with their meaning spelled out (the timer and daemon schedule tests), unit
files read back the way systemd reads them (the service and walkthrough tests), and the
small helpers more than one test file needs (a demo book, a wait, ruff)."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest

from readwise_sync.domain import Document
from readwise_sync.readwise.client import EXPORT_PATH
from readwise_sync.readwise.convert import to_document
from readwise_sync.readwise.fakeapi import FakeReadwise
from readwise_sync.readwise.wire import Book

ROOT = Path(__file__).resolve().parents[1]


# Seconds a child process is given before a test calls it hung: a guard, not a speed
# limit, so a busy machine never trips it.
HANG = 300


def library(rng: random.Random, count: int) -> list[dict[str, object]]:
    """``count`` books of 1 to 5 highlights each (ids ``book_id * 100 + n``), some with
    notes and tags, in the three main categories."""
    books = []
    for book_id in range(1, count + 1):
        highlights = [
            {
                "id": book_id * 100 + n,
                "text": f"Highlight {n} of book {book_id}. " + "lorem ipsum " * rng.randint(1, 30),
                "note": "a note\nover two lines" if rng.random() < 0.2 else "",
                "location": n * 10,
                "location_type": "location",
                "highlighted_at": "2024-05-01T10:00:00Z",
                "updated_at": "2024-05-01T10:00:00Z",
                "tags": [{"id": 1, "name": "tagged"}] if rng.random() < 0.2 else [],
                "url": None,
            }
            for n in range(1, rng.randint(2, 6))
        ]
        books.append(
            {
                "user_book_id": book_id,
                "title": f"Book {book_id}: a title",
                "readable_title": f"Book {book_id}",
                "author": f"Author {book_id % 37}",
                "category": rng.choice(["books", "articles", "podcasts"]),
                "asin": f"B{book_id:09d}",
                "highlights": highlights,
            }
        )
    return books


# Each cron expression with what crontab(5) means by it, as a test of one minute.
CRONS: list[tuple[str, Callable[[datetime], bool]]] = [
    (
        "*/20 9-17 * * mon-fri",
        lambda t: t.minute % 20 == 0 and 9 <= t.hour <= 17 and t.weekday() < 5,
    ),
    # both days restricted: either one matches (crontab(5)), not both
    (
        "0 9 1,15 * 0",
        lambda t: (t.minute, t.hour) == (0, 9) and (t.day in (1, 15) or t.weekday() == 6),
    ),
    # "*/2" starts with "*": not restricted, so both must match
    (
        "30 4 */2 * 7",
        lambda t: (t.minute, t.hour) == (30, 4) and t.day % 2 == 1 and t.weekday() == 6,
    ),
    ("15 */6 * jan,jul *", lambda t: t.minute == 15 and t.hour % 6 == 0 and t.month in (1, 7)),
    ("5 0 * * 5-7", lambda t: (t.minute, t.hour) == (5, 0) and t.weekday() >= 4),
    ("0,10-12 22 * * *", lambda t: t.minute in (0, 10, 11, 12) and t.hour == 22),
]


def cron_times(matches: Callable[[datetime], bool], after: datetime, count: int) -> list[datetime]:
    """The first ``count`` minutes after ``after`` that ``matches``, found one by one."""
    found: list[datetime] = []
    moment = after + timedelta(minutes=1)
    while len(found) < count:
        if matches(moment):
            found.append(moment)
        moment += timedelta(minutes=1)
    return found


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed here (.ci/run installs it where it can)")


def verify(units: list[Path], home: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze --user verify`` on ``units``, for a user whose home is ``home``."""
    need("systemd-analyze")
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


def systemd_words(value: str) -> list[str]:
    """Split a setting's value as systemd does (extract_first_word with EXTRACT_UNQUOTE):
    whitespace separates words, quotes group, a backslash takes the next character as it is.
    The C escapes ExecStart= also knows mean the same for the two escapes used, \\\\ and \\"."""
    words: list[str] = []
    chars = iter(value)
    word: str | None = None
    quote = None
    for char in chars:
        if quote is None and char in " \t":
            if word is not None:
                words.append(word)
            word = None
            continue
        word = word or ""
        if char == "\\":
            word += next(chars)
        elif quote is None and char in "'\"":
            quote = char
        elif char == quote:
            quote = None
        else:
            word += char
    assert quote is None, f"unbalanced quote in {value!r}"
    return [*words, *([word] if word is not None else [])]


def unspecify(word: str, *, exec_line: bool = False) -> str:
    """The word after specifier expansion (only %% may be left) and, on ExecStart=, $$."""
    assert re.search(r"%[^%]", word.replace("%%", "")) is None, word
    word = word.replace("%%", "%")
    if exec_line:
        assert re.search(r"\$[^$]", word.replace("$$", "")) is None, word
        word = word.replace("$$", "$")
    return word


def setting(unit: str, key: str) -> list[str]:
    """Every value of ``key=`` in the unit file's text, in order."""
    return [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith(f"{key}=")]


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    """The ruff installed beside this Python (a test dependency), run in the checkout."""
    found = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert found, "ruff is a test dependency: pip install -e '.[test]'"
    return subprocess.run([found, *args], cwd=ROOT, capture_output=True, text=True)


def demo_books() -> list[Book]:
    """The demo library the fake server serves."""
    text = (
        resources.files("readwise_sync.readwise").joinpath("demo/library.json").read_text("utf-8")
    )
    return [Book.model_validate(raw) for raw in json.loads(text)["books"]]


def demo_book(user_book_id: int) -> Book:
    """One book of the demo library the fake server serves."""
    (book,) = [b for b in demo_books() if b.user_book_id == user_book_id]
    return book


def document(raw: dict[str, object] | Book) -> Document:
    """A domain document from an export book's JSON (or the book): what a source sends."""
    return to_document(raw if isinstance(raw, Book) else Book.model_validate(raw))


def demo_document(user_book_id: int) -> Document:
    """One document of the demo library, as the source sends it."""
    return to_document(demo_book(user_book_id))


def export_requests(fake: FakeReadwise) -> list[dict[str, str]]:
    """The query of each export request the fake server has had, in order."""
    return [r.query for r in fake.requests if r.path == EXPORT_PATH]


def errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The `readwise-sync:` lines of a run; never a traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("readwise-sync:")]


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    """Whether ``condition`` holds within ``seconds`` (asked every 20 ms, and once at the end)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()
