"""sync_once end to end: the fake server over real HTTP, a real vault, a real state database."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from pathlib import Path

import pytest
import yaml

from readwise_sync.app.config import Settings
from readwise_sync.app.locations import state_db_path
from readwise_sync.app.wiring import sync_once
from readwise_sync.errors import ReadwiseSyncError, ServerError
from readwise_sync.readwise.fakeapi import FakeReadwise
from readwise_sync.store.state import State

from .conftest import REFDATA, TOKEN, fast_client, load_cursor, mtimes, need_shared, note_files
from .factories import export_requests

WALDEN = "Readwise/Books/Walden.md"
ARTICLE = (
    "Readwise/Articles/"
    "La Hipótesis Del Escalado De La Inteligencia Artificial Hasta Llegar a La AGI.md"
)


def test_first_sync_writes_one_note_per_document(settings: Settings, fake: FakeReadwise) -> None:
    report = sync_once(settings)
    notes = note_files(settings.vault)  # type: ignore[arg-type]
    assert sorted(notes) == sorted(
        [
            ARTICLE,
            WALDEN,
            "Readwise/Podcasts/Episode 42 Notes That Outlive the App.md",
            "Readwise/Tweets/Plain text notes outlive.md",
        ]
    )
    assert sorted(report.created) == sorted(notes)
    assert report.updated == []
    # 19 + 4 live Walden highlights (one discarded, one deleted) + 3 tweets + 2 podcast snips
    assert report.highlights_changed == 28  # all new
    assert report.summary() == "4 notes created, 0 updated, 28 new or changed highlights"
    walden = notes[WALDEN]
    assert "It is a great art to saunter" not in walden  # discarded
    assert "most beautiful and expressive feature" not in walden  # deleted
    assert export_requests(fake) == [{}]  # first run: the whole export, no filter


def test_the_report_counts_the_highlights_this_run_changed(
    settings: Settings, fake: FakeReadwise
) -> None:
    sync_once(settings)
    fake.update_highlight(701000011, note="A note added in Readwise.")
    fake.discard_highlight(701000012)  # gone from the note: a change too
    fake.add_highlight(38100452, text="Walden, a new highlight.", location=9000)
    report = sync_once(settings)
    assert report.updated == [WALDEN] and report.highlights_changed == 3
    assert report.summary() == "0 notes created, 1 updated, 3 new or changed highlights"
    assert settings.vault is not None
    with State.open(state_db_path(settings.state_dir, settings.vault)) as state:
        last = state.load_last_run()
    assert last is not None and last["highlights_changed"] == 3
    full = sync_once(settings, full=True)
    assert full.highlights_changed == 0 and full.created == full.updated == []


def test_second_sync_asks_with_updated_after_and_rewrites_nothing(
    settings: Settings, fake: FakeReadwise, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A no-op sync: one export request, no note read, listed or written."""
    from readwise_sync.store.vault import Vault

    sync_once(settings)
    before = mtimes(settings.vault)  # type: ignore[arg-type]
    fake.requests.clear()
    touched: list[str] = []
    for name in ("read_text", "iter_notes", "stage_text", "exists"):
        original = getattr(Vault, name)

        def spy(self: Vault, *args: object, _name: str = name, _original=original) -> object:  # type: ignore[no-untyped-def]
            touched.append(_name)
            return _original(self, *args)

        monkeypatch.setattr(Vault, name, spy)
    report = sync_once(settings)
    assert touched == []
    assert mtimes(settings.vault) == before  # type: ignore[arg-type]
    assert report.created == [] and report.updated == []
    queries = export_requests(fake)
    assert len(queries) == 1 and "updatedAfter" in queries[0]
    assert report.requests == 1
    assert [r.path for r in fake.requests] == ["/api/v2/export/"]  # not even the token check


def _state_files(settings: Settings) -> dict[str, tuple[int, bytes]]:
    """Every file in the state folder: its mtime and its bytes."""
    return {
        path.name: (path.stat().st_mtime_ns, path.read_bytes())
        for path in settings.state_dir.iterdir()
        if path.is_file()
    }


