"""Merging into edited notes, end to end: fake server over real HTTP, a real vault and state."""

from __future__ import annotations

import builtins
import json
import re
import shutil
from pathlib import Path

import pytest

from readwise_sync.app.config import Settings
from readwise_sync.app.locations import state_db_path
from readwise_sync.app.wiring import rerender_all, sync_once
from readwise_sync.engine.report import SyncReport
from readwise_sync.readwise.fakeapi import FakeReadwise
from readwise_sync.store.state import State

from .conftest import SAMPLE_NOTE, TOKEN, need_shared, note_files, run_cli

WALDEN = "Readwise/Books/Walden.md"
ARTICLE_ID = 45210733


def read(settings: Settings, path: str) -> str:
    return (settings.vault / path).read_text(encoding="utf-8")  # type: ignore[operator]


def write(settings: Settings, path: str, text: str) -> None:
    target = settings.vault / path  # type: ignore[operator]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def bullets(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("- ")]


def test_sample_note_under_another_name_is_adopted_not_duplicated(
    settings: Settings, fake: FakeReadwise
) -> None:
    sample = need_shared(SAMPLE_NOTE).read_text(encoding="utf-8")
    write(settings, "Reading/Clippings/escalado.md", sample)
    fake.add_highlight(
        ARTICLE_ID,
        text="Una más, al final.",
        location=99_000,
        location_type="offset",
        url="https://read.readwise.io/read/01jd0zzzz1",
    )
    fake.add_highlight(
        ARTICLE_ID,
        text="Y otra, en medio.",
        location=5_000,
        location_type="offset",
        url="https://read.readwise.io/read/01jd0zzzz2",
    )
    report = sync_once(settings)
    notes = note_files(settings.vault)  # type: ignore[arg-type]
    mine = [path for path, text in notes.items() if "Hipótesis" in text]
    assert mine == [
        "Reading/Clippings/escalado.md"
    ]  # still one note for it, where the user keeps it
    assert report.adopted == ["Reading/Clippings/escalado.md"]
    text = notes["Reading/Clippings/escalado.md"]
    highlight_lines = [line for line in bullets(text) if "View Highlight" in line]
    assert len(highlight_lines) == 21
    assert len(set(highlight_lines)) == 21  # none repeated
    # every line of the user's note is still there, in order; the new ones slot in by location
    remaining = iter(text.splitlines())
    assert all(line in remaining for line in sample.splitlines())  # a subsequence, in order
    lines = text.splitlines()
    assert lines.index(next(ln for ln in lines if "Y otra, en medio." in ln)) < lines.index(
        next(ln for ln in lines if "Una más, al final." in ln)
    )
    # the user's own frontmatter (unquoted author) is theirs: untouched
    assert text.startswith(sample.split("\n---\n", 1)[0])
    # a second sync changes nothing
    again = sync_once(settings)
    assert again.updated == [] and again.created == []
    assert read(settings, "Reading/Clippings/escalado.md") == text


def test_plugin_note_with_new_highlights_sections_is_adopted(
    settings: Settings, fake: FakeReadwise
) -> None:
    sample = need_shared(SAMPLE_NOTE).read_text(encoding="utf-8")
    head, _, tail = sample.rpartition("\n- También dice Sam")
    # the official plugin appends later highlights in sections of their own
    plugin_note = (
        head
        + "\n\n## New highlights added November 20, 2024 at 10:00 AM\n- También dice Sam"
        + tail
    )
    write(settings, "Readwise/Articles/Old plugin note.md", plugin_note)
    fake.add_highlight(
        ARTICLE_ID,
        text="La última.",
        location=99_000,
        location_type="offset",
        url="https://read.readwise.io/read/01jd0zzzz3",
    )
    sync_once(settings)
    notes = note_files(settings.vault)  # type: ignore[arg-type]
    assert [p for p, t in notes.items() if "Hipótesis" in t] == [
        "Readwise/Articles/Old plugin note.md"
    ]
    text = notes["Readwise/Articles/Old plugin note.md"]
    assert len(bullets(text.split("## Highlights", 1)[1])) == 20
    assert text.endswith(
        "- La última. ([View Highlight](https://read.readwise.io/read/01jd0zzzz3))\n"
    )


