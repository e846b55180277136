"""Settling conflicts: which notes settled theirs, and what ``resolve`` asks of a note.

Reads the state and the vault and decides; the merge that follows (the sync's
usual write protocol) applies what was decided. See :mod:`conflicts` for the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from readwise_sync.engine.owners import Owners
from readwise_sync.errors import NotResolved, UnreadableNote
from readwise_sync.notes import naming
from readwise_sync.notes.conflicts import (
    Standing,
    Versions,
    keep_mine,
    own_lines,
    standing,
    take_readwise,
    versions,
)
from readwise_sync.notes.merge import Layout
from readwise_sync.store.durable import text_hash
from readwise_sync.store.state import State
from readwise_sync.store.vault import Vault


@dataclass(frozen=True)
class Waiting:
    """One recorded conflict, with the three texts to decide between. ``gone``: the note
    is nowhere in the vault any more (the user deleted it, and so the piece)."""

    book_id: str
    path: str
    versions: Versions
    standing: Standing
    detected_at: str
    gone: bool = False
    moved: bool = False  # found elsewhere than the state says: merged, the state follows


@dataclass(frozen=True)
class Settling:
    """What a run does with the conflicts the notes settled since they were recorded."""

    remerge: list[str]  # books whose note settled one: merged again, that clears it
    gone: list[str]  # books whose note was deleted: their conflicts are forgotten


class _Notes:
    """The notes that have conflicts, each read once with the layout its merge goes by,
    followed where the user moved it."""

    def __init__(self, state: State, vault: Vault) -> None:
        self.state, self.vault = state, vault
        self.owners: Owners | None = None
        self.found: dict[str, _Note] = {}

    def note(self, book_id: str, path: str) -> _Note:
        if book_id not in self.found:
            self.found[book_id] = self._locate(book_id, path)
        return self.found[book_id]

    def _locate(self, book_id: str, path: str) -> _Note:
        text = _read(self.vault, path)
        there = text is not None or self.vault.exists(path) or self.vault.has_placeholder(path)
        if not there:
            if self.owners is None:
                self.owners = Owners(self.vault, self.state, dry_run=True)
                self.owners.index()
            moved = self.owners.moved.get(book_id)
            if moved is None:
                return _Note(path, None, Layout(), gone=True)
            path, text = moved, _read(self.vault, moved)
        if text is None:  # unreadable or offloaded: can't tell yet
            return _Note(path, None, Layout())
        record = self.state.load_notes([book_id]).get(book_id)
        pending = record is not None and record.pending_hash == text_hash(text)  # a run died
        return _Note(path, text, Layout.from_json(self.state.load_layout(book_id, pending=pending)))


@dataclass(frozen=True)
class _Note:
    path: str
    text: str | None
    layout: Layout  # what the note's merge goes by
    gone: bool = False

    def moved_from(self, recorded: str) -> bool:
        """Found, readable, elsewhere than the state says."""
        return self.path != recorded and self.text is not None


def _scan(state: State, vault: Vault) -> list[tuple[dict[str, Any], str, _Note]]:
    """Each recorded conflict with the path the state gives its note, and the note."""
    rows = state.load_conflicts()
    records = state.load_notes({row["book_id"] for row in rows})
    notes = _Notes(state, vault)
    found = []
    for row in rows:
        book_id = row["book_id"]
        recorded = records[book_id].path if book_id in records else row["path"]
        found.append((row, recorded, notes.note(book_id, recorded)))
    return found


def _standing(row: dict[str, Any], note: _Note) -> Standing:
    if note.text is None:  # deleted (settled), or unreadable for now (can't tell yet)
        return Standing.SETTLED if note.gone else Standing.WAITING
    return standing(note.text, note.layout, row["block_id"], row["upstream"])


def _waiting(row: dict[str, Any], recorded: str, note: _Note) -> Waiting:
    block_id, upstream = row["block_id"], row["upstream"]
    seen = (
        Versions(block_id, "", upstream, None)
        if note.text is None
        else versions(note.text, note.layout, block_id, upstream)
    )
    where = _standing(row, note)
    moved = note.moved_from(recorded)
    return Waiting(row["book_id"], note.path, seen, where, row["detected_at"], note.gone, moved)


def waiting(state: State, vault: Vault) -> list[Waiting]:
    """Every recorded conflict, read against its note as it is now."""
    return [_waiting(*found) for found in _scan(state, vault)]


def _read(vault: Vault, path: str) -> str | None:
    try:
        return vault.read_text(path)
    except UnreadableNote:
        return None


def settling(state: State, vault: Vault) -> Settling:
    """The conflicts the notes settled since they were recorded, and the notes with
    conflicts that the user moved (merged once, so the state follows them and later runs
    need not look for them). Reads only the notes that have conflicts: usually none."""
    remerge, gone = set(), set()
    for row, recorded, note in _scan(state, vault):
        if note.gone:
            gone.add(row["book_id"])
        elif note.moved_from(recorded) or _standing(row, note) is Standing.SETTLED:
            remerge.add(row["book_id"])
    return Settling(sorted(remerge), sorted(gone))


def forget(state: State, books: list[str]) -> None:
    """Drop the conflicts of notes the user deleted."""
    with state.transaction():
        for book_id in books:
            state.save_conflicts(book_id, "", [], "")


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


@dataclass(frozen=True)
class Choice:
    """What ``resolve`` recorded: the book, the conflicts settled, and whether its note
    is gone (then nothing is left to write)."""

    book_id: str
    blocks: list[str]
    gone: bool
    # What the merge of the note goes by instead of the recorded layout; it reaches the
    # state only with the write (so a resolve that fails or is stopped changes nothing).
    layout: Layout | None = None


def choose(
    state: State, vault: Vault, note: str, *, take: bool, block: str | None = None
) -> Choice:
    """The user's choice for the conflicts of ``note`` (one ``block``, or all): the layout
    the merge of that note is to go by. Raises :class:`NotResolved`, with nothing
    changed, when the choice can't be applied as asked."""
    key = note_key(vault, note)
    found = [f for f in _scan(state, vault) if naming.name_key(f[2].path) == key]
    if not found:
        raise NotResolved(f"{note}: no conflict waiting in this note (see `readwise-sync status`)")
    if block is not None:
        found = [f for f in found if f[0]["block_id"] == block]
        if not found:
            raise NotResolved(f"{note}: no conflict {block} in this note")
    mine = [_waiting(*f) for f in found]
    book_id, the_note = mine[0].book_id, found[0][2]
    blocks = [item.versions.block_id for item in mine]
    if the_note.gone:  # deleted with the note: nothing to keep or take
        forget(state, [book_id])
        return Choice(book_id, blocks, gone=True)
    if the_note.text is None:
        raise NotResolved(f"{the_note.path}: the note can't be read now; nothing to resolve")
    if not vault.path_of(the_note.path).stat().st_mode & 0o222:
        raise NotResolved(
            f"{the_note.path} is read-only; make it writable to resolve its conflicts"
        )
    layout = the_note.layout
    for item in mine:
        layout = _chosen(the_note.text, layout, item, take=take)
    return Choice(book_id, blocks, gone=False, layout=layout)


def _chosen(text: str, layout: Layout, item: Waiting, *, take: bool) -> Layout:
    block_id, upstream = item.versions.block_id, item.versions.upstream
    if not take:
        return keep_mine(layout, block_id, upstream)
    where = f"{item.path} [{block_id}]"
    if own := own_lines(item.versions):
        raise NotResolved(
            f"{where}: your version has lines of your own ({own[0].strip()!r}"
            f"{' and more' if len(own) > 1 else ''}) that Readwise's would drop; put"
            " Readwise's text in by hand (see `readwise-sync status`), or use --keep-mine"
        )
    chosen = take_readwise(text, layout, block_id, upstream)
    if chosen is None:
        raise NotResolved(
            f"{where}: your version of it can't be told in the note; put Readwise's text"
            " there by hand (see `readwise-sync status`), or use --keep-mine"
        )
    return chosen