def test_no_op_sync_leaves_the_state_as_it_was(settings: Settings, fake: FakeReadwise) -> None:
    """Cron every few minutes on an SD card: a run that finds nothing writes nothing."""
    sync_once(settings)
    sync_once(settings)  # the books changed just before the first run come back once
    before = _state_files(settings)
    time.sleep(0.01)  # a rewrite would show in the mtimes
    report = sync_once(settings)
    assert report.books_seen == 0 and report.requests == 1
    assert _state_files(settings) == before
    # ... and it was a sync all the same: a change made now is found by the next run.
    fake.add_highlight(38100452, text="Found after a quiet run.", location=5000)
    assert sync_once(settings).updated == [WALDEN]
    assert "Found after a quiet run." in note_files(settings.vault)[WALDEN]  # type: ignore[arg-type]


def test_a_quiet_run_after_a_failed_one_records_its_success(
    settings: Settings, fake: FakeReadwise
) -> None:
    def last_result() -> object:
        assert settings.vault is not None
        with State.open(state_db_path(settings.state_dir, settings.vault)) as state:
            last = state.load_last_run()
        return last and last["result"]

    sync_once(settings)
    sync_once(settings)
    fake.fail(500, times=100)
    with pytest.raises(ServerError):
        sync_once(settings, client=fast_client(fake, max_retries=1))
    assert str(last_result()).startswith("failed")
    fake.clear_faults()
    assert sync_once(settings).books_seen == 0
    assert last_result() == "ok"  # `status` must not go on showing a failure that is over


def test_a_first_sync_of_an_empty_library_still_saves_the_cursor(settings: Settings) -> None:
    with FakeReadwise([], token=TOKEN) as empty:
        settings = dataclasses.replace(settings, api_url=empty.url)
        assert sync_once(settings).books_seen == 0
        assert load_cursor(settings) is not None  # the next run asks only for changes
        sync_once(settings)
        assert [r.query.keys() for r in empty.requests][-1] >= {"updatedAfter"}


def test_new_highlight_reaches_only_its_note(settings: Settings, fake: FakeReadwise) -> None:
    sync_once(settings)
    before = mtimes(settings.vault)  # type: ignore[arg-type]
    fake.add_highlight(
        38100452,
        text="Heaven is under our feet as well as over our heads.",
        location=3100,
        location_type="location",
    )
    report = sync_once(settings)
    after = mtimes(settings.vault)  # type: ignore[arg-type]
    changed = sorted(path for path in after if after[path] != before.get(path))
    assert changed == [WALDEN]
    assert report.updated == [WALDEN]
    text = (settings.vault / WALDEN).read_text(encoding="utf-8")  # type: ignore[operator]
    assert "- Heaven is under our feet as well as over our heads. ([Location 3100](" in text
    # the whole book was refetched, so the older highlights are all still there
    section = text.split("## Highlights\n", 1)[1]
    assert [line[:12] for line in section.splitlines() if line.startswith("- ")] == [
        "- The mass o",
        "- I went to ",
        "- Our life i",
        "- Time is bu",
        "- Heaven is ",
    ]
    queries = export_requests(fake)
    assert queries[-1] == {"ids": "38100452", "includeDeleted": "true"}


def test_edits_and_deletions_upstream_are_reflected_in_untouched_notes(
    settings: Settings, fake: FakeReadwise
) -> None:
    sync_once(settings)
    fake.update_highlight(701000015, text="Time is but the stream I go a-fishing in. (edited)")
    fake.delete_highlight(701000011)
    sync_once(settings)
    text = (settings.vault / WALDEN).read_text(encoding="utf-8")  # type: ignore[operator]
    assert "a-fishing in. (edited)" in text
    assert "quiet desperation" not in text


def test_many_pages_give_the_same_notes_as_one(tmp_path: Path) -> None:
    results = []
    for page_size in (100, 1):
        with FakeReadwise.demo(token=TOKEN, page_size=page_size) as server:
            vault = tmp_path / f"vault-{page_size}"
            vault.mkdir()
            settings = Settings(
                vault=vault,
                token=TOKEN,
                api_url=server.url,
                state_dir=tmp_path / f"state-{page_size}",
                timezone="UTC",
            )
            sync_once(settings)
            results.append(note_files(vault))
            pages = export_requests(server)
            assert len(pages) == (1 if page_size == 100 else 4)
            if page_size == 1:
                assert all(p.get("pageCursor", "").isdigit() for p in pages[1:])
    assert results[0] == results[1]


