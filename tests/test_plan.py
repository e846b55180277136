"""Plan, then act: each decision the planner makes, and a sync from a source in memory.

No server and no socket here: the documents come from a
:class:`~readwise_sync.readwise.source.MemorySource`. Each planning test sets up one case,
asks the planner for its decision, and checks its kind and what it carries (and that
planning wrote nothing); the syncs check the notes that come of the decisions.
"""

from __future__ import annotations

import logging
import random
import shutil
import socket
from typing import Any

import pytest

from readwise_sync.app.config import Settings
from readwise_sync.app.locations import state_db_path
from readwise_sync.app.wiring import sync_once
from readwise_sync.domain import Document
from readwise_sync.engine.decisions import Change, Decision, Leave, Outcome, Skip, Write
from readwise_sync.engine.options import RunOptions
from readwise_sync.engine.owners import Owners
from readwise_sync.engine.plan import Planner
from readwise_sync.engine.progress import PageIn
from readwise_sync.engine.report import SyncReport
from readwise_sync.engine.sync import Run
from readwise_sync.errors import OutsideVault
from readwise_sync.notes.render import Renderer
from readwise_sync.readwise.source import MemorySource
from readwise_sync.readwise.wire import Book
from readwise_sync.store.durable import text_hash
from readwise_sync.store.state import State
from readwise_sync.store.texts import MemoryNotes, NoteTexts
from readwise_sync.store.vault import Vault

from .conftest import note_files
from .factories import document, library

LATER = "2026-06-01T10:00:00Z"  # after the source's clock: a change the next sync sees


@pytest.fixture(autouse=True)
def no_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket, "socket", refuse)


@pytest.fixture
def records() -> list[dict[str, Any]]:
    return library(random.Random(3), 4)


@pytest.fixture
def source(records: list[dict[str, Any]]) -> MemorySource:
    return MemorySource.of(Book.model_validate(r) for r in records)


def edited(record: dict[str, Any], number: int = 0, at: str = LATER, **changes: Any) -> Book:
    """The book with one highlight changed in Readwise ``at`` (later than the source's
    clock, unless a sync saw a later change already)."""
    highlights = [dict(h) for h in record["highlights"]]
    highlights[number].update(updated_at=at, **changes)
    return Book.model_validate({**record, "highlights": highlights})


@pytest.fixture
def synced(local: Settings, source: MemorySource) -> dict[str, str]:
    """A first sync done: each book's note path."""
    report = sync_once(local, source=source)
    assert len(report.created) == 4
    with opened(local) as (_, state):
        return {book_id: path for book_id, (path, _) in state.load_paths().items()}


class opened:
    """The vault and its state, open, as the wiring would hand them to the engine."""

    def __init__(self, settings: Settings) -> None:
        assert settings.vault is not None
        self.vault = Vault(settings.vault)
        self.state = State.open(state_db_path(settings.state_dir, self.vault.root))

    def __enter__(self) -> tuple[Vault, State]:
        return self.vault, self.state

    def __exit__(self, *exc: object) -> None:
        self.state.close()


def renderer(settings: Settings) -> Renderer:
    return Renderer(settings.template_dir, settings.tzinfo())


def plan(
    settings: Settings, notes: NoteTexts, state: State, book: Document, **options: Any
) -> Decision:
    """One planner's decision for ``book``, from ``notes`` and the state as they are."""
    owners = Owners(notes, state, dry_run=isinstance(notes, MemoryNotes))
    planner = Planner(notes, state, lambda: renderer(settings), RunOptions(**options), owners)
    return planner.plan(book, state.load_notes([book.id]).get(book.id))


def decide(settings: Settings, wire: Book | Document, **options: Any) -> Decision:
    """The planner's decision for ``wire``, over the vault and state as they are: the same
    whether it reads the vault or a copy of its notes in memory."""
    book = wire if isinstance(wire, Document) else document(wire)
    with opened(settings) as (vault, state):
        before = note_files(vault.root)
        from_memory = plan(settings, MemoryNotes.of(vault), state, book, **options)
        decision = plan(settings, vault, state, book, **options)
        assert note_files(vault.root) == before  # planning writes nothing
        assert from_memory == decision
        return decision


# -- planning: one decision per case ----------------------------------------------------------


def test_a_new_book_is_a_note_to_create(local: Settings, records: list[dict[str, Any]]) -> None:
    decision = decide(local, Book.model_validate(records[0]))
    assert isinstance(decision, Write) and decision.change is Change.CREATE and decision.created
    assert decision.path.startswith("Readwise/") and decision.path.endswith("Book 1.md")
    assert decision.highlights == len(records[0]["highlights"]) and decision.base is None
    assert decision.digest == text_hash(decision.text)


def test_a_new_book_without_highlights_is_left_empty(
    local: Settings, records: list[dict[str, Any]]
) -> None:
    bare = Book.model_validate({**records[0], "highlights": []})
    assert decide(local, bare) == Leave("1", Skip.EMPTY)


