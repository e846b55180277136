"""The state's schemas, and how a database made by an older release is brought up to date.

Schema 3, the current one:

- document ids are text (the export's are numbers, Reader's are not);
- a path let go of (its note went missing) is a ``released`` row, not a key with a NUL
  prefix; only paths still held must be unique, which a partial index says;
- the file identity of each note as last written (device, inode, size, mtime), the
  evidence a rename keeps;
- an ``account`` column in every keyed table ("" for the one account today), so several
  Readwise accounts can share a vault's state later without another migration.

Each step runs in one transaction: a migration killed half-way leaves the old schema,
and the next run migrates again. Nothing else in the package holds DDL.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from readwise_sync.notes.naming import name_key

SCHEMA_VERSION = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notes (
    account             TEXT NOT NULL DEFAULT '',
    doc_id              TEXT NOT NULL,
    path                TEXT NOT NULL,
    path_key            TEXT NOT NULL,  -- case- and normalisation-folded, for collisions
    released            INTEGER NOT NULL DEFAULT 0,  -- 1: the note went, the path is free
    hash                TEXT,  -- sha256 of the text last written and confirmed
    render_hash         TEXT,  -- sha256 of the plain rendering that write came from
    layout              BLOB,  -- packed JSON (see packing): the pieces written (merge.Layout)
    pending_hash        TEXT,  -- the same three for a write that may or may not have landed
    pending_render_hash TEXT,
    pending_layout      BLOB,
    data                BLOB,  -- packed JSON of the document as last fetched
    file_device         INTEGER,  -- the file as last written: what a rename keeps
    file_inode          INTEGER,
    file_size           INTEGER,
    file_mtime_ns       INTEGER,
    PRIMARY KEY (doc_id, account)  -- doc_id first: every lookup names the document
);
CREATE UNIQUE INDEX IF NOT EXISTS notes_by_path ON notes(path_key) WHERE released = 0;
-- "Whose note holds exactly this text?" is asked for each edited note a sync updates:
-- without these it would read the whole table each time.
CREATE INDEX IF NOT EXISTS notes_by_hash ON notes(hash);
CREATE INDEX IF NOT EXISTS notes_by_pending_hash ON notes(pending_hash);
CREATE TABLE IF NOT EXISTS conflicts (
    account     TEXT NOT NULL DEFAULT '',
    doc_id      TEXT NOT NULL,
    block_id    TEXT NOT NULL,     -- "h:<highlight id>", "fm:<key>", "s:<section>"
    path        TEXT NOT NULL,
    upstream    TEXT NOT NULL,     -- Readwise's version, "" when deleted there
    detected_at TEXT NOT NULL,
    PRIMARY KEY (doc_id, account, block_id)
);
"""

