"""Settling conflicts: which notes settled theirs, and what ``resolve`` asks of a note.

Reads the state and the vault and decides; the merge that follows (the sync's
usual write protocol) applies what was decided. See :mod:`conflicts` for the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import naming
from .conflicts import Standing, Versions, keep_mine, standing, take_readwise, versions
from .errors import NotResolved, UnreadableNote
from .merge import Layout
from .state import State
from .vault import Vault


@dataclass(frozen=True)
class Waiting:
    """One recorded conflict, with the three texts to decide between."""

    book_id: int
    path: str
    versions: Versions
    standing: Standing
    detected_at: str


def waiting(state: State, vault: Vault) -> list[Waiting]:
    """Every recorded conflict, read against its note as it is now."""
    found: list[Waiting] = []
    rows = state.load_conflicts()
    records = state.load_notes({row["book_id"] for row in rows})
    texts: dict[int, str | None] = {}
    for row in rows:
        book_id = row["book_id"]
        record = records.get(book_id)
        path = record.path if record is not None else row["path"]
        if book_id not in texts:
            texts[book_id] = _read(vault, path)
        layout = Layout.from_json(state.load_layout(book_id))
        text = texts[book_id]
        if text is None:  # the note is gone or can't be read: nothing to tell yet
            seen = Versions(row["block_id"], "", row["upstream"], None)
            found.append(Waiting(book_id, path, seen, Standing.WAITING, row["detected_at"]))
            continue
        seen = versions(text, layout, row["block_id"], row["upstream"])
        where = standing(text, layout, row["block_id"], row["upstream"])
        found.append(Waiting(book_id, path, seen, where, row["detected_at"]))
    return found


def _read(vault: Vault, path: str) -> str | None:
    try:
        return vault.read_text(path)
    except UnreadableNote:
        return None


def settled_books(state: State, vault: Vault) -> list[int]:
    """The books whose note settled a conflict since it was recorded: merged again, their
    conflicts clear. (Reads only the notes that have conflicts: usually none.)"""
    return sorted({w.book_id for w in waiting(state, vault) if w.standing is Standing.SETTLED})


def note_key(vault: Vault, note: str) -> str:
    """The vault-relative name key of ``note``: a path inside the vault, absolute or
    relative to here, or relative to the vault as ``status`` shows it."""
    given = Path(note).expanduser()
    for candidate in (given, Path.cwd() / given):
        try:
            relative = candidate.resolve().relative_to(vault.root)
        except (ValueError, OSError):
            continue
        if candidate.is_absolute() or candidate.exists():
            return naming.name_key(relative.as_posix())
    return naming.name_key(given.as_posix())


def choose(
    state: State, vault: Vault, note: str, *, take: bool, block: str | None = None
) -> tuple[int, list[str]]:
    """Record the user's choice for the conflicts of ``note`` (one ``block``, or all): the
    layout the next merge of that note applies. Returns the book and the blocks settled."""
    key = note_key(vault, note)
    mine = [w for w in waiting(state, vault) if naming.name_key(w.path) == key]
    if not mine:
        raise NotResolved(f"{note}: no conflict waiting in this note (see `readwise-sync status`)")
    if block is not None:
        mine = [w for w in mine if w.versions.block_id == block]
        if not mine:
            raise NotResolved(f"{note}: no conflict {block} in this note")
    book_id = mine[0].book_id
    text = vault.read_text(mine[0].path)
    if text is None:
        raise NotResolved(f"{mine[0].path}: the note is gone; nothing to resolve")
    layout = Layout.from_json(state.load_layout(book_id))
    for item in mine:
        block_id, upstream = item.versions.block_id, item.versions.upstream
        if not take:
            layout = keep_mine(layout, block_id, upstream)
            continue
        chosen = take_readwise(text, layout, block_id, upstream)
        if chosen is None:
            raise NotResolved(
                f"{item.path} [{block_id}]: your version of it can't be told in the note; "
                "put Readwise's text there by hand (see `readwise-sync status`), or use "
                "--keep-mine"
            )
        layout = chosen
    with state.transaction():
        state.save_layout(book_id, layout.to_json())
    return book_id, [item.versions.block_id for item in mine]
