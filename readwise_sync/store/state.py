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
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from readwise_sync.errors import StateError
from readwise_sync.store import migrations
from readwise_sync.store.packing import Packed, pack_once, unpack, unpack_json
from readwise_sync.store.statedb import connect, state_error
from readwise_sync.store.vault import FileId

SCHEMA_VERSION = migrations.SCHEMA_VERSION


@dataclass(frozen=True)
class NoteRecord:
    """What the state knows about the note of one book."""

    book_id: str
    path: str
    hash: str | None
    render_hash: str | None
    pending_hash: str | None
    pending_render_hash: str | None
    # The file as last written (see Vault.file_id); None before schema 3 or where the
    # filesystem keeps no inodes.
    file: FileId | None = None

    def is_ours(self, text_hash: str) -> bool:
        """True when a file with this hash is exactly what the tool last wrote (or was writing)."""
        return text_hash in (self.hash, self.pending_hash)

    @property
    def was_plain(self) -> bool:
        """True when the last write was a plain rendering (no user text merged in)."""
        return self.hash is not None and self.hash == self.render_hash


_NOTE_COLUMNS = (
    "doc_id, path, hash, render_hash, pending_hash, pending_render_hash,"
    " file_device, file_inode, file_size, file_mtime_ns"
)


def _record(row: tuple[Any, ...]) -> NoteRecord:
    doc_id, path, digest, render_hash, pending, pending_render, *file = row
    known = None if None in file else FileId(*file)
    return NoteRecord(doc_id, path, digest, render_hash, pending, pending_render, known)