# Schema 2, what release 0.1.0 writes: ids are numbers, and a path let go of has its key
# replaced by RELEASED_2 and the book's id.
SCHEMA_2 = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notes (
    book_id             INTEGER PRIMARY KEY,
    path                TEXT NOT NULL,
    path_key            TEXT NOT NULL UNIQUE,  -- case- and normalisation-folded, for collisions
    hash                TEXT,  -- sha256 of the text last written and confirmed
    render_hash         TEXT,  -- sha256 of the plain rendering that write came from
    layout              BLOB,  -- packed JSON (see pack): the pieces written (merge.Layout)
    pending_hash        TEXT,  -- the same three for a write that may or may not have landed
    pending_render_hash TEXT,
    pending_layout      BLOB,
    data                BLOB   -- packed JSON of the book as last fetched
);
-- "Whose note holds exactly this text?" is asked for each edited note a sync updates:
-- without these it would read the whole table each time.
CREATE INDEX IF NOT EXISTS notes_by_hash ON notes(hash);
CREATE INDEX IF NOT EXISTS notes_by_pending_hash ON notes(pending_hash);
CREATE TABLE IF NOT EXISTS conflicts (
    book_id     INTEGER NOT NULL,
    block_id    TEXT NOT NULL,     -- "h:<highlight id>", "fm:<key>", "s:<section>"
    path        TEXT NOT NULL,
    upstream    TEXT NOT NULL,     -- Readwise's version, "" when deleted there
    detected_at TEXT NOT NULL,
    PRIMARY KEY (book_id, block_id)
);
"""

RELEASED_2 = "\0gone:"  # no real path starts with NUL

# Version 1 had no layouts: its notes were all plain renderings, so render_hash = hash.
_MIGRATE_1_TO_2 = """
ALTER TABLE notes ADD COLUMN render_hash TEXT;
ALTER TABLE notes ADD COLUMN layout BLOB;
ALTER TABLE notes ADD COLUMN pending_render_hash TEXT;
ALTER TABLE notes ADD COLUMN pending_layout BLOB;
UPDATE notes SET render_hash = hash;
"""

_COPIED = "path, hash, render_hash, layout, pending_hash, pending_render_hash, pending_layout, data"


def _migrate_1_to_2(db: sqlite3.Connection) -> None:
    for statement in (_MIGRATE_1_TO_2 + SCHEMA_2).split(";"):  # schema 2's new tables too
        if statement.strip():
            db.execute(statement)


def _migrate_2_to_3(db: sqlite3.Connection) -> None:
    """Text ids, ``released`` for the NUL-prefixed keys, room for file identity and an
    account. A released path's key was overwritten in schema 2: it is worked out again
    from its path, by the same rule (:func:`~readwise_sync.notes.naming.name_key`)."""
    db.execute("ALTER TABLE notes RENAME TO notes_2")
    db.execute("ALTER TABLE conflicts RENAME TO conflicts_2")
    db.execute("DROP INDEX IF EXISTS notes_by_hash")
    db.execute("DROP INDEX IF EXISTS notes_by_pending_hash")
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    rows = db.execute(f"SELECT book_id, path_key, {_COPIED} FROM notes_2").fetchall()
    db.executemany(
        f"INSERT INTO notes(doc_id, path_key, released, {_COPIED})"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [_note_row_3(row) for row in rows],
    )
    db.execute(
        "INSERT INTO conflicts(doc_id, block_id, path, upstream, detected_at)"
        " SELECT CAST(book_id AS TEXT), block_id, path, upstream, detected_at FROM conflicts_2"
    )
    db.execute("DROP TABLE notes_2")
    db.execute("DROP TABLE conflicts_2")
    retry = db.execute("SELECT value FROM meta WHERE key = 'retry'").fetchone()
    if retry is not None:
        ids = [str(book_id) for book_id in json.loads(retry[0])]
        db.execute("UPDATE meta SET value = ? WHERE key = 'retry'", (json.dumps(ids),))


def _note_row_3(row: tuple[object, ...]) -> tuple[object, ...]:
    book_id, path_key, path, *rest = row
    released = isinstance(path_key, str) and path_key.startswith(RELEASED_2)
    key = name_key(str(path)) if released else path_key
    return (str(book_id), key, int(released), path, *rest)


# From each version, the step to the next.
_STEPS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_1_to_2, 2: _migrate_2_to_3}


def migrate(db: sqlite3.Connection, version: int | None, target: int = SCHEMA_VERSION) -> bool:
    """Bring a database at ``version`` (None: new, made at :data:`SCHEMA_VERSION`) to
    ``target``, one transaction per step. Whether anything changed (a database already
    at ``target`` is left exactly as it is: a sync with nothing to do writes nothing)."""
    if version == target:
        return False
    if version is None:
        db.executescript("BEGIN;" + SCHEMA + _put_version(SCHEMA_VERSION) + "COMMIT;")
        return True
    while version < target:
        db.execute("BEGIN IMMEDIATE")
        try:
            _STEPS[version](db)
            version += 1
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    return True


def _put_version(version: int) -> str:
    return (
        "INSERT INTO meta(key, value) VALUES ('schema_version', "
        f"'{version}') ON CONFLICT(key) DO UPDATE SET value = excluded.value;"
    )