def test_permanent_server_error_fails_and_keeps_the_cursor(
    settings: Settings, fake: FakeReadwise
) -> None:
    sync_once(settings)
    cursor = load_cursor(settings)
    before = note_files(settings.vault)  # type: ignore[arg-type]
    fake.add_highlight(38100452, text="Never written.", location=5000, location_type="location")
    fake.fail(500, times=100)
    with pytest.raises(ServerError):
        sync_once(settings, client=fast_client(fake, max_retries=3))
    assert load_cursor(settings) == cursor
    assert note_files(settings.vault) == before  # type: ignore[arg-type]
    fake.clear_faults()
    sync_once(settings)  # the next run converges
    assert "Never written." in (settings.vault / WALDEN).read_text(encoding="utf-8")  # type: ignore[operator]


@pytest.mark.parametrize("fault", ["503", "drop", "invalid page"])
def test_failure_mid_refetch_leaves_every_note_and_the_cursor_as_they_were(
    settings: Settings, fake: FakeReadwise, fault: str
) -> None:
    fake.page_size = 1
    sync_once(settings)
    cursor = load_cursor(settings)
    for book_id in (38100452, 51877310, 60233871):
        fake.add_highlight(book_id, text=f"late addition {book_id}", location=9999)
    before = note_files(settings.vault)  # type: ignore[arg-type]
    # the updatedAfter page and the first refetched page arrive, then the second one fails
    fake.pass_through(2)
    if fault == "503":
        fake.fail(503, times=50)
    elif fault == "drop":
        fake.drop(times=50, mid_body=True)
    else:
        fake.garbage(b'{"count": 1, "nextPageCursor": null, "results": {"user_book_id": 1}}')
    with pytest.raises(ReadwiseSyncError):
        sync_once(settings, client=fast_client(fake, max_retries=1))
    assert load_cursor(settings) == cursor
    assert note_files(settings.vault) == before  # type: ignore[arg-type]
    fake.clear_faults()
    sync_once(settings)
    notes = note_files(settings.vault)  # type: ignore[arg-type]
    assert "late addition 38100452" in notes[WALDEN]
    assert "late addition 51877310" in notes["Readwise/Tweets/Plain text notes outlive.md"]


@pytest.mark.parametrize("fault", ["503", "invalid page"])
def test_a_first_sync_that_fails_half_way_leaves_the_vault_empty(
    settings: Settings, fake: FakeReadwise, fault: str
) -> None:
    """Notes are decided and staged while pages arrive, but nothing shows before the end:
    no note, no temporary file, not even an empty folder."""
    fake.page_size = 1
    fake.pass_through(3)
    if fault == "503":
        fake.fail(503, times=50)
    else:
        fake.garbage(b'{"count": 1, "nextPageCursor": null, "results": {"user_book_id": 1}}')
    with pytest.raises(ReadwiseSyncError):
        sync_once(settings, client=fast_client(fake, max_retries=1))
    assert list(settings.vault.iterdir()) == []  # type: ignore[union-attr]
    assert load_cursor(settings) is None
    fake.clear_faults()
    assert len(sync_once(settings).created) == 4


def test_a_note_edited_while_the_sync_fetches_keeps_the_edit(
    settings: Settings, fake: FakeReadwise
) -> None:
    """The article (page 3 of 4) is decided and its new text staged while the last page is
    slow to come; the user writes in the note just then. What is put in place at the end
    is merged with what they wrote, not the text decided before."""
    fake.page_size = 1
    sync_once(settings)
    note = settings.vault / ARTICLE  # type: ignore[operator]
    fake.add_highlight(45210733, text="Added upstream meanwhile.", location=999999)
    fake.pass_through(3)
    fake.delay(3.0)  # the fourth page

    def write_once_the_article_is_staged() -> None:
        deadline = time.monotonic() + 10
        while not list(note.parent.glob(".readwise-sync-*.tmp")):
            assert time.monotonic() < deadline, "the article was never staged"
            time.sleep(0.005)
        note.write_text(note.read_text(encoding="utf-8") + "\nWritten mid-sync.\n", "utf-8")

    writer = threading.Thread(target=write_once_the_article_is_staged)
    writer.start()
    report = sync_once(settings, full=True)
    writer.join()
    text = note.read_text(encoding="utf-8")
    assert text.endswith("\nWritten mid-sync.\n")
    assert text.count("Added upstream meanwhile.") == 1
    assert ARTICLE in report.updated and report.conflicts == []
    assert list(note.parent.glob(".readwise-sync-*")) == []


