"""The guarded replace under the vault's writes: a note changed since it was read is
never overwritten, on the swap path (Linux) and on the check-then-rename fallback."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from readwise_sync.store import durable


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["swap", "fallback"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "fallback":  # a platform or file system that can't swap names
        monkeypatch.setattr(durable, "exchange", lambda first, second: False)
    yield str(request.param)


def staged(folder: Path, text: bytes) -> str:
    temp = folder / ".readwise-sync-test.tmp"
    temp.write_bytes(text)
    return str(temp)


def test_an_unchanged_note_is_replaced(tmp_path: Path, mode: str) -> None:
    note = tmp_path / "note.md"
    note.write_bytes(b"old\n")
    temp = staged(tmp_path, b"new\n")
    placed = durable.replace_if_unchanged(temp, str(note), digest(b"old\n"), digest(b"new\n"))
    assert placed.done
    placed = durable.settle(placed, str(note), digest(b"new\n"))
    assert placed.done and placed.copy is None
    assert note.read_bytes() == b"new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["note.md"]


def test_a_note_changed_since_it_was_read_is_left_as_the_user_has_it(
    tmp_path: Path, mode: str
) -> None:
    note = tmp_path / "note.md"
    note.write_bytes(b"old\nand a line typed since\n")
    temp = staged(tmp_path, b"new\n")
    placed = durable.replace_if_unchanged(temp, str(note), digest(b"old\n"), digest(b"new\n"))
    assert not placed.done and placed.copy is None
    assert note.read_bytes() == b"old\nand a line typed since\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["note.md"]


def test_a_note_deleted_since_it_was_read_is_not_recreated(tmp_path: Path, mode: str) -> None:
    temp = staged(tmp_path, b"new\n")
    note = tmp_path / "note.md"
    placed = durable.replace_if_unchanged(temp, str(note), digest(b"old\n"), digest(b"new\n"))
    assert not placed.done
    assert list(tmp_path.iterdir()) == []


def test_a_new_note_never_replaces_a_file_that_appeared(tmp_path: Path, mode: str) -> None:
    note = tmp_path / "note.md"
    temp = staged(tmp_path, b"new\n")
    note.write_bytes(b"made by the user meanwhile\n")
    placed = durable.replace_if_unchanged(temp, str(note), None, digest(b"new\n"))
    assert not placed.done
    assert note.read_bytes() == b"made by the user meanwhile\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["note.md"]
    temp = staged(tmp_path, b"new\n")
    other = tmp_path / "other.md"
    assert durable.replace_if_unchanged(temp, str(other), None, digest(b"new\n")).done
    assert other.read_bytes() == b"new\n"


def test_a_save_landing_in_the_old_file_after_the_swap_is_given_back(tmp_path: Path) -> None:
    """An editor that opened the note before the swap writes into the old file: settle()
    sees it and puts that text back in place of the new one."""
    note = tmp_path / "note.md"
    note.write_bytes(b"old\n")
    with open(note, "ab") as handle:  # opened before the swap, written after it
        temp = staged(tmp_path, b"new\n")
        placed = durable.replace_if_unchanged(temp, str(note), digest(b"old\n"), digest(b"new\n"))
        if placed.old is None:
            pytest.skip("this file system cannot swap names")
        assert placed.done
        handle.write(b"saved late\n")
    settled = durable.settle(placed, str(note), digest(b"new\n"))
    assert not settled.done and settled.copy is None
    assert note.read_bytes() == b"old\nsaved late\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["note.md"]


def test_when_both_texts_changed_both_are_kept(tmp_path: Path) -> None:
    """The late save landed in the old file and another in the new one: nothing is
    discarded, the second is kept beside the note under a name of its own."""
    note = tmp_path / "note.md"
    note.write_bytes(b"old\n")
    with open(note, "ab") as handle:
        temp = staged(tmp_path, b"new\n")
        placed = durable.replace_if_unchanged(temp, str(note), digest(b"old\n"), digest(b"new\n"))
        if placed.old is None:
            pytest.skip("this file system cannot swap names")
        handle.write(b"saved late\n")
    with open(note, "ab") as again:
        again.write(b"typed on the new text\n")
    settled = durable.settle(placed, str(note), digest(b"new\n"))
    assert not settled.done and settled.copy is not None
    assert note.read_bytes() == b"old\nsaved late\n"
    assert Path(settled.copy).read_bytes() == b"new\ntyped on the new text\n"
    assert Path(settled.copy).name == "note (saved during sync 1).md"
    assert os.path.dirname(settled.copy) == str(tmp_path)


def test_a_save_through_a_file_held_open_past_the_settle_time_is_given_back(
    tmp_path: Path,
) -> None:
    """An editor slow to write (a busy machine) through the file it opened before the
    swap: the old file is not removed while it is still open elsewhere."""
    note = tmp_path / "note.md"
    note.write_bytes(b"old\n")
    handle = open(note, "ab")  # noqa: SIM115 (closed by the editor's thread below)
    temp = staged(tmp_path, b"new\n")
    placed = durable.replace_if_unchanged(temp, str(note), digest(b"old\n"), digest(b"new\n"))
    if placed.old is None:
        handle.close()
        pytest.skip("this file system cannot swap names")

    def editor() -> None:
        time.sleep(0.2)
        handle.write(b"saved late\n")
        handle.close()

    thread = threading.Thread(target=editor)
    thread.start()
    settled = durable.settle(placed, str(note), digest(b"new\n"))
    thread.join()
    assert not settled.done
    assert note.read_bytes() == b"old\nsaved late\n"