def test_a_book_as_last_synced_is_left_unchanged(
    local: Settings, source: MemorySource, synced: dict[str, str]
) -> None:
    assert decide(local, source.library[2]) == Leave("2", Skip.UNCHANGED)


def test_a_book_deleted_in_readwise_keeps_its_note(
    local: Settings, records: list[dict[str, Any]], synced: dict[str, str]
) -> None:
    gone = Book.model_validate({**records[1], "is_deleted": True})
    assert decide(local, gone) == Leave("2", Skip.DELETED_UPSTREAM, synced["2"])


def test_a_changed_book_whose_note_is_untouched_is_rewritten(
    local: Settings, records: list[dict[str, Any]], synced: dict[str, str]
) -> None:
    assert local.vault is not None
    on_disk = (local.vault / synced["1"]).read_text(encoding="utf-8")
    decision = decide(local, edited(records[0], text="Reworded in Readwise."))
    assert isinstance(decision, Write) and decision.change is Change.REWRITE
    assert decision.path == synced["1"] and decision.base == text_hash(on_disk)
    assert "Reworded in Readwise." in decision.text and not decision.on_disk


def test_a_changed_book_whose_note_the_user_edited_is_merged(
    local: Settings, records: list[dict[str, Any]], synced: dict[str, str]
) -> None:
    assert local.vault is not None
    note = local.vault / synced["1"]
    note.write_text(note.read_text(encoding="utf-8") + "\nMy own thoughts.\n", encoding="utf-8")
    decision = decide(local, edited(records[0], text="Reworded in Readwise."))
    assert isinstance(decision, Write) and decision.change is Change.MERGE
    assert "My own thoughts." in decision.text and "Reworded in Readwise." in decision.text
    assert decision.conflicts == []


def test_a_highlight_both_sides_changed_is_a_conflict(
    local: Settings, records: list[dict[str, Any]], synced: dict[str, str]
) -> None:
    assert local.vault is not None
    note = local.vault / synced["1"]
    first = records[0]["highlights"][0]["text"]
    note.write_text(
        note.read_text(encoding="utf-8").replace(first, "My rewording."), encoding="utf-8"
    )
    decision = decide(local, edited(records[0], text="Readwise's rewording."))
    assert isinstance(decision, Write) and decision.change is Change.CONFLICT
    assert "My rewording." in decision.text and "Readwise's rewording." not in decision.text
    ((_, upstream),) = decision.conflicts
    assert "Readwise's rewording." in upstream


def test_a_note_the_user_deleted_is_not_recreated_unless_asked(
    local: Settings, records: list[dict[str, Any]], synced: dict[str, str]
) -> None:
    assert local.vault is not None
    (local.vault / synced["1"]).unlink()
    book = edited(records[0], text="Reworded in Readwise.")
    assert decide(local, book) == Leave("1", Skip.MISSING, synced["1"], "is gone")
    again = decide(local, book, recreate_deleted=True)
    assert isinstance(again, Write) and again.change is Change.CREATE
    assert again.path == synced["1"]


def test_a_moved_note_is_followed(
    local: Settings, records: list[dict[str, Any]], synced: dict[str, str]
) -> None:
    assert local.vault is not None
    (local.vault / "Elsewhere").mkdir()
    (local.vault / synced["1"]).rename(local.vault / "Elsewhere" / "Mine.md")
    decision = decide(local, edited(records[0], text="Reworded in Readwise."))
    assert isinstance(decision, Write) and decision.change is Change.REWRITE
    assert (decision.path, decision.moved_from) == ("Elsewhere/Mine.md", synced["1"])


def test_a_note_saved_moments_ago_is_left_for_the_next_run(
    local: Settings, records: list[dict[str, Any]], synced: dict[str, str]
) -> None:
    assert local.vault is not None
    note = local.vault / synced["1"]
    note.write_text(note.read_text(encoding="utf-8") + "\nTyping…\n", encoding="utf-8")
    book = edited(records[0], text="Reworded in Readwise.")
    assert decide(local, book, quiet_period=3600) == Leave("1", Skip.JUST_SAVED, synced["1"])
    assert Skip.JUST_SAVED.retried and not Skip.MISSING.retried


def test_planning_needs_only_texts_the_vault_itself_may_be_gone(
    local: Settings, records: list[dict[str, Any]], synced: dict[str, str], tmp_path: Any
) -> None:
    """Decisions from the state's records and note texts held in memory, with no vault
    folder left at all: what the user wrote, where they moved a note, what they deleted."""
    assert local.vault is not None
    with opened(local) as (vault, state):
        notes = MemoryNotes.of(vault)
        shutil.rmtree(vault.root)
        notes.texts[synced["1"]] += "\nMy own thoughts.\n"
        notes.texts["Elsewhere/Mine.md"] = notes.texts.pop(synced["2"])
        del notes.texts[synced["3"]]
        notes.offloaded.add(synced["4"])
        merged = plan(local, notes, state, document(edited(records[0], text="Reworded.")))
        moved = plan(local, notes, state, document(edited(records[1], text="Reworded.")))
        gone = plan(local, notes, state, document(edited(records[2], text="Reworded.")))
        cloud = plan(local, notes, state, document(edited(records[3], text="Reworded.")))
    assert isinstance(merged, Write) and merged.change is Change.MERGE
    assert "My own thoughts." in merged.text and "Reworded." in merged.text
    assert isinstance(moved, Write) and moved.path == "Elsewhere/Mine.md"
    assert moved.moved_from == synced["2"]
    assert gone == Leave("3", Skip.MISSING, synced["3"], "is gone")
    assert cloud == Leave("4", Skip.OFFLOADED, synced["4"])
    assert not local.vault.exists()