def test_cursor_is_readwise_time_at_the_first_answer(
    settings: Settings, fake: FakeReadwise
) -> None:
    """Readwise's Date (whole seconds), not this machine's clock: see test_documents.py."""
    from datetime import UTC, datetime, timedelta

    before = datetime.now(UTC)
    sync_once(settings)
    cursor = load_cursor(settings)
    assert isinstance(cursor, datetime)
    assert before - timedelta(seconds=1) <= cursor <= datetime.now(UTC)


def test_full_ignores_the_cursor(settings: Settings, fake: FakeReadwise) -> None:
    sync_once(settings)
    fake.requests.clear()
    report = sync_once(settings, full=True)
    assert export_requests(fake) == [{}]
    assert report.created == [] and report.updated == [] and report.unchanged == 4


def test_dry_run_writes_nothing(settings: Settings, fake: FakeReadwise) -> None:
    report = sync_once(settings, dry_run=True)
    assert len(report.created) == 4
    assert note_files(settings.vault) == {}  # type: ignore[arg-type]
    assert load_cursor(settings) is None
    assert report.summary().startswith("4 notes would be created")


def test_a_note_the_user_edited_gets_new_highlights_and_keeps_their_text(
    settings: Settings, fake: FakeReadwise
) -> None:
    sync_once(settings)
    path = settings.vault / WALDEN  # type: ignore[operator]
    original = path.read_text(encoding="utf-8")
    edited = original + "\nMy own thoughts on Walden.\n"
    path.write_text(edited, encoding="utf-8")
    fake.add_highlight(38100452, text="A new one.", location=4000, location_type="location")
    report = sync_once(settings)
    text = path.read_text(encoding="utf-8")
    new_block = (
        "- A new one. ([Location 4000](kindle://book?action=open&asin=B0DEMO0WLD&location=4000))\n"
    )
    # the new highlight joins the list; the user's paragraph after it stays after it
    assert text == original + new_block + "\nMy own thoughts on Walden.\n"
    assert report.updated == [WALDEN]
    assert report.changes == [(WALDEN, "1 highlight added")]


def test_a_note_the_user_deleted_is_not_recreated(settings: Settings, fake: FakeReadwise) -> None:
    sync_once(settings)
    (settings.vault / WALDEN).unlink()  # type: ignore[operator]
    fake.add_highlight(38100452, text="A new one.", location=4000, location_type="location")
    report = sync_once(settings)
    assert not (settings.vault / WALDEN).exists()  # type: ignore[operator]
    assert report.skipped_missing == [WALDEN]


def test_a_file_not_written_by_us_is_never_overwritten(
    settings: Settings, fake: FakeReadwise
) -> None:
    target = settings.vault / WALDEN  # type: ignore[operator]
    target.parent.mkdir(parents=True)
    target.write_text("my own Walden note\n", encoding="utf-8")
    report = sync_once(settings)
    assert target.read_text(encoding="utf-8") == "my own Walden note\n"
    # keep both: the book's note goes next to it under a suffixed name
    assert "Readwise/Books/Walden (38100452).md" in report.created
    assert len(report.created) == 4


def test_names_stay_put_when_titles_change(settings: Settings, fake: FakeReadwise) -> None:
    sync_once(settings)
    fake.update_book(38100452, title="Walden (Annotated)", readable_title="Walden Annotated")
    fake.add_highlight(38100452, text="A new one.", location=4000, location_type="location")
    report = sync_once(settings)
    assert report.updated == [WALDEN]
    text = (settings.vault / WALDEN).read_text(encoding="utf-8")  # type: ignore[operator]
    assert 'title: "Walden (Annotated)"' in text
    assert not (settings.vault / "Readwise/Books/Walden Annotated.md").exists()  # type: ignore[operator]


@pytest.mark.parametrize("kill_at", ["before the write", "after the write"])
def test_a_run_killed_mid_page_converges_without_duplicates(
    settings: Settings, fake: FakeReadwise, monkeypatch: pytest.MonkeyPatch, kill_at: str
) -> None:
    """The pending record makes a half-recorded write recognisably ours, not a user's edit."""
    from readwise_sync.store.vault import Vault

    sync_once(settings)
    path = settings.vault / WALDEN  # type: ignore[operator]
    path.write_text(path.read_text(encoding="utf-8") + "\nMine.\n", encoding="utf-8")
    fake.add_highlight(38100452, text="Written once.", location=4000)

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # what a SIGINT looks like from inside

    if kill_at == "before the write":
        monkeypatch.setattr(Vault, "commit", killed)
    else:
        monkeypatch.setattr(State, "save_written", killed)
    with pytest.raises(KeyboardInterrupt):
        sync_once(settings)
    monkeypatch.undo()
    assert ("Written once." in path.read_text(encoding="utf-8")) == (kill_at == "after the write")
    report = sync_once(settings)
    text = path.read_text(encoding="utf-8")
    assert text.count("Written once.") == 1
    assert text.endswith("\nMine.\n")
    assert report.conflicts == [] and report.skipped_missing == []
    again = sync_once(settings, full=True)
    assert again.updated == [] and again.created == []


