"""The state's migrations, on a database made by release 0.1.0 (schema 2) and on a new one."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from readwise_sync.notes.naming import name_key
from readwise_sync.store.migrations import SCHEMA_VERSION, migrate
from readwise_sync.store.state import State

RELEASE = Path(__file__).resolve().parent / "fixtures" / "release-0.1.0" / "state.sqlite3"


@pytest.fixture
def db(tmp_path: Path) -> sqlite3.Connection:
    path = tmp_path / "state.sqlite3"
    shutil.copyfile(RELEASE, path)
    return sqlite3.connect(path, isolation_level=None)


def rows(db: sqlite3.Connection, sql: str) -> list[tuple[object, ...]]:
    return db.execute(sql).fetchall()


def test_schema_2_becomes_3_keeping_every_row(db: sqlite3.Connection) -> None:
    before = rows(db, "SELECT book_id, path, path_key, hash, layout, data FROM notes")
    conflicts = rows(db, "SELECT book_id, block_id, path, upstream FROM conflicts")
    assert migrate(db, 2)
    after = rows(db, "SELECT doc_id, path, path_key, released, hash, layout, data FROM notes")
    assert len(after) == len(before) == 4
    for (book_id, path, key, digest, layout, data), new in zip(
        sorted(before), sorted(after, key=lambda r: int(str(r[0]))), strict=True
    ):
        released = str(key).startswith("\0gone:")
        assert new == (str(book_id), path, name_key(str(path)), int(released), digest, layout, data)
    assert [r[3] for r in after].count(1) == 1  # the deleted note's path, let go of
    assert rows(db, "SELECT doc_id, block_id, path, upstream FROM conflicts") == [
        (str(b), block, path, upstream) for b, block, path, upstream in conflicts
    ]
    assert rows(db, "SELECT value FROM meta WHERE key = 'schema_version'") == [("3",)]
    assert rows(db, "SELECT DISTINCT account FROM notes") == [("",)]


def test_a_released_path_may_be_held_again_but_a_held_one_only_once(
    db: sqlite3.Connection,
) -> None:
    migrate(db, 2)
    ((gone_path, gone_key),) = rows(db, "SELECT path, path_key FROM notes WHERE released = 1")
    db.execute(
        "INSERT INTO notes(doc_id, path, path_key) VALUES ('new', ?, ?)", (gone_path, gone_key)
    )
    held_key = rows(db, "SELECT path_key FROM notes WHERE released = 0 AND doc_id != 'new'")[0]
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO notes(doc_id, path, path_key) VALUES ('x', 'p', ?)", held_key)


def test_a_migration_that_fails_half_way_leaves_schema_2(db: sqlite3.Connection) -> None:
    before = rows(db, "SELECT * FROM notes ORDER BY book_id")

    def refuse_the_last_step(action: int, *args: object) -> int:
        # The step fails after its rows are copied, as a full disk or a kill would.
        return sqlite3.SQLITE_DENY if action == sqlite3.SQLITE_DROP_TABLE else sqlite3.SQLITE_OK

    db.set_authorizer(refuse_the_last_step)
    with pytest.raises(sqlite3.DatabaseError):
        migrate(db, 2)
    db.set_authorizer(None)
    assert rows(db, "SELECT * FROM notes ORDER BY book_id") == before
    assert rows(db, "SELECT value FROM meta WHERE key = 'schema_version'") == [("2",)]
    assert migrate(db, 2)  # and the next run migrates


def test_a_current_database_is_left_as_it_is(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "new.sqlite3", isolation_level=None)
    assert migrate(db, None)
    changes = db.total_changes
    assert not migrate(db, SCHEMA_VERSION)
    assert db.total_changes == changes


def test_a_schema_1_database_opens_as_the_current_schema_with_its_notes_plain(
    tmp_path: Path,
) -> None:
    """Schema 1 kept no layouts: every note it wrote was a plain rendering."""
    path = tmp_path / "v1.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('schema_version', '1');"
        "CREATE TABLE notes (book_id INTEGER PRIMARY KEY, path TEXT NOT NULL,"
        " path_key TEXT NOT NULL UNIQUE, hash TEXT, pending_hash TEXT, data BLOB);"
        "INSERT INTO notes(book_id, path, path_key, hash) VALUES (7, 'A.md', 'a.md', 'h7');"
    )
    db.close()
    with State.open(path) as state:
        (record,) = state.load_notes(["7"]).values()
    assert (record.path, record.hash, record.render_hash) == ("A.md", "h7", "h7")
    assert record.was_plain
    db = sqlite3.connect(path)
    assert rows(db, "SELECT value FROM meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)
    ]