def test_notes_in_memory_refuse_a_path_out_of_the_vault() -> None:
    notes = MemoryNotes({"Readwise/A.md": "text"})
    assert notes.read_text("Readwise/A.md") == "text" and notes.exists("Readwise/A.md")
    assert notes.read_text("Readwise/B.md") is None and notes.modified_at("Readwise/B.md") is None
    for outside in ("../A.md", "/etc/passwd", "Readwise/../../A.md", "..\\A.md"):
        with pytest.raises(OutsideVault):
            notes.read_text(outside)
    notes.texts[".obsidian/x.md"] = notes.texts["Readwise/A.txt"] = "hidden"
    assert list(notes.iter_notes()) == ["Readwise/A.md"]


# -- syncing from memory ----------------------------------------------------------------------


def test_syncs_from_memory_create_update_and_merge(
    local: Settings, source: MemorySource, records: list[dict[str, Any]]
) -> None:
    assert local.vault is not None
    first = sync_once(local, source=source)
    paths = {path for path in first.created}
    assert set(note_files(local.vault)) == paths and first.requests == 1
    assert sync_once(local, source=source).books_seen == 0  # nothing new: nothing sent
    source.put(edited(records[0], text="Reworded in Readwise."))
    second = sync_once(local, source=source)
    (path,) = second.updated
    note = local.vault / path
    assert "Reworded in Readwise." in note.read_text(encoding="utf-8")
    note.write_text(note.read_text(encoding="utf-8") + "\nMy own thoughts.\n", encoding="utf-8")
    source.put(edited(records[0], 1, at="2026-07-01T10:00:00Z", text="Also reworded."))
    third = sync_once(local, source=source)
    assert third.updated == [path] and third.changes[0][1] != ""
    text = note.read_text(encoding="utf-8")
    assert "My own thoughts." in text and "Also reworded." in text


class Recorder:
    """A Progress that keeps every outcome it hears, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, Outcome | Skip]] = []

    def page(self, page: PageIn) -> None:
        pass

    def decided(self, book_id: str, outcome: Outcome | Skip) -> None:
        self.events.append(("decided", book_id, outcome))

    def written(self, book_id: str, outcome: Outcome) -> None:
        self.events.append(("written", book_id, outcome))


def test_outcomes_reach_progress_typed_never_as_bare_strings(
    local: Settings, source: MemorySource, records: list[dict[str, Any]], synced: dict[str, str]
) -> None:
    recorder = Recorder()
    source.put(edited(records[0], text="Reworded in Readwise."))
    source.put(edited(records[1]).model_copy(update={"is_deleted": True}))
    sync_once(local, source=source, progress=recorder)
    assert all(type(outcome) in (Outcome, Skip) for _, _, outcome in recorder.events)
    assert ("decided", "1", Outcome.TO_WRITE) in recorder.events
    assert ("decided", "2", Skip.DELETED_UPSTREAM) in recorder.events
    assert ("written", "1", Outcome.UPDATED) in recorder.events


def test_a_note_changed_after_its_decision_is_planned_again_before_it_is_written(
    local: Settings,
    records: list[dict[str, Any]],
    synced: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The re-plan step of the apply phase re-reads the note and decides again from the
    user's latest text: their edit is merged, not found by the guarded rename."""
    assert local.vault is not None
    note = local.vault / synced["1"]
    recorder = Recorder()
    caplog.set_level(logging.INFO)
    with opened(local) as (vault, state):
        run = Run(vault, state, lambda: renderer(local), RunOptions(), SyncReport(), recorder)
        try:
            (planned,) = run.plan_page([document(edited(records[0], text="Reworded in Readwise."))])
            assert planned.change is Change.REWRITE
            note.write_text(note.read_text(encoding="utf-8") + "\nLate words.\n", encoding="utf-8")
            run.write_page([planned])
        finally:
            run.abandon()
    text = note.read_text(encoding="utf-8")
    assert "Late words." in text and "Reworded in Readwise." in text
    decided = [outcome for kind, book, outcome in recorder.events if kind == "decided"]
    assert decided == [Outcome.TO_WRITE, Outcome.TO_WRITE]  # decided, then once more
    assert "changed while this sync ran; deciding again" in caplog.text
    assert "changed while it was being written" not in caplog.text
    assert run.report.updated == [synced["1"]] and run.report.copies == []
