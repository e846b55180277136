"""The sync state: one SQLite database per vault.

It holds the export cursor and, per Readwise book, the note that book owns:
its path in the vault, a hash of the text last written there, and the book's
data as last fetched (so a later re-render or merge does not refetch).

Crash safety: a note write is bracketed by two transactions. Before the file
is replaced its new hash is saved as ``pending_hash``; after the rename it
becomes ``hash``. A run killed between the two finds the file equal to
``pending_hash`` and knows the text is its own, so nothing the tool wrote is
ever mistaken for a user's edit, and a claimed path is never lost. WAL mode
keeps the many small commits cheap and the database whole across kills.

The database file is created with mode 0600: it names the user's books.
"""

from __future__ import annotations

import json
import os
import sqlite3
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import StateError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notes (
    book_id      INTEGER PRIMARY KEY,
    path         TEXT NOT NULL,
    path_key     TEXT NOT NULL UNIQUE,   -- case- and normalisation-folded path, for collisions
    hash         TEXT,                   -- sha256 of the text last written and confirmed
    pending_hash TEXT,                   -- sha256 of a write that may or may not have landed
    data         BLOB                    -- zlib'd JSON of the book as last fetched
);
"""


@dataclass(frozen=True)
class NoteRecord:
    """What the state knows about the note of one book."""

    book_id: int
    path: str
    hash: str | None
    pending_hash: str | None

    def is_ours(self, text_hash: str) -> bool:
        """True when a file with this hash is exactly what the tool last wrote (or was writing)."""
        return text_hash in (self.hash, self.pending_hash)


class State:
    """The state database of one vault. Use :meth:`open`; close it when done."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, path: Path) -> State:
        """Open (creating if needed, mode 0600) the database at ``path``."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not path.exists():
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            os.chmod(path, 0o600)
            db = sqlite3.connect(path, isolation_level=None, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives a crash of the process, and the database
            # stays consistent across a power cut; that is the guarantee the notes need.
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"cannot open the state database {path}: {exc}") from exc
        state = cls(db, path)
        version = state._get_meta("schema_version")
        if version is None:
            state._set_meta("schema_version", str(SCHEMA_VERSION))
        elif int(version) > SCHEMA_VERSION:
            db.close()
            raise StateError(
                f"the state database {path} was made by a newer readwise-sync "
                f"(schema {version}); upgrade readwise-sync"
            )
        return state

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes: all of them land, or none."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- meta ---------------------------------------------------------------------------------

    def _get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def load_cursor(self) -> datetime | None:
        """The start time of the last complete sync, or None before the first one."""
        value = self._get_meta("cursor")
        return datetime.fromisoformat(value) if value else None

    def save_cursor(self, moment: datetime) -> None:
        self._set_meta("cursor", moment.isoformat())

    def load_last_run(self) -> dict[str, Any] | None:
        value = self._get_meta("last_run")
        return json.loads(value) if value else None

    def save_last_run(self, summary: dict[str, Any]) -> None:
        self._set_meta("last_run", json.dumps(summary, sort_keys=True))

    # -- notes --------------------------------------------------------------------------------

    def load_notes(self, book_ids: Iterable[int]) -> dict[int, NoteRecord]:
        """The records of these books (those that have one)."""
        ids = list(book_ids)
        found: dict[int, NoteRecord] = {}
        # Chunked: SQLite caps the number of bound parameters per statement.
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT book_id, path, hash, pending_hash FROM notes WHERE book_id IN ({marks})",
                chunk,
            )
            for row in rows:
                found[row[0]] = NoteRecord(*row)
        return found

    def count_notes(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM notes").fetchone()[0])

    def is_path_taken(self, path_key: str) -> bool:
        row = self._db.execute("SELECT 1 FROM notes WHERE path_key = ?", (path_key,)).fetchone()
        return row is not None

    def save_pending(self, book_id: int, path: str, path_key: str, pending_hash: str) -> None:
        """Record a write about to happen (claiming the path for a new note)."""
        self._db.execute(
            "INSERT INTO notes(book_id, path, path_key, pending_hash) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(book_id) DO UPDATE SET pending_hash = excluded.pending_hash",
            (book_id, path, path_key, pending_hash),
        )

    def save_written(self, book_id: int, text_hash: str) -> None:
        """Confirm a write: the file now holds the text with this hash."""
        self._db.execute(
            "UPDATE notes SET hash = ?, pending_hash = NULL WHERE book_id = ?",
            (text_hash, book_id),
        )

    def save_book_data(self, book_id: int, data: dict[str, Any]) -> None:
        """Keep the book as last fetched, for re-rendering without the network."""
        blob = zlib.compress(json.dumps(data, separators=(",", ":")).encode("utf-8"), 6)
        self._db.execute("UPDATE notes SET data = ? WHERE book_id = ?", (blob, book_id))

    def load_book_data(self, book_id: int) -> dict[str, Any] | None:
        row = self._db.execute("SELECT data FROM notes WHERE book_id = ?", (book_id,)).fetchone()
        if not row or row[0] is None:
            return None
        return json.loads(zlib.decompress(row[0]))
