"""The state database: private, versioned, crash-tolerant bookkeeping."""

from __future__ import annotations

import json
import sqlite3
import time
import zlib
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from readwise_sync.app.locations import state_db_path
from readwise_sync.errors import StateError
from readwise_sync.store.state import SCHEMA_VERSION, State


def test_created_private_with_a_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "state" / "v.sqlite3"
    with State.open(path):
        pass
    assert path.stat().st_mode & 0o777 == 0o600
    row = sqlite3.connect(path).execute("SELECT value FROM meta WHERE key='schema_version'")
    assert row.fetchone() == (str(SCHEMA_VERSION),)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite3"
    with State.open(path):
        pass
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="newer readwise-sync"):
        State.open(path)


def test_unusable_file_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError):
        State.open(path)


def test_cursor_round_trip(tmp_path: Path) -> None:
    moment = datetime(2024, 11, 18, 20, 11, 7, 838000, tzinfo=UTC)
    with State.open(tmp_path / "v.sqlite3") as state:
        assert state.load_cursor() is None
        state.save_cursor(moment)
    with State.open(tmp_path / "v.sqlite3") as state:
        assert state.load_cursor() == moment


def test_pending_then_written(tmp_path: Path) -> None:
    with State.open(tmp_path / "v.sqlite3") as state:
        with state.transaction():
            state.save_pending(
                "7", "Readwise/Books/A.md", "readwise/books/a.md", "h1", "h1", {"blocks": []}
            )
        record = state.load_notes(["7", "8"])["7"]
        assert record.hash is None and record.pending_hash == "h1"
        assert record.is_ours("h1") and not record.is_ours("h2")
        assert state.is_path_taken("readwise/books/a.md")
        with state.transaction():
            state.save_written("7", b'{"user_book_id": 7, "title": "A"}')
        record = state.load_notes(["7"])["7"]
        assert (record.hash, record.pending_hash) == ("h1", None)
        assert record.was_plain
        assert state.load_layout("7") == {"blocks": []}
        assert state.load_record("7") == b'{"user_book_id": 7, "title": "A"}'
        assert state.count_notes() == 1


def test_data_packed_by_an_earlier_version_still_reads(tmp_path: Path) -> None:
    """Earlier versions packed with zlib; an upgrade must not lose the stored books."""
    book = {"user_book_id": 7, "title": "Caf\u00e9", "highlights": [{"id": 1, "text": "x" * 500}]}
    with State.open(tmp_path / "v.sqlite3") as state, state.transaction():
        state.save_pending("7", "A.md", "a.md", "h1", "h1", {"blocks": []})
        state.save_written("7", json.dumps(book).encode())
    db = sqlite3.connect(tmp_path / "v.sqlite3")
    (blob,) = db.execute("SELECT data FROM notes").fetchone()
    assert blob[:4] == b"\x28\xb5\x2f\xfd"  # zstd now
    old = zlib.compress(json.dumps(book).encode(), 1)
    db.execute("UPDATE notes SET data = ?, layout = ?", (old, zlib.compress(b'{"blocks":[1]}')))
    db.commit()
    db.close()
    with State.open(tmp_path / "v.sqlite3") as state:
        assert json.loads(state.load_record("7") or b"") == book
        assert state.load_layout("7") == {"blocks": [1]}
        assert [json.loads(raw) for raw in next(state.iter_records())] == [book]  # rerender


def test_opening_an_up_to_date_state_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite3"
    with State.open(path) as state, state.transaction():
        state.save_cursor(datetime(2024, 1, 1, tzinfo=UTC))
    before = (path.stat().st_mtime_ns, path.stat().st_ctime_ns, path.read_bytes())
    time.sleep(0.01)
    with State.open(path) as state:
        state.load_cursor()
    assert (path.stat().st_mtime_ns, path.stat().st_ctime_ns, path.read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.sqlite3"]


def test_a_released_path_is_listed_as_let_go_and_may_be_held_by_another(tmp_path: Path) -> None:
    with State.open(tmp_path / "v.sqlite3") as state, state.transaction():
        state.save_pending("1", "A.md", "a.md", "h1", "h1", {"blocks": []})
        state.save_written("1", b'{"user_book_id": 1}')
        state.release_path("1")
        state.save_pending("2", "A.md", "a.md", "h2", "h2", {"blocks": []})
        state.save_written("2", b'{"user_book_id": 2}')
        assert state.load_paths() == {"1": ("A.md", False), "2": ("A.md", True)}
        assert state.path_holder("a.md") == "2"
        # the first document's note found again at its path: it holds the path once more,
        # and the one that took it meanwhile lets go of it
        state.save_pending("1", "A.md", "a.md", "h3", "h3", {"blocks": []})
        assert state.load_paths() == {"1": ("A.md", True), "2": ("A.md", False)}
        assert state.path_holder("a.md") == "1"


def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    with State.open(tmp_path / "v.sqlite3") as state:
        with pytest.raises(RuntimeError), state.transaction():
            state.save_pending("7", "A.md", "a.md", "h1", "h1", {})
            raise RuntimeError("killed")
        assert state.load_notes(["7"]) == {}


def test_many_ids_load_in_chunks(tmp_path: Path) -> None:
    with State.open(tmp_path / "v.sqlite3") as state:
        with state.transaction():
            for i in range(1200):
                state.save_pending(str(i), f"{i}.md", f"{i}.md", "h", "h", {})
        assert len(state.load_notes(str(i) for i in range(1500))) == 1200


def test_one_database_per_vault(tmp_path: Path) -> None:
    (tmp_path / "a" / "vault").mkdir(parents=True)
    (tmp_path / "b" / "vault").mkdir(parents=True)
    first = state_db_path(tmp_path / "s", tmp_path / "a" / "vault")
    second = state_db_path(tmp_path / "s", tmp_path / "b" / "vault")
    assert first != second
    assert first.name.startswith("vault-")
    assert state_db_path(tmp_path / "s", tmp_path / "a" / ".." / "a" / "vault") == first


def test_lookups_a_sync_makes_per_note_use_an_index(tmp_path: Path) -> None:
    """An incremental sync costs in proportion to what changed: the per-note questions it
    asks the state are index searches, never a read of the whole table."""
    State.open(tmp_path / "s.db").close()
    with closing(sqlite3.connect(tmp_path / "s.db")) as db:
        queries = {
            "by hash": (
                "SELECT doc_id FROM notes WHERE hash = ? OR pending_hash = ?",
                ("a", "a"),
            ),
            "by path": ("SELECT 1 FROM notes WHERE path_key = ? AND released = 0", ("a",)),
            "by document": ("SELECT * FROM notes WHERE doc_id = ?", ("1",)),
            "conflicts": ("SELECT * FROM conflicts WHERE doc_id = ?", ("1",)),
        }
        for name, (sql, args) in queries.items():
            plan = " ".join(row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", args))
            assert "SEARCH" in plan and "SCAN" not in plan, (name, plan)
