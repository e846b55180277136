"""Vault I/O: atomic writes, confinement to the vault, read-only notes, leftover temp files."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from readwise_sync.errors import OutsideVault, ReadOnlyNote, VaultError
from readwise_sync.store.vault import TEMP_PREFIX, Vault


def test_write_creates_folders_and_reads_back(vault: Path) -> None:
    v = Vault(vault)
    v.write_text("Readwise/Books/A.md", "hello\n")
    assert (vault / "Readwise/Books/A.md").read_text() == "hello\n"
    assert v.read_text("Readwise/Books/A.md") == "hello\n"
    assert v.read_text("Readwise/Books/missing.md") is None
    assert [p.name for p in (vault / "Readwise/Books").iterdir()] == ["A.md"]  # no temp left


def test_write_keeps_crlf_and_unicode_exactly(vault: Path) -> None:
    v = Vault(vault)
    text = "line\r\nemoji 🧵 and é\n"
    v.write_text("n.md", text)
    assert (vault / "n.md").read_bytes() == text.encode("utf-8")
    assert v.read_text("n.md") == text


@pytest.mark.parametrize("bad", ["../outside.md", "/etc/passwd", "a/../../x.md", "a\\..\\x.md", ""])
def test_paths_that_leave_the_vault_are_refused(vault: Path, bad: str) -> None:
    with pytest.raises(OutsideVault):
        Vault(vault).write_text(bad, "x")


def test_symlinked_folder_pointing_outside_is_never_written_through(
    vault: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (vault / "Readwise").symlink_to(outside, target_is_directory=True)
    with pytest.raises(OutsideVault):
        Vault(vault).write_text("Readwise/Books/A.md", "x")
    assert list(outside.iterdir()) == []  # not even the Books folder was created


def test_symlinked_note_pointing_outside_is_refused(vault: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("keep me")
    (vault / "A.md").symlink_to(secret)
    v = Vault(vault)
    with pytest.raises(OutsideVault):
        v.write_text("A.md", "x")
    with pytest.raises(OutsideVault):
        v.read_text("A.md")
    assert secret.read_text() == "keep me"


def test_symlink_inside_the_vault_is_fine(vault: Path) -> None:
    (vault / "real").mkdir()
    (vault / "Readwise").symlink_to(vault / "real", target_is_directory=True)
    Vault(vault).write_text("Readwise/A.md", "x")
    assert (vault / "real/A.md").read_text() == "x"


def test_read_only_note_is_reported_not_overwritten(vault: Path) -> None:
    note = vault / "A.md"
    note.write_text("mine")
    note.chmod(0o444)
    with pytest.raises(ReadOnlyNote):
        Vault(vault).write_text("A.md", "theirs")
    assert note.read_text() == "mine"


def test_mode_of_an_existing_note_is_kept(vault: Path) -> None:
    note = vault / "A.md"
    note.write_text("old")
    note.chmod(0o640)
    Vault(vault).write_text("A.md", "new")
    assert note.stat().st_mode & 0o777 == 0o640


def test_new_notes_get_the_umask_mode_not_the_temp_file_mode(vault: Path) -> None:
    old = os.umask(0o022)
    try:
        Vault(vault).write_text("A.md", "x")
    finally:
        os.umask(old)
    assert (vault / "A.md").stat().st_mode & 0o777 == 0o644


def test_failed_write_leaves_the_note_and_no_temp_file(
    vault: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    note = vault / "A.md"
    note.write_text("intact")
    real_write = os.write

    def full_disk(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(VaultError, match="disk is full"):
        Vault(vault).write_text("A.md", "new text")
    monkeypatch.setattr(os, "write", real_write)
    assert note.read_text() == "intact"
    assert sorted(p.name for p in vault.iterdir()) == ["A.md"]


def test_leftover_temp_files_are_swept_on_the_next_write(vault: Path) -> None:
    folder = vault / "Readwise"
    folder.mkdir()
    leftover = folder / f"{TEMP_PREFIX}deadbeef.tmp"
    leftover.write_text("half a note")
    user_file = folder / ".obsidian-thing"
    user_file.write_text("not ours")
    Vault(vault).write_text("Readwise/A.md", "x")
    assert not leftover.exists()
    assert user_file.exists()


def test_missing_vault_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(VaultError, match="does not exist"):
        Vault(tmp_path / "nope")