def _meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def _put_meta(db: sqlite3.Connection, key: str, value: str) -> None:
    db.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def _open_database(path: Path) -> sqlite3.Connection:
    """The database at ``path``: created (mode 0600) or brought to ``SCHEMA_VERSION``."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    if stat.S_IMODE(path.stat().st_mode) != 0o600:
        os.chmod(path, 0o600)  # only when needed: a chmod is a write, even a no-op one
    db = connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit survives a crash of the process, and the database
    # stays consistent across a power cut; that is the guarantee the notes need.
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    version = _meta(db, "schema_version")
    if version is not None and int(version) > SCHEMA_VERSION:
        db.close()
        raise StateError(
            f"the state database {path} was made by a newer readwise-sync "
            f"(schema {version}); upgrade readwise-sync"
        )
    # Changes nothing when the database is at SCHEMA_VERSION already: opening the state
    # for a sync with nothing to do must change nothing on disk.
    migrations.migrate(db, None if version is None else int(version))
    return db


class State:
    """The state database of one vault. Use :meth:`open`; close it when done."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, path: Path) -> State:
        """Open (creating if needed, mode 0600) the database at ``path``."""
        try:
            return cls(_open_database(path), path)
        except (OSError, sqlite3.Error) as exc:
            raise state_error(path, exc) from exc

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
            self._db.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back already (a full disk does): tell the first error.
            if self._db.in_transaction:
                with suppress(StateError):
                    self._db.execute("ROLLBACK")
            raise

    # -- meta ---------------------------------------------------------------------------------

    def load_cursor(self) -> datetime | None:
        """The start time of the last complete sync, or None before the first one."""
        value = _meta(self._db, "cursor")
        return datetime.fromisoformat(value) if value else None

    def save_cursor(self, moment: datetime) -> None:
        _put_meta(self._db, "cursor", moment.isoformat())

    def mark_writing(self, writing: bool) -> None:
        """Set while a batch of notes is being written; a run that finds it set knows one died."""
        if writing:
            _put_meta(self._db, "writing", "1")
        else:
            self._db.execute("DELETE FROM meta WHERE key = 'writing'")

    def was_writing(self) -> bool:
        return _meta(self._db, "writing") is not None

    def load_retry(self) -> list[str]:
        """The documents the last run could not sync, to be fetched again."""
        value = _meta(self._db, "retry")
        return [str(doc_id) for doc_id in json.loads(value)] if value else []

    def save_retry(self, book_ids: list[str]) -> None:
        if book_ids:
            _put_meta(self._db, "retry", json.dumps(book_ids))
        elif _meta(self._db, "retry") is not None:
            self._db.execute("DELETE FROM meta WHERE key = 'retry'")

    def load_last_run(self) -> dict[str, Any] | None:
        value = _meta(self._db, "last_run")
        return json.loads(value) if value else None

    def save_last_run(self, summary: dict[str, Any]) -> None:
        _put_meta(self._db, "last_run", json.dumps(summary, sort_keys=True))

    # -- notes --------------------------------------------------------------------------------

    def load_notes(self, book_ids: Iterable[str]) -> dict[str, NoteRecord]:
        """The records of these documents (those that have one)."""
        ids = list(book_ids)
        found: dict[str, NoteRecord] = {}
        # Chunked: SQLite caps the number of bound parameters per statement.
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT {_NOTE_COLUMNS} FROM notes WHERE doc_id IN ({marks})"
            for row in self._db.execute(query, chunk):
                found[row[0]] = _record(row)
        return found

    def load_layout(self, book_id: str, *, pending: bool = False) -> dict[str, Any] | None:
        """The pieces last written into this note (or being written, with ``pending``)."""
        column = "pending_layout" if pending else "layout"
        row = self._db.execute(f"SELECT {column} FROM notes WHERE doc_id = ?", (book_id,))
        found = row.fetchone()
        return unpack(found[0]) if found else None

    def count_notes(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM notes").fetchone()[0])

    def load_paths(self) -> dict[str, tuple[str, bool]]:
        """Every document's recorded note path, and whether it still holds it (a path let
        go of, see :meth:`release_path`, may since be another document's)."""
        rows = self._db.execute("SELECT doc_id, path, released FROM notes")
        return {doc_id: (path, not released) for doc_id, path, released in rows}

    def is_path_taken(self, path_key: str) -> bool:
        return self.path_holder(path_key) is not None

    def path_holder(self, path_key: str) -> str | None:
        """The document whose note is at this path now (a path let go of belongs to none)."""
        row = self._db.execute(
            "SELECT doc_id FROM notes WHERE path_key = ? AND released = 0", (path_key,)
        ).fetchone()
        return None if row is None else str(row[0])

    def save_pending(
        self,
        book_id: str,
        path: str,
        path_key: str,
        text_hash: str,
        render_hash: str,
        layout: dict[str, Any] | Packed,
    ) -> None:
        """Record a write about to happen (claiming the path for a new note)."""
        # The sync decided this file is this book's note; a record of another book still
        # naming the path is stale (its note went elsewhere or is gone): let it go.
        self._db.execute(
            "UPDATE notes SET released = 1 WHERE path_key = ? AND released = 0 AND doc_id != ?",
            (path_key, book_id),
        )
        self._db.execute(
            "INSERT INTO notes(doc_id, path, path_key, pending_hash, pending_render_hash,"
            " pending_layout) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(doc_id, account) DO UPDATE"
            " SET path = excluded.path, path_key = excluded.path_key, released = 0,"
            " pending_hash = excluded.pending_hash,"
            " pending_render_hash = excluded.pending_render_hash,"
            " pending_layout = excluded.pending_layout",
            (book_id, path, path_key, text_hash, render_hash, pack_once(layout)),
        )

    def save_written(self, book_id: str, data: bytes, file: FileId | None = None) -> None:
        """Confirm the pending write: the file now holds that text. ``data``, the source's
        record of the document it was rendered from (JSON, packed or not), is kept with
        it for re-rendering without the network, and ``file``, which file the note is
        now (one row update: a first sync makes thousands)."""
        self._db.execute(
            "UPDATE notes SET hash = pending_hash, render_hash = pending_render_hash,"
            " layout = pending_layout, pending_hash = NULL, pending_render_hash = NULL,"
            " pending_layout = NULL, data = ?, file_device = ?, file_inode = ?,"
            " file_size = ?, file_mtime_ns = ? WHERE doc_id = ? AND pending_hash IS NOT NULL",
            (pack_once(data), *(file or (None,) * 4), book_id),
        )

    def drop_pending(self, book_id: str) -> None:
        """Forget a pending write that never landed (the file still holds the older text)."""
        self._db.execute(
            "UPDATE notes SET pending_hash = NULL, pending_render_hash = NULL,"
            " pending_layout = NULL WHERE doc_id = ?",
            (book_id,),
        )

    def save_path(self, book_id: str, path: str, path_key: str) -> None:
        """The user moved or renamed the note: follow it."""
        self._db.execute(
            "UPDATE notes SET path = ?, path_key = ?, released = 0 WHERE doc_id = ?",
            (path, path_key, book_id),
        )

    def find_books_by_hash(self, text_hash: str) -> list[str]:
        """The documents whose note last held exactly this text."""
        rows = self._db.execute(
            "SELECT doc_id FROM notes WHERE hash = ? OR pending_hash = ?", (text_hash, text_hash)
        )
        return [row[0] for row in rows]

    def release_path(self, book_id: str) -> None:
        """The note is gone from its path: let another note have that path."""
        self._db.execute("UPDATE notes SET released = 1 WHERE doc_id = ?", (book_id,))

    def load_record(self, book_id: str) -> bytes | None:
        """The source's record of the document, as last written (JSON text)."""
        row = self._db.execute("SELECT data FROM notes WHERE doc_id = ?", (book_id,)).fetchone()
        return unpack_json(row[0]) if row and row[0] is not None else None

    def iter_layouts(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every note's last written layout."""
        rows = self._db.execute("SELECT doc_id, layout FROM notes WHERE layout IS NOT NULL")
        for book_id, blob in rows:
            yield book_id, unpack(blob)

    def iter_records(self, batch: int = 200) -> Iterator[list[bytes]]:
        """Every stored record (JSON text, see :meth:`load_record`), in batches (for
        re-rendering without the network)."""
        last = ""
        while True:
            rows = self._db.execute(
                "SELECT doc_id, data FROM notes WHERE doc_id > ? AND data IS NOT NULL"
                " ORDER BY doc_id LIMIT ?",
                (last, batch),
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [unpack_json(data) for _, data in rows]

    # -- conflicts ----------------------------------------------------------------------------

    def save_conflicts(
        self, book_id: str, path: str, conflicts: Iterable[tuple[str, str]], detected_at: str
    ) -> None:
        """Replace the conflicts of one note with these (block id, upstream text) pairs."""
        self._db.execute("DELETE FROM conflicts WHERE doc_id = ?", (book_id,))
        self._db.executemany(
            "INSERT INTO conflicts(doc_id, block_id, path, upstream, detected_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [(book_id, block, path, upstream, detected_at) for block, upstream in conflicts],
        )

    def load_conflicts(self, book_id: str | None = None) -> list[dict[str, Any]]:
        """The conflicts waiting (of one note, when ``book_id`` is given)."""
        where = "" if book_id is None else " WHERE doc_id = ?"
        rows = self._db.execute(
            "SELECT doc_id, block_id, path, upstream, detected_at FROM conflicts"
            f"{where} ORDER BY path, block_id",
            () if book_id is None else (book_id,),
        )
        keys = ("book_id", "block_id", "path", "upstream", "detected_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]