def test_renamed_note_gets_the_next_highlight_in_place(
    settings: Settings, fake: FakeReadwise, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_once(settings)
    vault: Path = settings.vault  # type: ignore[assignment]
    (vault / "Thoreau").mkdir()
    shutil.move(vault / WALDEN, vault / "Thoreau" / "On Walden.md")
    fake.add_highlight(
        38100452, text="Heaven is under our feet.", location=3100, location_type="location"
    )
    before = set(note_files(vault))
    report = sync_once(settings)
    assert set(note_files(vault)) == before  # no new file appeared
    assert report.moved == [(WALDEN, "Thoreau/On Walden.md")]
    assert "Heaven is under our feet." in (vault / "Thoreau" / "On Walden.md").read_text()
    # the following no-op sync opens no note file at all
    opened: list[str] = []
    real_open = builtins.open

    def spying_open(file: object, *args: object, **kwargs: object) -> object:
        if str(file).endswith(".md"):
            opened.append(str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(builtins, "open", spying_open)
    noop = sync_once(settings)
    monkeypatch.undo()
    assert opened == []
    assert noop.updated == [] and noop.moved == []


def test_conflict_keeps_the_users_text_and_shows_in_status(
    settings: Settings, fake: FakeReadwise
) -> None:
    sync_once(settings)
    text = read(settings, WALDEN)
    old_line = next(line for line in bullets(text) if "frittered away" in line)
    user_line = old_line.replace("Simplify, simplify.", "Simplify, simplify! (I disagree.)")
    write(settings, WALDEN, text.replace(old_line, user_line))
    fake.update_highlight(701000013, text="Our life is frittered away by detail. (new edition)")
    report = sync_once(settings)
    merged = read(settings, WALDEN)
    assert user_line in merged and "(new edition)" not in merged
    assert report.conflicts == [WALDEN]
    env = {"READWISE_SYNC_STATE_DIR": str(settings.state_dir), "READWISE_TOKEN": TOKEN}
    status = run_cli("status", "--vault", str(settings.vault), env=env)
    assert status.returncode == 0, status.stderr
    assert "conflicts waiting: 1" in status.stdout
    assert f"  {WALDEN} [h:701000013], since " in status.stdout
    now = "    Readwise has now:\n      - Our life is frittered away by detail. (new edition)"
    assert now in status.stdout
    as_json = json.loads(
        run_cli("status", "--json", "--vault", str(settings.vault), env=env).stdout
    )
    assert as_json["conflicts"][0]["block_id"] == "h:701000013"
    assert as_json["notes_tracked"] == 4


def test_upstream_edit_and_delete_reach_an_edited_note_where_blocks_are_untouched(
    settings: Settings, fake: FakeReadwise
) -> None:
    sync_once(settings)
    text = read(settings, WALDEN)
    write(settings, WALDEN, text.replace("## Highlights\n", "## Highlights\nMy intro line.\n"))
    fake.update_highlight(701000015, text="Time is but the stream I go a-fishing in. (edited)")
    fake.delete_highlight(701000011)
    report = sync_once(settings)
    merged = read(settings, WALDEN)
    assert "My intro line." in merged
    assert "a-fishing in. (edited)" in merged
    assert "quiet desperation" not in merged
    # the first highlight went, so the note's date (its first highlight's day) moved too
    assert report.changes == [(WALDEN, "1 updated, 1 removed, properties date updated")]
    assert "date: 2024-03-05\n" in merged


def test_on_delete_keep(settings: Settings, fake: FakeReadwise, tmp_path: Path) -> None:
    settings.on_delete = "keep"
    sync_once(settings)
    write(settings, WALDEN, read(settings, WALDEN) + "\nmine\n")
    fake.delete_highlight(701000011)
    sync_once(settings)
    assert "quiet desperation" in read(settings, WALDEN)


def test_frontmatter_user_keys_stay_and_tool_keys_follow_readwise(
    settings: Settings, fake: FakeReadwise
) -> None:
    sync_once(settings)
    text = read(settings, WALDEN)
    text = text.replace("tags: \n", "status: reading\ntags: \n", 1)
    text = text.replace("date: 2024-03-02\n", "date: 2024-03-01\n", 1)  # the user's own date
    write(settings, WALDEN, text)
    fake.update_book(38100452, title="Walden; or, Life in the Woods", author="H. D. Thoreau")
    fake.add_highlight(38100452, text="New.", location=5000, location_type="location")
    sync_once(settings)
    merged = read(settings, WALDEN)
    front = merged.split("---\n")[1]
    assert front.splitlines() == [
        'author: "[[H. D. Thoreau]]"',
        'title: "Walden; or, Life in the Woods"',
        "date: 2024-03-01",
        "status: reading",
        "tags: ",
        "- books",
        "- literature-note",
    ]


def test_deleted_note_is_not_recreated_unless_asked(settings: Settings, fake: FakeReadwise) -> None:
    sync_once(settings)
    (settings.vault / WALDEN).unlink()  # type: ignore[operator]
    fake.add_highlight(38100452, text="A new one.", location=4000, location_type="location")
    report = sync_once(settings)
    assert report.skipped_missing == [WALDEN]
    assert not (settings.vault / WALDEN).exists()  # type: ignore[operator]
    fake.add_highlight(38100452, text="Another one.", location=4001, location_type="location")
    report = sync_once(settings, recreate_deleted=True)
    assert report.created == [WALDEN]
    assert "Another one." in read(settings, WALDEN) and "A new one." in read(settings, WALDEN)


def test_book_deleted_upstream_keeps_its_note(settings: Settings, fake: FakeReadwise) -> None:
    sync_once(settings)
    before = read(settings, WALDEN)
    fake.delete_book(38100452)
    report = sync_once(settings)
    assert report.deleted_upstream == [WALDEN]
    assert read(settings, WALDEN) == before


def test_rerender_applies_a_template_change_without_the_network(
    settings: Settings, fake: FakeReadwise, tmp_path: Path
) -> None:
    sync_once(settings)
    write(
        settings,
        "Readwise/Tweets/Plain text notes outlive.md",
        read(settings, "Readwise/Tweets/Plain text notes outlive.md") + "\nMy take.\n",
    )
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "highlight.jinja").write_text("- {{ highlight_text }} (hl {{ highlight_id }})\n")
    settings.template_dir = templates
    fake.stop()  # no network: rerender works from the stored data
    dry = rerender_all(settings, dry_run=True)
    assert len(dry.changes) == 4 and all("updated" in what for _, what in dry.changes)
    assert note_files(settings.vault)[WALDEN].count("(hl ") == 0  # type: ignore[arg-type]
    report = rerender_all(settings)
    assert sorted(report.updated) == sorted(note_files(settings.vault))  # type: ignore[arg-type]
    tweets = read(settings, "Readwise/Tweets/Plain text notes outlive.md")
    assert "(hl 902000101)" in tweets and tweets.endswith("\nMy take.\n")
    assert "(hl 701000011)" in read(settings, WALDEN)
    assert rerender_all(settings).updated == []  # nothing left to change


def test_dry_run_lists_per_note_changes(settings: Settings, fake: FakeReadwise) -> None:
    sync_once(settings)
    write(settings, WALDEN, read(settings, WALDEN) + "\nmine\n")
    fake.add_highlight(38100452, text="New.", location=5000, location_type="location")
    fake.update_highlight(902000102, text="1/ Formats die, edited.")
    config = settings.state_dir.parent / "no-quiet-period.toml"
    config.write_text("quiet_period = 0\n", encoding="utf-8")  # the note was just edited
    env = {
        "READWISE_SYNC_STATE_DIR": str(settings.state_dir),
        "READWISE_TOKEN": TOKEN,
        "READWISE_API_URL": settings.api_url,
        "READWISE_SYNC_CONFIG": str(config),
    }
    before = note_files(settings.vault)  # type: ignore[arg-type]
    result = run_cli("sync", "--dry-run", "--vault", str(settings.vault), env=env)
    assert result.returncode == 0, result.stderr
    assert f"would update {WALDEN}: 1 highlight added" in result.stdout
    assert "would update Readwise/Tweets/Plain text notes outlive.md: 1 updated" in result.stdout
    assert note_files(settings.vault) == before  # type: ignore[arg-type]


def test_state_records_the_new_path_of_a_moved_note(settings: Settings, fake: FakeReadwise) -> None:
    sync_once(settings)
    vault: Path = settings.vault  # type: ignore[assignment]
    (vault / WALDEN).rename(vault / "Walden notes.md")
    fake.add_highlight(38100452, text="x", location=9000)
    sync_once(settings)
    with State.open(state_db_path(settings.state_dir, vault)) as state:
        assert state.load_notes(["38100452"])["38100452"].path == "Walden notes.md"


def test_the_readme_example_of_an_edited_note_is_true(tmp_path: Path) -> None:
    """The two snippets under 'Editing your notes' in the README are what the tool does."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Editing your notes", 1)[1]
    before, after = [
        block + "\n" for block in re.findall(r"```markdown\n(.*?)\n```", section, re.S)[:2]
    ]
    book = {
        "user_book_id": 7,
        "title": "Walden",
        "author": "Henry David Thoreau",
        "category": "books",
        "asin": "B0DEMO0WLD",
        "highlights": [
            {
                "id": 1,
                "text": "Our life is frittered away by detail. Simplify, simplify.",
                "location": 1401,
                "location_type": "location",
                "updated_at": "2024-03-05T04:56:00Z",
                "highlighted_at": "2024-03-05T04:56:00Z",
            },
            {
                "id": 2,
                "text": "Time is but the stream I go a-fishing in.",
                "location": 1477,
                "location_type": "location",
                "updated_at": "2024-03-05T04:56:00Z",
                "highlighted_at": "2024-03-05T04:56:00Z",
            },
        ],
    }
    vault = tmp_path / "vault"
    vault.mkdir()
    with FakeReadwise([book], token=TOKEN) as server:
        settings = Settings(
            vault=vault, token=TOKEN, api_url=server.url, state_dir=tmp_path / "s", timezone="UTC"
        )
        sync_once(settings)
        note = vault / "Readwise/Books/Walden.md"
        head, _, highlights = note.read_text(encoding="utf-8").partition("## Highlights\n")
        # the README's "before" is what the tool wrote, plus the user's two additions
        assert "## Highlights\n" + highlights in before.replace(
            "This is the whole book, really.\n", ""
        ).replace("\n## My thoughts\nRead it again in winter.\n", "")
        note.write_text(head + before, encoding="utf-8")
        server.add_highlight(
            7,
            highlighted_at="2024-03-06T04:56:00Z",
            text="Most of the luxuries are not only not indispensable, but positive hindrances.",
            location=1450,
            location_type="location",
        )
        server.update_highlight(1, note="The whole book in four words.")
        sync_once(settings)
    assert note.read_text(encoding="utf-8") == head + after


def test_a_note_converted_to_crlf_line_ends_still_merges(
    settings: Settings, fake: FakeReadwise
) -> None:
    sync_once(settings)
    path = settings.vault / WALDEN  # type: ignore[operator]
    crlf = (read(settings, WALDEN) + "\nMine.\n").replace("\n", "\r\n")
    path.write_bytes(crlf.encode("utf-8"))
    fake.add_highlight(38100452, text="After the conversion.", location=5000)
    report = sync_once(settings)
    data = path.read_bytes().decode("utf-8")
    assert report.skipped_missing == []
    assert "- After the conversion.\r\n" in data
    assert data.count("\r\n") == data.count("\n")  # every line end is still \r\n
    assert "\r\nMine.\r\n" in data


def _edition(book_id: int, texts: list[str]) -> dict[str, object]:
    """One of two editions of a book: the same title and author, their own highlights."""
    return {
        "user_book_id": book_id,
        "title": "Twin",
        "author": "Same Author",
        "category": "books",
        "highlights": [
            {"id": book_id * 10 + n, "text": text, "location": n + 1, "location_type": "page"}
            for n, text in enumerate(texts)
        ],
    }


def _sync_keeping_the_first_edition_out(settings: Settings, note: Path) -> list[SyncReport]:
    """An incremental sync, then a full one: after each, the second edition's note (with
    the user's line at its end) holds nothing of the first edition."""
    reports = []
    for full in (False, True):
        report = sync_once(settings, full=full)
        text = note.read_text(encoding="utf-8")
        assert "First edition" not in text, report
        assert "Second edition, one." in text and text.endswith("\nMy thoughts.\n")
        reports.append(report)
    return reports


def test_a_book_whose_note_is_gone_never_writes_into_the_note_now_at_its_old_path(
    tmp_path: Path,
) -> None:
    """Found by the state machine: book A's note is deleted, a second edition B (same title
    and author, so the same file name and the same metadata section) gets the freed path,
    the user writes in B's note, and A changes upstream. A must not merge into B's note
    because of the metadata they share."""

    vault = tmp_path / "vault"
    vault.mkdir()
    with FakeReadwise([_edition(1, ["First edition only."])], token=TOKEN) as fake:
        settings = Settings(
            vault=vault, token=TOKEN, api_url=fake.url, state_dir=tmp_path / "state", timeout=5
        )
        note = vault / "Readwise/Books/Twin.md"
        sync_once(settings)
        note.unlink()
        fake.add_highlight(1, text="First edition, again.", location=5)
        assert sync_once(settings).skipped_missing == ["Readwise/Books/Twin.md"]
        fake.add_book(_edition(2, ["Second edition, one.", "Second edition, two."]))  # type: ignore[arg-type]
        assert sync_once(settings).created == ["Readwise/Books/Twin.md"]
        note.write_text(note.read_text(encoding="utf-8") + "\nMy thoughts.\n", encoding="utf-8")
        fake.update_book(1, category="articles")
        fake.add_highlight(1, text="First edition, later.", location=9)
        for report in _sync_keeping_the_first_edition_out(settings, note):
            assert "Readwise/Books/Twin.md" not in report.updated


def test_a_book_whose_note_is_gone_never_writes_into_another_editions_note_moved_there(
    tmp_path: Path,
) -> None:
    """Found by the state machine (random run, 1,500 x 25): like the test above, but B's
    note reaches A's freed path by the user's move, so the state does not know it is
    there (B is unchanged and its note is not looked at). All that ties the note to A is
    the metadata section both editions share, which says nothing about whose note it is."""

    vault = tmp_path / "vault"
    vault.mkdir()
    library = [_edition(1, ["First edition only."]), _edition(2, ["Second edition, one."])]
    with FakeReadwise(library, token=TOKEN) as fake:
        settings = Settings(
            vault=vault, token=TOKEN, api_url=fake.url, state_dir=tmp_path / "state", timeout=5
        )
        sync_once(settings)
        notes = note_files(vault)
        assert len(notes) == 2
        (first,) = [vault / p for p, text in notes.items() if "First edition only." in text]
        (second,) = [vault / p for p, text in notes.items() if "Second edition, one." in text]
        first.unlink()
        fake.add_highlight(1, text="First edition, again.", location=5)
        gone = first.relative_to(vault).as_posix()
        assert sync_once(settings).skipped_missing == [gone]
        second.rename(first)  # the user gives the second edition's note the free name
        first.write_text(first.read_text(encoding="utf-8") + "\nMy thoughts.\n", encoding="utf-8")
        fake.add_highlight(1, text="First edition, later.", location=9)
        for report in _sync_keeping_the_first_edition_out(settings, first):
            assert report.updated == [] and report.created == [], report


def test_a_note_emptied_of_its_highlights_at_its_own_path_stays_its_books(tmp_path: Path) -> None:
    """Found by the state machine: the user deletes every highlight of a note and writes a
    line inside its metadata section. Nothing the tool wrote is left verbatim, and another
    edition shares its title; but the note is where its book's note is, and no other
    book's note is missing from its place, so it is still its book's note."""
    library = [
        {"user_book_id": book_id, "title": "Twin", "category": "books", "highlights": []}
        for book_id in (1, 2)
    ]
    vault = tmp_path / "vault"
    vault.mkdir()
    with FakeReadwise(library, token=TOKEN) as fake:
        settings = Settings(
            vault=vault, token=TOKEN, api_url=fake.url, state_dir=tmp_path / "state", timeout=5
        )
        fake.add_highlight(1, text="First edition only.", location=1)
        fake.add_highlight(2, text="Second edition only.", location=1)
        sync_once(settings)
        notes = note_files(vault)
        (first,) = [vault / p for p, text in notes.items() if "First edition only." in text]
        text = first.read_text(encoding="utf-8")
        text = text.replace("- First edition only.\n", "")
        text = text.replace("## Metadata\n", "## Metadata\nMy line.\n")
        first.write_text(text, encoding="utf-8")
        fake.update_book(1, source_url="https://example.com/first")
        fake.add_highlight(1, text="First edition, later.", location=2)
        report = sync_once(settings)
    after = first.read_text(encoding="utf-8")
    assert report.skipped_missing == [], report
    assert "My line." in after and "- First edition, later." in after
    assert "First edition only." not in after  # the block the user deleted stays deleted
    assert len(note_files(vault)) == 2


def test_a_new_edition_does_not_adopt_the_emptied_moved_note_of_another(tmp_path: Path) -> None:
    """Found by the state machine: two editions of a book (same title); the user empties
    the first one's note of its highlights and renames it. Nothing in it says which
    edition it was, so it is given up, and left as it is: a third edition added later
    must not adopt it by its title, since the tool wrote it, for another book."""

    def edition(book_id: int) -> dict[str, object]:
        return {"user_book_id": book_id, "title": "Twin", "category": "articles"}

    vault = tmp_path / "vault"
    vault.mkdir()
    with FakeReadwise([edition(1), edition(2)], token=TOKEN) as fake:
        settings = Settings(
            vault=vault, token=TOKEN, api_url=fake.url, state_dir=tmp_path / "state", timeout=5
        )
        fake.add_highlight(1, text="First edition only.", location=1, url="https://ex/1")
        fake.add_highlight(2, text="Second edition only.", location=1, url="https://ex/2")
        sync_once(settings)
        (first,) = [vault / p for p, t in note_files(vault).items() if "First edition" in t]
        emptied = first.read_text(encoding="utf-8").replace(
            "- First edition only. ([View Highlight](https://ex/1))\n", ""
        )
        assert "First edition" not in emptied
        first.unlink()
        moved = vault / "Elsewhere.md"
        moved.write_text(emptied, encoding="utf-8")
        fake.add_book(edition(3))  # type: ignore[arg-type]
        fake.add_highlight(3, text="Third edition only.", location=1, url="https://ex/3")
        report = sync_once(settings, full=True)
    assert moved.read_text(encoding="utf-8") == emptied, "a note given up was changed"
    assert report.adopted == []
    (third,) = [p for p, t in note_files(vault).items() if "Third edition only." in t]
    assert third != "Elsewhere.md"


def test_an_adopted_note_without_frontmatter_gets_none(
    settings: Settings, fake: FakeReadwise, tmp_path: Path
) -> None:
    """Your frontmatter stays as it is, also when there is none."""
    sync_once(settings)
    body = read(settings, WALDEN).split("\n---\n", 1)[1]
    body = body.replace("Simplify, simplify.", "Simplify, simplify! (mine)")
    fresh = tmp_path / "fresh"
    (fresh / "Readwise/Books").mkdir(parents=True)
    (fresh / WALDEN).write_text(body, encoding="utf-8")
    report = sync_once(Settings(**{**vars(settings), "vault": fresh, "state_dir": tmp_path / "s2"}))
    assert WALDEN in report.adopted
    assert not (fresh / WALDEN).read_text(encoding="utf-8").startswith("---")
    assert "(mine)" in (fresh / WALDEN).read_text(encoding="utf-8")