def test_notes_and_state_after_hostile_titles(tmp_path: Path) -> None:
    titles = ["../../etc/passwd", "CON", "a/b:c?", '"quoted"', "é" * 300, "Notes", "notes"]
    books = [
        {
            "user_book_id": 1000 + i,
            "title": title,
            "readable_title": title,
            "category": "books",
            "highlights": [
                {
                    "id": 5000 + i,
                    "text": f"highlight {i}",
                    "location": 1,
                    "location_type": "location",
                    "updated_at": "2024-01-01T00:00:00Z",
                }
            ],
        }
        for i, title in enumerate(titles)
    ]
    vault = tmp_path / "vault"
    vault.mkdir()
    with FakeReadwise(books, token=TOKEN) as server:
        settings = Settings(vault=vault, token=TOKEN, api_url=server.url, state_dir=tmp_path / "s")
        report = sync_once(settings)
        assert len(report.created) == len(titles)
        again = sync_once(settings)
        assert again.created == [] and again.updated == []
    files = [p for p in vault.rglob("*") if p.is_file()]
    assert len(files) == len(titles)
    names = [p.name for p in files]
    assert len({n.casefold() for n in names}) == len(titles)  # distinct even case-insensitively
    for path in files:
        assert path.resolve().is_relative_to(vault.resolve())
        assert len(path.name.encode("utf-8")) <= 200
        assert not set(path.name) & set('/\\:*?"<>|#^[]')
        assert path.stem.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL"}
    assert not (tmp_path / "etc").exists()
    by_name = sorted(names)
    assert "CON_.md" in by_name and "etc passwd.md" in by_name and "a b c.md" in by_name
    notes = [n for n in names if n.casefold().startswith("notes")]
    # one keeps the plain name, the other gets its own book id as a stable suffix
    assert sorted(notes) in (["Notes (1005).md", "notes.md"], ["Notes.md", "notes (1006).md"])


def test_library_made_of_recorded_api_data_syncs_to_valid_frontmatter(tmp_path: Path) -> None:
    page = json.loads(
        need_shared(REFDATA / "v2_export_page_supplementals__readwise-ruby.json").read_text()
    )
    kindle = json.loads((REFDATA / "v2_export_results_kindle__quoordinates.json").read_text())
    books = page["results"] + kindle
    vault = tmp_path / "vault"
    vault.mkdir()
    with FakeReadwise(books, token=TOKEN, page_size=4) as server:
        settings = Settings(vault=vault, token=TOKEN, api_url=server.url, state_dir=tmp_path / "s")
        report = sync_once(settings)
    notes = note_files(vault)
    assert len(notes) == len(books) == len(report.created)
    for path, text in notes.items():
        assert text.startswith("---\n"), path
        meta = yaml.safe_load(text.split("---\n")[1])
        book = next(b for b in books if b["title"] == meta["title"])
        assert meta["tags"][0] == book["category"]
        if book.get("author"):
            assert meta["author"] == f"[[{book['author']}]]"
    kindle_note = next(t for t in notes.values() if "kindle://book?action=open&asin=" in t)
    assert "([Location " in kindle_note


def test_state_database_is_private(settings: Settings, fake: FakeReadwise) -> None:
    sync_once(settings)
    db = state_db_path(settings.state_dir, settings.vault)  # type: ignore[arg-type]
    assert db.stat().st_mode & 0o777 == 0o600
    assert TOKEN.encode() not in db.read_bytes()
    assert oct(os.stat(settings.vault / WALDEN).st_mode & 0o777) != oct(0o600)  # type: ignore[operator]


def test_read_only_note_is_reported_and_skipped_not_a_crash(
    settings: Settings, fake: FakeReadwise
) -> None:
    sync_once(settings)
    path = settings.vault / WALDEN  # type: ignore[operator]
    before = path.read_text(encoding="utf-8")
    path.chmod(0o444)
    fake.add_highlight(38100452, text="Can't land.", location=5000)
    fake.add_highlight(51877310, text="Lands fine.", location=50)
    report = sync_once(settings)
    assert report.skipped_readonly == [WALDEN]
    assert path.read_text(encoding="utf-8") == before
    assert (
        "Lands fine." in note_files(settings.vault)["Readwise/Tweets/Plain text notes outlive.md"]
    )  # type: ignore[arg-type]
    path.chmod(0o644)
    sync_once(settings, full=True)  # once writable again, it catches up
    assert "Can't land." in path.read_text(encoding="utf-8")


def test_symlinked_folder_leading_outside_is_never_written_through(
    settings: Settings, fake: FakeReadwise, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (settings.vault / "Readwise").mkdir()  # type: ignore[operator]
    (settings.vault / "Readwise" / "Books").symlink_to(outside, target_is_directory=True)  # type: ignore[operator]
    report = sync_once(settings)
    assert list(outside.iterdir()) == []
    assert report.skipped_readonly == [WALDEN]
    assert len(report.created) == 3  # the other notes are written


def test_full_disk_fails_the_run_cleanly_with_the_note_intact(
    settings: Settings, fake: FakeReadwise, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from readwise_sync.errors import VaultError

    sync_once(settings)
    cursor = load_cursor(settings)
    before = note_files(settings.vault)  # type: ignore[arg-type]
    fake.add_highlight(38100452, text="No room.", location=5000)

    def full(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(VaultError, match="disk is full"):
        sync_once(settings)
    monkeypatch.undo()
    assert note_files(settings.vault) == before  # type: ignore[arg-type]
    assert load_cursor(settings) == cursor
    assert [p for p in settings.vault.rglob(".readwise-sync-*")] == []  # type: ignore[union-attr]
    sync_once(settings)
    assert "No room." in note_files(settings.vault)[WALDEN]  # type: ignore[arg-type]


def test_every_staged_note_reaches_the_disk_in_one_flush_before_any_is_put_in_place(
    settings: Settings, fake: FakeReadwise, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four pages, four notes: one flush for all of them (not one per page), and it comes
    before the first rename, so no note is ever replaced by data not yet on disk."""
    from readwise_sync.store import durable

    fake.page_size = 1
    events: list[tuple[str, object]] = []
    syncfs, rename = durable.syncfs_call(), durable.rename_noreplace
    assert syncfs is not None, "this test needs Linux's syncfs"
    vault = settings.vault
    assert vault is not None

    def flush(fd: int) -> int:
        staged = sorted(p.name for p in vault.rglob(".readwise-sync-*"))
        events.append(("flush", (len(staged), sorted(note_files(vault)))))
        return syncfs(fd)

    def create(source: str, target: str) -> bool:
        events.append(("rename", Path(target).name))
        return rename(source, target)

    monkeypatch.setattr(durable, "syncfs_call", lambda: flush)
    monkeypatch.setattr(durable, "rename_noreplace", create)
    report = sync_once(settings)
    assert len(report.created) == 4
    assert events[0] == ("flush", (4, []))  # every text staged, no note in place yet
    assert [kind for kind, _ in events[1:]] == ["rename"] * 4


def test_a_flush_that_fails_leaves_the_vault_as_it_was(
    settings: Settings, fake: FakeReadwise, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from readwise_sync.errors import VaultError
    from readwise_sync.store.vault import Vault

    def failing(vault: Vault, pending: list) -> None:  # type: ignore[type-arg]
        if pending:
            raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(Vault, "_make_durable", failing)
    with pytest.raises(VaultError, match="Input/output error"):
        sync_once(settings)
    monkeypatch.undo()
    assert note_files(settings.vault) == {}  # type: ignore[arg-type]
    assert [p for p in settings.vault.rglob(".readwise-sync-*")] == []  # type: ignore[union-attr]
    assert load_cursor(settings) is None
    assert len(sync_once(settings).created) == 4


def test_notes_refused_for_a_link_out_of_the_vault_are_written_once_it_is_fixed(
    settings: Settings, tmp_path: Path
) -> None:
    assert settings.vault is not None
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (settings.vault / "Readwise").symlink_to(elsewhere)
    assert sync_once(settings).skipped_readonly  # refused, and said so
    (settings.vault / "Readwise").unlink()  # the user fixes the folder
    sync_once(settings)
    assert (settings.vault / "Readwise/Books/Walden.md").exists()
